"""Referral packs for the multi-agency safeguarding hubs (hiddennet/safeguard/referrals.py).

The hand-worked force of test_safeguard (HAND, as_of 2021-03-15), run through safeguard and triage.
Who may leave in a pack: the children V1 (15, North), O2 (16, North), I1 (10, South; cleared to the
`unknown` area by the fixture). The adults V2 (20, East), V5 (21, North), O3 (30, West), P5 (36, East)
have no recorded basis: police-side review, never in a pack. Bands (see test_triage): V1 and O2 high
(child_recent_year), I1 medium (child).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_safeguard import AS_OF, HAND, World, build_world

from hiddennet import safeguard
from hiddennet.errors import OutputError, SettingsError
from hiddennet.safeguard import ledger, referrals
from hiddennet.settings import Settings
from hiddennet.stage import NOTICE

PUBLISHED = ("safeguarding", "safeguarding_triage", "safeguarding_peer_groups", "safeguarding_identifiers",
             "safeguarding_crimes", "safeguarding_review")


def make_run(engine, folder: Path, world: World, settings: Settings, *, basis: list[dict] | None = None,
             prepare=None) -> Path:
    """A finished run's folder: the safeguarding tables of `world` (with `basis` as the force's sharing_basis
    input) and a manifest with the run's settings. `prepare(engine)` may change the inputs first."""
    build_world(engine, world)
    if basis is not None:
        engine.register_arrow("sharing_basis", pa.Table.from_pylist(basis, pa.schema(
            [("nominal_id", pa.string()), ("basis", pa.string()), ("recorded_date", pa.date32()),
             ("recorded_by", pa.string()), ("expires", pa.date32())])))
    if prepare:
        prepare(engine)
    safeguard.run(engine, settings)
    safeguard.triage(engine, settings)
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    for name in PUBLISHED:
        engine.write_parquet(name, folder / "tables" / f"{name}.parquet", metadata={"hiddennet_notice": NOTICE})
    manifest = {"as_of": str(settings.as_of), "hiddennet_version": "0.1.0", "notice": NOTICE,
                "settings": settings.model_dump(mode="json")}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return seal(folder)


def _clear_area(name: str):
    def prepare(engine):
        engine.execute(f"CREATE OR REPLACE TABLE crimes AS SELECT * REPLACE (CASE WHEN crime_ref = '{name}' "
                       "THEN NULL ELSE location_area END AS location_area) FROM crimes")
    return prepare


@pytest.fixture
def run_dir(tmp_path, duck, settings) -> Path:
    """HAND with I1's only crime (C8, South) given no area: I1 is listed under `unknown`."""
    return make_run(duck, tmp_path / "run", HAND, settings, prepare=_clear_area("C8"))


def seal(run_dir: Path) -> Path:
    """List the folder's tables in its manifest, as a finished run's commit does (hiddennet.rundir)."""
    m = json.loads((run_dir / "manifest.json").read_text())
    m["files"] = {f"tables/{p.name}": {"bytes": p.stat().st_size} for p in (run_dir / "tables").glob("*.parquet")}
    (run_dir / "manifest.json").write_text(json.dumps(m))
    return run_dir


def read_csv(path: Path) -> list[dict]:
    """The people rows of a pack's CSV (the '#' lines and the peer-group section left out)."""
    text = path.read_text(encoding="utf-8").split("\n# Peer groups")[0]
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def pack_ids(facts: dict) -> set[str]:
    return {r["nominal_id"] for r in read_csv(Path(facts["csv"]))}


