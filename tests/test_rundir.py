"""Run folders (hiddennet/rundir.py): written whole or not at all, one run at a time, read only when complete.

Most cases use a stand-in run (a few files written through `rundir.writing`); the pipeline cases run
a tiny generated force (scale 0.01, no stability reruns) once per umask.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from hiddennet import rundir
from hiddennet.engine.duckdb_engine import DuckDBEngine
from hiddennet.errors import OutputError, OutputWriteError, RunFolderBusyError
from hiddennet.generate import generate_force
from hiddennet.pipeline import run_pipeline
from hiddennet.settings import Settings

FAST = Settings(stability_checks=False)
GOVERNANCE = {
    "audit.jsonl": '{"action": "view"}\n',
    "disclosures.jsonl": '{"area": "North"}\n',
    "dashboard_users.json": '{"users": []}\n',
    "referrals/North/referral-pack-North-20210316T090000Z.csv": "# OFFICIAL-SENSITIVE\nnominal_id\n",
}


def fake_run(out: Path, tables: dict[str, bytes], *, fail_after: int | None = None) -> dict:
    """A stand-in run: `tables` written under tables/, then manifest.json, committed by rundir."""
    with rundir.writing(out) as staging:
        for i, (name, data) in enumerate(tables.items()):
            if fail_after is not None and i == fail_after:
                raise RuntimeError("killed mid-publish")
            (staging.path / "tables").mkdir(exist_ok=True)
            (staging.path / "tables" / f"{name}.parquet").write_bytes(data)
        (staging.path / "manifest.json").write_text(json.dumps({"as_of": "2021-03-15", "tables": sorted(tables)}))
    return staging.manifest


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.") and p.is_dir())


# -- what makes a folder a run --------------------------------------------------------------------


def test_manifest_lists_every_file_with_size_and_checksum(tmp_path):
    """Two tables of 3 and 5 bytes: both listed with those sizes and their SHA-256; the manifest itself is not."""
    m = fake_run(tmp_path / "out", {"a": b"abc", "b": b"12345"})
    assert set(m["files"]) == {"tables/a.parquet", "tables/b.parquet"}
    assert m["files"]["tables/b.parquet"]["bytes"] == 5
    assert m["files"]["tables/a.parquet"]["sha256"] == rundir.sha256(tmp_path / "out" / "tables" / "a.parquet")
    assert rundir.open_run(tmp_path / "out", checksums=True) == m
    assert leftovers(tmp_path / "out") == []


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda out: (out / "manifest.json").unlink(), "no manifest.json"),
        (lambda out: (out / "manifest.json").write_text('{"as_of": "2021-'), "not readable JSON"),
        (lambda out: (out / "manifest.json").write_text('{"as_of": "2021-03-15", "tables": {}}'), "lists no files"),
        (lambda out: (out / "tables" / "b.parquet").unlink(), "file tables/b.parquet: missing"),
        (lambda out: (out / "tables" / "b.parquet").write_bytes(b"12"), "file tables/b.parquet: 2 bytes, the manifest says 5"),
    ],
    ids=["no-manifest", "truncated-manifest", "old-manifest-without-files", "table-missing", "table-half-written"],
)
def test_an_incomplete_folder_is_not_a_run(tmp_path, damage, problem):
    out = tmp_path / "out"
    fake_run(out, {"a": b"abc", "b": b"12345"})
    damage(out)
    with pytest.raises(OutputError, match=problem) as e:
        rundir.open_run(out)
    assert e.value.exit_code == 2
    assert not rundir.is_run(out)


def test_checksums_are_checked_on_demand(tmp_path):
    """Same size, other bytes: the cheap check passes, the checksum check names the file."""
    out = tmp_path / "out"
    fake_run(out, {"a": b"abc"})
    (out / "tables" / "a.parquet").write_bytes(b"xyz")
    rundir.open_run(out)
    with pytest.raises(OutputError, match="tables/a.parquet: checksum differs"):
        rundir.open_run(out, checksums=True)


def test_a_listed_path_outside_the_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    fake_run(out, {"a": b"abc"})
    (tmp_path / "secret").write_text("x")
    m = json.loads((out / "manifest.json").read_text())
    m["files"]["../secret"] = {"bytes": 1}
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(OutputError, match="not a file of the run folder"):
        rundir.open_run(out)


# -- failures leave the previous run --------------------------------------------------------------


def test_a_failure_mid_publish_leaves_the_previous_run(tmp_path):
    """Rerun dies after one of two tables: the old complete run is still there, byte for byte; no half folder."""
    out = tmp_path / "out"
    before = fake_run(out, {"a": b"old-a", "b": b"old-b"})
    with pytest.raises(RuntimeError, match="killed mid-publish"):
        fake_run(out, {"a": b"new-a!", "b": b"new-b!"}, fail_after=1)
    assert rundir.open_run(out, checksums=True) == before
    assert (out / "tables" / "a.parquet").read_bytes() == b"old-a"
    assert leftovers(out) == []


def test_a_failure_on_the_first_run_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        fake_run(tmp_path / "out", {"a": b"1", "b": b"2"}, fail_after=1)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path / "out") == []


def test_full_disk_names_the_run_folder_and_leaves_the_previous_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    before = fake_run(out, {"a": b"old"})

    def full(path, data, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(rundir, "write_private", full)  # the manifest's final write
    with pytest.raises(OutputWriteError) as e:
        fake_run(out, {"a": b"new"})
    assert str(e.value) == f"cannot write run folder {out}: no space left on device"
    assert e.value.exit_code == 1
    assert rundir.open_run(out, checksums=True) == before and leftovers(out) == []


def test_killed_run_leaves_a_partial_folder_that_is_never_read_and_is_cleared_next_time(tmp_path):
    """SIGKILL (no clean-up runs) while a rerun writes: the old run is intact, the partial folder is not
    a run, and the next run into that --out deletes it."""
    out = tmp_path / "out"
    before = fake_run(out, {"a": b"old"})
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from hiddennet import rundir
            with rundir.writing(Path({str(out)!r})) as s:
                (s.path / "tables").mkdir()
                (s.path / "tables" / "a.parquet").write_bytes(b"half")
                (s.path / "manifest.json").write_text("{{}}")
                print("writing", flush=True)
                time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout.readline().strip() == "writing"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
    partial = [out.parent / n for n in leftovers(out)]
    assert len(partial) == 1 and not rundir.is_run(partial[0])
    assert rundir.open_run(out, checksums=True) == before
    # The kernel freed the dead run's lock: the next run does not wait, and clears the partial folder.
    fake_run(out, {"a": b"new"})
    assert leftovers(out) == [] and (out / "tables" / "a.parquet").read_bytes() == b"new"


def test_interrupted_between_the_two_renames_the_previous_run_comes_back(tmp_path, monkeypatch):
    """Without an atomic exchange the swap is two renames; dying between them leaves no --out. The
    next run under the lock puts the previous run back before it starts."""
    out = tmp_path / "out"
    before = fake_run(out, {"a": b"old"})
    os.rename(out, out.parent / ".out.old-deadbeef")
    with pytest.raises(RuntimeError):
        fake_run(out, {"a": b"new"}, fail_after=0)
    assert rundir.open_run(out) == before and leftovers(out) == []


def test_a_failure_just_after_the_exchange_keeps_both_runs_until_the_next_run(tmp_path, monkeypatch):
    """The names are exchanged, then the process fails: `out` is the new complete run, the old one
    (with its audit log) sits at the partial name, not deleted; the next run clears it, nothing lost."""
    out = tmp_path / "out"
    fake_run(out, {"a": b"old"})
    (out / "audit.jsonl").write_text("seen\n")

    def exchange_then_fail(new, o, aside):
        assert rundir._exchange(new, o)
        raise KeyboardInterrupt

    monkeypatch.setattr(rundir, "_swap", exchange_then_fail)
    with pytest.raises(KeyboardInterrupt):
        fake_run(out, {"a": b"new"})
    assert (out / "tables" / "a.parquet").read_bytes() == b"new" and rundir.is_run(out)
    (old,) = leftovers(out)
    assert (out.parent / old / "tables" / "a.parquet").read_bytes() == b"old"
    monkeypatch.undo()
    fake_run(out, {"a": b"newer"})
    assert leftovers(out) == [] and (out / "audit.jsonl").read_text() == "seen\n"


def test_swap_without_an_atomic_exchange(tmp_path, monkeypatch):
    monkeypatch.setattr(rundir, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    fake_run(out, {"a": b"old"})
    (out / "audit.jsonl").write_text("x\n")
    fake_run(out, {"a": b"new"})
    assert (out / "tables" / "a.parquet").read_bytes() == b"new" and (out / "audit.jsonl").read_text() == "x\n"
    assert leftovers(out) == []


def test_a_folder_that_is_not_a_run_is_never_replaced(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not empty and not a hiddennet run") as e:
        fake_run(out, {"a": b"x"})
    assert e.value.exit_code == 2 and (out / "notes.txt").read_text() == "keep me" and leftovers(out) == []


def test_an_out_below_a_file_exits_2(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputError, match="a part of the path is a file"):
        fake_run(tmp_path / "f" / "out", {"a": b"x"})


# -- governance files survive a rerun -------------------------------------------------------------


def test_governance_files_are_carried_into_the_rerun(tmp_path):
    """Audit log, disclosure log, users file and referral packs come with the new run, unchanged;
    report.html (it describes the old run) does not; the carried files are not part of the new run."""
    out = tmp_path / "out"
    fake_run(out, {"a": b"old"})
    for rel, text in GOVERNANCE.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    (out / "report.html").write_text("<p>old run</p>")
    m = fake_run(out, {"a": b"new"})
    for rel, text in GOVERNANCE.items():
        assert (out / rel).read_text() == text, rel
    assert not (out / "report.html").exists()
    assert set(m["files"]) == {"tables/a.parquet"}
    assert leftovers(out) == [] and not list(tmp_path.glob("out.superseded-*"))
    # And again: what was carried once is carried again.
    fake_run(out, {"a": b"newer"})
    assert all((out / rel).read_text() == text for rel, text in GOVERNANCE.items())


def test_a_dashboard_appending_through_the_rerun_loses_nothing(tmp_path, monkeypatch):
    """Carried as hard links: a line appended to the old folder's audit log after it was carried (by
    an open file) is in the new run's log too."""
    out = tmp_path / "out"
    fake_run(out, {"a": b"old"})
    log = open(out / "audit.jsonl", "a")  # noqa: SIM115 - held open across the rerun, as a server would
    log.write("one\n")
    log.flush()
    real = rundir._carry

    def carry_then_append(old, new):
        real(old, new)
        log.write("two\n")
        log.flush()

    monkeypatch.setattr(rundir, "_carry", carry_then_append)
    fake_run(out, {"a": b"new"})
    log.close()
    assert (out / "audit.jsonl").read_text() == "one\ntwo\n"


