"""The command line contract of spec/cli.md: exit codes, one-line errors, no tracebacks, docs from --help."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hiddennet.cli_docs import cli_reference

ROOT = Path(__file__).resolve().parents[1]


def hiddennet(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hiddennet", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_help_exits_zero_and_lists_every_command():
    r = hiddennet("--help")
    assert r.returncode == 0
    for cmd in ("demo", "generate", "run", "report", "serve", "referrals"):
        assert cmd in r.stdout


def test_usage_error_exits_2():
    assert hiddennet("no-such-command").returncode == 2


def test_unknown_setting_exits_2_naming_it(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("max_group_sise = 40\n")
    r = hiddennet("run", str(tmp_path), "--out", str(tmp_path / "out"), "--config", str(cfg))
    assert r.returncode == 2
    assert "max_group_sise: unknown setting" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 3


def test_bad_as_of_exits_2(tmp_path):
    r = hiddennet("run", str(tmp_path), "--out", str(tmp_path / "o"), "--as-of", "15/03/2021")
    assert r.returncode == 2 and "--as-of" in r.stderr


def test_missing_input_file_exits_2_naming_the_file(tmp_path):
    r = hiddennet("run", str(tmp_path), "--out", str(tmp_path / "o"))
    assert r.returncode == 2, r.stderr
    assert "crimes" in r.stderr and "Traceback" not in r.stderr


def test_report_on_a_folder_that_is_not_a_run_exits_2(tmp_path):
    r = hiddennet("report", str(tmp_path))
    assert r.returncode == 2 and "manifest.json" in r.stderr


def test_internal_failure_is_one_line_without_locals(tmp_path, monkeypatch):
    """An unexpected exception exits 1 with its class name only: no traceback, no local variables."""
    from hiddennet import cli

    def boom(*a, **k):
        secret = "Jane Doe 2009-01-01"  # noqa: F841 - a local a traceback with locals would show
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "load_settings", boom)
    monkeypatch.setattr(sys, "argv", ["hiddennet", "run", str(tmp_path), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 1


def test_cli_docs_are_generated_from_help():
    """docs/cli.md is `python -m hiddennet.cli_docs`; regenerate it when a command changes."""
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == cli_reference()


def test_sockets_are_blocked_during_tests():
    """Nothing may call out: pytest-socket is on for the whole suite (pyproject addopts)."""
    with pytest.raises(Exception, match="(?i)socket"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
