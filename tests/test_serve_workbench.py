"""The analyst's workbench pages without a browser: numbers for people (harm in whole days, dates
as dates, yes/no, no raw float), a person's crimes with title, date and a total, and the
dismantling order measured against its target step by step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from serve_helpers import USERS, bearer, https_client
from workbench_helpers import write_workbench_run

from hiddennet.serve import create_app, formats
from hiddennet.serve.context import id_path

RAW_FLOAT = re.compile(r"\d\.\d{4,}")


@pytest.fixture(scope="module")
def wb(tmp_path_factory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("run")
    return run, write_workbench_run(run)


@pytest.fixture
def client(wb, tmp_path):
    return https_client(create_app(wb[0], users=USERS, audit_path=tmp_path / "audit.jsonl"))


def test_filters_hand_worked():
    """Worked by hand: 249.6 days -> "250"; 1234.4 -> "1,234"; True -> yes; a midnight timestamp
    -> its date; 0.5035561877667141 to three places -> 0.504; NaN -> not known."""
    assert formats.days(249.6) == "250" and formats.days(1234.4) == "1,234"
    assert formats.yesno(True) == "yes" and formats.yesno(False) == "no" and formats.yesno(None) == "not known"
    assert formats.yesno("True") == "yes"
    assert formats.date("2019-03-04T00:00:00") == "2019-03-04" and formats.date(None) == ""
    assert formats.value(0.5035561877667141) == "0.504" and formats.value(3.0) == "3" and formats.value(True) == "yes"
    assert formats.days(float("nan")) == "not known"


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_person_page_for_people(client, wb):
    _, f = wb
    r = client.get(f"/people/{id_path(f['person'])}", headers=bearer("intelligence_officer"))
    assert r.status_code == 200
    text = _text(r.text)
    assert not RAW_FLOAT.search(text), RAW_FLOAT.search(text)
    assert "True" not in text and "False" not in text and "nan" not in text.lower().split()
    crimes = r.text[r.text.index('id="crimes"') : r.text.index("</table>", r.text.index('id="crimes"'))]
    for ref, title in f["crimes"].items():
        assert ref in crimes and title in crimes
    assert re.search(r"<td>\d{4}-\d{2}-\d{2}</td>", crimes), "crime dates shown as dates"
    n = len(f["crimes"])
    assert f"Total: {n} crime{'' if n == 1 else 's'}" in crimes
    lines = r.text[r.text.index('id="harm-lines"') :]
    assert f">{f['harm_total']:,}<" in lines, "the harm lines carry their total in whole days"
    assert "0.50" in lines  # the ONS weight to two places, not 0.5035561877667141


def test_dismantling_target_reached_only_when_it_is(client, wb):
    """The sample's steps leave 1 - s/(k+1) of the group; the target is max(2, ceil(0.1 * size))
    members. A step is "Target reached" exactly when its largest piece (share x size, rounded) is
    within that target, whatever the table's group-level target_reached says (True on every row)."""
    import pyarrow.parquet as pq

    run = wb[0]
    groups = pq.read_table(run / "tables" / "groups.parquet").to_pandas()
    d = pq.read_table(run / "tables" / "dismantling.parquet").to_pandas()
    checked = 0
    for gid in d["group_id"].unique():
        size = int(groups[groups["group_id"] == gid]["size"].iloc[0])
        target = max(2, -(-size // 10))
        html = client.get(f"/groups/{id_path(gid)}/dismantling", headers=bearer("analyst")).text
        body = html[html.index('id="steps"') :]
        rows = re.findall(r"<tr><td class=\"num\">(\d+)</td>.*?</tr>", body, flags=re.DOTALL)
        cells = re.findall(r"<tr><td class=\"num\">\d+</td>(.*?)</tr>", body, flags=re.DOTALL)
        steps = d[d["group_id"] == gid].sort_values("step")
        assert len(rows) == len(steps)
        for frac, cell in zip(steps["remaining_largest_fraction"], cells, strict=True):
            reached = round(frac * size) <= target
            assert ("Target reached" in cell) == reached, (gid, frac, size, target)
            assert f'<td class="num">{target}</td>' in cell
            checked += 1
        assert "not yet" in body or steps["remaining_largest_fraction"].max() * size <= target
    assert checked > 0