def test_pack_holds_only_what_a_hub_needs(run_dir):
    """North: the children V1 (15, C1) and O2 (16, C1), band high. V5 (21, North) is an adult with no recorded
    basis: held on the police side, not in the pack, counted only."""
    facts = referrals.write_referral_pack(run_dir, area="North", recipient="North MASH", actor="analyst1")
    rows = read_csv(Path(facts["csv"]))
    assert list(rows[0]) == list(referrals.FIELDS)
    assert {r["nominal_id"]: (r["age_on_as_of"], r["crime_refs"], r["band"]) for r in rows} == {
        "V1": ("15", "C1", "high"), "O2": ("16", "C1", "high")}
    assert {r["area"] for r in rows} == {"North"} and facts["people"] == 2
    assert facts["held_for_police_review"] == 1 and facts["per_band"]["high"] == 2
    words = referrals.reason_words()
    o2 = next(r for r in rows if r["nominal_id"] == "O2")
    assert o2["reasons"] == f"{words['child_in_network']} | {words['child_offender']}"
    assert o2["sharing_basis"] == referrals.BASIS_WORDS["working_together_2018"] and o2["change"] == "new"
    html = Path(facts["html"]).read_text(encoding="utf-8")
    for absent in ("G1", "group_id", "ethnicity", "IC1", "betweenness", "harm_cchi", "V5"):
        assert absent not in html and absent not in Path(facts["csv"]).read_text()
    assert Path(facts["csv"]).parent == run_dir / "referrals" / "North"


def test_pack_files_and_logs_are_owner_only(run_dir, tmp_path):
    facts = referrals.write_referral_pack(run_dir, area="North", recipient="North MASH", actor="a",
                                          ledger=tmp_path / "ledger")
    for key in ("csv", "html", "disclosure_log", "ledger"):
        assert stat.S_IMODE(os.stat(facts[key]).st_mode) == 0o600, key
    assert stat.S_IMODE(os.stat(tmp_path / "ledger").st_mode) == 0o700


def test_packs_are_sorted_by_band(duck, tmp_path):
    """North children: K1 victim on 2021-03-01 (14 days before as_of: immediate), K2 on 2020-06-01 (high),
    K3 on 2017-01-01 (1534 days: medium, `child`), K4 on 2012-01-01 (over five years: monitor). The CSV
    lists them immediate, high, medium, monitor whatever their ids; the HTML has one band block each, in order."""
    w = World(dob={"O1": "1980-01-01", "K1": "2007-01-01", "K2": "2006-01-01", "K3": "2005-06-01", "K4": "2004-06-01"},
              crimes=[_crime("C1", "2021-03-01", "K4"), _crime("C2", "2020-06-01", "K3"),
                      _crime("C3", "2017-01-01", "K2"), _crime("C4", "2012-01-01", "K1")])
    run = make_run(duck, tmp_path / "run", w, Settings(as_of=AS_OF))
    facts = referrals.write_referral_pack(run, area="North", recipient="MASH", actor="a")
    rows = read_csv(Path(facts["csv"]))
    assert [(r["nominal_id"], r["band"]) for r in rows] == [
        ("K4", "immediate"), ("K3", "high"), ("K2", "medium"), ("K1", "monitor")]
    html = Path(facts["html"]).read_text(encoding="utf-8")
    positions = [html.index(referrals.BAND_WORDS[b]) for b in ("immediate", "high", "medium", "monitor")]
    assert positions == sorted(positions)


def _crime(ref, date, victim, area="North"):
    from test_safeguard import Crime
    return Crime(ref, date, offenders=("O1",), victims=(victim,), area=area)


def test_marking_and_headings_on_every_page(run_dir):
    """CSV: marking with handling conditions first and last. HTML: in the @page header and footer boxes,
    in fixed header and footer boxes for print, and in the table's repeated head and foot; the column
    headings are in the table head (repeated on every printed page: display table-header-group)."""
    facts = referrals.write_referral_pack(run_dir, area="North", recipient="North MASH", actor="a")
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
    assert "position: fixed" in print_css and "table.people thead { display: table-header-group; }" in print_css
    assert "table-footer-group" in print_css
    heads = re.findall(r"<thead>(.*?)</thead>", html, re.S)
    assert heads and all("OFFICIAL-SENSITIVE" in h for h in heads)
    people_head = heads[-1]
    assert all(f"<th scope=\"col\">{h}</th>" in people_head for h in referrals.HEADINGS)
    for foot in re.findall(r"<tfoot>(.*?)</tfoot>", html, re.S):
        assert "OFFICIAL-SENSITIVE" in foot
    assert NOTICE in html and referrals.HANDLING in html


