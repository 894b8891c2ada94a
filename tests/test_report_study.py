"""The report against the source study (every figure and table of sections 9.1-9.1.5 and 10.3 on a
generated run), per-area problem profiles (only that area's groups, never a person), degradation
(a corrupt or misshapen table, a missing final table), small cells withheld in the heatmap and the
prolific offenders (hand-worked), places, the continuity hooks, and the CLI's --area and --each-area."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hiddennet.errors import OutputError
from hiddennet.generate import generate_force
from hiddennet.pipeline import run_pipeline
from hiddennet.report import MARKING, render_report, write_area_reports, write_report
from hiddennet.report.area import AreaRun, area_names
from hiddennet.report.data import RunOutputs, figures
from hiddennet.report.sample import _reseal, write_manifest, write_sample_run, write_table
from hiddennet.report.study import ethnicity_heatmap, prolific, suppress_grid
from hiddennet.settings import Settings
from hiddennet.stage import NOTICE

# Every figure and table of the study's 9.1-9.1.5 and 10.3 (Figure 1 belongs to section 4).
STUDY_ITEMS = [f"figure-{n}" for n in range(2, 14)] + ["table-1", "table-2", "section-9.1.5"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("force")
    generate_force(base / "input", scale=0.02, seed=11, dirty=True)
    run_pipeline(base / "input", base / "run", Settings(stability_checks=False))  # the reruns add nothing here
    return base / "run"


@pytest.fixture(scope="module")
def generated_html(generated) -> str:
    return write_report(generated).read_text(encoding="utf-8")


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}"[^>]*>(.*?)</section>', html, flags=re.S)
    assert m, sid
    return m.group(1)


def _study(html: str, item: str) -> str:
    m = re.search(rf'<figure class="study" id="study-{re.escape(item)}">(.*?)</figure>', html, flags=re.S)
    assert m, item
    return m.group(1)


def _self_contained(html: str) -> None:
    assert "http" not in html.lower()
    assert "<script" not in html and "<link" not in html and "src=" not in html and "@import" not in html
    assert "url(" not in html  # no CSS that loads anything
    for ref in re.findall(r'href="([^"]*)"', html):
        assert re.fullmatch(r"#[a-z0-9-]+", ref), ref  # only the contents' links within the page
        assert f'id="{ref[1:]}"' in html, ref


def test_every_study_figure_is_drawn_from_a_generated_run(generated_html):
    for item in STUDY_ITEMS:
        body = _study(generated_html, item)
        assert "<svg" in body or "<table" in body, item
        assert "Not available" not in body, item
    # Figure 11 is drawn as a heatmap with withheld cells marked, never their counts.
    assert 'class="chart heatmap"' in _study(generated_html, "figure-11")
    # The further analysis the study names: ages split by sex, for victims and offenders.
    body = _section(generated_html, "age-by-sex")
    assert "Age of victim by sex" in body and "Age of offender by sex" in body
    _self_contained(generated_html)


def test_contents_lists_every_section_and_links_to_it(generated_html):
    m = re.search(r'<nav class="toc"[^>]*>(.*?)</nav>', generated_html, re.S)
    assert m
    toc = m.group(1)
    targets = re.findall(r'href="#([a-z0-9-]+)"', toc)
    sections = re.findall(r'<section id="([a-z0-9-]+)"', generated_html)
    assert targets == sections
    assert {"changes", "trends", "places"} <= set(targets)
    # The run has no history: its sections say so, and the contents mark them.
    for sid in ("changes", "trends"):
        assert "Not available in this run (no run history)" in _section(generated_html, sid)


def test_no_person_is_named_in_the_general_report(generated, generated_html):
    ids = set(pq.read_table(generated / "tables" / "nominals.parquet").column("nominal_id").to_pylist())
    full = pq.read_table(generated / "tables" / "full_table.parquet")
    ids |= set(full.column("victim_id").to_pylist()) | set(full.column("offender_id").to_pylist())
    shown = set(re.findall(r"(?<![0-9A-Za-z])(\d{8})(?![0-9A-Za-z])", generated_html))
    assert not (shown & ids)
    assert not re.search(r"\bCR\d{7}\b", generated_html)  # crime refs


def _area_groups_by_rule(run_dir: Path, area: str) -> set[str]:
    """The documented rule, worked independently of AreaRun: groups with a member in a selected
    crime recorded in the area, or a member to safeguard whose local area it is."""
    full = pq.read_table(run_dir / "tables" / "full_table.parquet").to_pandas()
    here = full[full["location_area"] == area]
    people = set(here["offender_id"]) | set(here["victim_id"])
    sg = pq.read_table(run_dir / "tables" / "safeguarding.parquet").to_pandas()
    people |= set(sg.loc[sg["local_area"] == area, "nominal_id"])
    n = pq.read_table(run_dir / "tables" / "nominals.parquet").to_pandas()
    return set(n.loc[n["nominal_id"].isin(people), "group_id"].dropna())


def test_area_profile_holds_only_that_areas_groups_and_no_person(generated):
    areas = area_names(RunOutputs(generated))
    assert len(areas) >= 2
    area = areas[-1]
    html = render_report(generated, area)
    all_groups = set(pq.read_table(generated / "tables" / "groups.parquet").column("group_id").to_pylist())
    mine = _area_groups_by_rule(generated, area)
    assert mine and mine != all_groups
    shown = set(re.findall(r"\bG\d{4}(?:-\d{4})?\b", html))
    assert shown and shown <= mine, sorted(shown - mine)[:5]
    assert not (shown & (all_groups - mine))
    ids = set(pq.read_table(generated / "tables" / "nominals.parquet").column("nominal_id").to_pylist())
    assert not (set(re.findall(r"(?<![0-9A-Za-z])(\d{8})(?![0-9A-Za-z])", html)) & ids)
    assert f"problem profile of {area}" in html
    _self_contained(html)
    for item in STUDY_ITEMS:
        _study(html, item)


def test_area_figures_count_only_that_areas_rows(generated):
    """Summary rows, safeguarding people and band counts equal the area's rows, worked from the tables."""
    run = RunOutputs(generated)
    area = area_names(run)[0]
    f = figures(AreaRun(run, area))  # type: ignore[arg-type]
    full = pq.read_table(generated / "tables" / "full_table.parquet").to_pandas()
    assert f["summary"]["full_rows"] == int((full["location_area"] == area).sum())
    sg = pq.read_table(generated / "tables" / "safeguarding.parquet").to_pandas()
    mine = sg[sg["local_area"] == area]
    assert f["safeguarding"]["people"] == len(mine)
    assert sum(r["people"] for r in f["safeguarding"]["by_band"]) == len(mine)
    assert {r["area"] for r in f["safeguarding"]["by_area"]} == {area}
    assert "whole force" in f["fairness"]["reason"]
    assert f["data_gaps"]["quarantine"] is not None  # shown for the whole force, labelled so


