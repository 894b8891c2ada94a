"""The marking in a real browser (Debian's Chromium, as tests/test_browser.py drives it): whole and
on screen at a phone's width, on the report and the dashboard, and in the print layout (the
header that browsers repeat on every printed page); the report loads nothing."""

from __future__ import annotations

import pytest
from browser_helpers import Watched, chromium, served
from serve_helpers import TOKENS, USERS

from hiddennet.report import MARKING, write_report
from hiddennet.report.sample import write_sample_run

NARROW = {"width": 320, "height": 640}

# Every visible marking: its box inside the viewport and its text not cut (no overflow).
MARKINGS = """() => [...document.querySelectorAll('.marking')]
  .filter(e => getComputedStyle(e).display !== 'none' && e.offsetParent !== null)
  .map(e => { const r = e.getBoundingClientRect();
              return {left: r.left, right: r.right, text: e.textContent.trim(),
                      cut: e.scrollWidth > e.clientWidth + 1}; })"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    r = write_sample_run(tmp_path_factory.mktemp("run"))
    write_report(r)
    return r


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _assert_marking_whole(page, width: int) -> None:
    marks = page.evaluate(MARKINGS)
    assert marks, "no marking visible"
    for m in marks:
        assert m["text"] == MARKING
        assert m["left"] >= 0 and m["right"] <= width + 0.5, m
        assert not m["cut"], m
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # the page never outgrows the screen


def test_report_marking_whole_on_a_narrow_screen_and_in_print(browser, run):
    page = browser.new_page(viewport=NARROW)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.set_content((run / "report.html").read_text(encoding="utf-8"))
    _assert_marking_whole(page, NARROW["width"])
    # Wide tables scroll inside the page instead of widening it.
    assert page.evaluate("[...document.querySelectorAll('table.data')].some(t => t.scrollWidth > t.clientWidth)")
    page.emulate_media(media="print")
    head = page.evaluate("getComputedStyle(document.querySelector('table.page > thead')).display")
    foot = page.evaluate("getComputedStyle(document.querySelector('table.page > tfoot')).display")
    assert (head, foot) == ("table-header-group", "table-footer-group")  # repeated on every printed page
    assert page.evaluate("document.querySelector('table.page > thead .marking').getBoundingClientRect().height") > 0
    assert page.evaluate("getComputedStyle(document.querySelector('.screen-only')).display") == "none"
    assert requests == []  # self-contained: nothing is fetched
    page.close()


def test_dashboard_marking_whole_on_a_narrow_screen(browser, run, tmp_path):
    with served(run, USERS, tmp_path / "audit.jsonl") as base:
        w = Watched(browser.new_context(viewport=NARROW), base)
        w.sign_in(TOKENS["analyst"])
        for path in ("/", "/groups"):
            w.goto(path)
            _assert_marking_whole(w.page, NARROW["width"])
        w.assert_clean()
