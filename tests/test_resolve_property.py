"""Safeguarding first after merges (property): whatever records a person decides to merge (children's
with adults' included), no one flagged for safeguarding is ranked or in a dismantling order, and a
person with a child's record among their records is still flagged when in the network."""

from __future__ import annotations

import csv
import datetime as dt
import shutil

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from hiddennet import dismantle, harm, ingest, layers, network, safeguard, select
from hiddennet.engine.duckdb_engine import DuckDBEngine
from hiddennet.generate import generate_force
from hiddennet.pipeline import run_stages
from hiddennet.settings import Settings

AS_OF = dt.date(2021, 3, 15)  # the synthetic force's as_of (generate.constants)
STAGES = (ingest.STAGE, select.STAGE, layers.STAGE, network.STAGE, safeguard.STAGE, harm.STAGE, dismantle.STAGE)


def _age(dob: dt.date) -> int:
    return AS_OF.year - dob.year - ((AS_OF.month, AS_OF.day) < (dob.month, dob.day))


@pytest.fixture(scope="module")
def force(tmp_path_factory):
    """A small generated force with planted duplicates; its records' ages and the ids named in crimes."""
    folder = tmp_path_factory.mktemp("force")
    generate_force(folder, scale=0.01, seed=4, duplicates=0.2)
    with (folder / "nominals.csv").open(encoding="utf-8") as f:
        dob = {r["nominal_id"]: dt.date.fromisoformat(r["date_of_birth"]) for r in csv.DictReader(f)
               if r["date_of_birth"]}
    with (folder / "crime_nominals.csv").open(encoding="utf-8") as f:
        named = sorted({r["nominal_id"] for r in csv.DictReader(f)})
    children = [n for n in named if n in dob and _age(dob[n]) < 18]
    adults = [n for n in named if n in dob and _age(dob[n]) >= 18]
    return folder, dob, children, adults


@pytest.mark.slow
@hsettings(max_examples=3, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_flagged_person_is_a_target_after_merges(force, tmp_path, data):
    folder, dob, children, adults = force
    pick = st.integers(0, 10**6)
    merges = [(children[data.draw(pick) % len(children)], adults[data.draw(pick) % len(adults)])
              for _ in range(data.draw(st.integers(1, 6)))]
    run_dir = tmp_path / f"in{abs(hash(tuple(merges)))}"
    shutil.copytree(folder, run_dir, dirs_exist_ok=True)
    with (run_dir / "review_decisions.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(("nominal_id_a", "nominal_id_b", "decision"))
        w.writerows((a, b, "merge") for a, b in dict.fromkeys(merges))
    (tmp_path / "out").mkdir(exist_ok=True)
    with DuckDBEngine() as e:
        run_stages(e, run_dir, tmp_path / "out", Settings(as_of=AS_OF, resolve=True), stages=STAGES)
        canonical = dict(e.fetch_rows("SELECT source_id, canonical_id FROM nominal_map"))
        assert all(canonical[a] == canonical[b] for a, b in merges), "a person's merge decision is applied"
        flagged = {r[0] for r in e.fetch_rows("SELECT nominal_id FROM safeguarding")}
        picks = {r[0] for r in e.fetch_rows("SELECT nominal_id FROM dismantling")}
        members: dict[str, set[str]] = {}
        for n, g in e.fetch_rows("SELECT nominal_id, group_id FROM network_nominals"):
            members.setdefault(g, set()).add(n)
        ranks = e.fetch_rows("SELECT group_id, priority_rank FROM group_harm")
    assert not flagged & picks
    for g, rank in ranks:
        assert (rank is None) == (members[g] <= flagged), g
    in_network = set().union(*members.values())
    # Every record that is a child's on as_of: its person, when in the network, is flagged.
    child_people = {canonical[n] for n, d in dob.items() if _age(d) < 18 and n in canonical}
    assert child_people & in_network <= flagged
