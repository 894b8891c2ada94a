"""The dashboard in a real browser (Debian's Chromium through Playwright): sign in with the token
form, open the pages an analyst and an intelligence officer use, and check that no console error
occurs, the Content-Security-Policy blocks nothing, nothing is fetched from beyond the dashboard,
and the group graph draws with its legend, its nodes clickable and reachable by keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_helpers import Watched, chromium, served
from serve_helpers import TOKENS, USERS
from workbench_helpers import write_identities, write_workbench_run


@pytest.fixture(scope="module")
def rich(tmp_path_factory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("run")
    facts = write_workbench_run(run)
    write_identities(run, facts["person"])
    return run, facts


@pytest.fixture(scope="module")
def server(rich, tmp_path_factory):
    run, _ = rich
    with served(run, USERS, tmp_path_factory.mktemp("audit") / "audit.jsonl") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def watched(browser, server, role: str) -> Watched:
    w = Watched(browser.new_context(), server)
    w.sign_in(TOKENS[role])
    return w


@pytest.mark.parametrize("role", ["analyst", "intelligence_officer"])
def test_group_graph_draws_with_legend_and_clickable_nodes(browser, server, rich, role):
    _, facts = rich
    w = watched(browser, server, role)
    w.goto(f"/groups/{facts['top']}")
    page = w.page
    page.wait_for_selector("#cy canvas", state="attached", timeout=10_000)
    assert page.is_visible("#cy"), "the interactive graph is hidden"
    page.wait_for_selector("#cy[data-ready='1']", timeout=10_000)
    page.locator("#cy").scroll_into_view_if_needed()
    box = page.locator("#cy").bounding_box()
    assert box and box["height"] > 100 and box["width"] > 100
    assert page.is_visible("#legend") and "Person to safeguard" in page.inner_text("#legend")
    # Click the first node where cytoscape drew it: the live region names it.
    pos = page.evaluate(
        "(() => { const n = window.hiddennetGraph.nodes()[0]; const p = n.renderedPosition();"
        " return {id: n.id(), label: n.data('label'), x: p.x, y: p.y}; })()"
    )
    page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
    page.wait_for_selector(f"#cy[data-selected='{pos['id']}']", state="attached", timeout=5_000)
    assert pos["label"] in page.inner_text("#node-info")
    # Keyboard: Tab reaches a member button, Enter selects that node in the picture.
    page.focus("#node-list button[data-node]")
    last = page.locator("#node-list button[data-node]").last
    last.focus()
    target = last.get_attribute("data-node")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#cy[data-selected='{target}']", state="attached", timeout=5_000)
    assert page.evaluate("id => window.hiddennetGraph.getElementById(id).selected()", target)
    assert ("Open " in page.inner_text("#node-info")) == (role == "intelligence_officer")
    w.assert_clean()


def test_tab_order_reaches_the_member_list(browser, server, rich):
    """Only the keyboard: Tab from the top of the page arrives at a member button, Enter selects
    it in the picture, the arrow keys move the selection along the list."""
    _, facts = rich
    w = watched(browser, server, "analyst")
    w.goto(f"/groups/{facts['top']}")
    w.page.wait_for_selector("#cy[data-ready='1']", timeout=10_000)
    for _ in range(40):
        w.page.keyboard.press("Tab")
        if w.page.evaluate("document.activeElement.hasAttribute('data-node')"):
            break
    else:
        pytest.fail("Tab never reached a member of the picture")
    w.page.keyboard.press("Enter")
    w.page.wait_for_selector("#cy[data-selected]", state="attached", timeout=5_000)
    first = w.page.get_attribute("#cy", "data-selected")
    w.page.keyboard.press("ArrowDown")
    second = w.page.evaluate("document.activeElement.getAttribute('data-node')")
    assert second != first, "ArrowDown moves to the next member"
    w.page.wait_for_selector(f"#cy[data-selected='{second}']", state="attached", timeout=5_000)
    w.page.keyboard.press("ArrowUp")
    w.page.wait_for_selector(f"#cy[data-selected='{first}']", state="attached", timeout=5_000)
    w.assert_clean()


PAGES = [
    "/",
    "/groups",
    "/groups/{top}",
    "/groups/{top}/dismantling",
    "/safeguarding",
    "/people/{odd}",
    "/people/{person}",
    "/search",
    "/network/{person}",
]


@pytest.mark.parametrize(
    "role,allowed",
    [
        ("analyst", {"/", "/groups", "/groups/{top}", "/groups/{top}/dismantling", "/search"}),
        ("intelligence_officer", set(PAGES)),
        ("safeguarding_lead", {"/", "/safeguarding"}),
    ],
)
def test_every_page_clean_in_the_browser(browser, server, rich, role, allowed):
    """Each page a role may open loads with no console error and no CSP violation; the others refuse."""
    from hiddennet.serve.context import id_path

    _, facts = rich
    w = watched(browser, server, role)
    for tpl in PAGES:
        path = tpl.format(top=id_path(facts["top"]), odd=id_path(facts["odd"]), person=id_path(facts["person"]))
        r = w.goto(path)
        if tpl in allowed:
            assert r.status == 200, (path, r.status)
            w.assert_clean()
        else:
            assert r.status == 403, (path, r.status)
            w.errors.clear()  # the browser logs a 403 document load as a console error


def test_workbench_in_the_browser(browser, server, rich):
    """An intelligence officer: search by name, open the person's network view, click a node,
    expand a member of another group, filter to one layer and a date range, read a link's
    evidence, find a path, export; no console error and no CSP violation at any step."""
    from hiddennet.serve.context import id_path

    _, f = rich
    w = watched(browser, server, "intelligence_officer")
    page = w.page
    w.goto("/search")
    page.fill("input[name=q]", "testa personne")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_load_state("load")
    page.click(f"#people-results a[href='/network/{id_path(f['person'])}']")
    page.wait_for_selector("#cy[data-ready='1']", timeout=10_000)
    w.assert_clean()
    # Click a node in the picture.
    page.locator("#cy").scroll_into_view_if_needed()
    box = page.locator("#cy").bounding_box()
    pos = page.evaluate(
        "(() => { const n = window.hiddennetGraph.nodes()[0]; const p = n.renderedPosition();"
        " return {id: n.id(), x: p.x, y: p.y}; })()"
    )
    page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
    page.wait_for_selector(f"#cy[data-selected='{pos['id']}']", state="attached", timeout=5_000)
    # Expand the member of the other group (one hop across the group boundary).
    before = page.locator("#node-list button[data-node]").count()
    row = page.locator("#node-list tr", has=page.locator(f"button:text-is('{f['other']}')"))
    row.locator("a.expand").click()
    page.wait_for_selector("#cy[data-ready='1']", timeout=10_000)
    assert page.locator("#node-list button[data-node]").count() > before
    w.assert_clean()
    # The link's evidence: the cross-group crime with its title and date.
    evidence = page.inner_text("#evidence")
    assert f["cross_crime"] in evidence and "Sexual activity with a child" in evidence
    # Filter: victim layer only, evidence from 2019-01-01 to 2019-12-31.
    for layer in ("intel", "custody", "soc"):
        page.uncheck(f"#filters input[value={layer}]")
    page.fill("#filters input[name=from]", "2019-01-01")
    page.fill("#filters input[name=to]", "2019-12-31")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#cy[data-ready='1']", timeout=10_000)
    layers = set(page.locator("#evidence tbody td:nth-child(2)").all_inner_texts())
    assert layers == {"victim"}, layers
    w.assert_clean()
    # A path to the other member, drawn on the graph.
    page.fill("#filters input[name=path_to]", f["other"])
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#path-strongest", timeout=10_000)
    page.wait_for_selector("#cy[data-ready='1']", timeout=10_000)
    assert page.evaluate("window.hiddennetGraph.edges('[layer = \"path\"]').length") >= 1
    w.assert_clean()
    # Export: a real download, marked.
    with page.expect_download() as dl:
        page.click("text=GraphML")
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    assert "OFFICIAL-SENSITIVE" in text and f["other"] in text
    w.assert_clean()


def test_analyst_search_and_group_export_in_the_browser(browser, server, rich):
    """An analyst searches a group id, opens the group and downloads its i2 import: marked, with
    members anonymised; no console error or CSP violation."""
    _, f = rich
    w = watched(browser, server, "analyst")
    page = w.page
    w.goto("/search")
    page.fill("input[name=q]", f["top"].lower())
    page.click("form[role=search] button[type=submit]")
    page.wait_for_load_state("load")
    assert page.locator("#people-results").count() == 0
    page.click(f"#group-results a[href='/groups/{f['top']}']")
    page.wait_for_selector("#cy[data-ready='1']", timeout=10_000)
    with page.expect_download() as dl:
        page.click("#exports >> text=i2 Analyst's Notebook (CSV)")
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# OFFICIAL-SENSITIVE") and "member 1" in text and f["person"] not in text
    w.assert_clean()


def test_large_group_is_laid_out_apart(browser, tmp_path):
    """A group of about 90 members (12 sample groups merged): drawn in concentric rings, no two
    nodes on top of each other (centres at least 5 px apart on screen), the member list beside it
    holds every member, and the page stays clean."""
    from workbench_helpers import write_big_group_run

    run = tmp_path / "big"
    gid = write_big_group_run(run)
    with served(run, USERS, tmp_path / "audit.jsonl") as base:
        w = Watched(browser.new_context(), base)
        w.sign_in(TOKENS["analyst"])
        w.goto(f"/groups/{gid}")
        w.page.wait_for_selector("#cy[data-ready='1']", timeout=15_000)
        assert w.page.get_attribute("#cy", "data-layout") == "concentric"
        pos = w.page.evaluate(
            "window.hiddennetGraph.nodes().map(n => [n.renderedPosition().x, n.renderedPosition().y])"
        )
        assert len(pos) > 60
        closest = min(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5 for i, a in enumerate(pos) for b in pos[i + 1 :])
        assert closest >= 5, closest
        assert w.page.locator("#node-list button[data-node]").count() == len(pos)
        w.assert_clean()
