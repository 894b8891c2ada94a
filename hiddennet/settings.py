"""Every setting of the method, its default and its meaning, in one typed object.

The defaults are those of spec/method.md. A run records the values it used in manifest.json.
`docs/settings.md` is generated from this file (`python -m hiddennet.settings > docs/settings.md`)
and a test fails when the two drift apart.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hiddennet.errors import SettingsError

LAYERS = ("victim", "intel", "custody", "soc")


class LayerWeights(BaseModel):
    """Multiplier of each layer's edge weight in the combined network (method.md section 4)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    victim: float = Field(1.0, ge=0, description="Weight of the victim layer (offenders sharing a victim).")
    intel: float = Field(1.0, ge=0, description="Weight of the intelligence layer.")
    custody: float = Field(1.0, ge=0, description="Weight of the custody (shared prison cell) layer.")
    soc: float = Field(1.0, ge=0, description="Weight of the existing Serious Organised Crime network.")


class Settings(BaseModel):
    """All settings of one run. Unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    gap_half_life: float = Field(365.0, gt=0, description="Days between two linked crimes that halve a final-table weight.")
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
    min_shared_cell_days: int = Field(30, ge=1, description="Days in one cell together (in total) that make a custody link.")

    # -- 4. network ----------------------------------------------------------------------------
    layer_weight: LayerWeights = Field(default_factory=LayerWeights, description="Per-layer multipliers (table `[layer_weight]`).")
    max_group_size: int = Field(50, ge=2, description="Components larger than this are split into communities by Leiden.")
    leiden_resolution: float = Field(1.0, gt=0, description="Resolution (gamma) of the Leiden modularity split.")
    betweenness_exact_max: int = Field(5000, ge=2, description="Groups up to this many nominals get exact betweenness.")
    betweenness_samples: int = Field(
        1000, ge=10, description="Source nominals sampled (fixed seed) for betweenness in larger groups."
    )

    # -- 5. harm and priority --------------------------------------------------------------------
    harm_window_days: int = Field(1826, ge=1, description="Crimes with an offence date this many days up to `as_of` count towards harm.")
    priority_measure: Literal["cchi", "ons"] = Field("cchi", description="Harm measure that ranks groups.")

    # -- 6. dismantling -----------------------------------------------------------------------------
    dismantle_fraction: float = Field(
        0.1, gt=0, lt=1, description="Target: no piece larger than max(2, ceil(fraction * group size)) nominals."
    )
    exact_dismantle_max: int = Field(16, ge=3, le=40, description="Groups up to this many nominals are dismantled exactly.")
    dismantle_method: Literal["gnd", "degree", "betweenness", "corehd"] = Field(
        "gnd", description="Algorithm for groups above `exact_dismantle_max` (the others are baselines for comparison)."
    )
    dismantle_reinsertion: bool = Field(True, description="Reinsert removed nominals that are not needed (after GND).")
    dismantle_search_rounds: int = Field(
        10, ge=0, le=1000,
        description="Rounds of the seeded local search that tries to shorten each GND dismantling order (0: none).",
    )

    # -- 7. safeguarding and fairness ---------------------------------------------------------------
    child_age: int = Field(18, ge=1, description="A person younger than this is a child.")
    transitional_age_max: int = Field(25, ge=18, description="Oldest age on `as_of` of a `transitional_victim`.")
    min_cell_count: int = Field(10, ge=1, description="Fairness cells with fewer people than this are suppressed.")
    stability_checks: bool = Field(True, description="Rerun network and harm with perturbed settings to measure top-10 stability.")
    stability_perturbation: float = Field(0.2, gt=0, lt=1, description="Relative change of half-lives and layer weights in the stability check.")

    # -- ingest ----------------------------------------------------------------------------------------
    max_age_years: int = Field(110, ge=50, description="A date of birth giving an age above this on `as_of` is implausible and cleared.")
    extract_date: dt.date | None = Field(
        None,
        description="Day the extract was taken: an event date after it is quarantined (`future_date`) and never sets `as_of`. "
        "Default: none; then an event date more than `max_future_days` after the 99th percentile of the extract's event dates is.",
    )
    max_future_days: int = Field(
        366, ge=0, description="Without `extract_date`: days after the 99th percentile of the accepted event dates beyond which "
        "an event date is quarantined as `future_date` (docs/ingest.md, as_of).",
    )
    input_encoding: Literal["utf-8", "latin-1", "cp1252"] = Field(
        "utf-8", description="Character encoding of the CSV extracts. `latin-1` or `cp1252` read a whole file written in that "
        "encoding (each value transcoded to UTF-8); with `utf-8` a value that is not UTF-8 is quarantined (`invalid_utf8`).",
    )

    # -- engines ---------------------------------------------------------------------------------------
    duckdb_memory_limit: str | None = Field(None, description="DuckDB memory limit, e.g. `16GB` (default: DuckDB's own, 80% of RAM).")
    duckdb_threads: int | None = Field(None, ge=1, description="DuckDB threads (default: one per core).")
    duckdb_temp_directory: str | None = Field(None, description="Where DuckDB spills to disk (default: next to the run's database).")
    duckdb_group_workers: int | None = Field(
        None,
        ge=1,
        description="Processes for the per-group graph work on DuckDB (Leiden, centrality, dismantling) when there is "
        "enough of it (default: `duckdb_threads`, else one per core; 1: all in the main process). Results do not depend on it.",
    )
    spark: dict[str, str] = Field(
        default_factory=dict,
        description="Spark configuration passed as is to the session builder (table `[spark]`), e.g. "
        "`\"spark.master\" = \"spark://host:7077\"`; numbers and booleans are passed as text. Empty: local mode on every core.",
    )

    @field_validator("spark", mode="before")
    @classmethod
    def _spark_text(cls, v):
        # Spark takes every setting as text; TOML gives numbers and booleans (`spark.executor.cores = 4`).
        if isinstance(v, dict):
            return {k: (str(x).lower() if isinstance(x, bool) else str(x)) for k, x in v.items()}
        return v

    @field_validator("actionable_3x5x2", "actionable_5x5x5")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return sorted({g.strip().upper() for g in v})


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
