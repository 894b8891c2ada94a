"""All-age plants (`hiddennet generate --all-age`, docs/all-age.md): added to a generated force, with truth.

Without `--all-age` nothing here runs and the generated files are those of before. With it, after the
force is written:
- cross-profile perpetrators: each offends in a sexual exploitation crime against a child (`cse`), a county
  lines crime exploiting a child (`cce`) and a modern slavery crime against an adult (`msht`);
- county lines rings: two adult line holders and three child runners recorded together as suspects of
  drug-supply crimes (92A, no victim) at the ring's trap house; each runner has repeated missing episodes
  and is found at the trap house;
- hotspots: a place (a hotel, a fast-food outlet) where several sexual exploitation crimes happen.
`crimes` gains the optional column `location_key` (empty for every other crime) and the extract gains
`missing_episodes`. The truth goes to planted_truth/allage_*.parquet; the pipeline never reads it.
Every name and id is made up.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hiddennet.generate.constants import AS_OF, LOCAL_AREAS

_AS_OF = dt.date.fromisoformat(str(AS_OF))
_CSE = dict(offence_title="Sexual activity with a child under 16", offence_code="21", if_codes="CSE",
            modus_operandi="Offender groomed the child online and met them")
_CCE = dict(offence_title="Possession with intent to supply a controlled drug - Class A", offence_code="92A",
            if_codes="CL", modus_operandi="County line: child used to carry drugs on a deal line")
_MSHT = dict(offence_title="Modern slavery: holding a person in slavery or servitude", offence_code="106",
             if_codes="MSHT", modus_operandi="Victim forced to work in a nail bar, passport withheld")


class _Plants:
    """The rows being added, as text, and the truth."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.crimes: list[dict] = []
        self.crime_nominals: list[dict] = []
        self.nominals: list[dict] = []
        self.missing: list[dict] = []
        self.truth: dict[str, list[dict]] = {"cross_profile": [], "county_lines": [], "hotspots": []}

    def person(self, age: int, sex: str) -> str:
        nid = f"AA{len(self.nominals) + 1:06d}"
        born = _AS_OF - dt.timedelta(days=int(age * 365.25 + self.rng.integers(10, 300)))
        self.nominals.append(dict(nominal_id=nid, date_of_birth=born.isoformat(), sex=sex, ethnicity="IC1",
                                  forename="Plant", surname=f"Allage{len(self.nominals) + 1}", pnc_id=None))
        return nid

    def crime(self, kind: dict, days_ago: int, people: list[tuple[str, str]], area: str, place: str | None,
              place_type: str) -> str:
        ref = f"AACR{len(self.crimes) + 1:06d}"
        day = _AS_OF - dt.timedelta(days=days_ago)
        self.crimes.append(dict(crime_ref=ref, offence_date=day.isoformat(), recorded_date=day.isoformat(),
                                domestic_abuse="false", location_type=place_type, location_area=area,
                                location_key=place, **kind))
        for nid, role in people:
            self.crime_nominals.append(dict(crime_ref=ref, nominal_id=nid, role=role, sex=None, date_of_birth=None,
                                            ethnicity=None))
        return ref


def _cross_profile(p: _Plants, n: int) -> None:
    for i in range(n):
        perp = p.person(34 + i, "M")
        area = LOCAL_AREAS[i % len(LOCAL_AREAS)]
        p.crime(_CSE, 40 + i, [(perp, "offender"), (p.person(14, "F"), "victim")], area, None, "residential")
        p.crime(_CCE, 60 + i, [(perp, "suspect"), (p.person(15, "M"), "victim")], area, None, "residential")
        p.crime(_MSHT, 80 + i, [(perp, "offender"), (p.person(27, "F"), "victim")], area, None, "shop")
        p.truth["cross_profile"].append(dict(nominal_id=perp, profiles="cce;cse;msht"))


