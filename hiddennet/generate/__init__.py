"""Synthetic force generator: a police force's extracts, at the proportions of the source study.

`generate_force(directory, scale, seed, dirty, fmt)` writes the eight files of the input contract
(docs/ingest.md) into ``directory`` and the planted truth (rings, child offenders, victim-offender
overlaps, designed counts, dirty rows) into ``directory/planted_truth/``, a folder the pipeline
never reads. Everything here is made up; no real person is described.

Scale 1 is one force (the source study, 2016-2021, data up to 2021-03-15): about 69,000
selected crimes, 77,700 crime x offender x victim rows over 55,000 offenders, 28,800
final-table pairs among 20,000 offenders, and ~3 million intelligence log-nominal links.
The figures come from a handful of parameters in `_P`; `_calibrate` runs the pipeline's own
ingest and select stages on the written files so the parameters can be checked against the
study's targets in `TARGETS`.

One module per table family, called in a fixed order (the order of random draws is what makes
the same seed and scale give byte-identical files):

    constants   the study's targets, proportions, titles, MO texts, word lists (data)
    util        vectorised draws, calendar arithmetic on day numbers, text columns
    people      the person store, offenders' ages, nominals.csv
    crimes      victim histories, rings, rejected crimes; crimes.csv, crime_nominals.csv
    soc         the Serious Organised Crime network; soc_nominals.csv, soc_edges.csv
    intel       intel_logs.csv, intel_nominals.csv (chunk by chunk: bounded memory at scale 40)
    custody     custody_cells.csv
    truth       planted_truth/
    dirty       dirty mode: a few rows of every bad-input class, file-level quirks
    duplicates  opt-in (`duplicates` > 0): duplicate person records across systems, with their truth
    calibrate   the figures the pipeline's selection gives on a generated force
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from hiddennet.contract import TABLES
from hiddennet.generate.calibrate import _calibrate
from hiddennet.generate.constants import (
    _AREA_W,
    _CHUNK,
    _D,
    _F,
    _IFC_OTHER_W,
    _IFC_SELECTED_W,
    _LOC_W,
    _M,
    _MO_WORD_W,
    _NO_DATE,
    _OFF_ROLE_W,
    _P,
    _U,
    _YEAR0,
    ADULT_SEX_TITLES,
    AS_OF,
    CHILD_WORDS,
    CSA_TITLES,
    ESTABLISHMENTS,
    FLAG_ONLY_TITLES,
    FORENAMES_F,
    FORENAMES_M,
    IF_CODE_SETS,
    K_ADULT,
    K_DA,
    K_FLAGONLY,
    K_NODOB,
    K_OTHER,
    K_OVERLAP,
    K_RING,
    K_SELECTED,
    K_UNDER10,
    KIND_NAMES,
    LOCAL_AREAS,
    LOCATION_TYPES,
    MO_OTHER,
    MO_OTHER_ACCIDENTAL,
    MO_PLAIN,
    MO_RING,
    MO_WORD,
    MO_WORDS,
    OFFENDER_ROLE_NAMES,
    OTHER_TITLES,
    PROFILE_CODES,
    R_OTHER,
    R_VICTIM,
    R_WITNESS,
    ROLE_NAMES,
    SEX_WORDS,
    SURNAMES,
    TARGETS,
)
from hiddennet.generate.crimes import (
    _build_crimes,
    _Crimes,
    _plant_rings,
    _write_crime_nominals,
    _write_crimes,
)
from hiddennet.generate.custody import _write_custody
from hiddennet.generate.dirty import _csv_line, _dirty_csv, _dirty_parquet, _make_dirty
from hiddennet.generate.intel import _gradings, _ring_logs, _write_intel
from hiddennet.generate.people import (
    _add_intel_people,
    _offender_people,
    _People,
    _write_nominals,
    people_dob_lookup,
)
from hiddennet.generate.soc import _build_soc, _write_soc
from hiddennet.generate.truth import _write_truth
from hiddennet.generate.util import (
    _age,
    _date_str,
    _dob_for_age,
    _eth,
    _eth_str,
    _ids,
    _matches,
    _n,
    _pick,
    _sex,
    _sex_str,
    _shift_years,
    _take,
    _uniq,
    _year_dates,
)
from hiddennet.generate.writer import _Writer

__all__ = [
    "ADULT_SEX_TITLES", "AS_OF", "CHILD_WORDS", "CSA_TITLES", "ESTABLISHMENTS", "FLAG_ONLY_TITLES", "FORENAMES_F",
    "FORENAMES_M", "IF_CODE_SETS", "KIND_NAMES", "K_ADULT", "K_DA", "K_FLAGONLY", "K_NODOB", "K_OTHER", "K_OVERLAP",
    "K_RING", "K_SELECTED", "K_UNDER10", "LOCAL_AREAS", "LOCATION_TYPES", "MO_OTHER", "MO_OTHER_ACCIDENTAL",
    "MO_PLAIN", "MO_RING", "MO_WORD", "MO_WORDS", "OFFENDER_ROLE_NAMES", "OTHER_TITLES", "PROFILE_CODES", "ROLE_NAMES",
    "R_OTHER", "R_VICTIM", "R_WITNESS", "SEX_WORDS", "SURNAMES", "TARGETS", "generate_force", "people_dob_lookup",
]


def generate_force(directory, scale: float = 1.0, seed: int = 1, dirty: bool = False, fmt: str = "csv",
                   duplicates: float = 0.0, all_age: bool = False) -> dict:
    """Write a synthetic force extract into `directory`; return facts (rows per table, seconds, planted counts).

    `duplicates`: the share of people named in crimes given one or two more person records (duplicates.py);
    0 (the default) writes exactly the extract of a generator without that module.
    `all_age`: also the all-age plants (hiddennet/generate/allage.py) with their truth."""
    if not 0 <= duplicates <= 1:
        raise ValueError("duplicates must be between 0 and 1")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be csv or parquet, not {fmt!r}")
    if not scale > 0:
        raise ValueError("scale must be positive")
    if int(seed) < 0:
        raise ValueError("seed must be zero or more")
    if all_age and dirty:
        raise ValueError("all_age does not combine with dirty (the plants are added to clean files)")
    t0 = time.perf_counter()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    truth_dir = _prepare_folder(out, fmt)
    root = np.random.SeedSequence([int(seed), int(round(scale * 1_000_000))])
    rng_core, rng_intel, rng_custody, rng_soc, rng_dirty = (np.random.default_rng(s) for s in root.spawn(5))

    world = _build_crimes(rng_core, scale)
    people: _People = world["people"]
    crimes: _Crimes = world["crimes"]
    world["soc"] = _build_soc(rng_soc, scale, people, world)
    world["intel_people"] = _add_intel_people(rng_intel, scale, people)
    people.freeze()
    _add_id_makers(world, people.n, crimes.n)

    rows: dict[str, int] = {}
    writer = _Writer(out, fmt)
    rows["crimes"] = _write_crimes(writer, crimes, world)
    rows["nominals"] = _write_nominals(writer, rng_core, people, world)
    rows["crime_nominals"], conflicts = _write_crime_nominals(writer, rng_core, crimes, people, world)
    intel_rows, intel_facts = _write_intel(writer, rng_intel, scale, people, world)
    rows.update(intel_rows)
    rows["custody_cells"], custody_facts = _write_custody(writer, rng_custody, scale, people, world)
    rows["soc_nominals"], rows["soc_edges"] = _write_soc(writer, world["soc"], world, dirty)

    dup_facts = _duplicates(out, fmt, truth_dir, seed, scale, duplicates, rows) if duplicates else {}
    dirty_facts = _make_dirty(out, fmt, rng_dirty, world, rows) if dirty else {}
    truth = _write_truth(truth_dir, world, people, crimes, conflicts, intel_facts, custody_facts, scale, seed)
    if dirty:
        (truth_dir / "dirty.json").write_text(json.dumps(dirty_facts, indent=2, sort_keys=True))
    allage_facts = _all_age(out, fmt, seed, scale, truth_dir, all_age)
    seconds = round(time.perf_counter() - t0, 2)
    return {"rows": rows, "seconds": seconds, "scale": scale, "seed": seed, "format": fmt, "dirty": dirty,
            "planted": truth["counts"], "dirty_rows": dirty_facts.get("planted", {}),
            "truth_dir": str(truth_dir), **({"duplicates": dup_facts} if duplicates else {}), **allage_facts}


def _duplicates(out: Path, fmt: str, truth_dir: Path, seed: int, scale: float, rate: float, rows: dict) -> dict:
    """Plant duplicate person records (duplicates.py) with their own random stream; write their truth."""
    from hiddennet.generate.duplicates import plant_duplicates

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(round(scale * 1_000_000)), 17]))
    facts = plant_duplicates(out, fmt, rng, rate)
    truth = facts.pop("truth")
    lines = ["cluster_id,nominal_id,source_system,how"] + [",".join(t) for t in truth]
    (truth_dir / "duplicates.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows["nominals"] += facts["records_added"]
    rows["nominal_crosswalk"] = facts["crosswalk_rows"]
    return facts


def _all_age(out: Path, fmt: str, seed: int, scale: float, truth_dir: Path, on: bool) -> dict:
    """The all-age plants when asked for; an earlier run's all-age files are removed either way."""
    for old in [*out.glob("missing_episodes.*"), *truth_dir.glob("allage_*.parquet")]:
        old.unlink()
    if not on:
        return {}
    from hiddennet.generate.allage import add_all_age

    return {"all_age": add_all_age(out, fmt, seed, scale, truth_dir)}


