"""Crimes and their people (crimes.csv, crime_nominals.csv): selected victim histories, planted rings, and
every kind of crime the selection must reject, each built by its own function in a fixed order.

The order of the random draws is what makes a seed give the same bytes: each builder below takes
the one generator of the world and draws in the order `_build_crimes` calls them.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    ADULT_SEX_TITLES,
    CHILD_WORDS,
    CSA_TITLES,
    FLAG_ONLY_TITLES,
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
    LOCAL_AREAS,
    LOCATION_TYPES,
    MO_OTHER,
    MO_OTHER_ACCIDENTAL,
    MO_PLAIN,
    MO_RING,
    MO_WORD,
    OTHER_TITLES,
    R_OTHER,
    R_VICTIM,
    R_WITNESS,
    ROLE_NAMES,
    SEX_WORDS,
)
from hiddennet.generate.people import _offender_people, _People, people_dob_lookup
from hiddennet.generate.util import (
    _age,
    _date_str,
    _dob_for_age,
    _eth,
    _eth_str,
    _matches,
    _n,
    _pick,
    _sex,
    _sex_str,
    _take,
    _uniq,
    _year_dates,
)
from hiddennet.generate.writer import _Writer


class _Crimes:
    """Crimes and their nominal links, added in blocks."""

    def __init__(self):
        self.c: dict[str, list] = {k: [] for k in ("date", "title", "code", "da", "ifc", "mo", "loc", "area", "kind")}
        self.l: dict[str, list] = {k: [] for k in ("crime", "person", "role")}
        self.n = 0
        # Filled when written: the concatenated crime columns and the deduplicated links.
        self.arr: dict[str, np.ndarray] = {}
        self.links: dict[str, np.ndarray] = {}

    def add(self, date, title, code, da, ifc, mo, loc, area, kind: int) -> np.ndarray:
        k = len(date)
        for key, v in (("date", date), ("title", title), ("code", code), ("da", da), ("ifc", ifc), ("mo", mo),
                       ("loc", loc), ("area", area)):
            self.c[key].append(np.asarray(v))
        self.c["kind"].append(np.full(k, kind, np.int8))
        self.n += k
        return np.arange(self.n - k, self.n)

    def link(self, crime, person, role):
        crime = np.asarray(crime, np.int64)
        self.l["crime"].append(crime)
        self.l["person"].append(np.asarray(person, np.int64))
        self.l["role"].append(np.broadcast_to(np.asarray(role, np.int8), crime.shape).copy())



class _Catalogue:
    """The title and MO tables shared by every crime (CSA, adult sexual, other, flag-only) and offsets into them."""

    def __init__(self):
        self.csa_w = np.array([t[2] for t in CSA_TITLES], float)
        self.csa_sex = np.array([{"F": _F, "M": _M, "": _U}[t[3]] for t in CSA_TITLES])
        self.csa_max_age = np.array([t[4] for t in CSA_TITLES])
        self.title_match = np.array([_matches(t[0], CHILD_WORDS) and _matches(t[0], SEX_WORDS) for t in CSA_TITLES])
        self.titles = [(t[0], t[1]) for t in CSA_TITLES] + [(t[0], t[1]) for t in ADULT_SEX_TITLES] \
            + [(t[0], t[1]) for t in OTHER_TITLES] + list(FLAG_ONLY_TITLES)
        self.off_adult = len(CSA_TITLES)
        self.off_other = self.off_adult + len(ADULT_SEX_TITLES)
        self.off_flag = self.off_other + len(OTHER_TITLES)
        self.mos = list(MO_WORD) + list(MO_PLAIN) + list(MO_OTHER) + list(MO_OTHER_ACCIDENTAL)
        self.mo_plain0 = len(MO_WORD)
        self.mo_other0 = self.mo_plain0 + len(MO_PLAIN)
        self.mo_acc0 = self.mo_other0 + len(MO_OTHER)
        self.ring_mo = np.array([self.mos.index(m) for m in MO_RING])


class _Draw:
    """Draws of crime fields from the world's generator."""

    def __init__(self, rng, cat: _Catalogue):
        self.rng, self.cat = rng, cat

    def victim_ages(self, n):
        # peak at 14 (study figure 4)
        w = np.array([0.6, 0.8, 1, 1.2, 1.5, 1.8, 2, 2.2, 2.5, 2.8, 3.2, 3.8, 5.5, 9, 13.5, 12, 9, 6.5])
        return _pick(self.rng, n, w)

    def csa_fields(self, n, vsex=None, vage=None):
        """Title, MO and flags of n selected crimes; each crime matches the profile by at least one route."""
        rng, cat = self.rng, self.cat
        title = _pick(rng, n, cat.csa_w)
        if vage is not None:  # keep titles plausible for the victim's age and sex
            bad = (cat.csa_max_age[title] < vage) | ((cat.csa_sex[title] != _U) & (vsex is not None)
                                                     & (cat.csa_sex[title] != vsex))
            for _ in range(6):
                if not bad.any():
                    break
                title[bad] = _pick(rng, int(bad.sum()), cat.csa_w)
                bad = (cat.csa_max_age[title] < vage) | ((cat.csa_sex[title] != _U) & (cat.csa_sex[title] != vsex))
            title[bad] = 3  # "Distribute indec photo of child" fits any child victim
        ifc = _pick(rng, n, _IFC_SELECTED_W)
        mo = np.where(rng.random(n) < 0.62, _pick(rng, n, _MO_WORD_W),
                      cat.mo_plain0 + rng.integers(0, len(MO_PLAIN), n))
        flag = np.isin(ifc, [1, 2, 3, 4, 5, 12])
        silent = ~cat.title_match[title] & ~flag & (mo >= cat.mo_plain0)
        mo[silent] = _pick(rng, int(silent.sum()), _MO_WORD_W)
        return title, ifc, mo

    def loc_area(self, n):
        return _pick(self.rng, n, _LOC_W), _pick(self.rng, n, _AREA_W)


