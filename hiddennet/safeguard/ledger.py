"""The referral ledger: what was sent to which hub, when, under what basis, across runs; and what came back.

One append-only JSON-lines file, `<ledger folder>/referral-ledger.jsonl` (0600; folder 0700). Two kinds
of line:

- `sent`: one per person in a pack: time (UTC), run `as_of`, area, recipient, actor, nominal id, band,
  reasons (flag and band reasons), sharing basis, pack file name;
- `outcome`: what a hub did (`accepted`, `no_further_action`, `strategy_discussion`, `nrm_referral`,
  `outcome_22`), with its date, who recorded it and where from (`dashboard`, `file`, ...).

The folder is `--ledger DIR` of `hiddennet referrals`, else the setting `referral_ledger` of the run,
else `referral-ledger` beside the run folder, so that successive runs written side by side
(`runs/2021-03`, `runs/2021-06`) share one ledger. The ledger holds police nominal ids: it stays on the
police side, like the run folder.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from hiddennet.contract import REFERRAL_OUTCOMES
from hiddennet.errors import OutputError, SettingsError
from hiddennet.fsio import append_private, private_dir

LEDGER_FILE = "referral-ledger.jsonl"
DEFAULT_DIR = "referral-ledger"


def ledger_dir(run_dir: Path, explicit: str | Path | None = None, setting: str | None = None) -> Path:
    """The ledger folder: the explicit one, else the run's setting, else `referral-ledger` beside the run."""
    if explicit is not None:
        return Path(explicit)
    if setting:
        return Path(setting)
    return Path(run_dir).resolve().parent / DEFAULT_DIR


def read_ledger(folder: Path) -> list[dict]:
    """Every line of the ledger in order; an unreadable line is an error naming the file and line only."""
    path = Path(folder) / LEDGER_FILE
    if not path.is_file():
        return []
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            raise OutputError(f"file {path}, line {i}: not a ledger record (JSON)") from None
    return out


def last_sent(entries: list[dict], area: str) -> dict[str, dict]:
    """nominal_id -> the latest `sent` line for this area (ledger order is time order)."""
    out: dict[str, dict] = {}
    for e in entries:
        if e.get("kind") == "sent" and e.get("area") == area:
            out[str(e["nominal_id"])] = e
    return out


def latest_outcomes(entries: list[dict]) -> dict[str, dict]:
    """nominal_id -> the latest `outcome` line (by outcome date, then ledger order)."""
    out: dict[str, dict] = {}
    for e in entries:
        if e.get("kind") != "outcome":
            continue
        key = str(e["nominal_id"])
        if key not in out or str(e.get("outcome_date", "")) >= str(out[key].get("outcome_date", "")):
            out[key] = e
    return out


def append(folder: Path, records: list[dict]) -> Path:
    """Append records in one write (a pack's lines go in together or not at all, as far as the OS allows)."""
    folder = private_dir(folder)
    path = folder / LEDGER_FILE
    if records:
        append_private(path, "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in records))
    return path


def record_outcome(
    folder: str | Path,
    nominal_id: str,
    outcome: str,
    *,
    actor: str,
    outcome_date: dt.date | str | None = None,
    area: str | None = None,
    source: str = "dashboard",
) -> dict:
    """Record what a hub did with a referral (for the dashboard's outcome action). Returns the line written.

    The outcome is one of REFERRAL_OUTCOMES; the date defaults to today (UTC). The caller audits the action.
    """
    code = outcome.strip().lower().replace(" ", "_").replace("-", "_")
    if code not in REFERRAL_OUTCOMES:
        raise SettingsError(f"outcome: unknown code; use one of {', '.join(REFERRAL_OUTCOMES)}")
    if not actor:
        raise SettingsError("actor: an outcome must name who recorded it")
    day = outcome_date or dt.datetime.now(dt.UTC).date()
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day)
        except ValueError:
            raise SettingsError("outcome_date: not an ISO date (YYYY-MM-DD)") from None
    record = {
        "kind": "outcome",
        "nominal_id": str(nominal_id),
        "outcome": code,
        "outcome_date": day.isoformat(),
        "area": area,
        "actor": actor,
        "source": source,
        "recorded_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    append(Path(folder), [record])
    return record
