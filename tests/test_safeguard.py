"""Safeguarding flags (method.md section 7): hand-worked people, one per reason, and invariants.

The stages before safeguarding are built directly in the engine by `build_world`, a tiny,
readable stand-in for ingest + select + network that follows method.md sections 1 and 2.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

import pyarrow as pa
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from hiddennet import safeguard
from hiddennet.settings import Settings

AS_OF = dt.date(2021, 3, 15)
D = dt.date.fromisoformat
STR = pa.string()


def whole_years(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@dataclass
class Crime:
    ref: str
    date: str
    offenders: tuple[str, ...] = ()
    victims: tuple[str, ...] = ()
    others: tuple[str, ...] = ()  # witnesses
    area: str | None = "North"
    selected: bool = True  # matches the profile (victims under 18 are still required)
    title: str = "Sexual activity with a child"
    code: str | None = "22A"


@dataclass
class World:
    dob: dict[str, str | None]
    crimes: list[Crime]
    # group_id -> members; nominals of the network
    groups: dict[str, list[str]] = field(default_factory=dict)
    sex: dict[str, str | None] = field(default_factory=dict)
    ethnicity: dict[str, str | None] = field(default_factory=dict)
    # People whose date of birth is known on their crimes (full_table ages) but not in `nominals`.
    unrecorded_dob: frozenset[str] = frozenset()


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def build_world(engine, w: World) -> dict:
    """Register crimes, nominals, crime_nominals, full_table, final_table, network_nominals, combined_edges.

    full_table: every (crime, offender, victim) of a selected crime whose victim is under 18 on the
    offence date (a victim with no date of birth is left out); final_table: method.md section 2 pairs.
    Returns the Python-side full table rows for the test's own checks.
    """
    crimes, cn, ft = [], [], []
    for c in w.crimes:
        crimes.append(
            dict(crime_ref=c.ref, offence_title=c.title, offence_date=D(c.date), offence_code=c.code, location_area=c.area)
        )
        for role, people in (("offender", c.offenders), ("victim", c.victims), ("witness", c.others)):
            cn += [dict(crime_ref=c.ref, nominal_id=p, role=role) for p in people]
        if not c.selected:
            continue
        for o, v in itertools.product(c.offenders, c.victims):
            vdob, odob = w.dob.get(v), w.dob.get(o)
            if vdob is None:
                continue
            vage = max(whole_years(D(vdob), D(c.date)), 0)
            if vage >= 18:
                continue
            ft.append(
                dict(
                    crime_ref=c.ref, offender_id=o, victim_id=v, offence_date=D(c.date), offence_title=c.title,
                    offence_code=c.code, offender_age=None if odob is None else whole_years(D(odob), D(c.date)),
                    victim_age=vage, offender_sex=w.sex.get(o), victim_sex=w.sex.get(v), location_area=c.area,
                )
            )
    final = []
    for a, b in itertools.product(ft, ft):
        if a["victim_id"] == b["victim_id"] and a["offender_id"] < b["offender_id"]:
            final.append(
                dict(offender_1=a["offender_id"], offender_2=b["offender_id"], crime_ref_1=a["crime_ref"],
                     crime_ref_2=b["crime_ref"], victim_id=a["victim_id"], offence_date_1=a["offence_date"],
                     offence_date_2=b["offence_date"], weight=1.0)
            )
    final = [dict(t) for t in {tuple(sorted(r.items())) for r in final}]
    people = sorted(set(w.dob) | {r["nominal_id"] for r in cn} | {p for g in w.groups.values() for p in g})
    nominals = [
        dict(nominal_id=p, date_of_birth=None if w.dob.get(p) is None or p in w.unrecorded_dob else D(w.dob[p]),
             sex=w.sex.get(p), ethnicity=w.ethnicity.get(p))
        for p in people
    ]
    offenders = {r["offender_id"] for r in ft}
    net, edges = [], []
    for g, members in w.groups.items():
        for i, p in enumerate(members):
            net.append(dict(nominal_id=p, group_id=g, node_index=i, in_cse_network=p in offenders,
                            in_soc_network=False, degree=len(members) - 1))
        # A path through the group: enough to make it connected.
        for a, b in itertools.pairwise(members):
            lo, hi = sorted((a, b))
            edges.append(dict(nominal_a=lo, nominal_b=hi, weight=1.0, group_id=g))
    date = pa.date32()
    engine.register_arrow("crimes", _table(crimes, pa.schema(
        [("crime_ref", STR), ("offence_title", STR), ("offence_date", date), ("offence_code", STR), ("location_area", STR)])))
    engine.register_arrow("nominals", _table(nominals, pa.schema(
        [("nominal_id", STR), ("date_of_birth", date), ("sex", STR), ("ethnicity", STR)])))
    engine.register_arrow("crime_nominals", _table(cn, pa.schema([("crime_ref", STR), ("nominal_id", STR), ("role", STR)])))
    engine.register_arrow("full_table", _table(ft, pa.schema(
        [("crime_ref", STR), ("offender_id", STR), ("victim_id", STR), ("offence_date", date), ("offence_title", STR),
         ("offence_code", STR), ("offender_age", pa.int32()), ("victim_age", pa.int32()), ("offender_sex", STR),
         ("victim_sex", STR), ("location_area", STR)])))
    engine.register_arrow("final_table", _table(final, pa.schema(
        [("offender_1", STR), ("offender_2", STR), ("crime_ref_1", STR), ("crime_ref_2", STR), ("victim_id", STR),
         ("offence_date_1", date), ("offence_date_2", date), ("weight", pa.float64())])))
    engine.register_arrow("network_nominals", _table(net, pa.schema(
        [("nominal_id", STR), ("group_id", STR), ("node_index", pa.int32()), ("in_cse_network", pa.bool_()),
         ("in_soc_network", pa.bool_()), ("degree", pa.int32())])))
    engine.register_arrow("combined_edges", _table(edges, pa.schema(
        [("nominal_a", STR), ("nominal_b", STR), ("weight", pa.float64()), ("group_id", STR)])))
    return {"full_table": ft}


def flags(engine) -> dict[str, dict]:
    return {r["nominal_id"]: r for r in engine.fetch_arrow("SELECT * FROM safeguarding").to_pylist()}


# The hand-worked force, as_of 2021-03-15 (ages on as_of in brackets).
HAND = World(
    dob={
        "V1": "2006-01-01",  # (15) victim in C1 in 2020 -> child_victim
        "V2": "2000-06-01",  # (20) victim in C2 in 2015, aged 15 -> transitional_victim
        "V3": "1993-01-01",  # (28) victim as a child in 2005 and 2007: too old now, not flagged
        "V4": "1992-01-01",  # (29) victim in C5 in 2005: not flagged
        "V5": "2000-01-01",  # (21) victim in C6 in 2015, aged 15 -> transitional_victim
        "O1": "1980-01-01",  # (41) adult: not flagged
        "O2": "2004-09-01",  # (16) in the network -> child_offender and child_in_network
        "O3": "1991-01-01",  # (30) linked only by C3 (aged 14) and C4 (aged 16) -> child_offender
        "O4": "1990-01-01",  # (31) linked by C5 (aged 15) and C6 (aged 25): not flagged
        "P5": "1985-01-01",  # (36) victim in C7, offender in selected C2 -> victim_offender_overlap
        "I1": "2010-05-05",  # (10) linked by intelligence only, witness in C8 -> child_in_network
    },
    crimes=[
        Crime("C1", "2020-06-01", offenders=("O1", "O2"), victims=("V1",), area="North"),
        Crime("C2", "2015-07-01", offenders=("P5",), victims=("V2",), area="East"),
        Crime("C3", "2005-03-01", offenders=("O1", "O3"), victims=("V3",), area="North"),
        Crime("C4", "2007-02-01", offenders=("O3",), victims=("V3",), area="West"),
        Crime("C5", "2005-06-01", offenders=("O1", "O4"), victims=("V4",), area="North"),
        Crime("C6", "2015-06-01", offenders=("O1", "O4"), victims=("V5",), area="North"),
        Crime("C7", "2019-01-01", offenders=("O1",), victims=("P5",), area="East", selected=False, title="Robbery"),
        Crime("C8", "2020-01-01", offenders=("O1",), others=("I1",), area="South", selected=False, title="Theft"),
    ],
    groups={"G1": ["O1", "O2", "O3", "O4", "P5", "I1"]},
)


def test_hand_worked_flags(engine, settings):
    """Every reason, worked out by hand (see HAND): exactly these people and reasons, nobody else.
    The one safeguarding test run on every engine (a Spark run of the stage takes about 30 s here)."""
    build_world(engine, HAND)
    out = safeguard.run(engine, settings)
    got = {p: r["reasons"] for p, r in flags(engine).items()}
    assert got == {
        "V1": ["child_victim"],
        "V2": ["transitional_victim"],
        "V5": ["transitional_victim"],
        "O2": ["child_in_network", "child_offender"],
        "O3": ["child_offender"],
        "P5": ["victim_offender_overlap"],
        "I1": ["child_in_network"],
    }
    assert out.tables == ("safeguarding", "safeguarding_review", "safeguarding_crimes", "safeguarding_identifiers")
    assert out.facts["flagged_people"] == 7
    assert out.facts["people_per_reason"] == {
        "child_victim": 1, "transitional_victim": 2, "child_offender": 2, "child_in_network": 2,
        "victim_offender_overlap": 1, "adult_at_risk": 0, "nrm_consider": 0,
    }
    assert out.facts["full_table_child_victims"] == 1
    f = flags(engine)
    assert {p: r["age_on_as_of"] for p, r in f.items()} == {
        "V1": 15, "V2": 20, "V5": 21, "O2": 16, "O3": 30, "P5": 36, "I1": 10}
    assert {p: (r["local_area"], list(r["crime_refs"]), list(r["group_ids"])) for p, r in f.items()} == {
        "V1": ("North", ["C1"], []), "V2": ("East", ["C2"], []), "V5": ("North", ["C6"], []),
        "O2": ("North", ["C1"], ["G1"]), "O3": ("West", ["C3", "C4"], ["G1"]), "P5": ("East", ["C2", "C7"], ["G1"]),
        "I1": ("South", ["C8"], ["G1"])}


def test_hand_worked_details(duck, settings):
    """Ages on 2021-03-15, groups, crimes and areas of the hand-worked people.

    P5's crimes: C2 (selected, accused role) and C7 (victim: the reason for the flag), areas East twice.
    O3's crimes C3 (North, 2005) and C4 (West, 2007) tie one each: the later crime's area, West, wins.
    I1 has no selected crime: all recorded crimes (C8 as a witness, South). V1 is in no group.
    """
    engine = duck
    build_world(engine, HAND)
    safeguard.run(engine, settings)
    f = flags(engine)
    assert {p: r["age_on_as_of"] for p, r in f.items()} == {
        "V1": 15, "V2": 20, "V5": 21, "O2": 16, "O3": 30, "P5": 36, "I1": 10}
    assert f["P5"]["crime_refs"] == ["C2", "C7"] and f["P5"]["local_area"] == "East"
    assert f["O3"]["crime_refs"] == ["C3", "C4"] and f["O3"]["local_area"] == "West"
    assert f["O3"]["local_area_tied"] is True and f["P5"]["local_area_tied"] is False
    assert f["I1"]["crime_refs"] == ["C8"] and f["I1"]["local_area"] == "South"
    assert f["O2"]["group_ids"] == ["G1"] and f["V1"]["group_ids"] == []
    assert f["V1"]["crime_refs"] == ["C1"] and f["V1"]["local_area"] == "North"
    # Children go to their hub; the adults (V2, V5, O3, P5) have no recorded basis: police-side review.
    assert {p: r["referral_status"] for p, r in f.items()} == {
        "V1": "to_refer", "O2": "to_refer", "I1": "to_refer",
        "V2": "police_review", "V5": "police_review", "O3": "police_review", "P5": "police_review"}
    assert "ethnicity" not in " ".join(engine.columns("safeguarding"))


def test_child_offender_judged_on_linking_crimes_only(duck, settings):
    """O3 (30 now) is linked by C3 at 14; an unlinked later crime C9 at 25 (a sole offender, so no
    victim-layer link) does not undo that. O6, in the network through intelligence only, is judged
    on all full-table crimes: C10 at 15 and C11 at 17 -> flagged; O7: C12 at 15, C13 with an unknown
    date of birth... O7's age is unknown at every crime -> not flagged (unknown is never "a child")."""
    w = World(
        dob={"O1": "1980-01-01", "O3": "1991-01-01", "V3": "1993-01-01", "V9": "2000-01-01",
             "O6": "1990-01-01", "V10": "1995-01-01", "V11": "1998-01-01", "O7": None, "V12": "2001-01-01"},
        crimes=[
            Crime("C3", "2005-03-01", offenders=("O1", "O3"), victims=("V3",)),
            Crime("C9", "2016-03-01", offenders=("O3",), victims=("V9",)),
            Crime("C10", "2005-03-01", offenders=("O6",), victims=("V10",)),
            Crime("C11", "2007-03-01", offenders=("O6",), victims=("V11",)),
            Crime("C12", "2010-03-01", offenders=("O7",), victims=("V12",)),
        ],
        groups={"G1": ["O1", "O3", "O6", "O7"]},
    )
    build_world(duck, w)
    safeguard.run(duck, settings)
    got = {p: r["reasons"] for p, r in flags(duck).items() if "child_offender" in r["reasons"]}
    assert set(got) == {"O3", "O6"}


