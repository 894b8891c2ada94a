"""The probabilistic part of entity resolution: a Splink model scored on the person records.

Splink (the record-linkage library maintained by the UK Ministry of Justice) runs here on its own
in-memory DuckDB, on the records the run's engine handed over as Arrow (sorted by id), single-threaded
with a fixed seed: the same records give the same pairs and the same weights bit for bit whichever
engine ran the stages (README, Design). Trained without labels: u probabilities on a seeded random
sample, m probabilities by expectation maximisation on two blocking rules. docs/resolve.md lists
the comparisons and the blocking rules. Nothing is drawn or fetched (no charts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from hiddennet.resolve.names import standard_forename

# Candidate pairs: two records are compared only when they agree on one of these (docs/resolve.md).
# `dob_key` is the date of birth with day and month in ascending order: a swapped day and month agree on it.
PREDICTION_BLOCKS = (("surname", "dob_key"), ("forename_std", "dob_key"), ("forename_std", "surname", "birth_year"))
# And records of which one has no date of birth are compared when their names agree.
NO_DOB_BLOCK = "l.forename_std = r.forename_std AND l.surname = r.surname AND (l.dob IS NULL OR r.dob IS NULL)"
# Expectation maximisation runs on pairs agreeing on these; each leaves its own columns' m fixed.
TRAINING_BLOCKS = (("forename_std", "dob_key"), ("surname", "dob_key"), ("forename_std", "surname", "birth_year"))
COMPARISONS = ("forename_std", "surname", "dob", "sex", "ethnicity")
_U_PAIRS = 200_000
_EM_ITERATIONS = 10


@dataclass(frozen=True)
class ModelPair:
    a: str
    b: str
    probability: float
    weights: tuple[tuple[str, int, str, float], ...]  # (comparison, level, label, match weight)


def _records(arrow: pa.Table) -> pa.Table:
    """The model's view of the records: standardised names, date of birth as text, year of birth."""
    surname = [v.strip().lower() or None if isinstance(v, str) else None for v in arrow.column("surname").to_pylist()]
    dob = [d.isoformat() if d is not None else None for d in arrow.column("date_of_birth").to_pylist()]
    return pa.table({
        "unique_id": arrow.column("nominal_id"),
        "forename_std": pa.array([standard_forename(v) for v in arrow.column("forename").to_pylist()], pa.string()),
        "surname": pa.array(surname, pa.string()),
        "dob": pa.array(dob, pa.string()),
        "sex": arrow.column("sex"),
        "ethnicity": arrow.column("ethnicity"),
        "birth_year": pa.array([d[:4] if d else None for d in dob], pa.string()),
        "dob_key": pa.array([_dob_key(d) for d in dob], pa.string()),
    })


def _dob_key(dob: str | None) -> str | None:
    if not dob:
        return None
    month, day = dob[5:7], dob[8:10]
    return f"{dob[:4]}-{min(month, day)}-{max(month, day)}"


def _dob_comparison():
    """Date of birth: exact, day and month swapped, one character apart, within a year, else."""
    from splink import comparison_level_library as cll, comparison_library as cl

    return cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel("dob_key_l = dob_key_r", label_for_charts="Day and month swapped"),
            cll.DamerauLevenshteinLevel("dob", 1),
            cll.CustomLevel("birth_year_l = birth_year_r", label_for_charts="Same year of birth"),
            cll.ElseLevel(),
        ],
        comparison_description="date of birth",
    )


def score_pairs(arrow: pa.Table, review_probability: float, seed: int) -> tuple[list[ModelPair], dict]:
    """Pairs of records at or above `review_probability`, with each comparison's match weight."""
    if arrow.num_rows < 2:
        return [], {"records": arrow.num_rows, "pairs_scored": 0, "training_blocks_skipped": len(TRAINING_BLOCKS)}
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on, comparison_library as cl
    from splink.internals.exceptions import EMTrainingException

    # Splink's progress and training notes say nothing a run needs (and never go to the root logger).
    logging.getLogger("splink").setLevel(logging.ERROR)
    con = duckdb.connect(":memory:", config={"threads": 1})  # one thread: the same sums every run
    try:
        settings = SettingsCreator(
            link_type="dedupe_only",
            comparisons=[
                cl.NameComparison("forename_std"),
                cl.NameComparison("surname"),
                _dob_comparison(),
                cl.ExactMatch("sex"),
                cl.ExactMatch("ethnicity"),
            ],
            blocking_rules_to_generate_predictions=[*(block_on(*b) for b in PREDICTION_BLOCKS),
                                                    {"blocking_rule": NO_DOB_BLOCK}],
            retain_intermediate_calculation_columns=True,
            max_iterations=_EM_ITERATIONS,
            em_convergence=0.001,
        )
        con.register("hiddennet_records", _records(arrow))
        linker = Linker("hiddennet_records", settings, DuckDBAPI(connection=con), set_up_basic_logging=False)
        exact = block_on("forename_std", "surname", "dob")
        linker.training.estimate_probability_two_random_records_match([exact], recall=0.8)
        linker.training.estimate_u_using_random_sampling(max_pairs=_U_PAIRS, seed=seed)
        skipped = 0
        for b in TRAINING_BLOCKS:
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(block_on(*b))
            except EMTrainingException:  # no pair agrees on this block (a small extract): Splink's defaults stay
                skipped += 1
        scored = linker.inference.predict(threshold_match_probability=review_probability).as_pandas_dataframe()
        labels = _labels(linker.misc.save_model_to_json())
    finally:
        con.close()
    pairs = []
    for row in scored.sort_values(["unique_id_l", "unique_id_r"]).itertuples(index=False):
        r = row._asdict()
        weights = tuple((c, int(r[f"gamma_{c}"]), labels[c].get(int(r[f"gamma_{c}"]), ""),
                         _log2(float(r[f"bf_{c}"]))) for c in COMPARISONS)
        pairs.append(ModelPair(str(r["unique_id_l"]), str(r["unique_id_r"]), float(r["match_probability"]), weights))
    return pairs, {"records": arrow.num_rows, "pairs_scored": len(pairs), "training_blocks_skipped": skipped}


def _log2(x: float) -> float:
    import math

    return math.log2(x) if x > 0 else float("-inf")


def _labels(model: dict) -> dict[str, dict[int, str]]:
    """Comparison -> level (Splink's comparison vector value) -> the level's label."""
    out: dict[str, dict[int, str]] = {}
    for comp in model["comparisons"]:
        levels = comp["comparison_levels"]
        values: dict[int, str] = {}
        n = sum(1 for lv in levels if not lv.get("is_null_level"))
        for lv in levels:
            if lv.get("is_null_level"):
                values[-1] = lv.get("label_for_charts", "null")
            else:
                n -= 1
                values[n] = lv.get("label_for_charts", "")
        out[comp["output_column_name"]] = values
    return out
