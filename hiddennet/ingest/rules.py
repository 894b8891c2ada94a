"""What makes a value good, as SQL: one typed expression and one reason code per contract column kind.

Every expression reads a trimmed VARCHAR (empty already NULL) and returns the typed value, or NULL
when the value breaks the contract. Kept to standard SQL (CASE, IN, TRY_CAST, regexp) so that
sqlglot can carry it to Spark.
"""

from __future__ import annotations

from collections.abc import Mapping

from hiddennet.contract import (
    ETHNICITY_CODES,
    GRADING_SYSTEMS,
    HANDLING_CODES,
    INFORMATION_GRADES,
    REFERRAL_OUTCOMES,
    REVIEW_DECISIONS,
    ROLES,
    SHARING_BASES,
    SOURCE_GRADES,
)
from hiddennet.sql import lit

# Every reason code quarantine may hold (docs/ingest.md explains each).
REASONS = (
    "bad_date",
    "missing_required",
    "too_few_columns",
    "too_many_columns",
    "bad_flag",
    "unknown_role",
    "bad_sex",
    "bad_ethnicity",
    "bad_number",
    "orphan_crime",
    "orphan_nominal",
    "orphan_log",
    "duplicate_row",
    "conflicting_duplicate",
    "implausible_dob",
    "bad_grade",
    "bad_interval",
    "self_link",
    "bad_weight",
    "invalid_utf8",
    "truncated_row",
    "bad_handling_code",
    "bad_sharing_basis",
    "bad_outcome",
    "future_date",
    "bad_quote",
    "value_too_long",
    "invalid_encoding",
    "bad_decision",
)

# Trimmed from both ends of every value (and collapsed inside coded values): Unicode white space
# (what Python's str.isspace calls space: tab, line ends, no-break and other Unicode spaces) plus
# the zero-width space and a stray byte-order mark, which print as nothing.
WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace()) + "\u200b\ufeff"
# The same set as a regular-expression class (RE2 and Java both read \x{...}).
_WS_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"
# Dates are plausible from 1800-01-01 to 2199-12-31; a year outside (0000, -001, 2201) is a bad date.
_YEAR = "(18|19|20|21)[0-9]{2}"
# A finite decimal number (`nan`, `inf`, hex and `1_000` are not; `1e400` matches but is not finite).
NUMBER_PATTERN = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$"
_MAX_DOUBLE = "1.7976931348623157e308"

# A date, or a timestamp whose date is kept (`2020-01-05T10:00:00`, `2020-01-05 10:00`, with zone).
# Hours 00-23, minutes 00-59, seconds 00-60 (a leap second), zones up to +-23:59.
DATE_PATTERN = (
    "^" + _YEAR + r"-[0-9]{2}-[0-9]{2}"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:([0-5][0-9]|60)([.][0-9]+)?)?(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?$"
)
TRUE_WORDS = ("true", "t", "y", "yes", "1")
FALSE_WORDS = ("false", "f", "n", "no", "0")
SQL_TYPE = {"date": "DATE", "flag": "BOOLEAN", "number": "DOUBLE"}

REASON_OF_KIND = {
    "date": "bad_date",
    "flag": "bad_flag",
    "role": "unknown_role",
    "sex": "bad_sex",
    "ethnicity": "bad_ethnicity",
    "number": "bad_number",
    "grading_system": "bad_grade",
    "source_grade": "bad_grade",
    "information_grade": "bad_grade",
    "handling_code": "bad_handling_code",
    "sharing_basis": "bad_sharing_basis",
    "referral_outcome": "bad_outcome",
    "review_decision": "bad_decision",
}
# Spellings a force's records use for an outcome code.
OUTCOME_SYNONYMS = {"nfa": "no_further_action", "nrm": "nrm_referral", "strategy_meeting": "strategy_discussion"}


def in_list(values) -> str:
    return "(" + ", ".join(lit(v) for v in values) + ")"


def _graded(v: str, system: str, grades: Mapping[str, tuple[str, ...]]) -> str:
    whens = " ".join(
        f"WHEN {system} = {lit(s)} AND upper({v}) IN {in_list(g)} THEN upper({v})" for s, g in grades.items()
    )
    return f"CASE {whens} END"


def trim_sql(v: str, plain: bool = False) -> str:
    """SQL of `v` without white space (WHITESPACE) at either end.

    `plain`: the file holds printable ASCII and line ends only (records.FileScan.plain_text) and no
    value holds a line end, so the only white space a value can hold is the space: a plain trim is
    the same and costs far less, and it runs only on values that start or end with a space (a
    trim copies every value it sees: twice the cost of the test). Else trimming a list of
    characters costs ~15x a plain trim in DuckDB, so it runs only on values whose first or last
    character is not printable ASCII (codes 33-126: nothing to trim), which are rare.
    """
    if plain:
        return f"CASE WHEN {v} LIKE ' %' OR {v} LIKE '% ' THEN trim({v}) ELSE {v} END"
    ends_plain = f"ascii({v}) BETWEEN 33 AND 126 AND ascii(right({v}, 1)) BETWEEN 33 AND 126"
    return f"CASE WHEN {ends_plain} THEN {v} ELSE trim({v}, {lit(WHITESPACE)}) END"


