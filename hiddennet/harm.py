"""Stage `harm`: crime harm, nominal and group harm, and group priority (method.md section 5).

Reads `crimes`, `crime_nominals`, `network_nominals`, `network_groups`, `combined_edges`,
`safeguarding`; writes `crime_harm`, `nominal_harm`, `group_harm`, `harm_explained` (docs/tables.md).

Per crime, from the reference tables shipped in `hiddennet/reference/` (sources in its README):
- CCHI 2020 days. Codes are compared after upper-casing, trimming, writing `/` as `.` and dropping
  leading zeros (`037/1` -> `37.1`); titles after lower-casing and collapsing runs of whitespace
  (trimmed), then exact equality. With a code that CCHI lists: the row of that code whose title
  equals the crime's title (`title_match`); else the code's only value (`single_value`); else the
  median of the code's values (`code_median`). With no code, or a code CCHI does not list: the row
  whose title equals the crime's title, across all codes (`title_match`; CCHI titles are unique).
  Otherwise `unmapped` (NULL days, adds nothing, counted per code in the facts).
- ONS Crime Severity Score weight: the code's weight (`single_value`, one per code) or `unmapped`.

Window: a crime counts towards a nominal's harm when 0 <= as_of - offence_date < harm_window_days
(days), so the default 1826 days are as_of itself and the 1825 days before it; a crime dated after
as_of does not count. A nominal's crimes are those where they hold any offender role
(contract.OFFENDER_ROLES), each crime once whatever the number of their roles on it.

Group harm and priority: `harm_cchi`, `harm_ons` sum every member's harm (flagged members too, so
the group's whole harm is reported); `rank_harm_cchi`, `rank_harm_ons` sum only the members who are
not flagged for safeguarding, and ranking uses those: a child's own record never pushes their group
up the list. Rank by the `priority_measure` sum (higher first), then size (larger first: more
people reached by one disruption), then group id. A group whose members are all flagged gets no
rank (NULL) and `safeguarding_only = true`.

`harm_explained` lists, per network nominal, every crime in the window behind their harm
(item_kind `crime`) and every combined link behind their weighted degree (item_kind `link`,
item_ref the other nominal, layer the link's layers joined by `,`).
"""

from __future__ import annotations

import io
import statistics
from importlib import resources

import pyarrow as pa
import pyarrow.csv as pacsv

from hiddennet.contract import OFFENDER_ROLES
from hiddennet.sql import date_lit
from hiddennet.stage import Stage, StageOutput

OUTPUTS = ("crime_harm", "nominal_harm", "group_harm", "harm_explained")


def _norm_code(code: str | None) -> str | None:
    if code is None:
        return None
    c = code.strip().upper().replace("/", ".").lstrip("0")
    return c or None


def _norm_title(title: str | None) -> str | None:
    return " ".join(title.lower().split()) if title else None


def _read_reference(name: str) -> pa.Table:
    data = resources.files("hiddennet.reference").joinpath(name).read_bytes()
    opts = pacsv.ConvertOptions(column_types={"offence_code": pa.string(), "source_code": pa.string()})
    return pacsv.read_csv(io.BytesIO(data), convert_options=opts)


def reference_tables() -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """(CCHI by code, CCHI by code and title, CCHI by title, ONS by code), keys normalised as the SQL
    below normalises crimes' codes and titles."""
    cchi = _read_reference("cchi_weights.csv").to_pylist()
    by_code: dict[str, list[float]] = {}
    titles: dict[tuple[str | None, str | None], list[float]] = {}
    for r in cchi:
        code = _norm_code(r["offence_code"])
        days = float(r["days"])
        if code:
            by_code.setdefault(code, []).append(days)
        titles.setdefault((code, _norm_title(r["offence_description"])), []).append(days)
    code_rows = {
        "code": list(by_code),
        "rows": [len(v) for v in by_code.values()],
        "days": [v[0] if len(set(v)) == 1 else statistics.median(v) for v in by_code.values()],
        "basis": ["single_value" if len(set(v)) == 1 else "code_median" for v in by_code.values()],
    }
    title_rows = {
        "code": [k[0] for k in titles],
        "title": [k[1] for k in titles],
        "days": [statistics.median(v) for v in titles.values()],
    }
    any_title: dict[str | None, list[float]] = {}
    for (_, t), v in titles.items():
        any_title.setdefault(t, []).extend(v)
    ons = _read_reference("ons_crime_severity_weights.csv").to_pylist()
    ons_rows: dict[str, float] = {}
    for r in ons:
        code = _norm_code(r["offence_code"])
        if code and code not in ons_rows:
            ons_rows[code] = float(r["weight"])
    return (
        pa.table(code_rows, schema=pa.schema([("code", pa.string()), ("rows", pa.int64()), ("days", pa.float64()),
                                              ("basis", pa.string())])),
        pa.table(title_rows, schema=pa.schema([("code", pa.string()), ("title", pa.string()), ("days", pa.float64())])),
        pa.table({"title": list(any_title), "days": [statistics.median(v) for v in any_title.values()]},
                 schema=pa.schema([("title", pa.string()), ("days", pa.float64())])),
        pa.table({"code": list(ons_rows), "weight": list(ons_rows.values())},
                 schema=pa.schema([("code", pa.string()), ("weight", pa.float64())])),
    )


