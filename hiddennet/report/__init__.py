"""The descriptive report: one self-contained HTML file (inline CSS and SVG, no script, no link
out) written next to a run's outputs as `<run>/report.html`.

Its sections follow section 9 of the source study; see docs/report-and-dashboard.md.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, Undefined, select_autoescape
from markupsafe import Markup

from hiddennet.report import charts as _charts
from hiddennet.report.data import RunOutputs, figures
from hiddennet.stage import NOTICE

MARKING = "OFFICIAL-SENSITIVE"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent.parent / "static"

__all__ = ["MARKING", "NOTICE", "build_charts", "environment", "render_report", "write_report"]


def _num(v, digits: int = 0) -> str:
    # Undefined: a column that a run made by an older version does not have.
    if v is None or isinstance(v, Undefined):
        return "not known"
    try:
        return f"{float(v):,.{digits}f}" if digits else f"{round(float(v)):,}"
    except (TypeError, ValueError):
        return str(v)


def _pct(v) -> str:
    return "" if v is None else f"{float(v):.1f}%"


def environment(*extra_dirs: Path) -> Environment:
    """Jinja environment with autoescape on and the number filters the sections use."""
    env = Environment(
        loader=FileSystemLoader([*(str(d) for d in extra_dirs), str(TEMPLATES)]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    return env


def build_charts(f: dict) -> dict[str, Markup]:
    """The inline SVG charts of the sections that are available."""
    out: dict[str, Markup] = {}
    t = f["timeline"]
    if t["available"]:
        out["timeline"] = _charts.bar_chart(
            [str(r["year"]) for r in t["rows"]],
            [("Full table", [r["full"] for r in t["rows"]]), ("Final table", [r["final"] for r in t["rows"]])],
            title="Crimes by year of offence",
            y_label="crimes",
        )
    a = f["ages"]
    if a["available"]:
        for key, who in (("victim_age", "victim"), ("offender_age", "offender")):
            s = a[who]
            out[key] = _charts.bar_chart(
                [str(c) for c in s["categories"]],
                [("Full table", s["full_pct"]), ("Final table", s["final_pct"])],
                title=f"Age of {who} at the offence (share of rows)",
                y_label="% of rows",
                percent=True,
            )
        d = a["difference"]
        out["age_difference"] = _charts.bar_chart(
            [str(c) for c in d["categories"]],
            [("Full table", d["full_pct"]), ("Final table", d["final_pct"])],
            title="Offender age minus victim age (share of rows)",
            y_label="% of rows",
            percent=True,
        )
    n = f["network"]
    if n["available"]:
        out["group_sizes"] = _charts.bar_chart(
            [b["band"] for b in n["bands"]], [("Groups", [b["groups"] for b in n["bands"]])],
            title="Groups by size (nominals)", y_label="groups",
        )
    d = f["dismantling"]
    if d["available"] and d["picks_dist"]:
        out["picks"] = _charts.bar_chart(
            [r["picks"] for r in d["picks_dist"]],
            [("Groups", [r["groups"] for r in d["picks_dist"]])],
            title="Picks per group in the dismantling order",
            y_label="groups",
        )
    return out


def render_report(run_dir: Path) -> str:
    """The report's HTML for a run folder (raises OutputError when it is not a run)."""
    from hiddennet.report.continuity import continuity_figures

    run = RunOutputs(run_dir)
    f = figures(run)
    env = environment()
    return env.get_template("report.html.j2").render(
        f=f,
        charts=build_charts(f),
        css=Markup((STATIC / "hiddennet.css").read_text(encoding="utf-8")),
        notice=NOTICE,
        marking=MARKING,
        as_of=run.manifest.get("as_of", "not recorded"),
        version=run.manifest.get("hiddennet_version", ""),
        written_utc=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        min_cell=run.min_cell,
        group_links=False,
        continuity=continuity_figures(run),  # hiddennet/report/continuity.py: None without a run history
    )


def write_report(run_dir: Path) -> Path:
    """Write `<run_dir>/report.html` and return its path. The file is replaced atomically."""
    run_dir = Path(run_dir)
    html = render_report(run_dir)
    target = run_dir / "report.html"
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=run_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
