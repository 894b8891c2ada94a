"""Referral packs: what one area's multi-agency safeguarding hub (MASH) receives from a finished run.

Only what a hub needs is sent, sorted by triage band: the person's id, the band and the rules that set
it, the reasons in plain words, the age on the run's reference date, the linked crime references, the
area, the lawful basis of the sharing, what changed since the last pack, the peer group (contextual
safeguarding) and the last outcome a hub reported. Names, date of birth, sex and the crime types and
dates are added only when the run's setting `referral_identifiers` is on (the force's information-
sharing agreement). Never ethnicity, group ids, harm or network measures.

Lawful sharing: children under Working Together to Safeguard Children 2018; anyone else only with a
recorded basis (`safeguarding.share_with_hub`), still in force on the day the pack is made. Everyone
else stays on the police side (`safeguarding_review`) and is never written to a pack.

Deltas: the referral ledger (`ledger.py`) says who was sent to this area before; a pack holds the new
and the changed (a new reason, a higher band) and counts the unchanged (`full=True` resends all).

Every pack is marked OFFICIAL-SENSITIVE with its handling conditions (in the CSV's first and last
lines; on every printed page of the HTML sheet) and every export is recorded as a disclosure in the
run's append-only log `<run>/disclosures.jsonl` (one function: `_log_disclosure`).
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import hashlib
import io
import os
import re
from pathlib import Path

import jinja2
import pyarrow.parquet as pq

from hiddennet.auditlog import append_event
from hiddennet.errors import OutputError, SettingsError
from hiddennet.fsio import private_dir, write_private
from hiddennet.rundir import open_run
from hiddennet.safeguard import ledger as ledger_mod
from hiddennet.safeguard.bands import BANDS, rule_words
from hiddennet.settings import Settings
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
IDENTIFIERS_NOTICE = (
    "This pack holds names, dates of birth, sex and the types and dates of the crimes behind each referral, "
    "shared under the information-sharing agreement between the force and this hub so that the hub can match "
    "its own records. Restricted: handle as above."
)
# Area name for people whose crimes record no area (safeguarding.local_area is NULL).
UNKNOWN_AREA = "unknown"
FIELDS = ("nominal_id", "band", "band_reasons", "reasons", "age_on_as_of", "crime_refs", "area", "sharing_basis",
          "change", "peer_group", "last_outcome")
HEADINGS = ("Person id", "Band", "Why this band", "Why they are listed", "Age", "Crime references", "Area",
            "Basis for sharing", "Since last pack", "Peer group", "Last outcome")
IDENTIFIER_FIELDS = ("forename", "surname", "date_of_birth", "sex", "crimes")
IDENTIFIER_HEADINGS = ("Forename", "Surname", "Date of birth", "Sex", "Crimes behind the referral (date, type)")
DISCLOSURE_LOG = "disclosures.jsonl"
# Cells a spreadsheet would run as a formula (OWASP CSV injection): written with a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NOT_TRIAGED = "not triaged"

BASIS_WORDS = {
    "working_together_2018": "Child: Working Together to Safeguard Children 2018",
    "consent": "Consent recorded",
    "vital_interests": "Vital interests (to protect life)",
    "safeguarding_individual_at_risk": "Safeguarding an individual at risk (DPA 2018 Sch.1 para 18)",
    "care_act_s42_enquiry": "Care Act 2014 s.42 safeguarding enquiry",
    "mca_best_interests": "Best interests decision (Mental Capacity Act 2005)",
}
OUTCOME_WORDS = {
    "accepted": "Accepted", "no_further_action": "No further action", "strategy_discussion": "Strategy discussion",
    "nrm_referral": "NRM referral", "outcome_22": "Outcome 22 (diversionary activity)",
}
BAND_WORDS = {
    "immediate": "Immediate: consider a strategy discussion today",
    "high": "High: strategy discussion",
    "medium": "Medium: daily contextual safeguarding meeting",
    "monitor": "Monitor",
    NOT_TRIAGED: "Not triaged (run made without the triage step)",
}
_SAFEGUARDING_COLUMNS = ["nominal_id", "reasons", "age_on_as_of", "crime_refs", "local_area", "share_with_hub",
                         "sharing_basis", "sharing_basis_expires", "last_outcome", "last_outcome_date"]


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
        "adult_at_risk": (
            f"Adult ({child_age} or over) recorded as a victim of slavery or trafficking: an adult at risk."
        ),
        "nrm_consider": (
            "Recorded as a victim of slavery or trafficking: consider a National Referral Mechanism referral."
        ),
        "possible_cce_victim": (
            f"Child (under {child_age} at the time) recorded as a suspect of drug supply in a county lines "
            "network: a possible victim of criminal exploitation (Modern Slavery Act 2015 s.45), not a target."
        ),
    }


def escape_cell(value) -> str:
    """A CSV cell as text, with a leading apostrophe when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


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


