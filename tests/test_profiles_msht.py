"""The `msht` profile selects trafficking of people, never drug trafficking; its victims are flagged for
safeguarding whatever their age (adult_at_risk, nrm_consider) and adults stay on the police side without
a recorded basis."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pyarrow as pa
from test_select import D, crime, full, load

from hiddennet import safeguard, select
from hiddennet.settings import Settings

REFERENCE = Path(select.__file__).parent / "reference" / "home_office_offence_codes.csv"
AS_OF = D(2021, 3, 15)

REAL_TRAFFICKING = [
    ("T1", "Trafficking for sexual exploitation", "72"),
    ("T2", "Human trafficking for labour exploitation", None),
    ("T3", "Arranging or facilitating travel of another person with a view to exploitation", None),
    ("T4", "Trafficking persons for exploitation", None),
    ("T5", "Modern slavery", "106"),
]
DRUGS = [
    ("D1", "Trafficking in controlled drugs", "92A"),
    ("D2", "Trafficking  in   controlled drugs (class A)", "92A"),
]


def _empty_network(engine) -> None:
    s = pa.string()
    engine.register_arrow("network_nominals", pa.Table.from_pylist([], pa.schema(
        [("nominal_id", s), ("group_id", s), ("node_index", pa.int32()), ("in_cse_network", pa.bool_())])))


def test_drug_trafficking_is_not_selected_and_human_trafficking_is(duck):
    """Five trafficking-of-people crimes (T1..T5) and two drug-supply crimes (D1, D2, the second with extra
    spaces) each with an adult victim: msht selects exactly T1..T5. The drug MO "drug trafficking" on D2 does
    not select it either."""
    crimes = [crime(r, D(2020, 1, 1), t, code=c) for r, t, c in REAL_TRAFFICKING + DRUGS]
    crimes[-1]["modus_operandi"] = "Drug trafficking: supplying class A from an address"
    people = {"o": None, "v": D(1980, 1, 1)}
    links = [(r, "o", "offender") for r, _, _ in REAL_TRAFFICKING + DRUGS]
    links += [(r, "v", "victim") for r, _, _ in REAL_TRAFFICKING + DRUGS]
    load(duck, crimes, people, links)
    select.run(duck, Settings(as_of=AS_OF, profile="msht"))
    assert sorted({r[0] for r in full(duck)}) == ["T1", "T2", "T3", "T4", "T5"]


def test_no_drug_trafficking_title_of_the_reference_codes_matches_a_msht_word():
    """The class of the defect: every Home Office title in the 'Trafficking of drugs' category is checked
    against every title and MO word of msht (lower case, whitespace collapsed, as the stage compares)."""
    profile = select.load_profile("msht")
    with REFERENCE.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    drug_titles = [r for r in rows if "drug" in " ".join(r.values()).lower() and "traffick" in " ".join(r.values()).lower()]
    assert drug_titles, "the reference codes list drug trafficking"
    for r in drug_titles:
        text = re.sub(r"\s+", " ", " ".join(r.values()).lower())
        hits = [w for w in profile.sex_words + profile.mo_words if w in text]
        assert not hits, (r, hits)
        assert r.get("code", r.get("offence_code", "")).upper() not in profile.offence_codes


def test_msht_victims_of_every_age_are_flagged(duck):
    """One slavery crime S1 (2020-06-01): victims adult A (born 1980: 41), child K (born 2008: 12) and U (no
    date of birth). A: adult_at_risk + nrm_consider, on the police side (adult, no basis); K: child_victim +
    nrm_consider, to refer (Working Together 2018); U: nrm_consider only (age unknown), police side."""
    load(duck, [crime("S1", D(2020, 6, 1), "Hold person in slavery or servitude", code="106")],
         {"o": D(1970, 1, 1), "A": D(1980, 1, 1), "K": D(2008, 1, 1), "U": None},
         [("S1", "o", "offender"), ("S1", "A", "victim"), ("S1", "K", "victim"), ("S1", "U", "victim")])
    s = Settings(as_of=AS_OF, profile="msht")
    select.run(duck, s)
    _empty_network(duck)
    out = safeguard.run(duck, s)
    got = {r["nominal_id"]: r for r in duck.fetch_arrow("SELECT * FROM safeguarding").to_pylist()}
    assert {k: r["reasons"] for k, r in got.items()} == {
        "A": ["adult_at_risk", "nrm_consider"], "K": ["child_victim", "nrm_consider"], "U": ["nrm_consider"]}
    assert {k: (r["share_with_hub"], r["review_reason"]) for k, r in got.items()} == {
        "A": (False, "adult_no_basis"), "K": (True, None), "U": (False, "age_unknown_no_basis")}
    assert got["K"]["sharing_basis"] == "working_together_2018"
    assert out.facts["people_per_reason"]["adult_at_risk"] == 1 and out.facts["people_per_reason"]["nrm_consider"] == 3


def test_slavery_offence_code_flags_nrm_under_another_profile(duck):
    """Under cse, a selected crime (flag CSE) recorded as modern slavery (code 106) against a 15-year-old makes
    them nrm_consider as well as child_victim; the same crime with code 22A does not."""
    load(duck, [crime("M1", D(2020, 6, 1), "Modern slavery", flags="CSE", code="106"),
                crime("M2", D(2020, 6, 1), "Sexual activity with a child", flags="CSE", code="22A")],
         {"o": D(1970, 1, 1), "k1": D(2005, 1, 1), "k2": D(2005, 1, 1)},
         [("M1", "o", "offender"), ("M1", "k1", "victim"), ("M2", "o", "offender"), ("M2", "k2", "victim")])
    s = Settings(as_of=AS_OF)
    select.run(duck, s)
    _empty_network(duck)
    safeguard.run(duck, s)
    got = dict(duck.fetch_rows("SELECT nominal_id, reasons FROM safeguarding"))
    assert got == {"k1": ["child_victim", "nrm_consider"], "k2": ["child_victim"]}
