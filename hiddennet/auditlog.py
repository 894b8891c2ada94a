"""Hash-chained, append-only JSON-lines logs: the dashboard's `audit.jsonl` and the disclosure log
`disclosures.jsonl` prove that no line was edited, removed, inserted or moved.

Each line is one JSON object: the event's own fields plus

    seq       1, 2, 3, ... (the line's place in the chain)
    time_utc  when it was written (kept from the event when it has one)
    prev      the `hash` of the line before (64 zeros for the first line)
    hash      SHA-256 of the line's canonical JSON (sorted keys, no spaces) without `hash`

so changing any field of a line breaks its own hash, and removing, inserting or reordering lines
breaks `seq` or `prev` of the next one. The format knows nothing about what an event holds, so any
log of dict events fits. Appends take an exclusive `flock` on the log (threads and processes) and go
through `fsio.append_private` (0600, fsynced). Removing the *last* lines cannot be seen from the file
alone: compare `seq` with a copy kept elsewhere (docs/report-and-dashboard.md).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from hiddennet import fsio

GENESIS = "0" * 64
CHAIN_FIELDS = ("seq", "time_utc", "prev", "hash")
_thread_lock = threading.Lock()  # flock is per open file; this keeps threads of one process in line too


def _canonical(record: dict[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    """The hash a chained record must carry (over every field but `hash`)."""
    return hashlib.sha256(_canonical(record)).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _last_line(fd: int) -> bytes | None:
    """The last non-empty line of the open file, read backwards from its end."""
    end = os.lseek(fd, 0, os.SEEK_END)
    buf, pos = b"", end
    while pos > 0:
        step = min(4096, pos)
        pos -= step
        os.lseek(fd, pos, os.SEEK_SET)
        buf = os.read(fd, step) + buf
        stripped = buf.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
    stripped = buf.rstrip(b"\n")
    return stripped or None


def _count_lines(fd: int) -> int:
    os.lseek(fd, 0, os.SEEK_SET)
    n, chunk = 0, os.read(fd, 1 << 16)
    while chunk:
        n += chunk.count(b"\n")
        chunk = os.read(fd, 1 << 16)
    return n


def _ends_with_newline(fd: int) -> bool:
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0:
        return True
    os.lseek(fd, end - 1, os.SEEK_SET)
    return os.read(fd, 1) == b"\n"


def _next_link(fd: int) -> tuple[int, str, str]:
    """(seq, prev, prefix) for the line to append after what the file holds now."""
    last = _last_line(fd)
    if last is None:
        return 1, GENESIS, ""
    prefix = "" if _ends_with_newline(fd) else "\n"  # a torn last line stays a line of its own
    try:
        if prefix:
            raise ValueError("torn")
        rec = json.loads(last)
        return int(rec["seq"]) + 1, str(rec["hash"]), prefix
    except (ValueError, KeyError, TypeError):
        # A line that is not a chained record (a torn write, an old log): chain on from its bytes,
        # and `verify` names it as the first broken line.
        return _count_lines(fd) + (2 if prefix else 1), hashlib.sha256(last).hexdigest(), prefix


def append_event(path: str | Path, event: dict[str, Any]) -> dict[str, Any]:
    """Append `event` as the next chained line of the log at `path` and return the written record.

    The event's own `seq`, `prev` and `hash` (if any) are replaced; `time_utc` is kept when given."""
    path = Path(path)
    base = {k: v for k, v in event.items() if k not in ("seq", "prev", "hash")}
    with _thread_lock:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, fsio.FILE_MODE)
        try:
            os.fchmod(fd, fsio.FILE_MODE)
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev, prefix = _next_link(fd)
            record = {**base, "seq": seq, "time_utc": base.get("time_utc") or _now(), "prev": prev}
            record["hash"] = record_hash(record)
            # ASCII only: U+2028, U+0085 and the like stay escaped, so every reader splits lines alike.
            line = json.dumps(record, sort_keys=True, ensure_ascii=True, default=str) + "\n"
            fsio.append_private(path, prefix + line)
        finally:
            os.close(fd)  # closing releases the lock
    return record


def _check_line(number: int, raw: bytes, seq: int, prev: str) -> str | None:
    try:
        rec = json.loads(raw)
    except ValueError:
        return "not valid JSON"
    if not isinstance(rec, dict) or any(k not in rec for k in ("seq", "prev", "hash")):
        return "not a chained record (no seq, prev or hash)"
    if rec["hash"] != record_hash(rec):
        return "its content does not match its hash (edited)"
    if rec["seq"] != seq:
        return f"sequence number {rec['seq']} where {seq} was expected (a line removed, inserted or moved)"
    if rec["prev"] != prev:
        return "it does not follow the line before (a line removed, inserted or moved)"
    return None


def verify(path: str | Path) -> tuple[bool, int | None, str]:
    """(ok, first broken line number (1-based) or None, reason). A missing or empty log is intact."""
    path = Path(path)
    if not path.is_file():
        return True, None, "no log"
    seq, prev, number = 1, GENESIS, 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            raw = line.rstrip(b"\n")
            if not line.endswith(b"\n"):
                return False, number, "the line is incomplete (a torn write)"
            reason = _check_line(number, raw, seq, prev)
            if reason:
                return False, number, reason
            rec = json.loads(raw)
            seq, prev = rec["seq"] + 1, rec["hash"]
    return True, None, f"{number} lines intact"
