"""Selection (method.md sections 1 and 2): the full table and the final table.

    crimes, nominals, crime_nominals -> full_table, final_table, selection_summary

A selection profile (a TOML file, see `hiddennet/profiles/` and docs/selection.md) says which
crimes match; the age rules and the two tables are the same for every profile. Everything runs
as SQL in the engine (DuckDB dialect that sqlglot transpiles to Spark SQL).
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hiddennet import tables as tables_registry
from hiddennet.contract import OFFENDER_ROLES
from hiddennet.errors import InputContractError, SettingsError
from hiddennet.settings import allage_on
from hiddennet.sql import age_years, date_lit, lit
from hiddennet.stage import Stage, StageOutput
from hiddennet.tables import empty_sql

BUILTIN_PROFILES = ("cse", "cce", "msht")
_WS = re.compile(r"\s+")

# Scratch tables of this stage; dropped before it returns.
_CRIMES = "_select_crimes"
_VICTIMS = "_select_victims"
_CANDIDATES = "_select_candidates"
_ALL_FULL = "_select_full_all"  # several profiles: every profile's full-table rows, before the union is grouped


@dataclass(frozen=True)
class _Names:
    """The tables one profile's selection writes: the run's own, or one profile's scratch (`profiles`)."""

    crimes: str = _CRIMES
    victims: str = _VICTIMS
    candidates: str = _CANDIDATES
    full: str = "full_table"
    final: str = "final_table"


_RUN = _Names()


# -- profiles --------------------------------------------------------------------------------------
def _norm_word(w: str) -> str:
    # Words are compared with text that is lower-cased and whitespace-collapsed, so the words are too.
    return _WS.sub(" ", w).strip().lower()


