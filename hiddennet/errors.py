"""One exception family, mapped to the exit codes of the command line (docs/cli.md).

Messages name the file, the column and the reason, never a value from a row: values
may be personal data.
"""

from __future__ import annotations

import errno
import os
import re


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


class OutputWriteError(HiddennetError):
    """A run folder cannot be written (full disk, read-only or refused folder). Exit 1."""

    exit_code = 1


class RunFolderBusyError(OutputError):
    """Another run holds the run folder's lock. Exit 2."""

    exit_code = 2


# Reasons of the operating system's failures in plain words (never the data being written).
_OS_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "is a folder",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error of the device",
    errno.ENOMEM: "out of memory",
}
# The same reasons as DuckDB's I/O errors word them (it passes on the system's strerror).
_ENGINE_REASONS = {
    "no space left on device": "no space left on device",
    "disk quota exceeded": "disk quota exceeded",
    "read-only file system": "read-only file system",
    "permission denied": "permission denied",
    "no such file or directory": "no such file or folder",
    "too many open files": "too many open files",
    "input/output error": "input/output error of the device",
    "cannot allocate memory": "out of memory",
    "not a directory": "a part of the path is not a folder",
    "is a directory": "is a folder",
}
OUT_OF_MEMORY_HINT = (
    "lower duckdb_memory_limit (DuckDB then spills to disk), give duckdb_temp_directory a disk with free space, "
    "or use a machine with more memory"
)


def os_reason(e: OSError) -> str:
    """What went wrong, in words: the errno's reason, never the exception's own text."""
    if e.errno in _OS_REASONS:
        return _OS_REASONS[e.errno]
    return os.strerror(e.errno).lower() if e.errno else e.__class__.__name__


def _class_names(e: BaseException) -> set[str]:
    return {c.__name__ for c in type(e).__mro__}


def describe_failure(e: BaseException) -> str | None:
    """One line saying what failed and where, for the failures a machine can cause (full disk,
    read-only folder, memory); None for anything else. Matched by class name so that the command
    line needs no engine imported. Engine messages are never repeated whole: they may quote data."""
    names = _class_names(e)
    if "OutOfMemoryException" in names or isinstance(e, MemoryError):
        engine = " in the engine (DuckDB)" if "OutOfMemoryException" in names else ""
        return f"out of memory{engine}: {OUT_OF_MEMORY_HINT}"
    if "Py4JJavaError" in names and "java.lang.OutOfMemoryError" in str(e):
        return "out of memory in the engine (Spark): raise spark.driver.memory / spark.executor.memory in [spark]"
    if "IOException" in names and type(e).__module__.lstrip("_").startswith("duckdb"):
        return _engine_io(str(e))
    if isinstance(e, OSError):
        paths = " -> ".join(str(p) for p in (e.filename, e.filename2) if p)
        return f"file {paths}: {os_reason(e)}" if paths else f"file system: {os_reason(e)}"
    return None


def engine_io_reason(text: str) -> str | None:
    """The system's reason quoted in an engine's I/O error message, in plain words (None if none)."""
    low = text.lower()
    return next((words for key, words in _ENGINE_REASONS.items() if key in low), None)


def _engine_io(text: str) -> str:
    reason = engine_io_reason(text)
    # DuckDB names the file in double quotes; only the path is kept.
    m = re.search(r'"(/[^"\n]*|[A-Za-z]:\\[^"\n]*)"', text)
    path = m.group(1) if m else None
    if reason is None:
        on = f" on file {path}" if path else ""
        return (f"the engine (DuckDB) had an input/output failure{on} (IOException); "
                "set HIDDENNET_DEBUG=1 for a traceback")
    if path:
        return f"the engine (DuckDB) cannot use file {path}: {reason}"
    return f"the engine (DuckDB) cannot use its files: {reason}"
