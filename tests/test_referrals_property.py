"""Property: an adult (or a person of unknown age) without a recorded basis in force never appears in a pack.

Random small forces (test_safeguard.worlds) with random sharing_basis records (any basis, refusals and
withdrawals included, dates before and after as_of, with and without expiry) go through safeguard,
triage and the packs of every area. Every person in any pack must be a child on as_of (from the dates
of birth, worked out here) or hold a basis by the rule worked out here independently: the latest record
on or before as_of (a refusal first on the same day, then by name) is a basis, not a refusal or a
withdrawal, and has not expired by as_of nor by the day the pack is made.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from test_referrals import make_run, pack_ids
from test_safeguard import AS_OF, D, whole_years, worlds

from hiddennet.contract import NO_SHARING_BASES, SHARING_BASES
from hiddennet.engine.duckdb_engine import DuckDBEngine
from hiddennet.safeguard import referrals
from hiddennet.settings import Settings

TODAY = dt.datetime.now(dt.UTC).date()


@st.composite
def basis_records(draw) -> list[dict]:
    people = [f"P{i}" for i in range(12)]
    out = []
    for p in draw(st.lists(st.sampled_from(people), max_size=12)):
        out.append(dict(
            nominal_id=p,
            basis=draw(st.sampled_from(SHARING_BASES)),
            recorded_date=draw(st.dates(min_value=dt.date(2018, 1, 1), max_value=dt.date(2022, 1, 1))),
            recorded_by=None,
            expires=draw(st.one_of(st.none(), st.dates(min_value=dt.date(2019, 1, 1), max_value=TODAY + dt.timedelta(days=400)))),
        ))
    # One record per person and day, as ingest guarantees (a second version of a key is a conflict, quarantined).
    return list({(r["nominal_id"], r["recorded_date"]): r for r in out}.values())


def has_basis(nominal_id: str, records: list[dict]) -> bool:
    mine = [r for r in records if r["nominal_id"] == nominal_id and r["recorded_date"] <= AS_OF]
    if not mine:
        return False
    latest = sorted(mine, key=lambda r: (-r["recorded_date"].toordinal(), r["basis"] not in NO_SHARING_BASES, r["basis"]))[0]
    if latest["basis"] in NO_SHARING_BASES:
        return False
    return latest["expires"] is None or latest["expires"] >= max(AS_OF, TODAY)


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(w=worlds(), records=basis_records())
def test_adults_without_a_basis_never_appear_in_any_pack(w, records):
    with tempfile.TemporaryDirectory() as tmp, DuckDBEngine() as engine:
        run = make_run(engine, Path(tmp) / "run", w, Settings(as_of=AS_OF), basis=records)
        areas = {r["local_area"] or referrals.UNKNOWN_AREA for r in engine.fetch_arrow("SELECT local_area FROM safeguarding").to_pylist()}
        sent: set[str] = set()
        for area in sorted(areas):
            sent |= pack_ids(referrals.write_referral_pack(run, area=area, recipient="MASH", actor="t",
                                                           ledger=Path(tmp) / "L", full=True))
        for p in sent:
            child = w.dob.get(p) is not None and whole_years(D(w.dob[p]), AS_OF) < 18
            assert child or has_basis(p, records), p
        # And the converse for children: every flagged child of a known area is in its pack.
        flagged = {r["nominal_id"] for r in engine.fetch_arrow("SELECT nominal_id FROM safeguarding").to_pylist()}
        children = {p for p in flagged if w.dob.get(p) and whole_years(D(w.dob[p]), AS_OF) < 18}
        assert children <= sent