def test_unknown_area_is_an_output_error_naming_it(tmp_path):
    write_sample_run(tmp_path)
    with pytest.raises(OutputError, match="no local area 'Atlantis'"):
        render_report(tmp_path, "Atlantis")


def test_corrupt_table_degrades_only_its_sections(tmp_path):
    run = write_sample_run(tmp_path)
    groups = run / "tables" / "groups.parquet"
    groups.write_bytes(b"x" * groups.stat().st_size)  # same size: the folder still opens as a run
    html = write_report(run).read_text(encoding="utf-8")
    assert "Not available in this run (table groups could not be read (ArrowInvalid))" in _section(html, "network")
    for sid in ("summary", "timeline", "ages", "sex", "ethnicity", "safeguarding", "fairness"):
        assert "Not available" not in _section(html, sid), sid


def test_misshapen_table_degrades_only_its_sections(tmp_path):
    """Victim ages as text (a table of the wrong shape): the age sections say so by class, never by
    value; the rest of the report is drawn."""
    run = write_sample_run(tmp_path, omit=["full_table"])
    full = pq.read_table(run / "tables" / "final_table.parquet").to_pandas()
    t = pa.table({
        "crime_ref": pa.array(full["crime_ref_1"].tolist(), pa.string()),
        "offender_id": pa.array(full["offender_1"].tolist(), pa.string()),
        "victim_id": pa.array(full["victim_id"].tolist(), pa.string()),
        "victim_age": pa.array(["fourteen"] * len(full), pa.string()),
        "offender_age": pa.array([30] * len(full), pa.int32()),
    })
    pq.write_table(t, run / "tables" / "full_table.parquet")
    _reseal(run, run / "tables" / "full_table.parquet")
    html = write_report(run).read_text(encoding="utf-8")
    assert "could not be read as expected (" in _section(html, "ages")
    assert "fourteen" not in html
    assert "Not available" not in _section(html, "network")


def test_missing_final_table_is_not_available_never_zero(tmp_path):
    run = write_sample_run(tmp_path, omit=["final_table"])
    html = write_report(run).read_text(encoding="utf-8")
    summary = _section(html, "summary")
    assert re.search(r"Final table pairs[^<]*</td><td class=\"num\"><span class=\"unavailable\">not available", summary)
    assert "Not available in this run (table final_table is not in this run)" in _study(html, "figure-3")
    assert "Not available in this run (table final_table is not in this run)" in _study(html, "figure-13")
    assert "Not available in this run (table final_table is not in this run)" in _study(html, "table-2")
    # The year table's final column reads "not available" in every row, never 0.
    rows = re.findall(r"<tr><td>\d{4}</td><td class=\"num\">[^<]*</td><td class=\"num\">(.*?)</td></tr>",
                      _section(html, "timeline"))
    assert rows and all("not available" in r for r in rows)
    # No final-table series is drawn on the age charts.
    assert "Final table" not in _study(html, "figure-4")


