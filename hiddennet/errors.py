"""One exception family, mapped to the exit codes of the command line (spec/cli.md).

Messages name the file, the column and the reason, never a value from a row: values
may be personal data.
"""

from __future__ import annotations


class HiddennetError(Exception):
    """Root of every error hiddennet raises on purpose. Exit code 1."""

    exit_code = 1


class InputContractError(ValueError, HiddennetError):
    """The input breaks the contract in a way that stops the run (a missing file or column). Exit 2."""

    exit_code = 2

    def __init__(self, reason: str, *, file: str | None = None, column: str | None = None):
        self.file = file
        self.column = column
        self.reason = reason
        where = ", ".join(p for p in (f"file {file}" if file else "", f"column {column}" if column else "") if p)
        super().__init__(f"{where}: {reason}" if where else reason)


class SettingsError(ValueError, HiddennetError):
    """Settings that cannot be used: unknown keys, wrong types, values out of range. Exit 2."""

    exit_code = 2


class EngineUnavailableError(ImportError, HiddennetError):
    """An engine was asked for whose optional dependency is not installed. Exit 1."""

    exit_code = 1


class OutputError(HiddennetError):
    """A run's output folder is missing, incomplete or not a hiddennet run. Exit 2."""

    exit_code = 2


class StageError(HiddennetError):
    """The engine failed inside a stage. Exit 1.

    The message names the stage, the table and the engine's error class only: an engine's own
    message can quote a value from a row (`Could not convert string '...'`), so it is left out.
    """

    exit_code = 1

    def __init__(self, stage: str, table: str | None, error_class: str):
        self.stage = stage
        self.table = table
        self.error_class = error_class
        on = f"failed on table {table}" if table else "failed"
        super().__init__(f"stage {stage}: {on}: {error_class}")