class Profile(BaseModel):
    """A selection profile: which crimes match (method.md section 1). Unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Short name, recorded in the manifest.")
    description: str = Field(min_length=1)
    sources: list[str] = Field(min_length=1, description="Where the terms come from (law, guidance, study).")
    child_words: list[str] = Field(
        default_factory=list,
        description="Title rule, first list: the title contains one of these (empty: no condition).",
    )
    sex_words: list[str] = Field(
        default_factory=list,
        description="Title rule, second list: the title also contains one of these (empty: no condition).",
    )
    mo_words: list[str] = Field(default_factory=list, description="MO rule: the modus operandi contains one of these.")
    flag_codes: list[str] = Field(
        default_factory=list, description="Flag rule: one of the crime's if_codes is one of these."
    )
    offence_codes: list[str] = Field(
        default_factory=list, description="Code rule: the crime's Home Office offence code is one of these."
    )
    exclude_domestic_abuse: bool = True
    max_victim_age: int | None = Field(
        None, ge=0, le=120, description="Oldest victim age in whole years on the offence date (cse: 17); "
        "absent: victims of any age, also those with no date of birth."
    )

    @field_validator("child_words", "sex_words", "mo_words")
    @classmethod
    def _words(cls, v: list[str]) -> list[str]:
        out = [_norm_word(w) for w in v]
        if any(not w for w in out):
            raise ValueError("a word is empty")
        return list(dict.fromkeys(out))

    @field_validator("flag_codes", "offence_codes")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        out = [c.strip().upper() for c in v]
        if any(not c or _WS.search(c) or ";" in c for c in out):
            raise ValueError("a code is empty or holds a space or ';'")
        return list(dict.fromkeys(out))

    @model_validator(mode="after")
    def _some_rule(self) -> Profile:
        if not (self.child_words or self.sex_words or self.mo_words or self.flag_codes or self.offence_codes):
            raise ValueError("no rule: every word and code list is empty")
        return self

    @property
    def has_title_rule(self) -> bool:
        return bool(self.child_words or self.sex_words)


def _builtin_path(name: str):
    return resources.files("hiddennet.profiles").joinpath(f"{name}.toml")


def load_profile(profile: str | Path) -> Profile:
    """A built-in profile by name (`cse`, `cce`, `msht`) or a profile TOML file by path."""
    text_name = str(profile)
    if text_name in BUILTIN_PROFILES:
        source = f"hiddennet/profiles/{text_name}.toml"
        text = _builtin_path(text_name).read_text(encoding="utf-8")
    else:
        p = Path(text_name)
        source = str(p)
        if not p.is_file():
            raise SettingsError(
                f"profile: {text_name!r} is neither a built-in profile ({', '.join(BUILTIN_PROFILES)}) nor a file"
            )
        text = p.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"file {source}: not valid TOML ({e.__class__.__name__})") from None
    try:
        return Profile.model_validate(data)
    except ValidationError as e:
        # Built from loc and msg only: pydantic's str() would echo the values.
        problems = []
        for err in e.errors():
            key = ".".join(str(x) for x in err["loc"]) or "(top level)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"key {key}: {msg}")
        raise SettingsError(f"file {source}: " + "; ".join(problems)) from None


# -- SQL pieces ------------------------------------------------------------------------------------
def _regex_literal(text: str) -> str:
    """`text` as a regex matching itself, as a SQL string literal, portable to RE2 and Java regex."""
    out = []
    for ch in text:
        if ch in ".$|?*+(){}":
            out.append(f"[{ch}]")  # a one-character class: no backslash for a dialect to re-escape
        elif ch in "^[]\\":
            out.append("\\" + ch)  # Java reads [[] as a nested class, so these take a backslash
        else:
            out.append(ch)
    return "".join(out).replace("'", "''")


def _contains_any(expr: str, words: list[str]) -> str:
    """SQL: lower-cased text `expr` contains one of `words` once its whitespace is collapsed.

    A space inside a word matches any run of whitespace, which equals searching the collapsed
    text (words are collapsed and trimmed on loading) and costs a quarter of collapsing every text.
    """
    if not words:
        return "FALSE"
    alternatives = "|".join("\\s+".join(_regex_literal(p) for p in w.split(" ")) for w in words)
    return f"coalesce(regexp_matches({expr}, '({alternatives})'), FALSE)"


def _has_code(expr: str, codes: list[str]) -> str:
    """SQL: the `;`/whitespace separated codes in `expr` include one of `codes` (whole codes)."""
    if not codes:
        return "FALSE"
    alternatives = "|".join(_regex_literal(c) for c in codes)
    return f"coalesce(regexp_matches(upper({expr}), '(^|[;\\s])({alternatives})($|[;\\s])'), FALSE)"


def _normalised(col: str) -> str:
    # Case-insensitive (method.md section 1); whitespace is handled by the patterns (_contains_any).
    return f"lower({col})"


def _role_rank() -> str:
    whens = " ".join(f"WHEN '{r}' THEN {i}" for i, r in enumerate(OFFENDER_ROLES))
    return f"CASE role {whens} END"


def _role_of_rank(col: str) -> str:
    whens = " ".join(f"WHEN {i} THEN '{r}'" for i, r in enumerate(OFFENDER_ROLES))
    return f"CASE {col} {whens} END"


_REQUIRED = {
    "crimes": ("crime_ref", "offence_title", "offence_date", "offence_code", "domestic_abuse", "if_codes",
               "modus_operandi", "location_area"),
    "nominals": ("nominal_id", "date_of_birth", "sex", "ethnicity"),
    "crime_nominals": ("crime_ref", "nominal_id", "role"),
}


def _check_inputs(engine) -> None:
    for table, cols in _REQUIRED.items():
        if not engine.has_table(table):
            raise InputContractError("table missing (select needs it from ingest)", file=table)
        have = {c.lower() for c in engine.columns(table)}
        for c in cols:
            if c not in have:
                raise InputContractError("column missing (select needs it from ingest)", file=table, column=c)


# -- the stage -------------------------------------------------------------------------------------
def run(engine, settings) -> StageOutput:
    """Write full_table, final_table and selection_summary (docs/tables.md); with the all-age settings
    also profile_crimes and profile_full_table (written empty otherwise, and then not published)."""
    as_of: dt.date = settings.as_of
    if as_of is None:
        raise SettingsError("as_of: select needs the run's reference date")
    _check_inputs(engine)
    if settings.profiles is not None:
        return _run_profiles(engine, settings)
    profile = load_profile(settings.profile)
    facts = _select_one(engine, settings, profile, _RUN)
    tables: tuple[str, ...] = ("full_table", "final_table", "selection_summary")
    if allage_on(settings):
        _profile_tables(engine, [(profile, _RUN)])
        tables += ("profile_crimes",)
    else:
        engine.create_table("profile_crimes", empty_sql("profile_crimes"))
    engine.create_table("profile_full_table", empty_sql("profile_full_table"))
    _write_summary(engine, facts)
    for t in (_CRIMES, _VICTIMS, _CANDIDATES):
        engine.drop(t)
    _add_shares(facts, profile)
    return StageOutput(tables=tables, facts=facts)


def _select_one(engine, settings, profile: Profile, n: _Names) -> dict:
    """One profile's selection into the tables `n`; returns its counts."""
    min_age = int(settings.min_offender_age)
    _match_crimes(engine, profile, n)
    _victims(engine, profile, n)
    _candidates(engine, n)
    _full_table(engine, min_age, n)
    _final_table(engine, settings.as_of, float(settings.gap_half_life), float(settings.recency_half_life), n)
    return _summarise(engine, profile, min_age, settings.as_of, n)


