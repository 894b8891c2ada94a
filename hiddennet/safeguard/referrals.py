"""Referral packs: what one area's multi-agency safeguarding hub (MASH) receives from a finished run.

Only what a hub needs is sent: the person's id, the reasons in plain words, the age on the run's
reference date, the linked crime references and the area. Never names, ethnicity, group ids or
network measures. Every pack is marked OFFICIAL-SENSITIVE with its handling conditions (in the CSV's
first and last lines; on every printed page of the HTML sheet) and every export is recorded as a
disclosure in the run's append-only log `<run>/disclosures.jsonl`.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import hashlib
import io
import json
import os
import re
from pathlib import Path

import jinja2
import pyarrow.parquet as pq

from hiddennet.errors import OutputError, SettingsError
from hiddennet.rundir import open_run
from hiddennet.stage import NOTICE

MARKING = "OFFICIAL-SENSITIVE"
# No quotes or apostrophes in these two: they also go into CSS strings of the print layout.
HANDLING_SHORT = "For the named safeguarding hub only. Do not forward or copy."
HANDLING = (
    "Handling conditions: for the named multi-agency safeguarding hub only, to safeguard the people "
    "listed. Do not forward, copy or use for any other purpose without the agreement of the police force "
    "that sent it. Store, share and destroy under the policy of your organisation for "
    "OFFICIAL-SENSITIVE information."
)
# Area name for people whose crimes record no area (safeguarding.local_area is NULL).
UNKNOWN_AREA = "unknown"
FIELDS = ("nominal_id", "reasons", "age_on_as_of", "crime_refs", "area")
HEADINGS = ("Person id", "Why they are listed", "Age", "Crime references", "Area")
DISCLOSURE_LOG = "disclosures.jsonl"


def reason_words(child_age: int = 18, transitional_age_max: int = 25) -> dict[str, str]:
    """The reasons of the safeguarding table in plain words: the language of exploitation."""
    return {
        "child_victim": f"Child (under {child_age}) recorded as a victim of a crime of exploitation or abuse.",
        "transitional_victim": (
            f"Young adult ({child_age} to {transitional_age_max}) recorded as a victim of exploitation or abuse "
            "as a child: may still need support."
        ),
        "child_offender": (
            "Child, or person whose linked records all date from their childhood, recorded in an accused or "
            "suspect role: to be treated as a child at risk of exploitation."
        ),
        "child_in_network": f"Child (under {child_age}) linked to people of concern in these records.",
        "victim_offender_overlap": (
            "Person recorded as a victim and also in an accused or suspect role: may be a person exploited "
            "and drawn into abuse of others."
        ),
    }


def _safe_dir_name(area: str) -> str:
    # Area names become folder names: keep them to characters every file system accepts.
    return re.sub(r"[^A-Za-z0-9._-]+", "_", area).strip("._") or "area"


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (containers): say so rather than fail the export
        return os.environ.get("USER") or "unknown"


def write_referral_pack(run_dir: Path, area: str, recipient: str, actor: str | None = None) -> dict:
    """Write `<run>/referrals/<area>/` (CSV and printable HTML) and append one disclosure record.

    Returns a summary (counts and file names, no person's data) for the command line.
    """
    run_dir = Path(run_dir)
    table_path = run_dir / "tables" / "safeguarding.parquet"
    manifest = open_run(run_dir)  # a complete run, or OutputError (exit 2)
    if not table_path.is_file():
        raise OutputError(f"file {table_path}: missing, the run has no safeguarding table")
    run_settings = manifest.get("settings", {})
    words = reason_words(int(run_settings.get("child_age", 18)), int(run_settings.get("transitional_age_max", 25)))
    as_of = manifest.get("as_of", "")

    table = pq.read_table(table_path, columns=["nominal_id", "reasons", "age_on_as_of", "crime_refs", "local_area"])
    people = table.to_pylist()
    known = sorted({p["local_area"] if p["local_area"] is not None else UNKNOWN_AREA for p in people})
    if area not in known:
        raise SettingsError(
            f"file {table_path}, column local_area: unknown area; the run knows {len(known)} areas: " + ", ".join(known)
        )
    selected = sorted(
        (p for p in people if (p["local_area"] if p["local_area"] is not None else UNKNOWN_AREA) == area),
        key=lambda p: p["nominal_id"],
    )
    rows = [
        {
            "nominal_id": p["nominal_id"],
            "reasons": [words.get(r, r) for r in (p["reasons"] or [])],
            "age_on_as_of": p["age_on_as_of"],
            "crime_refs": list(p["crime_refs"] or []),
            "area": area,
        }
        for p in selected
    ]

    now = dt.datetime.now(dt.UTC)
    created = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    out_dir = run_dir / "referrals" / _safe_dir_name(area)
    out_dir.mkdir(parents=True, exist_ok=True)
    # A pack once sent is never overwritten: each export gets its own time-stamped files.
    stem = f"referral-pack-{_safe_dir_name(area)}-{now.strftime('%Y%m%dT%H%M%SZ')}"
    n = 1
    while (out_dir / f"{stem}.csv").exists() or (out_dir / f"{stem}.html").exists():
        n += 1
        stem = f"referral-pack-{_safe_dir_name(area)}-{now.strftime('%Y%m%dT%H%M%SZ')}-{n}"
    csv_path, html_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.html"
    csv_path.write_text(_csv_text(rows), encoding="utf-8", newline="")
    html_path.write_text(
        _html_text(rows, area=area, recipient=recipient, as_of=as_of, created=created), encoding="utf-8"
    )

    record = {
        "time_utc": created,
        "actor": _actor(actor),
        "recipient": recipient,
        "area": area,
        "run_as_of": as_of,
        "hiddennet_version": manifest.get("hiddennet_version"),
        "marking": MARKING,
        "rows": len(rows),
        "fields": list(FIELDS),
        "files": [
            {"name": str(p.relative_to(run_dir)), "sha256": _sha256(p), "rows": len(rows)} for p in (csv_path, html_path)
        ],
    }
    # Append only: the log of what left the force is never rewritten.
    with open(run_dir / DISCLOSURE_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(record, sort_keys=True) + "\n")
        log.flush()
        os.fsync(log.fileno())
    return {
        "area": area,
        "recipient": recipient,
        "people": len(rows),
        "csv": str(csv_path),
        "html": str(html_path),
        "disclosure_log": str(run_dir / DISCLOSURE_LOG),
    }


def _csv_text(rows: list[dict]) -> str:
    """The CSV: marking and handling as '#' lines first and last (read with comment='#'), then the fields."""
    buf = io.StringIO()
    banner = f"# {MARKING}. {HANDLING} {NOTICE}.\n"
    buf.write(banner)
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIELDS)
    for r in rows:
        w.writerow([r["nominal_id"], " | ".join(r["reasons"]),
                    "" if r["age_on_as_of"] is None else r["age_on_as_of"], ";".join(r["crime_refs"]), r["area"]])
    buf.write(banner)
    return buf.getvalue()


def _html_text(rows: list[dict], *, area: str, recipient: str, as_of: str, created: str) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("referral_pack.html").render(
        rows=rows, area=area, recipient=recipient, as_of=as_of, created_utc=created, marking=MARKING,
        handling=HANDLING, handling_short=HANDLING_SHORT, notice=NOTICE, headings=HEADINGS,
    )
