from hiddennet.cli import main

main()