def _county_lines(p: _Plants, n: int) -> None:
    for r in range(n):
        area = LOCAL_AREAS[(r + 2) % len(LOCAL_AREAS)]
        trap = f"aa-trap-house-{r + 1}"
        holders = [p.person(24 + r, "M"), p.person(29 + r, "M")]
        runners = [p.person(14 + k, "M") for k in range(3)]
        for c in range(4):  # every crime: a holder and two runners; together they join all five
            crew = [(holders[c % 2], "suspect"), (runners[c % 3], "suspect"), (runners[(c + 1) % 3], "suspect")]
            p.crime(_CCE, 30 + 45 * c + r, crew, area, trap, "residential")
        for kid in runners:
            for e in range(4):
                start = _AS_OF - dt.timedelta(days=20 + 60 * e + r)
                p.missing.append(dict(nominal_id=kid, start_date=start.isoformat(),
                                      end_date=(start + dt.timedelta(days=2)).isoformat(),
                                      found_location_key=trap, found_location_area=area))
        ring = f"AA-CL-{r + 1}"
        p.truth["county_lines"] += [dict(ring_id=ring, nominal_id=x, role="holder", trap_house=trap) for x in holders]
        p.truth["county_lines"] += [dict(ring_id=ring, nominal_id=x, role="runner", trap_house=trap) for x in runners]


def _hotspots(p: _Plants, n: int) -> None:
    kinds = ("hotel", "fast food outlet")
    for h in range(n):
        place, area = f"aa-hotspot-{h + 1}", LOCAL_AREAS[h % len(LOCAL_AREAS)]
        crimes = 5
        for c in range(crimes):
            people = [(p.person(30 + c, "M"), "offender"), (p.person(13 + c % 4, "F"), "victim")]
            p.crime(_CSE, 15 + 20 * c + h, people, area, place, kinds[h % 2])
        p.truth["hotspots"].append(dict(location_key=place, profile="cse", crimes=crimes, location_area=area))


def _read(path: Path, fmt: str) -> pa.Table:
    if fmt == "parquet":
        return pq.read_table(path)
    names = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20)).column_names
    opts = pacsv.ConvertOptions(column_types={c: pa.string() for c in names}, strings_can_be_null=True)
    return pacsv.read_csv(path, convert_options=opts)


def _append(out: Path, name: str, fmt: str, rows: list[dict], extra: tuple[str, ...] = ()) -> int:
    """Add `rows` to table `name` (new columns `extra` empty on the rows already there); returns rows added."""
    path = out / f"{name}.{fmt}"
    table = _read(path, fmt)
    for col in extra:
        table = table.append_column(col, pa.nulls(table.num_rows, pa.string()))
    added = pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in table.column_names})
    added = added.cast(table.schema)
    _write(pa.concat_tables([table, added]), path, fmt)
    return len(rows)


def _write(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))


def add_all_age(out: Path, fmt: str, seed: int, scale: float, truth_dir: Path) -> dict:
    """Plant the all-age patterns into the force written in `out`; write their truth. Returns the counts."""
    p = _Plants(np.random.default_rng([seed, 20]))
    n = max(3, round(3 * scale))
    _cross_profile(p, n)
    _county_lines(p, n)
    _hotspots(p, n)
    rows = {
        "crimes": _append(out, "crimes", fmt, p.crimes, extra=("location_key",)),
        "crime_nominals": _append(out, "crime_nominals", fmt, p.crime_nominals),
        "nominals": _append(out, "nominals", fmt, p.nominals),
    }
    missing = pa.table({c: pa.array([r[c] for r in p.missing], pa.string())
                        for c in ("nominal_id", "start_date", "end_date", "found_location_key",
                                  "found_location_area")})
    _write(missing, out / f"missing_episodes.{fmt}", fmt)
    rows["missing_episodes"] = missing.num_rows
    for name, items in p.truth.items():
        cols = list(items[0])
        pq.write_table(pa.table({c: pa.array([x[c] for x in items]) for c in cols}),
                       truth_dir / f"allage_{name}.parquet")
    return {"rows_added": rows, "planted": {k: len(v) for k, v in p.truth.items()}}