def _build_crimes(rng, s: float) -> dict:
    """Every crime and its people: selected victim histories, rings, and the crimes the selection must reject."""
    people = _People()
    crimes = _Crimes()
    cat = _Catalogue()
    draw = _Draw(rng, cat)
    # repeat (prolific) offenders: the offset grows with scale, so the busiest has ~30 crimes at any scale
    rp = _n(_P["repeat_pool"], s, 20)
    pool_w = (np.arange(rp) + 200.0 * s) ** -1.2
    pool_w /= pool_w.sum()
    h = _victim_histories(rng, s, people, crimes, draw)
    code, fresh_codes, f_first, pool_used, p_first = _primary_offender_codes(rng, h, rp, pool_w)
    prim_person, co_people = _selected_crime_offenders(rng, h, people, crimes, code, fresh_codes, f_first,
                                                       pool_used, p_first, rp)
    _extra_victims(rng, h, people, crimes)
    selected_offenders = _uniq(np.concatenate([prim_person, co_people]))
    rings = _plant_rings(rng, s, people, crimes, draw.csa_fields, cat.ring_mo)
    _under10_crimes(rng, s, people, crimes, draw)
    ov = _overlap_crimes(rng, s, people, crimes, draw, selected_offenders)
    _adult_victim_crimes(rng, s, people, crimes, draw)
    _domestic_abuse_crimes(rng, s, people, crimes, draw)
    _no_dob_crimes(rng, s, people, crimes, draw)
    _flag_only_crimes(rng, s, people, crimes, draw)
    oth = _other_offence_crimes(rng, s, people, crimes, draw, selected_offenders)
    _witnesses(rng, people, crimes)
    return {"people": people, "crimes": crimes, "titles": cat.titles, "mos": cat.mos, "rings": rings,
            "selected_offenders": selected_offenders, "other_offenders": oth, "overlap_people": ov,
            "title_match": cat.title_match, "born_after_victims": h.victims[h.born_after]}