def test_suppress_grid_hand_worked():
    """k = 10; offender rows A, B, unknown x victim columns A, B, unknown; (unknown, unknown) protected.

        A:       50   4  20       4 is withheld (primary). Row A then has one withheld cell: its
        B:       30  25  11       smallest other, 20, goes too. Column B has one (4): 25 goes.
        unknown: 60  70 100       Column unknown has one (20): its smallest other unprotected, 11,
                                  goes. Every line now has 0 or 2 withheld cells: done.
    """
    grid = [[50, 4, 20], [30, 25, 11], [60, 70, 100]]
    protect = [[False] * 3, [False] * 3, [False, False, True]]
    assert suppress_grid(grid, 10, protect=protect) == [[50, None, None], [30, None, None], [60, 70, 100]]


def test_heatmap_withholds_small_cells_hand_worked(tmp_path):
    """The grid of test_suppress_grid_hand_worked as full-table rows (IC1 = A, IC3 = B, unknown =
    no ethnicity): the heatmap gives the same cells and the report shows "<10", never the 4."""
    spec = {("IC1", "IC1"): 50, ("IC1", "IC3"): 4, ("IC1", None): 20, ("IC3", "IC1"): 30, ("IC3", "IC3"): 25,
            ("IC3", None): 11, (None, "IC1"): 60, (None, "IC3"): 70, (None, None): 100}
    rows = [(o, v) for (o, v), n in spec.items() for _ in range(n)]
    write_table(tmp_path, "full_table", {
        "crime_ref": [f"C{i}" for i in range(len(rows))],
        "offender_id": [f"O{i}" for i in range(len(rows))],
        "victim_id": [f"V{i}" for i in range(len(rows))],
        "offender_ethnicity": [o for o, _ in rows],
        "victim_ethnicity": [v for _, v in rows],
    })
    write_manifest(tmp_path)
    h = ethnicity_heatmap(RunOutputs(tmp_path))
    assert h["full"]["offender"] == ["White, North European (IC1)", "Black (IC3)", "Not recorded"]
    assert h["full"]["cells"] == [[50, None, None], [30, None, None], [60, 70, 100]]
    assert h["final"] is None and "final_table" in h["final_note"]
    html = write_report(tmp_path).read_text(encoding="utf-8")
    fig = _study(html, "figure-11")
    assert "&lt;10" in fig
    texts = re.findall(r'text-anchor="middle" fill="#[0-9a-f]{6}">([^<]*)</text>', fig)
    assert sorted(texts) == sorted(["50", "&lt;10", "&lt;10", "30", "&lt;10", "&lt;10", "60", "70", "100"])


def test_prolific_offenders_hand_worked(tmp_path):
    """Final table: 3 offenders with 5 crimes each, 9 with 3 each (k = 10).

    Most crimes 5, held by 3 offenders: withheld. The most prolific group: 5 or more is only 3
    people, 3 or more is 12 -> threshold 3, 12 offenders, 3 x 5 + 9 x 3 = 42 crimes. Sex: 10 male,
    2 female: 2 is withheld, and so is 10 (it would follow from the group of 12). Ethnicity: 1
    recorded, 11 not: both withheld (either gives the other). Never a list of people.
    """
    full, fin = [], []
    crime = 0
    for i in range(12):
        for _ in range(5 if i < 3 else 3):
            crime += 1
            full.append({"crime_ref": f"C{crime:03d}", "offender_id": f"O{i:02d}", "victim_id": f"V{crime:03d}",
                         "offender_sex": "F" if i in (4, 5) else "M",
                         "offender_ethnicity": "IC1" if i == 0 else None})
            # Each crime's victim also links the offender to a partner offender (O99) with a crime of its own.
            fin.append({"offender_1": f"O{i:02d}", "offender_2": "P", "crime_ref_1": f"C{crime:03d}",
                        "crime_ref_2": f"D{crime:03d}", "victim_id": f"V{crime:03d}"})
    write_table(tmp_path, "full_table", full)
    write_table(tmp_path, "final_table", fin)
    write_manifest(tmp_path)
    p = prolific(RunOutputs(tmp_path))["final"]
    assert (p["max_crimes"], p["at_max"], p["threshold"], p["group"], p["group_crimes"]) == (5, None, 3, 12, 42)
    assert p["sex"] == [{"sex": "Male", "offenders": None}, {"sex": "Female", "offenders": None},
                        {"sex": "Not recorded", "offenders": 0}]
    assert p["ethnicity"] == {"known": None, "unknown": None, "unknown_pct": None}
    html = write_report(tmp_path).read_text(encoding="utf-8")
    assert not re.search(r"\bO\d{2}\b", html)


