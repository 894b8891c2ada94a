"""docs/cli.md, generated from the commands' own --help so the reference cannot drift.

Regenerate with `python -m hiddennet.cli_docs > docs/cli.md`; a test fails when they differ.
"""

from __future__ import annotations

import os


def cli_reference() -> str:
    from typer.testing import CliRunner

    from hiddennet.cli import app

    # Fixed width and no colour: the text must not depend on the terminal that generates it.
    env = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
    runner = CliRunner()
    parts = [
        "# Command line reference",
        "",
        "Generated from `--help` by `python -m hiddennet.cli_docs`; do not edit by hand.",
        "Exit codes: 0 success, 2 input or settings that break the contract, 1 any other failure.",
        "",
    ]
    names = sorted(c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands)
    commands: list[str | None] = [None, *names]  # None: the top-level --help
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for name in commands:
            args = ([name] if name else []) + ["--help"]
            result = runner.invoke(app, args, env=env, terminal_width=100, prog_name="hiddennet")
            title = f"hiddennet {name}" if name else "hiddennet"
            text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
            parts += [f"## `{title}`", "", "```text", text, "```", ""]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return "\n".join(parts)


if __name__ == "__main__":  # pragma: no cover
    print(cli_reference(), end="")