def _victim_histories(rng, s, people: _People, crimes: _Crimes, draw: _Draw) -> SimpleNamespace:
    """Selected crimes by victim: single, repeat (one offender) and linked (two or more offenders) victims."""
    nv_s, nv_r, nv_l = _n(_P["victims_single"], s, 5), _n(_P["victims_repeat"], s, 2), _n(_P["victims_linked"], s, 3)
    m_s = np.ones(nv_s, np.int64)
    m_r = rng.integers(2, 5, nv_r)
    m_l = 2 + np.minimum(rng.geometric(0.5, nv_l) - 1, 10)  # with rings and co-offending: ~1.4 pairs per crime
    m = np.concatenate([m_s, m_r, m_l])
    vkind = np.concatenate([np.zeros(nv_s, np.int8), np.ones(nv_r, np.int8), np.full(nv_l, 2, np.int8)])
    nv = len(m)
    d0 = _year_dates(rng, nv)
    a0 = draw.victim_ages(nv)
    vsex = np.where(rng.random(nv) < 0.66, _F, _M).astype(np.int8)
    vsex[rng.random(nv) < 0.009] = _U
    vdob = _dob_for_age(rng, d0, a0)
    # later crimes within a span that keeps the victim a child and before the extract date
    limit = np.minimum(vdob + int(17.9 * 365.2425) - d0, _D - d0)
    span = np.minimum(rng.integers(30, 900, nv), np.maximum(limit, 0))
    vic = np.repeat(np.arange(nv), m)
    j = np.arange(len(vic)) - np.repeat(np.cumsum(m) - m, m)  # crime number within victim
    cdate = d0[vic] + np.where(j == 0, 0, (rng.random(len(vic)) * span[vic]).astype(np.int64))
    order = np.lexsort((cdate, vic))
    cdate = cdate[order]  # sorted by date within victim; j keeps its 0.. sequence
    nc = len(vic)
    # born after the offence: single victims, the date of birth is an error (study: 306 crimes)
    nb = min(_n(_P["born_after"], s, 1), nv_s)
    born_after = rng.choice(np.flatnonzero(d0[:nv_s] < _D - 331), nb, replace=False)  # a birth date still in the past
    vdob[born_after] = np.minimum(d0[born_after] + rng.integers(1, 330, nb), _D)
    victims = people.add(vsex, vdob, _eth(rng, nv, "victim"), "victim")
    vage_c = np.maximum(_age(vdob[vic], cdate), 0)
    title, ifc, mo = draw.csa_fields(nc, vsex[vic], vage_c)
    loc, area = draw.loc_area(nc)
    da = np.zeros(nc, bool)
    cidx = crimes.add(cdate, title, title, da, ifc, mo, loc, area, K_SELECTED)
    crimes.link(cidx, victims[vic], R_VICTIM)
    return SimpleNamespace(m=m, vkind=vkind, vic=vic, j=j, cdate=cdate, nc=nc, victims=victims,
                           born_after=born_after, vage_c=vage_c, cidx=cidx)


def _primary_offender_codes(rng, h: SimpleNamespace, rp: int, pool_w):
    """The primary offender of each selected crime, as a code: k >= 0 is repeat-pool member k, -1-i a new
    person created at crime i. Linked victims: nearly every crime by a new person (the study's final table
    has ~1 offender per crime)."""
    m, vkind, vic, j, nc = h.m, h.vkind, h.vic, h.j, h.nc
    fresh = rng.random(nc) < np.where(vkind[vic] == 2, 0.98, _P["fresh_offender"])
    code = np.where(fresh, -1 - np.arange(nc), rng.choice(rp, nc, p=pool_w))
    first_of_vic = np.cumsum(m) - m
    is_r = vkind[vic] == 1  # repeat victims: one offender for all their crimes
    code[is_r] = code[first_of_vic[vic[is_r]]]
    is_l = vkind[vic] == 2  # linked victims: later crimes sometimes reuse an earlier offender of the victim
    for jj in range(2, int(m.max())):
        sel = np.flatnonzero(is_l & (j == jj) & (rng.random(nc) < _P["linked_repeat_offender"]))
        code[sel] = code[sel - rng.integers(1, jj + 1, len(sel))]
    sec = np.flatnonzero(is_l & (j == 1))  # a linked victim's second crime has a different offender
    same = code[sec] == code[sec - 1]
    code[sec[same]] = np.where(code[sec[same]] >= 0, (code[sec[same]] + 1) % rp, -1 - sec[same])
    fresh_codes = _uniq(code[code < 0])
    f_first = -1 - fresh_codes
    # a repeat offender's date of birth is set from their earliest crime (no one offends before age 10 by accident)
    pc_idx = np.flatnonzero(code >= 0)
    pc_idx = pc_idx[np.lexsort((h.cdate[pc_idx], code[pc_idx]))]
    firsts = np.r_[True, code[pc_idx][1:] != code[pc_idx][:-1]]
    return code, fresh_codes, f_first, code[pc_idx][firsts], pc_idx[firsts]