def _run_profiles(engine, settings) -> StageOutput:
    """Several profiles (`profiles`): each selects into its own scratch tables; the full table is their union
    (a row selected by two profiles once, each rule flag true when any profile's rule matched) and the final
    table is built on it. The summary holds the union's table counts and every profile's counts as
    `<profile>.<measure>`."""
    chosen: list[tuple[Profile, _Names]] = []
    for i, entry in enumerate(settings.profiles):
        profile = load_profile(entry)
        if any(p.name == profile.name for p, _ in chosen):
            raise SettingsError(f"profiles: item {i + 1} has the name of an earlier profile ({profile.name})")
        chosen.append((profile, _Names(*(f"_select_{part}_{i}" for part in
                                          ("crimes", "victims", "candidates", "full", "final")))))
    per_profile = {p.name: _select_one(engine, settings, p, n) for p, n in chosen}
    _profile_tables(engine, chosen)
    matched = ("matched_title", "matched_flag", "matched_mo", "matched_code")
    cols = [c for c in tables_registry.table("full_table").column_names if c not in matched]
    # The union is made a table of its own (with the profile) before it is grouped: Spark's constraint
    # propagation fails on an aggregate directly over a UNION of these tables.
    every = ", ".join(tables_registry.table("full_table").column_names)
    engine.create_table(_ALL_FULL, " UNION ALL ".join(
        f"SELECT {lit(p.name)} AS profile, {every} FROM {n.full}" for p, n in chosen))
    engine.create_table(
        "full_table",
        f"SELECT {', '.join(cols)}, {', '.join(f'bool_or({m}) AS {m}' for m in matched)} "
        f"FROM {_ALL_FULL} GROUP BY {', '.join(cols)}",
    )
    engine.drop(_ALL_FULL)
    _final_table(engine, settings.as_of, float(settings.gap_half_life), float(settings.recency_half_life))
    facts = _summarise_tables(engine, settings.as_of)
    summary = dict(facts)
    for name, pf in per_profile.items():
        summary.update({f"{name}.{k}": v for k, v in pf.items()})
    _write_summary(engine, summary)
    for _, n in chosen:
        for t in (n.crimes, n.victims, n.candidates, n.full, n.final):
            engine.drop(t)
    for name, pf in per_profile.items():
        _add_shares(pf, next(p for p, _ in chosen if p.name == name))
    facts["profile"] = [p.name for p, _ in chosen]
    facts["profiles"] = per_profile
    tables = ("full_table", "final_table", "selection_summary", "profile_crimes", "profile_full_table")
    return StageOutput(tables=tables, facts=facts)


def _summarise_tables(engine, as_of: dt.date) -> dict:
    """The counts of the run's full and final tables only (several profiles: their union)."""
    combined = " CROSS JOIN ".join(f"({p.strip()}) AS s{i}" for i, p in enumerate(_table_counts(as_of)))
    t = engine.fetch_arrow(f"SELECT * FROM {combined}")
    return {name: int(t.column(name)[0].as_py() or 0) for name in t.column_names}


