"""Reference data shipped inside the package (harm indices); sources and versions in README.md."""