def test_html_is_self_contained_and_escaped(run_dir):
    """No http reference, no external script, stylesheet, image or font; ids are escaped."""
    path = run_dir / "tables" / "safeguarding.parquet"
    t = pq.read_table(path).to_pylist()
    v1 = next(r for r in t if r["nominal_id"] == "V1")
    v1["nominal_id"] = "<script>x</script>"
    pq.write_table(pa.Table.from_pylist(t, pq.read_schema(path)), path)
    seal(run_dir)
    facts = referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a")
    html = Path(facts["html"]).read_text(encoding="utf-8")
    assert "http" not in html.lower()
    for bad in ("<script", "<link", "src=", "url(", "@import"):
        assert bad not in html.lower()
    assert "&lt;script&gt;x&lt;/script&gt;" in html


def test_csv_cells_cannot_run_as_formulas(duck, tmp_path):
    """An area named `=cmd|' /C calc'!A0` and ids starting with +, -, @: every such cell is written with a
    leading apostrophe, so a spreadsheet shows it as text. Other cells are unchanged."""
    area = "=cmd|' /C calc'!A0"
    w = World(dob={"O1": "1980-01-01", "+K1": "2007-01-01", "-K2": "2007-01-01", "@K3": "2007-01-01", "K4": "2007-01-01"},
              crimes=[_crime(f"C{i}", "2020-06-01", k, area=area) for i, k in enumerate(("+K1", "-K2", "@K3", "K4"))])
    run = make_run(duck, tmp_path / "run", w, Settings(as_of=AS_OF))
    facts = referrals.write_referral_pack(run, area=area, recipient="MASH", actor="a")
    rows = read_csv(Path(facts["csv"]))
    assert sorted(r["nominal_id"] for r in rows) == ["'+K1", "'-K2", "'@K3", "K4"]
    assert {r["area"] for r in rows} == {"'" + area}
    for cell in (c for r in rows for c in r.values()):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    for value in ("\tx", "\rx", "=1+1", "+1", "-1", "@SUM(A1)"):
        assert referrals.escape_cell(value) == "'" + value
    assert referrals.escape_cell("Solihull") == "Solihull" and referrals.escape_cell(None) == ""


def test_no_person_is_called_an_offender_in_the_pack(run_dir):
    """The people in the pack are described in the language of exploitation: the word never appears in
    the template, the plain words (reasons, band rules, bases), or the files written for any area."""
    template = (Path(referrals.__file__).parent / "templates" / "referral_pack.html").read_text()
    assert "offender" not in template.lower()
    from hiddennet.safeguard.bands import rule_words
    texts = [*referrals.reason_words().values(), *rule_words().values(), *referrals.BASIS_WORDS.values(),
             *referrals.BAND_WORDS.values(), *referrals.HEADINGS, *referrals.FIELDS, *referrals.IDENTIFIER_HEADINGS]
    assert not [w for w in texts if "offender" in w.lower()]
    for area in ("North", "East", "West", "unknown"):
        facts = referrals.write_referral_pack(run_dir, area=area, recipient="MASH", actor="a", full=True)
        for key in ("csv", "html"):
            assert "offender" not in Path(facts[key]).read_text(encoding="utf-8").lower(), (area, key)


