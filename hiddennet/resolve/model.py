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

from hiddennet.resolve.names import NICKNAMES

# Candidate pairs: two records are compared only when they agree on one of these (docs/resolve.md). The last
# two catch a typo in the surname together with one in the date of birth (`birth_month`: year and month;
# `birth_day`: month and day).
# `dob_key` is the date of birth with day and month in ascending order: a swapped day and month agree on it.
PREDICTION_BLOCKS = (
    ("surname", "dob_key"), ("forename_std", "dob_key"), ("forename_std", "surname", "birth_year"),
    ("forename_std", "surname_initial", "birth_month"), ("forename_std", "surname_initial", "birth_day"),
)
# And records of which one has no date of birth are compared when their names agree.
NO_DOB_BLOCK = "l.forename_std = r.forename_std AND l.surname = r.surname AND (l.dob IS NULL OR r.dob IS NULL)"
# Expectation maximisation runs on pairs agreeing on these; each leaves its own columns' m fixed.
TRAINING_BLOCKS = (("forename_std", "dob_key"), ("surname", "dob_key"), ("forename_std", "surname", "birth_year"))
COMPARISONS = ("forename_std", "surname", "dob", "sex", "ethnicity", "pnc")
# Optional identifiers of a person record (docs/input-contract.md): compared, and blocked on with a name, when
# the extract has the column.
IDENTIFIERS = ("postcode", "phone")
IDENTIFIER_BLOCKS = {"postcode": (("surname", "postcode"), ("forename_std", "postcode")),
                     "phone": (("phone",),)}
_U_PAIRS = 200_000
_EM_ITERATIONS = 10


@dataclass(frozen=True)
class ModelPair:
    a: str
    b: str
    probability: float
    weights: tuple[tuple[str, int, str, float], ...]  # (comparison, level, label, match weight)


def _register_records(con: duckdb.DuckDBPyConnection, arrow: pa.Table, identifiers: tuple[str, ...]) -> None:
    """The model's view of the records, built in SQL (no Python loop over the records): standardised
    names (names.py), date of birth as ISO text, year of birth, `dob_key`, the PNC id and the postcode without
    case or spaces, and the phone number as its digits (a leading 44 read as 0)."""
    con.register("hiddennet_input", arrow.select(["nominal_id", "forename", "surname", "date_of_birth", "sex",
                                                  "ethnicity", "pnc_id", *identifiers]))
    con.register("hiddennet_nicknames", pa.table({"nick": list(NICKNAMES), "full": list(NICKNAMES.values())}))
    std = {"postcode": "nullif(upper(replace(postcode, ' ', '')), '') AS postcode",
           "phone": "nullif(regexp_replace(regexp_replace(phone, '[^0-9]', '', 'g'), '^44', '0'), '') AS phone"}
    inner = "".join(f", {std[c]}" for c in identifiers)
    outer = "".join(f", r.{c}" for c in identifiers)
    con.execute(f"""
        CREATE TABLE hiddennet_records AS
        WITH r AS (
            SELECT nominal_id AS unique_id, nullif(lower(trim(forename)), '') AS forename_l,
                   nullif(lower(trim(surname)), '') AS surname, strftime(date_of_birth, '%Y-%m-%d') AS dob,
                   sex, ethnicity, nullif(upper(replace(pnc_id, ' ', '')), '') AS pnc{inner}
            FROM hiddennet_input)
        SELECT r.unique_id, coalesce(k.full, r.forename_l) AS forename_std, r.surname, r.dob, r.sex, r.ethnicity,
               r.pnc, substr(r.dob, 1, 4) AS birth_year, substr(r.surname, 1, 1) AS surname_initial,
               substr(r.dob, 1, 7) AS birth_month, substr(r.dob, 6, 5) AS birth_day,
               CASE WHEN r.dob IS NOT NULL THEN substr(r.dob, 1, 5) || least(substr(r.dob, 6, 2), substr(r.dob, 9, 2))
                    || '-' || greatest(substr(r.dob, 6, 2), substr(r.dob, 9, 2)) END AS dob_key{outer}
        FROM r LEFT JOIN hiddennet_nicknames k ON k.nick = r.forename_l
        ORDER BY r.unique_id""")
    con.unregister("hiddennet_input")