# Same normalisation as _norm_code / _norm_title, in SQL that sqlglot transpiles to Spark.
_CODE_SQL = "nullif(TRIM(LEADING '0' FROM upper(trim(replace({c}, '/', '.')))), '')"
_TITLE_SQL = r"nullif(lower(trim(regexp_replace({t}, '\s+', ' ', 'g'))), '')"


def run(engine, settings, *, ranking_only: bool = False) -> StageOutput:
    """`ranking_only` (the stability reruns of the fairness stage): nominal_harm and group_harm only,
    from the run's crime_harm (it depends on the crimes, as_of and the window alone, which no rerun
    changes); no harm_explained, no facts."""
    as_of = date_lit(settings.as_of)
    window = int(settings.harm_window_days)
    if not ranking_only:
        _crime_harm_table(engine, as_of, window)
    _explained_items(engine, explained=not ranking_only)
    _nominal_harm_table(engine)
    _group_harm_tables(engine, settings)
    facts = {} if ranking_only else _harm_facts(engine, settings, window)
    for t in ("_ref_cchi_code", "_ref_cchi_title", "_ref_cchi_any_title", "_ref_ons", "_harm_crimes", "_harm_items",
              "_harm_links", "_harm_groups"):
        engine.drop(t)
    return StageOutput(tables=OUTPUTS, facts=facts)


def _crime_harm_table(engine, as_of: str, window: int) -> None:
    """`crime_harm`: each crime's CCHI days and ONS weight with the basis of each, and whether it is in the window."""
    code_t, title_t, any_title_t, ons_t = reference_tables()
    engine.register_arrow("_ref_cchi_code", code_t)
    engine.register_arrow("_ref_cchi_title", title_t)
    engine.register_arrow("_ref_cchi_any_title", any_title_t)
    engine.register_arrow("_ref_ons", ons_t)
    engine.create_table(
        "_harm_crimes",
        f"""SELECT crime_ref, offence_code, offence_title, offence_date,
                   {_CODE_SQL.format(c="offence_code")} AS code_n,
                   {_TITLE_SQL.format(t="offence_title")} AS title_n
            FROM crimes""",
    )
    engine.create_table(
        "crime_harm",
        f"""
        SELECT c.crime_ref, c.offence_code, c.offence_title, c.offence_date,
               CAST(CASE WHEN k.code IS NOT NULL THEN coalesce(tc.days, k.days) ELSE ta.days END AS DOUBLE)
                   AS cchi_days,
               CAST(o.weight AS DOUBLE) AS ons_weight,
               CASE WHEN k.code IS NOT NULL THEN (CASE WHEN tc.days IS NOT NULL THEN 'title_match' ELSE k.basis END)
                    WHEN ta.days IS NOT NULL THEN 'title_match' ELSE 'unmapped' END AS cchi_basis,
               CASE WHEN o.weight IS NOT NULL THEN 'single_value' ELSE 'unmapped' END AS ons_basis,
               coalesce(date_diff('day', c.offence_date, {as_of}) BETWEEN 0 AND {window - 1}, false) AS in_window
        FROM _harm_crimes c
        LEFT JOIN _ref_cchi_code k ON k.code = c.code_n
        LEFT JOIN _ref_cchi_title tc ON tc.code = c.code_n AND tc.title = c.title_n
        LEFT JOIN _ref_cchi_any_title ta ON ta.title = c.title_n
        LEFT JOIN _ref_ons o ON o.code = c.code_n
        """,
    )