def _selected_crime_offenders(rng, h: SimpleNamespace, people: _People, crimes: _Crimes, code, fresh_codes,
                              f_first, pool_used, p_first, rp: int):
    """People for the offenders of selected crimes (fresh, repeat pool, co-offenders on 2% of crimes), linked."""
    nc, cidx = h.nc, h.cidx
    n_off = np.ones(nc, np.int64)
    multi = rng.random(nc) < _P["multi_offender_crime"]
    n_off[multi] = 2 + _pick(rng, int(multi.sum()), (60, 20, 10, 5, 3, 1, 1))
    extra_crime = np.repeat(np.arange(nc), n_off - 1)
    # fresh offenders + co-offenders are new people; repeat pool members are people too.
    n_co = len(extra_crime)
    off_first_crime = np.concatenate([f_first, p_first, extra_crime])
    n_new = len(off_first_crime)
    odob, osex = _offender_people(rng, h.cdate[off_first_crime], h.vage_c[off_first_crime], n_new)
    off_people = people.add(osex, odob, _eth(rng, n_new, "offender"), "offender")
    nf_, np_ = len(f_first), len(p_first)
    pool_people = np.full(rp, -1, np.int64)
    pool_people[pool_used] = off_people[nf_:nf_ + np_]
    co_people = off_people[nf_ + np_:]
    fresh_person = off_people[:nf_][np.minimum(np.searchsorted(fresh_codes, np.minimum(code, -1)), max(nf_ - 1, 0))]
    prim_person = np.where(code >= 0, pool_people[np.maximum(code, 0)], fresh_person)
    role = _pick(rng, nc, _OFF_ROLE_W) + 1
    crimes.link(cidx, prim_person, role)
    crimes.link(cidx[extra_crime], co_people, _pick(rng, n_co, _OFF_ROLE_W) + 1)
    return prim_person, co_people


def _extra_victims(rng, h: SimpleNamespace, people: _People, crimes: _Crimes) -> None:
    """Second and third victims on some crimes: new children of a similar age, this crime only."""
    nc = h.nc
    two = rng.random(nc) < _P["second_victim"]
    three = two & (rng.random(nc) < _P["third_victim"] / _P["second_victim"])
    ev_crime = np.concatenate([np.flatnonzero(two), np.flatnonzero(three)])
    ev_age = np.clip(h.vage_c[ev_crime] + rng.integers(-1, 2, len(ev_crime)), 0, 17)
    ev_sex = np.where(rng.random(len(ev_crime)) < 0.62, _F, _M)
    ev_people = people.add(ev_sex, _dob_for_age(rng, h.cdate[ev_crime], ev_age), _eth(rng, len(ev_crime), "victim"),
                           "victim")
    crimes.link(h.cidx[ev_crime], ev_people, R_VICTIM)


def _under10_crimes(rng, s, people: _People, crimes: _Crimes, draw: _Draw) -> None:
    """Crimes whose only offender is below the age of criminal responsibility."""
    nu = _n(_P["under10_rows"], s, 1)
    ud = _year_dates(rng, nu)
    uva = rng.integers(3, 13, nu)
    uv = people.add(np.where(rng.random(nu) < 0.6, _F, _M), _dob_for_age(rng, ud, uva), _eth(rng, nu, "victim"),
                    "victim")
    uo = people.add(np.where(rng.random(nu) < 0.7, _M, _F), _dob_for_age(rng, ud, rng.integers(5, 10, nu)),
                    _eth(rng, nu, "offender"), "under10_offender")
    t_, i_, m_ = draw.csa_fields(nu, None, None)
    l_, a_ = draw.loc_area(nu)
    uc = crimes.add(ud, t_, t_, np.zeros(nu, bool), i_, m_, l_, a_, K_UNDER10)
    crimes.link(uc, uv, R_VICTIM)
    crimes.link(uc, uo, _pick(rng, nu, _OFF_ROLE_W) + 1)


