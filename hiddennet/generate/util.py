"""Small vectorised helpers of the generator: draws, calendar arithmetic on day numbers, text columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hiddennet.generate.constants import _F, _M, _NO_DATE, _U, _YEAR0


def _n(x: float, scale: float, minimum: int = 0) -> int:
    return max(minimum, int(round(x * scale)))


def _pick(rng, n, weights):
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size=n, p=w / w.sum())


def _year_dates(rng, n):
    """Offence/log dates 2010..2021-03-15: growth to 2019 with a dip in 2012, slower fall after 2019."""
    years = np.arange(_YEAR0, 2022)
    w = np.array([3.2, 3.6, 3.1, 4.3, 5.6, 7.2, 8.6, 10.0, 11.4, 12.6, 11.9, 11.6 * 74 / 365])
    y = years[_pick(rng, n, w)]
    start = np.array([np.datetime64(f"{v}-01-01", "D").astype(np.int64) for v in years])
    length = np.array([366 if v % 4 == 0 else 365 for v in years])
    length[-1] = 74  # 2021 up to 15 March
    i = y - _YEAR0
    return start[i] + (rng.random(n) * length[i]).astype(np.int64)


def _shift_years(day, years):
    """The same month and day `years` before `day` (29 February becomes 28 February), as day numbers."""
    d = np.asarray(day, np.int64).astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    dom = (d - m.astype("datetime64[D]")).astype(np.int64)
    m2 = m - (np.asarray(years, np.int64) * 12).astype("timedelta64[M]")
    last = ((m2 + np.timedelta64(1, "M")).astype("datetime64[D]") - m2.astype("datetime64[D]")).astype(np.int64)
    return (m2.astype("datetime64[D]") + np.minimum(dom, last - 1).astype("timedelta64[D]")).astype(np.int64)


def _dob_for_age(rng, on_day, age_years):
    """A date of birth giving exactly whole-year age `age_years` on `on_day` (vectorised, leap-day exact)."""
    on_day = np.asarray(on_day, np.int64)
    hi = _shift_years(on_day, age_years)  # born on this day: birthday reached, age is age_years
    lo = _shift_years(on_day, np.asarray(age_years) + 1)  # born on this day: already one year older
    return hi - np.floor(rng.random(len(on_day)) * (hi - lo)).astype(np.int64)


def _age(dob, day):
    """Whole years from dob to day (day-number arrays); -1 where dob is unknown."""
    dob = np.asarray(dob, np.int64)
    known = dob != _NO_DATE
    d = np.where(known, dob, 0).astype("datetime64[D]")
    t = np.asarray(day, np.int64).astype("datetime64[D]")

    def ymd(x):
        y = x.astype("datetime64[Y]")
        mo = x.astype("datetime64[M]")
        return (y.astype(np.int64) + 1970, (mo - y.astype("datetime64[M]")).astype(np.int64),
                (x - mo.astype("datetime64[D]")).astype(np.int64))

    dy, dm, dd = ymd(d)
    ty, tm, td = ymd(t)
    a = ty - dy - ((tm * 32 + td) < (dm * 32 + dd))
    return np.where(known, a, -1)


def _date_str(days) -> pa.Array:
    days = np.asarray(days, dtype=np.int64)
    mask = days == _NO_DATE
    arr = pa.array(np.where(mask, 0, days).astype(np.int32), type=pa.int32()).cast(pa.date32())
    s = arr.cast(pa.string())  # ISO 8601
    return pc.if_else(pa.array(mask), pa.nulls(len(days), pa.string()), s) if mask.any() else s


def _uniq(a):
    """Sorted unique values (sort-based: faster than numpy's hash unique on large int arrays)."""
    a = np.sort(np.asarray(a))
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a


def _ids(prefix: str, idx, width: int, mult: int, modulus: int) -> pa.Array:
    """Opaque text ids: a bijection of the index (so ids do not reveal order), zero-padded (leading zeros)."""
    v = (np.asarray(idx, dtype=np.int64) * mult + 7919) % modulus
    s = pc.utf8_lpad(pa.array(v).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, s, "") if prefix else s


def _take(values, idx) -> pa.Array:
    return pa.array(values, type=pa.string()).take(pa.array(np.asarray(idx, dtype=np.int64)))


def _sex(rng, n, p_male, p_unknown=0.006):
    u = rng.random(n)
    return np.where(u < p_unknown, _U, np.where(rng.random(n) < p_male, _M, _F)).astype(np.int8)


def _eth(rng, n, kind):
    """Officer-defined ethnicity; 0 = unknown. Offenders ~95% unknown (study 9.1.4), victims mostly IC1."""
    if kind == "offender":
        w = (95.0, 3.0, 0.2, 0.7, 0.8, 0.1, 0.2)
    elif kind == "victim":
        w = (24.0, 58.0, 2.0, 5.0, 8.0, 1.0, 2.0)
    else:
        w = (40.0, 42.0, 2.0, 5.0, 8.0, 1.0, 2.0)
    return _pick(rng, n, w).astype(np.int8)


def _matches(text: str, words) -> bool:
    t = " ".join(text.lower().split())
    return any(w in t for w in words)


def _sex_str(sex) -> pa.Array:
    a = _take(("", "M", "F"), sex)
    return pc.if_else(pc.equal(a, ""), pa.nulls(len(a), pa.string()), a)


def _eth_str(eth, rng) -> pa.Array:
    """Unknown ethnicity written as empty, IC9 or IC0 (all mean unknown)."""
    codes = ("", "IC1", "IC2", "IC3", "IC4", "IC5", "IC6", "IC9", "IC0")
    e = np.asarray(eth, np.int64).copy()
    unk = e == 0
    e[unk] = np.where(rng.random(int(unk.sum())) < 0.5, 0, np.where(rng.random(int(unk.sum())) < 0.8, 7, 8))
    a = _take(codes, e)
    return pc.if_else(pc.equal(a, ""), pa.nulls(len(a), pa.string()), a)
