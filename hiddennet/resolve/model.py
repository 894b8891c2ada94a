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
PREDICTION_BLOCKS = (("surname", "dob"), ("forename_std", "dob"), ("forename_std", "surname", "birth_year"))
# Expectation maximisation runs on pairs agreeing on these; each leaves its own columns' m fixed.
TRAINING_BLOCKS = (("dob",), ("forename_std", "surname", "birth_year"))
COMPARISONS = ("forename_std", "surname", "dob", "sex", "ethnicity")
_U_PAIRS = 1_000_000


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
    })


def score_pairs(arrow: pa.Table, review_probability: float, seed: int) -> tuple[list[ModelPair], dict]:
    """Pairs of records at or above `review_probability`, with each comparison's match weight."""
    if arrow.num_rows < 2:
        return [], {"records": arrow.num_rows, "pairs_scored": 0}
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    from splink import comparison_library as cl

    logging.getLogger("splink").setLevel(logging.WARNING)  # its progress lines say nothing a run needs
    con = duckdb.connect(":memory:", config={"threads": 1})  # one thread: the same sums every run
    try:
        settings = SettingsCreator(
            link_type="dedupe_only",
            comparisons=[
                cl.NameComparison("forename_std"),
                cl.NameComparison("surname"),
                cl.DateOfBirthComparison("dob", input_is_string=True),
                cl.ExactMatch("sex"),
                cl.ExactMatch("ethnicity"),
            ],
            blocking_rules_to_generate_predictions=[block_on(*b) for b in PREDICTION_BLOCKS],
            retain_intermediate_calculation_columns=True,
        )
        con.register("hiddennet_records", _records(arrow))
        linker = Linker("hiddennet_records", settings, DuckDBAPI(connection=con))
        exact = block_on("forename_std", "surname", "dob")
        linker.training.estimate_probability_two_random_records_match([exact], recall=0.8)
        linker.training.estimate_u_using_random_sampling(max_pairs=_U_PAIRS, seed=seed)
        for b in TRAINING_BLOCKS:
            linker.training.estimate_parameters_using_expectation_maximisation(block_on(*b))
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
    return pairs, {"records": arrow.num_rows, "pairs_scored": len(pairs)}


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