def _table(run_dir: Path, name: str, columns: list[str] | None = None) -> list[dict] | None:
    path = run_dir / "tables" / f"{name}.parquet"
    return pq.read_table(path, columns=columns).to_pylist() if path.is_file() else None


def _load_people(run_dir: Path) -> list[dict]:
    table_path = run_dir / "tables" / "safeguarding.parquet"
    if not table_path.is_file():
        raise OutputError(f"file {table_path}: missing, the run has no safeguarding table")
    have = set(pq.read_schema(table_path).names)
    if "share_with_hub" not in have:
        # A run made before the lawful-sharing rules cannot say who may be shared: never guess.
        raise OutputError(f"file {table_path}, column share_with_hub: missing; rerun the pipeline to make packs")
    people = _table(run_dir, "safeguarding", [c for c in _SAFEGUARDING_COLUMNS if c in have]) or []
    triage = {r["nominal_id"]: r for r in _table(run_dir, "safeguarding_triage") or []}
    for p in people:
        t = triage.get(p["nominal_id"])
        p["band"] = t["band"] if t else NOT_TRIAGED
        p["band_order"] = t["band_order"] if t else len(BANDS) + 1
        p["band_reasons"] = list(t["band_reasons"] or []) if t else []
        p["peer_group_id"] = t["peer_group_id"] if t else None
        p["area"] = p["local_area"] if p["local_area"] is not None else UNKNOWN_AREA
    return people


def may_leave(person: dict, today: dt.date) -> bool:
    """True only for a person the run found shareable whose basis is still in force today."""
    if not person.get("share_with_hub") or not person.get("sharing_basis"):
        return False
    expires = person.get("sharing_basis_expires")
    return expires is None or expires >= today


def _change(person: dict, before: dict | None) -> str | None:
    """'new', 'higher band', 'new reason' or None (unchanged) against the last pack sent to this area."""
    if before is None:
        return "new"
    if person["band_order"] < int(before.get("band_order") or len(BANDS) + 1):
        return "higher band"
    monitor = {"no_recent_activity", "no_rule_above_monitor"}
    now = set(person["reasons"] or []) | (set(person["band_reasons"]) - monitor)
    if now - set(before.get("reasons") or []) - set(before.get("band_reasons") or []):
        return "new reason"
    return None


