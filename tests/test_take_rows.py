"""Engine.take_rows: a filtered copy of a table that an engine may make in place (DuckDB does).

The in-place way (DELETE, DROP/ALTER/RENAME COLUMN, RENAME) must give exactly what the copy does:
the same columns in the same order, the same types, the same rows in the source's order, and the
source gone. Each case is worked out by hand, then both ways are run and compared.
"""

from __future__ import annotations

import random

import pytest

from hiddennet.engine.base import Engine
from hiddennet.engine.duckdb_engine import DuckDBEngine

# (out name, source column, expression over it or None)
COLUMNS = [("a", "a", None), ("b", "b", "coalesce(b, 1.0)"), ("line", "__row", "__row + 2"), ("x", "x", None)]


def _source(e: DuckDBEngine, rows: list[tuple]) -> None:
    values = ", ".join(f"({a!r}, {'NULL' if b is None else b}, {r}, {'NULL' if v is None else repr(v)}, 'x{r}')"
                       for a, b, r, v in rows) or "('', 0.0, 0, NULL, '')"
    e.execute("CREATE OR REPLACE TABLE src AS SELECT col0 AS a, CAST(col1 AS DOUBLE) AS b, CAST(col2 AS BIGINT) AS __row, "
              f"CAST(col3 AS VARCHAR) AS __why, col4 AS x FROM (VALUES {values}) t" + ("" if rows else " WHERE false"))
    e.execute("CREATE OR REPLACE TABLE rej AS SELECT 3::BIGINT AS __row")


WHERE = "s.__why IS NULL AND NOT EXISTS (SELECT 1 FROM rej j WHERE j.__row = s.__row)"
ROWS = [("p", 2.5, 0, None), ("q", None, 1, None), ("r", 4.0, 2, "bad"), ("s", 1.5, 3, None), ("t", None, 4, None)]


def _taken(in_place: bool, rows: list[tuple], columns=COLUMNS, order: str | None = None) -> tuple[list, list, bool]:
    e = DuckDBEngine()
    _source(e, rows)
    if in_place:
        e.take_rows("out", "src", columns, WHERE, order)
    else:
        Engine.take_rows(e, "out", "src", columns, WHERE, order or "s.rowid")
    described = e.con.sql("SELECT * FROM out").description
    got = e.fetch_rows("SELECT * FROM out")
    gone = not e.has_table("src")
    e.close()
    return [(d[0], str(d[1])) for d in described], got, gone


def test_by_hand_in_place_equals_the_copy():
    cols, rows, gone = _taken(True, ROWS)
    # Row 2 has a reason, row 3 is named in rej: gone. A NULL b takes 1.0; line is __row + 2.
    assert rows == [("p", 2.5, 2, "x0"), ("q", 1.0, 3, "x1"), ("t", 1.0, 6, "x4")]
    assert [c for c, _ in cols] == ["a", "b", "line", "x"]
    assert gone
    assert _taken(False, ROWS) == (cols, rows, gone)


def test_types_follow_the_expression():
    cols, _, _ = _taken(True, ROWS, [("a", "a", None), ("b", "b", "CAST(b AS BIGINT)")])
    assert cols == [("a", "VARCHAR"), ("b", "BIGINT")]


def test_columns_out_of_order_or_renamed_onto_each_other_are_copied_in_source_order():
    swapped = [("x", "x", None), ("a", "a", None)]
    _, rows, gone = _taken(True, ROWS, swapped)
    assert rows == [("x0", "p"), ("x1", "q"), ("x4", "t")] and gone
    onto = [("b", "a", None), ("a", "b", None)]  # a rename onto a kept column's name
    cols, rows, _ = _taken(True, ROWS, onto)
    assert [c for c, _ in cols] == ["b", "a"] and rows == [("p", 2.5), ("q", None), ("t", None)]


def test_an_order_sorts():
    backwards = [(a, b, 10 - r, v) for a, b, r, v in ROWS]
    _, rows, _ = _taken(True, backwards, [("a", "a", None), ("line", "__row", None)], order="s.__row")
    assert rows == [("t", 6), ("s", 7), ("q", 9), ("p", 10)]


def test_empty_source():
    assert _taken(True, []) == _taken(False, [])
    assert _taken(True, [])[1] == []


@pytest.mark.parametrize("seed", range(5))
def test_generated_tables_agree(seed):
    rng = random.Random(seed)
    rows = [(rng.choice("abc"), rng.choice([None, 1.0, 2.0]), r, rng.choice([None, None, "bad"]))
            for r in range(rng.randint(0, 300))]
    rng.shuffle(rows)  # the source's order is not __row's: it must be kept as it is
    assert _taken(True, rows) == _taken(False, rows)


def test_an_expression_reads_the_columns_before_it_as_they_were():
    """`b` is cleared below 2; `c` says whether `b` was set, read through the same clearing: in place
    (columns altered last first) and copied alike, and `c` sees `b` before its clearing."""
    cols = [("a", "a", None), ("b", "b", "CASE WHEN b < 2 THEN NULL ELSE b END"),
            ("x", "x", "CASE WHEN b IS NOT NULL THEN 'had_b' END")]
    got = _taken(True, ROWS, cols)
    assert got == _taken(False, ROWS, cols)
    assert got[1] == [("p", 2.5, "had_b"), ("q", None, None), ("t", None, None)]


# Each gives the row's own value where the lookup's are NULL (fill_from's rule).
FILLS = [("b", "coalesce(t.b, x.b)"), ("x", "CASE WHEN t.b IS NULL AND x.b IS NOT NULL THEN 'filled' ELSE t.x END")]


def _filled(in_place: bool, rows: list[tuple], lookup: list[tuple]) -> list[tuple]:
    e = DuckDBEngine()
    _source(e, rows)
    keys = ", ".join(f"({a!r}, {'NULL' if b is None else b})" for a, b in lookup) or "('', 0.0)"
    e.execute(f"CREATE TABLE look AS SELECT col0 AS a, CAST(col1 AS DOUBLE) AS b FROM (VALUES {keys}) v"
              + ("" if lookup else " WHERE false"))
    if in_place:
        e.fill_from("src", "look", "a", FILLS, order="t.__row")
    else:
        Engine.fill_from(e, "src", "look", "a", FILLS, order="t.__row")
    got = e.fetch_rows("SELECT * FROM src")
    e.close()
    return got


def test_fill_from_by_hand():
    """q has no b and the lookup has one: filled, marked. t has none in the lookup either: kept. p
    has its own b: the lookup's is not used. r is not in the lookup at all: as it was."""
    look = [("p", 9.0), ("q", 7.0), ("t", None)]
    got = _filled(True, ROWS, look)
    assert got == [("p", 2.5, 0, None, "x0"), ("q", 7.0, 1, None, "filled"), ("r", 4.0, 2, "bad", "x2"),
                   ("s", 1.5, 3, None, "x3"), ("t", None, 4, None, "x4")]
    assert got == _filled(False, ROWS, look)


@pytest.mark.parametrize("seed", range(5))
def test_fill_from_generated_agrees(seed):
    rng = random.Random(seed)
    rows = [(f"k{r}", rng.choice([None, 1.0]), r, None) for r in range(rng.randint(0, 200))]
    rng.shuffle(rows)
    look = [(f"k{r}", rng.choice([None, 5.0])) for r in rng.sample(range(250), rng.randint(0, 150))]
    got = _filled(True, rows, look)
    assert [r[2] for r in got] == [r[2] for r in rows]  # in place: the rows' own order
    assert sorted(got, key=lambda r: r[2]) == _filled(False, rows, look)  # the copy: sorted by `order`
