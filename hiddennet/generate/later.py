"""A later extract of the same force (`hiddennet generate DIR --later-of PREV_DIR --days 7`).

The later extract is the earlier one (same people, crimes, logs, cells) plus `days` more days of
records and a few corrections, with planted changes to the earlier run's groups (the groups the
pipeline's own stages find on PREV_DIR, default settings):

    new group        three new offenders of one new child victim
    grown group      a ranked group gains two co-offenders of a new crime, one of them a child of 15
                     (a newly flagged child in a ranked group)
    merge            a new crime with an offender of each of two groups
    split            one old crime of a group is corrected to a non-selected offence, cutting it in two
    dissolved        every crime of a small group is corrected to a non-selected offence
    top N            a group just outside the top `top_n` gains crimes of the highest harm in the extract

What was planted is in `DIR/planted_truth/later.json` (member lists, which the pipeline never reads).
CSV extracts only. New crimes are dated after the earlier extract's `as_of`; the latest on `as_of + days`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

from hiddennet.generate.constants import MO_OTHER, OTHER_TITLES

_FILES = ("crimes", "crime_nominals", "nominals")
# The dates ingest takes `as_of` from (hiddennet/ingest: the latest of them).
_EVENT_DATES = (("crimes", "offence_date"), ("crimes", "recorded_date"), ("intel_logs", "log_date"),
                ("custody_cells", "from_date"), ("custody_cells", "to_date"))


def _analyse(previous: Path) -> dict:
    """The earlier extract's groups, edges, crimes and harm, from the pipeline's own stages (to harm)."""
    from hiddennet.engine.duckdb_engine import DuckDBEngine
    from hiddennet.pipeline import STAGES, run_stages
    from hiddennet.settings import Settings

    stages = STAGES[: [s.name for s in STAGES].index("harm") + 1]
    with tempfile.TemporaryDirectory() as tmp, DuckDBEngine() as engine:
        run_stages(engine, previous, Path(tmp), Settings(), stages=stages)
        q = engine.fetch_rows
        dates = " UNION ALL ".join(f"SELECT max({c}) AS d FROM {t}" for t, c in _EVENT_DATES)
        return {
            "as_of": q(f"SELECT max(d) FROM ({dates})")[0][0],
            "groups": q("SELECT g.group_id, g.size, g.parent_component, h.priority_rank, h.rank_harm_cchi "
                        "FROM network_groups g LEFT JOIN group_harm h USING (group_id) ORDER BY g.group_id"),
            "members": q("SELECT nominal_id, group_id FROM network_nominals ORDER BY nominal_id"),
            "edges": q("SELECT nominal_a, nominal_b, array_to_string(layers, ','), group_id FROM combined_edges"),
            "rows": q("SELECT crime_ref, offender_id, victim_id FROM full_table"),
            "flagged": {r[0] for r in q("SELECT nominal_id FROM safeguarding")},
            "top_crime": q("SELECT c.offence_title, c.offence_code, c.if_codes, c.modus_operandi, h.cchi_days "
                           "FROM crime_harm h JOIN crimes c USING (crime_ref) WHERE h.cchi_days IS NOT NULL "
                           "ORDER BY h.cchi_days DESC, c.crime_ref LIMIT 1")[0],
        }


class _Plan:
    """The analysed earlier run and the choices made on it."""

    def __init__(self, a: dict, max_size: int):
        self.a = a
        self.max_size = max_size
        self.groups = {g[0]: g for g in a["groups"]}
        self.members: dict[str, list[str]] = defaultdict(list)
        for nominal, group in a["members"]:
            self.members[group].append(nominal)
        self.group_of = dict(a["members"])
        self.layers: dict[str, set[str]] = defaultdict(set)
        self.edges: dict[str, list[tuple[str, str, frozenset[str]]]] = defaultdict(list)  # (a, b, layers)
        for na, nb, layers, group in a["edges"]:
            if group is not None:
                self.layers[group] |= set(layers.split(","))
                self.edges[group].append((na, nb, frozenset(layers.split(","))))
        self.crimes_of: dict[str, set[str]] = defaultdict(set)  # offender -> crimes
        self.offenders_of: dict[str, set[str]] = defaultdict(set)  # crime -> offenders
        self.rows = a["rows"]
        for crime, offender, _victim in a["rows"]:
            self.crimes_of[offender].add(crime)
            self.offenders_of[crime].add(offender)
        self.taken: set[str] = set()

    def unsplit(self, lo: int, hi: int, *, victim_only: bool = False, ranked: bool | None = None) -> list[str]:
        out = []
        for g, (gid, size, parent, rank, _harm) in sorted(self.groups.items()):
            if gid != parent or not lo <= size <= hi or g in self.taken:
                continue
            if victim_only and self.layers[g] != {"victim"}:
                continue
            if ranked is not None and (rank is not None) != ranked:
                continue
            out.append(g)
        return out

    def own_crimes(self, group: str) -> set[str] | None:
        """Every selected crime of the group's offenders, when no other group's offender is on one."""
        crimes = {c for m in self.members[group] for c in self.crimes_of.get(m, ())}
        if any(self.group_of.get(o) != group for c in crimes for o in self.offenders_of[c]):
            return None
        return crimes

    def unflagged(self, group: str) -> str | None:
        free = [m for m in sorted(self.members[group]) if m not in self.a["flagged"] and m in self.crimes_of]
        return free[0] if free else None


def _stays(layers: frozenset[str], a_seed: bool, b_seed: bool, shared_victim: bool) -> bool:
    """Whether an edge survives the correction, by the layers' rules (hiddennet/layers.py): SOC links as
    given, intelligence links between two seeds, custody links with one seed, victim links while a victim
    is shared."""
    return ("soc" in layers or ("intel" in layers and a_seed and b_seed)
            or ("custody" in layers and (a_seed or b_seed)) or ("victim" in layers and shared_victim))


def _pieces_without(plan: _Plan, group: str, crimes: set[str]) -> list[set[str]]:
    """The group's connected pieces once `crimes` are no longer selected (seeds: offenders of the rest)."""
    victims: dict[str, set[str]] = defaultdict(set)
    for c, o, v in plan.rows:
        if c not in crimes and plan.group_of.get(o) == group:
            victims[o].add(v)
    seeds = {m for m in plan.members[group] if plan.crimes_of.get(m, set()) - crimes}
    parent = {m: m for m in plan.members[group]}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    touched = set()
    for na, nb, layers in plan.edges[group]:
        if _stays(layers, na in seeds, nb in seeds, bool(victims[na] & victims[nb])):
            parent[find(na)] = find(nb)
            touched |= {na, nb}
    pieces: dict[str, set[str]] = defaultdict(set)
    for m in touched:
        pieces[find(m)].add(m)
    return sorted(pieces.values(), key=lambda p: (-len(p), min(p)))