def _postcode_comparison():
    """Postcode: exact, one character apart (a mistyped postcode), same outward code (district), else."""
    from splink import comparison_level_library as cll, comparison_library as cl

    return cl.CustomComparison(
        output_column_name="postcode",
        comparison_levels=[
            cll.NullLevel("postcode"),
            cll.ExactMatchLevel("postcode"),
            cll.DamerauLevenshteinLevel("postcode", 1),
            # The outward code: the standardised postcode without its last three characters (the inward code).
            cll.CustomLevel("substr(postcode_l, 1, length(postcode_l) - 3) = "
                            "substr(postcode_r, 1, length(postcode_r) - 3)", label_for_charts="Same district"),
            cll.ElseLevel(),
        ],
        comparison_description="postcode",
    )


def _dob_comparison():
    """Date of birth: exact, day and month swapped, one character apart, same year and month, within a
    year, else."""
    from splink import comparison_level_library as cll, comparison_library as cl

    return cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel("dob_key_l = dob_key_r", label_for_charts="Day and month swapped"),
            cll.DamerauLevenshteinLevel("dob", 1),
            cll.CustomLevel("substr(dob_l, 1, 7) = substr(dob_r, 1, 7)", label_for_charts="Same year and month"),
            cll.CustomLevel("abs(date_diff('day', CAST(dob_l AS DATE), CAST(dob_r AS DATE))) <= 366",
                            label_for_charts="Within a year"),
            cll.ElseLevel(),
        ],
        comparison_description="date of birth",
    )


def score_pairs(arrow: pa.Table, review_probability: float, seed: int) -> tuple[list[ModelPair], dict]:
    """Pairs of records at or above `review_probability`, with each comparison's match weight."""
    if arrow.num_rows < 2:
        return [], {"records": arrow.num_rows, "pairs_scored": 0, "training_blocks_skipped": len(TRAINING_BLOCKS)}
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on, comparison_library as cl

    identifiers = tuple(c for c in IDENTIFIERS if c in arrow.column_names)
    comparisons = COMPARISONS + identifiers
    blocks = PREDICTION_BLOCKS + tuple(b for c in identifiers for b in IDENTIFIER_BLOCKS[c])
    from splink.internals.exceptions import EMTrainingException

    # Splink's progress and training notes say nothing a run needs (and never go to the root logger).
    logging.getLogger("splink").setLevel(logging.ERROR)
    con = duckdb.connect(":memory:", config={"threads": 1})  # one thread: the same sums every run
    try:
        settings = SettingsCreator(
            link_type="dedupe_only",
            comparisons=[
                cl.NameComparison("forename_std"),
                cl.NameComparison("surname").configure(term_frequency_adjustments=True),
                _dob_comparison(),
                cl.ExactMatch("sex"),
                cl.ExactMatch("ethnicity"),
                cl.ExactMatch("pnc"),  # a PNC id is one person's: two different ids are strong evidence against
                *([_postcode_comparison()] if "postcode" in identifiers else []),
                *([cl.ExactMatch("phone")] if "phone" in identifiers else []),
            ],
            blocking_rules_to_generate_predictions=[*(block_on(*b) for b in blocks),
                                                    {"blocking_rule": NO_DOB_BLOCK}],
            retain_intermediate_calculation_columns=True,
            max_iterations=_EM_ITERATIONS,
            em_convergence=0.001,
        )
        _register_records(con, arrow, identifiers)
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
                         _log2(float(r[f"bf_{c}"]) * float(r.get(f"bf_tf_adj_{c}", 1.0)))) for c in comparisons)
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