def test_every_export_is_appended_to_the_disclosure_log(run_dir):
    """Three exports -> three lines; the first line is byte for byte unchanged; each names the files with
    their sha256, rows, fields, area, recipient and who ran it; no file of the first export is overwritten.
    West holds only O3, an adult without a basis: a pack of 0 rows, still logged."""
    log = run_dir / "disclosures.jsonl"
    first = referrals.write_referral_pack(run_dir, area="North", recipient="North MASH", actor="analyst1")
    line1 = log.read_bytes()
    second = referrals.write_referral_pack(run_dir, area="West", recipient="West MASH")
    third = referrals.write_referral_pack(run_dir, area="North", recipient="North MASH", actor="analyst1")
    data = log.read_bytes()
    assert data.startswith(line1) and data.count(b"\n") == 3
    records = [json.loads(x) for x in data.decode().splitlines()]
    r1, r2, r3 = records
    assert (r1["actor"], r1["recipient"], r1["area"], r1["rows"]) == ("analyst1", "North MASH", "North", 2)
    assert r1["fields"] == list(referrals.FIELDS) and r1["marking"] == "OFFICIAL-SENSITIVE" and not r1["identifiers"]
    assert r1["time_utc"].endswith("Z")
    for f in r1["files"]:
        assert f["sha256"] == "sha256:" + hashlib.sha256((run_dir / f["name"]).read_bytes()).hexdigest()
    assert r2["actor"] and r2["area"] == "West" and r2["rows"] == 0
    assert r3["rows"] == 0 and r3["unchanged_not_sent"] == 2
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
    assert pack_ids(facts) == {"I1"}


def test_a_run_without_sharing_columns_makes_no_pack(run_dir):
    """A run made before the lawful-sharing rules cannot say who may leave: an error, never a guess."""
    path = run_dir / "tables" / "safeguarding.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["share_with_hub"]), path)
    seal(run_dir)
    with pytest.raises(OutputError, match="column share_with_hub"):
        referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a")


def test_safeguarding_docs_use_the_word_only_in_identifiers():
    """docs/safeguarding.md may name the reason codes and table columns (in backticks), never describe a
    person as an offender in its prose."""
    doc = (Path(__file__).parents[1] / "docs" / "safeguarding.md").read_text(encoding="utf-8")
    prose = re.sub(r"`[^`]*`", "", doc)
    assert "offender" not in prose.lower()


def test_cli_records_the_actor_recipient_and_ledger_it_is_given(run_dir, tmp_path):
    """`hiddennet referrals RUN --area North --actor ... --recipient ... --ledger DIR` logs exactly those names
    and writes the ledger there; a second call sends nobody new (`--full` resends)."""
    import subprocess
    import sys

    def cli(*extra):
        r = subprocess.run(
            [sys.executable, "-m", "hiddennet", "referrals", str(run_dir), "--area", "North", "--actor", "officer7",
             "--recipient", "North MASH duty desk", "--ledger", str(tmp_path / "L"), "--json", *extra],
            capture_output=True, text=True, timeout=120,
        )
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    assert cli()["people"] == 2
    again = cli()
    assert (again["people"], again["unchanged_not_sent"]) == (0, 2)
    assert cli("--full")["people"] == 2
    log = [json.loads(x) for x in (run_dir / referrals.DISCLOSURE_LOG).read_text(encoding="utf-8").splitlines()]
    assert log[-1]["actor"] == "officer7" and log[-1]["recipient"] == "North MASH duty desk"
    assert (tmp_path / "L" / ledger.LEDGER_FILE).is_file()


def test_ledger_defaults_to_a_folder_beside_the_run(run_dir):
    facts = referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a")
    assert Path(facts["ledger"]) == run_dir.resolve().parent / "referral-ledger" / ledger.LEDGER_FILE


