"""What the history keeps of one run folder: its members, groups, nominals, links and counts.

Read from the run's published tables with an in-memory DuckDB (this is not a stage: it reads a
finished run folder, as the report does).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from hiddennet.continuity.changes import CHILD
from hiddennet.sql import lit

# Counts for the trends, per area (`(force)`: the whole force, distinct people counted once).
_COUNTS = """
WITH ft AS (SELECT *, coalesce(location_area, 'unknown') AS area FROM full_table),
grp AS (SELECT f.area, n.group_id FROM ft f JOIN nominals n ON n.nominal_id = f.offender_id),
ref AS (SELECT coalesce(s.local_area, 'unknown') AS area, t.band, t.nominal_id
        FROM safeguarding_triage t JOIN safeguarding s USING (nominal_id))
SELECT area, measure, band, count FROM (
    SELECT area, 'crimes' AS measure, NULL AS band, count(DISTINCT crime_ref) AS count FROM ft GROUP BY area
    UNION ALL SELECT '(force)', 'crimes', NULL, count(DISTINCT crime_ref) FROM ft
    UNION ALL SELECT area, 'victims', NULL, count(DISTINCT victim_id) FROM ft GROUP BY area
    UNION ALL SELECT '(force)', 'victims', NULL, count(DISTINCT victim_id) FROM ft
    UNION ALL SELECT area, 'offenders', NULL, count(DISTINCT offender_id) FROM ft GROUP BY area
    UNION ALL SELECT '(force)', 'offenders', NULL, count(DISTINCT offender_id) FROM ft
    UNION ALL SELECT area, 'groups', NULL, count(DISTINCT group_id) FROM grp GROUP BY area
    UNION ALL SELECT '(force)', 'groups', NULL, (SELECT count(*) FROM groups)
    UNION ALL SELECT area, 'referrals', band, count(DISTINCT nominal_id) FROM ref GROUP BY area, band
    UNION ALL SELECT '(force)', 'referrals', band, count(DISTINCT nominal_id) FROM ref GROUP BY band
)
ORDER BY area, measure, band NULLS FIRST
"""

_PARTS = {
    "members": "SELECT n.nominal_id, n.group_id AS run_group_id, g.parent_component AS run_parent "
               "FROM nominals n JOIN groups g USING (group_id) ORDER BY nominal_id",
    "groups": "SELECT group_id AS run_group_id, size, harm_cchi, rank_harm_cchi, priority_rank, safeguarding_only "
              "FROM groups ORDER BY group_id",
    "nominals": f"SELECT coalesce(n.nominal_id, s.nominal_id) AS nominal_id, n.group_id AS run_group_id, "
                f"s.nominal_id IS NOT NULL AS safeguarding_flagged, coalesce({CHILD}, false) AS is_child, "
                "coalesce(n.nominal_id, s.nominal_id) IN (SELECT nominal_id FROM dismantling) AS in_dismantling "
                "FROM nominals n FULL JOIN safeguarding s ON s.nominal_id = n.nominal_id ORDER BY 1",
    "links": "SELECT nominal_a, nominal_b FROM combined_edges ORDER BY nominal_a, nominal_b",
    "counts": _COUNTS,
}
_READS = ("nominals", "groups", "dismantling", "combined_edges", "full_table", "safeguarding_triage", "safeguarding")


def snapshot(run_dir: Path) -> dict[str, pa.Table]:
    """The history's parts of the run folder `run_dir` (already checked complete by the caller)."""
    con = duckdb.connect()
    try:
        for name in _READS:
            path = Path(run_dir) / "tables" / f"{name}.parquet"
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({lit(str(path))})")
        return {part: con.sql(sql).to_arrow_table() for part, sql in _PARTS.items()}
    finally:
        con.close()
