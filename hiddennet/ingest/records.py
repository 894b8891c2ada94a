"""What a CSV extract's records are, decided once, whatever tool wrote the file.

The rule (docs/ingest.md, "Records and lines") is that of Python's `csv` module in strict mode:
- a line ends at LF, CRLF or a CR not followed by LF (so CR-only files from old Macs read as lines);
- outside quotes a line end ends the record; a quote opens a quoted field only where a field starts,
  and inside one `""` is a quote and line ends are part of the value;
- a quote closing a field must be followed by a comma or a line end, else the record is damaged
  (`bad_quote`): it is rejected as one record spanning its physical lines and reading resumes at the
  next line, so one damaged quote never shifts the line numbers of the rows after it;
- the file ending inside a quoted field is `truncated_row`.

`scan_file` makes one cheap pass (counting bytes) and says whether the engine's fast CSV reader may
read the file (LF or CRLF used consistently, quotes balanced but for one left open on the last line);
when it may not, or the fast reader rejects records for a misplaced quote or an over-long line, or
disagrees with the quote-parity line scan, `read_records` reads the whole file with the rule above,
value by value. Records rejected for invalid UTF-8 alone are re-read one by one (`decode_records`),
so that an invalid value in an optional column is cleared and its row kept. Nothing here ever puts a
value into a message.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from hiddennet.errors import InputContractError, os_reason

# Longest value accepted, in characters (1 MiB): a longer one is `value_too_long`.
MAX_VALUE_CHARS = 1 << 20
ENCODINGS = ("utf-8", "latin-1", "cp1252")

# 1 MiB reads: the allocator reuses the same memory for each (a 64 MiB read maps fresh pages every time, ~1.5x the scan)
_CHUNK = 1 << 20
_LF, _CR = 10, 13
_BOF = -1
BOM = b"\xef\xbb\xbf"
_PLAIN = bytes(c for c in range(32, 127) if c != 34)  # printable ASCII but the quote (scan_file)


def is_gzip(path: Path) -> bool:
    return Path(path).name.lower().endswith(".gz")


def open_bytes(path: Path):
    """The file's bytes (decompressed when its name ends in .gz, in any case)."""
    try:
        return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")
    except OSError as e:
        raise InputContractError(f"file cannot be opened ({os_reason(e)})", file=Path(path).name) from None


def _read_failed(path: Path, e: Exception) -> InputContractError:
    """A read error as the contract error that names the file (never the exception's text: it may quote bytes)."""
    name = Path(path).name
    if isinstance(e, (gzip.BadGzipFile, zlib.error)):
        return InputContractError("not a readable gzip file", file=name)
    if isinstance(e, EOFError):
        return InputContractError("compressed file is truncated", file=name)
    if isinstance(e, OSError):
        return InputContractError(f"file cannot be read ({os_reason(e)})", file=name)
    return InputContractError(f"file cannot be read ({e.__class__.__name__})", file=name)


@dataclass(frozen=True)
class FileScan:
    newlines: int  # line ends (LF, CRLF, lone CR), inside quotes or not
    ends_with_newline: bool
    regular: bool  # the engine's fast reader may read it (see the module docstring)
    open_tail: bool = False  # an odd number of quotes, the last after the last line end
    # Printable ASCII and line ends only (after a byte-order mark): no white space but the space and
    # line ends can be in a value, so a plain trim is the Unicode one (rules.trim_sql).
    plain_text: bool = False


def scan_file(path: Path) -> FileScan:
    """One pass over the bytes: line ends, and whether quotes and line ends are regular."""
    st = _ScanState()
    try:
        with open_bytes(path) as f:
            while chunk := f.read(_CHUNK):
                _scan_chunk(st, chunk)
    except InputContractError:
        raise
    except (OSError, EOFError, zlib.error) as e:
        raise _read_failed(path, e) from None
    # A quote left open on the last line (the file stops inside a quoted field of its last row)
    # is the fast reader's to report; one left open before a line end swallows lines: not regular.
    open_tail = st.quotes % 2 == 1 and st.last_quote > st.last_eol
    regular = (st.quotes % 2 == 0 or open_tail) and (st.cr == 0 or st.cr == st.crlf == st.lf)
    return FileScan(newlines=st.lf + st.cr - st.crlf, ends_with_newline=st.prev in (_LF, _CR), regular=regular,
                    open_tail=open_tail, plain_text=not st.other_bytes)