def collapse_sql(v: str, into: str, extra: str = "", plain: bool = False) -> str:
    """SQL of `v` with every run of white space (and of the characters in `extra`) replaced by `into`
    (`plain`: the value's only possible white space is the space, see trim_sql)."""
    cls = ("[ " if plain else _WS_CLASS[:-1]) + extra + "]"
    return f"regexp_replace({v}, {lit(cls + '+')}, {lit(into)}, 'g')"


def _coded(low: str, norm: str, codes) -> str:
    """SQL of a coded value: `low` (the value in lower case) when it is a code, else `norm` (its white
    space and separators collapsed) when that is. Most values are written as the code: the regexp
    of `norm` then runs only on the few that are not."""
    return f"CASE WHEN {low} IN {in_list(codes)} THEN {low} WHEN {norm} IN {in_list(codes)} THEN {norm} END"


def typed(kind: str, v: str, system: str | None = None, plain: bool = False) -> str:
    """SQL giving the typed value of VARCHAR expression `v`, NULL when it is not valid.

    `system` is the SQL of the row's normalised grading system (grades depend on it); `plain`: see
    trim_sql.
    """
    if kind == "date":
        # The plain date is the common case: checked with cheap patterns before the regexp (`_` is one
        # character, so these are: ten characters, a plausible century, dashes at 5 and 8).
        iso = " OR ".join(f"{v} LIKE '{century}__-__-__'" for century in ("18", "19", "20", "21"))
        return (f"CASE WHEN ({iso}) THEN TRY_CAST({v} AS DATE) "
                f"WHEN regexp_matches({v}, {lit(DATE_PATTERN)}) THEN TRY_CAST(substr({v}, 1, 10) AS DATE) END")
    if kind == "flag":
        return (
            f"CASE WHEN lower({v}) IN {in_list(TRUE_WORDS)} THEN true "
            f"WHEN lower({v}) IN {in_list(FALSE_WORDS)} THEN false END"
        )
    if kind == "number":
        # Finite only; `+ 0.0` turns -0 into 0.
        return (f"CASE WHEN regexp_matches({v}, {lit(NUMBER_PATTERN)}) "
                f"AND abs(TRY_CAST({v} AS DOUBLE)) <= {_MAX_DOUBLE} THEN TRY_CAST({v} AS DOUBLE) + 0.0 END")
    if kind == "role":
        return _coded(f"lower({v})", collapse_sql(f"lower({v})", "_", "_\\-", plain), ROLES)
    if kind == "sex":
        return f"CASE WHEN upper({v}) IN ('M', 'MALE') THEN 'M' WHEN upper({v}) IN ('F', 'FEMALE') THEN 'F' END"
    if kind == "ethnicity":
        return f"CASE WHEN upper({v}) IN {in_list(ETHNICITY_CODES)} THEN upper({v}) END"
    if kind == "grading_system":
        return _coded(f"lower({v})", collapse_sql(f"lower({v})", "", plain=plain), GRADING_SYSTEMS)
    if kind == "source_grade":
        return _graded(v, system or "NULL", SOURCE_GRADES)
    if kind == "information_grade":
        return _graded(v, system or "NULL", INFORMATION_GRADES)
    if kind == "handling_code":
        return _graded(v, system or "NULL", HANDLING_CODES)
    if kind in ("sharing_basis", "referral_outcome"):
        # Any case; spaces, hyphens and full stops between words: `Care Act s.42 enquiry`, `Outcome 22`.
        norm = f"regexp_replace(regexp_replace(lower({v}), '[^a-z0-9]+', '_', 'g'), '^_+|_+$', '', 'g')"
        if kind == "sharing_basis":
            return f"CASE WHEN {norm} IN {in_list(SHARING_BASES)} THEN {norm} END"
        syn = " ".join(f"WHEN {norm} = {lit(a)} THEN {lit(b)}" for a, b in OUTCOME_SYNONYMS.items())
        return f"CASE WHEN {norm} IN {in_list(REFERRAL_OUTCOMES)} THEN {norm} {syn} END"
    if kind == "review_decision":
        return f"CASE WHEN lower({v}) IN {in_list(REVIEW_DECISIONS)} THEN lower({v}) END"
    return v  # id, text: any value


def known_unknown(kind: str, v: str) -> str | None:
    """SQL true when `v` is a recognised way of saying "unknown" (kept as NULL, not quarantined)."""
    if kind == "sex":
        return f"upper({v}) IN ('U', 'UNKNOWN')"
    if kind == "ethnicity":
        return f"upper({v}) IN ('IC9', 'IC0', 'U', 'UNKNOWN')"
    return None