def _explained_items(engine, explained: bool = True) -> None:
    """`_harm_items` (a nominal's in-window crimes), `_harm_links` (their links, both ways) and `harm_explained`."""
    roles = ", ".join(f"'{r}'" for r in OFFENDER_ROLES)
    # Each (nominal, crime) once, whatever the number of offender roles; in-window crimes only.
    engine.create_table(
        "_harm_items",
        f"""
        SELECT DISTINCT n.nominal_id, h.crime_ref, h.cchi_days, h.ons_weight
        FROM network_nominals n
        JOIN crime_nominals cn ON cn.nominal_id = n.nominal_id AND cn.role IN ({roles})
        JOIN crime_harm h ON h.crime_ref = cn.crime_ref AND h.in_window
        """,
    )
    engine.create_table(
        "_harm_links",
        """
        SELECT nominal_a AS nominal_id, nominal_b AS other, weight, array_to_string(list_sort(layers), ',') AS layer
        FROM combined_edges
        UNION ALL
        SELECT nominal_b AS nominal_id, nominal_a AS other, weight, array_to_string(list_sort(layers), ',') AS layer
        FROM combined_edges
        """,
    )
    if not explained:
        return
    engine.create_table(
        "harm_explained",
        """
        SELECT nominal_id, 'crime' AS item_kind, crime_ref AS item_ref, CAST(NULL AS VARCHAR) AS layer,
               cchi_days, ons_weight, CAST(NULL AS DOUBLE) AS link_weight
        FROM _harm_items
        UNION ALL
        SELECT l.nominal_id, 'link' AS item_kind, l.other AS item_ref, l.layer,
               CAST(NULL AS DOUBLE) AS cchi_days, CAST(NULL AS DOUBLE) AS ons_weight,
               CAST(l.weight AS DOUBLE) AS link_weight
        FROM _harm_links l JOIN network_nominals n ON n.nominal_id = l.nominal_id
        """,
    )


def _nominal_harm_table(engine) -> None:
    """`nominal_harm`: every network nominal's harm sums, crimes in the window, weighted degree and flag."""
    engine.create_table(
        "nominal_harm",
        """
        SELECT n.nominal_id, n.group_id,
               CAST(coalesce(i.harm_cchi, 0) AS DOUBLE) AS harm_cchi,
               CAST(coalesce(i.harm_ons, 0) AS DOUBLE) AS harm_ons,
               CAST(coalesce(i.crimes, 0) AS BIGINT) AS crimes_in_window,
               CAST(coalesce(i.unmapped_cchi, 0) AS BIGINT) AS crimes_unmapped_cchi,
               CAST(coalesce(l.wd, 0) AS DOUBLE) AS weighted_degree,
               s.nominal_id IS NOT NULL AS safeguarding_flagged
        FROM network_nominals n
        LEFT JOIN (SELECT nominal_id, sum(coalesce(cchi_days, 0) ORDER BY coalesce(cchi_days, 0)) AS harm_cchi,
                          sum(coalesce(ons_weight, 0) ORDER BY coalesce(ons_weight, 0)) AS harm_ons,
                          count(*) AS crimes, sum(CASE WHEN cchi_days IS NULL THEN 1 ELSE 0 END) AS unmapped_cchi
                   FROM _harm_items GROUP BY nominal_id) i ON i.nominal_id = n.nominal_id
        LEFT JOIN (SELECT nominal_id, sum(weight ORDER BY weight) AS wd FROM _harm_links GROUP BY nominal_id) l
            ON l.nominal_id = n.nominal_id
        LEFT JOIN (SELECT DISTINCT nominal_id FROM safeguarding) s ON s.nominal_id = n.nominal_id
        """,
    )


