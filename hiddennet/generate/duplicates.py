"""Duplicate person records with ground truth (opt-in: `hiddennet generate --duplicates RATE`).

Run after every table is written, on the written files, with its own random stream: a force generated
without `--duplicates` is byte-identical to one generated before this module existed. With it:
- every person gets a name from wider lists (the base generator draws from 16 forenames and 24
  surnames per sex, far fewer than a force's records hold, which would make most people namesakes):
  a forename of their sex from hundreds with a skewed frequency (forenames.py), a surname from ~19,000;
- and the identifiers a force's person record holds: a postcode (80% of records, about six records to a
  postcode) and a mobile number (45%); a second record of a person has them with realistic gaps and
  changes (a quarter without the postcode, a quarter another one: moved; half without a phone, a quarter
  another number), so they are evidence for the model, never a key;
- a share `rate` of the people named in crimes get one or two more records (2-3 ids per person):
  recorded twice in the crime system, once in prison records (`pins`) or in intelligence (`intel`),
  each with one or two of: a surname typo, a nickname, day and month swapped, a digit of the date of
  birth mistyped, a missing date of birth, sex or ethnicity; half keep the person's PNC id;
- the duplicate takes over some of the person's rows (crimes for `crime`, cell stays for `pins`,
  intelligence links for `intel`), so the person is split in the network until resolved;
- some prison ids have no person record at all: the cell stays name the prison id and the force's
  crosswalk (`nominal_crosswalk`) maps it to the person.
`planted_truth/duplicates.csv` lists every id of every duplicated person (cluster_id = the original id).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hiddennet.generate.forenames import FORENAMES_F, FORENAMES_M, forename_weights
from hiddennet.resolve.names import NICKNAMES

_FORENAMES = {"F": FORENAMES_F, "M": FORENAMES_M}
_SYLLABLES = ("ash", "bar", "ber", "bram", "brook", "cal", "car", "craw", "dal", "den", "dun", "el", "far", "fen",
              "gar", "hal", "har", "hart", "hol", "ing", "kel", "ken", "lan", "lee", "lin", "mar", "mer", "mil",
              "mor", "nor", "pem", "ran", "red", "ros", "sal", "shaw", "stan", "ston", "tal", "ter", "thorn", "wal",
              "war", "wen", "whit", "wil", "win", "york")
_ENDINGS = ("ton", "ley", "by", "field", "ford", "ham", "well", "wood", "worth", "son", "man", "er", "den", "more",
            "dale", "ridge", "s", "croft", "hurst", "wick")
_SYSTEMS = ("crime", "pins", "intel")
_AREAS = ("B", "WS", "WV", "DY", "CV", "ST", "WR")
_FULL_TO_NICK: dict[str, list[str]] = {}
for _nick, _full in sorted(NICKNAMES.items()):
    _FULL_TO_NICK.setdefault(_full, []).append(_nick)


def plant_duplicates(out: Path, fmt: str, rng: np.random.Generator, rate: float) -> dict:
    """Rewrite the written extract with duplicate records; return the facts for the truth file."""
    nominals = _read(out, "nominals", fmt)
    nominals = _rename_people(rng, nominals)
    tables = {t: _read(out, t, fmt) for t in ("crime_nominals", "custody_cells", "intel_nominals")}
    used = np.unique(tables["crime_nominals"].column("nominal_id").to_numpy(zero_copy_only=False))
    ids = nominals.column("nominal_id").to_numpy(zero_copy_only=False)
    row_of = {nid: i for i, nid in enumerate(ids)}
    chosen = sorted(nid for nid in used[rng.random(len(used)) < rate] if nid in row_of)
    cols = {c: nominals.column(c).to_pylist() for c in nominals.column_names}
    pool = sorted({p for p in cols["postcode"] if p})
    new_rows: list[dict] = []
    truth: list[tuple[str, str, str, str]] = []
    crosswalk: list[tuple[str, str, str]] = []
    moves: dict[str, dict[str, str]] = {t: {} for t in tables}  # table -> original id -> duplicate id
    counter = 0
    for nid in chosen:
        truth.append((nid, nid, "crime", "original"))
        base = {c: cols[c][row_of[nid]] for c in cols}
        for _ in range(1 if rng.random() < 0.7 else 2):
            counter += 1
            system = _SYSTEMS[int(rng.choice(3, p=(0.5, 0.25, 0.25)))]
            dup_id = f"D{system[0].upper()}{counter:07d}"
            record, how = _corrupt(rng, dict(base))
            _identifiers(rng, record, pool)
            record.update(nominal_id=dup_id, source_system=system)
            if not (base["pnc_id"] and rng.random() < 0.5):
                record["pnc_id"] = None
            table = {"crime": "crime_nominals", "pins": "custody_cells", "intel": "intel_nominals"}[system]
            moves[table].setdefault(nid, dup_id)
            if system == "pins" and rng.random() < 0.3:
                crosswalk.append(("pins", dup_id, nid))  # known to prison records only: no person record
                truth.append((nid, dup_id, system, "crosswalk_only"))
                continue
            if system == "pins" and rng.random() < 0.5:
                crosswalk.append(("pins", dup_id, nid))
            new_rows.append(record)
            truth.append((nid, dup_id, system, how))
    _write_nominals(out, fmt, cols, new_rows)
    for t, moved in moves.items():
        _write(out, t, fmt, _move_rows(rng, tables[t], moved))
    _write(out, "nominal_crosswalk", fmt, pa.table({
        "source_system": [c[0] for c in crosswalk], "source_id": [c[1] for c in crosswalk],
        "nominal_id": [c[2] for c in crosswalk]}, schema=pa.schema([(n, pa.string()) for n in
                                                                    ("source_system", "source_id", "nominal_id")])))
    return {"truth": truth, "people_duplicated": len(chosen), "records_added": len(new_rows),
            "crosswalk_rows": len(crosswalk)}


def _read(out: Path, name: str, fmt: str) -> pa.Table:
    path = out / f"{name}.{fmt}"
    if fmt == "csv":
        names = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20)).column_names
        opts = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
        return pacsv.read_csv(path, convert_options=opts)
    return pq.read_table(path)


def _write(out: Path, name: str, fmt: str, table: pa.Table) -> None:
    path = out / f"{name}.{fmt}"
    if fmt == "csv":
        pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="needed"))
    else:
        pq.write_table(table, path, compression="zstd")


def _rename_people(rng: np.random.Generator, nominals: pa.Table) -> pa.Table:
    """Every person a forename of their sex from hundreds, with a skewed frequency (forenames.py), a surname
    from ~19,000, and the identifiers a force's person record holds: a postcode (80% of records) and a
    mobile number (45%)."""
    n = nominals.num_rows
    sex = nominals.column("sex").to_pylist()
    f_pick = rng.choice(len(_FORENAMES["F"]), n, p=forename_weights(len(_FORENAMES["F"])))
    m_pick = rng.choice(len(_FORENAMES["M"]), n, p=forename_weights(len(_FORENAMES["M"])))
    forenames = [_FORENAMES["F"][f] if s == "F" else _FORENAMES["M"][m] for s, f, m in zip(sex, f_pick, m_pick,
                                                                                        strict=True)]
    a, b, c = (rng.integers(0, k, n) for k in (len(_SYLLABLES), len(_SYLLABLES), len(_ENDINGS)))
    surnames = [(_SYLLABLES[x] + _SYLLABLES[y] + _ENDINGS[z]).capitalize() for x, y, z in zip(a, b, c, strict=True)]
    pool = _postcodes(rng, max(50, n // 6))  # about six person records to a postcode: households, flats
    postcodes = [pool[i] if keep else None for i, keep in zip(rng.integers(0, len(pool), n).tolist(),
                                                               (rng.random(n) < 0.8).tolist(), strict=True)]
    phones = [f"07{x:09d}" if keep else None for x, keep in zip(rng.integers(0, 10**9, n).tolist(),
                                                                 (rng.random(n) < 0.45).tolist(), strict=True)]
    nominals = nominals.set_column(nominals.column_names.index("forename"), "forename", pa.array(forenames))
    nominals = nominals.set_column(nominals.column_names.index("surname"), "surname", pa.array(surnames))
    return nominals.append_column("postcode", pa.array(postcodes, pa.string())).append_column(
        "phone", pa.array(phones, pa.string()))


def _postcodes(rng: np.random.Generator, k: int) -> list[str]:
    """`k` distinct postcodes of the force's areas (outward code, space, inward code), drawn in bulk."""
    letters = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))  # the inward code's letters (no C, I, K, M, O, V)
    out: set[str] = set()
    while len(out) < k:
        m = 2 * (k - len(out))
        area = np.array(_AREAS)[rng.integers(0, len(_AREAS), m)]
        district, sector = rng.integers(1, 40, m), rng.integers(0, 10, m)
        unit = np.char.add(letters[rng.integers(0, 20, m)], letters[rng.integers(0, 20, m)])
        for a, d, s, u in zip(area.tolist(), district.tolist(), sector.tolist(), unit.tolist(), strict=True):
            if len(out) < k:
                out.add(f"{a}{d} {s}{u}")
    return sorted(out)