def _profile_tables(engine, chosen: list[tuple[Profile, _Names]]) -> None:
    """`profile_crimes` (each profile's selected crimes) and `profile_full_table` (each profile's full-table rows)."""
    crimes = " UNION ALL ".join(
        f"SELECT {lit(p.name)} AS profile, c.crime_ref, c.offence_date, c.offence_code, c.location_area, "
        f"v.crime_ref IS NOT NULL AS has_selected_victim, c.matched_title, c.matched_flag, c.matched_mo, "
        f"c.matched_code FROM {n.crimes} c "
        f"LEFT JOIN (SELECT DISTINCT crime_ref FROM {n.full}) v ON v.crime_ref = c.crime_ref WHERE c.candidate"
        for p, n in chosen
    )
    engine.create_table("profile_crimes", crimes)
    rows = " UNION ALL ".join(
        f"SELECT {lit(p.name)} AS profile, crime_ref, offender_id, victim_id, matched_title, matched_flag, "
        f"matched_mo, matched_code FROM {n.full}"
        for p, n in chosen
    )
    engine.create_table("profile_full_table", rows)


def _crime_source(profile: Profile) -> tuple[str, str]:
    """The FROM clause of every crime with its normalised MO (`m`), and the title rule's SQL over it."""
    title, mo = _normalised("offence_title"), _normalised("modus_operandi")
    source = f"(SELECT *, {mo} AS m FROM crimes) AS c0"
    if profile.has_title_rule:
        parts = [_contains_any("t", ws) for ws in (profile.child_words, profile.sex_words) if ws]
        # Titles come from a short list of offence names: matched once per distinct title and
        # joined back, instead of running the patterns on every crime (a missing title: no match).
        source += (f" LEFT JOIN (SELECT offence_title AS title_key, {' AND '.join(parts)} AS title_hit "
                   f"FROM (SELECT offence_title, {title} AS t "
                   f"FROM (SELECT DISTINCT offence_title FROM crimes) AS d0) AS d1) "
                   f"AS tt ON tt.title_key = c0.offence_title")
        title_rule = "coalesce(tt.title_hit, FALSE)"
    else:
        title_rule = "FALSE"
    return source, title_rule


def _match_crimes(engine, profile: Profile, n: _Names = _RUN) -> None:
    """1. `_select_crimes`: every crime with the rules it matches (the summary counts all crimes, selected or not)."""
    source, title_rule = _crime_source(profile)
    exclude_da = "TRUE" if profile.exclude_domestic_abuse else "FALSE"
    # 1. Every crime with the rules it matches (the summary counts all crimes, selected or not).
    engine.create_table(
        n.crimes,
        f"""
        SELECT crime_ref, offence_date, offence_title, offence_code, location_area, is_da,
               matched_title, matched_flag, matched_mo, matched_code,
               (matched_title OR matched_flag OR matched_mo OR matched_code) AS matched_any,
               (matched_title OR matched_flag OR matched_mo OR matched_code)
                   AND NOT ({exclude_da} AND is_da) AS candidate
        FROM (
            SELECT c0.crime_ref, c0.offence_date, c0.offence_title, c0.offence_code, c0.location_area,
                   coalesce(c0.domestic_abuse, FALSE) AS is_da,
                   {title_rule} AS matched_title,
                   {_has_code("if_codes", profile.flag_codes)} AS matched_flag,
                   {_contains_any("m", profile.mo_words)} AS matched_mo,
                   {_has_code("offence_code", profile.offence_codes)} AS matched_code
            FROM {source}
        ) AS c1
        """,
    )


def _victims(engine, profile: Profile, n: _Names = _RUN) -> None:
    """2. `_select_victims`: victims of candidate crimes, their age on the offence date, whether selected."""
    # 2. Victims of candidate crimes with their age on the offence date.
    max_age = profile.max_victim_age
    # A victim born after the offence (negative age) counts as 0, so is selected.
    victim_ok = "TRUE" if max_age is None else f"(raw_age IS NOT NULL AND raw_age <= {int(max_age)})"
    engine.create_table(
        n.victims,
        f"""
        SELECT crime_ref, victim_id, victim_sex, victim_ethnicity,
               -- not greatest(raw_age, 0): greatest skips NULL, and an unknown age must stay unknown
               CAST(CASE WHEN raw_age < 0 THEN 0 ELSE raw_age END AS INTEGER) AS victim_age,
               coalesce(raw_age < 0, FALSE) AS victim_born_after_offence,
               {victim_ok} AS selected
        FROM (
            SELECT DISTINCT c.crime_ref, cn.nominal_id AS victim_id, n.sex AS victim_sex,
                   n.ethnicity AS victim_ethnicity,
                   {age_years("n.date_of_birth", "c.offence_date")} AS raw_age
            FROM {n.crimes} c
            JOIN crime_nominals cn ON cn.crime_ref = c.crime_ref AND cn.role = 'victim'
            LEFT JOIN nominals n ON n.nominal_id = cn.nominal_id
            WHERE c.candidate
        ) AS v
        """,
    )


