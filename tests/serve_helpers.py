"""Shared pieces of the dashboard tests: users with known tokens, a client over HTTPS (the
session cookies are Secure), sign-in through the form, and reading the audit log."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from hiddennet.serve import hash_token

TOKENS = {"analyst": "tok-analyst", "intelligence_officer": "tok-officer", "safeguarding_lead": "tok-safeguarding"}
USERS = [
    {
        "name": f"user-{role}",
        "role": role,
        "token_sha256": hash_token(tok),
        **({"areas": ["Northtown"]} if role == "safeguarding_lead" else {}),
    }
    for role, tok in TOKENS.items()
]


def https_client(app) -> TestClient:
    return TestClient(app, base_url="https://testserver")


def bearer(role: str | None) -> dict:
    return {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}


def audit_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def sign_in(client: TestClient, name: str, token: str, expect: int = 303):
    csrf = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"name": name, "token": token, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == expect, r.status_code
    return r


def session_cookie(client: TestClient) -> tuple[str, str]:
    ((name, value),) = [(k, v) for k, v in client.cookies.items() if "hiddennet-session" in k]
    return name, value


ODD_ID = "N/0001 %é+x"  # a nominal id with a slash, a percent sign, a space, non-ASCII and a plus


def _swap(v, old: str, new: str):
    if isinstance(v, str):
        return new if v == old else v
    if hasattr(v, "__len__") and not isinstance(v, (bytes, dict)):
        return [new if x == old else x for x in v]
    return v


def _rename(df, old: str, new: str):
    for col in df.columns:
        if df[col].dtype.kind not in "biufcmMb":
            df[col] = [_swap(v, old, new) for v in df[col]]
    return df


def _intel(a: str, b: str, code: str, log_id: str) -> dict:
    return {
        "nominal_a": min(a, b),
        "nominal_b": max(a, b),
        "layer": "intel",
        "weight": 1.0,
        "first_date": None,
        "last_date": None,
        "evidence_count": 1,
        "handling_code": code,
        "log_ids": [log_id],
        "crime_refs": None,
    }


def write_rich_run(run_dir: Path) -> dict:
    """The sample run plus what it lacks for these tests: intelligence links with handling codes and
    log ids (5x5x5 `5` on the first, `3` on the next, none on the third, per group) and crime refs on
    victim links, and one unflagged member of the top group renamed to ODD_ID. Returns the facts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hiddennet.report.sample import write_sample_run, write_table

    write_sample_run(run_dir)
    t = lambda name: pq.read_table(run_dir / "tables" / f"{name}.parquet").to_pandas()  # noqa: E731
    groups = t("groups")
    top = groups[groups["priority_rank"] == 1]["group_id"].iloc[0]
    noms = t("nominals")
    odd_from = noms[(noms["group_id"] == top) & ~noms["safeguarding_flagged"]]["nominal_id"].iloc[0]
    edges = t("edges")
    codes, logs, crimes = [], [], []
    for i, layer in enumerate(edges["layer"]):
        code = ("5", "3", None)[i % 3] if layer == "intel" else None
        codes.append(code)
        logs.append([f"=L{i:04d}", f"L{i:04d}b"] if layer == "intel" else None)
        crimes.append([f"C{i:05d}"] if layer == "victim" else None)
    edges["handling_code"], edges["log_ids"], edges["crime_refs"] = codes, logs, crimes
    # Every pair of the top group gets an intel link with code 5, so the group shows one for sure.
    tops = noms[noms["group_id"] == top]["nominal_id"].tolist()
    extra = [_intel(a, b, "5", "LSECRET5") for a, b in zip(tops, tops[1:], strict=False)]
    extra.append(_intel(tops[0], tops[-1], "2", "LOPEN2"))
    import pandas as pd

    edges = pd.concat([edges, pd.DataFrame(extra)], ignore_index=True)
    write_table(run_dir, "edges", pa.Table.from_pandas(edges, preserve_index=False))
    for name in ("nominals", "combined_edges", "edges", "dismantling", "harm_explained"):
        df = _rename(t(name), odd_from, ODD_ID)
        write_table(run_dir, name, pa.Table.from_pandas(df, preserve_index=False))
    return {"top": top, "odd": ODD_ID, "safeguarding_only": groups[groups["safeguarding_only"]]["group_id"].iloc[0]}
