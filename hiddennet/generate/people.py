"""People of the synthetic force: the person store, offenders' ages, intelligence-only people, nominals.csv."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hiddennet.generate.constants import _CHUNK, _D, _F, _M, _NO_DATE, _P, _U, FORENAMES_F, FORENAMES_M, SURNAMES
from hiddennet.generate.util import _date_str, _dob_for_age, _eth, _eth_str, _ids, _n, _pick, _sex, _sex_str, _take
from hiddennet.generate.writer import _Writer


class _People:
    """Every person of the synthetic force, added in blocks; attributes are int arrays."""

    def __init__(self):
        self.blocks: list[dict] = []
        self.n = 0

    def add(self, sex, dob, eth, kind: str) -> np.ndarray:
        k = len(sex)
        self.blocks.append({"sex": np.asarray(sex, np.int8), "dob": np.asarray(dob, np.int64),
                            "eth": np.asarray(eth, np.int8), "kind": kind, "start": self.n})
        self.n += k
        return np.arange(self.n - k, self.n)

    def freeze(self):
        self.sex = np.concatenate([b["sex"] for b in self.blocks])
        self.dob = np.concatenate([b["dob"] for b in self.blocks])
        self.eth = np.concatenate([b["eth"] for b in self.blocks])


def people_dob_lookup(people: _People, idx) -> np.ndarray:
    """Date of birth of people by index before freeze (blocks are contiguous)."""
    idx = np.asarray(idx, np.int64)
    out = np.full(len(idx), _NO_DATE, np.int64)
    for b in people.blocks:
        lo, hi = b["start"], b["start"] + len(b["sex"])
        sel = (idx >= lo) & (idx < hi)
        out[sel] = b["dob"][idx[sel] - lo]
    return out


def _offender_people(rng, first_date, victim_age, n):
    """Offenders' date of birth and sex: bimodal ages (peaks 14-16 and mid-30s), 75% male."""
    teen = rng.random(n) < _P["teen_offender"]
    # teenage offenders peak at 14-16; mostly no younger than their victim (a year younger now and then)
    drawn = 10 + _pick(rng, n, (0.5, 1.5, 3, 6, 9, 11, 10, 6))
    older_victim = drawn < victim_age
    teen_age = np.where(older_victim, np.where(rng.random(n) < 0.15, victim_age - 1, np.minimum(victim_age, 17)), drawn)
    teen_age = np.where(rng.random(n) < 0.15, rng.integers(13, 17, n), teen_age)
    adult_age = np.clip(np.round(rng.normal(35, 11, n)).astype(np.int64), 18, 85)
    adult_age = np.where(rng.random(n) < 0.15, rng.integers(18, 25, n), adult_age)
    age = np.where(teen, teen_age, adult_age)
    dob = _dob_for_age(rng, first_date, age)
    dob[rng.random(n) < _P["offender_dob_missing"]] = _NO_DATE
    sex = np.where(rng.random(n) < 0.735, _M, _F).astype(np.int8)  # rings add men: 75% overall
    sex[rng.random(n) < 0.005] = _U
    return dob, sex


def _add_intel_people(rng, s, people: _People) -> np.ndarray:
    """People known only to intelligence (15% with no date of birth)."""
    n = _n(_P["intel_only_people"], s, 50)
    dob = _dob_for_age(rng, np.full(n, _D), rng.integers(14, 75, n))
    dob[rng.random(n) < 0.15] = _NO_DATE
    return people.add(_sex(rng, n, 0.6), dob, _eth(rng, n, "other"), "intel_only")


def _write_nominals(w: _Writer, rng, people: _People, world) -> int:
    n = people.n
    # blanks that crime_nominals fills (resolved from the crime record by ingest)
    blank = rng.random(n) < 0.02
    world["nominal_blank"] = blank
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        idx = np.arange(lo, hi)
        b = blank[lo:hi]
        sex = people.sex[lo:hi]
        dob = np.where(b, _NO_DATE, people.dob[lo:hi])
        fn_i = rng.integers(0, 16, hi - lo)
        forename = pc.if_else(pa.array(sex == _F), _take(FORENAMES_F, fn_i), _take(FORENAMES_M, fn_i))
        surname = _take(SURNAMES, rng.integers(0, len(SURNAMES), hi - lo))
        has_pnc = rng.random(hi - lo) < 0.3
        # PNC-like id: two-digit year / seven digits + check letter (made up; 30% of people have one)
        yy = pc.utf8_lpad(pa.array(rng.integers(0, 100, hi - lo)).cast(pa.string()), width=2, padding="0")
        letter = _take(tuple("ABCDEFGHJKLMNPQRTUVWXYZ"), rng.integers(0, 23, hi - lo))
        pnc = pc.binary_join_element_wise(yy, pc.binary_join_element_wise(
            _ids("", idx, 7, 1_234_567, 10_000_000), letter, ""), "/")
        pnc = pc.if_else(pa.array(has_pnc), pnc, pa.nulls(hi - lo, pa.string()))
        w.write("nominals", {
            "nominal_id": world["pid"](idx),
            "date_of_birth": _date_str(dob),
            "sex": pc.if_else(pa.array(b), pa.nulls(hi - lo, pa.string()), _sex_str(sex)),
            "ethnicity": _eth_str(people.eth[lo:hi], rng),
            "forename": forename,
            "surname": surname,
            "pnc_id": pnc,
        })
    w.close("nominals")
    return n