def _cuts(plan: _Plan, group: str) -> list[set[str]]:
    """Crime sets to correct: each crime of the group alone, then all the group's crimes against one victim;
    only crimes whose every offender is in the group (a correction touches no other group)."""
    own = sorted({c for m in plan.members[group] for c in plan.crimes_of.get(m, ())
                  if all(plan.group_of.get(o) == group for o in plan.offenders_of[c])})
    by_victim: dict[str, set[str]] = defaultdict(set)
    for c, _o, v in plan.rows:
        if c in own:
            by_victim[v].add(c)
    return [{c} for c in own] + [by_victim[v] for v in sorted(by_victim)]


def _choose_split(plan: _Plan) -> dict | None:
    for g in plan.unsplit(4, plan.max_size):
        members = len(plan.members[g])
        for cut in _cuts(plan, g):
            pieces = _pieces_without(plan, g, cut)
            if len(pieces) >= 2 and all(len(p) >= 2 for p in pieces) and sum(map(len, pieces)) == members:
                plan.taken.add(g)
                return {"group": g, "members": sorted(plan.members[g]), "corrected_crimes": sorted(cut),
                        "pieces": [sorted(p) for p in pieces]}
    return None


def _choose_dissolved(plan: _Plan) -> dict | None:
    for g in plan.unsplit(2, 4, victim_only=True):
        crimes = plan.own_crimes(g)
        if crimes:
            plan.taken.add(g)
            return {"group": g, "members": sorted(plan.members[g]), "corrected_crimes": sorted(crimes)}
    return None