def _places(run: Path, table: pa.Table) -> None:
    path = run / "tables" / "places.parquet"
    pq.write_table(table, path)
    _reseal(run, path)


def test_places_shown_when_present_people_never(tmp_path):
    run = write_sample_run(tmp_path)
    _places(run, pa.table({
        "place_id": ["P1", "P2", "P3"],
        "area": ["Northtown", "Southvale", "Northtown"],
        "profile": ["cse", "cse", "cce"],
        "harm_cchi": [10.0, 30.0, 20.0],
        "nominal_ids": [["N9991"], ["N9992"], ["N9993"]],
        "victim_id": ["V9991", "V9992", "V9993"],
    }))
    html = write_report(run).read_text(encoding="utf-8")
    body = _section(html, "places")
    assert "Not available" not in body
    assert body.index("P2") < body.index("P3") < body.index("P1")  # most harm first
    assert "N999" not in html and "V999" not in html
    north = _section(render_report(run, "Northtown"), "places")
    assert "P1" in north and "P3" in north and "P2" not in north


def test_places_without_area_column_is_not_available_in_a_profile(tmp_path):
    run = write_sample_run(tmp_path)
    _places(run, pa.table({"place_id": ["P1"], "harm_cchi": [1.0]}))
    assert "table places has no area column" in _section(render_report(run, "Northtown"), "places")
    assert "Not available" not in _section(write_report(run).read_text(encoding="utf-8"), "places")


def test_continuity_sections_render_when_the_module_is_there(tmp_path, monkeypatch):
    import types

    mod = types.ModuleType("hiddennet.report.continuity")
    mod.__dict__["changes_section"] = lambda run: {"note": "Two runs compared.", "tables": [
        {"title": "Groups", "columns": ["change", "groups"], "rows": [["new", 3], ["gone", 1]]}]}
    monkeypatch.setitem(sys.modules, "hiddennet.report.continuity", mod)
    html = write_report(write_sample_run(tmp_path)).read_text(encoding="utf-8")
    changes = _section(html, "changes")
    assert "Two runs compared." in changes and "<td>new</td><td>3</td>" in changes
    assert "Not available in this run (no run history)" in _section(html, "trends")


def test_marking_css_every_width_and_every_printed_page(tmp_path):
    html = write_report(write_sample_run(tmp_path)).read_text(encoding="utf-8")
    assert re.search(r"table\.page \{[^}]*table-layout: fixed", html)  # the page never outgrows the screen
    assert re.search(r"\.marking \{[^}]*overflow-wrap: anywhere", html)
    assert re.search(r"@media print \{.*?table\.page > thead \{ display: table-header-group; \}", html, re.S)
    assert re.search(r"td\.id[^{]*\{ white-space: nowrap; \}", html)
    assert re.findall(r'<td class="id">G\d{3}</td>', html)  # group ids sit in nowrap cells


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hiddennet", *args], capture_output=True, text=True, timeout=120)


def test_cli_report_area_and_each_area(tmp_path):
    run = write_sample_run(tmp_path / "run")
    r = _cli("report", str(run), "--area", "Northtown", "--area", "Southvale")
    assert r.returncode == 0, r.stderr
    for name in ("northtown", "southvale"):
        html = (run / f"report-{name}.html").read_text(encoding="utf-8")
        assert MARKING in html and NOTICE in html
    assert not (run / "report.html").exists()  # only the profiles asked for
    out = tmp_path / "profiles"
    r = _cli("report", str(run), "--each-area", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["report-northtown.html", "report-southvale.html"]
    assert all(p.stat().st_mode & 0o077 == 0 for p in [out, *out.iterdir()])  # owner-only


def test_cli_report_unknown_area_exits_2(tmp_path):
    run = write_sample_run(tmp_path / "run")
    r = _cli("report", str(run), "--area", "Atlantis")
    assert r.returncode == 2
    assert "no local area 'Atlantis'" in r.stderr and "Traceback" not in r.stderr


def test_write_area_reports_one_per_area(tmp_path):
    run = write_sample_run(tmp_path / "run")
    paths = write_area_reports(run)
    assert [p.name for p in paths] == ["report-northtown.html", "report-southvale.html"]
    assert json.loads((run / "manifest.json").read_text())["files"]  # the run folder is still a run
