"""The shared SQL vocabulary (hiddennet/sql.py): quoting, literals, age in completed years."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from hiddennet.sql import age_years, date_lit, lit, q, tables_in

# (date of birth, on, completed years), worked out by hand.
AGES = [
    ("2003-03-15", "2021-03-15", 18),  # the 18th birthday itself: 18
    ("2003-03-16", "2021-03-15", 17),  # the day before the 18th birthday: 17
    ("1996-03-15", "2021-03-15", 25),  # the 25th birthday
    ("1995-03-16", "2021-03-15", 25),  # the day before the 26th birthday
    ("2004-02-29", "2022-02-28", 17),  # born 29 February: not yet 18 on 28 February of a common year
    ("2004-02-29", "2022-03-01", 18),  # ... 18 on 1 March
    ("2004-02-29", "2024-02-28", 19),  # a leap year: 20 only on the 29th
    ("2004-02-29", "2024-02-29", 20),
    ("2000-12-31", "2001-01-01", 0),  # a day old across a year boundary
    ("2021-03-16", "2021-03-15", -1),  # born after the day: negative (callers clamp or flag it)
]


@pytest.mark.parametrize(("dob", "on", "years"), AGES)
def test_age_years_hand_worked(dob, on, years):
    got = duckdb.sql(f"SELECT {age_years(date_lit(dt.date.fromisoformat(dob)), date_lit(dt.date.fromisoformat(on)))}")
    assert got.fetchall()[0][0] == years


def test_age_years_on_columns_and_null():
    """On columns; an unknown date of birth gives an unknown age (NULL), never 0."""
    con = duckdb.connect()
    con.execute("CREATE TABLE p AS SELECT * FROM (VALUES (DATE '2003-03-15'), (NULL)) t(dob)")
    rows = con.execute(f"SELECT {age_years('dob', date_lit(dt.date(2021, 3, 15)))} FROM p ORDER BY dob NULLS LAST").fetchall()
    assert rows == [(18,), (None,)]


def test_quoting():
    assert q("column") == '"column"'
    assert q('a"b') == '"a""b"'
    assert lit("O'Brien") == "'O''Brien'"
    assert date_lit(dt.date(2021, 3, 5)) == "DATE '2021-03-05'"
    con = duckdb.connect()
    weird = 'we"ird'
    got = con.execute(f"SELECT {lit(chr(39) * 3)} AS {q(weird)}")
    assert got.fetchall() == [("'''",)] and got.description[0][0] == weird


def test_tables_in():
    """Reads, writes and drops of a statement; WITH names, schemas and table functions left out."""
    assert tables_in("CREATE OR REPLACE TABLE a AS WITH x AS (SELECT * FROM b) SELECT * FROM x JOIN main.c USING (k)") == (
        {"b", "c"}, {"a"}, set())
    assert tables_in("INSERT INTO q SELECT * FROM r") == ({"r"}, {"q"}, set())
    assert tables_in("DROP TABLE IF EXISTS main.t") == (set(), set(), {"t"})
    assert tables_in("COPY t TO 'f.parquet' (FORMAT parquet)") == ({"t"}, set(), set())
    assert tables_in("SELECT * FROM read_parquet('f.parquet')") == (set(), set(), set())
    assert tables_in("SET threads = 2") == (set(), set(), set())
    assert tables_in("SELECT 1 FROM x WHERE k IN (SELECT k FROM y)") == ({"x", "y"}, set(), set())