def _overlap_crimes(rng, s, people: _People, crimes: _Crimes, draw: _Draw, selected_offenders):
    """Victim-offender overlaps: teenage offenders who were victims earlier. Returns the overlap people."""
    cat = draw.cat
    offenders_dob = people_dob_lookup(people, selected_offenders)
    # candidates: young offenders (under 24 on the extract date), each made the victim of an earlier crime at 11-13
    teen = selected_offenders[(offenders_dob != _NO_DATE) & (offenders_dob > _D - 24 * 365)]
    no = min(_n(_P["overlap_people"], s, 1), len(teen))
    ov = np.sort(rng.choice(teen, no, replace=False)) if no else np.array([], np.int64)
    ov_dob = people_dob_lookup(people, ov)
    od = np.minimum(ov_dob + ((11 + rng.random(no) * 3) * 365.2425).astype(np.int64), _D - 1)
    selected_kind = rng.random(no) < 0.5  # half were victims of a selected crime, half of another offence
    ot = np.where(selected_kind, 0, cat.off_other + 1)
    oi = np.where(selected_kind, 1, 0)
    om = np.where(selected_kind, 0, cat.mo_other0 + 1)
    l_, a_ = draw.loc_area(no)
    oc = crimes.add(od, ot, ot, np.zeros(no, bool), oi, om, l_, a_, K_OVERLAP)
    crimes.link(oc, ov, R_VICTIM)
    oo = people.add(np.full(no, _M), _dob_for_age(rng, od, rng.integers(19, 45, no)), _eth(rng, no, "offender"),
                    "offender")
    crimes.link(oc, oo, 1)
    return ov


def _adult_victim_crimes(rng, s, people: _People, crimes: _Crimes, draw: _Draw) -> None:
    """Rejected: sexual offences against adults."""
    cat = draw.cat
    adult_w = np.array([t[2] for t in ADULT_SEX_TITLES], float)
    na = _n(_P["adult_victim_sexual"], s, 1)
    ad = _year_dates(rng, na)
    av = people.add(_sex(rng, na, 0.15), _dob_for_age(rng, ad, rng.integers(18, 65, na)), _eth(rng, na, "victim"),
                    "adult_victim")
    ao = people.add(_sex(rng, na, 0.93), _dob_for_age(rng, ad, rng.integers(18, 70, na)), _eth(rng, na, "offender"),
                    "other_offender")
    at = cat.off_adult + _pick(rng, na, adult_w)
    l_, a_ = draw.loc_area(na)
    am = np.where(rng.random(na) < 0.7, _pick(rng, na, _MO_WORD_W),
                  cat.mo_plain0 + rng.integers(0, len(MO_PLAIN), na))
    ac = crimes.add(ad, at, at, rng.random(na) < 0.25, _pick(rng, na, _IFC_OTHER_W), am, l_, a_, K_ADULT)
    crimes.link(ac, av, R_VICTIM)
    crimes.link(ac, ao, _pick(rng, na, _OFF_ROLE_W) + 1)


def _domestic_abuse_crimes(rng, s, people: _People, crimes: _Crimes, draw: _Draw) -> None:
    """Rejected: domestic abuse flagged child sexual abuse."""
    nd = _n(_P["da_flagged"], s, 1)
    dd = _year_dates(rng, nd)
    dva = draw.victim_ages(nd)
    dvs = np.where(rng.random(nd) < 0.7, _F, _M)
    dv = people.add(dvs, _dob_for_age(rng, dd, dva), _eth(rng, nd, "victim"), "da_victim")
    do = people.add(_sex(rng, nd, 0.85), _dob_for_age(rng, dd, rng.integers(18, 60, nd)), _eth(rng, nd, "offender"),
                    "other_offender")
    t_, i_, m_ = draw.csa_fields(nd, dvs, dva)
    i_ = np.where(rng.random(nd) < 0.5, 10, 6)  # DA;CAO or DA
    l_, a_ = draw.loc_area(nd)
    dc = crimes.add(dd, t_, t_, np.ones(nd, bool), i_, m_, l_, a_, K_DA)
    crimes.link(dc, dv, R_VICTIM)
    crimes.link(dc, do, _pick(rng, nd, _OFF_ROLE_W) + 1)