def test_victim_without_date_of_birth_gets_lowest_possible_age(duck, settings):
    """V8 has no date of birth in nominals but was recorded aged 12 on 2015-03-16 (as the full table says):
    on 2021-03-15 they are at least 12 + 5 = 17, so a child victim, with age_estimated."""
    w = World(dob={"O1": "1980-01-01", "V8": "2003-01-01"},
              crimes=[Crime("C1", "2015-03-16", offenders=("O1",), victims=("V8",))], groups={},
              unrecorded_dob=frozenset({"V8"}))
    build_world(duck, w)
    out = safeguard.run(duck, settings)
    f = flags(duck)
    assert f["V8"]["reasons"] == ["child_victim"] and f["V8"]["age_on_as_of"] == 17 and f["V8"]["age_estimated"]
    assert out.facts["age_estimated_from_offence"] == 1


def test_settings_move_the_age_lines(duck):
    """child_age 16, transitional_age_max 19: V2 (20) and V5 (21) are past the transitional age; V1 (15)
    is still a child; O2 (16 now) is no longer a child in the network but offended only at 15 (C1), so
    stays flagged child_offender alone; O3 offended at 14 and 16, so is no longer flagged; I1 is unchanged."""
    build_world(duck, HAND)
    safeguard.run(duck, Settings(as_of=AS_OF, transitional_age_max=19, child_age=16))
    got = {p: r["reasons"] for p, r in flags(duck).items()}
    assert got == {
        "V1": ["child_victim"],
        "O2": ["child_offender"],
        "P5": ["victim_offender_overlap"],
        "I1": ["child_in_network"],
    }


