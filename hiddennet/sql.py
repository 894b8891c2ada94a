"""The SQL vocabulary every stage shares: quoting, literals and the age in whole years.

Stage SQL is DuckDB dialect (the Spark engine transpiles it), so these pieces are written once,
in expressions both engines run, and tested by hand-worked cases (tests/test_sql.py).
"""

from __future__ import annotations

import datetime as dt


def q(name: str) -> str:
    """A quoted identifier: `column` -> `"column"`, a `"` inside doubled (names may come from a header)."""
    return '"' + str(name).replace('"', '""') + '"'


def lit(text: str) -> str:
    """A SQL string literal, a `'` inside doubled."""
    return "'" + str(text).replace("'", "''") + "'"


def date_lit(day: dt.date | None) -> str:
    """A DATE literal: `DATE '2021-03-15'`."""
    if day is None:  # the pipeline always sets as_of; a direct caller may not
        raise ValueError("settings.as_of must be set")
    return f"DATE '{day.isoformat()}'"


def age_years(dob: str, on: str) -> str:
    """SQL: completed years from `dob` to `on` (both DATE expressions); BIGINT, negative when born after `on`.

    One less than the difference of the years when the birthday has not come yet in `on`'s year,
    comparing (month, day). Born on 29 February: in a year without that day the birthday is
    1 March (28 February is "before" it), the reading of the law in England and Wales (a person
    born on 29 February 2004 turns 18 on 1 March 2022). On the birthday itself the year counts.
    """
    return (
        f"(year({on}) - year({dob}) - CASE WHEN month({on}) < month({dob}) "
        f"OR (month({on}) = month({dob}) AND day({on}) < day({dob})) THEN 1 ELSE 0 END)"
    )


def tables_in(sql: str) -> tuple[set[str], set[str], set[str]]:
    """(read, written, dropped) table names of DuckDB-dialect statements, parsed with sqlglot.

    Names are bare (a schema or scope prefix is left off); names of WITH clauses, table functions
    (`read_parquet(...)`) and `information_schema` are not tables of a stage. A statement sqlglot
    cannot parse raises its ParseError.
    """
    import sqlglot
    from sqlglot import exp

    reads: set[str] = set()
    writes: set[str] = set()
    drops: set[str] = set()
    for node in sqlglot.parse(sql, read="duckdb"):
        if node is None or isinstance(node, (exp.Use, exp.Set, exp.Command)):
            continue
        target = None
        if isinstance(node, exp.Drop):
            drops.update(t.name for t in node.find_all(exp.Table) if t.name)
            continue
        if isinstance(node, exp.Create):
            if str(node.args.get("kind", "")).upper() not in ("TABLE", "VIEW"):
                continue
            target = node.this.this if isinstance(node.this, exp.Schema) else node.this
        elif isinstance(node, exp.Insert):
            target = node.this.this if isinstance(node.this, exp.Schema) else node.this
        if isinstance(target, exp.Table):
            writes.add(target.name)
        ctes = {c.alias_or_name for c in node.find_all(exp.CTE)}
        for t in node.find_all(exp.Table):
            if t is target or not t.name or t.db == "information_schema" or t.name in ctes:
                continue
            reads.add(t.name)
    return reads, writes, drops
