"""Benchmark of the selection stage: full table and final table, DuckDB against plain pandas.

    .venv/bin/python benchmarks/bench_select.py [--scales 1 10] [--repeat 3]

For each scale: generate a synthetic force (hiddennet.generate.generate_force when it exists,
else the small generator below), load it as the typed tables of docs/tables.md (hiddennet.ingest
when it exists, else a simple typed CSV read), then time `select.run` on DuckDB and the same rules
written in pandas, each in its own process so that the peak memory (max RSS, loading included)
belongs to one method. Prints times, the ratio, peak memory and row counts next to the source
study's (77,707 full-table rows; 28,758 final-table pairs), and checks both give the same counts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "benchmarks" / "data"
AS_OF = dt.date(2021, 12, 31)
STUDY = {"full_table_rows": 77_707, "final_table_rows": 28_758, "full_table_offenders": 55_323,
         "full_table_crimes": 69_058, "final_table_offenders": 20_432, "final_table_crimes": 19_995}


# -- data ------------------------------------------------------------------------------------------
def _own_force(folder: Path, scale: float, seed: int) -> None:
    """A synthetic force in the input-contract layout: 150k crimes per unit of scale, ~45% matching cse.

    Victims repeat with a heavy tail (a few victims of many crimes), so the final table's self-join
    meets the skew real data has. No real data: every value is random.
    """
    rng = np.random.default_rng(seed)
    n_crimes = int(150_000 * scale)
    n_children = int(60_000 * scale)
    n_adults = int(120_000 * scale)
    start = np.datetime64("2011-01-01")
    dates = start + rng.integers(0, 4017, n_crimes).astype("timedelta64[D]")

    kind = rng.choice(5, n_crimes, p=[0.30, 0.06, 0.09, 0.05, 0.50])  # title, flag, MO, DA decoy, other
    cse_titles = np.array(["Rape of a girl under 13", "Sexual activity with a child", "Sexual assault on a female child under 13",
                           "Taking indecent photographs of a child", "Rape of a female aged 16 or over",
                           "Causing or inciting a child  under 13 to engage in sexual activity", "Exploitation of prostitution - child"])
    other = np.array(["Theft from a shop", "Assault occasioning actual bodily harm", "Criminal damage to a vehicle",
                      "Burglary in a dwelling", "Common assault", "Sexual assault on a female 13 or over",
                      "Harassment", "Possession with intent to supply"])
    titles = np.where(np.isin(kind, [0, 3]), rng.choice(cse_titles, n_crimes), rng.choice(other, n_crimes))
    flags = np.where(kind == 1, rng.choice(["CSE", "PPC;X1", "cao", "X1 CSE"], n_crimes),
                     np.where(rng.random(n_crimes) < 0.1, "X1;X2", ""))
    mos = np.where(kind == 2, rng.choice(["suspect groomed the victim online", "victim reported as misper",
                                          "concern for welfare, older male", "child  sexual exploitation"], n_crimes),
                   rng.choice(["entered through rear window", "argument outside a shop", ""], n_crimes))
    da = np.where(kind == 3, "Y", np.where(rng.random(n_crimes) < 0.05, "Y", "N"))
    refs = np.char.add("CR", np.arange(n_crimes).astype(str))
    _write_csv(folder / "crimes.csv", {
        "crime_ref": refs, "offence_title": titles, "offence_date": dates.astype(str), "domestic_abuse": da,
        "if_codes": flags, "modus_operandi": mos, "offence_code": np.full(n_crimes, ""),
        "location_area": rng.choice(["E08000025", "E08000026", "E08000027"], n_crimes)})

    # People: children (victims) born 1995-2016, adults (mostly offenders) born 1950-2005; 3% no DOB.
    child_dob = np.datetime64("1995-01-01") + rng.integers(0, 8035, n_children).astype("timedelta64[D]")
    adult_dob = np.datetime64("1950-01-01") + rng.integers(0, 20089, n_adults).astype("timedelta64[D]")
    ids = np.concatenate([np.char.add("C", np.arange(n_children).astype(str)), np.char.add("A", np.arange(n_adults).astype(str))])
    dob = np.concatenate([child_dob, adult_dob]).astype(str)
    dob = np.where(rng.random(len(ids)) < 0.03, "", dob)
    _write_csv(folder / "nominals.csv", {"nominal_id": ids, "date_of_birth": dob,
                                         "sex": rng.choice(["M", "F", ""], len(ids), p=[0.4, 0.55, 0.05]),
                                         "ethnicity": rng.choice(["IC1", "IC3", "IC4", ""], len(ids))})

    # One victim per crime, a tenth with a second. A third of crimes fall on a pool of repeat
    # victims (a few crimes each) and 2% on a small pool of victims of ~30 crimes each (the skew).
    u = rng.random(n_crimes)
    n_repeat, n_heavy = int(20_000 * scale), max(int(100 * scale), 1)
    victim_idx = np.where(u < 0.30, rng.integers(0, n_repeat, n_crimes),
                          np.where(u < 0.32, rng.integers(0, n_heavy, n_crimes), rng.integers(0, n_children, n_crimes)))
    second = rng.random(n_crimes) < 0.1
    v_crime = np.concatenate([refs, refs[second]])
    v_id = np.concatenate([victim_idx, rng.integers(0, n_children, second.sum())])
    v_id = np.char.add("C", v_id.astype(str))
    # Offenders: one per crime, 3% with 2-8; a few (children) are under 10; repeat offenders common.
    n_off = np.where(rng.random(n_crimes) < 0.03, rng.integers(2, 9, n_crimes), 1)
    o_crime = np.repeat(refs, n_off)
    adult_off = rng.random(len(o_crime)) < 0.8
    o_id = np.where(adult_off, np.char.add("A", rng.integers(0, n_adults, len(o_crime)).astype(str)),
                    np.char.add("C", rng.integers(0, n_children, len(o_crime)).astype(str)))
    roles = rng.choice(["offender", "suspect", "defendant", "person_thought_responsible",
                        "person_probably_responsible"], len(o_crime), p=[0.6, 0.25, 0.1, 0.03, 0.02])
    w_crime = refs[rng.random(n_crimes) < 0.2]
    w_id = np.char.add("A", rng.integers(0, n_adults, len(w_crime)).astype(str))
    _write_csv(folder / "crime_nominals.csv", {
        "crime_ref": np.concatenate([v_crime, o_crime, w_crime]),
        "nominal_id": np.concatenate([v_id, o_id, w_id]),
        "role": np.concatenate([np.full(len(v_crime), "victim"), roles, np.full(len(w_crime), "witness")])})


def _write_csv(path: Path, cols: dict) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    pcsv.write_csv(pa.table({k: pa.array(np.asarray(v).astype(str)) for k, v in cols.items()}), path)


def make_force(scale: float, seed: int = 1) -> tuple[Path, str]:
    folder = DATA / f"select-scale-{scale:g}"
    try:
        from hiddennet.generate import generate_force  # type: ignore[attr-defined]

        source = "hiddennet.generate.generate_force"
    except ImportError:
        generate_force, source = None, "bench_select._own_force (hiddennet.generate not available)"
    stamp = folder / ".source"
    if not (stamp.exists() and stamp.read_text() == source):
        folder.mkdir(parents=True, exist_ok=True)
        if generate_force is not None:
            generate_force(folder, scale=scale, seed=seed)
        else:
            _own_force(folder, scale, seed)
        stamp.write_text(source)
    return folder, source


SELECT_INPUTS = ("crimes", "nominals", "crime_nominals")


def prepare(scale: float) -> dict:
    """Generate the force once and ingest its three selection inputs once, cached as Parquet.

    Ingest reads only crimes, nominals and crime_nominals (symlinked into a folder of their own):
    the intelligence files are large and select does not read them.
    """
    from hiddennet.engine.duckdb_engine import DuckDBEngine

    folder, source = make_force(scale)
    cache = folder / "select-inputs"
    meta = cache / "meta.json"
    if meta.exists():
        return json.loads(meta.read_text())
    only = folder / "select-only"
    only.mkdir(exist_ok=True)
    for t in SELECT_INPUTS:
        link = only / f"{t}.csv"
        if not link.exists():
            link.symlink_to(folder / f"{t}.csv")
    cache.mkdir(exist_ok=True)
    with DuckDBEngine() as engine:
        t0 = time.perf_counter()
        loader, as_of = load(engine, only)
        load_s = round(time.perf_counter() - t0, 3)
        for t in SELECT_INPUTS:
            engine.write_parquet(t, cache / f"{t}.parquet")
        info = {"data": source, "loader": loader, "load_s": load_s, "as_of": as_of.isoformat(),
                "input_rows": {t: engine.count(t) for t in SELECT_INPUTS}}
    meta.write_text(json.dumps(info))
    return info


def load(engine, folder: Path) -> tuple[str, dt.date]:
    """The typed ingest tables: hiddennet.ingest when it exists, else a simple typed CSV read."""
    from hiddennet.settings import Settings

    try:
        from hiddennet import ingest  # type: ignore[attr-defined]
    except ImportError:
        ingest = None
    if ingest is not None:
        out = ingest.run(engine, Settings(), folder)
        as_of = out.facts["as_of"]
        return "hiddennet.ingest.run", as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(str(as_of))
    engine.create_table("crimes", f"""
        SELECT crime_ref, offence_title, CAST(offence_date AS DATE) AS offence_date,
               nullif(offence_code, '') AS offence_code, upper(domestic_abuse) IN ('Y', 'TRUE', '1') AS domestic_abuse,
               nullif(if_codes, '') AS if_codes, nullif(modus_operandi, '') AS modus_operandi,
               nullif(location_area, '') AS location_area
        FROM read_csv('{folder / "crimes.csv"}', all_varchar = true)""")
    engine.create_table("nominals", f"""
        SELECT nominal_id, CAST(nullif(date_of_birth, '') AS DATE) AS date_of_birth,
               nullif(sex, '') AS sex, nullif(ethnicity, '') AS ethnicity
        FROM read_csv('{folder / "nominals.csv"}', all_varchar = true)""")
    engine.create_table("crime_nominals", f"""
        SELECT DISTINCT crime_ref, nominal_id, lower(role) AS role
        FROM read_csv('{folder / "crime_nominals.csv"}', all_varchar = true)""")
    return "simple typed CSV read (hiddennet.ingest not available)", AS_OF


# -- the same rules in plain pandas ------------------------------------------------------------------
def pandas_select(crimes, nominals, links, profile, as_of: dt.date, min_age=10, gap_hl=365.0, rec_hl=1825.0):
    """method.md sections 1-2 in pandas, written independently of the SQL: (full table, final table)."""
    import re

    import pandas as pd

    def norm(s):
        return s.fillna("").str.lower().str.replace(r"\s+", " ", regex=True)

    def any_word(s, words):
        if not words:
            return pd.Series(False, index=s.index)
        return s.str.contains("|".join(re.escape(w) for w in words), regex=True)

    t, m = norm(crimes["offence_title"]), norm(crimes["modus_operandi"])
    title = pd.Series(bool(profile.child_words or profile.sex_words), index=crimes.index)
    for words in (profile.child_words, profile.sex_words):
        if words:
            title &= any_word(t, words)
    codes = crimes["if_codes"].fillna("").str.upper().str.split(r"[;\s]+", regex=True)
    flag_set = set(profile.flag_codes)
    flag = codes.map(lambda cs: bool(flag_set.intersection(cs)))
    code = crimes["offence_code"].fillna("").str.strip().str.upper().isin(profile.offence_codes)
    matched = title | flag | any_word(m, profile.mo_words) | code
    if profile.exclude_domestic_abuse:
        matched &= ~crimes["domestic_abuse"].fillna(False).astype(bool)
    sel = crimes.loc[matched, ["crime_ref", "offence_date"]]

    dob = nominals.set_index("nominal_id")["date_of_birth"]

    def age(on, born):
        on, born = pd.to_datetime(on), pd.to_datetime(born)
        before = (on.dt.month < born.dt.month) | ((on.dt.month == born.dt.month) & (on.dt.day < born.dt.day))
        return on.dt.year - born.dt.year - before.astype("Int64")

    vic = links.loc[links["role"] == "victim", ["crime_ref", "nominal_id"]].drop_duplicates()
    vic = vic.merge(sel, on="crime_ref").rename(columns={"nominal_id": "victim_id"})
    vic["victim_age"] = age(vic["offence_date"], vic["victim_id"].map(dob))
    if profile.max_victim_age is not None:
        vic = vic[vic["victim_age"].notna() & (vic["victim_age"] <= profile.max_victim_age)]
    roles = ["offender", "defendant", "suspect", "person_thought_responsible", "person_probably_responsible"]
    off = links.loc[links["role"].isin(roles), ["crime_ref", "nominal_id"]].drop_duplicates()
    off = off.rename(columns={"nominal_id": "offender_id"})
    full = vic.merge(off, on="crime_ref")
    full["offender_age"] = age(full["offence_date"], full["offender_id"].map(dob))
    keep = (full["offender_age"].isna() | (full["offender_age"] >= min_age)) & (full["offender_id"] != full["victim_id"])
    full = full.loc[keep.fillna(False).astype(bool)].drop_duplicates(["crime_ref", "offender_id", "victim_id"])

    slim = full[["crime_ref", "offender_id", "victim_id", "offence_date"]]
    pairs = slim.merge(slim, on="victim_id", suffixes=("_1", "_2"))
    pairs = pairs[pairs["offender_id_1"] < pairs["offender_id_2"]]
    d1, d2 = pd.to_datetime(pairs["offence_date_1"]), pd.to_datetime(pairs["offence_date_2"])
    last = np.maximum(d1, d2)
    gap = (d1 - d2).abs().dt.days
    recency = (pd.Timestamp(as_of) - last).dt.days.clip(lower=0)
    pairs = pairs.assign(weight=np.exp2(-gap / gap_hl) * np.exp2(-recency / rec_hl))
    return full, pairs.drop_duplicates(["offender_id_1", "offender_id_2", "crime_ref_1", "crime_ref_2", "victim_id"])


# -- one measurement, in its own process ------------------------------------------------------------------
def measure(method: str, scale: float, repeat: int) -> dict:
    from hiddennet import select
    from hiddennet.engine.duckdb_engine import DuckDBEngine
    from hiddennet.settings import Settings

    info = prepare(scale)
    as_of = dt.date.fromisoformat(info["as_of"])
    settings = Settings(as_of=as_of)
    engine = DuckDBEngine()
    for t in SELECT_INPUTS:
        engine.read_parquet(t, DATA / f"select-scale-{scale:g}" / "select-inputs" / f"{t}.parquet")
    out: dict = {"method": method, "scale": scale, **info}
    times, cpus = [], []
    if method == "duckdb":
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            result = select.run(engine, settings)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        f = result.facts
        out["counts"] = {k: f[k] for k in STUDY}
        out["facts"] = {k: v for k, v in f.items() if k not in STUDY}
    else:
        crimes = engine.fetch_arrow("SELECT * FROM crimes").to_pandas()
        nominals = engine.fetch_arrow("SELECT nominal_id, date_of_birth FROM nominals").to_pandas()
        links = engine.fetch_arrow("SELECT crime_ref, nominal_id, role FROM crime_nominals").to_pandas()
        profile = select.load_profile(settings.profile)
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            full, final = pandas_select(crimes, nominals, links, profile, as_of)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        out["counts"] = {
            "full_table_rows": len(full), "final_table_rows": len(final),
            "full_table_offenders": full["offender_id"].nunique(), "full_table_crimes": full["crime_ref"].nunique(),
            "final_table_offenders": len(set(final["offender_id_1"]) | set(final["offender_id_2"])),
            "final_table_crimes": len(set(final["crime_ref_1"]) | set(final["crime_ref_2"])),
        }
    out["seconds"] = round(min(times), 3)
    out["seconds_all"] = [round(t, 3) for t in times]
    # CPU seconds (all threads) of the fastest run: steadier than wall time on a shared machine.
    out["cpu_seconds"] = round(cpus[times.index(min(times))], 3)
    out["peak_rss_mb"] = _peak_rss_mb()
    engine.close()
    return out


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the process image (reset by exec);
    ru_maxrss would carry the parent's peak over into the child."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[1, 10])
    ap.add_argument("--repeat", type=int, default=3, help="runs per method; the fastest is reported")
    ap.add_argument("--skip-pandas-above", type=float, default=10, help="no pandas run above this scale")
    ap.add_argument("--one", nargs=2, metavar=("METHOD", "SCALE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], float(args.one[1]), args.repeat)))
        return

    def child(method: str, scale: float) -> dict:
        cmd = [sys.executable, __file__, "--one", method, str(scale), "--repeat", str(args.repeat)]
        return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

    results = {}
    print(f"bench_select  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  python {sys.version.split()[0]}  "
          f"repeat={args.repeat} (fastest shown)")
    for scale in args.scales:
        prepare(scale)
        duck = child("duckdb", scale)
        pand = child("pandas", scale) if scale <= args.skip_pandas_above else None
        results[scale] = duck
        print(f"\nscale {scale:g}: data {duck['data']}; loaded by {duck['loader']} in {duck['load_s']} s "
              f"(once, cached as Parquet); as_of {duck['as_of']}")
        print(f"  input rows: {duck['input_rows']}")
        print(f"  duckdb select.run: {duck['seconds']:.3f} s  cpu {duck['cpu_seconds']:.3f} s  (runs {duck['seconds_all']})  "
              f"peak RSS {duck['peak_rss_mb']} MB")
        if pand:
            print(f"  pandas same rules: {pand['seconds']:.3f} s  cpu {pand['cpu_seconds']:.3f} s  (runs {pand['seconds_all']})  "
                  f"peak RSS {pand['peak_rss_mb']} MB")
            print(f"  ratio pandas/duckdb: {pand['seconds'] / duck['seconds']:.1f}x wall, "
                  f"{pand['cpu_seconds'] / duck['cpu_seconds']:.1f}x cpu (goal >= 10)")
        print(f"  {'count':<24}{'duckdb':>12}{'pandas':>12}{'study':>12}")
        for k, study in STUDY.items():
            p = pand["counts"][k] if pand else "-"
            print(f"  {k:<24}{duck['counts'][k]:>12}{p!s:>12}{study:>12}")
        if pand and pand["counts"] != duck["counts"]:
            print("  MISMATCH: pandas and duckdb row counts differ")
            sys.exit(1)
        print(f"  facts: {json.dumps(duck['facts'])}")
    if len(results) >= 2:
        lo, hi = min(results), max(results)
        r = results[hi]["seconds"] / results[lo]["seconds"]
        rc = results[hi]["cpu_seconds"] / results[lo]["cpu_seconds"]
        print(f"\nscale {hi:g} / scale {lo:g} time: {r:.1f}x wall, {rc:.1f}x cpu (data {hi / lo:g}x; goal <= 12)")


if __name__ == "__main__":
    main()
