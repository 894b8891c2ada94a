"""Stage `harm`: crime harm bases, the window, nominal and group harm, priority and its explanation."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from hiddennet import harm
from hiddennet.settings import Settings

AS_OF = dt.date(2021, 3, 15)
# Reference values read off hiddennet/reference/*.csv by hand.
ONS_22B = 726.4449700181367
ONS_19C = 2952.9409930950865
ONS_17A = 767.4437103316676


def load(engine, crimes, roles, members, edges, flagged):
    """Build harm's input tables (docs/tables.md columns) from plain lists.

    crimes: (crime_ref, code, title, date); roles: (crime_ref, nominal_id, role);
    members: {nominal_id: group_id}; edges: (a, b, weight, layers); flagged: nominal ids.
    """
    engine.register_arrow(
        "crimes",
        pa.table(
            {
                "crime_ref": [c[0] for c in crimes],
                "offence_code": [c[1] for c in crimes],
                "offence_title": [c[2] for c in crimes],
                "offence_date": pa.array([c[3] for c in crimes], pa.date32()),
            },
            schema=pa.schema(
                [("crime_ref", pa.string()), ("offence_code", pa.string()), ("offence_title", pa.string()),
                 ("offence_date", pa.date32())]
            ),
        ),
    )
    engine.register_arrow(
        "crime_nominals",
        pa.table(
            {"crime_ref": [r[0] for r in roles], "nominal_id": [r[1] for r in roles], "role": [r[2] for r in roles]},
            schema=pa.schema([("crime_ref", pa.string()), ("nominal_id", pa.string()), ("role", pa.string())]),
        ),
    )
    ids = sorted(members)
    engine.register_arrow(
        "network_nominals",
        pa.table({"nominal_id": ids, "group_id": [members[i] for i in ids]},
                 schema=pa.schema([("nominal_id", pa.string()), ("group_id", pa.string())])),
    )
    groups = sorted(set(members.values()))
    engine.register_arrow(
        "network_groups",
        pa.table({"group_id": groups, "size": [sum(1 for v in members.values() if v == g) for g in groups]},
                 schema=pa.schema([("group_id", pa.string()), ("size", pa.int64())])),
    )
    engine.register_arrow(
        "combined_edges",
        pa.table(
            {
                "nominal_a": [min(e[0], e[1]) for e in edges],
                "nominal_b": [max(e[0], e[1]) for e in edges],
                "weight": [float(e[2]) for e in edges],
                "layers": [list(e[3]) for e in edges],
                "group_id": [members[e[0]] for e in edges],
            },
            schema=pa.schema([("nominal_a", pa.string()), ("nominal_b", pa.string()), ("weight", pa.float64()),
                              ("layers", pa.list_(pa.string())), ("group_id", pa.string())]),
        ),
    )
    fl = sorted(flagged)
    engine.register_arrow(
        "safeguarding",
        pa.table({"nominal_id": fl, "reasons": [["child_in_network"]] * len(fl)},
                 schema=pa.schema([("nominal_id", pa.string()), ("reasons", pa.list_(pa.string()))])),
    )


D = dt.date
HAND_CRIMES = [
    ("c1", "22B", "Sexual  activity with a FEMALE child under 16 by penetration - offender under 18 ", D(2020, 1, 1)),
    ("c2", "19C", "Something else", D(2019, 6, 1)),
    ("c3", "17A", "unknown title", D(2016, 3, 16)),  # as_of - 1825: first day inside the window
    ("c4", None, "Rape of a female aged 16 or over", D(2016, 3, 15)),  # as_of - 1826: first day outside
    ("c5", "ZZ9", "nothing", D(2021, 3, 15)),  # as_of itself: inside
    ("c6", " 022b ", "x", D(2021, 3, 16)),  # after as_of: outside
]
HAND_ROLES = [
    ("c1", "A", "offender"), ("c1", "A", "suspect"), ("c1", "V", "victim"),
    ("c2", "A", "defendant"), ("c2", "B", "offender"), ("c2", "W", "witness"), ("c2", "F", "offender"),
    ("c3", "B", "person_probably_responsible"), ("c3", "E", "offender"),
    ("c4", "B", "offender"),
    ("c5", "C", "offender"), ("c6", "C", "offender"),
]
HAND_MEMBERS = {"A": "g1", "B": "g1", "C": "g1", "D": "g2", "E": "g2", "F": "g3", "G": "g3",
                "H": "g4", "I": "g4", "J": "g5", "K": "g5", "L": "g5"}
HAND_EDGES = [("A", "B", 1.5, ["victim"]), ("B", "C", 0.5, ["victim", "intel"]), ("D", "E", 1.0, ["intel"]),
              ("F", "G", 2.0, ["custody"]), ("H", "I", 1.0, ["soc"]), ("J", "K", 1.0, ["soc"]), ("K", "L", 1.0, ["soc"])]
HAND_FLAGGED = {"E", "F", "G"}


def test_hand_worked_crime_harm(engine, settings):
    """Bases by hand (CCHI rows and ONS weights read from the shipped CSVs):

    c1 22B, title equals a 22B row after case and whitespace folding -> 365 title_match; ONS 726.44.
    c2 19C, title unknown, both 19C rows say 1825 -> single_value 1825; ONS 2952.94.
    c3 17A, title unknown, rows 730, 19, 19 -> code_median 19.
    c4 no code, title equals the 19C rape row -> title_match 1825; ONS needs a code -> unmapped.
    c5 ZZ9 -> unmapped both. c6 ' 022b ' normalises to 22B, title unknown -> median of 15 x 10 and
    11 x 365 = 10, code_median.
    Window (as_of 2021-03-15, 1826 days): c3 (2016-03-16) and c5 (as_of) in; c4 (2016-03-15) and
    c6 (after as_of) out.
    """
    load(engine, HAND_CRIMES, HAND_ROLES, HAND_MEMBERS, HAND_EDGES, HAND_FLAGGED)
    out = harm.run(engine, settings)
    rows = {r[0]: r[1:] for r in engine.fetch_rows(
        "SELECT crime_ref, cchi_days, ons_weight, cchi_basis, ons_basis, in_window FROM crime_harm")}
    assert rows["c1"] == (365.0, ONS_22B, "title_match", "single_value", True)
    assert rows["c2"] == (1825.0, ONS_19C, "single_value", "single_value", True)
    assert rows["c3"] == (19.0, ONS_17A, "code_median", "single_value", True)
    assert rows["c4"] == (1825.0, None, "title_match", "unmapped", False)
    assert rows["c5"] == (None, None, "unmapped", "unmapped", True)
    assert rows["c6"] == (10.0, ONS_22B, "code_median", "single_value", False)
    assert out.facts["unmapped_by_code"] == {"cchi": {"ZZ9": 1}, "ons": {"(none)": 1, "ZZ9": 1}}
    assert out.facts["cchi_basis"] == {"code_median": 2, "single_value": 1, "title_match": 2, "unmapped": 1}
    assert out.facts["crimes_in_window"] == 4


def test_hand_worked_nominal_and_group_harm(engine, settings):
    """A: c1 + c2 (two roles on c1 count once) = 365 + 1825 = 2190 days.
    B: c2 + c3 (c4 is outside the window) = 1844. C: c5 only, unmapped: 0 days, 1 crime in window.
    E (flagged): c3 = 19. F (flagged): c2 = 1825. Witness W and victim V are not in the network.
    Groups: g1 = 4034; g2 = 19 in total but 0 for ranking (E is flagged); g3 all flagged: no rank and no
    harm at all (a peer group to refer, never a target: F's 1825 days stay on F's own row only);
    g4 (size 2), g5 (size 3) have no harm. Rank: g1, then the 0-harm groups by size (g5 first), then
    by id (g2 before g4): g1=1, g5=2, g2=3, g4=4, g3=NULL.
    Weighted degree: A 1.5, B 2.0, C 0.5.
    """
    load(engine, HAND_CRIMES, HAND_ROLES, HAND_MEMBERS, HAND_EDGES, HAND_FLAGGED)
    harm.run(engine, settings)
    nh = {r[0]: r[1:] for r in engine.fetch_rows(
        "SELECT nominal_id, harm_cchi, harm_ons, crimes_in_window, weighted_degree FROM nominal_harm")}
    assert nh["A"][:3] == (2190.0, pytest.approx(ONS_22B + ONS_19C), 2)
    assert nh["B"][:3] == (1844.0, pytest.approx(ONS_19C + ONS_17A), 2)
    assert nh["C"][:3] == (0.0, 0.0, 1)
    assert nh["E"][0] == 19.0 and nh["F"][0] == 1825.0 and nh["D"][0] == 0.0
    assert (nh["A"][3], nh["B"][3], nh["C"][3]) == (1.5, 2.0, 0.5)
    assert "W" not in nh and "V" not in nh
    gh = {r[0]: r[1:] for r in engine.fetch_rows(
        "SELECT group_id, harm_cchi, rank_harm_cchi, priority_rank, safeguarding_only FROM group_harm")}
    assert gh["g1"] == (4034.0, 4034.0, 1, False)
    assert gh["g2"] == (19.0, 0.0, 3, False)
    assert gh["g3"] == (None, 0.0, None, True)
    assert gh["g4"][2] == 4 and gh["g5"][2] == 2


def test_priority_by_ons(engine):
    """With priority_measure = ons, g2's flagged member still does not count: same order as cchi here."""
    load(engine, HAND_CRIMES, HAND_ROLES, HAND_MEMBERS, HAND_EDGES, HAND_FLAGGED)
    harm.run(engine, Settings(as_of=AS_OF, priority_measure="ons"))
    ranks = dict(engine.fetch_rows("SELECT group_id, priority_rank FROM group_harm"))
    assert ranks == {"g1": 1, "g5": 2, "g2": 3, "g4": 4, "g3": None}


