"""Physical line numbers of CSV records, found by one quote-aware pass over the file's bytes.

The engine's CSV reader numbers records, not lines: a quoted field holding a line break makes the
two differ. A newline ends a record only outside quotes; with `"` doubled inside quoted fields,
"outside" is "after an even number of quote characters". NumPy does this in chunks.

Memory is bounded by the file's irregular records, never by its length (a country's file has over
a hundred million records): a record starts on line `record + 1 + extra`, where `extra` (the line
breaks inside earlier records' quoted fields) changes only after a record spanning lines, so only
those changes are kept, with the blank records and the byte offsets of the records asked for.
A table's rows map to lines the same way (`LineSteps`): row + an offset that changes only at a
rejected or blank record or after a multi-line one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from hiddennet.ingest.records import open_bytes

_CHUNK = 2 << 20  # small reads: memory reused by the allocator, no fresh pages per chunk (~2x faster)
_NL, _QUOTE, _CR = 10, 34, 13
_BATCH_ROWS = 1 << 20  # rows per batch of a streamed (row, value) table: 16 MB at a time
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class RecordLines:
    """A file's records (index 0 = the header): how many, which are blank, where each starts."""

    records: int
    ends_with_newline: bool
    blank: np.ndarray = field(default_factory=lambda: _EMPTY)  # int64 record indices: empty or a lone CR
    extra_at: np.ndarray = field(default_factory=lambda: _EMPTY)  # records where `extra` changes ...
    extra: np.ndarray = field(default_factory=lambda: _EMPTY)  # ... and its value from there on
    start_pos: dict[int, int] = field(default_factory=dict)  # byte offset of each record asked for

    def line_of(self, record: np.ndarray | int) -> np.ndarray:
        """The physical line (1-based) on which each record starts."""
        r = np.asarray(record, dtype=np.int64)
        return r + 1 + _step_values(self.extra_at, self.extra, 0, r)


def _step_values(at: np.ndarray, values: np.ndarray, base: int, x: np.ndarray) -> np.ndarray:
    j = np.searchsorted(at, x, side="right") - 1
    return np.where(j >= 0, values[np.maximum(j, 0)] if len(values) else base, base)


def _open(path: Path):
    return open_bytes(path)  # one opener for ingest: .gz in any case


def record_lines(path: Path, want: Iterable[int] = ()) -> RecordLines:
    """One pass over the file; `want`: records whose byte offset is needed (`start_pos`)."""
    wanted = np.array(sorted(set(want)), dtype=np.int64)
    blank: list[np.ndarray] = []
    extra_at: list[np.ndarray] = []
    extra: list[np.ndarray] = []
    start_pos: dict[int, int] = {0: 0} if 0 in set(wanted.tolist()) else {}
    quotes = newlines = offset = rec = 0  # rec: record-ending newlines so far (= the open record)
    last_end, x_prev, prev_byte = -1, 0, -1  # last record-ending newline's offset, extra of the open record
    last = b""
    with _open(Path(path)) as f:
        while chunk := f.read(_CHUNK):
            a = np.frombuffer(chunk, dtype=np.uint8)
            nl = np.flatnonzero(a == _NL)
            q = np.flatnonzero(a == _QUOTE)
            ends = ~((np.searchsorted(q, nl) + quotes) % 2 == 1)
            ending = nl[ends]
            if len(ending):
                ended = rec + np.arange(len(ending), dtype=np.int64)  # the record each newline ends
                # The next record starts on line (index of the newline among all) + 2.
                x = np.flatnonzero(ends).astype(np.int64) + newlines + 1 - (ended + 1)
                changed = x != np.concatenate([[x_prev], x[:-1]])
                extra_at.append(ended[changed] + 1)
                extra.append(x[changed])
                end_g = ending.astype(np.int64) + offset
                length = end_g - np.concatenate([[last_end], end_g[:-1]]) - 1
                before = np.where(ending > 0, a[np.maximum(ending - 1, 0)], max(prev_byte, 0))
                blank.append(ended[(length == 0) | ((length == 1) & (before == _CR))])
                if len(wanted):
                    hit = np.isin(ended + 1, wanted)
                    start_pos.update(zip((ended[hit] + 1).tolist(), (end_g[hit] + 1).tolist(), strict=True))
                rec += len(ending)
                last_end, x_prev = int(end_g[-1]), int(x[-1])
            quotes += len(q)
            newlines += len(nl)
            offset += len(a)
            prev_byte = int(a[-1])
            last = chunk[-1:]
    # The "record" after a final record-ending newline is the end of the file, not a row.
    records = rec if last_end + 1 == offset else rec + 1
    at = np.concatenate([_EMPTY, *extra_at])
    keep = at < records
    start_pos = {r: p for r, p in start_pos.items() if r < records}
    return RecordLines(records=records, ends_with_newline=last == b"\n", blank=np.concatenate([_EMPTY, *blank]),
                       extra_at=at[keep], extra=np.concatenate([_EMPTY, *extra])[keep], start_pos=start_pos)