def _phone(rng: np.random.Generator) -> str:
    return f"07{int(rng.integers(0, 10**9)):09d}"  # a UK mobile number


def _identifiers(rng: np.random.Generator, record: dict, pool: list[str]) -> None:
    """A second record's postcode and phone as another system holds them: often not taken (missing), a
    person who moved or changed number between the two records, and now and then a mistyped postcode."""
    if record.get("postcode") is not None or rng.random() < 0.5:
        u = rng.random()
        if u < 0.25:
            record["postcode"] = None
        elif u < 0.5:
            record["postcode"] = pool[int(rng.integers(0, len(pool)))]  # moved (or an earlier address)
        elif u < 0.53 and record.get("postcode"):
            pc = record["postcode"]
            i = int(rng.integers(0, len(pc)))
            record["postcode"] = pc[:i] + pc[i + 1:] if pc[i] != " " else pc.replace(" ", "")
    u = rng.random()
    if u < 0.5:
        record["phone"] = None
    elif u < 0.75 or record.get("phone") is None:
        record["phone"] = _phone(rng) if rng.random() < 0.6 else None  # a new number, or none taken


def _corrupt(rng: np.random.Generator, record: dict) -> tuple[dict, str]:
    """One or two of the ways a second record of a person differs from the first."""
    ways = ("surname_typo", "nickname", "swapped_day_month", "dob_typo", "missing_dob", "missing_sex",
            "missing_ethnicity", "none")
    weights = np.array((0.22, 0.16, 0.14, 0.1, 0.04, 0.08, 0.08, 0.18))
    picked = sorted(set(rng.choice(len(ways), size=int(rng.integers(1, 3)), p=weights / weights.sum()).tolist()))
    done = []
    for w in (ways[i] for i in picked):
        if _apply(rng, record, w):
            done.append(w)
    return record, "+".join(done) or "none"


