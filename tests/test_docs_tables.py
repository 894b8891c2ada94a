"""docs/tables.md lists every published table and column with its type, and nothing that is not published.

The column tables and the stage map of docs/tables.md are generated from the registry
(hiddennet/tables.py) and the stages' declarations; the first test fails when the page was not
regenerated. The pipeline then runs once on a tiny generated force, and the Parquet schemas it
writes are compared with the registry and with the Markdown tables of the page (a `### `name``
heading, then `| `column` | TYPE | meaning |` rows).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hiddennet import tables as registry
from hiddennet.contract import TABLES
from hiddennet.generate import generate_force
from hiddennet.pipeline import run_pipeline
from hiddennet.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "tables.md"
# The ingested person table is `nominals` in the engine and `input_nominals` once published.
PUBLISHED_AS = {"nominals": "input_nominals"}

_HEADING = re.compile(r"^#{2,4}\s+`([A-Za-z0-9_]+)`\s*$")
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([^|]*?)\s*\|")


def parse_tables_doc(text: str) -> dict[str, dict[str, str]]:
    """{table: {column: type}} from the Markdown: rows of a table belong to the last `name` heading."""
    tables: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            current = m.group(1)
            tables.setdefault(current, {})
            continue
        if line.startswith("#"):
            current = None  # a heading that names no table ends the previous table
            continue
        m = _ROW.match(line)
        if m and current is not None:
            tables[current][m.group(1)] = m.group(2).strip()
    return {t: cols for t, cols in tables.items() if cols}


def duckdb_type(t: pa.DataType) -> str:
    """The DuckDB name of an Arrow type, as docs/tables.md writes it."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return duckdb_type(t.value_type) + "[]"
    names = {
        pa.string(): "VARCHAR",
        pa.large_string(): "VARCHAR",
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.int16(): "SMALLINT",
        pa.float64(): "DOUBLE",
        pa.float32(): "FLOAT",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
    }
    return names.get(t, str(t))


def _input_extras(input_dir: Path) -> dict[str, set[str]]:
    """Columns of each input file that are not in the contract: carried through, not documented."""
    extras = {}
    for name, contract in TABLES.items():
        path = input_dir / f"{name}.csv"
        if not path.is_file():
            continue
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f))
        extras[PUBLISHED_AS.get(name, name)] = {h.strip().lower() for h in header} - set(contract.column_names)
    return extras


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    base = tmp_path_factory.mktemp("docs_tables")
    generate_force(base / "input", scale=0.02, seed=7, dirty=True)
    # Stability reruns add rows, not columns: skipped to keep the run short. Entity resolution on, so that its
    # tables are published too (off, they are not: tests/test_resolve.py).
    run_pipeline(base / "input", base / "out", Settings(stability_checks=False, resolve=True))
    schemas = {p.stem: pq.read_schema(p) for p in sorted((base / "out" / "tables").glob("*.parquet"))}
    return schemas, _input_extras(base / "input")


@pytest.fixture(scope="module")
def documented():
    return parse_tables_doc(DOC.read_text(encoding="utf-8"))


def test_docs_are_generated_from_the_registry():
    """Every generated block is what the registry and the declarations give (else: python -m hiddennet.tables)."""
    text = DOC.read_text(encoding="utf-8")
    assert registry.render_doc(text) == text, "docs/tables.md is out of date: run python -m hiddennet.tables"
    blocks = {m[1] for m in registry._BLOCK.findall(text)}
    assert blocks == set(registry.TABLES), "every registered table needs a <!-- tables:NAME --> block"
    assert "<!-- stages -->" in text


def test_drift_in_the_registry_is_caught():
    """A column added to the registry but not to the page makes the generated page differ."""
    text = DOC.read_text(encoding="utf-8")
    t = registry.TABLES["groups"]
    changed = registry.Table(t.name, t.stage, t.description, (*t.columns, registry.Column("new_col", "BIGINT", "x")))
    registry.TABLES["groups"] = changed
    try:
        assert registry.render_doc(text) != text
    finally:
        registry.TABLES["groups"] = t


def test_published_tables_are_exactly_the_registered_ones(published):
    """Every published file is a registered table with its columns and types in order (input extras after)."""
    schemas, extras = published
    # Tables published only when a setting or feature is on (`when`: the history's; `optional`: the all-age ones)
    # are checked by their own tests (tests/test_continuity.py, tests/test_allage.py); this run has the defaults.
    assert set(schemas) == {t.name for t in registry.TABLES.values() if t.published and not t.conditional}
    for name, schema in schemas.items():
        cols = [(f.name, duckdb_type(f.type)) for f in schema if f.name not in extras.get(name, set())]
        assert cols == [(c.name, c.type) for c in registry.table(name).columns], name


def test_parser_reads_headings_and_rows():
    text = "## stage\n### `t1`\n| column | type | meaning |\n|---|---|---|\n| `a` | VARCHAR | x |\n" \
           "| `b` | VARCHAR[] | y |\n## other\n| `c` | DATE | not under a table heading |\n### `t2`\n| `d` | DOUBLE | |\n"
    assert parse_tables_doc(text) == {"t1": {"a": "VARCHAR", "b": "VARCHAR[]"}, "t2": {"d": "DOUBLE"}}


def test_every_published_table_is_documented(published, documented):
    schemas, _ = published
    assert len(schemas) >= 20  # the run published its tables at all
    missing = sorted(set(schemas) - set(documented))
    assert not missing, f"published tables missing from docs/tables.md: {missing}"


def test_every_published_column_is_documented_with_its_type(published, documented):
    schemas, extras = published
    problems = []
    for name, schema in schemas.items():
        doc = documented.get(name, {})
        for field in schema:
            if field.name in extras.get(name, set()):
                continue  # an extra column of the input file, carried through as text
            if field.name not in doc:
                problems.append(f"{name}.{field.name}: not documented")
            elif doc[field.name] != duckdb_type(field.type):
                problems.append(f"{name}.{field.name}: documented {doc[field.name]}, published {duckdb_type(field.type)}")
    assert not problems, "docs/tables.md is out of date:\n" + "\n".join(problems)


def test_every_documented_column_is_published(published, documented):
    schemas, _ = published
    # Unpublished tables, and those published only with a setting or feature on, are not in this default run.
    default = {n for n, t in registry.TABLES.items() if not t.published or t.conditional}
    stale = [f"{t}.{c}" for t, cols in documented.items() for c in cols
             if t not in default and (t not in schemas or c not in schemas[t].names)]
    assert not stale, f"docs/tables.md lists columns no run publishes: {stale}"
