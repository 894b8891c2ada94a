"""The tables between stages as data: every inter-stage and published table, its columns and types,
the stage that writes it, whether it is published and whether it holds personal data.

This is to the stages what `contract.py` is to the input. From it come:
- the column tables of docs/tables.md (`python -m hiddennet.tables` rewrites the blocks between
  `<!-- tables:NAME -->` and `<!-- /tables -->`; the prose around them is written by hand);
- `engine.empty(name)` and `empty_sql(name)`, an empty table with the registered columns;
- `arrow_schema(name)`, the Arrow schema of a table (for per-group functions and Python-built tables);
- the fake run of the report and dashboard tests (`report/sample.py`).

A new table or column: add it here (the stage that writes it, DuckDB type, one-line meaning; a
column continues its meaning on lines indented two more spaces), declare it in the stage's `STAGE`
(`writes`), run `python -m hiddennet.tables` to regenerate docs/tables.md (add a `### `name``
heading, prose and an empty marker pair for a new table), and the tests
(tests/test_tables.py, tests/test_docs_tables.py, tests/test_stage_contract.py) check that a run
writes exactly these columns with these types.

Types are DuckDB SQL type names (the dialect of the stages): VARCHAR, BIGINT, INTEGER, DOUBLE,
BOOLEAN, DATE, and `T[]` for a list of T.
"""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from hiddennet.sql import q

_ARROW = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "SMALLINT": pa.int16(),
    "DOUBLE": pa.float64(),
    "FLOAT": pa.float32(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
}


def arrow_type(sql_type: str) -> pa.DataType:
    """The Arrow type of a DuckDB type name (`VARCHAR[]` -> list<string>)."""
    if sql_type.endswith("[]"):
        return pa.list_(arrow_type(sql_type[:-2]))
    return _ARROW[sql_type]