def write_referral_pack(
    run_dir: Path,
    area: str,
    recipient: str,
    actor: str | None = None,
    *,
    ledger: str | Path | None = None,
    full: bool = False,
    bands: list[str] | tuple[str, ...] | None = None,
) -> dict:
    """Write `<run>/referrals/<area>/` (CSV and printable HTML), append the disclosure and the ledger lines.

    `ledger`: the ledger folder (default: the run's `referral_ledger` setting, else beside the run folder).
    `full`: send everyone who may be shared, not only the new and the changed.
    `bands`: send only people of these bands (default: all); the others are counted, not sent, and not
    recorded in the ledger, so a later pack that includes their band sends them.
    Returns a summary (counts and file names, no person's data) for the command line and the dashboard.
    """
    run_dir = Path(run_dir)
    manifest = open_run(run_dir)  # a complete run, or OutputError (exit 2)
    cfg = manifest.get("settings", {})
    people = _load_people(run_dir)
    known = sorted({p["area"] for p in people})
    if area not in known:
        raise SettingsError(
            f"file {run_dir / 'tables' / 'safeguarding.parquet'}, column local_area: unknown area; "
            f"the run knows {len(known)} areas: " + ", ".join(known)
        )
    chosen = set(bands) if bands else None
    if chosen is not None and not chosen <= set(BANDS) | {NOT_TRIAGED}:
        raise SettingsError("bands: unknown band; use " + ", ".join(BANDS))
    now = dt.datetime.now(dt.UTC)
    in_area = [p for p in people if p["area"] == area]
    shareable = [p for p in in_area if may_leave(p, now.date())]
    folder = ledger_mod.ledger_dir(run_dir, ledger, cfg.get("referral_ledger"))
    entries = ledger_mod.read_ledger(folder)
    before = ledger_mod.last_sent(entries, area)
    for p in shareable:
        p["change"] = _change(p, before.get(p["nominal_id"])) or ("resent" if full else None)
    wanted = [p for p in shareable if chosen is None or p["band"] in chosen]
    sent = sorted((p for p in wanted if p["change"]), key=lambda p: (p["band_order"], p["nominal_id"]))
    identifiers = bool(cfg.get("referral_identifiers", False))
    rows, groups = _pack_rows(run_dir, sent, shareable, cfg, entries, identifiers)
    return _write_files(
        run_dir, rows, groups, area=area, recipient=recipient, actor=_actor(actor), manifest=manifest, now=now,
        identifiers=identifiers, folder=folder,
        counts={"unchanged": len(wanted) - len(sent), "held_for_police_review": len(in_area) - len(shareable),
                "other_bands_not_sent": len(shareable) - len(wanted)},
    )


def _pack_rows(run_dir: Path, sent: list[dict], shareable: list[dict], cfg: dict, entries: list[dict],
               identifiers: bool) -> tuple[list[dict], list[dict]]:
    """The pack's person rows (plain words) and peer-group rows, from the people to send."""
    words = reason_words(int(cfg.get("child_age", 18)), int(cfg.get("transitional_age_max", 25)))
    known_settings = {k: v for k, v in cfg.items() if k in Settings.model_fields}
    rules = rule_words(Settings.model_validate(known_settings))
    outcomes = ledger_mod.latest_outcomes(entries)
    groups = _peer_groups(run_dir, sent, shareable)
    label = {m: g["label"] for g in groups for m in g["member_ids"]}
    ids = {r["nominal_id"]: r for r in _table(run_dir, "safeguarding_identifiers") or []} if identifiers else {}
    crimes: dict[str, list[str]] = {}
    if identifiers:
        for c in _table(run_dir, "safeguarding_crimes") or []:
            role = "victim" if "victim" in (c["recorded_as"] or []) else "accused or suspect role" \
                if "accused_or_suspect" in (c["recorded_as"] or []) else "other role"
            crimes.setdefault(c["nominal_id"], []).append(
                f"{c['offence_date'] or 'date not recorded'} {c['offence_title'] or 'type not recorded'} "
                f"({c['crime_ref']}, recorded as {role})")
    rows = []
    for p in sent:
        row = {
            "nominal_id": p["nominal_id"], "band": p["band"], "band_words": BAND_WORDS.get(p["band"], p["band"]),
            "band_reasons": [rules.get(r, r) for r in p["band_reasons"]],
            "reasons": [words.get(r, r) for r in (p["reasons"] or [])], "age_on_as_of": p["age_on_as_of"],
            "crime_refs": list(p["crime_refs"] or []), "area": p["area"],
            "sharing_basis": BASIS_WORDS.get(p["sharing_basis"], p["sharing_basis"]), "change": p["change"],
            "peer_group": label.get(p["nominal_id"], ""), "last_outcome": _outcome_text(p, outcomes),
            "_codes": {"reasons": list(p["reasons"] or []), "band_reasons": p["band_reasons"],
                       "band_order": p["band_order"], "sharing_basis": p["sharing_basis"]},
        }
        if identifiers:
            i = ids.get(p["nominal_id"], {})
            row.update({k: i.get(k) for k in IDENTIFIER_FIELDS[:4]})
            row["crimes"] = crimes.get(p["nominal_id"], [])
        rows.append(row)
    return rows, groups