@dataclass
class _ScanState:
    lf: int = 0
    cr: int = 0
    crlf: int = 0
    quotes: int = 0
    prev: int = _BOF  # the last byte of the previous chunk
    offset: int = 0
    last_eol: int = -1
    last_quote: int = -1
    other_bytes: bool = False  # a byte that is not printable ASCII, LF or CR (a BOM at the start excepted)


def _scan_chunk(st: _ScanState, chunk: bytes) -> None:
    # One C pass (bytes.translate) keeps the bytes that are not plain printable ASCII: quotes, line
    # ends and any other byte; they are counted in that far smaller copy. Quotes are not checked
    # here: the fast reader runs in strict mode and reports a misplaced quote as a rejected record,
    # which sends the file to read_records; record_lines then checks that the reader and quote
    # parity agree on every record.
    n = len(chunk)
    body = chunk[len(BOM):] if st.offset == 0 and chunk.startswith(BOM) else chunk
    kept = body.translate(None, _PLAIN)
    lf, crs, quotes = kept.count(b"\n"), kept.count(b"\r"), kept.count(b'"')
    st.lf += lf
    st.other_bytes = st.other_bytes or len(kept) > lf + crs + quotes
    if crs:
        st.cr += crs
        st.crlf += chunk.count(b"\r\n")
    if st.prev == _CR and chunk[0] == _LF:  # a CRLF cut by the read (the chunk itself may hold no CR)
        st.crlf += 1
    eol = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
    if eol >= 0:
        st.last_eol = st.offset + eol
    if quotes:
        st.quotes += quotes
        st.last_quote = st.offset + chunk.rfind(b'"')
    st.prev = chunk[-1]
    st.offset += n


def _reader(f, *, strict: bool = True):
    # A UTF-8 byte-order mark is skipped (else a quoted first header cell would not start a field).
    # latin-1 maps every byte to one character, so reading never fails on bytes; each value is
    # decoded with the file's encoding afterwards, one value at a time.
    if f.read(len(BOM)) != BOM:
        f.seek(0)
    return csv.reader(io.TextIOWrapper(f, encoding="latin-1", newline=""), strict=strict)


def read_header(path: Path, encoding: str = "utf-8") -> list[str]:
    """The header cells (the first record), decoded; a byte-order mark is dropped."""
    name = Path(path).name
    try:
        with open_bytes(path) as f:
            cells: list[str] = next(_reader(f, strict=False), [])
    except InputContractError:
        raise
    except (OSError, EOFError, zlib.error, csv.Error) as e:
        raise _read_failed(path, e) from None
    if not "".join(cells).strip():
        raise InputContractError("empty file: no header line", file=name)
    try:
        raw = [c.encode("latin-1") for c in cells]
        return [b.decode(encoding) for b in raw]
    except UnicodeDecodeError:
        raise InputContractError(f"header line is not valid {encoding}", file=name) from None


@dataclass
class Records:
    """A file's data records as read by `read_records`."""

    table: pa.Table  # c0..c{n-1} (text), a `c{i}__pre` column per position with a cleared value, __row
    start_line: np.ndarray  # int64: each accepted row's first physical line
    rejects: list[tuple[int, str, int | None]] = field(default_factory=list)  # (line, reason, position)
    pre: dict[int, str] = field(default_factory=dict)  # position -> its `__pre` column (reason of a cleared value)


