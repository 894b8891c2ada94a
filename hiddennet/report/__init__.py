"""The descriptive report: one self-contained HTML file (inline CSS and SVG, no script, no link
out) written next to a run's outputs as `<run>/report.html`.

Its sections follow section 9 of the source study; see docs/report-and-dashboard.md.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import cast

from jinja2 import Environment, FileSystemLoader, Undefined, select_autoescape
from markupsafe import Markup

from hiddennet.errors import OutputError
from hiddennet.fsio import private_dir
from hiddennet.report import charts as _charts
from hiddennet.report.area import FORCE_WIDE, AreaRun, area_groups, area_names, slug
from hiddennet.report.data import RunOutputs, figures
from hiddennet.stage import NOTICE

MARKING = "OFFICIAL-SENSITIVE"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent.parent / "static"

__all__ = [
    "MARKING", "NOTICE", "build_charts", "environment", "render_report", "slug", "write_area_reports", "write_report",
]


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


def _series(name_full: str, full, name_final: str, final) -> list[tuple[str, list]]:
    """Full and final table series; the final one only when the run has a final table."""
    return [(name_full, full)] + ([(name_final, final)] if final is not None else [])


def _timeline_charts(t: dict, out: dict[str, Markup]) -> None:
    recent, rows = t["recent"], t["rows"]
    for key, which, label in (("full", "full", "Full table"), ("final", "final", "Final table")):
        if which == "final" and not t["final_available"]:
            continue
        out[f"timeline_{key}"] = _charts.bar_chart(
            [str(r["year"]) for r in recent], [(label, [r[which] for r in recent])],
            title=f"Crimes by year of offence since {t['recent_from']}: {label.lower()}", y_label="crimes",
        )
        out[f"timeline_all_{key}"] = _charts.bar_chart(
            [str(r["year"]) for r in rows], [(label, [r[which] for r in rows])],
            title=f"Full timeline of crimes by year of offence: {label.lower()}", y_label="crimes",
        )


def _age_charts(a: dict, out: dict[str, Markup]) -> None:
    for key, who in (("victim_age", "victim"), ("offender_age", "offender")):
        s = a[who]
        out[key] = _charts.bar_chart(
            [str(c) for c in s["categories"]], _series("Full table", s["full_pct"], "Final table", s["final_pct"]),
            title=f"Age of {who} at the offence (share of rows)", y_label="% of rows", percent=True,
        )
    d = a["difference"]
    out["age_difference"] = _charts.bar_chart(
        [str(c) for c in d["categories"]], _series("Full table", d["full_pct"], "Final table", d["final_pct"]),
        title="Offender age minus victim age (share of rows)", y_label="% of rows", percent=True,
    )


def _code(label: str) -> str:
    """`Black (IC3)` -> `IC3`: the code alone where a chart has little room."""
    return label.rsplit(" (", 1)[-1].rstrip(")") if label.endswith(")") else label


def _study_charts(f: dict, out: dict[str, Markup]) -> None:
    """Ages by sex, sex of people, ethnicity charts and the heatmap."""
    a = f["age_by_sex"]
    if a["available"]:
        for who in ("victim", "offender"):
            s = a[who]
            out[f"{who}_age_by_sex"] = _charts.bar_chart(
                [str(c) for c in s["categories"]], [("Female", s["female_pct"]), ("Male", s["male_pct"])],
                title=f"Age of {who} by sex, full table (share of each sex's rows)", y_label="% of rows", percent=True,
            )
    sx = f["sex"]
    if sx["available"]:
        for who in ("victim", "offender"):
            full, fin = sx["people"].get(f"{who}_full"), sx["people"].get(f"{who}_final")
            out[f"{who}_sex"] = _charts.bar_chart(
                [r["sex"] for r in full["rows"]],
                _series("Full table", [r["pct"] or 0 for r in full["rows"]],
                        "Final table", [r["pct"] or 0 for r in fin["rows"]] if fin else None),
                title=f"Sex of {who}s (share of distinct {who}s)", y_label="% of people", percent=True,
            )
    e = f["ethnicity"]
    if e["available"]:
        for who in ("victims", "offenders"):
            rows = e["rows"]
            out[f"ethnicity_{who}"] = _charts.bar_chart(
                [_code(r["label"]) for r in rows],
                [("Full table", [r[f"{who}_pct"] or 0 for r in rows])],
                title=f"Recorded ethnicity of {who} (share of distinct {who}; withheld cells drawn as 0)",
                y_label=f"% of {who}", percent=True,
            )
    h = f["ethnicity_heatmap"]
    if h["available"]:
        for key in ("full", "final"):
            g = h[key]
            if g is not None:
                out[f"heatmap_{key}"] = _charts.heatmap(
                    g["offender"], [_code(c) for c in g["victim"]], g["cells"], min_cell=h["min_cell"],
                    title=f"Offender (rows) by victim (columns) ethnicity, {key} table rows",
                )


def build_charts(f: dict) -> dict[str, Markup]:
    """The inline SVG charts of the sections that are available."""
    out: dict[str, Markup] = {}
    if f["timeline"]["available"]:
        _timeline_charts(f["timeline"], out)
    if f["ages"]["available"]:
        _age_charts(f["ages"], out)
    _study_charts(f, out)
    n = f["network"]
    if n["available"]:
        out["group_sizes"] = _charts.bar_chart(
            [b["band"] for b in n["bands"]], [("Groups", [b["groups"] for b in n["bands"]])],
            title="Groups by size (nominals)", y_label="groups",
        )
    d = f["dismantling"]
    if d["available"] and d["picks_dist"]:
        out["picks"] = _charts.bar_chart(
            [r["picks"] for r in d["picks_dist"]], [("Groups", [r["groups"] for r in d["picks_dist"]])],
            title="Picks per group in the dismantling order", y_label="groups",
        )
    return out


_REPORT_ENV: list[Environment] = []  # compiled once per process: --each-area renders many


def _render(run: RunOutputs, f: dict, *, area: str | None) -> str:
    if not _REPORT_ENV:
        _REPORT_ENV.append(environment())
    return _REPORT_ENV[0].get_template("report.html.j2").render(
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
        area=area,
        force_wide=sorted(FORCE_WIDE) if area else [],
    )


def render_report(run_dir: Path, area: str | None = None) -> str:
    """The report's HTML for a run folder (raises OutputError when it is not a run); with `area`,
    the problem profile of that local area (OutputError when the run has no such area)."""
    run = RunOutputs(run_dir)
    if area is None:
        return _render(run, figures(run), area=None)
    return _render_area(run, area)


def _render_area(run: RunOutputs, area: str) -> str:
    known = area_names(run)
    if area not in known:
        listed = ", ".join(known) if known else "none recorded"
        raise OutputError(f"folder {run.run_dir}: no local area {area!r} in this run (areas: {listed})")
    view = AreaRun(run, area)
    f = figures(cast(RunOutputs, view), extra={"area_groups": ("This area's groups", lambda _: area_groups(view))})
    return _render(run, f, area=area)


def _write(target: Path, html: str) -> Path:
    """Write `html` to `target` atomically, owner-only (mkstemp makes the file 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_report(run_dir: Path, area: str | None = None, target: Path | None = None) -> Path:
    """Write `<run_dir>/report.html` (with `area`: `<run_dir>/report-<area>.html`, or `target`) and
    return its path. The file is replaced atomically."""
    run_dir = Path(run_dir)
    html = render_report(run_dir, area)
    if target is None:
        target = run_dir / ("report.html" if area is None else f"report-{slug(area)}.html")
    return _write(Path(target), html)


def write_area_reports(run_dir: Path, folder: Path | None = None) -> list[Path]:
    """One problem profile per local area of the run, `report-<area>.html` in `folder` (default
    `<run_dir>/area-reports`, made owner-only); returns their paths, in area order."""
    run_dir = Path(run_dir)
    run = RunOutputs(run_dir)
    folder = Path(folder) if folder is not None else run_dir / "area-reports"
    private_dir(folder)
    paths: list[Path] = []
    for a in area_names(run):
        name, n = slug(a), 1
        while folder / f"report-{name}.html" in paths:  # two names with one slug ("St Ives", "St. Ives")
            n += 1
            name = f"{slug(a)}-{n}"
        paths.append(_write(folder / f"report-{name}.html", _render_area(run, a)))
    return paths
