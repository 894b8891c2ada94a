"""The run history a force keeps (`history_dir`, `--history DIR`): what each run found, and the
stable group ids replayed over every registered run in `as_of` order (docs/continuity.md).

    DIR/.store.lock                  flock held while registering (hiddennet.rundir.locked)
    DIR/runs/<run_id>/run.json       as_of, when registered, the run folder, profile, min Jaccard
    DIR/runs/<run_id>/members.parquet    nominal_id, run_group_id, run_parent (ids as the run published them)
    DIR/runs/<run_id>/groups.parquet     run_group_id, size, harm_cchi, rank_harm_cchi, priority_rank, safeguarding_only
    DIR/runs/<run_id>/nominals.parquet   nominal_id, run_group_id, safeguarding_flagged, is_child, in_dismantling
    DIR/runs/<run_id>/links.parquet      nominal_a, nominal_b (combined edges, for watched-nominal alerts)
    DIR/runs/<run_id>/counts.parquet     area, measure, band, count (for trends)
    DIR/ids.parquet                  run_id, run_group_id, group_id: every run's stable ids (replayed)
    DIR/lineage.parquet              run_id, old_id, new_id, kind, overlap, shared (replayed)

A run id is `<as_of>-<first 12 hex of the manifest's SHA-256>`: the same run registered twice is
one run. The replay sorts runs by (as_of, run id), never by when they were registered, so the ids
are the same whatever order the runs were registered in. Every file is owner-only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hiddennet.continuity.ids import match_sets
from hiddennet.errors import OutputError
from hiddennet.fsio import private_dir, private_umask, write_private

SCHEMAS = {
    "members": pa.schema([("nominal_id", pa.string()), ("run_group_id", pa.string()), ("run_parent", pa.string())]),
    "groups": pa.schema([
        ("run_group_id", pa.string()), ("size", pa.int64()), ("harm_cchi", pa.float64()),
        ("rank_harm_cchi", pa.float64()), ("priority_rank", pa.int32()), ("safeguarding_only", pa.bool_()),
    ]),
    "nominals": pa.schema([
        ("nominal_id", pa.string()), ("run_group_id", pa.string()), ("safeguarding_flagged", pa.bool_()),
        ("is_child", pa.bool_()), ("in_dismantling", pa.bool_()),
    ]),
    "links": pa.schema([("nominal_a", pa.string()), ("nominal_b", pa.string())]),
    "counts": pa.schema([
        ("area", pa.string()), ("measure", pa.string()), ("band", pa.string()), ("count", pa.int64()),
    ]),
}
IDS_SCHEMA = pa.schema([("run_id", pa.string()), ("run_group_id", pa.string()), ("group_id", pa.string())])
LINEAGE_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("old_id", pa.string()), ("new_id", pa.string()), ("kind", pa.string()),
    ("overlap", pa.float64()), ("shared", pa.int64()),
])


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    as_of: str
    registered_utc: str
    folder: str
    profile: str
    min_jaccard: float

    @property
    def order(self) -> tuple[str, str]:
        return (self.as_of, self.run_id)


def _write(path: Path, table: pa.Table) -> None:
    with private_umask():
        pq.write_table(table, path)


def _read(path: Path, schema: pa.Schema) -> pa.Table:
    return pq.read_table(path).select(schema.names).cast(schema) if path.is_file() else schema.empty_table()


def runs(history: str | Path) -> list[RunEntry]:
    """The registered runs in replay order (as_of, run id)."""
    root = Path(history) / "runs"
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        if (p / "run.json").is_file():
            try:
                out.append(RunEntry(**json.loads((p / "run.json").read_text(encoding="utf-8"))))
            except (ValueError, TypeError):
                raise OutputError(f"file {p / 'run.json'}: not a run entry of a hiddennet history") from None
    return sorted(out, key=lambda r: r.order)


def read(history: str | Path, run_id: str, part: str) -> pa.Table:
    """One stored part (members, groups, nominals, links, counts) of a registered run."""
    return _read(Path(history) / "runs" / run_id / f"{part}.parquet", SCHEMAS[part])


def stable_ids(history: str | Path) -> pa.Table:
    return _read(Path(history) / "ids.parquet", IDS_SCHEMA)


def lineage(history: str | Path) -> pa.Table:
    return _read(Path(history) / "lineage.parquet", LINEAGE_SCHEMA)


# -- the replay -------------------------------------------------------------------------------------
def _memberships(history: Path, run_id: str) -> tuple[dict[str, str], dict[str, str]]:
    t = read(history, run_id, "members").to_pydict()
    members = dict(zip(t["nominal_id"], t["run_group_id"], strict=True))
    parents = dict(zip(t["run_group_id"], t["run_parent"], strict=True))
    return members, parents


def replay(history: Path, entries: list[RunEntry], previous: dict[str, frozenset[str]] | None = None,
           used: set[str] | None = None) -> tuple[pa.Table, pa.Table]:
    """(ids, lineage) of every run in `entries` (replay order), each named from the one before; the first
    from `previous` (stable id -> members) with `used` ids given before (none: the history's first run)."""
    ids: dict[str, list] = {n: [] for n in IDS_SCHEMA.names}
    lin: dict[str, list] = {n: [] for n in LINEAGE_SCHEMA.names}
    previous = dict(previous or {})
    used = set(used or ())
    for entry in entries:
        members, parents = _memberships(history, entry.run_id)
        names, rows = match_sets(previous, members, parents, used, entry.min_jaccard)
        for key in sorted(names):
            ids["run_id"].append(entry.run_id)
            ids["run_group_id"].append(key)
            ids["group_id"].append(names[key])
        for r in rows:
            for col, v in zip(LINEAGE_SCHEMA.names, (entry.run_id, r.old_id, r.new_id, r.kind, r.overlap, r.shared),
                              strict=True):
                lin[col].append(v)
        groups: dict[str, set[str]] = {}
        for nominal, key in members.items():
            groups.setdefault(names[key], set()).add(nominal)
        previous = {g: frozenset(ms) for g, ms in groups.items()}
        used |= set(names.values())
    return pa.table(ids, schema=IDS_SCHEMA), pa.table(lin, schema=LINEAGE_SCHEMA)


def _rederive(history: Path, added: str | None = None) -> None:
    """Work out every run's ids again in replay order. When the run just `added` is the last in that
    order and every other run is worked out already, only it is named (from the one before): the result
    is the same as a full replay, which the other cases do."""
    entries = runs(history)
    old_ids, old_lin = stable_ids(history), lineage(history)
    done = set(old_ids["run_id"].to_pylist())
    if added and len(entries) >= 2 and entries[-1].run_id == added and added not in done and done == {
            e.run_id for e in entries[:-1]}:
        last = entries[-2].run_id
        names = {k: g for r, k, g in zip(*(old_ids[c].to_pylist() for c in IDS_SCHEMA.names), strict=True)
                 if r == last}
        members, _ = _memberships(history, last)
        previous: dict[str, set[str]] = {}
        for nominal, key in members.items():
            previous.setdefault(names[key], set()).add(nominal)
        ids, lin = replay(history, entries[-1:], {g: frozenset(m) for g, m in previous.items()},
                          set(old_ids["group_id"].to_pylist()))
        ids, lin = pa.concat_tables([old_ids, ids]), pa.concat_tables([old_lin, lin])
    else:
        ids, lin = replay(history, entries)
    _write(history / "ids.parquet", ids)
    _write(history / "lineage.parquet", lin)


# -- registering a run ------------------------------------------------------------------------------
def run_id_of(run_dir: Path) -> str:
    from hiddennet.rundir import open_run

    manifest = open_run(run_dir)
    digest = hashlib.sha256((Path(run_dir) / "manifest.json").read_bytes()).hexdigest()[:12]
    return f"{manifest['as_of']}-{digest}"


def register(history: str | Path, run_dir: str | Path) -> str:
    """Add a complete run folder to the history (under its lock) and replay the ids; returns the run id."""
    from hiddennet.continuity.snapshot import snapshot
    from hiddennet.rundir import locked, open_run

    history, run_dir = Path(history), Path(run_dir)
    manifest = open_run(run_dir)
    run_id = run_id_of(run_dir)
    private_dir(history)
    with locked(history / "store", wait=True):
        folder = private_dir(history / "runs" / run_id)
        for part, table in snapshot(run_dir).items():
            _write(folder / f"{part}.parquet", table.cast(SCHEMAS[part]))
        entry = {
            "run_id": run_id, "as_of": str(manifest["as_of"]),
            "registered_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "folder": str(run_dir.resolve()), "profile": str(manifest["settings"].get("profile", "")),
            "min_jaccard": float(manifest["settings"].get("group_id_min_jaccard", 0.3)),
        }
        write_private(folder / "run.json", json.dumps(entry, indent=2) + "\n")
        _rederive(history, run_id)
    return run_id


def previous_run(history: str | Path | None, as_of: dt.date | str) -> tuple[RunEntry | None, list[RunEntry]]:
    """(the latest run on or before `as_of`, every run on or before it): what a new run is named from."""
    if history is None or not Path(history).is_dir():
        return None, []
    before = [r for r in runs(Path(history)) if r.as_of <= str(as_of)]
    return (before[-1] if before else None), before


def check_history(history: Path) -> None:
    """OutputError (exit 2) when `history` is not a folder a history can live in."""
    if history.exists() and not history.is_dir():
        raise OutputError(f"--history {history}: not a folder")


def history_summary(history: str | Path) -> list[dict]:
    """Per registered run, in replay order: id, as_of, when registered, groups and lineage kinds."""
    history = Path(history)
    ids = stable_ids(history).to_pydict()
    lin = lineage(history).to_pydict()
    out = []
    for r in runs(history):
        kinds: dict[str, int] = {}
        for run_id, kind in zip(lin["run_id"], lin["kind"], strict=True):
            if run_id == r.run_id:
                kinds[kind] = kinds.get(kind, 0) + 1
        out.append({"run_id": r.run_id, "as_of": r.as_of, "registered_utc": r.registered_utc,
                    "groups": sum(1 for x in ids["run_id"] if x == r.run_id), "lineage": dict(sorted(kinds.items()))})
    return out
