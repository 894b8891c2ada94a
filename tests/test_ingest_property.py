"""Property: whatever damage a force's files carry, ingest does not crash and accounts for every row."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from hiddennet import ingest

HEADERS = {
    "crimes": ["crime_ref", "offence_title", "offence_date", "domestic_abuse"],
    "nominals": ["nominal_id", "date_of_birth", "sex", "ethnicity"],
    "crime_nominals": ["crime_ref", "nominal_id", "role"],
}


def clean_rows(n_crimes: int, n_people: int) -> dict[str, list[list[str]]]:
    crimes = [[f"C{i}", "Sexual assault on a girl", f"2020-0{1 + i % 9}-1{i % 9}", "N"] for i in range(n_crimes)]
    people = [[f"N{i}", f"19{80 + i % 20}-05-0{1 + i % 9}", "MF"[i % 2], f"IC{1 + i % 6}"] for i in range(n_people)]
    links = [[f"C{i % n_crimes}", f"N{(i * 7) % n_people}", ("victim", "offender", "suspect")[i % 3]]
             for i in range(n_crimes * 2)]
    return {"crimes": crimes, "nominals": people, "crime_nominals": links}


# One damage: (table, row index, what) -- rows are picked modulo the table's size.
damage = st.tuples(
    st.sampled_from(list(HEADERS)),
    st.integers(0, 1000),
    st.sampled_from(["drop_cell", "extra_cell", "bad_date", "bad_byte", "copy_row", "empty_cell", "open_quote", "truncate"]),
)


def render(rows: dict[str, list[list[str]]], damages) -> dict[str, bytes]:
    lines = {t: [",".join(r).encode() for r in rs] for t, rs in rows.items()}
    truncate = set()
    for table, i, what in damages:
        ls = lines[table]
        if not ls:
            continue
        i %= len(ls)
        cells = ls[i].split(b",")
        if what == "drop_cell":
            cells.pop(i % len(cells))
        elif what == "extra_cell":
            cells.insert(i % len(cells), b"x")
        elif what == "bad_date":
            cells[min(2, len(cells) - 1)] = b"2020-02-30"
        elif what == "bad_byte":
            cells[0] += b"\xff"
        elif what == "empty_cell":
            cells[i % len(cells)] = b""
        elif what == "open_quote":
            cells[-1] = b'"' + cells[-1]
        elif what == "copy_row":
            ls.insert(i, ls[i])
        elif what == "truncate":
            truncate.add(table)
        ls[i] = b",".join(cells)
    out = {}
    for t, ls in lines.items():
        body = b",".join(h.encode() for h in HEADERS[t]) + b"\n" + b"".join(line + b"\n" for line in ls)
        if t in truncate and ls:
            body = body[: len(body) - 1 - len(ls[-1]) // 2]  # stop in the middle of the last row
        out[t] = body
    return out


@pytest.mark.slow
@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_crimes=st.integers(1, 6), n_people=st.integers(1, 6), damages=st.lists(damage, max_size=6))
def test_every_row_is_accepted_or_quarantined(duck, settings, n_crimes, n_people, damages):
    files = render(clean_rows(n_crimes, n_people), damages)
    with tempfile.TemporaryDirectory() as d:
        for t, body in files.items():
            (Path(d) / f"{t}.csv").write_bytes(body)
        out = ingest.run(duck, settings, Path(d))
    facts = out.facts["tables"]
    for t, body in files.items():
        # Without damage every data line is one record; an open quote may swallow lines into one.
        physical = body.count(b"\n") + (not body.endswith(b"\n")) - 1
        read = facts[t]["rows_read"]
        assert 0 < read <= physical or physical == 0
        assert read == facts[t]["accepted"] + facts[t]["rejected"] == duck.count(t) + duck.scalar(
            f"SELECT count(*) FROM quarantine WHERE source_table = '{t}' AND action = 'row_rejected'"
        )
        if not any(w == "open_quote" and tt == t for tt, _, w in damages):
            assert read == physical
        lines = duck.fetch_rows(f"SELECT line FROM quarantine WHERE source_table = '{t}'")
        assert all(line is not None and 2 <= line <= physical + 1 for (line,) in lines)
        assert duck.scalar(f"SELECT count(*) FROM {t} WHERE source_line IS NULL") == 0
