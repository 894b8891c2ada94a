"""Line numbers of CSV records in memory bounded by the irregular records (ingest/lines.py), checked
against a byte-by-byte reference on generated files: every record's line, blank records, byte offsets,
and the line (or record) of each kept row after excluded records."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from hiddennet.ingest import lines as L


def reference(data: bytes) -> tuple[list[int], list[int], list[bool]]:
    """Per record: (first line, first byte, blank), the way a reader sees it: a LF outside quotes
    ends a record; a record that is empty or a lone CR is blank; nothing after a final LF."""
    starts_line, starts_pos, blank = [1], [0], []
    line, inside, start = 1, False, 0
    for i, b in enumerate(data):
        if b == ord('"'):
            inside = not inside
        elif b == ord("\n"):
            line += 1
            if not inside:
                body = data[start:i]
                blank.append(body in (b"", b"\r"))
                start = i + 1
                starts_line.append(line)
                starts_pos.append(start)
    if start == len(data):  # the end of the file, not a record
        starts_line.pop()
        starts_pos.pop()
    else:
        blank.append(False)  # the last record, without a line end, is never blank
    return starts_line, starts_pos, blank


_BYTES = st.lists(st.sampled_from([b"a", b",", b'"', b"\n", b"\r", b"\r\n", b'""', b"xy"]), max_size=60).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(data=_BYTES, chunk=st.sampled_from([1, 2, 3, 7, 1 << 20]))
def test_record_lines_match_a_byte_by_byte_reading(tmp_path_factory, data, chunk):
    path = tmp_path_factory.mktemp("l") / "x.csv"
    path.write_bytes(data)
    old = L._CHUNK
    L._CHUNK = chunk
    try:
        got = L.record_lines(path, range(len(data) + 2))
    finally:
        L._CHUNK = old
    line, pos, blank = reference(data)
    assert got.records == len(line)
    assert got.line_of(np.arange(got.records)).tolist() == line
    assert got.blank.tolist() == [i for i, b in enumerate(blank) if b]
    assert got.start_pos == dict(enumerate(pos))
    assert got.ends_with_newline == data.endswith(b"\n")


@settings(max_examples=300, deadline=None)
@given(data=_BYTES, drop=st.sets(st.integers(0, 40)))
def test_kept_rows_get_the_line_and_record_of_their_record(tmp_path_factory, data, drop):
    path = tmp_path_factory.mktemp("k") / "x.csv"
    path.write_bytes(data)
    rl = L.record_lines(path)
    excluded = np.array(sorted({0, *drop}), dtype=np.int64)
    kept = [r for r in range(rl.records) if r not in set(excluded.tolist())]
    for as_line in (True, False):
        steps = L.LineSteps.of_kept(rl, excluded, line=as_line)
        assert steps.rows == len(kept)
        want = rl.line_of(np.array(kept, dtype=np.int64)).tolist() if as_line else kept
        rows = np.arange(steps.rows, dtype=np.int64)
        assert steps.values(rows).tolist() == want
        streamed = steps.table(("r", "v"), chunk=3).read_all()
        assert streamed.column("r").to_pylist() == rows.tolist() and streamed.column("v").to_pylist() == want
    by_record = L.LineSteps.of_records(rl)
    assert by_record.values(np.arange(rl.records)).tolist() == rl.line_of(np.arange(rl.records)).tolist()


def test_steps_sql_gives_the_values(duck):
    values = np.array([2, 3, 5, 6, 7, 10, 11], dtype=np.int64)
    steps = L.LineSteps.of_values(values)
    assert (steps.base, steps.starts.tolist(), steps.offsets.tolist()) == (2, [2, 5], [3, 5])
    got = duck.fetch_rows(f"SELECT {steps.sql('r')} FROM range(7) t(r) ORDER BY r")
    assert [v for (v,) in got] == values.tolist()
    assert L.LineSteps.of_values(np.arange(4) + 9).sql("r") == "r + 9"