def test_identifiers_only_when_the_force_turns_them_on(duck, tmp_path):
    """With referral_identifiers on, the pack adds name, date of birth, sex and the crimes behind the flag
    (date, type, role in plain words), marks itself restricted and logs `identifiers: true`; off (the
    default), no name is written anywhere in the run's tables or the pack."""

    def names(engine):
        engine.execute("CREATE OR REPLACE TABLE nominals AS SELECT *, 'Forename' || nominal_id AS forename, "
                       "'Surname' || nominal_id AS surname FROM nominals")

    on = make_run(duck, tmp_path / "on", HAND, Settings(as_of=AS_OF, referral_identifiers=True), prepare=names)
    facts = referrals.write_referral_pack(on, area="North", recipient="MASH", actor="a")
    rows = {r["nominal_id"]: r for r in read_csv(Path(facts["csv"]))}
    assert list(next(iter(rows.values()))) == list(referrals.FIELDS + referrals.IDENTIFIER_FIELDS)
    assert (rows["V1"]["forename"], rows["V1"]["surname"], rows["V1"]["date_of_birth"]) == (
        "ForenameV1", "SurnameV1", "2006-01-01")
    assert rows["V1"]["crimes"] == "2020-06-01 Sexual activity with a child (C1, recorded as victim)"
    assert "recorded as accused or suspect role" in rows["O2"]["crimes"]
    html = Path(facts["html"]).read_text(encoding="utf-8")
    assert referrals.IDENTIFIERS_NOTICE in html and "SurnameO2" in html
    assert json.loads((on / referrals.DISCLOSURE_LOG).read_text().splitlines()[-1])["identifiers"] is True

    with __import__("hiddennet.engine.duckdb_engine", fromlist=["DuckDBEngine"]).DuckDBEngine() as other:
        off = make_run(other, tmp_path / "off", HAND, Settings(as_of=AS_OF), prepare=names)
    assert pq.read_table(off / "tables" / "safeguarding_identifiers.parquet").num_rows == 0
    facts = referrals.write_referral_pack(off, area="North", recipient="MASH", actor="a")
    for key in ("csv", "html"):
        assert "Surname" not in Path(facts[key]).read_text(encoding="utf-8")


def test_adult_with_a_recorded_basis_is_shared_and_without_one_is_not(duck, tmp_path):
    """V5 (21, North) with consent recorded 2021-01-10 is in the North pack (basis: consent). V2 (20, East):
    consent 2020-01-01 then withdrawn 2021-02-01 (the latest decides): held. P5 (36, East): vital interests
    that expired 2021-01-01, before as_of: held as basis_expired."""
    basis = [
        dict(nominal_id="V5", basis="consent", recorded_date=dt.date(2021, 1, 10), recorded_by="PC 1", expires=None),
        dict(nominal_id="V2", basis="consent", recorded_date=dt.date(2020, 1, 1), recorded_by=None, expires=None),
        dict(nominal_id="V2", basis="consent_withdrawn", recorded_date=dt.date(2021, 2, 1), recorded_by=None, expires=None),
        dict(nominal_id="P5", basis="vital_interests", recorded_date=dt.date(2020, 6, 1), recorded_by=None,
             expires=dt.date(2021, 1, 1)),
    ]
    run = make_run(duck, tmp_path / "run", HAND, Settings(as_of=AS_OF), basis=basis)
    north = referrals.write_referral_pack(run, area="North", recipient="MASH", actor="a")
    rows = {r["nominal_id"]: r for r in read_csv(Path(north["csv"]))}
    assert set(rows) == {"V1", "O2", "V5"} and rows["V5"]["sharing_basis"] == "Consent recorded"
    east = referrals.write_referral_pack(run, area="East", recipient="MASH", actor="a")
    assert pack_ids(east) == set() and east["held_for_police_review"] == 2
    review = {r["nominal_id"]: r["review_reason"] for r in pq.read_table(run / "tables" / "safeguarding_review.parquet").to_pylist()}
    assert review == {"V2": "consent_refused_or_withdrawn", "P5": "basis_expired", "O3": "adult_no_basis"}


