"""The input contract (docs/input-contract.md) as data: tables, columns, what each must hold.

Ingest reads this; the synthetic force generator writes to it. Column kinds:
- ``id``: opaque text, never parsed as a number (``007`` and ``7`` differ);
- ``text``: free text;  ``date``: ISO 8601 date (a timestamp is accepted, its date kept);
- ``flag``: true/false, Y/N, 1/0 (any case);  ``role``, ``sex``, ``ethnicity``: normalised codes;
- ``grading_system``, ``source_grade``, ``information_grade``, ``handling_code``: intelligence grading;
- ``number``: a decimal number;
- ``review_decision``: ``merge`` or ``separate`` (entity resolution's review loop, docs/resolve.md);
- ``sharing_basis``, ``referral_outcome``: codes of the safeguarding inputs a force maintains (``FORCE_INPUTS``)
  (``SHARING_BASES``, ``REFERRAL_OUTCOMES`` below; docs/safeguarding.md explains each).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = False


@dataclass(frozen=True)
class TableContract:
    name: str
    columns: tuple[Column, ...]
    required: bool = False
    key: tuple[str, ...] = ()  # columns that identify a row; one key with two contents is a conflict
    requires: tuple[str, ...] = ()  # other tables that must come with this one

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


C = Column

TABLES: dict[str, TableContract] = {
    t.name: t
    for t in (
        TableContract(
            "crimes",
            (
                C("crime_ref", "id", True),
                C("offence_title", "text", True),
                C("offence_date", "date", True),
                C("offence_code", "text"),
                C("recorded_date", "date"),
                C("domestic_abuse", "flag"),
                C("if_codes", "text"),
                C("modus_operandi", "text"),
                C("location_type", "text"),
                C("location_area", "text"),
            ),
            required=True,
            key=("crime_ref",),
        ),
        TableContract(
            "nominals",
            (
                C("nominal_id", "id", True),
                C("date_of_birth", "date"),
                C("sex", "sex"),
                C("ethnicity", "ethnicity"),
                C("forename", "text"),
                C("surname", "text"),
                C("pnc_id", "id"),
                C("source_system", "id"),
            ),
            required=True,
            key=("nominal_id",),
        ),
        TableContract(
            "crime_nominals",
            (
                C("crime_ref", "id", True),
                C("nominal_id", "id", True),
                C("role", "role", True),
                C("sex", "sex"),
                C("date_of_birth", "date"),
                C("ethnicity", "ethnicity"),
            ),
            required=True,
            key=("crime_ref", "nominal_id", "role"),
        ),
        TableContract(
            "intel_logs",
            (
                C("log_id", "id", True),
                C("log_date", "date", True),
                C("grading_system", "grading_system", True),
                C("source_grade", "source_grade", True),
                C("information_grade", "information_grade", True),
                C("handling_code", "handling_code"),
            ),
            key=("log_id",),
            requires=("intel_nominals",),
        ),
        TableContract(
            "intel_nominals",
            (C("log_id", "id", True), C("nominal_id", "id", True)),
            key=("log_id", "nominal_id"),
            requires=("intel_logs",),
        ),
        TableContract(
            "custody_cells",
            (
                C("nominal_id", "id", True),
                C("establishment", "id", True),
                C("cell_id", "id", True),
                C("from_date", "date", True),
                C("to_date", "date"),
            ),
        ),
        TableContract(
            "soc_nominals",
            (C("nominal_id", "id", True), C("group_id", "id")),
            key=("nominal_id", "group_id"),
        ),
        TableContract(
            "soc_edges",
            (
                C("nominal_id_a", "id", True),
                C("nominal_id_b", "id", True),
                C("weight", "number"),
                C("layer", "text"),
            ),
        ),
    )
}

# Safeguarding inputs the force maintains (docs/safeguarding.md), optional: the recorded basis for sharing an
# adult's details with a hub, and what hubs did with the referrals. Not part of a crime-system extract (so
# not in TABLES, which the synthetic force writes); ingest reads INPUT_TABLES, both together.
FORCE_INPUTS: dict[str, TableContract] = {
    t.name: t
    for t in (
        TableContract(
            "sharing_basis",
            (
                C("nominal_id", "id", True),
                C("basis", "sharing_basis", True),
                C("recorded_date", "date", True),
                C("recorded_by", "text"),
                C("expires", "date"),
            ),
            key=("nominal_id", "recorded_date"),
        ),
        TableContract(
            "referral_outcomes",
            (
                C("nominal_id", "id", True),
                C("outcome", "referral_outcome", True),
                C("outcome_date", "date", True),
                C("area", "text"),
                C("recorded_by", "text"),
            ),
            key=("nominal_id", "outcome", "outcome_date"),
        ),
        # Entity resolution (docs/resolve.md): read only when `resolve` is on (else ignored, never published).
        TableContract(
            "nominal_crosswalk",
            (
                C("source_system", "id", True),
                C("source_id", "id", True),
                C("nominal_id", "id", True),
            ),
            key=("source_system", "source_id"),
        ),
        TableContract(
            "review_decisions",
            (
                C("nominal_id_a", "id", True),
                C("nominal_id_b", "id", True),
                C("decision", "review_decision", True),
                C("decided_date", "date"),
                C("decided_by", "text"),
            ),
            key=("nominal_id_a", "nominal_id_b"),
        ),
        # All-age (docs/all-age.md): missing-person episodes; published only when supplied.
        TableContract(
            "missing_episodes",
            (
                C("nominal_id", "id", True),
                C("start_date", "date", True),
                C("end_date", "date"),
                C("found_location_key", "text"),
                C("found_location_area", "text"),
            ),
            key=("nominal_id", "start_date"),
        ),
    )
}
# Optional columns a force may add to a contract table, carried as extra columns (VARCHAR, after the table's
# own) so that a file without them is read exactly as before (docs/input-contract.md, docs/all-age.md).
# `nominals`' postcode and phone: identifiers a person record holds, compared by entity resolution (docs/resolve.md).
OPTIONAL_EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {"crimes": ("location_key",), "nominals": ("postcode", "phone")}


class _InputTables(Mapping[str, TableContract]):
    """TABLES then FORCE_INPUTS, read live (a change to TABLES, as tests make, is seen here)."""

    def __getitem__(self, name: str) -> TableContract:
        return TABLES[name] if name in TABLES else FORCE_INPUTS[name]

    def __iter__(self) -> Iterator[str]:
        yield from TABLES
        yield from FORCE_INPUTS

    def __len__(self) -> int:
        return len(TABLES) + len(FORCE_INPUTS)


INPUT_TABLES: Mapping[str, TableContract] = _InputTables()

# Roles as ingest normalises them (lower case, spaces to underscores).
ROLES = (
    "victim",
    "offender",
    "defendant",
    "suspect",
    "person_thought_responsible",
    "person_probably_responsible",
    "witness",
    "other",
)
# "Every role from offender to person_probably_responsible counts as an offender."
OFFENDER_ROLES = ROLES[1:6]
ETHNICITY_CODES = ("IC1", "IC2", "IC3", "IC4", "IC5", "IC6")
ETHNICITY_UNKNOWN = ("IC9", "IC0", "U", "")
GRADING_SYSTEMS = ("3x5x2", "5x5x5")
SOURCE_GRADES = {"3x5x2": ("1", "2", "3"), "5x5x5": ("A", "B", "C", "D", "E")}
INFORMATION_GRADES = {"3x5x2": ("A", "B", "C", "D", "E"), "5x5x5": ("1", "2", "3", "4", "5")}
HANDLING_CODES = {"3x5x2": ("P", "C"), "5x5x5": ("1", "2", "3", "4", "5")}
FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
# Recorded bases for sharing an adult's details with a safeguarding hub (docs/safeguarding.md). The last two
# record that there is none: the latest record of a person decides.
SHARING_BASES = (
    "consent",
    "vital_interests",
    "safeguarding_individual_at_risk",
    "care_act_s42_enquiry",
    "mca_best_interests",
    "consent_refused",
    "consent_withdrawn",
)
NO_SHARING_BASES = ("consent_refused", "consent_withdrawn")
# What a hub did with a referral (Home Office Counting Rules outcome 22: diversionary or educational activity).
# What a person decided about a pair of person records held for review (docs/resolve.md).
REVIEW_DECISIONS = ("merge", "separate")
REFERRAL_OUTCOMES = ("accepted", "no_further_action", "strategy_discussion", "nrm_referral", "outcome_22")