def _no_dob_crimes(rng, s, people: _People, crimes: _Crimes, draw: _Draw) -> None:
    """Rejected: child victims with no date of birth (a data gap)."""
    nn = _n(_P["victim_no_dob"], s, 1)
    nd_ = _year_dates(rng, nn)
    nvv = people.add(np.where(rng.random(nn) < 0.66, _F, _M), np.full(nn, _NO_DATE), _eth(rng, nn, "victim"),
                     "victim_no_dob")
    nof = people.add(_sex(rng, nn, 0.8), _dob_for_age(rng, nd_, rng.integers(14, 60, nn)), _eth(rng, nn, "offender"),
                     "other_offender")
    t_, i_, m_ = draw.csa_fields(nn, None, None)
    l_, a_ = draw.loc_area(nn)
    ncx = crimes.add(nd_, t_, t_, np.zeros(nn, bool), i_, m_, l_, a_, K_NODOB)
    crimes.link(ncx, nvv, R_VICTIM)
    crimes.link(ncx, nof, _pick(rng, nn, _OFF_ROLE_W) + 1)


def _flag_only_crimes(rng, s, people: _People, crimes: _Crimes, draw: _Draw) -> None:
    """Selected by the CSE flag only: title and MO silent (a data gap the method still catches)."""
    cat = draw.cat
    nf = _n(_P["flag_only_gap"], s, 1)
    fd = _year_dates(rng, nf)
    fva = rng.integers(12, 18, nf)
    fv = people.add(np.where(rng.random(nf) < 0.75, _F, _M), _dob_for_age(rng, fd, fva), _eth(rng, nf, "victim"),
                    "victim")
    fo = people.add(_sex(rng, nf, 0.9), _dob_for_age(rng, fd, rng.integers(18, 45, nf)), _eth(rng, nf, "offender"),
                    "offender")
    ft = cat.off_flag + rng.integers(0, len(FLAG_ONLY_TITLES), nf)
    l_, a_ = draw.loc_area(nf)
    fc_ = crimes.add(fd, ft, ft, np.zeros(nf, bool), np.where(rng.random(nf) < 0.7, 1, 12),
                     cat.mo_other0 + rng.integers(0, len(MO_OTHER), nf), l_, a_, K_FLAGONLY)
    crimes.link(fc_, fv, R_VICTIM)
    crimes.link(fc_, fo, _pick(rng, nf, _OFF_ROLE_W) + 1)


def _other_offence_crimes(rng, s, people: _People, crimes: _Crimes, draw: _Draw, selected_offenders):
    """Rejected: other offences; some offenders are CSE offenders (their harm counts them). Returns the
    other offenders (people who offend but not in a selected crime)."""
    cat = draw.cat
    no_ = _n(_P["other_crimes"], s, 1)
    od_ = _year_dates(rng, no_)
    child = rng.random(no_) < 0.15
    ova = np.where(child, rng.integers(8, 18, no_), rng.integers(18, 80, no_))
    ovv = people.add(_sex(rng, no_, 0.52), _dob_for_age(rng, od_, ova), _eth(rng, no_, "other"), "other_victim")
    other_w = np.array([t[2] for t in OTHER_TITLES], float)
    ot_ = cat.off_other + _pick(rng, no_, other_w)
    om_ = cat.mo_other0 + rng.integers(0, len(MO_OTHER), no_)
    acc = ~child & (rng.random(no_) < 0.03)
    om_[acc] = cat.mo_acc0 + rng.integers(0, len(MO_OTHER_ACCIDENTAL), int(acc.sum()))
    oi_ = _pick(rng, no_, _IFC_OTHER_W)
    l_, a_ = draw.loc_area(no_)
    occ = crimes.add(od_, ot_, ot_, np.isin(oi_, [6, 10]), oi_, om_, l_, a_, K_OTHER)
    crimes.link(occ, ovv, R_VICTIM)
    # offenders: 20% known CSE offenders, else other offenders with repeats
    from_cse = rng.random(no_) < 0.20
    n_oth = _n(60_000, s, 5)
    oth = people.add(_sex(rng, n_oth, 0.8), _dob_for_age(rng, np.full(n_oth, _D), rng.integers(15, 70, n_oth)),
                     _eth(rng, n_oth, "other"), "other_offender")
    ow = (np.arange(n_oth) + 50.0 * s) ** -0.9
    oo_ = np.where(from_cse, rng.choice(selected_offenders, no_), oth[rng.choice(n_oth, no_, p=ow / ow.sum())])
    crimes.link(occ, oo_, _pick(rng, no_, _OFF_ROLE_W) + 1)
    return oth


