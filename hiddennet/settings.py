"""Every setting of the method, its default and its meaning, in one typed object.

The defaults are those of docs/method.md. A run records the values it used in manifest.json.
`docs/settings.md` is generated from this file (`python -m hiddennet.settings > docs/settings.md`)
and a test fails when the two drift apart.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from hiddennet.errors import SettingsError

LAYERS = ("victim", "intel", "custody", "soc")
# Layers of the all-age features (docs/all-age.md): built only when their setting is on.
ALLAGE_LAYERS = ("cooffend", "place")
BUILTIN_PROFILE_NAMES = ("cse", "cce", "msht")  # select.BUILTIN_PROFILES (select imports this module)
DashboardRole = Literal["analyst", "intelligence_officer", "safeguarding_lead"]


def _default_handling_roles() -> dict[str, list[DashboardRole]]:
    return {"5": ["intelligence_officer"]}


def _default_oidc_role_map() -> dict[str, DashboardRole]:
    return {
        "Hiddennet.Analyst": "analyst",
        "Hiddennet.IntelligenceOfficer": "intelligence_officer",
        "Hiddennet.SafeguardingLead": "safeguarding_lead",
    }

# DuckDB's memory sizes: a positive number and a unit (1000- or 1024-based), or a share of RAM.
_MEMORY_SIZE = re.compile(
    r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(b|bytes?|k|kb|kilobytes?|m|mb|megabytes?|g|gb|gigabytes?|t|tb|terabytes?|kib|mib|gib|tib|%)\s*",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def memory_share(limit: str | None, parts: int, fraction: float = 1.0) -> str | None:
    """`fraction` of `limit` (a validated DuckDB size such as `4GB` or `80%`) divided by `parts`, in
    the same unit."""
    if limit is None:
        return None
    m = _MEMORY_SIZE.fullmatch(limit)
    if m is None:  # validated by Settings: cannot happen, but never hand DuckDB a guess
        raise ValueError("duckdb_memory_limit: not a memory size")
    return f"{float(m.group(1)) * fraction / max(1, parts):g}{m.group(2)}"


class LayerWeights(BaseModel):
    """Multiplier of each layer's edge weight in the combined network (method.md section 4)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    victim: float = Field(1.0, ge=0, description="Weight of the victim layer (offenders sharing a victim).")
    intel: float = Field(1.0, ge=0, description="Weight of the intelligence layer.")
    custody: float = Field(1.0, ge=0, description="Weight of the custody (shared prison cell) layer.")
    soc: float = Field(1.0, ge=0, description="Weight of the existing Serious Organised Crime network.")
    cooffend: float = Field(
        1.0, ge=0, description="Weight of the co-offending layer (built only when `cooffending_layer` is on)."
    )
    place: float = Field(1.0, ge=0, description="Weight of the place layer (built only when `place_layer` is on).")


