"""Files a run writes hold personal data: only their owner may read them, whatever the umask.

Every file hiddennet creates is 0600 and every folder 0700. Use these helpers (or `private_umask`
around third-party writers such as DuckDB and Arrow) instead of `open`, `Path.write_text` or
`mkdir` for anything inside a run folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


@contextmanager
def private_umask() -> Iterator[None]:
    """Inside, files and folders created by anything in this process are owner-only."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def private_dir(path: str | Path) -> Path:
    """Create `path` (and missing parents) as 0700; tighten it if it exists."""
    p = Path(path)
    with private_umask():
        p.mkdir(parents=True, exist_ok=True)
    os.chmod(p, DIR_MODE)
    return p


def _open_private(path: Path, flags: int) -> int:
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode on open: tighten it
    return fd


def write_private(path: str | Path, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write a whole file as 0600 (replacing any file of that name)."""
    p = Path(path)
    raw = data.encode(encoding) if isinstance(data, str) else data
    fd = _open_private(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
    return p


def append_private(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Append text to a 0600 file (created if missing), flushed and synced: logs must survive a crash."""
    p = Path(path)
    fd = _open_private(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    with os.fdopen(fd, "ab") as f:
        f.write(text.encode(encoding))
        f.flush()
        os.fsync(f.fileno())
    return p


def tighten_tree(root: str | Path) -> None:
    """Make every folder under `root` (itself included) 0700 and every file 0600."""
    root = Path(root)
    os.chmod(root, DIR_MODE)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), DIR_MODE)
        for f in filenames:
            fp = os.path.join(dirpath, f)
            if not os.path.islink(fp):
                os.chmod(fp, FILE_MODE)