def sql_type(t: pa.DataType) -> str:
    """The DuckDB type name of an Arrow type, as the registry writes it."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return sql_type(t.value_type) + "[]"
    if t == pa.large_string():
        return "VARCHAR"
    for name, arrow in _ARROW.items():
        if arrow == t:
            return name
    return str(t)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type name
    meaning: str = ""


@dataclass(frozen=True)
class Table:
    """One table between stages.

    `name` is its published name (`<out>/tables/<name>.parquet`) and its key here; `engine_name`
    the name stages use while the run is on (they differ only for the ingested person table,
    `nominals` in the engine, published as `input_nominals`). `restricted`: holds personal data
    (a person's name, date of birth, sex or ethnicity, or marks a child): never shown unrestricted.
    `extras`: carries the input file's extra columns (not registered, VARCHAR) after its own.
    `when`: published only when that setting is set (`history_dir`: the continuity tables).
    """

    name: str
    stage: str
    description: str
    columns: tuple[Column, ...]
    published: bool = True
    restricted: bool = False
    extras: bool = False
    engine_name: str = ""
    # Published only when this setting is set (else the table is in the engine only, empty).
    when: str = ""
    # Published only when its feature is on (docs/all-age.md): a run without it publishes exactly today's tables.
    optional: bool = False

    @property
    def conditional(self) -> bool:
        """Published only when a setting or feature is on: a run without it publishes exactly today's tables."""
        return bool(self.when) or self.optional

    @property
    def sql_name(self) -> str:
        return self.engine_name or self.name

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _columns(spec: str) -> tuple[Column, ...]:
    """Columns from lines `name  TYPE  meaning`; a line indented further continues the meaning."""
    cols: list[Column] = []
    for line in textwrap.dedent(spec).strip("\n").splitlines():
        if line.startswith(" "):
            last = cols.pop()
            cols.append(Column(last.name, last.type, f"{last.meaning} {line.strip()}"))
            continue
        name, type_, *meaning = line.split(None, 2)
        cols.append(Column(name, type_, meaning[0] if meaning else ""))
    return tuple(cols)


def _table(name: str, stage: str, description: str, spec: str, **kw) -> Table:
    return Table(name, stage, description, _columns(spec), **kw)


_REGISTRY: tuple[Table, ...] = (
    _table(
        "crimes",
        "ingest",
        "Crimes of the extract, typed; rows that broke the contract are in quarantine.",
        """
        crime_ref       VARCHAR    crime reference (key)
        offence_title   VARCHAR    offence title as recorded
        offence_date    DATE       date of the offence
        offence_code    VARCHAR    Home Office offence code
        recorded_date   DATE       date recorded
        domestic_abuse  BOOLEAN    domestic abuse flag
        if_codes        VARCHAR    interest-flag codes, as text
        modus_operandi  VARCHAR    MO free text
        location_type   VARCHAR    type of location
        location_area   VARCHAR    area (used for referral packs)
        source_line     BIGINT     see above
        """,
        extras=True,
    ),
    _table(
        "input_nominals",
        "ingest",
        "People of the extract with resolved demographics (`nominals` in the engine, where it also holds the "
        "names and PNC ids as read; they are left out when published).",
        """
        nominal_id            VARCHAR    person id (key)
        date_of_birth         DATE       resolved; implausible values cleared (`max_age_years`)
        sex                   VARCHAR    resolved, `M`/`F`/NULL
        ethnicity             VARCHAR    resolved, `IC1`..`IC6`/NULL
        date_of_birth_source  VARCHAR    `nominal`, `crime`, or NULL when unknown
        sex_source            VARCHAR    as above
        ethnicity_source      VARCHAR    as above
        source_line           BIGINT     see above
        """,
        restricted=True, extras=True, engine_name="nominals",
    ),
    _table(
        "crime_nominals",
        "ingest",
        "Who was in each crime and in which role, with what that crime recorded of them.",
        """
        crime_ref      VARCHAR    the crime
        nominal_id     VARCHAR    the person
        role           VARCHAR    normalised role (see above)
        sex            VARCHAR    as recorded on this crime
        date_of_birth  DATE       as recorded on this crime (implausible cleared)
        ethnicity      VARCHAR    as recorded on this crime
        source_line    BIGINT     see above
        """,
        restricted=True, extras=True,
    ),
    _table(
        "intel_logs",
        "ingest",
        "Intelligence logs with their grading.",
        """
        log_id             VARCHAR    log id (key)
        log_date           DATE       date of the log
        grading_system     VARCHAR    `3x5x2` or `5x5x5`
        source_grade       VARCHAR    source grade in that system
        information_grade  VARCHAR    information grade in that system
        handling_code      VARCHAR    handling code (NULL when none or unknown)
        source_line        BIGINT     see above
        """,
        extras=True,
    ),
    _table(
        "intel_nominals",
        "ingest",
        "People each intelligence log names.",
        """
        log_id       VARCHAR    the log
        nominal_id   VARCHAR    a person the log names
        source_line  BIGINT     see above
        """,
        extras=True,
    ),
    _table(
        "sharing_basis",
        "ingest",
        "Optional input the force maintains: the recorded basis for sharing an adult's details with a hub (empty when "
        "not supplied).",
        """
        nominal_id     VARCHAR    the person (must exist in `nominals`)
        basis          VARCHAR    `consent`, `vital_interests`, `safeguarding_individual_at_risk`,
                                    `care_act_s42_enquiry`, `mca_best_interests`, `consent_refused`,
                                    `consent_withdrawn`
        recorded_date  DATE       when recorded; the latest record on or before `as_of` decides
        recorded_by    VARCHAR    who recorded it
        expires        DATE       end of the basis; NULL: none
        source_line    BIGINT     see above
        """,
        restricted=True, extras=True,
    ),
    _table(
        "referral_outcomes",
        "ingest",
        "Optional input: what hubs did with referrals (empty when not supplied).",
        """
        nominal_id    VARCHAR    the person (must exist in `nominals`)
        outcome       VARCHAR    `accepted`, `no_further_action`, `strategy_discussion`, `nrm_referral`, `outcome_22`
        outcome_date  DATE
        area          VARCHAR    the hub's area, as recorded
        recorded_by   VARCHAR
        source_line   BIGINT     see above
        """,
        restricted=True, extras=True,
    ),
    _table(
        "custody_cells",
        "ingest",
        "Custody cell stays.",
        """
        nominal_id     VARCHAR    the person
        establishment  VARCHAR    custody establishment
        cell_id        VARCHAR    cell within the establishment
        from_date      DATE       first day in the cell
        to_date        DATE       last day (NULL: still there)
        source_line    BIGINT     see above
        """,
        extras=True,
    ),
    _table(
        "soc_nominals",
        "ingest",
        "People of the existing Serious Organised Crime network.",
        """
        nominal_id   VARCHAR    a person of the SOC network
        group_id     VARCHAR    their SOC group (not a hiddennet group id)
        source_line  BIGINT     see above
        """,
        extras=True,
    ),
    _table(
        "soc_edges",
        "ingest",
        "Links of the existing Serious Organised Crime network.",
        """
        nominal_id_a  VARCHAR    one end
        nominal_id_b  VARCHAR    other end
        weight        DOUBLE     link strength; 1.0 when not given
        layer         VARCHAR    the SOC network's own layer label
        source_line   BIGINT     see above
        """,
        extras=True,
    ),
    _table(
        "quarantine",
        "ingest",
        "Every rejected row and cleared value: position and reason, never a value.",
        """
        source_table  VARCHAR    contract table
        source_file   VARCHAR    file name
        line          BIGINT     as `source_line` (parse errors: the record's first line)
        column        VARCHAR    the column at fault; NULL for a whole-row fault (a parse error other than
                                   `invalid_utf8`, a duplicate)
        reason        VARCHAR    reason code
        action        VARCHAR    `row_rejected` or `value_cleared`
        """,
    ),
    _table(
        "demographic_conflicts",
        "ingest",
        "People whose records disagree on a demographic column.",
        """
        nominal_id  VARCHAR    the person
        column      VARCHAR    `date_of_birth`, `sex` or `ethnicity`
        kind        VARCHAR    `nominal_vs_crime`: the person record has a value and a crime record differs from it;
                                 `crime_vs_crime`: no value on the person record and the crime records disagree
        """,
    ),
    _table(
        "nominal_crosswalk",
        "ingest",
        "Optional input, read with `resolve` on (docs/resolve.md): ids another system (prison, intelligence, SOC) "
        "gives a person of `nominals`; published only with `resolve` on.",
        """
        source_system  VARCHAR    the other system, e.g. `pins`
        source_id      VARCHAR    the person's id there
        nominal_id     VARCHAR    the person record (must exist in `nominals`)
        source_line    BIGINT     see above
        """,
        restricted=True, extras=True,
    ),
    _table(
        "review_decisions",
        "ingest",
        "Optional input, read with `resolve` on: what a person decided about pairs of `review_pairs` (fed back into "
        "the next run); published only with `resolve` on.",
        """
        nominal_id_a  VARCHAR    one person record (must exist in `nominals`)
        nominal_id_b  VARCHAR    the other (not the same record: `self_link`)
        decision      VARCHAR    `merge` (one person) or `separate` (two people, whatever else links them)
        decided_date  DATE
        decided_by    VARCHAR
        source_line   BIGINT     see above
        """,
        restricted=True, extras=True,
    ),
    _table(
        "nominal_map",
        "ingest",
        "Entity resolution (`resolve` on; docs/resolve.md): every source id -> the canonical id every table after "
        "ingest uses; published only with `resolve` on.",
        """
        source_system      VARCHAR    the record's system (`source_system`, else `resolve_source_system`)
        source_id          VARCHAR    the record's id there (a `nominals` id, or a `nominal_crosswalk` id)
        canonical_id       VARCHAR    the person's id in every table after ingest
        match_probability  DOUBLE     of the link that joined this record to its person; NULL for `single`
        rule               VARCHAR    `single` (no other record), `review_decision`, `pnc`, `crosswalk` or `model`
        linked_to          VARCHAR    the record it was linked with (NULL for `single`)
        """,
        restricted=True,
    ),
    _table(
        "review_pairs",
        "ingest",
        "Pairs of person records held for a person to decide (`resolve` on): decide them in the `review_decisions` "
        "input of the next run.",
        """
        pair_id            VARCHAR    `nominal_id_a|nominal_id_b`
        nominal_id_a       VARCHAR    the smaller record id
        nominal_id_b       VARCHAR    the other
        canonical_id_a     VARCHAR    the person record a is part of now
        canonical_id_b     VARCHAR    the person record b is part of now
        match_probability  DOUBLE     the model's, or 1 for a rule
        rule               VARCHAR    `model`, `pnc` or `crosswalk`
        reason             VARCHAR    `uncertain`: between `resolve_review_probability` and `resolve_match_probability`;
                                        `child_and_adult`: would join a child's record with an adult's (never automatic)
        """,
        restricted=True,
    ),
    _table(
        "match_explanations",
        "ingest",
        "Why the model linked two records (`resolve` on): Splink's match weight per comparison, for the pairs merged "
        "or held for review.",
        """
        nominal_id_a       VARCHAR    one record
        nominal_id_b       VARCHAR    the other
        comparison         VARCHAR    `forename_std`, `surname`, `dob`, `sex`, `ethnicity`, `pnc`, `postcode`, `phone`
        level              INTEGER    Splink's comparison level (-1: a value missing)
        label              VARCHAR    the level in words, e.g. `Exact match on surname`
        match_weight       DOUBLE     log2 of the level's Bayes factor: above 0 for, below 0 against
        match_probability  DOUBLE     of the pair
        """,
        restricted=True,
    ),
    _table(
        "full_table",
        "select",
        "One row per selected crime x offender x victim.",
        """
        crime_ref                  VARCHAR    the crime
        offender_id                VARCHAR    person in an offender role (the seeds of the network)
        victim_id                  VARCHAR    the victim
        offence_date               DATE
        offence_title              VARCHAR
        offence_code               VARCHAR
        offender_role              VARCHAR    the first of the person's offender roles on the crime, in contract order
        offender_age               INTEGER    age on the offence date; NULL when unknown
        victim_age                 INTEGER    age on the offence date (0 when born after it); NULL when unknown
        offender_sex               VARCHAR    resolved
        victim_sex                 VARCHAR    resolved
        offender_ethnicity         VARCHAR    resolved
        victim_ethnicity           VARCHAR    resolved
        location_area              VARCHAR    the crime's area
        victim_born_after_offence  BOOLEAN    the victim's date of birth is after the offence date
        matched_title              BOOLEAN    the profile's title rule matched
        matched_flag               BOOLEAN    the profile's interest-flag codes matched
        matched_mo                 BOOLEAN    the profile's MO words matched
        matched_code               BOOLEAN    the profile's offence codes matched
        """,
        restricted=True,
    ),
    _table(
        "final_table",
        "select",
        "Offender pairs linked through a shared victim, weighted.",
        """
        offender_1      VARCHAR    offender_1 < offender_2
        offender_2      VARCHAR
        crime_ref_1     VARCHAR    offender_1's crime (same order as the offenders)
        crime_ref_2     VARCHAR    offender_2's crime
        victim_id       VARCHAR    the shared victim
        offence_date_1  DATE
        offence_date_2  DATE
        weight          DOUBLE     gap decay x recency decay
        """,
    ),
    _table(
        "selection_summary",
        "select",
        "Counts of the selection a reviewer asks for.",
        """
        measure  VARCHAR    name of a count a reviewer asks for
        value    BIGINT     the count
        """,
    ),
    _table(
        "edges",
        "layers",
        "One row per pair of nominals and layer.",
        """
        nominal_a       VARCHAR    nominal_a < nominal_b
        nominal_b       VARCHAR
        layer           VARCHAR    `victim`, `intel`, `custody`, `soc`
        weight          DOUBLE     layer weight (positive)
        first_date      DATE       first evidence date (NULL for soc)
        last_date       DATE       last evidence date (NULL for soc)
        evidence_count  BIGINT     rows, logs or stay pairs behind the edge
        handling_code   VARCHAR    most restrictive handling code (intel); NULL otherwise
        crime_refs      VARCHAR[]  crimes behind the edge (victim)
        log_ids         VARCHAR[]  logs behind the edge (intel)
        soc_layer       VARCHAR    given SOC layer labels, sorted, joined by `;` (soc)
        """,
    ),
    _table(
        "combined_edges",
        "network",
        "One row per linked pair, the layers combined.",
        """
        nominal_a  VARCHAR    nominal_a < nominal_b
        nominal_b  VARCHAR
        weight     DOUBLE     sum over layers of layer_weight x layer weight (pairs with 0 left out)
        layers     VARCHAR[]  layers with a positive contribution, sorted
        group_id   VARCHAR    the pair's group; NULL for a link between two groups cut apart by the Leiden split
        """,
    ),
    _table(
        "network_nominals",
        "network",
        "Nominals of the network with their group and centrality.",
        """
        nominal_id         VARCHAR
        group_id           VARCHAR    the group (at most `max_group_size` members)
        node_index         INTEGER    0..size-1 within the group, in nominal_id order
        in_cse_network     BOOLEAN    a seed (offender in `full_table`)
        in_soc_network     BOOLEAN    in `soc_nominals` or an end of a SOC link
        soc_group_ids      VARCHAR[]  sorted distinct `soc_nominals.group_id`; NULL when none
        degree             INTEGER    linked nominals in the same group
        weighted_degree    DOUBLE     sum of combined weights of links within the group
        betweenness        DOUBLE     normalised, within the group, distance = 1 / weight
        betweenness_exact  BOOLEAN    false when sampled (group over `betweenness_exact_max`)
        """,
    ),
    _table(
        "network_groups",
        "network",
        "Groups of the network.",
        """
        group_id          VARCHAR    `G0001` (a whole component) or `G0001-0001` (a piece of a split component)
        size              BIGINT     members
        parent_component  VARCHAR    the component the group comes from (= group_id when not split)
        soc_overlap       INTEGER    members in the SOC network
        edges             BIGINT     combined edges inside the group
        cse_members       INTEGER    seeds in the group (0: a group of SOC nominals only)
        """,
    ),
    _table(
        "safeguarding",
        "safeguard",
        "One row per person to safeguard, with every reason that applies.",
        """
        nominal_id       VARCHAR
        reasons          VARCHAR[]  sorted subset of `child_victim`, `transitional_victim`, `child_offender`,
                                      `child_in_network`, `victim_offender_overlap`, `adult_at_risk`, `nrm_consider`,
                                      `possible_cce_victim` (all-age, docs/all-age.md)
        age_on_as_of     BIGINT     whole years on `as_of`; NULL when unknown
        age_estimated    BOOLEAN    no date of birth: the lowest age the victim records allow
        group_ids        VARCHAR[]  their network groups; empty outside the network
        local_area       VARCHAR    most frequent area of their crimes; NULL when none recorded
        local_area_tied  BOOLEAN    two or more areas had the top count; decided by the tie rule
        crime_refs       VARCHAR[]  crimes that may be shared in a referral
        referral_status  VARCHAR    `to_refer` (may be shared with the hub of their area) or `police_review`
        share_with_hub   BOOLEAN    a child, or a person with a recorded basis in force on `as_of`
        sharing_basis    VARCHAR    `working_together_2018` for a child, else the recorded basis; NULL: none
        sharing_basis_expires  DATE  when the recorded basis ends (NULL: no end, or a child)
        review_reason    VARCHAR    why not shared (`adult_no_basis`, `age_unknown_no_basis`, `basis_expired`,
                                      `consent_refused_or_withdrawn`); NULL when shared
        last_outcome     VARCHAR    latest `referral_outcomes.outcome` on or before `as_of`; NULL when none
        last_outcome_date  DATE     its date
        """,
        restricted=True,
    ),
    _table(
        "safeguarding_review",
        "safeguard",
        "The police-side review list: flagged people who may not leave in a pack.",
        """
        nominal_id     VARCHAR
        reasons        VARCHAR[]  as `safeguarding.reasons`
        age_on_as_of   BIGINT     whole years on `as_of`; NULL when unknown
        local_area     VARCHAR    most frequent area of their crimes
        review_reason  VARCHAR    as `safeguarding.review_reason`
        """,
        restricted=True,
    ),
    _table(
        "safeguarding_crimes",
        "safeguard",
        "The crimes behind each flag (`safeguarding.crime_refs`), one row per person and crime.",
        """
        nominal_id     VARCHAR
        crime_ref      VARCHAR
        offence_title  VARCHAR    crime type as recorded
        offence_date   DATE
        location_area  VARCHAR
        recorded_as    VARCHAR[]  the person's roles on the crime in plain terms: `victim`,
                                    `accused_or_suspect`, `other`
        """,
        restricted=True,
    ),
    _table(
        "safeguarding_identifiers",
        "safeguard",
        "The names a hub needs to match its records, flagged people only; empty unless `referral_identifiers` is on.",
        """
        nominal_id     VARCHAR
        forename       VARCHAR
        surname        VARCHAR
        date_of_birth  DATE       resolved date of birth
        sex            VARCHAR    `M`, `F` or NULL
        """,
        restricted=True,
    ),
    _table(
        "safeguarding_triage",
        "triage",
        "One row per flagged person: their triage band and the rules that set it (after harm and dismantle).",
        """
        nominal_id           VARCHAR
        band                 VARCHAR    `immediate`, `high`, `medium` or `monitor`
        band_order           INTEGER    1 (immediate) .. 4 (monitor)
        band_reasons         VARCHAR[]  the rules (docs/safeguarding.md) that give this band, sorted
        days_since_activity  BIGINT     days from the last linked crime or log to `as_of`; NULL when none dated
        last_crime_date      DATE       latest offence date of `safeguarding_crimes`
        last_log_date        DATE       latest intelligence log naming the person
        victim_crimes        BIGINT     selected crimes (`full_table`) with the person as victim
        best_group_rank      INTEGER    best `group_harm.priority_rank` of their groups; NULL when none
        high_harm_link       BOOLEAN    linked to an unflagged nominal with at least `triage_high_harm_cchi` CCHI days
        peer_group_id        VARCHAR    their peer group (all members flagged); NULL when none
        """,
        restricted=True,
    ),
    _table(
        "safeguarding_peer_groups",
        "triage",
        "Groups of two or more whose members are all flagged: referred as one context (contextual safeguarding).",
        """
        group_id     VARCHAR
        size         BIGINT     members
        members      VARCHAR[]  sorted
        band         VARCHAR    most urgent band of a member
        band_order   INTEGER
        local_areas  VARCHAR[]  members' areas (`unknown` when none recorded), sorted
        """,
        restricted=True,
    ),
    _table(
        "crime_harm",
        "harm",
        "Harm weights of every crime of the extract.",
        """
        crime_ref      VARCHAR
        offence_code   VARCHAR
        offence_title  VARCHAR
        offence_date   DATE
        cchi_days      DOUBLE     CCHI days; NULL when unmapped
        ons_weight     DOUBLE     ONS severity weight; NULL when unmapped
        cchi_basis     VARCHAR    `title_match`, `single_value`, `code_median`, `unmapped`
        ons_basis      VARCHAR    `single_value`, `unmapped`
        in_window      BOOLEAN    0 <= as_of - offence_date < `harm_window_days`
        """,
    ),
    _table(
        "nominal_harm",
        "harm",
        "Harm per network nominal.",
        """
        nominal_id            VARCHAR
        group_id              VARCHAR    their group
        harm_cchi             DOUBLE     sum of CCHI days of their in-window crimes in an offender role
        harm_ons              DOUBLE     same, ONS weights
        crimes_in_window      BIGINT     those crimes (unmapped included)
        crimes_unmapped_cchi  BIGINT     those of them without CCHI days
        weighted_degree       DOUBLE     sum of the weights of *all* their combined links, also to other groups
                                           (`network_nominals.weighted_degree` counts the group only)
        safeguarding_flagged  BOOLEAN    has a `safeguarding` row
        """,
    ),
    _table(
        "group_harm",
        "harm",
        "Harm and priority rank per group.",
        """
        group_id           VARCHAR
        harm_cchi          DOUBLE     sum of every member's harm, flagged members included; NULL for a
                                        safeguarding-only group (it carries no harm)
        harm_ons           DOUBLE     same, ONS
        priority_rank      INTEGER    1, 2, ... by `rank_harm_<priority_measure>` desc, size desc, group_id; NULL for
                                        a safeguarding-only group
        safeguarding_only  BOOLEAN    every member flagged
        rank_harm_cchi     DOUBLE     sum of the harm of members **not** flagged for safeguarding: what ranks the
                                        group
        rank_harm_ons      DOUBLE     same, ONS
        size               BIGINT     members
        flagged_members    BIGINT     members flagged for safeguarding
        """,
    ),
    _table(
        "harm_explained",
        "harm",
        "The crimes and links behind each nominal's harm.",
        """
        nominal_id   VARCHAR
        item_kind    VARCHAR    `crime` or `link`
        item_ref     VARCHAR    crime ref, or the other nominal
        layer        VARCHAR    link: its layers sorted, joined by `,`; NULL for a crime
        cchi_days    DOUBLE     crime: its days
        ons_weight   DOUBLE     crime: its weight
        link_weight  DOUBLE     link: its combined weight
        """,
    ),
    _table(
        "dismantling",
        "dismantle",
        "Per group of 3 or more, the nominals whose disruption breaks it, step by step.",
        """
        group_id                    VARCHAR
        step                        INTEGER    1..
        nominal_id                  VARCHAR    removed at this step (never a flagged person)
        remaining_largest_fraction  DOUBLE     largest remaining piece / group size after the step
        harm_removed_cchi           DOUBLE     cumulative
        exact                       BOOLEAN    proven fewest removals and most harm among them: exact search
                                                 (size <= `exact_dismantle_max`), or the proof's integer programs
                                                 finished within their limits
        method                      VARCHAR    `exact`, `gnd+reinsertion+search`, `gnd+reinsertion`, `gnd`,
                                                 `adaptive_degree`, `adaptive_betweenness`, `corehd`, `ilp` (the
                                                 proof's integer program found a better set)
        target_reached              BOOLEAN    no piece above the target at the end
        lower_bound                 INTEGER    proven lower bound on the fewest removals leaving no piece above
                                                 max(target, largest piece of flagged people alone), for every group:
                                                 the exact search's optimum, a cheap combinatorial bound, or the
                                                 integer program's (`bound_method`)
        optimal                     BOOLEAN    the order's length equals `lower_bound` (proven fewest removals)
        gap                         INTEGER    order length - `lower_bound` (0 when optimal)
        bound_method                VARCHAR    which bound `lower_bound` is: `exact` (branch and bound), `packing`
                                                 (disjoint too-large connected sets), `counting` (degrees),
                                                 `packing+counting` (the better per piece), `ilp` (raised or proven
                                                 by the integer program)
        """,
    ),
    _table(
        "fairness",
        "fairness",
        "Sex, ethnicity and age composition of the populations, and top-10 stability.",
        """
        measure     VARCHAR    `composition` or `top10_stability`
        population  VARCHAR    composition: `all_nominals`, `prioritised_members`, `dismantling_picks`; stability:
                                 `top10_groups`
        category    VARCHAR    composition: `sex`, `ethnicity` or `age_band`; stability: the variant name (e.g.
                                 `intel_left_out`, `layer_weight_soc_up`)
        value       VARCHAR    composition: the category's value (`M`, `IC3`, `14-17`, `unknown`, ...); stability:
                                 NULL
        count       BIGINT     people (composition) or top-10 groups kept (stability); NULL when suppressed
        share       DOUBLE     of the population, or kept / top-10 groups; NULL when suppressed
        ratio       DOUBLE     share / share in `all_nominals`; NULL when suppressed, when its all-nominals cell is
                                 suppressed, and for stability
        suppressed  BOOLEAN    small-cell suppression (primary or secondary)
        """,
    ),
    _table(
        "data_gaps",
        "fairness",
        "Counts of what the data does not say.",
        """
        gap    VARCHAR    `network_nominals_unknown_<sex/date_of_birth/ethnicity>`, `full_table_people_unknown_<...>`,
                            `demographic_conflicts_<column>`, `quarantine_<action>_<reason>`, `crimes_unmapped_cchi`,
                            `crimes_unmapped_ons`, `selection_<measure>` (selection counts that name a gap)
        count  BIGINT
        """,
    ),
    _table(
        "nominals",
        "publish",
        "The network's people: network_nominals + nominal_harm + safeguarding flags.",
        """
        nominal_id               VARCHAR
        group_id                 VARCHAR
        in_cse_network           BOOLEAN
        in_soc_network           BOOLEAN
        soc_group_ids            VARCHAR[]
        harm_cchi                DOUBLE     0 when none
        harm_ons                 DOUBLE     0 when none
        degree                   INTEGER
        weighted_degree          DOUBLE     within the group
        betweenness              DOUBLE
        betweenness_exact        BOOLEAN
        is_child                 BOOLEAN    reason `child_in_network`
        victim_offender_overlap  BOOLEAN    reason `victim_offender_overlap`
        safeguarding_flagged     BOOLEAN    has a `safeguarding` row
        """,
    ),
    _table(
        "nominal_identities",
        "publish",
        "Names and PNC ids of the network's nominals, for the dashboard's search by intelligence officers; rows only "
        "when `dashboard_identity_search` is on (else empty).",
        """
        nominal_id  VARCHAR
        forename    VARCHAR    as recorded
        surname     VARCHAR    as recorded
        pnc_id      VARCHAR    Police National Computer id
        """,
        restricted=True,
    ),
    _table(
        "groups",
        "publish",
        "The network's groups: network_groups + group_harm.",
        """
        group_id           VARCHAR
        size               BIGINT     members
        harm_cchi          DOUBLE     all members' harm (flagged members included); NULL for a
                                        safeguarding-only group
        harm_ons           DOUBLE     same, ONS
        priority_rank      INTEGER    see above; NULL for a safeguarding-only group
        soc_overlap        INTEGER    members in the SOC network
        parent_component   VARCHAR
        safeguarding_only  BOOLEAN    every member flagged
        edges              BIGINT     combined edges inside the group
        rank_harm_cchi     DOUBLE     harm of members not flagged: ranks the group
        rank_harm_ons      DOUBLE     same, ONS
        flagged_members    BIGINT     members flagged for safeguarding
        """,
    ),
    # -- all-age exploitation (docs/all-age.md): published only when its setting or input is there --------------
    _table(
        "missing_episodes",
        "ingest",
        "Optional input: missing-person episodes (published only when supplied).",
        """
        nominal_id           VARCHAR    the person who went missing (must exist in `nominals`)
        start_date           DATE       reported missing
        end_date             DATE       found or returned; NULL: not yet
        found_location_key   VARCHAR    the place they were found (same keys as `crimes.location_key`)
        found_location_area  VARCHAR    the area they were found in
        source_line          BIGINT     see above
        """,
        restricted=True, extras=True, optional=True,
    ),
    _table(
        "profile_crimes",
        "select",
        "Every crime each profile selects (rules matched, domestic abuse rule applied), with a victim or not "
        "(`profiles`, `cooffending_layer` or `place_layer` on).",
        """
        profile              VARCHAR    the profile's name
        crime_ref            VARCHAR
        offence_date         DATE
        offence_code         VARCHAR
        location_area        VARCHAR
        has_selected_victim  BOOLEAN    a victim passes the profile's age rule (the crime is in `full_table`)
        matched_title        BOOLEAN
        matched_flag         BOOLEAN
        matched_mo           BOOLEAN
        matched_code         BOOLEAN
        """,
        optional=True,
    ),
    _table(
        "profile_full_table",
        "select",
        "Which profiles selected each `full_table` row (`profiles` set): one row per profile and row.",
        """
        profile        VARCHAR
        crime_ref      VARCHAR
        offender_id    VARCHAR
        victim_id      VARCHAR
        matched_title  BOOLEAN    this profile's title rule matched
        matched_flag   BOOLEAN
        matched_mo     BOOLEAN
        matched_code   BOOLEAN
        """,
        restricted=True, optional=True,
    ),
    _table(
        "profile_nominals",
        "allage",
        "Network nominals by the profiles that selected them: offender or victim of a crime the profile selected.",
        """
        profile      VARCHAR
        nominal_id   VARCHAR
        group_id     VARCHAR    their group
        as_offender  BOOLEAN    holds an offender role on one of the profile's crimes
        as_victim    BOOLEAN    victim of one of the profile's crimes
        crimes       BIGINT     the profile's crimes they are on
        """,
        restricted=True, optional=True,
    ),
    _table(
        "profile_edges",
        "allage",
        "Links by profile: a crime layer's link (victim, cooffend, place) under the profiles of its crimes; any "
        "other link under the profiles of its ends.",
        """
        profile    VARCHAR
        nominal_a  VARCHAR    nominal_a < nominal_b
        nominal_b  VARCHAR
        layer      VARCHAR
        """,
        optional=True,
    ),
    _table(
        "group_harm_by_profile",
        "allage",
        "Each group's harm and priority under each profile it is tagged with (`group_harm` is the overall).",
        """
        group_id        VARCHAR
        profile         VARCHAR
        members         BIGINT     members tagged with the profile
        crimes          BIGINT     the profile's crimes of members, in the harm window
        harm_cchi       DOUBLE     CCHI days of the profile's in-window crimes, per member in an offender role
        harm_ons        DOUBLE     same, ONS
        rank_harm_cchi  DOUBLE     same, members flagged for safeguarding left out
        rank_harm_ons   DOUBLE     same, ONS
        priority_rank   INTEGER    1, 2, ... among the profile's groups by `rank_harm_<priority_measure>` desc,
                                     size desc, group_id; NULL for a safeguarding-only group
        """,
        optional=True,
    ),
    _table(
        "cross_profile",
        "allage",
        "Nominals and groups that appear under more than one profile (the Programme Challenger view).",
        """
        kind               VARCHAR    `nominal` or `group`
        id                 VARCHAR    the nominal or group id
        group_id           VARCHAR    the group (itself for a group)
        profiles           VARCHAR[]  profiles it appears under, sorted
        n_profiles         INTEGER
        offender_profiles  VARCHAR[]  profiles under which the nominal (a group: any member) is an offender
        safeguarding_flagged  BOOLEAN  a nominal with a `safeguarding` row (never a target); false for a group
        """,
        restricted=True, optional=True,
    ),
    _table(
        "places",
        "allage",
        "Hotspots (`place_layer` on): per place and profile, its selected crimes, people, harm and recency; ranked "
        "within its area.",
        """
        location_key       VARCHAR    `crimes.location_key`, trimmed and lower-cased
        location_type      VARCHAR    the most frequent type recorded there (ties: first alphabetically)
        location_area      VARCHAR    the most frequent area recorded there (ties: first alphabetically)
        profile            VARCHAR
        crimes             BIGINT     the profile's selected crimes there
        victims            BIGINT     distinct victims on them
        offenders          BIGINT     distinct people in an offender role on them
        harm               DOUBLE     CCHI days of those crimes (unmapped count 0)
        last_offence_date  DATE
        recency_weight     DOUBLE     2^(-days from last_offence_date to as_of / recency_half_life)
        missing_found      BIGINT     missing episodes whose person was found there
        area_rank          INTEGER    1, 2, ... within (location_area, profile) by harm x recency_weight desc,
                                        crimes desc, location_key
        """,
        optional=True,
    ),
    _table(
        "missing_children",
        "allage",
        "Children (under `child_age` on `as_of`) with missing episodes, whether repeated, their group and where "
        "they were found (input `missing_episodes` supplied).",
        """
        nominal_id           VARCHAR
        episodes             BIGINT     episodes starting on or before `as_of`
        last_missing         DATE       start of the latest
        repeat_missing       BOOLEAN    episodes >= `missing_repeat_episodes`
        group_id             VARCHAR    their network group; NULL when not in the network
        found_location_keys  VARCHAR[]  places they were found, sorted
        """,
        restricted=True, optional=True,
    ),
)

# -- continuity between runs (hiddennet/continuity, docs/continuity.md) -----------------------------
_HISTORY_GROUP = """
        group_id           VARCHAR    the history's stable id
        size               BIGINT
        harm_cchi          DOUBLE
        rank_harm_cchi     DOUBLE
        priority_rank      INTEGER
        safeguarding_only  BOOLEAN
        """
_REGISTRY += (
    _table("history_members", "continuity", "The previous run's members (from `history_dir`), by stable group id.",
           """
           nominal_id  VARCHAR
           group_id    VARCHAR    the history's stable id
           """, published=False),
    _table("history_ids", "continuity", "Every group id the history has given before this run (never reused).",
           """
           group_id  VARCHAR
           """, published=False),
    _table("history_groups", "continuity", "The previous run's groups.", _HISTORY_GROUP, published=False),
    _table("history_nominals", "continuity",
           "The previous run's network nominals and flagged people (group NULL outside the network).",
           """
           nominal_id            VARCHAR
           group_id              VARCHAR    stable id; NULL outside the network
           safeguarding_flagged  BOOLEAN
           is_child              BOOLEAN    flagged as a child (victim, offender or in the network)
           in_dismantling        BOOLEAN    in a dismantling order
           """, published=False, restricted=True),
    _table("history_links", "continuity", "The previous run's combined edges of the watched nominals "
           "(`alert_watch_nominals`).",
           """
           nominal_a  VARCHAR
           nominal_b  VARCHAR
           """, published=False),
    _table("group_lineage", "network", "How this run's groups descend from the previous run's: published only "
           "with a history.",
           """
           old_id   VARCHAR    previous run's group; NULL for `new`
           new_id   VARCHAR    this run's group; NULL for `dissolved`
           kind     VARCHAR    `continued` (new_id inherited old_id), `merged`, `split`, `successor`, `dissolved`,
                                 `new` (docs/continuity.md)
           overlap  DOUBLE     Jaccard index of the two groups' members (0 for `new` and `dissolved`)
           shared   BIGINT     members in both
           """, when="history_dir"),
    _table("changes", "changes", "What changed since the previous run: published only with a history.",
           """
           change             VARCHAR    `group_new`, `group_grown`, `group_shrunk`, `group_merged`, `group_split`,
                                           `group_dissolved`, `rank_moved`, `harm_changed`, `nominal_new_in_network`,
                                           `nominal_new_in_dismantling`, `newly_flagged`
           group_id           VARCHAR    this run's group (NULL for `group_dissolved`, or a flagged person outside
                                           the network)
           previous_group_id  VARCHAR    the previous run's group it continues, merged from, split from or
                                           succeeds
           nominal_id         VARCHAR    the nominal of a nominal change
           before             DOUBLE     previous size, rank or ranking harm (`rank_harm_cchi`)
           after              DOUBLE     this run's
           detail             VARCHAR    `newly_flagged`: `child` or `adult_or_age_unknown`; `group_new`:
                                           `successor` when it traces to a previous group
           """, restricted=True, when="history_dir"),
    _table("alerts", "changes", "What the alert settings (`alert_*`) asked to hear about: published only with a "
           "history.",
           """
           alert       VARCHAR    `entered_top_n`, `harm_growth`, `watched_nominal_new_link`,
                                    `new_child_in_ranked_group`
           group_id    VARCHAR    this run's group
           nominal_id  VARCHAR    the watched nominal, or the child
           before      DOUBLE     previous rank or ranking harm
           after       DOUBLE     this run's
           detail      VARCHAR    `entered_top_n`: N; `harm_growth`: the percentage; `watched_nominal_new_link`:
                                    the newly linked nominal
           """, restricted=True, when="history_dir"),
)

TABLES: dict[str, Table] = {t.name: t for t in _REGISTRY}


def table(name: str) -> Table:
    """The registered table `name` (its published name); KeyError names the unknown table."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"table {name!r} is not registered in hiddennet/tables.py") from None


def written_by(stage: str) -> tuple[str, ...]:
    """Registered tables the stage writes, in registry order."""
    return tuple(t.name for t in _REGISTRY if t.stage == stage)


def arrow_schema(name: str) -> pa.Schema:
    """The Arrow schema of a registered table (registered columns only)."""
    return pa.schema([(c.name, arrow_type(c.type)) for c in table(name).columns])


def empty_sql(name: str, select: str = "*") -> str:
    """A SELECT of no rows with the table's columns and types; `select` picks from them."""
    cols = ", ".join(f"CAST(NULL AS {c.type}) AS {q(c.name)}" for c in table(name).columns)
    return f"SELECT {select} FROM (SELECT {cols} WHERE false)"


# -- docs/tables.md ----------------------------------------------------------------------------------
DOC = Path(__file__).resolve().parents[1] / "docs" / "tables.md"
_BLOCK = re.compile(r"(<!-- tables:(\w+) -->\n)(.*?)(<!-- /tables -->)", re.S)


def markdown(name: str) -> str:
    """The column table of docs/tables.md for one table."""
    t = table(name)
    lines = ["*Restricted: holds personal data.*", ""] if t.restricted else []
    lines += ["| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{c.name}` | {c.type} | {c.meaning} |".replace("|  |", "| |") for c in t.columns]
    return "\n".join(lines) + "\n"


def stage_map() -> str:
    """The map of stages and tables for docs/tables.md, from the stages' declarations (stage.py)."""
    from hiddennet.pipeline import STAGES  # the stages import this module: imported when asked for

    def names(ts: tuple[str, ...]) -> str:
        return ", ".join(f"`{t}`" for t in ts)

    lines = ["| stage | reads | reads when present | writes |", "|---|---|---|---|"]
    for st in STAGES:
        reads = names(st.reads) or ("the input folder" if st is STAGES[0] else "")
        row = f"| {st.name} | {reads} | {names(st.optional_reads)} | {names(st.writes)} |"
        lines.append(row.replace("|  |", "| |"))
    return "\n".join(lines) + "\n"


_STAGE_BLOCK = re.compile(r"(<!-- stages -->\n)(.*?)(<!-- /stages -->)", re.S)


def render_doc(text: str) -> str:
    """`text` with every `<!-- tables:NAME -->` block and the `<!-- stages -->` block rewritten."""
    text = _BLOCK.sub(lambda m: m.group(1) + markdown(m.group(2)) + m.group(4), text)
    return _STAGE_BLOCK.sub(lambda m: m.group(1) + stage_map() + m.group(3), text)


def main(argv: list[str]) -> int:
    """Rewrite docs/tables.md (or with `--check`, exit 1 when it is out of date)."""
    text = DOC.read_text(encoding="utf-8")
    new = render_doc(text)
    if "--check" in argv:
        return 0 if new == text else 1
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