def _witnesses(rng, people: _People, crimes: _Crimes) -> None:
    """Witnesses and others on ~10% of all crimes."""
    nw = int(crimes.n * 0.10)
    wc = rng.choice(crimes.n, nw, replace=False)
    wp = people.add(_sex(rng, nw, 0.5), _dob_for_age(rng, np.full(nw, _D), rng.integers(16, 75, nw)),
                    _eth(rng, nw, "other"), "witness")
    crimes.link(wc, wp, np.where(rng.random(nw) < 0.8, R_WITNESS, R_OTHER))


def _plant_rings(rng, s, people: _People, crimes: _Crimes, csa_fields, ring_mo) -> list[dict]:
    """Rings: offenders who share victims, chained so each ring is one connected piece through victims."""
    sizes = list(rng.integers(10, 61, _n(_P["large_rings"], s, 1))) \
        + list(rng.integers(3, 10, _n(_P["small_rings"], s, 3)))
    rings = []
    for r, size in enumerate(sizes):
        size = int(size)
        area = int(_pick(rng, 1, _AREA_W)[0])
        start = _year_dates(rng, 1)[0] - 400
        ages = np.where(rng.random(size) < 0.2, rng.integers(15, 18, size), rng.integers(19, 50, size))
        off = people.add(np.where(rng.random(size) < 0.9, _M, _F), _dob_for_age(rng, np.full(size, start), ages),
                         _eth(rng, size, "offender"), "ring_offender")
        # victims: one per position (window i, i+1 closes the chain), plus a third more at random windows
        nvr = size + size // 3
        pos = np.concatenate([np.arange(size), rng.integers(0, size, nvr - size)])
        width = np.where(np.arange(nvr) < size, 2, rng.integers(2, 4, nvr))
        k = rng.integers(2, 5 if size >= 10 else 4, nvr)
        k = np.maximum(k, width)
        vict_age = rng.integers(12, 15, nvr)  # still children three years on: the chain stays whole
        vsex = np.where(rng.random(nvr) < 0.85, _F, _M)
        vict = people.add(vsex, _dob_for_age(rng, np.full(nvr, start), vict_age), _eth(rng, nvr, "victim"),
                          "ring_victim")
        vi = np.repeat(np.arange(nvr), k)
        jj = np.arange(len(vi)) - np.repeat(np.cumsum(k) - k, k)
        offender = off[(pos[vi] + (jj % width[vi])) % size]
        date = np.minimum(start + rng.integers(0, 3 * 365, len(vi)), _D)
        vage = np.maximum(_age(people_dob_lookup(people, vict[vi]), date), 0)
        ok = vage < 18
        vi, offender, date, vage = vi[ok], offender[ok], date[ok], vage[ok]
        n = len(vi)
        title, ifc, _ = csa_fields(n, vsex[vi], vage)
        ifc = np.where(rng.random(n) < 0.5, 1, ifc)
        mo = ring_mo[rng.integers(0, len(ring_mo), n)]
        loc = _pick(rng, n, (30, 5, 10, 0, 25, 20, 10, 0, 0))
        c = crimes.add(date, title, title, np.zeros(n, bool), ifc, mo, loc, np.full(n, area), K_RING)
        crimes.link(c, vict[vi], R_VICTIM)
        crimes.link(c, offender, _pick(rng, n, _OFF_ROLE_W) + 1)
        rings.append({"ring_id": f"R{r:03d}", "offenders": off, "victims": vict, "size": size, "area": area,
                      "crimes": c, "large": size >= 10})
    return rings


# ---------------------------------------------------------------------------------------------- writing