def test_a_basis_that_expires_after_the_run_is_checked_on_the_day_of_the_pack(duck, tmp_path):
    """V5's consent was in force on as_of but expired yesterday: the pack made today holds them back."""
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    basis = [dict(nominal_id="V5", basis="consent", recorded_date=dt.date(2021, 1, 10), recorded_by=None, expires=yesterday)]
    run = make_run(duck, tmp_path / "run", HAND, Settings(as_of=AS_OF), basis=basis)
    assert pq.read_table(run / "tables" / "safeguarding.parquet").to_pandas().set_index("nominal_id").loc["V5", "share_with_hub"]
    facts = referrals.write_referral_pack(run, area="North", recipient="MASH", actor="a")
    assert pack_ids(facts) == {"V1", "O2"} and facts["held_for_police_review"] == 1


def test_second_pack_holds_only_the_new_and_the_changed(run_dir, tmp_path):
    """First North pack: V1, O2 (new). Second, same run: nobody, 2 unchanged. Then V1's band rises to
    immediate and O2 gains a reason (victim_offender_overlap): the third pack holds exactly those two, marked
    `higher band` and `new reason`; a band going down is not a change."""
    L = tmp_path / "L"
    first = referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a", ledger=L)
    assert (first["people"], first["new"]) == (2, 2)
    second = referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a", ledger=L)
    assert (second["people"], second["unchanged_not_sent"]) == (0, 2)
    _edit(run_dir, "safeguarding_triage", "V1", band="immediate", band_order=1)
    _edit(run_dir, "safeguarding", "O2", reasons=["child_in_network", "child_offender", "victim_offender_overlap"])
    third = referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a", ledger=L)
    assert {r["nominal_id"]: r["change"] for r in read_csv(Path(third["csv"]))} == {"V1": "higher band", "O2": "new reason"}
    _edit(run_dir, "safeguarding_triage", "V1", band="monitor", band_order=4, band_reasons=["no_recent_activity"])
    fourth = referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a", ledger=L)
    assert fourth["people"] == 0
    sent = [e for e in ledger.read_ledger(L) if e["kind"] == "sent"]
    assert [e["nominal_id"] for e in sent] == ["O2", "V1", "V1", "O2"]  # band order, then id, per pack
    assert {e["sharing_basis"] for e in sent} == {"working_together_2018"} and all(e["recipient"] == "MASH" for e in sent)


def _edit(run_dir: Path, table: str, nominal_id: str, **values) -> None:
    path = run_dir / "tables" / f"{table}.parquet"
    rows = pq.read_table(path).to_pylist()
    for r in rows:
        if r["nominal_id"] == nominal_id:
            r.update(values)
    pq.write_table(pa.Table.from_pylist(rows, pq.read_schema(path)), path)
    seal(path.parent.parent)


def test_outcomes_come_back_and_show_on_the_next_pack(run_dir, tmp_path):
    """An outcome recorded through the ledger (the dashboard's action) for V1, and one from the force's input
    file for O2 (safeguarding.last_outcome): both shown on the next pack. Bad outcome codes are refused."""
    L = tmp_path / "L"
    referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a", ledger=L)
    line = ledger.record_outcome(L, "V1", "Strategy discussion", actor="lead1", outcome_date="2021-03-20", area="North")
    assert line["outcome"] == "strategy_discussion" and line["actor"] == "lead1"
    _edit(run_dir, "safeguarding", "O2", last_outcome="outcome_22", last_outcome_date=dt.date(2021, 3, 1))
    facts = referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a", ledger=L, full=True)
    rows = {r["nominal_id"]: r for r in read_csv(Path(facts["csv"]))}
    assert rows["V1"]["last_outcome"] == "Strategy discussion (2021-03-20)"
    assert rows["O2"]["last_outcome"] == "Outcome 22 (diversionary activity) (2021-03-01)"
    assert {r["change"] for r in rows.values()} == {"resent"}
    with pytest.raises(SettingsError, match="outcome: unknown code"):
        ledger.record_outcome(L, "V1", "arrested", actor="lead1")
    with pytest.raises(SettingsError, match="actor"):
        ledger.record_outcome(L, "V1", "accepted", actor="")