def _outcome_text(person: dict, outcomes: dict[str, dict]) -> str:
    """The latest outcome a hub reported: the run's input or the ledger, whichever is later."""
    found = []
    if person.get("last_outcome"):
        found.append((str(person.get("last_outcome_date") or ""), person["last_outcome"]))
    e = outcomes.get(person["nominal_id"])
    if e:
        found.append((str(e.get("outcome_date") or ""), e["outcome"]))
    if not found:
        return ""
    day, code = max(found)
    return f"{OUTCOME_WORDS.get(code, code)} ({day})" if day else OUTCOME_WORDS.get(code, code)


def _peer_groups(run_dir: Path, sent: list[dict], shareable: list[dict]) -> list[dict]:
    """Peer groups with a member in this pack: a pack-local label (never the group id), the members this
    hub may see, and how many others there are (another area's, or held on the police side)."""
    sent_ids = {p["nominal_id"] for p in sent}
    visible = {p["nominal_id"] for p in shareable}
    out = []
    for g in _table(run_dir, "safeguarding_peer_groups") or []:
        members = list(g["members"] or [])
        if not sent_ids.intersection(members):
            continue
        shown = sorted(m for m in members if m in visible)
        out.append({"band": g["band"], "band_words": BAND_WORDS.get(g["band"], g["band"]), "order": g["band_order"],
                    "member_ids": shown, "members": [m if m in sent_ids else f"{m} (sent before)" for m in shown],
                    "others": len(members) - len(shown), "size": len(members), "key": g["group_id"]})
    out.sort(key=lambda g: (g["order"], g["key"]))
    for i, g in enumerate(out, start=1):
        g["label"] = f"Peer group {i}"
        del g["key"]
    return out