def read_records(path: Path, ncols: int, required: set[int], encoding: str = "utf-8",
                 ends_with_newline: bool = True) -> Records:
    """Every data record of the file by the module's rule; bad records become rejects with their line.

    A value that is not valid in `encoding` or longer than MAX_VALUE_CHARS rejects its record when
    its position is in `required`, else it is cleared (NULL) and the reason kept in `c{i}__pre`.
    """
    out = _Collected()
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # a long value is reported as value_too_long, not as a parse error
    try:
        with open_bytes(path) as f:
            reader = _reader(f)
            with contextlib.suppress(csv.Error):
                next(reader, None)  # the header (read leniently by read_header)
            _read_loop(reader, ncols, required, encoding, out)
    except InputContractError:
        raise
    except (OSError, EOFError, zlib.error) as e:
        raise _read_failed(path, e) from None
    finally:
        csv.field_size_limit(limit)
    if out.last_was_short and not ends_with_newline:
        line, _, pos = out.rejects[-1]
        out.rejects[-1] = (line, "truncated_row", pos)  # the file stops in the middle of its last row
    rows = out.rows
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in range(ncols)]
    data = {f"c{i}": pa.array(cols[i], pa.string()) for i in range(ncols)}
    pre = {}
    for pos, by_row in sorted(out.cleared.items()):
        pre[pos] = f"c{pos}__pre"
        data[pre[pos]] = pa.array([by_row.get(r) for r in range(len(rows))], pa.string())
    data["__row"] = pa.array(np.arange(len(rows), dtype=np.int64))
    return Records(pa.table(data), np.asarray(out.lines, dtype=np.int64), out.rejects, pre)


@dataclass
class _Collected:
    rows: list = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rejects: list[tuple[int, str, int | None]] = field(default_factory=list)
    cleared: dict[int, dict[int, str]] = field(default_factory=dict)  # position -> {accepted row -> reason}
    last_was_short: bool = False  # the last record read had too few fields


def _read_loop(reader, ncols: int, required: set[int], encoding: str, out: _Collected) -> None:
    while True:
        first = reader.line_num + 1
        try:
            rec = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            # The record is damaged from its first line to where reading stopped; the reader goes
            # on at the next line. Only the error's kind is kept, never its text (it may quote bytes).
            out.rejects.append((first, "truncated_row" if "end of data" in str(e) else "bad_quote", None))
            out.last_was_short = False
            continue
        if not rec:
            continue  # a blank line
        out.last_was_short = len(rec) < ncols
        if len(rec) != ncols:
            out.rejects.append((first, "too_few_columns" if len(rec) < ncols else "too_many_columns", None))
            continue
        joined = "".join(rec)
        if not joined.isascii() or len(joined) > MAX_VALUE_CHARS:
            rec, cleared, reason, pos = _decode(rec, encoding, required)
            if rec is None:
                out.rejects.append((first, reason, pos))
                continue
            for i, why in cleared.items():
                out.cleared.setdefault(i, {})[len(out.rows)] = why
        out.rows.append(rec)
        out.lines.append(first)


def _decode(rec: list[str], encoding: str, required: set[int]):
    """(decoded record with bad values None, {position: reason} of those, None, None), or
    (None, {}, reason, position) when a required value is bad."""
    decoded: list[str | None] = []
    cleared: dict[int, str] = {}
    for i, raw in enumerate(rec):
        v: str | None = raw
        why = None
        if not raw.isascii() and encoding != "latin-1":
            try:
                v = raw.encode("latin-1").decode(encoding)
            except UnicodeDecodeError:
                why = "invalid_utf8" if encoding == "utf-8" else "invalid_encoding"
        if why is None and v is not None and len(v) > MAX_VALUE_CHARS:
            why = "value_too_long"
        if why is not None and i in required:
            return None, {}, why, i
        if why is not None:
            cleared[i] = why
            v = None
        decoded.append(v)
    return decoded, cleared, None, None


def decode_records(
    path: Path, spans: list[tuple[int, int]], required: set[int], encoding: str = "utf-8"
) -> list | None:
    """Re-read the records at byte spans [start, end) (sorted) value by value: per span the _decode
    result (values with bad ones None, {position: reason}, reason, position) for records the fast
    reader rejected for their bytes. Reading goes forward only (a .gz file is not re-opened).
    None when a span is not one well-formed record by the rule: the whole file must be read by it."""
    out = []
    try:
        with open_bytes(path) as f:
            for start, end in spans:
                f.seek(start)
                text = f.read(end - start if end >= 0 else -1).decode("latin-1")
                recs = list(csv.reader(io.StringIO(text, newline=""), strict=True))
                if len([r for r in recs if r]) != 1:
                    return None
                out.append(_decode(next(r for r in recs if r), encoding, required))
    except csv.Error:
        return None
    except (OSError, EOFError, zlib.error) as e:
        raise _read_failed(path, e) from None
    return out