def test_peer_group_is_referred_as_one_context(duck, tmp_path):
    """G2 = {K1, K2, K3}, three children linked only to one another (no unflagged member): a peer group.
    K1, K2 are in North, K3 in South. The North pack has one peer-group row (label, no group id) with K1 and K2
    and one other member; each person row names the group. G1 (with the adult O1) is not a peer group."""
    w = World(dob={"O1": "1980-01-01", "K1": "2006-01-01", "K2": "2006-02-01", "K3": "2006-03-01", "V1": "2007-01-01"},
              crimes=[_crime("C1", "2020-06-01", "K1"), _crime("C2", "2020-06-01", "K2"),
                      _crime("C3", "2020-06-01", "K3", area="South"), _crime("C4", "2020-06-01", "V1")],
              groups={"G2": ["K1", "K2", "K3"], "G1": ["O1", "V1"]})
    run = make_run(duck, tmp_path / "run", w, Settings(as_of=AS_OF))
    groups = pq.read_table(run / "tables" / "safeguarding_peer_groups.parquet").to_pylist()
    assert [(g["group_id"], g["members"], g["local_areas"]) for g in groups] == [("G2", ["K1", "K2", "K3"], ["North", "South"])]
    facts = referrals.write_referral_pack(run, area="North", recipient="MASH", actor="a")
    assert facts["peer_groups"] == 1
    text = Path(facts["csv"]).read_text(encoding="utf-8")
    assert "Peer group 1,high,K1;K2,1" in text and "G2" not in text and "G1" not in text
    rows = {r["nominal_id"]: r["peer_group"] for r in read_csv(Path(facts["csv"]))}
    assert rows == {"K1": "Peer group 1", "K2": "Peer group 1", "V1": ""}
    html = Path(facts["html"]).read_text(encoding="utf-8")
    assert "Peer groups (contextual safeguarding)" in html and "G2" not in html


def test_a_pack_can_hold_chosen_bands_only(run_dir, tmp_path):
    """North's V1 and O2 are high. A pack of `immediate` only sends nobody, counts the two as in other bands,
    and records nothing in the ledger, so the next pack of every band still sends them as new."""
    L = tmp_path / "L"
    first = referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a", ledger=L, bands=["immediate"])
    assert (first["people"], first["other_bands_not_sent"]) == (0, 2)
    assert not [e for e in ledger.read_ledger(L) if e["kind"] == "sent"]
    second = referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a", ledger=L)
    assert (second["people"], second["new"], second["other_bands_not_sent"]) == (2, 2, 0)
    with pytest.raises(SettingsError, match="bands: unknown band"):
        referrals.write_referral_pack(run_dir, area="North", recipient="MASH", actor="a", ledger=L, bands=["urgent"])


def test_disclosure_log_is_hash_chained_and_verifiable(run_dir):
    """Two packs make two chained disclosure lines; `auditlog.verify` passes, then names line 1 once
    a recipient in it is edited, and again line 1 once the two lines are swapped (its seq is 2)."""
    from hiddennet import auditlog

    referrals.write_referral_pack(run_dir, area="North", recipient="North MASH", actor="a")
    referrals.write_referral_pack(run_dir, area="East", recipient="East MASH", actor="a", full=True)
    log = run_dir / referrals.DISCLOSURE_LOG
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["prev"] == json.loads(lines[0])["hash"]
    assert auditlog.verify(log)[0]
    log.write_text("\n".join([lines[0].replace("North MASH", "Elsewhere"), lines[1]]) + "\n", encoding="utf-8")
    assert auditlog.verify(log)[:2] == (False, 1)
    log.write_text("\n".join([lines[1], lines[0]]) + "\n", encoding="utf-8")
    ok, line, _ = auditlog.verify(log)
    assert not ok and line == 1
