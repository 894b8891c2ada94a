"""`hiddennet users add|remove|rotate|list RUN`: a new token printed once on stdout (never stored),
`list` never shows a token or a hash, errors exit 2 without a traceback; the server sees every
change on its next request."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from serve_helpers import https_client
from typer.testing import CliRunner

from hiddennet import cli
from hiddennet.report.sample import write_sample_run
from hiddennet.serve import create_app, hash_token


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return write_sample_run(tmp_path / "run")


def invoke(*args: str):
    return CliRunner().invoke(cli.app, list(args))


def exit_code_of(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["hiddennet", *args])
    with pytest.raises(SystemExit) as e:
        cli.main()
    return int(e.value.code or 0), capsys.readouterr().err


def test_add_list_rotate_remove(run_dir):
    r = invoke(
        "users", "add", str(run_dir), "sam", "--role", "safeguarding_lead", "--area", "Northtown", "--area", "Southvale"
    )
    assert r.exit_code == 0
    token = r.stdout.strip()
    assert len(token) >= 40 and "\n" not in token
    stored = (run_dir / "dashboard_users.json").read_text(encoding="utf-8")
    assert token not in stored and hash_token(token) in stored
    assert oct((run_dir / "dashboard_users.json").stat().st_mode & 0o777) == "0o600"
    listed = invoke("users", "list", str(run_dir), "--json")
    assert json.loads(listed.stdout) == [
        {"name": "sam", "role": "safeguarding_lead", "areas": ["Northtown", "Southvale"]}
    ]
    plain = invoke("users", "list", str(run_dir)).stdout
    assert token not in plain and hash_token(token) not in plain and "sam" in plain

    c = https_client(create_app(run_dir))
    assert c.get("/safeguarding", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    new = invoke("users", "rotate", str(run_dir), "sam").stdout.strip()
    assert new != token
    assert c.get("/safeguarding", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert c.get("/safeguarding", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    assert invoke("users", "remove", str(run_dir), "sam").exit_code == 0
    assert c.get("/safeguarding", headers={"Authorization": f"Bearer {new}"}).status_code == 401
    assert json.loads(invoke("users", "list", str(run_dir), "--json").stdout) == []


@pytest.mark.parametrize(
    "args",
    [
        ("users", "add", "{run}", "x", "--role", "admin"),
        ("users", "remove", "{run}", "nobody"),
        ("users", "rotate", "{run}", "nobody"),
        ("users", "list", "{nowhere}"),
    ],
)
def test_errors_exit_2_with_one_line(run_dir, tmp_path, monkeypatch, capsys, args):
    code, err = exit_code_of(monkeypatch, capsys, *(a.format(run=run_dir, nowhere=tmp_path / "none") for a in args))
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
