"""Failures a machine causes (full disk, read-only folder, memory, a held run folder) and settings that
reach SQL: one line on stderr saying what and where, never a value from a row; exit 1 or 2 as spec/cli.md.

Tests run as root, where permission bits are not enforced: refused writes are simulated by raising
the operating system's own error where hiddennet writes, and checked through `hiddennet.cli.main`.
"""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from hiddennet import cli, publish, rundir
from hiddennet.engine.duckdb_engine import DuckDBEngine
from hiddennet.errors import SettingsError, describe_failure
from hiddennet.generate import generate_force
from hiddennet.settings import Settings, load_settings

# A value as a row could hold it: it must never reach a message.
ROW_VALUE = "Jane Doe 2009-01-01"


def cli_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["hiddennet", *args])
    with pytest.raises(SystemExit) as e:
        cli.main()
    return e.value.code, capsys.readouterr().err


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert ROW_VALUE not in stderr and "Traceback" not in stderr
    return lines[0]


@pytest.fixture(scope="module")
def force(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli_errors")
    generate_force(base / "input", scale=0.01, seed=11)
    cfg = base / "fast.toml"
    cfg.write_text("stability_checks = false\n")
    return base / "input", cfg


# -- the disk -----------------------------------------------------------------------------------


def test_full_disk_while_publishing_says_what_and_where(force, tmp_path, monkeypatch, capsys):
    """The manifest write fails with ENOSPC: exit 1, `cannot write run folder <out>: no space left on device`."""
    data, cfg = force
    out = tmp_path / "out"

    def full(path, text, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(publish, "write_private", full)
    code, err = cli_main(monkeypatch, capsys, "run", str(data), "--out", str(out), "--config", str(cfg))
    assert code == 1
    assert one_line(err) == f"error: cannot write run folder {out}: no space left on device"
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.partial")]


@pytest.mark.parametrize(
    "code, words", [(errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied"), (errno.EDQUOT, "disk quota exceeded")]
)
def test_a_refused_run_folder_says_why(tmp_path, monkeypatch, capsys, code, words):
    out = tmp_path / "out"

    def refused(o):
        raise OSError(code, "refused", str(o.parent))

    monkeypatch.setattr(rundir, "_new_partial", refused)
    rc, err = cli_main(monkeypatch, capsys, "run", str(tmp_path), "--out", str(out))
    assert rc == 1 and one_line(err) == f"error: cannot write run folder {out}: {words} ({tmp_path})"


def test_an_out_folder_below_a_file_exits_2(tmp_path, monkeypatch, capsys):
    """A real refusal that holds for root too: the parent of --out is a file."""
    (tmp_path / "file").write_text("")
    rc, err = cli_main(monkeypatch, capsys, "run", str(tmp_path), "--out", str(tmp_path / "file" / "out"))
    assert rc == 2 and "a part of the path is a file" in one_line(err)


def test_engine_io_errors_name_the_file_and_the_reason_only(tmp_path):
    """A real DuckDB IOException (a COPY below a file): path and reason kept, DuckDB's own text not."""
    (tmp_path / "file").write_text("")
    with DuckDBEngine() as e, pytest.raises(duckdb.IOException) as exc:
        e.execute(f"COPY (SELECT 1) TO '{tmp_path / 'file' / 'x.parquet'}' (FORMAT parquet)")
    said = describe_failure(exc.value)
    assert said == f"the engine (DuckDB) cannot use file {tmp_path / 'file' / 'x.parquet'}: a part of the path is not a folder"


def test_an_engine_io_error_of_unknown_kind_gives_only_its_class():
    said = describe_failure(duckdb.IOException(f'IO Error: something odd about "{ROW_VALUE}"'))
    assert "IOException" in said and ROW_VALUE not in said


# -- memory -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc, start",
    [
        (MemoryError(), "error: out of memory: lower duckdb_memory_limit"),
        (duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate 2.0 MiB"), "error: out of memory in the engine (DuckDB)"),
    ],
    ids=["python", "duckdb"],
)
def test_out_of_memory_is_one_clear_line(tmp_path, monkeypatch, capsys, exc, start):
    from hiddennet import pipeline

    def oom(*a, **k):
        raise exc

    monkeypatch.setattr(pipeline, "_run_into", oom)
    rc, err = cli_main(monkeypatch, capsys, "run", str(tmp_path), "--out", str(tmp_path / "out"))
    assert rc == 1 and one_line(err).startswith(start)
    assert not (tmp_path / "out").exists()


def test_an_engine_error_quoting_a_value_never_shows_it(tmp_path, monkeypatch, capsys):
    """DuckDB's conversion errors quote the value: only the class name is printed."""
    from hiddennet import pipeline

    def bad(*a, **k):
        with DuckDBEngine() as e:
            e.execute(f"SELECT '{ROW_VALUE}'::INT")

    monkeypatch.setattr(pipeline, "_run_into", bad)
    rc, err = cli_main(monkeypatch, capsys, "run", str(tmp_path), "--out", str(tmp_path / "out"))
    assert rc == 1 and one_line(err) == "error: internal failure (ConversionException); set HIDDENNET_DEBUG=1 for a traceback"


# -- one line, no wrapping ----------------------------------------------------------------------


def test_long_messages_are_not_wrapped_when_stderr_is_not_a_terminal(tmp_path):
    """A 300-character path in the message: one line (rich would wrap at 80 columns), path whole."""
    deep = tmp_path / ("d" * 100) / ("e" * 100) / ("f" * 100)
    r = subprocess.run([sys.executable, "-m", "hiddennet", "report", str(deep)], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"error: folder {deep}: not a hiddennet run (no such folder)"]


# -- incomplete run folders ---------------------------------------------------------------------


def _half_run(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    with rundir.writing(out) as s:
        (s.path / "tables").mkdir()
        (s.path / "tables" / "safeguarding.parquet").write_bytes(b"1234")
        (s.path / "manifest.json").write_text("{}")
    (out / "tables" / "safeguarding.parquet").write_bytes(b"12")  # a half-written table
    return out


@pytest.mark.parametrize("command", [["report"], ["referrals", "--area", "North"], ["serve"]])
def test_readers_refuse_an_incomplete_run_with_exit_2(tmp_path, monkeypatch, capsys, command):
    out = _half_run(tmp_path)
    rc, err = cli_main(monkeypatch, capsys, command[0], str(out), *command[1:])
    assert rc == 2
    assert one_line(err) == (f"error: folder {out}: not a complete hiddennet run "
                             "(file tables/safeguarding.parquet: 2 bytes, the manifest says 4)")


def test_report_refuses_a_manifest_without_a_file_list(tmp_path, monkeypatch, capsys):
    """An old manifest beside new tables (what a killed rerun used to leave): not a run."""
    (tmp_path / "tables").mkdir()
    (tmp_path / "manifest.json").write_text('{"as_of": "2021-03-15", "tables": {}}')
    rc, err = cli_main(monkeypatch, capsys, "report", str(tmp_path))
    assert rc == 2 and "not a complete hiddennet run (manifest.json lists no files" in one_line(err)


def test_report_checks_checksums_when_asked(tmp_path, monkeypatch, capsys):
    """Same size, other bytes: found only with --checksums, which names the file."""
    out = tmp_path / "out"
    with rundir.writing(out) as s:
        (s.path / "tables").mkdir()
        (s.path / "tables" / "groups.parquet").write_bytes(b"1234")
        (s.path / "manifest.json").write_text("{}")
    (out / "tables" / "groups.parquet").write_bytes(b"abcd")
    rc, err = cli_main(monkeypatch, capsys, "report", str(out), "--checksums")
    assert rc == 2 and one_line(err).endswith("(file tables/groups.parquet: checksum differs from the manifest)")


# -- a held run folder --------------------------------------------------------------------------


def test_a_run_into_a_folder_another_run_holds_exits_2(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from pathlib import Path
            from hiddennet import rundir
            with rundir.locked(Path({str(out)!r})):
                print("held", flush=True)
                time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        rc, err = cli_main(monkeypatch, capsys, "run", str(tmp_path), "--out", str(out))
    finally:
        holder.kill()
        holder.wait()
    assert rc == 2
    assert one_line(err) == (f"error: run folder {out} held by another run (pid {holder.pid}); "
                             "wait for it to finish or pass --wait")


# -- settings that reach SQL or an engine -------------------------------------------------------


def test_memory_limit_lots_exits_2_naming_the_setting(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('duckdb_memory_limit = "lots"\n')
    rc, err = cli_main(monkeypatch, capsys, "run", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(cfg))
    reason = one_line(err).split("c.toml: ", 1)[1]  # the folder's name may hold anything
    assert rc == 2 and reason.startswith("duckdb_memory_limit: Value error, not a memory size") and "lots" not in reason


@pytest.mark.parametrize("value", ["16GB", "16 GB", "512MiB", "1.5gb", ".5GB", "80%", "100%", "4 gigabytes", "2T", "900 MB"])
def test_duckdb_memory_sizes_are_accepted_and_duckdb_agrees(value):
    s = Settings(duckdb_memory_limit=value)
    with DuckDBEngine(memory_limit=s.duckdb_memory_limit) as e:
        assert e.scalar("SELECT current_setting('memory_limit')")


@pytest.mark.parametrize("value", ["lots", "", "16", "0GB", "-1", "150%", "16 PB", "16GB'; SET threads = 1; --", "1e3MB", "4 GB GB", "none"])
def test_other_memory_limits_are_settings_errors(value):
    with pytest.raises(SettingsError, match="duckdb_memory_limit"):
        load_settings(duckdb_memory_limit=value)


@hsettings(max_examples=60, deadline=None)
@given(st.text(alphabet="0123456789. %gGbBmMkKiIT", max_size=8))
def test_every_memory_limit_the_settings_accept_duckdb_accepts(text):
    """Soundness: whatever text passes validation, DuckDB's SET takes it (a fresh connection each time)."""
    try:
        v = Settings(duckdb_memory_limit=text).duckdb_memory_limit
    except ValueError:
        return
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{v}'")
    finally:
        con.close()


def test_temp_directory_is_a_quoted_literal_never_sql(tmp_path):
    """A quote in the folder name is part of the name: DuckDB's setting equals it exactly."""
    odd = str(tmp_path / "spill'; SET threads = 1; --")
    with DuckDBEngine(temp_directory=odd, threads=2) as e:
        assert e.scalar("SELECT current_setting('temp_directory')") == odd
        assert e.scalar("SELECT current_setting('threads')") == 2


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"duckdb_temp_directory": "/tmp/a\nb"}, "duckdb_temp_directory"),
        ({"spark": {"spark.master": "local[2]\nspark.x=1"}}, "spark"),
        ({"spark": {"spark master": "local"}}, "spark"),
        ({"recency_half_life": float("inf")}, "recency_half_life"),
        ({"gap_half_life": float("nan")}, "gap_half_life"),
        ({"layer_weight": {"intel": float("inf")}}, "layer_weight.intel"),
        ({"actionable_3x5x2": ["1A') OR (1=1"]}, "actionable_3x5x2"),
    ],
    ids=["temp-newline", "spark-value-newline", "spark-key-space", "inf", "nan", "inf-layer", "grading-sql"],
)
def test_settings_that_reach_sql_or_engines_are_checked(overrides, key):
    with pytest.raises(SettingsError, match=key) as e:
        load_settings(**overrides)
    assert "OR (1=1" not in str(e.value) and "\n" not in str(e.value)


def test_inf_in_a_toml_file_exits_2(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("recency_half_life = inf\n")
    rc, err = cli_main(monkeypatch, capsys, "run", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert rc == 2 and "recency_half_life" in one_line(err)
