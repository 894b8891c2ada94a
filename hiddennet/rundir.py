"""A run folder is written whole or not at all, by one run at a time, and read only when complete.

Writing (`writing(out)`):
- a lock: `fcntl.flock` on `<parent>/.<name>.lock`, held for the whole run. A second run into the
  same `--out` refuses (exit 2, naming the holder's pid) or waits (`wait=True`). The kernel
  releases the lock when its process dies, so a killed run never blocks the next one.
- a temporary folder `<parent>/.<name>.partial-<pid>-<hex>` on the same file system: the run
  writes everything there (0700; files 0600 whatever the umask).
- the commit: the manifest, written last, lists every file of the run with its size and SHA-256;
  the files the old run folder gained after its run (governance: `audit.jsonl`,
  `disclosures.jsonl`, `dashboard_users.json`, `referrals/`, anything else not in its manifest)
  are carried into the new folder as hard links (copies where links fail); then the new folder and
  `--out` swap places in one atomic rename (`renameat2(RENAME_EXCHANGE)` on Linux; elsewhere two
  renames, recovered at the next run if interrupted between them). `report.html` is not carried:
  it describes the old run (`hiddennet report` writes it again).
- after the swap the old folder is deleted, unless it holds a governance file that the new folder
  does not (one written during the swap): then it is kept as `<name>.superseded-<time>` and a
  warning names it. Nothing is lost silently.
Any failure before the swap deletes the temporary folder and leaves `--out` as it was; a killed run
leaves its temporary folder, which the next run into that `--out` deletes (or keeps, as above).

Reading (`open_run(path)`): a folder is a run only if its manifest parses, lists its files, and
every listed file is there with the listed size (SHA-256 too with `checksums=True`). Every reader
(report, dashboard, referral packs) goes through it.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hiddennet.engine.threads import cores
from hiddennet.errors import OutputError, OutputWriteError, RunFolderBusyError, engine_io_reason, os_reason
from hiddennet.fsio import private_dir, private_umask, tighten_tree, write_private

MANIFEST = "manifest.json"
# Files a run leaves in its folder that describe only that run: not carried into the next one.
NOT_CARRIED = ("report.html",)
# What a run made, for manifests without a file list (runs made before the list existed).
LEGACY_OUTPUTS = ("tables/", "hiddennet.duckdb")

log = logging.getLogger("hiddennet.rundir")


@dataclass
class Staging:
    """The run being written: `path` is the temporary folder; `manifest` is set once committed."""

    out: Path
    path: Path
    manifest: dict | None = None
    kept: list[Path] = field(default_factory=list)
    swapping: bool = False


# -- reading ------------------------------------------------------------------------------------


def open_run(path: str | Path, *, checksums: bool = False) -> dict:
    """The manifest of a complete run folder; OutputError (exit 2) naming what is wrong otherwise."""
    folder = Path(path)
    mpath = folder / MANIFEST
    if not folder.is_dir():
        raise OutputError(f"folder {folder}: not a hiddennet run (no such folder)")
    if not mpath.is_file():
        raise OutputError(f"folder {folder}: not a hiddennet run (no manifest.json)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise OutputError(f"file {mpath}: manifest.json is not readable JSON") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise OutputError(
            f"folder {folder}: not a complete hiddennet run (manifest.json lists no files: the run did not "
            "finish, or an older hiddennet made it); run it again"
        )
    for rel, entry in sorted(files.items()):
        problem = _check_file(folder, rel, entry, checksums)
        if problem:
            raise OutputError(f"folder {folder}: not a complete hiddennet run (file {rel}: {problem})")
    return manifest


def is_run(path: str | Path) -> bool:
    try:
        open_run(path)
    except OutputError:
        return False
    return True


def _check_file(folder: Path, rel: str, entry, checksums: bool) -> str | None:
    if Path(rel).is_absolute() or ".." in Path(rel).parts or not isinstance(entry, dict):
        return "not a file of the run folder"
    p = folder / rel
    if not p.is_file():
        return "missing"
    size = p.stat().st_size
    if size != entry.get("bytes"):
        return f"{size} bytes, the manifest says {entry.get('bytes')}"
    if checksums and sha256(p) != entry.get("sha256"):
        return "checksum differs from the manifest"
    return None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def sha256_all(paths: list[Path]) -> list[str]:
    """`sha256` of each path, in order, hashed on all cores: hashlib releases the GIL on large
    chunks, and a run folder's files (the database, the Parquet tables) are hundreds of MB."""
    if len(paths) < 2:
        return [sha256(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    # Largest first, so that the biggest file (the run's database) does not start last.
    order = sorted(range(len(paths)), key=lambda i: -paths[i].stat().st_size)
    with ThreadPoolExecutor(max_workers=min(len(paths), cores())) as pool:
        digests = dict(zip(order, pool.map(sha256, [paths[i] for i in order]), strict=True))
    return [digests[i] for i in range(len(paths))]


# -- writing ------------------------------------------------------------------------------------


@contextmanager
def writing(out: str | Path, *, wait: bool = False) -> Iterator[Staging]:
    """Lock `out`, give the caller a temporary folder to write the run into, commit it on success."""
    out = _target(out)
    try:
        with private_umask(), locked(out, wait=wait):
            _recover(out)
            _check_replaceable(out)
            staging = Staging(out=out, path=_new_partial(out))
            try:
                yield staging
                _commit(staging)
            except BaseException:
                if not staging.swapping:  # `out` is untouched: the partial run goes
                    shutil.rmtree(staging.path, ignore_errors=True)
                raise  # (once swapping, whatever is left is sorted out by the next run's _recover)
    except OSError as e:
        if not _is_write_failure(out, e):
            raise
        raise _write_error(out, e) from None
    except Exception as e:
        # The engine's writer failing the same way (DuckDB's IOException, matched by name).
        reason = engine_io_reason(str(e)) if type(e).__name__ == "IOException" else None
        if reason not in _WRITE_REASONS:
            raise
        raise OutputWriteError(f"cannot write run folder {out}: {reason}") from None


def _target(out: str | Path) -> Path:
    p = Path(out).absolute()
    # A symbolic link is followed: the folder it names is the one replaced.
    return p.resolve() if p.is_symlink() else p


_WRITE_REASONS = ("no space left on device", "disk quota exceeded", "read-only file system")


def _is_write_failure(out: Path, e: OSError) -> bool:
    # A full or read-only disk is always about writing; a refused permission only when it is ours.
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return True
    return e.errno in (errno.EACCES, errno.EPERM) and str(e.filename or "").startswith(str(out.parent))


def _write_error(out: Path, e: OSError) -> OutputWriteError:
    inside_staging = str(e.filename or "").startswith(str(out.parent / f".{out.name}."))
    where = f" ({e.filename})" if e.filename and not inside_staging else ""
    return OutputWriteError(f"cannot write run folder {out}: {os_reason(e)}{where}")


@contextmanager
def locked(out: Path, *, wait: bool = False) -> Iterator[None]:
    """Hold the lock of run folder `out` (`<parent>/.<name>.lock`); the kernel frees it if we die."""
    import fcntl  # POSIX only; imported here so that reading a run needs nothing of it

    parent = out.parent
    if not parent.is_dir():
        try:
            private_dir(parent)
        except (FileExistsError, NotADirectoryError):
            raise OutputError(f"--out {out}: a part of the path is a file, not a folder") from None
    lock = parent / f".{out.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                raise RunFolderBusyError(
                    f"run folder {out} held by another run (pid {holder}); wait for it to finish or pass --wait"
                ) from None
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _new_partial(out: Path) -> Path:
    p = out.parent / f".{out.name}.partial-{os.getpid()}-{os.urandom(4).hex()}"
    return private_dir(p)


def _check_replaceable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: not a folder")
    if out.is_dir() and not (out / MANIFEST).is_file() and any(out.iterdir()):
        raise OutputError(
            f"folder {out}: not empty and not a hiddennet run; a run replaces its whole --out folder: "
            "give a new or empty folder"
        )


def _commit(staging: Staging) -> None:
    """Manifest with the file list (last), governance carried over, permissions, atomic swap."""
    mpath = staging.path / MANIFEST
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    rels = [rel for rel in _files(staging.path) if rel != MANIFEST]
    manifest["files"] = {rel: {"bytes": (staging.path / rel).stat().st_size, "sha256": digest}
                         for rel, digest in zip(rels, sha256_all([staging.path / rel for rel in rels]), strict=True)}
    tmp = staging.path / f".{MANIFEST}.tmp"
    write_private(tmp, json.dumps(manifest, indent=2, default=str) + "\n")
    _fsync(tmp)
    os.replace(tmp, mpath)
    if staging.out.is_dir():
        _carry(staging.out, staging.path)
    tighten_tree(staging.path)
    _fsync(staging.path)
    staging.swapping = True
    if staging.out.is_dir():
        aside = staging.out.parent / f".{staging.out.name}.old-{staging.path.name.rsplit('-', 1)[-1]}"
        _swap(staging.path, staging.out, aside)
        staging.manifest = manifest
        kept = _dispose(aside, staging.out)
        if kept:
            staging.kept.append(kept)
    else:
        os.rename(staging.path, staging.out)
        staging.manifest = manifest
    _fsync(staging.out.parent)


def _files(folder: Path) -> list[str]:
    """Every regular file under `folder`, as sorted POSIX paths relative to it."""
    out = []
    for dirpath, _dirs, names in os.walk(folder):
        for n in names:
            p = Path(dirpath) / n
            if p.is_file() and not p.is_symlink():
                out.append(p.relative_to(folder).as_posix())
    return sorted(out)


def _extras(folder: Path) -> list[str]:
    """Files of a run folder that its run did not make: what a dashboard, an export or a person added."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        listed = set(manifest["files"]) if isinstance(manifest.get("files"), dict) else None
    except (OSError, ValueError, AttributeError):
        listed = None
    extras = []
    for rel in _files(folder):
        own = rel == MANIFEST or rel in NOT_CARRIED or rel.startswith(f".{MANIFEST}")
        if own or Path(rel).name.startswith(".report-"):
            continue
        made = rel in listed if listed is not None else rel.startswith(LEGACY_OUTPUTS)
        if not made:
            extras.append(rel)
    return extras


def _carry(old: Path, new: Path) -> None:
    """Hard-link (else copy) the governance files of the old run folder into the new one."""
    for rel in _extras(old):
        src, dst = old / rel, new / rel
        if dst.exists():  # the new run made a file of that name: keep the old one beside it
            dst = dst.with_name(dst.name + ".previous")
        private_dir(dst.parent)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def _covered(src: Path, dst: Path) -> bool:
    """`dst` holds everything `src` does: the same file, the same bytes, or `src` plus appended lines."""
    if not dst.is_file():
        return False
    if os.path.samefile(src, dst):
        return True
    n = src.stat().st_size
    if dst.stat().st_size < n:
        return False
    with open(src, "rb") as a, open(dst, "rb") as b:
        while n > 0:
            chunk = a.read(min(n, 1 << 20))
            if not chunk or chunk != b.read(len(chunk)):
                return False
            n -= len(chunk)
    return True


def _dispose(leftover: Path, out: Path) -> Path | None:
    """Delete a folder a run left aside, or keep it (returned) when it holds governance `out` lacks."""
    lost = []
    if (leftover / MANIFEST).is_file():
        lost = [rel for rel in _extras(leftover) if not _covered(leftover / rel, out / rel)]
    if not lost:
        shutil.rmtree(leftover, ignore_errors=True)
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = out.parent / f"{out.name}.superseded-{stamp}-{os.urandom(2).hex()}"
    os.rename(leftover, kept)
    log.warning("run folder %s: %d governance file(s) of the previous run were written during the rerun; "
                "kept in %s (first: %s)", out, len(lost), kept, lost[0])
    return kept


def _recover(out: Path) -> None:
    """Clear what an interrupted run into `out` left (we hold the lock: its writer is dead)."""
    olds = sorted(out.parent.glob(f".{out.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if not out.exists() and olds:
        os.rename(olds.pop(), out)  # interrupted between the two renames: the previous run comes back
    for leftover in [*out.parent.glob(f".{out.name}.partial-*"), *olds]:
        if leftover.is_dir():
            _dispose(leftover, out)


# -- the swap -----------------------------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _swap(new: Path, out: Path, aside: Path) -> None:
    """Put `new` at `out` and the old `out` at `aside`; atomic where the system can exchange names."""
    if _exchange(new, out):
        os.rename(new, aside)  # `new` now names the old run
        return
    os.rename(out, aside)
    os.rename(new, out)


def _exchange(a: Path, b: Path) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # C library without renameat2 (glibc before 2.28, musl)
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # file system or kernel cannot exchange
        return False
    raise OSError(code, os.strerror(code), str(b))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a folder; the data files are synced
        pass
    finally:
        os.close(fd)