def _apply(rng: np.random.Generator, r: dict, way: str) -> bool:
    dob = r.get("date_of_birth")
    if way == "surname_typo" and r.get("surname"):
        s = r["surname"]
        i = int(rng.integers(1, len(s)))
        r["surname"] = s[:i] + s[i + 1:] if rng.random() < 0.5 else s[:i] + "aeiou"[int(rng.integers(0, 5))] + s[i + 1:]
        return True
    if way == "nickname" and r.get("forename") and r["forename"].lower() in _FULL_TO_NICK:
        options = _FULL_TO_NICK[r["forename"].lower()]
        r["forename"] = options[int(rng.integers(0, len(options)))].capitalize()
        return True
    if way == "swapped_day_month" and dob and int(dob[8:10]) <= 12 and dob[5:7] != dob[8:10]:
        r["date_of_birth"] = f"{dob[:4]}-{dob[8:10]}-{dob[5:7]}"
        return True
    if way == "dob_typo" and dob:
        # One keystroke: the day's last digit replaced by another that still gives a day of every month.
        tens = dob[8]
        digits = [d for d in "0123456789" if d != dob[9] and 1 <= int(tens + d) <= 28]
        if not digits:  # the 30th or 31st: the tens digit mistyped instead
            r["date_of_birth"] = f"{dob[:8]}2{dob[9]}"
            return True
        r["date_of_birth"] = f"{dob[:9]}{digits[int(rng.integers(0, len(digits)))]}"
        return True
    if way in ("missing_dob", "missing_sex", "missing_ethnicity"):
        col = {"missing_dob": "date_of_birth", "missing_sex": "sex", "missing_ethnicity": "ethnicity"}[way]
        r[col] = None
        return True
    return way == "none"


def _write_nominals(out: Path, fmt: str, cols: dict[str, list], new_rows: list[dict]) -> None:
    names = [*cols, "source_system"]
    data = {c: cols.get(c, [None] * len(cols["nominal_id"])) + [r.get(c) for r in new_rows] for c in names}
    _write(out, "nominals", fmt, pa.table({c: pa.array(v, pa.string()) for c, v in data.items()}))


def _move_rows(rng: np.random.Generator, table: pa.Table, moved: dict[str, str]) -> pa.Table:
    """Some rows of each duplicated person (about half, at least one) now name the duplicate id."""
    ids = table.column("nominal_id").to_pylist()
    out = list(ids)
    first_seen: set[str] = set()
    for i, nid in enumerate(ids):
        dup = moved.get(nid)
        if dup is None:
            continue
        if nid not in first_seen or rng.random() < 0.5:
            out[i] = dup
        first_seen.add(nid)
    return table.set_column(table.column_names.index("nominal_id"), "nominal_id", pa.array(out, pa.string()))