def _write_files(run_dir: Path, rows: list[dict], groups: list[dict], *, area: str, recipient: str, actor: str,
                 manifest: dict, now: dt.datetime, identifiers: bool, folder: Path, counts: dict) -> dict:
    created = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    as_of = manifest.get("as_of", "")
    out_dir = private_dir(run_dir / "referrals" / _safe_dir_name(area))
    # A pack once sent is never overwritten: each export gets its own time-stamped files.
    stem = f"referral-pack-{_safe_dir_name(area)}-{now.strftime('%Y%m%dT%H%M%SZ')}"
    n = 1
    while (out_dir / f"{stem}.csv").exists() or (out_dir / f"{stem}.html").exists():
        n += 1
        stem = f"referral-pack-{_safe_dir_name(area)}-{now.strftime('%Y%m%dT%H%M%SZ')}-{n}"
    fields = FIELDS + (IDENTIFIER_FIELDS if identifiers else ())
    csv_path, html_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.html"
    write_private(csv_path, _csv_text(rows, groups, fields))
    write_private(html_path, _html_text(rows, groups, area=area, recipient=recipient, as_of=as_of, created=created,
                                        identifiers=identifiers, counts=counts))
    per_band = {b: sum(1 for r in rows if r["band"] == b) for b in (*BANDS, NOT_TRIAGED)}
    record = {
        "time_utc": created, "actor": actor, "recipient": recipient, "area": area, "run_as_of": as_of,
        "hiddennet_version": manifest.get("hiddennet_version"), "marking": MARKING, "rows": len(rows),
        "fields": list(fields), "identifiers": identifiers, "unchanged_not_sent": counts["unchanged"],
        "bands": sorted({r["band"] for r in rows}),
        "peer_groups": len(groups),
        "files": [
            {"name": str(p.relative_to(run_dir)), "sha256": _sha256(p), "rows": len(rows)}
            for p in (csv_path, html_path)
        ],
    }
    _log_disclosure(run_dir, record)
    ledger_path = ledger_mod.append(folder, [
        {"kind": "sent", "time_utc": created, "run_as_of": as_of, "area": area, "recipient": recipient, "actor": actor,
         "nominal_id": r["nominal_id"], "band": r["band"], "band_order": r["_codes"]["band_order"],
         "band_reasons": r["_codes"]["band_reasons"], "reasons": r["_codes"]["reasons"],
         "sharing_basis": r["_codes"]["sharing_basis"], "change": r["change"], "pack": stem}
        for r in rows
    ])
    return {
        "area": area, "recipient": recipient, "people": len(rows),
        "new": sum(1 for r in rows if r["change"] == "new"),
        "changed": sum(1 for r in rows if r["change"] in ("higher band", "new reason")),
        "unchanged_not_sent": counts["unchanged"], "held_for_police_review": counts["held_for_police_review"],
        "other_bands_not_sent": counts["other_bands_not_sent"],
        "per_band": per_band, "peer_groups": len(groups), "identifiers": identifiers,
        "csv": str(csv_path), "html": str(html_path), "disclosure_log": str(run_dir / DISCLOSURE_LOG),
        "ledger": str(ledger_path),
    }


def _log_disclosure(run_dir: Path, record: dict) -> None:
    """Append one disclosure record to the run's log: the only place that writes it (append only, 0600,
    hash-chained so that `hiddennet audit verify` finds any edited, removed or reordered line)."""
    append_event(Path(run_dir) / DISCLOSURE_LOG, record)


def _csv_text(rows: list[dict], groups: list[dict], fields: tuple[str, ...]) -> str:
    """The CSV: marking and handling as '#' lines first and last (read with comment='#'), then the people in
    band order; peer groups follow as '#'-free rows of a second section headed `peer_group,...`."""
    buf = io.StringIO()
    banner = f"# {MARKING}. {HANDLING} {NOTICE}.\n"
    buf.write(banner)
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fields)
    for r in rows:
        cells = []
        for f in fields:
            v = r.get(f)
            if f in ("reasons", "band_reasons", "crimes"):
                v = " | ".join(v or [])
            elif f == "crime_refs":
                v = ";".join(v or [])
            cells.append(escape_cell(v))
        w.writerow(cells)
    if groups:
        buf.write(f"# Peer groups (contextual safeguarding): {len(groups)}\n")
        w.writerow(("peer_group", "band", "members_in_this_pack_area", "other_members"))
        for g in groups:
            w.writerow([escape_cell(x) for x in (g["label"], g["band"], ";".join(g["member_ids"]), g["others"])])
    buf.write(banner)
    return buf.getvalue()


def _html_text(rows: list[dict], groups: list[dict], *, area: str, recipient: str, as_of: str, created: str,
               identifiers: bool, counts: dict) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    bands = [(b, BAND_WORDS[b], [r for r in rows if r["band"] == b]) for b in (*BANDS, NOT_TRIAGED)]
    headings = HEADINGS + (IDENTIFIER_HEADINGS if identifiers else ())
    return env.get_template("referral_pack.html").render(
        rows=rows, bands=[b for b in bands if b[2]], groups=groups, area=area, recipient=recipient, as_of=as_of,
        created_utc=created, marking=MARKING, handling=HANDLING, handling_short=HANDLING_SHORT, notice=NOTICE,
        headings=headings, identifiers=identifiers, identifiers_notice=IDENTIFIERS_NOTICE, counts=counts,
    )