def _prepare_folder(out: Path, fmt: str) -> Path:
    """The planted-truth folder, made. A folder this generator wrote before loses its files of the other
    format and its old dirty plan, so it never holds two extracts (anything else in it is left alone)."""
    truth_dir = out / "planted_truth"
    if (truth_dir / "truth.json").exists():
        other = "parquet" if fmt == "csv" else "csv"
        for name in TABLES:
            (out / f"{name}.{other}").unlink(missing_ok=True)
        (truth_dir / "dirty.json").unlink(missing_ok=True)
        # A crosswalk and duplicate truth from an earlier `--duplicates` run would not match the new extract.
        (truth_dir / "duplicates.csv").unlink(missing_ok=True)
        for suffix in ("csv", "parquet"):
            (out / f"nominal_crosswalk.{suffix}").unlink(missing_ok=True)
    truth_dir.mkdir(exist_ok=True)
    return truth_dir


def _add_id_makers(world: dict, n_people: int, n_crimes: int) -> None:
    """Opaque text ids for people (`pid`) and crimes (`cref`), wide enough for the force's size."""
    id_width = max(8, len(str(n_people * 3)))
    modulus = 10 ** id_width
    world["pid"] = lambda idx: _ids("", idx, id_width, 7_654_321, modulus)
    crime_modulus = 10 ** max(7, len(str(n_crimes * 3)))
    world["cref"] = lambda idx: _ids("CR", idx, len(str(crime_modulus)) - 1, 3_456_787, crime_modulus)
    world["crimes_obj"] = world["crimes"]
    world["n_people"] = n_people
