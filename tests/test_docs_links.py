"""The documentation stands alone: no link or path in README.md, docs/ or the package READMEs
points outside the repository, and every relative link resolves to a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "hiddennet").rglob("*.md"),
     ROOT / "benchmarks" / "RESULTS.md"]
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CLIMB = re.compile(r"(?:\.\./)+[\w./-]*")
# Files of the workplace the project was started in, which a clone does not have.
WORKPLACE = re.compile(r"\bspec/[\w-]+\.md\b|\bshared/(?:spec|source|reference)/")
# Generated from another module's text: docs/cli.md is `--help` of hiddennet/cli.py, whose `run`
# help still names spec/outputs.md. Listed so the test fails once it is fixed (then delete it here).
KNOWN: dict[str, set[str]] = {}


def _inside(path: Path) -> bool:
    return path.resolve().is_relative_to(ROOT)


def _rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def test_the_pages_checked_are_the_documentation():
    """The glob finds the README, the method page and the stage pages (a wrong root would pass vacuously)."""
    names = {_rel(p) for p in PAGES}
    assert {"README.md", "docs/method.md", "docs/input-contract.md", "docs/tables.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_relative_link_resolves_inside_the_repository(page: Path):
    text = page.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL (none in README or docs today) or an anchor on the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert _inside(path), f"{_rel(page)}: link {target} leaves the repository"
        assert path.exists(), f"{_rel(page)}: link {target} names no file of the repository"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_no_path_climbs_out_of_the_repository(page: Path):
    text = page.read_text(encoding="utf-8")
    for path in CLIMB.findall(text):
        assert _inside(page.parent / path), f"{_rel(page)}: {path} points outside the repository"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_no_page_relies_on_the_workplace_specs(page: Path):
    """The method, the input contract and the outputs are in docs/ (method.md, input-contract.md,
    tables.md): a page that names spec/*.md or shared/spec|source|reference sends a reader nowhere."""
    found = set(WORKPLACE.findall(page.read_text(encoding="utf-8")))
    assert found == KNOWN.get(_rel(page), set()), f"{_rel(page)} names {sorted(found)}"


def test_the_checks_catch_what_they_are_for():
    """The patterns find a climbing path, a workplace spec and a link out (else the tests above prove nothing)."""
    text = "See `../shared/spec/method.md` and [the study](../../shared/source/study.txt)."
    assert CLIMB.findall(text) == ["../shared/spec/method.md", "../../shared/source/study.txt"]
    assert WORKPLACE.findall(text) == ["shared/spec/", "shared/source/"]
    assert WORKPLACE.findall("the tables of spec/outputs.md") == ["spec/outputs.md"]
    assert not _inside(ROOT / "docs" / LINK.findall(text)[0])