def _choose_merge(plan: _Plan) -> dict | None:
    cands = [g for g in plan.unsplit(2, plan.max_size // 2) if plan.unflagged(g)]
    for i, ga in enumerate(cands):
        for gb in cands[i + 1:]:
            if plan.groups[ga][1] + plan.groups[gb][1] <= plan.max_size:
                plan.taken |= {ga, gb}
                return {"groups": [ga, gb], "members": [sorted(plan.members[ga]), sorted(plan.members[gb])],
                        "offenders": [plan.unflagged(ga), plan.unflagged(gb)]}
    return None


def _choose_grown(plan: _Plan) -> dict | None:
    for g in plan.unsplit(2, plan.max_size - 2, ranked=True):
        m = plan.unflagged(g)
        if m:
            plan.taken.add(g)
            return {"group": g, "members": sorted(plan.members[g]), "offender": m}
    return None


def _choose_top_n(plan: _Plan, top_n: int) -> dict | None:
    ranked = sorted((r for r in plan.groups.values() if r[3] is not None), key=lambda r: r[3])
    if len(ranked) <= top_n:
        return None
    bar = ranked[max(0, top_n - 4)][4] or 0.0  # above the group ranked N-3: still in the top N if others rise
    days = float(plan.a["top_crime"][4])
    for gid, _size, parent, rank, harm in ranked[top_n:]:
        m = plan.unflagged(gid)
        if gid == parent and gid not in plan.taken and m:
            plan.taken.add(gid)
            k = max(1, math.ceil((bar - (harm or 0.0)) * 1.1 / days) + 1)
            return {"group": gid, "members": sorted(plan.members[gid]), "offender": m, "crimes": k,
                    "previous_rank": rank}
    return None


# -- writing -------------------------------------------------------------------------------------------
class _Ids:
    """New person and crime ids that cannot clash with the earlier extract's (prefixes it never uses)."""

    def __init__(self):
        self.people = 0
        self.crimes = 0

    def person(self) -> str:
        self.people += 1
        return f"LX{self.people:06d}"

    def crime(self) -> str:
        self.crimes += 1
        return f"CRLX{self.crimes:06d}"


def _dob(on: dt.date, age: int) -> str:
    return on.replace(year=on.year - age, day=min(on.day, 28)).isoformat()


class _Writer:
    """Rows to append to crimes.csv, crime_nominals.csv and nominals.csv."""

    def __init__(self, as_of: dt.date, days: int, top: tuple):
        self.as_of, self.days, self.top = as_of, days, top
        self.rows: dict[str, list[list[str]]] = {f: [] for f in _FILES}
        self.ids = _Ids()
        self.n = 0

    def date(self) -> str:
        self.n += 1
        return (self.as_of + dt.timedelta(days=1 + self.n % self.days)).isoformat()

    def person(self, age: int, sex: str = "M") -> str:
        pid = self.ids.person()
        self.rows["nominals"].append([pid, _dob(self.as_of, age), sex, "IC1", "Sam", "Later", ""])
        return pid

    def crime(self, offenders: list[tuple[str, str]], victims: list[tuple[str, str]], date: str | None = None) -> str:
        """A crime of the highest harm in the extract; offenders and victims as (id, date of birth)."""
        title, code, ifc, mo, _days = self.top
        ref = self.ids.crime()
        day = date or self.date()
        self.rows["crimes"].append([ref, title, day, code, day, "false", ifc or "", mo or "", "residential",
                                    "Birmingham"])
        for pid, dob in offenders:
            self.rows["crime_nominals"].append([ref, pid, "suspect", "M", dob, "IC1"])
        for pid, dob in victims:
            self.rows["crime_nominals"].append([ref, pid, "victim", "F", dob, "IC1"])
        return ref


def _dob_of(w: _Writer, pid: str, dobs: dict[str, str]) -> tuple[str, str]:
    for row in w.rows["nominals"]:
        if row[0] == pid:
            return pid, row[1]
    return pid, dobs.get(pid, "")


def _line(values: list[str]) -> bytes:
    """One CSV line as the generator writes them: values quoted, empty values (NULL) left bare."""
    return (",".join('"' + v.replace('"', '""') + '"' if v else "" for v in values) + "\n").encode("utf-8")


def _copy_with_corrections(src: Path, dst: Path, corrected: set[str]) -> None:
    """crimes.csv with the corrected crimes turned into a non-selected offence (the record was corrected);
    every other line is copied as it is."""
    title, code, _w = OTHER_TITLES[-1]
    lines = src.read_bytes().split(b"\n")
    header = next(csv.reader([lines[0].decode("utf-8-sig")]))
    col = {c.strip().lower(): i for i, c in enumerate(header)}
    out = []
    for raw in lines:
        ref = raw.split(b",", 1)[0].strip(b'"').decode("utf-8", "replace")
        if ref in corrected:
            row = next(csv.reader([raw.decode("utf-8")]))
            row[col["offence_title"]], row[col["offence_code"]] = title, code
            row[col["if_codes"]], row[col["modus_operandi"]] = "", MO_OTHER[0]
            raw = _line(row)[:-1]
        out.append(raw)
    dst.write_bytes(b"\n".join(out))


def _append(path: Path, rows: list[list[str]]) -> None:
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data += b"\n"
    path.write_bytes(data + b"".join(_line(r) for r in rows))


def _plant(plan: _Plan, w: _Writer, top_n: int) -> dict:
    """Choose the groups and write the new crimes; the planted truth."""
    truth: dict = {"split": _choose_split(plan), "dissolved": _choose_dissolved(plan),
                   "merged": _choose_merge(plan), "grown": _choose_grown(plan), "top_n": _choose_top_n(plan, top_n)}
    dobs: dict[str, str] = {}
    on = w.as_of
    new = [w.person(30 + i) for i in range(3)]
    victim = w.person(14, "F")
    w.crime([_dob_of(w, p, dobs) for p in new], [_dob_of(w, victim, dobs)])
    truth["new_group"] = {"members": sorted(new)}
    if truth["grown"]:
        adult, child = w.person(27), w.person(15)
        v = w.person(13, "F")
        w.crime([(truth["grown"]["offender"], ""), _dob_of(w, adult, dobs), _dob_of(w, child, dobs)],
                [_dob_of(w, v, dobs)])
        truth["grown"]["added"] = sorted([adult, child])
        truth["newly_flagged_child"] = child
    if truth["merged"]:
        v = w.person(12, "F")
        w.crime([(o, "") for o in truth["merged"]["offenders"]], [_dob_of(w, v, dobs)])
    if truth["top_n"]:
        for _ in range(truth["top_n"]["crimes"]):
            v = w.person(11, "F")
            w.crime([(truth["top_n"]["offender"], "")], [_dob_of(w, v, dobs)])
    # The latest record is on as_of + days: the later run's as_of.
    last = w.person(40)
    w.crime([(last, _dob(on, 40))], [_dob_of(w, w.person(16, "F"), dobs)],
            date=(on + dt.timedelta(days=w.days)).isoformat())
    truth["top_n_setting"] = top_n
    return truth


def generate_later(directory: str | Path, previous: str | Path, days: int = 7, top_n: int = 10,
                   max_group_size: int = 50) -> dict:
    """Write a later extract of the force in `previous` into `directory`; returns the planted truth."""
    prev, out = Path(previous), Path(directory)
    if not (prev / "crimes.csv").is_file():
        raise ValueError(f"--later-of {prev}: no crimes.csv (a CSV extract written by hiddennet generate)")
    if days < 1:
        raise ValueError("days must be 1 or more")
    a = _analyse(prev)
    as_of = a["as_of"] if isinstance(a["as_of"], dt.date) else dt.date.fromisoformat(str(a["as_of"]))
    out.mkdir(parents=True, exist_ok=True)
    for f in prev.iterdir():
        if f.is_file():
            shutil.copyfile(f, out / f.name)
    if (prev / "planted_truth").is_dir():
        shutil.copytree(prev / "planted_truth", out / "planted_truth", dirs_exist_ok=True)
    (out / "planted_truth").mkdir(exist_ok=True)
    w = _Writer(as_of, days, a["top_crime"])
    truth = _plant(_Plan(a, max_group_size), w, top_n)
    corrected = set()
    for kind in ("split", "dissolved"):
        if truth[kind]:
            corrected |= set(truth[kind]["corrected_crimes"])
    _copy_with_corrections(prev / "crimes.csv", out / "crimes.csv", corrected)
    for name in _FILES:
        _append(out / f"{name}.csv", w.rows[name])
    truth.update({"previous": str(prev.resolve()), "previous_as_of": as_of.isoformat(),
                  "as_of": (as_of + dt.timedelta(days=days)).isoformat(), "days": days})
    (out / "planted_truth" / "later.json").write_text(json.dumps(truth, indent=2, sort_keys=True))
    return truth
