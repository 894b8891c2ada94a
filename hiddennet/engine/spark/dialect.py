"""DuckDB-dialect SQL to Spark SQL: the one place where the two dialects meet.

Stages write DuckDB SQL. `to_spark` parses it with sqlglot (read="duckdb"), applies the small set of
rewrites below for what sqlglot's DuckDB -> Spark translation gets wrong or leaves untranslated, maps
table names to the engine's physical view names (scratch scopes), and writes Spark SQL.

The rewrites (each one is tested in tests/test_spark_engine.py against DuckDB itself):

| DuckDB                          | sqlglot alone gives          | we write                                     |
|---------------------------------|------------------------------|----------------------------------------------|
| `log(x)` (base 10)              | `LOG(x)` (natural log)       | `LOG(10, x)`                                 |
| `date_diff('year', a, b)`, quarter, month (boundaries crossed) | `DATEDIFF(YEAR, a, b)` (units) | calendar parts |
| `list(x)` / `array_agg(x)` (keeps NULLs, ORDER BY) | `COLLECT_LIST(x)` (drops NULLs, no order) | sorted structs |
| `first(x ORDER BY y)`           | not valid Spark              | `MIN_BY(x, y)` / `MAX_BY(x, y)`               |
| `quantile_cont(x, q)`           | `PERCENTILE_CONT(x, q)` (not valid) | `PERCENTILE(x, q)`                    |
| `l[i]`, `list_extract(l, i)` (NULL out of range) | `l[i-1]` (error out of range) | `TRY_ELEMENT_AT(l, i)`            |
| `list_position(l, x)` (NULL when absent) | untranslated        | `NULLIF(ARRAY_POSITION(l, x), 0)`            |
| `list_reverse`, `list_intersect`, `list_has_all` | untranslated   | `REVERSE`, `ARRAY_INTERSECT`, `ARRAY_EXCEPT` |
| `list_distinct(l)` (drops NULLs) | `ARRAY_DISTINCT(l)` (keeps one NULL) | `ARRAY_DISTINCT` of the list without NULLs |
| `list_concat(l, m)` (NULL list = empty) | `CONCAT(l, m)` (NULL) | `CONCAT(COALESCE(l, ARRAY()), ...)`     |
| `list_position(l, x)` (INTEGER) | `ARRAY_POSITION` (BIGINT)   | cast to INT                                  |
| `list_has_any(l, m)` (ignores NULL elements) | `l && m` (not Spark SQL) | `ARRAYS_OVERLAP`, NULLs removed |
| `regexp_full_match(s, p)`       | untranslated                 | `s RLIKE '^(?:p)$'`                          |
| `try_strptime(s, f)`            | untranslated                 | `TRY_TO_TIMESTAMP(s, f')` (format translated) |
| `epoch(t)` (seconds, DOUBLE)    | `UNIX_TIMESTAMP(t)` (BIGINT, whole seconds) | `UNIX_MICROS(t) / 1e6`        |
| `length(s)`, `year(d)`, `row_number()`, `rank()`, ... (BIGINT) | INT in Spark | cast to BIGINT so types agree |
| `SELECT DISTINCT ON (k) ... ORDER BY k` | ORDER BY dropped     | the ORDER BY put back around the result      |
| `sign(x)` (TINYINT)             | `SIGN(x)` (DOUBLE)           | cast to TINYINT                              |
| `sum(x ORDER BY k)` (a left fold in that order) | not valid Spark | `AGGREGATE` over the sorted list from 0.0 |

Known differences that are *not* rewritten (stage SQL should avoid them; docs/spark.md lists them):
`regexp_replace` without the `'g'` flag replaces only the first match in DuckDB but every match
in Spark; `len()` of a list (use `array_length`); `date - date` (use `date_diff`); `hash()`;
`SELECT * REPLACE`, `COLUMNS(...)`; sums of integers are HUGEINT in DuckDB but BIGINT in Spark
(cast sums to BIGINT in stage SQL); `int // int` is INTEGER in DuckDB but BIGINT in Spark (`DIV`; both
truncate; the rewrite cannot see column types), and `//` on DOUBLEs is plain division in DuckDB 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlglot
from sqlglot import exp

# Spark functions returning INT where DuckDB's counterpart returns BIGINT.
_BIGINT_IN_DUCKDB = (exp.Length, exp.Year, exp.Month, exp.Day, exp.ArraySize, exp.StrPosition)


class UnsupportedSQL(ValueError):
    """A statement uses DuckDB SQL that has no faithful Spark translation here."""


def parse(sql: str) -> list[exp.Expression]:
    """DuckDB statements of `sql` (one or more, separated by `;`)."""
    return [e for e in sqlglot.parse(sql, read="duckdb") if e is not None]


def to_spark(node: exp.Expression, resolve: Callable[[str], str] | None = None) -> str:
    """Spark SQL for one parsed DuckDB statement or query; `resolve` maps a table name to a view."""
    node = node.copy()
    if resolve is not None:
        _rename_tables(node, resolve)
    # Children before parents, so that a rewrite sees (and keeps) already rewritten arguments.
    for e in reversed(list(node.dfs())):
        new = _rewrite(e)
        if new is not e:
            if e is node:
                node = new
            else:
                e.replace(new)
    return node.sql(dialect="spark")


def transpile(sql: str, resolve: Callable[[str], str] | None = None) -> list[str]:
    """Spark SQL for every statement of `sql` (DuckDB dialect)."""
    return [to_spark(e, resolve) for e in parse(sql)]


# -- table names ---------------------------------------------------------------------------------
def _rename_tables(node: exp.Expression, resolve: Callable[[str], str]) -> None:
    # CTE names shadow tables in the statement that defines them: leave those references alone.
    ctes = {c.alias_or_name.lower() for c in node.find_all(exp.CTE)}
    for t in list(node.find_all(exp.Table)):
        if t.args.get("db") or t.args.get("catalog") or not isinstance(t.this, exp.Identifier):
            continue
        name = t.name
        if name.lower() in ctes:
            continue
        target = resolve(name)
        if target != name:
            alias = t.args.get("alias")
            t.set("this", exp.to_identifier(target))
            if alias is None and not isinstance(t.parent, (exp.Create, exp.Insert, exp.Drop, exp.Schema)):
                # Keep `name.col` references valid after the rename.
                t.set("alias", exp.TableAlias(this=exp.to_identifier(name)))


# -- expression rewrites ---------------------------------------------------------------------------
def _rewrite(e: exp.Expression) -> exp.Expression:
    fn = _REWRITES.get(type(e))
    if fn is not None:
        out = fn(e)
        if out is not None:
            return out
    if isinstance(e, exp.Anonymous):
        fn = _ANONYMOUS.get(e.name.lower())
        if fn is not None:
            return fn(e.expressions)
    return e


def _log(e: exp.Log) -> exp.Expression | None:
    if e.expression is None:  # one argument: base 10 in DuckDB, natural log in Spark
        return exp.Log(this=exp.Literal.number(10), expression=e.this)
    return None


def _unit(e: exp.Expression) -> str:
    u = e.args.get("unit")
    return (u.name if u is not None else "day").lower().strip("'")


def _date_diff(e: exp.DateDiff) -> exp.Expression | None:
    # sqlglot's DateDiff(this=end, expression=start); DuckDB counts calendar boundaries crossed.
    unit = _unit(e)
    end, start = e.this, e.expression

    def part(f: str, x: exp.Expression) -> exp.Expression:
        return exp.Cast(this=exp.Anonymous(this=f, expressions=[x.copy()]), to=exp.DataType.build("BIGINT"))

    years = exp.Sub(this=part("YEAR", end), expression=part("YEAR", start))
    if unit in ("year", "years", "yy", "yyyy", "y"):
        return exp.Paren(this=years)
    if unit in ("month", "months", "mon", "mm"):
        return exp.Paren(
            this=exp.Add(
                this=exp.Mul(this=exp.Paren(this=years), expression=exp.Literal.number(12)),
                expression=exp.Sub(this=part("MONTH", end), expression=part("MONTH", start)),
            )
        )
    if unit in ("quarter", "quarters", "q"):
        return exp.Paren(
            this=exp.Add(
                this=exp.Mul(this=exp.Paren(this=years), expression=exp.Literal.number(4)),
                expression=exp.Sub(this=part("QUARTER", end), expression=part("QUARTER", start)),
            )
        )
    if unit in ("day", "days", "d", "dayofmonth"):
        # Days between the calendar dates, as a BIGINT like DuckDB's.
        return exp.Cast(
            this=exp.Anonymous(
                this="DATEDIFF",
                expressions=[exp.Cast(this=end.copy(), to=exp.DataType.build("DATE")),
                             exp.Cast(this=start.copy(), to=exp.DataType.build("DATE"))],
            ),
            to=exp.DataType.build("BIGINT"),
        )
    return None


def _struct_sorted_list(value: exp.Expression, order: exp.Order | None) -> exp.Expression:
    """COLLECT_LIST that keeps NULL values and honours ORDER BY, via a sorted list of structs.

    Each key is preceded by a NULL flag so that NULL keys sort where DuckDB puts them (last, unless
    NULLS FIRST). SORT_ARRAY sorts the whole struct one way, so all keys must share a direction.
    """
    keys = list(order.expressions) if order is not None else []
    if keys and len({bool(k.args.get("desc")) for k in keys}) > 1:
        raise UnsupportedSQL("list/array_agg with mixed ASC and DESC keys has no Spark translation here")
    desc = bool(keys and keys[0].args.get("desc"))
    fields: list[exp.Expression] = []
    for i, k in enumerate(keys):
        nulls_first = bool(k.args.get("nulls_first"))
        # Ascending: FALSE sorts first; descending: TRUE sorts first.
        is_null = exp.Is(this=k.this.copy(), expression=exp.Null())
        flag = is_null if nulls_first == desc else exp.Not(this=is_null)
        fields.append(exp.alias_(flag, f"n{i}"))
        fields.append(exp.alias_(k.this.copy(), f"k{i}"))
    fields.append(exp.alias_(value.copy(), "v"))
    collected = exp.Anonymous(this="COLLECT_LIST", expressions=[exp.Struct(expressions=fields)])
    if keys:
        collected = exp.Anonymous(this="SORT_ARRAY", expressions=[collected, exp.Boolean(this=not desc)])
    lam = exp.Lambda(this=exp.Dot(this=exp.column("s"), expression=exp.to_identifier("v")),
                     expressions=[exp.to_identifier("s")])
    return exp.Anonymous(this="TRANSFORM", expressions=[collected, lam])


def _array_agg(e: exp.ArrayAgg) -> exp.Expression | None:
    this = e.this
    if isinstance(this, exp.Distinct):
        # Wrapped in a struct so that a NULL value is kept once, as DuckDB does.
        value = this.expressions[0]
        struct = exp.Struct(expressions=[exp.alias_(value.copy(), "v")])
        collected = exp.Anonymous(this="COLLECT_SET", expressions=[struct])
        lam = exp.Lambda(this=exp.Dot(this=exp.column("s"), expression=exp.to_identifier("v")),
                         expressions=[exp.to_identifier("s")])
        return exp.Anonymous(this="TRANSFORM", expressions=[collected, lam])
    order = None
    if isinstance(this, exp.Order):
        order, this = this, this.this
    return _struct_sorted_list(this, order)


def _ordered_sum(e: exp.Sum) -> exp.Expression | None:
    """sum(x ORDER BY k): a left fold over the values sorted by k, as DuckDB's ordered aggregate.

    Stages sum floating-point weights this way so that the result does not depend on the order
    threads or partitions met the rows: the same bits on every run and on both engines.
    """
    if not isinstance(e.this, exp.Order):
        return None
    value = e.this.this
    ordered = _struct_sorted_list(value, e.this)
    acc, v = exp.to_identifier("acc"), exp.to_identifier("v")
    fold = exp.Anonymous(
        this="AGGREGATE",
        expressions=[
            ordered,
            exp.Cast(this=exp.Literal.number(0), to=exp.DataType.build("DOUBLE")),
            exp.Lambda(
                this=exp.Add(this=exp.column(acc),
                             expression=exp.Coalesce(this=exp.column(v), expressions=[exp.Literal.number(0)])),
                expressions=[acc, v],
            ),
        ],
    )
    # Like SUM, NULL when there is no non-NULL value.
    none = exp.EQ(this=exp.Count(this=value.copy()), expression=exp.Literal.number(0))
    return exp.If(this=none, true=exp.Null(), false=fold)


def _first(e: exp.First) -> exp.Expression | None:
    if isinstance(e.this, exp.Order):
        keys = e.this.expressions
        if len(keys) != 1:
            raise UnsupportedSQL("first(x ORDER BY ...) with more than one key has no Spark translation here")
        f = "MAX_BY" if keys[0].args.get("desc") else "MIN_BY"
        return exp.Anonymous(this=f, expressions=[e.this.this, keys[0].this])
    return None


def _quantile(e: exp.PercentileCont) -> exp.Expression | None:
    if e.expression is not None and not isinstance(e.parent, exp.WithinGroup):
        return exp.Anonymous(this="PERCENTILE", expressions=[e.this, e.expression])
    return None


def _bracket(e: exp.Bracket) -> exp.Expression | None:
    # Only list indexing: one index that is a number or a column/arithmetic, not a string key.
    if len(e.expressions) != 1 or isinstance(e.expressions[0], exp.Slice):
        return None
    idx = e.expressions[0]
    if isinstance(idx, exp.Literal) and idx.is_string:
        return None
    # sqlglot turns a literal DuckDB index (1-based) into a 0-based one while parsing, but leaves
    # any other index expression as written (so its Spark output would be off by one).
    if isinstance(idx, exp.Literal):
        idx = exp.Literal.number(int(idx.this) + 1)
    elif isinstance(idx, exp.Neg) and isinstance(idx.this, exp.Literal):
        idx = exp.Literal.number(-int(idx.this.this) + 1)
    return exp.Anonymous(this="TRY_ELEMENT_AT", expressions=[e.this, idx])


def _epoch(e: exp.TimeToUnix) -> exp.Expression:
    ts = exp.Cast(this=e.this, to=exp.DataType.build("TIMESTAMP"))
    micros = exp.Cast(this=exp.Anonymous(this="UNIX_MICROS", expressions=[ts]), to=exp.DataType.build("DOUBLE"))
    return exp.Div(this=micros, expression=exp.Literal.number(1000000), typed=False, safe=False)


def _distinct_list(e: exp.ArrayDistinct) -> exp.Expression:
    # DuckDB's list_distinct leaves NULL elements out; Spark's ARRAY_DISTINCT keeps one.
    return exp.Anonymous(this="ARRAY_DISTINCT", expressions=[_without_nulls(e.this)])


def _concat_lists(e: exp.ArrayConcat) -> exp.Expression:
    # DuckDB's list_concat treats a NULL list as empty; Spark's CONCAT answers NULL.
    args = [e.this, *e.expressions]
    empty = exp.Anonymous(this="ARRAY", expressions=[])
    return exp.Anonymous(this="CONCAT", expressions=[exp.Coalesce(this=a, expressions=[empty.copy()]) for a in args])


def _window(e: exp.Window) -> exp.Expression | None:
    # row_number, rank, dense_rank and ntile are BIGINT in DuckDB, INT in Spark.
    if isinstance(e.this, (exp.RowNumber, exp.Rank, exp.DenseRank, exp.Ntile)) and not isinstance(e.parent, exp.Cast):
        return exp.Cast(this=e.copy(), to=exp.DataType.build("BIGINT"))
    return None


def _distinct_on(e: exp.Select) -> exp.Expression | None:
    # sqlglot turns DISTINCT ON into a ROW_NUMBER filter but drops the query's ORDER BY; put it back
    # around the result. Keys of that ORDER BY must be output columns (they are in DISTINCT ON use).
    distinct = e.args.get("distinct")
    order = e.args.get("order")
    if distinct is None or distinct.args.get("on") is None or order is None or isinstance(e.parent, exp.Subquery):
        return None
    keys = []
    for o in order.expressions:
        k = o.copy()
        for c in k.find_all(exp.Column):
            c.set("table", None)
        keys.append(k)
    return exp.select("*").from_(e.copy().subquery("_distinct_on")).order_by(*keys)


def _bigint(e: exp.Expression) -> exp.Expression | None:
    if isinstance(e.parent, exp.Cast):
        return None
    return exp.Cast(this=e.copy(), to=exp.DataType.build("BIGINT"))


def _sign(e: exp.Sign) -> exp.Expression | None:
    # TINYINT in DuckDB, DOUBLE in Spark; -1, 0 and 1 cast exactly (NaN has no TINYINT in either).
    if isinstance(e.parent, exp.Cast):
        return None
    return exp.Cast(this=e.copy(), to=exp.DataType.build("TINYINT"))


def _list_extract(args):
    return exp.Anonymous(this="TRY_ELEMENT_AT", expressions=args)


def _list_position(args):
    found = exp.Nullif(this=exp.Anonymous(this="ARRAY_POSITION", expressions=args), expression=exp.Literal.number(0))
    return exp.Cast(this=found, to=exp.DataType.build("INT"))


def _list_has_all(args):
    whole, part = args  # every element of `part` is in `whole`
    return exp.EQ(this=exp.Anonymous(this="SIZE", expressions=[exp.Anonymous(this="ARRAY_EXCEPT",
                                                                              expressions=[part, whole])]),
                  expression=exp.Literal.number(0))


def _full_match(args):
    s, p = args
    pattern = exp.Concat(expressions=[exp.Literal.string("^(?:"), p, exp.Literal.string(")$")])
    return exp.RegexpLike(this=s, expression=pattern)


def _try_strptime(args):
    s, fmt = args
    if not isinstance(fmt, exp.Literal):
        raise UnsupportedSQL("try_strptime needs a literal format to be translated to Spark")
    # Reuse sqlglot's translation of strptime formats (%d/%m/%Y -> dd/MM/yyyy).
    strict = sqlglot.parse_one(f"strptime(x, {fmt.sql(dialect='duckdb')})", read="duckdb").sql(dialect="spark")
    m = re.search(r"'((?:[^']|'')*)'\)$", strict)
    if m is None:  # pragma: no cover - sqlglot always writes TO_TIMESTAMP(x, 'format')
        raise UnsupportedSQL("try_strptime format could not be translated to Spark")
    spark_fmt = exp.Literal.string(m.group(1).replace("''", "'"))
    return exp.Anonymous(this="TRY_TO_TIMESTAMP", expressions=[s, spark_fmt])


def _without_nulls(arr: exp.Expression) -> exp.Expression:
    var = exp.to_identifier("__e")
    lam = exp.Lambda(this=exp.Not(this=exp.Is(this=exp.column("__e"), expression=exp.Null())), expressions=[var])
    return exp.Anonymous(this="FILTER", expressions=[arr, lam])


def _overlaps(e: exp.ArrayOverlaps) -> exp.Expression:
    # DuckDB's list_has_any ignores NULL elements; Spark's ARRAYS_OVERLAP answers NULL when
    # one holds a NULL and nothing else matches.
    return exp.Anonymous(this="ARRAYS_OVERLAP", expressions=[_without_nulls(e.this), _without_nulls(e.expression)])


def _regexp_full_match(e: exp.Expression) -> exp.Expression:
    return _full_match([e.this, e.expression])


_REWRITES = {
    exp.Log: _log,
    exp.DateDiff: _date_diff,
    exp.ArrayAgg: _array_agg,
    exp.First: _first,
    exp.Sum: _ordered_sum,
    exp.PercentileCont: _quantile,
    exp.Bracket: _bracket,
    exp.TimeToUnix: _epoch,
    exp.RegexpFullMatch: _regexp_full_match,
    exp.ArrayOverlaps: _overlaps,
    exp.ArrayDistinct: _distinct_list,
    exp.ArrayConcat: _concat_lists,
    exp.Window: _window,
    exp.Select: _distinct_on,
    exp.Sign: _sign,
    **{t: _bigint for t in _BIGINT_IN_DUCKDB},
}

_ANONYMOUS = {
    "list_extract": _list_extract,
    "list_element": _list_extract,
    "list_position": _list_position,
    "list_indexof": _list_position,
    "list_reverse": lambda a: exp.Anonymous(this="REVERSE", expressions=a),
    "list_intersect": lambda a: exp.Anonymous(this="ARRAY_INTERSECT", expressions=a),
    "array_intersect": lambda a: exp.Anonymous(this="ARRAY_INTERSECT", expressions=a),
    "list_has_all": _list_has_all,
    "array_has_all": _list_has_all,
    "regexp_full_match": _full_match,
    "try_strptime": _try_strptime,
}
