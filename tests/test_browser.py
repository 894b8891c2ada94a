"""The dashboard in a real browser (Debian's Chromium through Playwright): sign in with the token
form, open the pages an analyst and an intelligence officer use, and check that no console error
occurs, the Content-Security-Policy blocks nothing, nothing is fetched from beyond the dashboard,
and the group graph draws with its legend, its nodes clickable and reachable by keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_helpers import Watched, launch, served
from playwright import sync_api  # a dev dependency: a missing one fails, never skips
from serve_helpers import TOKENS, USERS, write_rich_run


@pytest.fixture(scope="module")
def rich(tmp_path_factory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("run")
    return run, write_rich_run(run)


@pytest.fixture(scope="module")
def server(rich, tmp_path_factory):
    run, _ = rich
    with served(run, USERS, tmp_path_factory.mktemp("audit") / "audit.jsonl") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


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
    """Only the keyboard: pressing Tab from the top of the page arrives at a member button."""
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
    w.assert_clean()


PAGES = ["/", "/groups", "/groups/{top}", "/groups/{top}/dismantling", "/safeguarding", "/people/{odd}"]


@pytest.mark.parametrize(
    "role,allowed",
    [
        ("analyst", {"/", "/groups", "/groups/{top}", "/groups/{top}/dismantling"}),
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
        path = tpl.format(top=id_path(facts["top"]), odd=id_path(facts["odd"]))
        r = w.goto(path)
        if tpl in allowed:
            assert r.status == 200, (path, r.status)
            w.assert_clean()
        else:
            assert r.status == 403, (path, r.status)
            w.errors.clear()  # the browser logs a 403 document load as a console error