class Settings(BaseModel):
    """All settings of one run. Unknown keys are an error."""

    # Numbers are finite (no `inf`/`nan` from TOML): settings reach the stages' SQL as numbers.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # -- the run -------------------------------------------------------------------------
    as_of: dt.date | None = Field(
        None,
        description="Reference date of the run. Default: the latest date found in the extract, "
        "so that a rerun on the same extract gives the same result (never the wall clock).",
    )
    seed: int = Field(20210315, description="Seed of every random choice (Leiden, sampled betweenness, dismantling).")
    engine: Literal["duckdb", "spark"] = Field("duckdb", description="Engine that runs the table stages.")

    # -- 1. selection ----------------------------------------------------------------------
    profile: str = Field(
        "cse",
        description="Selection profile: a built-in name (`cse`, `cce`, `msht`) or the path of a profile TOML file.",
    )
    min_offender_age: int = Field(
        10, ge=0, le=30, description="Offenders younger than this on the offence date are removed and counted "
        "(age of criminal responsibility in England and Wales)."
    )

    # -- 2. decay ----------------------------------------------------------------------------
    gap_half_life: float = Field(
        365.0, gt=0, description="Days between two linked crimes that halve a final-table weight."
    )
    recency_half_life: float = Field(1825.0, gt=0, description="Days before `as_of` that halve any link's weight.")

    # -- 3. other layers -----------------------------------------------------------------------
    actionable_3x5x2: list[str] = Field(
        ["1A", "1B", "1C"],
        description="3x5x2 gradings (source grade then information grade) fit to act on; only these logs make links.",
    )
    actionable_5x5x5: list[str] = Field(
        ["A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "C3"],
        description="5x5x5 gradings (source grade then information grade) fit to act on; only these logs make links.",
    )
    max_log_nominals: int = Field(30, ge=2, description="Logs naming more nominals than this are skipped and counted.")
    min_shared_cell_days: int = Field(
        30, ge=1, description="Days in one cell together (in total) that make a custody link."
    )

    # -- 4. network ----------------------------------------------------------------------------
    layer_weight: LayerWeights = Field(
        default_factory=LayerWeights, description="Per-layer multipliers (table `[layer_weight]`)."
    )
    max_group_size: int = Field(
        50, ge=2, description="Components larger than this are split into communities by Leiden."
    )
    leiden_resolution: float = Field(1.0, gt=0, description="Resolution (gamma) of the Leiden modularity split.")
    betweenness_exact_max: int = Field(5000, ge=2, description="Groups up to this many nominals get exact betweenness.")
    betweenness_samples: int = Field(
        1000, ge=10, description="Source nominals sampled (fixed seed) for betweenness in larger groups."
    )

    # -- 5. harm and priority --------------------------------------------------------------------
    harm_window_days: int = Field(
        1826, ge=1, description="Crimes with an offence date this many days up to `as_of` count towards harm."
    )
    priority_measure: Literal["cchi", "ons"] = Field("cchi", description="Harm measure that ranks groups.")

    # -- 6. dismantling -----------------------------------------------------------------------------
    dismantle_fraction: float = Field(
        0.1, gt=0, lt=1, description="Target: no piece larger than max(2, ceil(fraction * group size)) nominals."
    )
    exact_dismantle_max: int = Field(
        16, ge=3, le=40, description="Groups up to this many nominals are dismantled exactly."
    )
    dismantle_method: Literal["gnd", "degree", "betweenness", "corehd"] = Field(
        "gnd", description="Algorithm for groups above `exact_dismantle_max` (the others are baselines for comparison)."
    )
    dismantle_reinsertion: bool = Field(True, description="Reinsert removed nominals that are not needed (after GND).")
    dismantle_search_rounds: int = Field(
        10, ge=0, le=1000,
        description="Rounds of the seeded local search that tries to shorten each GND dismantling order (0: none).",
    )
    dismantle_proof_seconds: float = Field(
        30.0, ge=0, le=3600,
        description="Wall-time safety budget per group for the integer program that raises the cheap lower bound "
        "(column `lower_bound` of `dismantling`) of the groups given to it (`dismantle_proof_groups`) and, when it "
        "finishes, gives the optimum with most harm; its work is bounded by node and round limits that do not depend "
        "on the machine (0: no integer program, cheap bounds only).",
    )
    dismantle_search_seconds: float = Field(
        10.0, ge=0, le=3600,
        description="Wall-time budget of the local search on groups above 300 nominals, where a fixed number of "
        "rounds would be too slow (0: no search there).",
    )
    dismantle_proof_groups: int = Field(
        20, ge=0, le=1_000_000,
        description="The integer program of the proof runs on at most this many groups whose cheap lower bound "
        "(packing / counting, always computed) leaves a gap, the most harmful first (harm of the nominals that may "
        "be removed); a limit that does not depend on the machine (0: cheap bounds only).",
    )
    dismantle_proof_stage_seconds: float = Field(
        120.0, ge=0, le=86_400,
        description="Wall-time safety net of the whole proof pass (all groups given to the integer program); a "
        "group reached after it keeps its cheap bound (then rows can differ between an idle and a loaded machine).",
    )

    # -- 7. safeguarding and fairness ---------------------------------------------------------------
    child_age: int = Field(18, ge=1, description="A person younger than this is a child.")
    transitional_age_max: int = Field(25, ge=18, description="Oldest age on `as_of` of a `transitional_victim`.")
    min_cell_count: int = Field(10, ge=1, description="Fairness cells with fewer people than this are suppressed.")
    stability_checks: bool = Field(
        True, description="Rerun network and harm with perturbed settings to measure top-10 stability."
    )
    stability_perturbation: float = Field(
        0.2, gt=0, lt=1, description="Relative change of half-lives and layer weights in the stability check."
    )
    stability_workers: int | None = Field(
        1, ge=1,
        description="Processes that run the stability reruns side by side on DuckDB, each with one DuckDB thread and "
        "its own in-memory database over Parquet copies of the run's tables (1, the default: none, the reruns run "
        "in the run's database, see `stability_threads`; empty: one per core). Under `duckdb_memory_limit` the run's "
        "database keeps a quarter of the limit while they run and the processes share the rest. Results do not "
        "depend on it.",
    )
    stability_threads: int | None = Field(
        None, ge=1,
        description="Threads that run the stability reruns side by side in the run's own database, each on its own "
        "connection to it, on engines that allow it (DuckDB; Spark runs them one after another). Empty, the default: "
        "one per core; 1: one after another. Not used when `stability_workers` is above 1. Results do not depend "
        "on it.",
    )

    # -- ingest ----------------------------------------------------------------------------------------
    max_age_years: int = Field(
        110, ge=50, description="A date of birth giving an age above this on `as_of` is implausible and cleared."
    )
    extract_date: dt.date | None = Field(
        None,
        description="Day the extract was taken: an event date after it is quarantined (`future_date`) and never sets "
        "`as_of`. Default: none; then an event date more than `max_future_days` after the 99th percentile of the "
        "extract's event dates is.",
    )
    max_future_days: int = Field(
        366, ge=0,
        description="Without `extract_date`: days after the 99th percentile of the accepted event dates beyond which "
        "an event date is quarantined as `future_date` (docs/ingest.md, as_of).",
    )
    input_encoding: Literal["utf-8", "latin-1", "cp1252"] = Field(
        "utf-8",
        description="Character encoding of the CSV extracts. `latin-1` or `cp1252` read a whole file written in that "
        "encoding (each value transcoded to UTF-8); with `utf-8` a value that is not UTF-8 is quarantined "
        "(`invalid_utf8`).",
    )

    # -- engines ---------------------------------------------------------------------------------------
    duckdb_memory_limit: str | None = Field(
        None,
        description="DuckDB memory limit: a number and a unit (`16GB`, `512MiB`; B, KB, MB, GB, TB, KiB, MiB, GiB, "
        "TiB) or a share of RAM (`80%`) (default: DuckDB's own, 80% of RAM). With a limit set, DuckDB's allocator "
        "also hands memory its queries freed back to the system promptly (flush thresholds of 16 MB, background "
        "threads), so the process stays near the limit instead of keeping it for reuse (a few percent slower).",
    )
    duckdb_threads: int | None = Field(None, ge=1, description="DuckDB threads (default: one per core).")
    duckdb_database: Literal["memory", "file"] = Field(
        "memory",
        description="Where a DuckDB run keeps its working tables: `memory` (spilling to `duckdb_temp_directory` "
        "under `duckdb_memory_limit`), copied into the run's `hiddennet.duckdb` once every stage is done; `file`: in "
        "`hiddennet.duckdb` from the start. Same tables either way; `memory` is faster (every table is not written "
        "to disk as it is made: a scale-1 force 46 s against 54 s on 2 cores), `file` holds less in memory when no "
        "limit is set (peak 0.8 GB against 1.8 GB at scale 1; `memory` with `duckdb_memory_limit = \"600MB\"`: 0.9 GB, "
        "50 s).",
    )
    duckdb_temp_directory: str | None = Field(
        None, description="Where DuckDB spills to disk (default: `hiddennet.duckdb.tmp` in the run's folder)."
    )
    duckdb_group_workers: int | None = Field(
        None,
        ge=1,
        description="Processes for the per-group graph work on DuckDB (Leiden, centrality, dismantling) when there is "
        "enough of it (default: `duckdb_threads`, else one per core; 1: all in the main process). Results do not "
        "depend on it.",
    )
    spark: dict[str, str] = Field(
        default_factory=dict,
        description="Spark configuration passed as is to the session builder (table `[spark]`), e.g. "
        "`\"spark.master\" = \"spark://host:7077\"`; numbers and booleans are passed as text. Empty: local mode on "
        "every core.",
    )

    # -- dashboard ---------------------------------------------------------------------------------
    dashboard_session_idle_minutes: float = Field(
        30.0, gt=0, description="A dashboard session unused for this many minutes ends (held on the server)."
    )
    dashboard_session_max_hours: float = Field(
        8.0, gt=0, description="A dashboard session ends this many hours after sign-in, however much it is used."
    )
    dashboard_login_max_failures: int = Field(
        5, ge=1,
        description="Failed dashboard sign-ins (per user name and per client address) before sign-in is held off.",
    )
    dashboard_login_backoff_seconds: float = Field(
        30.0, gt=0, description="First hold-off after too many failed sign-ins; it doubles with each further failure."
    )
    dashboard_login_backoff_max_seconds: float = Field(900.0, gt=0, description="Longest hold-off of failed sign-ins.")
    dashboard_login_window_minutes: float = Field(
        15.0, gt=0, description="Failed sign-ins older than this are forgotten (a success forgets them at once)."
    )
    dashboard_identity_search: bool = Field(
        False,
        description="Publish the restricted `nominal_identities` table (names and PNC ids of the network's "
        "nominals) so that intelligence officers can search the dashboard by name or PNC id. Off: no name or PNC id "
        "leaves ingest.",
    )
    dashboard_page_max: int = Field(500, ge=1, description="Largest page (`limit`) any dashboard list API returns.")
    dashboard_handling_roles: dict[str, list[DashboardRole]] = Field(
        default_factory=_default_handling_roles,
        description="Handling code of an intelligence link -> dashboard roles allowed to see its evidence (log ids); "
        "codes not listed are shown to every role that may see the link; `none` stands for a link without a code. "
        "Default: the most restrictive code (5x5x5 `5`) hides the log ids from analysts.",
    )
    dashboard_oidc_issuer: str | None = Field(
        None, description="OpenID Connect issuer URL of the dashboard's single sign-on (for Entra ID the tenant's "
        "v2.0 issuer, `login.microsoftonline.com/<tenant>/v2.0` over HTTPS); unset: token sign-in only."
    )
    dashboard_oidc_client_id: str | None = Field(None, description="OIDC client (application) id of the dashboard.")
    dashboard_oidc_client_secret_env: str = Field(
        "HIDDENNET_OIDC_CLIENT_SECRET",
        description="Environment variable holding the OIDC client secret (never in a file).",
    )
    dashboard_oidc_redirect_url: str | None = Field(
        None, description="Redirect URL registered with the provider, ending in `/auth/callback`."
    )
    dashboard_oidc_roles_claim: str = Field(
        "roles", description="ID-token claim holding the user's app roles (Entra ID: `roles`)."
    )
    dashboard_oidc_role_map: dict[str, DashboardRole] = Field(
        default_factory=_default_oidc_role_map,
        description="Provider app-role value -> dashboard role. A user with none of them is refused; with several, "
        "the first in the order analyst, safeguarding_lead, intelligence_officer (least access first).",
    )
    dashboard_oidc_areas_claim: str = Field(
        "hiddennet_areas", description="ID-token claim listing a safeguarding lead's local areas (a list or one text)."
    )
    dashboard_oidc_name_claim: str = Field(
        "preferred_username", description="ID-token claim naming the user in the audit log (`sub` when absent)."
    )

    # -- safeguarding: triage, sharing, identifiers, ledger (docs/safeguarding.md) ------------------------------
    slavery_profiles: list[str] = Field(
        ["msht"],
        description="Profiles whose every selected crime is a slavery or trafficking crime: its victims of any age are "
        "flagged `nrm_consider`, adults also `adult_at_risk`.",
    )
    slavery_offence_codes: list[str] = Field(
        ["106", "72"],
        description="Home Office offence codes of slavery and trafficking crimes (106 modern slavery, 72 trafficking "
        "for sexual exploitation): victims of a selected crime with one of them are flagged as under "
        "`slavery_profiles`.",
    )
    triage_immediate_days: int = Field(
        28, ge=1,
        description="Triage: a child whose last linked crime or intelligence log is this recent is `immediate`.",
    )
    triage_recent_days: int = Field(
        365, ge=1,
        description="Triage: activity (last linked crime or log) this recent counts as recent (`high` for a child).",
    )
    triage_stale_days: int = Field(
        1826, ge=1, description="Triage: no linked crime or log for longer than this and the person is `monitor` only."
    )
    triage_repeat_victim_crimes: int = Field(
        2, ge=2, description="Triage: victim of at least this many selected crimes is repeat victimisation (`high`)."
    )
    triage_ranked_group_top: int = Field(
        20, ge=1,
        description="Triage: member of a group ranked this high or higher (1 = top) counts as `in_ranked_group` "
        "(`high`).",
    )
    triage_high_harm_cchi: float = Field(
        1825.0, ge=0,
        description="Triage: an unflagged nominal with at least this much CCHI harm (days) is a high-harm "
        "nominal; a person linked to one by a network link or as their victim is `high_harm_link`.",
    )
    triage_young_child_age: int = Field(
        13, ge=1, description="Triage: a child younger than this on `as_of` is `young_child` (`high`)."
    )
    referral_identifiers: bool = Field(
        False,
        description="Put name, date of birth, sex and the crime types and dates behind each flag in referral packs. "
        "Turn on only under the force's information-sharing agreement with its hubs; the run then keeps the restricted "
        "table `safeguarding_identifiers` (else empty).",
    )
    referral_ledger: str | None = Field(
        None,
        description="Folder of the referral ledger that links packs across runs (who was sent what, when, to whom, "
        "under what basis). Default: `referral-ledger` beside the run folder; `hiddennet referrals --ledger` "
        "overrides.",
    )
    resolve: bool = Field(
        False,
        description="Entity resolution (docs/resolve.md): link person records of one person across systems and "
        "within one (same PNC id, the `nominal_crosswalk` input, then a Splink model on name, date of birth, sex and "
        "ethnicity trained without labels); every table after ingest is on canonical ids, with the restricted "
        "`nominal_map`, `review_pairs` and `match_explanations`. Off: those tables and the inputs "
        "`nominal_crosswalk` and `review_decisions` are neither read nor published.",
    )
    resolve_match_probability: float = Field(
        0.9, gt=0, le=1,
        description="Resolve: a model pair at or above this match probability is merged automatically (never a "
        "child's record with an adult's: that pair is held for review).",
    )
    resolve_review_probability: float = Field(
        0.5, gt=0, le=1,
        description="Resolve: a model pair at or above this (and below `resolve_match_probability`) goes to "
        "`review_pairs` for a person to decide (`review_decisions` input); below it the records stay apart.",
    )
    resolve_source_system: str = Field(
        "crime", min_length=1,
        description="Resolve: the system of a person record with no `source_system` (the force's crime system); a "
        "merged person's canonical id is the id of one of its records from this system when it has one.",
    )
    resolve_seed: int = Field(
        1, ge=0, description="Resolve: seed of the random sample the model's u probabilities are estimated on."
    )

    @field_validator("resolve_review_probability")
    @classmethod
    def _review_below_match(cls, v: float, info: ValidationInfo) -> float:
        match = info.data.get("resolve_match_probability")
        if match is not None and v > match:
            raise ValueError("must not be above resolve_match_probability")
        return v

    # -- continuity between runs (docs/continuity.md) ----------------------------------------------------
    history_dir: str | None = Field(
        None,
        description="Folder of the force's run history (`--history DIR`): each run is named from the previous run "
        "there (stable group ids, `group_lineage`), writes `changes` and `alerts`, and is registered in it. Unset: no "
        "history, and none of these tables is published.",
    )
    group_id_min_jaccard: float = Field(
        0.3, gt=0, le=1,
        description="A group inherits the id of the previous run's group it overlaps most only when the Jaccard "
        "index of their members is at least this (docs/continuity.md).",
    )
    alert_top_n: int = Field(
        10, ge=0, description="Alert when a group enters the top N of the priority ranking (0: no such alert)."
    )
    alert_harm_growth_pct: float | None = Field(
        50.0, gt=0,
        description="Alert when a continued group's ranking harm (`rank_harm_cchi`) grows by at least this "
        "percentage since the previous run; unset: no such alert.",
    )
    alert_watch_nominals: list[str] = Field(
        default_factory=list,
        description="Nominal ids an officer watches: alert on each combined-network link of one of them that the "
        "previous run did not have.",
    )
    alert_new_child_in_ranked_group: bool = Field(
        True, description="Alert when a child is in a ranked group that they were not in (as a child) last run."
    )

    # -- all-age exploitation (docs/all-age.md); every one off by default ------------------------------------
    profiles: list[str] | None = Field(
        None,
        description="Several selection profiles in one run (built-in names or profile files, e.g. `[\"cse\", "
        "\"cce\", \"msht\"]`): the full table is their union and every row, link, nominal and group is tagged with "
        "the profiles that selected it (tables `profile_*`, `cross_profile`). Empty: the one `profile`; do not set "
        "both to different things.",
    )
    cooffending_layer: bool = Field(
        False,
        description="Build the co-offending layer: offenders on the same selected crime (any profile's, with or "
        "without a victim) linked with the recency weight; child suspects of selected drug-supply crimes are flagged "
        "`possible_cce_victim` (never targets).",
    )
    cooffending_window_days: int | None = Field(
        None, ge=1,
        description="With `cooffending_layer`: also link a selected crime's offender with anyone who co-offended with "
        "them on any crime dated this many days up to `as_of` (empty: selected crimes only).",
    )
    drug_supply_offence_codes: list[str] = Field(
        ["92A"],
        description="Home Office offence codes of drug-supply crimes (92A production, supply, PWITS): a child suspect "
        "of one selected under `cce` is a possible victim of criminal exploitation (Modern Slavery Act 2015 s.45).",
    )
    place_layer: bool = Field(
        False,
        description="Build the place layer: people on selected crimes at the same `crimes.location_key` linked (and "
        "children found there after a missing episode); publish the `places` hotspot table.",
    )
    place_max_people: int = Field(
        30, ge=2, description="Places with more people on selected crimes than this make no place links (counted)."
    )
    missing_repeat_episodes: int = Field(
        3, ge=2,
        description="Missing episodes (input `missing_episodes`) that make a child's missing repeated: with a link "
        "into a group it raises their triage band to `high`.",
    )

    @field_validator("spark", mode="before")
    @classmethod
    def _spark_text(cls, v):
        # Spark takes every setting as text; TOML gives numbers and booleans (`spark.executor.cores = 4`).
        if isinstance(v, dict):
            return {k: (str(x).lower() if isinstance(x, bool) else str(x)) for k, x in v.items()}
        return v

    @field_validator("profiles")
    @classmethod
    def _profile_names(cls, v: list[str] | None) -> list[str] | None:
        # Names are checked here; files are loaded (and checked) by the select stage.
        if v is None:
            return v
        out = [p.strip() for p in v]
        if not out or any(not p for p in out):
            raise ValueError("a profile name is empty (or the list is)")
        if len(set(out)) != len(out):
            raise ValueError("a profile is named twice")
        unknown = [i for i, p in enumerate(out) if p not in BUILTIN_PROFILE_NAMES and not Path(p).is_file()]
        if unknown:
            raise ValueError(f"item {unknown[0] + 1} is neither a built-in profile "
                             f"({', '.join(BUILTIN_PROFILE_NAMES)}) nor a file")
        return out

    @model_validator(mode="after")
    def _one_way_to_name_profiles(self) -> Settings:
        if self.profiles is not None and "profile" in self.model_fields_set and self.profile not in self.profiles:
            raise ValueError("profile and profiles disagree: set profiles only (or make profile one of them)")
        return self

    @field_validator("dashboard_handling_roles")
    @classmethod
    def _handling_codes(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        # A mistyped code would silently leave its evidence open: only real codes (and `none`) are keys.
        known = {"1", "2", "3", "4", "5", "P", "C", "none"}
        bad = sorted(k for k in v if k not in known)
        if bad:
            raise ValueError(f"unknown handling code key(s) {', '.join(bad)}; use 1-5, P, C or none")
        return v

    @field_validator("actionable_3x5x2", "actionable_5x5x5")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        out = sorted({g.strip().upper() for g in v})
        if any(not re.fullmatch(r"[A-Z0-9]{2}", g) for g in out):
            raise ValueError(
                "a grading is not two letters or digits (source grade and information grade, e.g. 1A or B2)"
            )
        return out

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_limit(cls, v: str | None) -> str | None:
        # Pasted into DuckDB's SET (quoted): only DuckDB's own size syntax is accepted.
        if v is None:
            return v
        m = _MEMORY_SIZE.fullmatch(v)
        if not m or float(m.group(1)) <= 0 or (m.group(2) == "%" and float(m.group(1)) > 100):
            raise ValueError(
                "not a memory size: a positive number and a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB) "
                "or a share of RAM up to 100%, e.g. 16GB, 512MiB, 80%"
            )
        return m.group(1) + m.group(2)

    @field_validator("duckdb_temp_directory")
    @classmethod
    def _plain_path(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or _CONTROL.search(v)):
            raise ValueError("not a folder path (empty, or holds a control character)")
        return v

    @field_validator("spark")
    @classmethod
    def _spark_plain(cls, v: dict[str, str]) -> dict[str, str]:
        # Handed to the Spark session builder as text: keys are names, values one line of text.
        for k, x in v.items():
            if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+", k):
                raise ValueError("a key is not a Spark setting name (letters, digits, '.', '_', '-')")
            if _CONTROL.search(x):
                raise ValueError(f"{k}: the value holds a control character (a line break?)")
        return v


def active_profiles(settings: Settings) -> list[str]:
    """The profiles of the run: `profiles` when set, else the one `profile`."""
    return list(settings.profiles) if settings.profiles is not None else [settings.profile]


def allage_on(settings: Settings) -> bool:
    """Any all-age setting on (docs/all-age.md): only then are the all-age tables published."""
    return settings.profiles is not None or settings.cooffending_layer or settings.place_layer


def _describe(err: ValidationError) -> list[str]:
    # Built from loc and msg only: pydantic's own str() would echo the input value.
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = "unknown setting" if e["type"] == "extra_forbidden" else e["msg"]
        out.append(f"{loc}: {msg}")
    return out


def load_settings(path: str | Path | None = None, **overrides) -> Settings:
    """Settings from a TOML file (if given) with keyword overrides on top; every problem reported at once."""
    data: dict = {}
    source = "settings"
    if path is not None:
        p = Path(path)
        source = str(p)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"file {p}: not found") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise SettingsError(f"file {p}: not valid TOML ({e.__class__.__name__})") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        raise SettingsError(f"{source}: " + "; ".join(_describe(e))) from None


def settings_reference() -> str:
    """The settings documentation as Markdown (docs/settings.md is this text)."""
    lines = [
        "# Settings",
        "",
        "Generated from `hiddennet/settings.py` by `python -m hiddennet.settings`; do not edit by hand.",
        "Put any of these keys in a TOML file and pass it with `--config`. Unknown keys are an error.",
        "",
        "| key | default | meaning |",
        "|---|---|---|",
    ]

    def fmt(v) -> str:
        if isinstance(v, BaseModel):
            return ", ".join(f"{k} = {x}" for k, x in v.model_dump().items())
        return "(none)" if v is None else str(v)

    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        lines.append(f"| `{name}` | `{fmt(default)}` | {field.description} |")
        if name == "layer_weight":
            for sub, sf in LayerWeights.model_fields.items():
                lines.append(f"| `layer_weight.{sub}` | `{sf.default}` | {sf.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(settings_reference(), end="")
