"""Paths between nominals (hand-worked and against networkx as an oracle) and the exports of a
group or a person-centred view: each format parses, carries the marking, escapes formulas and
XML, shows only what the role may see, and is logged as a disclosure in the hash-chained log."""

from __future__ import annotations

import csv
import io
import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings, strategies as st
from serve_helpers import USERS, bearer, https_client
from workbench_helpers import write_workbench_run

from hiddennet import auditlog
from hiddennet.serve import create_app, graphfiles
from hiddennet.serve.context import id_path
from hiddennet.serve.paths import adjacency, fewest_links_path, strongest_path

FORMATS = ("csv", "graphml", "gexf", "i2.csv")


def test_strongest_and_fewest_hand_worked():
    """A-B-D with weights 0.5 and 0.5 (distance 2 + 2 = 4, two links) against A-C-E-D with weights
    4, 4, 4 (0.25 x 3 = 0.75, three links): the strongest path is A C E D (0.75), the fewest-links
    path A B D. F is not connected."""
    adj = adjacency(
        [("A", "B", 0.5), ("B", "D", 0.5), ("A", "C", 4), ("C", "E", 4), ("E", "D", 4), ("F", "G", 1), ("X", "X", 9)]
    )
    path, dist = strongest_path(adj, "A", "D")
    assert path == ["A", "C", "E", "D"] and dist == pytest.approx(0.75)
    assert fewest_links_path(adj, "A", "D") == ["A", "B", "D"]
    assert strongest_path(adj, "A", "F") is None and fewest_links_path(adj, "A", "F") is None
    assert strongest_path(adj, "A", "nobody") is None
    assert "X" not in adj, "a self-link is no path"


edge_lists = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 9), st.floats(0.05, 10, allow_nan=False)), min_size=1, max_size=30
)


@settings(max_examples=150, deadline=None)
@given(edges=edge_lists, s=st.integers(0, 9), t=st.integers(0, 9))
def test_paths_match_networkx(edges, s, t):
    """The strongest path's distance equals networkx's Dijkstra on 1/weight (strongest weight of a
    pair kept); the fewest-links path has networkx's shortest length; both are real paths."""
    named = [(f"N{a}", f"N{b}", w) for a, b, w in edges]
    adj = adjacency(named)
    g = nx.Graph()
    for a, b, w in named:
        if a != b and (not g.has_edge(a, b) or g[a][b]["w"] < w):
            g.add_edge(a, b, w=w, d=1 / w)
    src, dst = f"N{s}", f"N{t}"
    if src == dst or src not in g or dst not in g or not nx.has_path(g, src, dst):
        assert src == dst or strongest_path(adj, src, dst) is None
        return
    path, dist = strongest_path(adj, src, dst)
    assert dist == pytest.approx(nx.dijkstra_path_length(g, src, dst, weight="d"))
    assert sum(g[a][b]["d"] for a, b in itertools.pairwise(path)) == pytest.approx(dist)
    few = fewest_links_path(adj, src, dst)
    assert len(few) - 1 == nx.shortest_path_length(g, src, dst)
    assert all(g.has_edge(a, b) for a, b in itertools.pairwise(few))


# -- exports ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wb(tmp_path_factory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("run")
    return run, write_workbench_run(run)


@pytest.fixture
def client(wb):
    return https_client(create_app(wb[0], users=USERS, audit_path=wb[0] / "audit.jsonl"))


def parse(fmt: str, text: str):
    if fmt in ("csv", "i2.csv"):
        first, rest = text.split("\n", 1)
        assert first.startswith("# OFFICIAL-SENSITIVE: "), "marking on the first line"
        return list(csv.DictReader(io.StringIO(rest)))
    root = ET.fromstring(text.encode("utf-8"))
    assert "OFFICIAL-SENSITIVE" in text[:600]
    return root


@pytest.mark.parametrize("fmt", FORMATS)
def test_group_exports_by_role(client, wb, fmt):
    """Analyst: members anonymised (no nominal id anywhere) and restricted log ids withheld;
    officer: ids; safeguarding lead: refused."""
    _run, f = wb
    url = f"/groups/{id_path(f['top'])}/export.{fmt}"
    a = client.get(url, headers=bearer("analyst"))
    assert a.status_code == 200 and "attachment" in a.headers["content-disposition"]
    parse(fmt, a.text)
    assert f["person"] not in a.text and "LSECRET5" not in a.text and "member 1" in a.text
    o = client.get(url, headers=bearer("intelligence_officer"))
    assert f["person"] in o.text and "LSECRET5" in o.text
    assert client.get(url, headers=bearer("safeguarding_lead")).status_code == 403
    assert client.get(url).status_code == 401