def _candidates(engine, n: _Names = _RUN) -> None:
    """3. `_select_candidates`: crime x offender x victim rows of selected victims, before the offender age rule."""
    # 3. Crime x offender x victim before the offender age rule; one row per offender however many
    #    offender roles they hold on the crime (the first role in contract order is kept).
    roles = ", ".join(f"'{r}'" for r in OFFENDER_ROLES)
    engine.create_table(
        n.candidates,
        f"""
        SELECT v.crime_ref, o.offender_id, v.victim_id, c.offence_date, c.offence_title, c.offence_code,
               {_role_of_rank("o.role_rank")} AS offender_role,
               CAST({age_years("n.date_of_birth", "c.offence_date")} AS INTEGER) AS offender_age,
               v.victim_age, n.sex AS offender_sex, v.victim_sex, n.ethnicity AS offender_ethnicity,
               v.victim_ethnicity, c.location_area, v.victim_born_after_offence,
               c.matched_title, c.matched_flag, c.matched_mo, c.matched_code
        FROM (SELECT * FROM {n.victims} WHERE selected) v
        JOIN (
            SELECT crime_ref, nominal_id AS offender_id, min({_role_rank()}) AS role_rank
            FROM crime_nominals
            WHERE role IN ({roles})
              AND crime_ref IN (SELECT crime_ref FROM {n.victims} WHERE selected)
            GROUP BY crime_ref, nominal_id
        ) o ON o.crime_ref = v.crime_ref
        JOIN {n.crimes} c ON c.crime_ref = v.crime_ref
        LEFT JOIN nominals n ON n.nominal_id = o.offender_id
        """,
    )


def _full_table(engine, min_age: int, n: _Names = _RUN) -> None:
    """4. `full_table`."""
    # 4. Full table: offenders under the age of criminal responsibility out; nobody offends against
    #    themselves (a person recorded as victim and offender of one crime keeps their other rows).
    engine.create_table(
        n.full,
        f"""
        SELECT * FROM {n.candidates}
        WHERE (offender_age IS NULL OR offender_age >= {min_age}) AND offender_id <> victim_id
        """,
    )


def _final_table(engine, as_of: dt.date, gap_hl: float, rec_hl: float, n: _Names = _RUN) -> None:
    """5. `final_table`: offender pairs through a shared victim, weighted by the gap between crimes and recency."""
    # 5. Final table (half-lives cast to DOUBLE: Spark reads 365.0 as a DECIMAL and rounds the
    #    exponent to six places). Pairs of full-table rows sharing a victim, offender_1 < offender_2 (which also
    #    keeps every pair once and drops self-pairs); same-crime pairs included. full_table is unique
    #    on (crime, offender, victim), so no two rows here are exact duplicates.
    latest = "greatest(a.offence_date, b.offence_date)"
    recency_days = f"greatest(date_diff('day', {latest}, {date_lit(as_of)}), 0)"
    engine.create_table(
        n.final,
        f"""
        SELECT a.offender_id AS offender_1, b.offender_id AS offender_2,
               a.crime_ref AS crime_ref_1, b.crime_ref AS crime_ref_2, a.victim_id,
               a.offence_date AS offence_date_1, b.offence_date AS offence_date_2,
               pow(CAST(2 AS DOUBLE),
                   -abs(date_diff('day', a.offence_date, b.offence_date)) / CAST({gap_hl!r} AS DOUBLE))
                 * pow(CAST(2 AS DOUBLE), -{recency_days} / CAST({rec_hl!r} AS DOUBLE)) AS weight
        FROM (SELECT crime_ref, offender_id, victim_id, offence_date FROM {n.full}) a
        JOIN (SELECT crime_ref, offender_id, victim_id, offence_date FROM {n.full}) b
          ON a.victim_id = b.victim_id AND a.offender_id < b.offender_id
        """,
    )


