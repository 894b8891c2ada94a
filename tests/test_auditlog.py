"""The hash-chained logs (hiddennet/auditlog.py): an intact chain verifies; editing, deleting,
inserting or reordering a line is found and the first broken line named; appends from many
threads and processes at once keep one unbroken chain; `hiddennet audit verify` exits 0 or 2."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from hiddennet import auditlog
from hiddennet.cli import app as cli_app
from hiddennet.report.sample import write_manifest


def chain(path: Path, n: int) -> list[str]:
    for i in range(n):
        auditlog.append_event(path, {"action": "view", "i": i})
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_records_carry_seq_time_prev_and_hash(tmp_path):
    log = tmp_path / "audit.jsonl"
    a = auditlog.append_event(log, {"action": "x"})
    b = auditlog.append_event(log, {"action": "y", "time_utc": "2021-01-01T00:00:00Z", "seq": 99, "hash": "forged"})
    assert a["seq"] == 1 and a["prev"] == auditlog.GENESIS and a["time_utc"].endswith("Z")
    assert b["seq"] == 2 and b["prev"] == a["hash"] and b["time_utc"] == "2021-01-01T00:00:00Z"
    assert b["hash"] == auditlog.record_hash(b)
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    assert auditlog.verify(log) == (True, None, "2 lines intact")


def test_missing_log_is_intact(tmp_path):
    assert auditlog.verify(tmp_path / "none.jsonl")[0]


def test_an_edited_line_is_named(tmp_path):
    log = tmp_path / "a.jsonl"
    lines = chain(log, 5)
    rec = json.loads(lines[2])
    rec["action"] = "nothing to see"
    lines[2] = json.dumps(rec, sort_keys=True) + "\n"
    log.write_text("".join(lines), encoding="utf-8")
    ok, line, reason = auditlog.verify(log)
    assert (ok, line) == (False, 3) and "edited" in reason


def test_an_edit_that_recomputes_its_own_hash_breaks_the_next_line(tmp_path):
    log = tmp_path / "a.jsonl"
    lines = chain(log, 5)
    rec = json.loads(lines[1])
    rec["action"] = "rewritten"
    rec["hash"] = auditlog.record_hash(rec)
    lines[1] = json.dumps(rec, sort_keys=True) + "\n"
    log.write_text("".join(lines), encoding="utf-8")
    assert auditlog.verify(log)[:2] == (False, 3)


def test_a_deleted_line_is_named(tmp_path):
    log = tmp_path / "a.jsonl"
    lines = chain(log, 5)
    log.write_text("".join(lines[:2] + lines[3:]), encoding="utf-8")
    assert auditlog.verify(log)[:2] == (False, 3)


def test_an_inserted_line_is_named(tmp_path):
    log = tmp_path / "a.jsonl"
    lines = chain(log, 4)
    other = tmp_path / "b.jsonl"
    forged = chain(other, 2)[1]
    log.write_text("".join(lines[:2] + [forged] + lines[2:]), encoding="utf-8")
    assert auditlog.verify(log)[:2] == (False, 3)


def test_reordered_lines_are_named(tmp_path):
    log = tmp_path / "a.jsonl"
    lines = chain(log, 5)
    lines[1], lines[3] = lines[3], lines[1]
    log.write_text("".join(lines), encoding="utf-8")
    assert auditlog.verify(log)[:2] == (False, 2)


def test_a_torn_last_line_is_named_and_appending_goes_on(tmp_path):
    log = tmp_path / "a.jsonl"
    lines = chain(log, 3)
    log.write_text("".join(lines) + '{"half": ', encoding="utf-8")
    assert auditlog.verify(log)[:2] == (False, 4)
    rec = auditlog.append_event(log, {"after": "crash"})
    got = log.read_text(encoding="utf-8").splitlines()
    assert len(got) == 5 and json.loads(got[4]) == rec and rec["seq"] == 5 and got[3] == '{"half": '
    assert auditlog.verify(log)[:2] == (False, 4)  # still named: the torn line is evidence, not erased


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_any_single_change_is_found(tmp_path_factory, data):
    """Property: whichever line is deleted, duplicated or swapped with another, verify fails at or before it."""
    log = tmp_path_factory.mktemp("p") / "a.jsonl"
    lines = chain(log, 6)
    i = data.draw(st.integers(0, 4))
    kind = data.draw(st.sampled_from(["delete", "duplicate", "swap"]))
    if kind == "delete":
        changed = lines[:i] + lines[i + 1 :]
    elif kind == "duplicate":
        changed = lines[: i + 1] + [lines[i]] + lines[i + 1 :]
    else:
        changed = lines[:i] + [lines[i + 1], lines[i]] + lines[i + 2 :]
    log.write_text("".join(changed), encoding="utf-8")
    ok, line, _ = auditlog.verify(log)
    assert not ok and line <= i + 2


def _append_many(path: str, who: str, n: int) -> None:
    for i in range(n):
        auditlog.append_event(path, {"who": who, "i": i})


def test_concurrent_appends_from_threads_and_processes_keep_one_chain(tmp_path):
    log = tmp_path / "a.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(log), f"p{k}", 40)) for k in range(2)]
    threads = [threading.Thread(target=_append_many, args=(str(log), f"t{k}", 40)) for k in range(3)]
    for w in [*procs, *threads]:
        w.start()
    for w in [*procs, *threads]:
        w.join(120)
    assert all(p.exitcode == 0 for p in procs)
    assert auditlog.verify(log) == (True, None, "200 lines intact")


@pytest.fixture
def run_dir(tmp_path) -> Path:
    write_manifest(tmp_path)
    return tmp_path


def test_audit_verify_command(run_dir):
    runner = CliRunner()
    r = runner.invoke(cli_app, ["audit", "verify", str(run_dir)])
    assert r.exit_code == 0 and "audit.jsonl: intact" in r.output and "disclosures.jsonl: intact" in r.output
    lines = chain(run_dir / "audit.jsonl", 4)
    chain(run_dir / "disclosures.jsonl", 2)
    assert runner.invoke(cli_app, ["audit", "verify", str(run_dir)]).exit_code == 0
    (run_dir / "audit.jsonl").write_text("".join(lines[:1] + lines[2:]), encoding="utf-8")
    r = runner.invoke(cli_app, ["audit", "verify", str(run_dir)])
    assert r.exit_code == 2 and "audit.jsonl: BROKEN at line 2" in r.output and "disclosures.jsonl: intact" in r.output


def test_unusual_line_breaks_in_values_stay_inside_their_line(tmp_path):
    """U+2028, U+0085, form feed and the like split a line for str.splitlines(): they are escaped."""
    log = tmp_path / "a.jsonl"
    for v in ("a\u2028b", "c\x85d", "e\x0cf", "g\x1ch", "é/ü"):
        auditlog.append_event(log, {"resource": v})
    lines = log.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["resource"] for x in lines] == ["a\u2028b", "c\x85d", "e\x0cf", "g\x1ch", "é/ü"]
    assert auditlog.verify(log)[0]
