"""No one flagged for safeguarding is ever a target: network -> safeguard -> harm -> dismantle.

Runs the real stages (skipped until they exist) on inputs built directly in the engine: the
contract tables (test_safeguard.build_world, completed to every contract column) and an `edges`
table standing in for the layers stage.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from test_safeguard import AS_OF, Crime, World, build_world, whole_years

from hiddennet import safeguard
from hiddennet.contract import TABLES
from hiddennet.settings import Settings

network = pytest.importorskip("hiddennet.network")
harm = pytest.importorskip("hiddennet.harm")
dismantle = pytest.importorskip("hiddennet.dismantle")

SQL_TYPE = {"date": "DATE", "flag": "BOOLEAN", "number": "DOUBLE"}
RAPE = dict(title="Rape of a female aged 16 or over", code="19C")  # CCHI 1825 days
ASSAULT = dict(title="Sexual assault on a male", code="17A")  # CCHI 19 days


def complete_contract(engine) -> None:
    """Give every contract table every contract column (NULL where the test has none), as ingest would."""
    for name, t in TABLES.items():
        have = set(engine.columns(name)) if engine.has_table(name) else set()
        cols = [c.name if c.name in have else f"CAST(NULL AS {SQL_TYPE.get(c.kind, 'VARCHAR')}) AS {c.name}"
                for c in t.columns]
        cols.append("CAST(NULL AS BIGINT) AS source_line")
        if name == "nominals":
            cols += [f"CAST(NULL AS VARCHAR) AS {c}_source" for c in ("date_of_birth", "sex", "ethnicity")]
        source = name if have else "(SELECT 1 AS one) x WHERE false"
        engine.create_table(f"_full_{name}", f"SELECT {', '.join(cols)} FROM {source}")
        engine.create_table(name, f"SELECT * FROM _full_{name}")
        engine.drop(f"_full_{name}")


def register_edges(engine, pairs: list[tuple[str, str]]) -> None:
    """Intelligence-layer edges of weight 1, one log each, as the layers stage would write them."""
    rows = []
    for i, (a, b) in enumerate(sorted({tuple(sorted(p)) for p in pairs if p[0] != p[1]})):
        rows.append(dict(nominal_a=a, nominal_b=b, layer="intel", weight=1.0, first_date=dt.date(2020, 1, 1),
                         last_date=dt.date(2020, 1, 1), evidence_count=1, handling_code="P", crime_refs=None,
                         log_ids=[f"L{i}"], soc_layer=None))
    s = pa.string()
    engine.register_arrow("edges", pa.Table.from_pylist(rows, pa.schema(
        [("nominal_a", s), ("nominal_b", s), ("layer", s), ("weight", pa.float64()), ("first_date", pa.date32()),
         ("last_date", pa.date32()), ("evidence_count", pa.int64()), ("handling_code", s),
         ("crime_refs", pa.list_(s)), ("log_ids", pa.list_(s)), ("soc_layer", s)])))


def run_stages(engine, w: World, pairs, settings: Settings) -> None:
    build_world(engine, w)
    for t in ("network_nominals", "combined_edges"):  # made by the network stage below
        engine.drop(t)
    complete_contract(engine)
    register_edges(engine, pairs)
    network.run(engine, settings)
    safeguard.run(engine, settings)
    harm.run(engine, settings)
    dismantle.run(engine, settings)


def test_most_central_nominal_of_the_top_group_is_15(duck):
    """Group 1: H (15) is joined to A, B, C and D; A-B, C-D and A-E are linked too (6 people, so no piece
    may keep more than max(2, ceil(0.6)) = 2). Removing H and A would do it in two steps, but H is a
    child: without H, H's piece keeps at most one of A..D, so three of them go, A among them (else
    H-A-E stays). {A, C, D}, {A, B, D} and {A, B, C} all leave pieces of 2; crimes (each a 1825-day rape):
    A 1, B 1, C 2, D 3, E 1, H 2, so {A, C, D} removes the most harm. Group 2 (X-Y-Z, one 19-day
    assault) ranks second. H is flagged, in no dismantling order, and group 1 is still ranked first."""
    crimes, k = [], 0
    for person, n in {"A": 1, "B": 1, "C": 2, "D": 3, "E": 1, "H": 2}.items():
        for _ in range(n):
            k += 1
            crimes.append(Crime(f"C{k}", "2020-06-01", offenders=(person,), victims=("W",), selected=False, **RAPE))
    crimes.append(Crime("C99", "2020-06-01", offenders=("X",), victims=("W",), selected=False, **ASSAULT))
    dob = {p: "1980-01-01" for p in "ABCDEWXYZ"} | {"H": "2005-06-01"}
    pairs = [("H", "A"), ("H", "B"), ("H", "C"), ("H", "D"), ("A", "B"), ("C", "D"), ("A", "E"), ("X", "Y"), ("Y", "Z")]
    run_stages(duck, World(dob=dob, crimes=crimes), pairs, Settings(as_of=AS_OF))

    flagged = {r[0]: r[1] for r in duck.fetch_rows("SELECT nominal_id, reasons FROM safeguarding")}
    assert flagged == {"H": ["child_in_network"]}
    group_of = dict(duck.fetch_rows("SELECT nominal_id, group_id FROM network_nominals"))
    g1, g2 = group_of["H"], group_of["X"]
    ranks = dict(duck.fetch_rows("SELECT group_id, priority_rank FROM group_harm"))
    assert (ranks[g1], ranks[g2]) == (1, 2)
    steps = duck.fetch_rows(
        f"SELECT step, nominal_id, remaining_largest_fraction, target_reached FROM dismantling "
        f"WHERE group_id = '{g1}' ORDER BY step")
    assert {s[1] for s in steps} == {"A", "C", "D"}
    assert [s[0] for s in steps] == [1, 2, 3]
    assert steps[-1][2] == pytest.approx(2 / 6) and steps[-1][3] is True


# -- the property, over generated small networks ---------------------------------------------------------

IDS = [f"P{i}" for i in range(10)]


@st.composite
def networks(draw):
    dob = {p: str(draw(st.dates(dt.date(1960, 1, 1), dt.date(2012, 1, 1)))) for p in IDS} | {"W": "1970-01-01"}
    pairs = draw(st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(IDS)), min_size=1, max_size=18))
    crimes = []
    for k in range(draw(st.integers(0, 10))):
        offs = tuple(sorted(draw(st.sets(st.sampled_from(IDS), min_size=1, max_size=3))))
        vics = tuple(sorted(set(draw(st.sets(st.sampled_from(IDS), max_size=2))) - set(offs))) or ("W",)
        crimes.append(Crime(f"C{k}", str(draw(st.dates(dt.date(2017, 1, 1), AS_OF))), offenders=offs,
                            victims=vics, selected=draw(st.booleans()), **RAPE))
    return World(dob=dob, crimes=crimes), pairs


@pytest.mark.slow
@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(net=networks(), fraction=st.sampled_from([0.1, 0.3, 0.5]), measure=st.sampled_from(["cchi", "ons"]))
def test_no_flagged_person_is_ever_a_target(duck, net, fraction, measure):
    """Whatever the network and settings: no flagged person is in a dismantling order, a group whose
    members are all flagged has no rank, every ranked group has someone not flagged, and every
    network nominal under 18 is flagged."""
    w, pairs = net
    s = Settings(as_of=AS_OF, dismantle_fraction=fraction, priority_measure=measure)
    run_stages(duck, w, pairs, s)
    flagged = {r[0] for r in duck.fetch_rows("SELECT nominal_id FROM safeguarding")}
    picks = {r[0] for r in duck.fetch_rows("SELECT nominal_id FROM dismantling")}
    assert not flagged & picks
    members: dict[str, set[str]] = {}
    for n, g in duck.fetch_rows("SELECT nominal_id, group_id FROM network_nominals"):
        members.setdefault(g, set()).add(n)
    for g, rank in duck.fetch_rows("SELECT group_id, priority_rank FROM group_harm"):
        assert (rank is None) == (members[g] <= flagged), g
    children = {n for ms in members.values() for n in ms if whole_years(dt.date.fromisoformat(w.dob[n]), AS_OF) < 18}
    assert children <= flagged
    assert set(itertools.chain.from_iterable(members.values())) >= picks


# -- all-age: child suspects of drug supply (docs/all-age.md) -------------------------------------------
DRUG_SUPPLY = dict(title="Possession with intent to supply a controlled drug - Class A", code="92A")


def register_cce_crimes(engine, w: World) -> None:
    """`profile_crimes` as select writes it with profile `cce`: the drug-supply crimes, which have no victim."""
    rows = [dict(profile="cce", crime_ref=c.ref, offence_date=dt.date.fromisoformat(c.date), offence_code=c.code,
                 location_area=c.area, has_selected_victim=False, matched_title=False, matched_flag=False,
                 matched_mo=False, matched_code=True) for c in w.crimes if c.code == "92A"]
    s, b = pa.string(), pa.bool_()
    engine.register_arrow("profile_crimes", pa.Table.from_pylist(rows, pa.schema(
        [("profile", s), ("crime_ref", s), ("offence_date", pa.date32()), ("offence_code", s), ("location_area", s),
         ("has_selected_victim", b), ("matched_title", b), ("matched_flag", b), ("matched_mo", b),
         ("matched_code", b)])))


@st.composite
def county_lines(draw):
    """A network as `networks()` draws it, plus drug-supply crimes (no victim) with one to three suspects each."""
    w, pairs = draw(networks())
    for k in range(draw(st.integers(1, 6))):
        crew = tuple(sorted(draw(st.sets(st.sampled_from(IDS), min_size=1, max_size=3))))
        w.crimes.append(Crime(f"D{k}", str(draw(st.dates(dt.date(2017, 1, 1), AS_OF))), offenders=crew,
                              victims=(), selected=False, **DRUG_SUPPLY))
    return w, pairs


@pytest.mark.slow
@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(net=county_lines(), fraction=st.sampled_from([0.1, 0.3, 0.5]))
def test_child_suspects_of_drug_supply_are_flagged_and_never_targets(duck, net, fraction):
    """With the co-offending layer on under `cce`: every network nominal who was a child on the date of a
    drug-supply crime they are a suspect of is flagged `possible_cce_victim` (and only they are), is in no
    dismantling order, and a group of only flagged people has no rank (MSA 2015 s.45; study section 12)."""
    w, pairs = net
    s = Settings(as_of=AS_OF, dismantle_fraction=fraction, profile="cce", cooffending_layer=True)
    build_world(duck, w)
    for t in ("network_nominals", "combined_edges"):
        duck.drop(t)
    complete_contract(duck)
    register_cce_crimes(duck, w)
    register_edges(duck, pairs)
    network.run(duck, s)
    safeguard.run(duck, s)
    harm.run(duck, s)
    dismantle.run(duck, s)
    in_network = {r[0] for r in duck.fetch_rows("SELECT nominal_id FROM network_nominals")}
    expected = {p for c in w.crimes if c.code == "92A" for p in c.offenders
                if p in in_network and whole_years(dt.date.fromisoformat(w.dob[p]), dt.date.fromisoformat(c.date)) < 18}
    got = {r[0] for r in duck.fetch_rows(
        "SELECT nominal_id FROM safeguarding WHERE list_contains(reasons, 'possible_cce_victim')")}
    assert got == expected
    picks = {r[0] for r in duck.fetch_rows("SELECT nominal_id FROM dismantling")}
    assert not got & picks
    flagged = {r[0] for r in duck.fetch_rows("SELECT nominal_id FROM safeguarding")}
    members: dict[str, set[str]] = {}
    for n, g in duck.fetch_rows("SELECT nominal_id, group_id FROM network_nominals"):
        members.setdefault(g, set()).add(n)
    for g, rank in duck.fetch_rows("SELECT group_id, priority_rank FROM group_harm"):
        assert (rank is None) == (members[g] <= flagged), g


def test_without_the_co_offending_layer_no_one_is_flagged_possible_cce_victim(duck):
    """The same kind of world with the setting off: the reason never appears (default output unchanged).
    Hand case: P1 (born 2005) is a suspect of a 2020 drug-supply crime at 14 and linked to P2."""
    w = World(dob={"P1": "2005-06-01", "P2": "1990-01-01", "W": "1970-01-01"},
              crimes=[Crime("D1", "2020-01-01", offenders=("P1", "P2"), selected=False, **DRUG_SUPPLY)])
    build_world(duck, w)
    for t in ("network_nominals", "combined_edges"):
        duck.drop(t)
    complete_contract(duck)
    register_cce_crimes(duck, w)
    register_edges(duck, [("P1", "P2")])
    for on in (False, True):
        s = Settings(as_of=AS_OF, profile="cce", cooffending_layer=on)
        network.run(duck, s)
        safeguard.run(duck, s)
        got = {r[0] for r in duck.fetch_rows(
            "SELECT nominal_id FROM safeguarding WHERE list_contains(reasons, 'possible_cce_victim')")}
        assert got == ({"P1"} if on else set())