def _write_summary(engine, facts: dict) -> None:
    """`selection_summary`: the integer facts as (measure, value) rows."""
    # Written as SQL literals: building an Arrow table from Python lists makes pyarrow import pandas
    # (over a second in a process that has not loaded it yet).
    rows = ", ".join(f"({lit(k)}, {int(v)})" for k, v in facts.items() if isinstance(v, int))
    engine.create_table(
        "selection_summary",
        "SELECT CAST(measure AS VARCHAR) AS measure, CAST(value AS BIGINT) AS value "
        f"FROM (VALUES {rows}) AS v(measure, value)",
    )


def _add_shares(facts: dict, profile: Profile) -> None:
    """The shares of crimes with one offender and the profile, added to the facts (not to the summary table)."""
    full_crimes = facts["full_table_crimes"]
    final_crimes = facts["final_table_crimes"]
    facts["full_table_share_crimes_one_offender"] = (
        round(facts["full_table_crimes_one_offender"] / full_crimes, 6) if full_crimes else None
    )
    facts["final_table_share_crimes_one_offender"] = (
        round(facts["final_table_crimes_one_offender"] / final_crimes, 6) if final_crimes else None
    )
    facts["profile"] = profile.name
    facts["profile_max_victim_age"] = profile.max_victim_age


def _summarise(engine, profile: Profile, min_age: int, as_of: dt.date, n: _Names = _RUN) -> dict:
    """Counts a reviewer asks for (method.md section 1; docs/selection.md names each)."""
    parts = _crime_counts(profile, n) + _row_counts(profile, min_age, n) + _table_counts(as_of, n)
    # One statement of one-row parts: each statement costs planning time, the parts are cheap.
    combined = " CROSS JOIN ".join(f"({p.strip()}) AS s{i}" for i, p in enumerate(parts))
    t = engine.fetch_arrow(f"SELECT * FROM {combined}")
    return {name: int(t.column(name)[0].as_py() or 0) for name in t.column_names}


def _crime_counts(profile: Profile, n: _Names = _RUN) -> list[str]:
    """One-row queries: crimes by rule matched, rejected as domestic abuse, candidates with no victim."""
    parts: list[str] = []
    put = parts.append
    title_rule_on = "TRUE" if profile.has_title_rule else "FALSE"
    put(
        f"""
        SELECT count(*) AS crimes_total,
               sum(CASE WHEN matched_title THEN 1 ELSE 0 END) AS crimes_matched_title,
               sum(CASE WHEN matched_flag THEN 1 ELSE 0 END) AS crimes_matched_flag,
               sum(CASE WHEN matched_mo THEN 1 ELSE 0 END) AS crimes_matched_mo,
               sum(CASE WHEN matched_code THEN 1 ELSE 0 END) AS crimes_matched_code,
               sum(CASE WHEN matched_any THEN 1 ELSE 0 END) AS crimes_matched_any,
               sum(CASE WHEN (CAST(matched_title AS INTEGER) + CAST(matched_flag AS INTEGER)
                              + CAST(matched_mo AS INTEGER) + CAST(matched_code AS INTEGER)) > 1
                        THEN 1 ELSE 0 END) AS crimes_matched_more_than_one_rule,
               sum(CASE WHEN matched_any AND NOT candidate THEN 1 ELSE 0 END) AS crimes_rejected_domestic_abuse,
               sum(CASE WHEN matched_flag AND NOT matched_title AND NOT matched_mo THEN 1 ELSE 0 END)
                   AS gap_crimes_flag_without_title_or_mo,
               sum(CASE WHEN {title_rule_on} AND matched_title AND NOT matched_flag THEN 1 ELSE 0 END)
                   AS gap_crimes_title_without_flag
        FROM {n.crimes}
        """
    )
    put(
        f"""
        SELECT count(*) AS crimes_candidate_no_victim FROM {n.crimes} c
        WHERE c.candidate AND NOT EXISTS (SELECT 1 FROM {n.victims} v WHERE v.crime_ref = c.crime_ref)
        """
    )
    return parts