@dataclass(frozen=True)
class LineSteps:
    """A value per row 0..rows-1: row + offset, the offset `base` until the first of `starts`, then
    `offsets[j]` from `starts[j]` on. Physical lines (row 0 on line 2: base 2) and record indices."""

    rows: int
    base: int
    starts: np.ndarray = field(default_factory=lambda: _EMPTY)
    offsets: np.ndarray = field(default_factory=lambda: _EMPTY)

    @classmethod
    def of_values(cls, values: np.ndarray) -> LineSteps:
        """From every row's value (a reader that held the rows anyway)."""
        n = len(values)
        if n == 0:
            return cls(0, 0)
        off = np.asarray(values, dtype=np.int64) - np.arange(n, dtype=np.int64)
        changes = np.flatnonzero(np.diff(off)) + 1
        return cls(n, int(off[0]), changes, off[changes])

    @classmethod
    def of_records(cls, lines: RecordLines) -> LineSteps:
        """Line of each row numbered by its record index."""
        return cls(lines.records, 1, lines.extra_at, lines.extra + 1)

    @classmethod
    def of_kept(cls, lines: RecordLines, excluded: np.ndarray, *, line: bool) -> LineSteps:
        """Rows numbered 0.. over the records not `excluded` (sorted, unique, the header among them):
        each row's line (`line`), else its record index. O(excluded + multi-line records)."""
        n = lines.records
        exc = excluded[excluded < n]
        # The offset can change only at the first record after an excluded one or where `extra` does.
        cand = np.unique(np.concatenate([exc + 1, lines.extra_at]))
        cand = cand[(cand < n) & ~np.isin(cand, exc)]
        if len(cand) == 0:
            return cls(0, 0)
        before = np.searchsorted(exc, cand)  # excluded records before each candidate
        row = cand - before
        off = before + (1 + _step_values(lines.extra_at, lines.extra, 0, cand) if line else 0)
        changed = np.flatnonzero(off[1:] != off[:-1]) + 1
        return cls(n - len(exc), int(off[0]), row[changed], off[changed])

    def values(self, rows: np.ndarray) -> np.ndarray:
        return rows + _step_values(self.starts, self.offsets, self.base, rows)

    def sql(self, row: str) -> str:
        """The value as SQL of the row column `row` (a CASE over the steps: for few steps only)."""
        whens = " ".join(f"WHEN {row} >= {int(s)} THEN {int(o)}" for s, o in zip(self.starts[::-1], self.offsets[::-1],
                                                                                 strict=True))
        return f"{row} + CASE {whens} ELSE {self.base} END" if whens else f"{row} + {self.base}"

    def table(self, names: tuple[str, str], chunk: int | None = None) -> pa.RecordBatchReader:
        """(row, value) for every row, made a chunk at a time (the engine reads it as a stream)."""
        schema = pa.schema([(names[0], pa.int64()), (names[1], pa.int64())])
        step = chunk or _BATCH_ROWS

        def batches() -> Iterator[pa.RecordBatch]:
            for lo in range(0, self.rows, step):
                rows = np.arange(lo, min(self.rows, lo + step), dtype=np.int64)
                yield pa.record_batch([pa.array(rows), pa.array(self.values(rows))], schema=schema)

        return pa.RecordBatchReader.from_batches(schema, batches())