def test_window_setting_moves_the_bound(engine):
    """harm_window_days = 1: only crimes dated as_of count (c5, unmapped): every harm is 0."""
    load(engine, HAND_CRIMES, HAND_ROLES, HAND_MEMBERS, HAND_EDGES, HAND_FLAGGED)
    out = harm.run(engine, Settings(as_of=AS_OF, harm_window_days=1))
    assert out.facts["crimes_in_window"] == 1
    assert engine.scalar("SELECT sum(harm_cchi) FROM nominal_harm") == 0.0


def test_reference_shipped_with_sources():
    """The reference tables load from the package and their README names the sources."""
    from importlib import resources

    code_t, title_t, any_title_t, ons_t = harm.reference_tables()
    assert code_t.num_rows == 119 and ons_t.num_rows == 131 and any_title_t.num_rows == 695
    readme = resources.files("hiddennet.reference").joinpath("README.md").read_text(encoding="utf-8")
    assert "Sherman, Neyroud & Neyroud (2016)" in readme and "M-O-P-D/Police-Supply-Demand" in readme


# Codes whose harm is known by hand for any title that matches no CCHI row.
KNOWN = {"19C": (1825.0, ONS_19C), "22B": (10.0, ONS_22B), "17A": (19.0, ONS_17A), "ZZ9": (0.0, 0.0)}
ROLES = ["offender", "suspect", "defendant", "witness", "victim", "person_thought_responsible"]