def _write_crimes(w: _Writer, crimes: _Crimes, world) -> int:
    c = {k: np.concatenate(v) for k, v in crimes.c.items()}
    crimes.arr = c
    n = crimes.n
    rng = np.random.default_rng(12345)  # recorded-date lag only; independent of the world's randomness
    lag = np.where(rng.random(n) < 0.85, rng.exponential(20, n), rng.exponential(700, n)).astype(np.int64)
    recorded = np.minimum(c["date"] + lag, _D)
    # the extract's latest date is the study's 15 March 2021 (as_of by default)
    recorded[int(np.argmax(c["date"]))] = _D
    titles = [t[0] for t in world["titles"]]
    codes = [t[1] for t in world["titles"]]
    for lo in range(0, n, _CHUNK):
        sl = slice(lo, min(n, lo + _CHUNK))
        idx = np.arange(lo, sl.stop)
        ifc = _take(IF_CODE_SETS, c["ifc"][sl])
        ifc = pc.if_else(pc.equal(ifc, ""), pa.nulls(len(ifc), pa.string()), ifc)
        w.write("crimes", {
            "crime_ref": world["cref"](idx),
            "offence_title": _take(titles, c["title"][sl]),
            "offence_date": _date_str(c["date"][sl]),
            "offence_code": _take(codes, c["code"][sl]),
            "recorded_date": _date_str(recorded[sl]),
            "domestic_abuse": _take(("false", "true"), c["da"][sl].astype(np.int64)),
            "if_codes": ifc,
            "modus_operandi": _take(world["mos"], c["mo"][sl]),
            "location_type": _take(LOCATION_TYPES, c["loc"][sl]),
            "location_area": _take(LOCAL_AREAS, c["area"][sl]),
        })
    w.close("crimes")
    return n


def _write_crime_nominals(w: _Writer, rng, crimes: _Crimes, people: _People, world):
    L = {k: np.concatenate(v) for k, v in crimes.l.items()}
    # one row per (crime, nominal, role): drop any accidental repeat (e.g. same offender twice on a crime)
    key = (L["crime"] * (people.n + 1) + L["person"]) * 8 + L["role"]
    order = np.argsort(key, kind="stable")
    ks = key[order]
    first = np.sort(order[np.r_[True, ks[1:] != ks[:-1]]])
    L = {k: v[first] for k, v in L.items()}
    crimes.links = L
    n = len(L["crime"])
    p = L["person"]
    sex = people.sex[p].copy()
    dob = people.dob[p].copy()
    eth = people.eth[p].copy()
    # as recorded on the crime: often blank, sometimes in conflict with the person record (a few hundred)
    blank_sex = rng.random(n) < 0.08
    blank_dob = rng.random(n) < 0.10
    blank_eth = rng.random(n) < 0.30
    nominal_blank = world["nominal_blank"][p]
    blank_sex &= ~nominal_blank
    blank_dob &= ~nominal_blank
    # ~250 sex and ~150 date-of-birth conflicts at scale 1 (the study saw 131 victims with inconsistent sex)
    conflict_sex = np.flatnonzero((rng.random(n) < max(5.3e-4, 10 / max(n, 1))) & (sex != _U) & ~nominal_blank)
    sex[conflict_sex] = np.where(sex[conflict_sex] == _M, _F, _M)
    conflict_dob = np.flatnonzero((rng.random(n) < max(3.2e-4, 10 / max(n, 1))) & (dob != _NO_DATE) & ~nominal_blank)
    dob[conflict_dob] += rng.choice([-366, 365, 31, -30], len(conflict_dob))
    for lo in range(0, n, _CHUNK):  # text built chunk by chunk: bounded memory at scale 40
        hi = min(n, lo + _CHUNK)
        k = hi - lo
        w.write("crime_nominals", {
            "crime_ref": world["cref"](L["crime"][lo:hi]),
            "nominal_id": world["pid"](p[lo:hi]),
            "role": _take(ROLE_NAMES, L["role"][lo:hi]),
            "sex": pc.if_else(pa.array(blank_sex[lo:hi]), pa.nulls(k, pa.string()), _sex_str(sex[lo:hi])),
            "date_of_birth": pc.if_else(pa.array(blank_dob[lo:hi]), pa.nulls(k, pa.string()), _date_str(dob[lo:hi])),
            "ethnicity": pc.if_else(pa.array(blank_eth[lo:hi]), pa.nulls(k, pa.string()), _eth_str(eth[lo:hi], rng)),
        })
    w.close("crime_nominals")
    conflicts = {"sex": int(len(conflict_sex)), "date_of_birth": int(len(conflict_dob)),
                 "nominal_blank_filled_by_crime": int(world["nominal_blank"].sum())}
    return n, conflicts


# ---------------------------------------------------------------------------------------------- intel