def _group_harm_tables(engine, settings) -> None:
    """`group_harm`: group harm (every member) and priority rank (unflagged members' harm only)."""
    measure = "rank_harm_ons" if settings.priority_measure == "ons" else "rank_harm_cchi"
    engine.create_table(
        "_harm_groups",
        """
        SELECT g.group_id, CAST(g.size AS BIGINT) AS size,
               CAST(coalesce(sum(h.harm_cchi ORDER BY h.harm_cchi), 0) AS DOUBLE) AS harm_cchi,
               CAST(coalesce(sum(h.harm_ons ORDER BY h.harm_ons), 0) AS DOUBLE) AS harm_ons,
               CAST(coalesce(sum(h.target_cchi ORDER BY h.target_cchi), 0) AS DOUBLE) AS rank_harm_cchi,
               CAST(coalesce(sum(h.target_ons ORDER BY h.target_ons), 0) AS DOUBLE) AS rank_harm_ons,
               CAST(count(h.nominal_id) AS BIGINT) AS members,
               CAST(coalesce(sum(CASE WHEN h.safeguarding_flagged THEN 1 ELSE 0 END), 0) AS BIGINT) AS flagged_members
        FROM network_groups g
        LEFT JOIN (
            -- A flagged member's harm does not rank the group: they are never a target.
            SELECT *, CASE WHEN safeguarding_flagged THEN 0 ELSE harm_cchi END AS target_cchi,
                      CASE WHEN safeguarding_flagged THEN 0 ELSE harm_ons END AS target_ons
            FROM nominal_harm
        ) h ON h.group_id = g.group_id
        GROUP BY g.group_id, g.size
        """,
    )
    engine.create_table(
        "group_harm",
        f"""
        SELECT group_id,
               -- A group made only of people to safeguard carries no harm anywhere: it is a peer
               -- group to refer, never a target (docs/safeguarding.md).
               CASE WHEN safeguarding_only THEN NULL ELSE harm_cchi END AS harm_cchi,
               CASE WHEN safeguarding_only THEN NULL ELSE harm_ons END AS harm_ons,
               CAST(CASE WHEN safeguarding_only THEN NULL ELSE
                    row_number() OVER (PARTITION BY safeguarding_only ORDER BY {measure} DESC, size DESC, group_id)
               END AS INT) AS priority_rank,
               safeguarding_only, rank_harm_cchi, rank_harm_ons, size, flagged_members
        FROM (SELECT *, (members > 0 AND flagged_members = members) AS safeguarding_only FROM _harm_groups) x
        """,
    )



def _harm_facts(engine, settings, window: int) -> dict:
    """Counts for the manifest: crimes by mapping basis, unmapped codes, crimes in the window, groups ranked."""
    basis = engine.fetch_rows(
        "SELECT 'cchi', cchi_basis, count(*) FROM crime_harm GROUP BY cchi_basis "
        "UNION ALL SELECT 'ons', ons_basis, count(*) FROM crime_harm GROUP BY ons_basis"
    )
    unmapped = engine.fetch_rows(
        "SELECT 'cchi', coalesce(offence_code, '(none)'), count(*) FROM crime_harm WHERE cchi_basis = 'unmapped' "
        "GROUP BY offence_code UNION ALL "
        "SELECT 'ons', coalesce(offence_code, '(none)'), count(*) FROM crime_harm WHERE ons_basis = 'unmapped' "
        "GROUP BY offence_code"
    )
    groups = engine.fetch_rows(
        "SELECT count(*), coalesce(sum(CASE WHEN safeguarding_only THEN 1 ELSE 0 END), 0) FROM group_harm"
    )[0]
    counts = engine.fetch_rows(
        "SELECT (SELECT count(*) FROM crime_harm WHERE in_window), (SELECT count(*) FROM _harm_items), "
        "(SELECT count(*) FROM nominal_harm WHERE crimes_in_window > 0)"
    )[0]
    return {
        "harm_window_days": window,
        "priority_measure": settings.priority_measure,
        "crimes": sum(int(n) for k, _, n in basis if k == "cchi"),
        "crimes_in_window": int(counts[0]),
        "nominal_crime_links_in_window": int(counts[1]),
        "nominals_with_harm": int(counts[2]),
        "cchi_basis": {b: int(n) for k, b, n in sorted(basis) if k == "cchi"},
        "ons_basis": {b: int(n) for k, b, n in sorted(basis) if k == "ons"},
        "unmapped_by_code": {
            "cchi": {c: int(n) for k, c, n in sorted(unmapped) if k == "cchi"},
            "ons": {c: int(n) for k, c, n in sorted(unmapped) if k == "ons"},
        },
        "groups": int(groups[0]),
        "groups_ranked": int(groups[0]) - int(groups[1]),
        "groups_safeguarding_only": int(groups[1]),
    }


STAGE = Stage(
    "harm",
    lambda engine, settings, ctx: run(engine, settings),
    reads=("crimes", "crime_nominals", "combined_edges", "network_nominals", "network_groups", "safeguarding"),
    writes=OUTPUTS,
)
