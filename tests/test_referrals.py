"""Referral packs for the multi-agency safeguarding hubs (hiddennet/safeguard/referrals.py)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_safeguard import HAND, build_world

from hiddennet import safeguard
from hiddennet.errors import SettingsError
from hiddennet.safeguard import referrals
from hiddennet.stage import NOTICE


@pytest.fixture
def run_dir(tmp_path, duck, settings) -> Path:
    """A finished run's folder holding the safeguarding table of the hand-worked force (test_safeguard.HAND)
    and a manifest. Areas: North (V1, O2), East (V2, P5), West (O3), South (I1), and V5 (North, C6);
    I1's area (South) is cleared to show the `unknown` area."""
    build_world(duck, HAND)
    safeguard.run(duck, settings)
    # One person with no recorded area, to show the `unknown` area.
    duck.execute("UPDATE safeguarding SET local_area = NULL WHERE nominal_id = 'I1'")
    duck.write_parquet("safeguarding", tmp_path / "tables" / "safeguarding.parquet", metadata={"hiddennet_notice": NOTICE})
    manifest = {"as_of": "2021-03-15", "hiddennet_version": "0.1.0", "notice": NOTICE,
                "settings": {"child_age": 18, "transitional_age_max": 25}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return seal(tmp_path)


def seal(run_dir: Path) -> Path:
    """List the folder's tables in its manifest, as a finished run's commit does (hiddennet.rundir)."""
    m = json.loads((run_dir / "manifest.json").read_text())
    m["files"] = {f"tables/{p.name}": {"bytes": p.stat().st_size} for p in (run_dir / "tables").glob("*.parquet")}
    (run_dir / "manifest.json").write_text(json.dumps(m))
    return run_dir


def read_csv(path: Path) -> list[dict]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def test_pack_holds_only_what_a_hub_needs(run_dir):
    """North: V1 (15, C1), O2 (16, C1) and V5 (21, C6): the five fields, plain words, nothing else."""
    facts = referrals.write_referral_pack(run_dir, area="North", recipient="North MASH", actor="analyst1")
    rows = read_csv(Path(facts["csv"]))
    assert list(rows[0]) == list(referrals.FIELDS) == ["nominal_id", "reasons", "age_on_as_of", "crime_refs", "area"]
    assert {r["nominal_id"]: (r["age_on_as_of"], r["crime_refs"]) for r in rows} == {
        "V1": ("15", "C1"), "O2": ("16", "C1"), "V5": ("21", "C6")}
    assert {r["area"] for r in rows} == {"North"} and facts["people"] == 3
    words = referrals.reason_words()
    o2 = next(r for r in rows if r["nominal_id"] == "O2")
    assert o2["reasons"] == f"{words['child_in_network']} | {words['child_offender']}"
    html = Path(facts["html"]).read_text(encoding="utf-8")
    for absent in ("G1", "group_id", "ethnicity", "IC1", "betweenness", "harm"):
        assert absent not in html and absent not in Path(facts["csv"]).read_text()
    assert Path(facts["csv"]).parent == run_dir / "referrals" / "North"


def test_marking_and_notice_on_every_page(run_dir):
    """CSV: marking with handling conditions first and last. HTML: in the @page header and footer boxes,
    in fixed header and footer boxes for print, and in the table's repeated head and foot."""
    facts = referrals.write_referral_pack(run_dir, area="East", recipient="East MASH", actor="a")
    text = Path(facts["csv"]).read_text(encoding="utf-8").splitlines()
    for line in (text[0], text[-1]):
        assert line.startswith("# OFFICIAL-SENSITIVE") and "Handling conditions" in line and NOTICE in line
    html = Path(facts["html"]).read_text(encoding="utf-8")
    page = html[html.index("@page"):html.index("@media print")]
    assert re.search(r"@top-center\s*{\s*content: \"OFFICIAL-SENSITIVE", page)
    assert re.search(r"@bottom-center\s*{\s*content: \"OFFICIAL-SENSITIVE", page)
    assert re.search(r'<header class="running top"><div class="marking">OFFICIAL-SENSITIVE', html)
    assert re.search(r'<footer class="running bottom"><div class="marking">OFFICIAL-SENSITIVE', html)
    print_css = html[html.index("@media print"):html.index("</style>")]
    assert "position: fixed" in print_css and "table-header-group" in print_css and "table-footer-group" in print_css
    for part in ("<thead>", "<tfoot>"):
        block = html[html.index(part):]
        assert "OFFICIAL-SENSITIVE" in block[: block.index("</" + part[1:])]
    assert NOTICE in html and referrals.HANDLING in html


def test_html_is_self_contained_and_escaped(run_dir):
    """No http reference, no external script, stylesheet, image or font; ids are escaped."""
    t = pq.read_table(run_dir / "tables" / "safeguarding.parquet").to_pylist()
    t[0]["nominal_id"] = "<script>x</script>"
    pq.write_table(pa.Table.from_pylist(t), run_dir / "tables" / "safeguarding.parquet")
    seal(run_dir)
    area = t[0]["local_area"] or "unknown"
    facts = referrals.write_referral_pack(run_dir, area=area, recipient="MASH", actor="a")
    html = Path(facts["html"]).read_text(encoding="utf-8")
    assert "http" not in html.lower()
    for bad in ("<script", "<link", "src=", "url(", "@import"):
        assert bad not in html.lower()
    assert "&lt;script&gt;x&lt;/script&gt;" in html


def test_no_person_is_called_an_offender_in_the_pack(run_dir):
    """The people in the pack are described in the language of exploitation: the word never appears in
    the template, the plain-word reasons, or the files written for any area."""
    template = (Path(referrals.__file__).parent / "templates" / "referral_pack.html").read_text()
    assert "offender" not in template.lower()
    assert not [w for w in referrals.reason_words().values() if "offender" in w.lower()]
    assert "offender" not in " ".join(referrals.HEADINGS + referrals.FIELDS).lower()
    for area in ("North", "East", "West", "unknown"):
        facts = referrals.write_referral_pack(run_dir, area=area, recipient="MASH", actor="a")
        for key in ("csv", "html"):
            assert "offender" not in Path(facts[key]).read_text(encoding="utf-8").lower(), (area, key)


def test_every_export_is_appended_to_the_disclosure_log(run_dir):
    """Two exports -> two lines; the first line is byte for byte unchanged; each names the files with their
    sha256, rows, fields, area, recipient and who ran it; no file of the first export is overwritten."""
    log = run_dir / "disclosures.jsonl"
    first = referrals.write_referral_pack(run_dir, area="North", recipient="North MASH", actor="analyst1")
    line1 = log.read_bytes()
    second = referrals.write_referral_pack(run_dir, area="West", recipient="West MASH")
    third = referrals.write_referral_pack(run_dir, area="North", recipient="North MASH", actor="analyst1")
    data = log.read_bytes()
    assert data.startswith(line1) and data.count(b"\n") == 3
    records = [json.loads(x) for x in data.decode().splitlines()]
    r1, r2 = records[0], records[1]
    assert (r1["actor"], r1["recipient"], r1["area"], r1["rows"]) == ("analyst1", "North MASH", "North", 3)
    assert r1["fields"] == list(referrals.FIELDS) and r1["marking"] == "OFFICIAL-SENSITIVE"
    assert r1["time_utc"].endswith("Z")
    for f in r1["files"]:
        assert f["sha256"] == "sha256:" + hashlib.sha256((run_dir / f["name"]).read_bytes()).hexdigest()
    assert r2["actor"] and r2["area"] == "West" and r2["rows"] == 1
    assert first["csv"] != third["csv"] and Path(first["csv"]).exists() and Path(second["csv"]).exists()


def test_unknown_area_is_an_error_naming_the_known_areas(run_dir):
    with pytest.raises(SettingsError) as e:
        referrals.write_referral_pack(run_dir, area="Atlantis", recipient="MASH", actor="a")
    # South was I1's only area, cleared to unknown by the fixture.
    assert str(e.value).endswith("the run knows 4 areas: East, North, West, unknown")
    assert "column local_area" in str(e.value)
    assert not (run_dir / "disclosures.jsonl").exists()


def test_people_without_an_area_go_to_the_unknown_pack(run_dir):
    facts = referrals.write_referral_pack(run_dir, area="unknown", recipient="Force safeguarding unit", actor="a")
    assert [r["nominal_id"] for r in read_csv(Path(facts["csv"]))] == ["I1"]


def test_safeguarding_docs_use_the_word_only_in_identifiers():
    """docs/safeguarding.md may name the reason codes and table columns (in backticks), never describe a
    person as an offender in its prose."""
    doc = (Path(__file__).parents[1] / "docs" / "safeguarding.md").read_text(encoding="utf-8")
    prose = re.sub(r"`[^`]*`", "", doc)
    assert "offender" not in prose.lower()


def test_cli_records_the_actor_and_recipient_it_is_given(run_dir):
    """`hiddennet referrals RUN --area East --actor ... --recipient ...` logs exactly those names."""
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "hiddennet", "referrals", str(run_dir), "--area", "East", "--actor", "officer7",
         "--recipient", "East MASH duty desk", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    log = [json.loads(x) for x in (run_dir / referrals.DISCLOSURE_LOG).read_text(encoding="utf-8").splitlines()]
    assert log[-1]["actor"] == "officer7" and log[-1]["recipient"] == "East MASH duty desk"
