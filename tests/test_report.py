"""The descriptive report: figures worked out by hand, graceful degradation, no network references,
the notice and marking, suppression of small cells, and no person named."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from hiddennet.errors import OutputError
from hiddennet.report import MARKING, write_report
from hiddennet.report.charts import bar_chart, layout, network_svg
from hiddennet.report.data import RunOutputs, ages, ethnicity, figures, summary, suppress_column, timeline
from hiddennet.report.sample import write_manifest, write_sample_run, write_table
from hiddennet.stage import NOTICE

D = dt.date


def _tiny_run(tmp_path: Path) -> Path:
    """Five full-table rows and two final-table pairs.

    full_table (crime, offender, victim, date, offender age, victim age):
      C1 O1 V1 2019-05-01 30 14
      C2 O2 V1 2020-02-01 16 15
      C3 O3 V2 2020-06-01 -- 12
      C3 O4 V2 2020-06-01 40 12
      C4 O5 V3 2018-01-01 25  9
    final_table: (O1, O2, C1, C2, V1) and (O3, O4, C3, C3, V2).

    By hand: full 5 rows, 5 offenders, 4 crimes; final 2 pairs, 4 offenders (O1..O4), 3 crimes
    (C1, C2, C3). Crimes by year, full: 2018 1, 2019 1, 2020 2; final: 2018 0, 2019 1, 2020 2.
    Age differences (offender - victim) where both known: 16, 1, 28, 16 -> 4 known, none younger.
    """
    write_table(
        tmp_path,
        "full_table",
        {
            "crime_ref": ["C1", "C2", "C3", "C3", "C4"],
            "offender_id": ["O1", "O2", "O3", "O4", "O5"],
            "victim_id": ["V1", "V1", "V2", "V2", "V3"],
            "offence_date": [D(2019, 5, 1), D(2020, 2, 1), D(2020, 6, 1), D(2020, 6, 1), D(2018, 1, 1)],
            "offender_age": pa.array([30, 16, None, 40, 25], pa.int32()),
            "victim_age": pa.array([14, 15, 12, 12, 9], pa.int32()),
            "offender_sex": ["M", "M", "F", "M", "M"],
            "victim_sex": ["F", "F", "M", "M", "F"],
            "offender_ethnicity": ["IC1", None, None, None, None],
            "victim_ethnicity": ["IC1", "IC1", None, None, "IC3"],
        },
    )
    write_table(
        tmp_path,
        "final_table",
        {"offender_1": ["O1", "O3"], "offender_2": ["O2", "O4"], "crime_ref_1": ["C1", "C3"], "crime_ref_2": ["C2", "C3"], "victim_id": ["V1", "V2"]},
    )
    write_manifest(tmp_path, ["full_table", "final_table"])
    return tmp_path


def test_summary_and_timeline_hand_worked(tmp_path):
    run = RunOutputs(_tiny_run(tmp_path))
    s = summary(run)
    assert (s["full_rows"], s["full_offenders"], s["full_crimes"]) == (5, 5, 4)
    assert (s["final_pairs"], s["final_offenders"], s["final_crimes"]) == (2, 4, 3)
    t = timeline(run)
    assert [(r["year"], r["full"], r["final"]) for r in t["rows"]] == [(2018, 1, 0), (2019, 1, 1), (2020, 2, 2)]
    a = ages(run)
    assert a["difference"]["known_full"] == 4 and a["difference"]["younger_full"] == 0
    assert a["offender"]["full_unknown"] == 1
    # Victim ages 14, 15, 12, 12, 9 -> 12 is two fifths of the full table.
    assert a["victim"]["full_pct"][12] == pytest.approx(40.0)


def test_report_shows_run_and_study_figures(tmp_path):
    html = write_report(_tiny_run(tmp_path)).read_text(encoding="utf-8")
    for study in ("77,707", "55,323", "69,058", "28,758", "20,432"):
        assert study in html
    # The tiny run's own figures sit in the same table rows as the study's.
    assert re.search(r"Full table rows[^<]*</td><td class=\"num\">5</td>", html)
    assert re.search(r"Final table pairs[^<]*</td><td class=\"num\">2</td>", html)


def test_missing_tables_degrade_section_by_section(tmp_path):
    write_manifest(tmp_path)  # a run folder with no tables at all
    html = write_report(tmp_path).read_text(encoding="utf-8")
    for section in ("summary", "timeline", "ages", "sex", "ethnicity", "network", "dismantling", "safeguarding", "fairness"):
        body = _section(html, section)
        assert "Not available in this run" in body, section
    assert "table full_table is not in this run" in html


def test_one_missing_table_leaves_the_rest(tmp_path):
    write_sample_run(tmp_path, omit=["fairness", "dismantling"])
    html = write_report(tmp_path).read_text(encoding="utf-8")
    assert "Not available in this run (table fairness is not in this run)" in _section(html, "fairness")
    assert "Not available in this run (table dismantling is not in this run)" in _section(html, "dismantling")
    assert "Not available" not in _section(html, "network")
    assert "Not available" not in _section(html, "safeguarding")


def test_missing_manifest_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="manifest.json"):
        write_report(tmp_path)


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}"[^>]*>(.*?)</section>', html, flags=re.S)
    assert m, sid
    return m.group(1)


@pytest.fixture(scope="module")
def sample_html(tmp_path_factory) -> str:
    run = write_sample_run(tmp_path_factory.mktemp("run"))
    return write_report(run).read_text(encoding="utf-8")


def test_self_contained_no_http_no_script(sample_html):
    assert "http" not in sample_html.lower()
    assert "<script" not in sample_html
    assert "<link" not in sample_html
    assert "src=" not in sample_html
    assert "<svg" in sample_html  # charts are drawn inline


def test_notice_and_marking_at_top_and_on_every_printed_page(sample_html):
    first_h1 = sample_html.index("<h1")
    assert sample_html.index(NOTICE) < first_h1
    assert sample_html.index(MARKING) < first_h1
    # The page table's thead repeats on every printed page and carries both.
    thead = re.search(r'<table class="page">\s*<thead>(.*?)</thead>', sample_html, flags=re.S).group(1)
    assert NOTICE in thead and MARKING in thead
    assert "table-header-group" in sample_html


def test_no_person_is_named(sample_html):
    assert not re.search(r"\bN\d{4}\b", sample_html)  # nominal ids of the sample run
    assert not re.search(r"\bV\d{4}\b", sample_html)  # victim ids
    assert not re.search(r"\bC\d{5}\b", sample_html)  # crime refs


def test_safeguarding_section_never_calls_people_offenders(sample_html):
    body = _section(sample_html, "safeguarding")
    assert "people to protect" in body.lower() or "people are flagged" in body
    assert "offender" not in body.lower()
    assert "priority" not in body.lower()


def test_ethnicity_small_cells_suppressed_with_unknown_share(tmp_path):
    """12 victims IC1, 3 victims IC3, 5 not recorded (min cell 10).

    IC3 (3) is withheld; alone it could be worked back from the total of 20, so the next smallest
    cell, IC1 (12), is withheld too. "Not recorded" (5) is shown: it says nothing about anyone's
    ethnicity. Unknown share = 5/20 = 25%.
    """
    n = 20
    write_table(
        tmp_path,
        "full_table",
        {
            "crime_ref": [f"C{i}" for i in range(n)],
            "offender_id": [f"O{i}" for i in range(n)],
            "victim_id": [f"V{i}" for i in range(n)],
            "offender_ethnicity": ["IC1"] * n,
            "victim_ethnicity": ["IC1"] * 12 + ["IC3"] * 3 + [None] * 5,
        },
    )
    write_manifest(tmp_path)
    e = ethnicity(RunOutputs(tmp_path))
    rows = {r["label"]: r for r in e["rows"]}
    assert rows["Black (IC3)"]["victims"] is None and rows["Black (IC3)"]["victims_pct"] is None
    assert rows["White, North European (IC1)"]["victims"] is None
    assert rows["Not recorded"]["victims"] == 5
    assert e["victims_unknown_pct"] == 25.0
    assert rows["White, North European (IC1)"]["offenders"] == 20
    html = write_report(tmp_path).read_text(encoding="utf-8")
    assert "fewer than 10" in _section(html, "ethnicity")


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=8), st.integers(2, 12), st.data())
def test_suppression_invariants(counts, k, data):
    protect = data.draw(st.lists(st.booleans(), min_size=len(counts), max_size=len(counts)))
    out = suppress_column(counts, k, protect=protect)
    for c, p, o in zip(counts, protect, out, strict=True):
        if p:
            assert o == c  # protected cells are always shown
        elif o is not None:
            assert o == c and not (0 < c < k)  # a shown cell is exact and never small
    hidden = [i for i, o in enumerate(out) if o is None]
    others = [i for i, (c, p) in enumerate(zip(counts, protect, strict=True)) if c > 0 and not p]
    # One hidden cell alone can be worked back from the total, unless nothing else could hide it.
    assert len(hidden) != 1 or others == hidden


def test_bar_chart_heights_follow_values():
    """Values 1 and 2 on an axis rounded up to 2: bar heights are half and all of the plot height."""
    svg = str(bar_chart(["a", "b"], [("s", [1, 2])], title="t", height=280))
    heights = [float(h) for h in re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)" fill="[^"]+"><title>', svg)]
    assert heights == pytest.approx([100.0, 200.0])  # plot height 280 - 34 - 46 = 200
    assert "xmlns" not in svg and "style=" not in svg


def test_layout_is_deterministic_and_bounded():
    edges = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]
    a, b = layout(4, edges, seed=3), layout(4, edges, seed=3)
    assert (a == b).all()
    assert a.min() >= 0 and a.max() <= 1
    svg = str(network_svg(["x", "<y>", "z", "w"], [False, True, False, False], [(a_, b_, 1.0) for a_, b_ in edges], title="g"))
    assert "&lt;y&gt;" in svg and "<y>" not in svg  # labels are escaped
    assert svg.count("<circle") == 4 + 2  # four members and the two legend marks


def test_figures_sections_all_present(tmp_path):
    write_sample_run(tmp_path)
    f = figures(RunOutputs(tmp_path))
    # Places come with the all-age work, changes and trends with the run history: not in a sample run.
    optional = {"places", "changes", "trends"}
    assert all(s["available"] for k, s in f.items() if k not in optional), {k: s.get("reason") for k, s in f.items()}
    assert [f[k]["reason"] for k in sorted(optional)] == ["no run history", "table places is not in this run",
                                                          "no run history"]
    assert f["network"]["ranked"] == f["network"]["groups"] - f["network"]["safeguarding_only"]