def _row_counts(profile: Profile, min_age: int, n: _Names = _RUN) -> list[str]:
    """One-row queries: victim rows by age outcome, candidate rows by offender age and self-offending."""
    parts: list[str] = []
    put = parts.append
    max_age = profile.max_victim_age
    adult = f"victim_age > {int(max_age)}" if max_age is not None else "FALSE"
    put(
        f"""
        SELECT count(*) AS victim_rows_considered,
               sum(CASE WHEN victim_age IS NOT NULL AND {adult} THEN 1 ELSE 0 END) AS victim_rows_rejected_adult,
               sum(CASE WHEN victim_age IS NULL THEN 1 ELSE 0 END) AS victim_rows_age_unknown,
               sum(CASE WHEN victim_age IS NULL AND NOT selected THEN 1 ELSE 0 END)
                   AS gap_victim_rows_age_unknown_not_selected,
               sum(CASE WHEN victim_born_after_offence THEN 1 ELSE 0 END) AS victim_rows_born_after_offence,
               sum(CASE WHEN victim_born_after_offence AND selected THEN 1 ELSE 0 END)
                   AS victim_rows_born_after_offence_selected,
               sum(CASE WHEN selected THEN 1 ELSE 0 END) AS victim_rows_selected
        FROM {n.victims}
        """
    )
    put(
        f"""
        SELECT count(*) AS candidate_rows,
               sum(CASE WHEN offender_age < {min_age} THEN 1 ELSE 0 END) AS offender_rows_under_min_age,
               count(DISTINCT CASE WHEN offender_age < {min_age} THEN offender_id END) AS offenders_under_min_age,
               sum(CASE WHEN offender_id = victim_id THEN 1 ELSE 0 END) AS rows_offender_is_victim,
               sum(CASE WHEN offender_age IS NULL AND offender_id <> victim_id THEN 1 ELSE 0 END)
                   AS full_table_rows_offender_age_unknown
        FROM {n.candidates}
        """
    )
    return parts


def _table_counts(as_of: dt.date, n: _Names = _RUN) -> list[str]:
    """One-row queries: sizes of the full and final tables, crimes with one offender, rows after as_of."""
    parts: list[str] = []
    put = parts.append
    put(
        f"""
        SELECT count(*) AS full_table_rows, count(DISTINCT crime_ref) AS full_table_crimes,
               count(DISTINCT offender_id) AS full_table_offenders, count(DISTINCT victim_id) AS full_table_victims
        FROM {n.full}
        """
    )
    put(
        f"""
        SELECT sum(CASE WHEN n = 1 THEN 1 ELSE 0 END) AS full_table_crimes_one_offender,
               max(n) AS max_offenders_per_crime
        FROM (SELECT crime_ref, count(DISTINCT offender_id) AS n FROM {n.full} GROUP BY crime_ref) AS k
        """
    )
    put(
        f"""
        SELECT count(*) AS final_table_rows,
               sum(CASE WHEN greatest(offence_date_1, offence_date_2) > {date_lit(as_of)} THEN 1 ELSE 0 END)
                   AS final_table_rows_after_as_of
        FROM {n.final}
        """
    )
    put(
        f"""
        SELECT count(*) AS final_table_offenders FROM (
            SELECT offender_1 AS o FROM {n.final} UNION SELECT offender_2 FROM {n.final}) AS u
        """
    )
    put(
        f"""
        SELECT count(*) AS final_table_crimes,
               sum(CASE WHEN k.n = 1 THEN 1 ELSE 0 END) AS final_table_crimes_one_offender
        FROM (SELECT crime_ref_1 AS crime_ref FROM {n.final} UNION SELECT crime_ref_2 FROM {n.final}) AS c
        JOIN (SELECT crime_ref, count(DISTINCT offender_id) AS n FROM {n.full} GROUP BY crime_ref) AS k
          ON k.crime_ref = c.crime_ref
        """
    )
    return parts


STAGE = Stage(
    "select",
    lambda engine, settings, ctx: run(engine, settings),
    reads=("crimes", "input_nominals", "crime_nominals"),
    writes=("full_table", "final_table", "selection_summary", "profile_crimes", "profile_full_table"),
)