@pytest.mark.parametrize("fmt", FORMATS)
def test_network_exports_officer_only(client, wb, fmt):
    _run, f = wb
    url = f"/network/{id_path(f['person'])}/export.{fmt}?layer=victim"
    for role in ("analyst", "safeguarding_lead"):
        assert client.get(url, headers=bearer(role)).status_code == 403
    r = client.get(url, headers=bearer("intelligence_officer"))
    assert r.status_code == 200
    parse(fmt, r.text)
    assert f["other"] in r.text and f["cross_crime"] in r.text and "LSECRET5" not in r.text  # victim layer only


def test_graphml_reads_back_in_networkx(client, wb):
    _run, f = wb
    r = client.get(f"/network/{id_path(f['person'])}/export.graphml", headers=bearer("intelligence_officer"))
    g = nx.read_graphml(io.BytesIO(r.content))
    api = client.get(f"/api/network/{id_path(f['person'])}", headers=bearer("intelligence_officer")).json()["data"]
    assert set(g.nodes) == {n["nominal_id"] for n in api["nodes"]}
    assert g.nodes[f["other"]]["group_id"] != g.nodes[f["person"]]["group_id"]


def test_exports_escape_formulas_and_xml():
    """A label `=cmd|' /C calc'!A0` becomes text in both CSVs; `<&>` and a control character are
    escaped or replaced in XML, which still parses."""
    graph = {
        "nodes": [
            {"id": "=cmd|' /C calc'!A0", "label": "=cmd|' /C calc'!A0", "to_safeguard": False},
            {"id": "b<&>\x01", "label": "b<&>\x01", "to_safeguard": True},
        ],
        "links": [{"a": "=cmd|' /C calc'!A0", "b": "b<&>\x01", "layer": "intel", "evidence": "+SUM(1)"}],
    }
    for text in (graphfiles.to_csv(graph), graphfiles.to_i2_csv(graph)):
        cells = [c for row in csv.reader(io.StringIO(text.split("\n", 1)[1])) for c in row]
        assert not any(c.startswith(("=", "+", "-", "@")) for c in cells), cells
    for data in (graphfiles.to_graphml(graph), graphfiles.to_gexf(graph)):
        root = ET.fromstring(data)
        assert b"b&lt;&amp;&gt;\xef\xbf\xbd" in data and root is not None
    assert "Person to safeguard" in graphfiles.to_i2_csv(graph)


def test_every_export_is_a_chained_disclosure(client, wb):
    run, f = wb
    log = run / "disclosures.jsonl"
    before = len(log.read_text().splitlines()) if log.exists() else 0
    r = client.get(f"/groups/{id_path(f['top'])}/export.gexf", headers=bearer("analyst"))
    lines = log.read_text().splitlines()
    assert len(lines) == before + 1
    import hashlib
    import json

    rec = json.loads(lines[-1])
    assert rec["kind"] == "dashboard_export" and rec["role"] == "analyst" and rec["format"] == "gexf"
    assert rec["sha256"] == hashlib.sha256(r.content).hexdigest() and rec["marking"] == "OFFICIAL-SENSITIVE"
    ok, bad_line, _ = auditlog.verify(log)
    assert ok and bad_line is None
    audit = (run / "audit.jsonl").read_text().splitlines()
    assert json.loads(audit[-1])["action"] == "export_group" and json.loads(audit[-1])["detail"] == "disclosed_gexf"
    assert client.get(f"/groups/{id_path(f['top'])}/export.pdf", headers=bearer("analyst")).status_code == 404
    assert len(log.read_text().splitlines()) == before + 1, "a refused export discloses nothing"


def test_odd_ids_reach_the_workbench(client, wb):
    """A nominal id with `/`, `%`, a space, non-ASCII and `+` (ODD_ID): its network view, API and
    exports are reachable, and the expand links the page writes lead back to it."""
    import re

    _run, f = wb
    odd = f["odd"]
    officer = bearer("intelligence_officer")
    page = client.get(f"/network/{id_path(odd)}", headers=officer)
    assert page.status_code == 200 and "Network of nominal" in page.text
    assert client.get(f"/api/network/{id_path(odd)}", headers=officer).json()["data"]["centre"] == odd
    for fmt in FORMATS:
        assert client.get(f"/network/{id_path(odd)}/export.{fmt}", headers=officer).status_code == 200, fmt
    expand = re.findall(r'href="(/network/[^"]*expand=[^"]*)"', page.text)
    assert expand
    import html

    assert client.get(html.unescape(expand[0]), headers=officer).status_code == 200
    data = client.get("/api" + html.unescape(expand[0]), headers=officer).json()["data"]
    assert data["centre"] == odd and len(data["expanded"]) == 2, "the link expanded one more person"