@st.composite
def networks(draw):
    n_nom = draw(st.integers(2, 8))
    noms = [f"n{i}" for i in range(n_nom)]
    members = {v: f"g{draw(st.integers(0, 2))}" for v in noms}
    crimes = [
        (f"c{i}", draw(st.sampled_from(sorted(KNOWN))), "no such title",
         AS_OF - dt.timedelta(days=draw(st.integers(-5, 2000))))
        for i in range(draw(st.integers(0, 10)))
    ]
    roles = draw(st.lists(st.tuples(st.sampled_from([c[0] for c in crimes] or ["none"]), st.sampled_from(noms),
                                    st.sampled_from(ROLES)), max_size=25, unique=True))
    roles = [r for r in roles if r[0] != "none"]
    pairs = [(a, b) for i, a in enumerate(noms) for b in noms[i + 1:] if members[a] == members[b]]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    edges = [(a, b, draw(st.floats(0.01, 10)), ["victim"]) for a, b in chosen]
    flagged = set(draw(st.lists(st.sampled_from(noms), unique=True)))
    return crimes, roles, members, edges, flagged


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=networks())
def test_harm_explained_reproduces_every_nominal(duck, data):
    """harm_explained sums to each nominal's harm_cchi, harm_ons and weighted_degree (1e-9), and both
    agree with harm computed here directly from the generated crimes."""
    crimes, roles, members, edges, flagged = data
    load(duck, crimes, roles, members, edges, flagged)
    harm.run(duck, Settings(as_of=AS_OF))
    nh = {r[0]: r[1:] for r in duck.fetch_rows(
        "SELECT nominal_id, harm_cchi, harm_ons, weighted_degree FROM nominal_harm")}
    ex = {}
    for nid, kind, days, ons, w in duck.fetch_rows(
            "SELECT nominal_id, item_kind, cchi_days, ons_weight, link_weight FROM harm_explained"):
        e = ex.setdefault(nid, [0.0, 0.0, 0.0])
        if kind == "crime":
            e[0] += days or 0.0
            e[1] += ons or 0.0
        else:
            e[2] += w
    crime_by_ref = {c[0]: c for c in crimes}
    offenders = {(r[0], r[1]) for r in roles if r[2] not in ("witness", "victim")}
    assert set(nh) == set(members)
    for nid in members:
        mine = [0.0, 0.0, 0.0]
        for ref, who in offenders:
            c = crime_by_ref[ref]
            if who == nid and 0 <= (AS_OF - c[3]).days < 1826:
                mine[0] += KNOWN[c[1]][0]
                mine[1] += KNOWN[c[1]][1]
        mine[2] = sum(e[2] for e in edges if nid in (e[0], e[1]))
        got = ex.get(nid, [0.0, 0.0, 0.0])
        for i in range(3):
            assert math.isclose(got[i], nh[nid][i], rel_tol=1e-9, abs_tol=1e-9)
            assert math.isclose(mine[i], nh[nid][i], rel_tol=1e-9, abs_tol=1e-9)