def test_stage_works_inside_a_scratch_scope(duck, settings):
    """The stability rerun runs this stage in a scope: reads fall back to the run's tables."""
    build_world(duck, HAND)
    with duck.scope("variant_a"):
        safeguard.run(duck, settings)
        assert duck.count("safeguarding") == 7
    assert not duck.has_table("safeguarding")


# -- the count check: every under-18 full-table victim is flagged -----------------------------------------

people = st.sampled_from([f"P{i}" for i in range(12)])
dates = st.dates(min_value=dt.date(1995, 1, 1), max_value=AS_OF)


@st.composite
def worlds(draw) -> World:
    ids = [f"P{i}" for i in range(12)]
    dob = {
        p: draw(st.one_of(st.none(), st.dates(min_value=dt.date(1975, 1, 1), max_value=dt.date(2019, 1, 1)).map(str)))
        for p in ids
    }
    crimes = []
    for k in range(draw(st.integers(1, 10))):
        offs = tuple(sorted(draw(st.sets(people, min_size=1, max_size=3))))
        vics = tuple(sorted(draw(st.sets(people, min_size=1, max_size=2)) - set(offs))) or ("P11",)
        if set(vics) & set(offs):
            continue
        crimes.append(Crime(f"C{k}", str(draw(dates)), offenders=offs, victims=vics,
                            area=draw(st.sampled_from(["North", "South", None])), selected=draw(st.booleans())))
    members = sorted(draw(st.sets(people, max_size=8)))
    return World(dob=dob, crimes=crimes, groups={"G1": members} if len(members) > 1 else {})


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(w=worlds())
def test_every_child_victim_of_the_full_table_is_flagged(duck, w):
    """Counts match: distinct full-table victims under 18 on as_of == people flagged child_victim,
    worked out here in Python from the dates of birth; and every flagged person has at least one reason."""
    s = Settings(as_of=AS_OF)
    built = build_world(duck, w)
    out = safeguard.run(duck, s)
    expected = {r["victim_id"] for r in built["full_table"] if whole_years(D(w.dob[r["victim_id"]]), AS_OF) < 18}
    f = flags(duck)
    assert {p for p, r in f.items() if "child_victim" in r["reasons"]} == expected
    assert out.facts["full_table_child_victims"] == len(expected) == out.facts["people_per_reason"]["child_victim"]
    assert all(r["reasons"] for r in f.values())
    net_children = {p for p in w.groups.get("G1", []) if w.dob[p] and whole_years(D(w.dob[p]), AS_OF) < 18}
    assert {p for p, r in f.items() if "child_in_network" in r["reasons"]} == net_children