def test_a_governance_file_replaced_during_the_swap_is_kept_with_a_warning(tmp_path, monkeypatch, caplog):
    """A users file rewritten (new file, rename) between carry and swap: the old folder is kept as
    <out>.superseded-<time> holding it, and a warning names that folder. Never lost silently."""
    out = tmp_path / "out"
    fake_run(out, {"a": b"old"})
    (out / "dashboard_users.json").write_text('{"users": ["a"]}')
    real = rundir._carry

    def carry_then_rotate(old, new):
        real(old, new)
        (old / "u.tmp").write_text('{"users": ["a", "b"]}')
        os.replace(old / "u.tmp", old / "dashboard_users.json")

    monkeypatch.setattr(rundir, "_carry", carry_then_rotate)
    with caplog.at_level(logging.WARNING, logger="hiddennet.rundir"):
        fake_run(out, {"a": b"new"})
    kept = list(tmp_path.glob("out.superseded-*"))
    assert len(kept) == 1 and (kept[0] / "dashboard_users.json").read_text() == '{"users": ["a", "b"]}'
    assert str(kept[0]) in caplog.text and "dashboard_users.json" in caplog.text
    assert stat.S_IMODE(kept[0].stat().st_mode) == 0o700


# -- one run at a time ---------------------------------------------------------------------------


HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from hiddennet import rundir
    with rundir.locked(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def hold_lock(out: Path, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(out), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_run_into_a_held_folder_refuses_naming_the_holder(tmp_path):
    out = tmp_path / "out"
    holder = hold_lock(out, 30)
    try:
        with pytest.raises(RunFolderBusyError, match=rf"run folder {out} held by another run \(pid {holder.pid}\)") as e:
            fake_run(out, {"a": b"x"})
        assert e.value.exit_code == 2 and not out.exists() and leftovers(out) == []
    finally:
        holder.kill()
        holder.wait()
    fake_run(out, {"a": b"x"})  # a killed holder's lock is gone at once


def test_wait_waits_for_the_holder(tmp_path):
    out = tmp_path / "out"
    holder = hold_lock(out, 1.5)
    t0 = time.monotonic()
    with rundir.writing(out, wait=True) as s:
        (s.path / "manifest.json").write_text("{}")
    assert time.monotonic() - t0 > 0.5 and holder.wait(10) == 0
    assert rundir.is_run(out)


def test_two_writers_in_one_process_exclude_each_other(tmp_path):
    """flock is per open file: a second lock taken in another thread of the same process conflicts too."""
    out = tmp_path / "out"
    refused = []

    def second():
        try:
            with rundir.locked(out):
                pass
        except RunFolderBusyError as e:
            refused.append(e)

    with rundir.locked(out):
        t = threading.Thread(target=second)
        t.start()
        t.join()
    assert len(refused) == 1
    with rundir.locked(out):  # released: free again
        pass


# -- the pipeline --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def force(tmp_path_factory):
    base = tmp_path_factory.mktemp("rundir_force")
    generate_force(base / "input", scale=0.01, seed=5, dirty=True)
    return base / "input"


def owner_only_problems(root: Path) -> list[str]:
    bad = []
    for dirpath, dirs, files in os.walk(root):
        for name in dirs:
            if stat.S_IMODE((Path(dirpath) / name).stat().st_mode) != 0o700:
                bad.append(f"{Path(dirpath) / name}: {oct((Path(dirpath) / name).stat().st_mode)}")
        for name in files:
            if stat.S_IMODE((Path(dirpath) / name).stat().st_mode) != 0o600:
                bad.append(f"{Path(dirpath) / name}: {oct((Path(dirpath) / name).stat().st_mode)}")
    if stat.S_IMODE(root.stat().st_mode) != 0o700:
        bad.append(f"{root}: {oct(root.stat().st_mode)}")
    return bad


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask022", "umask000"])
def test_every_path_a_run_writes_is_owner_only(force, tmp_path, umask, monkeypatch):
    """Database, tables, manifest, report, referral pack, disclosure log, lock file: 0600, folders 0700."""
    from hiddennet.cli import main

    old = os.umask(umask)
    try:
        out = tmp_path / "out"
        run_pipeline(force, out, FAST)
        from hiddennet.report import write_report

        write_report(out)
        area = next(a for a in pq.read_table(out / "tables" / "safeguarding.parquet").column("local_area").to_pylist() if a)
        monkeypatch.setattr(sys, "argv", ["hiddennet", "referrals", str(out), "--area", area, "--actor", "t"])
        with pytest.raises(SystemExit) as e:
            main()
        assert e.value.code == 0
        assert os.umask(umask) == umask  # the command line put the umask back
    finally:
        os.umask(old)
    assert (out / "hiddennet.duckdb").is_file() and (out / "disclosures.jsonl").is_file() and list((out / "referrals").rglob("*.csv"))
    assert owner_only_problems(out) == []
    assert stat.S_IMODE((tmp_path / ".out.lock").stat().st_mode) == 0o600


def test_pipeline_killed_mid_publish_keeps_the_previous_run(force, tmp_path, monkeypatch):
    """A complete run, then a rerun whose engine fails after three published tables: the first run is
    still a run, checksums and all, the manifest unchanged, and no partial folder is left."""
    out = tmp_path / "out"
    first = run_pipeline(force, out, FAST).manifest
    real, written = DuckDBEngine.write_parquet, []

    def dies(self, name, path, metadata=None):
        if len(written) == 3:
            raise duckdb.IOException(f'IO Error: Could not write file "{path}": No space left on device')
        written.append(path)
        real(self, name, path, metadata)

    monkeypatch.setattr(DuckDBEngine, "write_parquet", dies)
    with pytest.raises(OutputWriteError, match=f"cannot write run folder {out}: no space left on device"):
        run_pipeline(force, out, FAST)
    assert len(written) == 3 and all(".out.partial-" in str(p) for p in written)
    assert rundir.open_run(out, checksums=True) == first
    assert json.loads((out / "manifest.json").read_text()) == first
    assert leftovers(out) == []


def test_names_and_pnc_ids_are_not_published(force, tmp_path):
    """input_nominals keeps the resolved demographics only; no published table has a name or PNC id column."""
    out = tmp_path / "out"
    run_pipeline(force, out, FAST)
    assert pq.read_schema(out / "tables" / "input_nominals.parquet").names == [
        "nominal_id", "date_of_birth", "sex", "ethnicity", "date_of_birth_source", "sex_source", "ethnicity_source",
        "source_line"]
    for p in (out / "tables").glob("*.parquet"):
        if p.name in ("safeguarding_identifiers.parquet", "nominal_identities.parquet"):
            # The restricted tables for a hub's pack and the dashboard's identity search: empty unless
            # `referral_identifiers` / `dashboard_identity_search` is on.
            assert pq.read_metadata(p).num_rows == 0
            continue
        assert not {"forename", "surname", "pnc_id"} & set(pq.read_schema(p).names), p.name
    con = duckdb.connect(str(out / "hiddennet.duckdb"), read_only=True)
    cols = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name NOT IN ('safeguarding_identifiers', 'nominal_identities')"
                                      ).fetchall()}
    identified = con.execute("SELECT (SELECT count(*) FROM safeguarding_identifiers) "
                             "+ (SELECT count(*) FROM nominal_identities)").fetchone()
    con.close()
    assert not {"forename", "surname", "pnc_id"} & cols and identified == (0,)


def test_identity_search_publishes_names_only_when_switched_on(force, tmp_path):
    """`dashboard_identity_search = true`: the restricted `nominal_identities` holds the network's nominals
    with their names and PNC ids (as read); every other published table still has none."""
    out = tmp_path / "out"
    run_pipeline(force, out, FAST.model_copy(update={"dashboard_identity_search": True}))
    ident = pq.read_table(out / "tables" / "nominal_identities.parquet")
    network = set(pq.read_table(out / "tables" / "nominals.parquet").column("nominal_id").to_pylist())
    assert ident.num_rows > 0 and set(ident.column("nominal_id").to_pylist()) <= network
    assert ident.column("surname").null_count < ident.num_rows
    for p in (out / "tables").glob("*.parquet"):
        if p.name not in ("nominal_identities.parquet", "safeguarding_identifiers.parquet"):
            assert not {"forename", "surname", "pnc_id"} & set(pq.read_schema(p).names), p.name
