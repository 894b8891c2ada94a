"""Inline SVG charts drawn in Python, so the report needs no JavaScript and no network.

Styling uses SVG presentation attributes only (no `style` attributes): the dashboard's
Content-Security-Policy forbids inline styles, and the same charts appear there. The `xmlns`
attribute is left out on purpose: HTML5 does not need it and the report must hold no `http`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from markupsafe import Markup, escape

# Colour-blind-safe pair (Okabe-Ito blue and orange) for full vs final table.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7")
SAFEGUARD_COLOUR = "#009E73"
NODE_COLOUR = "#0072B2"


def _nice_max(v: float) -> float:
    """Round an axis maximum up to 1, 2, 2.5 or 5 times a power of ten."""
    if v <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * p:
            return m * p
    return 10 * p  # pragma: no cover


def _fmt(v: float, percent: bool) -> str:
    if percent:
        return f"{v:.0f}%" if v >= 10 or v == 0 else f"{v:.1f}%"
    return f"{v:,.0f}" if v >= 10 or v == int(v) else f"{v:.1f}"


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    y_label: str = "",
    percent: bool = False,
    width: int = 760,
    height: int = 280,
) -> Markup:
    """Grouped vertical bars: one group per category, one bar per series, with a legend."""
    cats = [str(c) for c in categories]
    n, k = len(cats), max(len(series), 1)
    left, right, top, bottom = 64, 12, 34, 46
    pw, ph = width - left - right, height - top - bottom
    vmax = _nice_max(max((float(v) for _, vals in series for v in vals), default=0.0))
    out = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
    ]
    # Axis and gridlines at quarters of the rounded maximum.
    for i in range(5):
        v = vmax * i / 4
        y = top + ph - ph * i / 4
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dddddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#333333">{_fmt(v, percent)}</text>')
    if y_label:
        out.append(
            f'<text x="14" y="{top + ph / 2:.1f}" text-anchor="middle" fill="#333333" '
            f'transform="rotate(-90 14 {top + ph / 2:.1f})">{escape(y_label)}</text>'
        )
    if n:
        slot = pw / n
        bw = max(slot * 0.8 / k, 0.5)
        step = max(1, math.ceil(n / 24))  # thin the labels so they do not overlap
        for i, c in enumerate(cats):
            x0 = left + i * slot + slot * 0.1
            for j, (name, vals) in enumerate(series):
                v = float(vals[i]) if i < len(vals) and vals[i] is not None else 0.0
                h = ph * v / vmax if vmax else 0
                out.append(
                    f'<rect x="{x0 + j * bw:.1f}" y="{top + ph - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                    f'fill="{PALETTE[j % len(PALETTE)]}">'
                    f'<title>{escape(name)} {escape(c)}: {_fmt(v, percent)}</title></rect>'
                )
            if i % step == 0:
                out.append(
                    f'<text x="{left + (i + 0.5) * slot:.1f}" y="{top + ph + 14}" text-anchor="middle" '
                    f'fill="#333333">{escape(c)}</text>'
                )
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#333333"/>')
    # Legend across the top.
    x = left
    for j, (name, _) in enumerate(series):
        out.append(f'<rect x="{x}" y="10" width="12" height="12" fill="{PALETTE[j % len(PALETTE)]}"/>')
        out.append(f'<text x="{x + 16}" y="20" fill="#333333">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    out.append("</svg>")
    return Markup("".join(out))


def layout(n: int, edges: Sequence[tuple[int, int]], *, seed: int = 1, iterations: int = 120) -> np.ndarray:
    """Force-directed positions in [0, 1]^2 (Fruchterman-Reingold), deterministic for a seed.

    Groups are small (Leiden splits components above `max_group_size`), so the O(n^2) step is cheap.
    """
    if n == 0:
        return np.zeros((0, 2))
    if n == 1:
        return np.array([[0.5, 0.5]])
    rng = np.random.default_rng(seed)
    pos = rng.random((n, 2))
    e = np.array(edges, dtype=int).reshape(-1, 2)
    k = 1.0 / math.sqrt(n)
    t = 0.1
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.linalg.norm(delta, axis=2)
        np.fill_diagonal(dist, 1.0)
        dist = np.maximum(dist, 1e-3)
        disp = (delta / dist[:, :, None] * (k * k / dist)[:, :, None]).sum(axis=1)
        if len(e):
            d = pos[e[:, 0]] - pos[e[:, 1]]
            dl = np.maximum(np.linalg.norm(d, axis=1), 1e-3)
            f = d / dl[:, None] * (dl * dl / k)[:, None]
            np.add.at(disp, e[:, 0], -f)
            np.add.at(disp, e[:, 1], f)
        length = np.maximum(np.linalg.norm(disp, axis=1), 1e-9)
        pos += disp / length[:, None] * np.minimum(length, t)[:, None]
        t = max(t * 0.96, 0.002)
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    span = np.where(hi - lo > 1e-9, hi - lo, 1.0)
    return (pos - lo) / span


def network_svg(
    labels: Sequence[str],
    flagged: Sequence[bool],
    edges: Sequence[tuple[int, int, float]],
    *,
    title: str,
    seed: int = 1,
    width: int = 760,
    height: int = 520,
    links: Sequence[str | None] | None = None,
    pos: np.ndarray | None = None,
) -> Markup:
    """A group's members as a network picture. People flagged for safeguarding are drawn as
    people to safeguard (green ring, legend), never highlighted as targets."""
    n = len(labels)
    if pos is None:
        pos = layout(n, [(a, b) for a, b, _ in edges], seed=seed)
    pad = 30
    xy = [(pad + p[0] * (width - 2 * pad), pad + 20 + p[1] * (height - 2 * pad - 20)) for p in pos]
    wmax = max((w for _, _, w in edges), default=1.0) or 1.0
    out = [
        f'<svg class="network" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="100%" font-family="sans-serif" font-size="10">',
        f"<title>{escape(title)}</title>",
        f'<circle cx="16" cy="14" r="6" fill="{NODE_COLOUR}"/><text x="26" y="18">member</text>',
        f'<circle cx="96" cy="14" r="6" fill="#ffffff" stroke="{SAFEGUARD_COLOUR}" stroke-width="3"/>'
        '<text x="106" y="18">person to safeguard</text>',
    ]
    for a, b, w in edges:
        sw = 0.6 + 3.0 * (w / wmax)
        out.append(
            f'<line x1="{xy[a][0]:.1f}" y1="{xy[a][1]:.1f}" x2="{xy[b][0]:.1f}" y2="{xy[b][1]:.1f}" '
            f'stroke="#999999" stroke-width="{sw:.2f}"/>'
        )
    for i, (lab, fl) in enumerate(zip(labels, flagged, strict=True)):
        x, y = xy[i]
        circle = (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="#ffffff" stroke="{SAFEGUARD_COLOUR}" stroke-width="3"/>'
            if fl
            else f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="{NODE_COLOUR}"/>'
        )
        text = f'<text x="{x + 9:.1f}" y="{y + 4:.1f}" fill="#222222">{escape(lab)}</text>'
        href = links[i] if links else None
        if href:
            out.append(f'<a href="{escape(href)}">{circle}{text}</a>')
        else:
            out.append(circle + text)
    out.append("</svg>")
    return Markup("".join(out))


def _shade(v: float, vmax: float) -> str:
    """White to the palette's blue, by the square root of the share of the largest cell."""
    t = math.sqrt(v / vmax) if vmax > 0 else 0.0
    r, g, b = (round(255 + (c - 255) * t) for c in (0x00, 0x72, 0xB2))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    cells: Sequence[Sequence[int | None]],
    *,
    title: str,
    min_cell: int,
    width: int = 760,
) -> Markup:
    """A grid of counts shaded by size; withheld cells (None) are hatched grey and read "<k"."""
    left, cell_h = 230, 30
    top = 40 + 6 * max((len(c) for c in col_labels), default=0)  # room for the slanted column labels
    cw = (width - left - 10) / max(len(col_labels), 1)
    height = top + cell_h * len(row_labels) + 10
    vmax = max((float(v) for row in cells for v in row if v is not None), default=0.0)
    out = [
        f'<svg class="chart heatmap" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
    ]
    for j, c in enumerate(col_labels):
        x = left + (j + 0.5) * cw
        out.append(f'<text x="{x:.1f}" y="{top - 8}" fill="#333333" transform="rotate(-40 {x:.1f} {top - 8})">'
                   f"{escape(c)}</text>")
    for i, r in enumerate(row_labels):
        y = top + i * cell_h
        out.append(
            f'<text x="{left - 6}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="end" fill="#333333">{escape(r)}</text>'
        )
        for j, v in enumerate(cells[i]):
            x = left + j * cw
            fill = "#d9d9d9" if v is None else _shade(float(v), vmax)
            text = f"<{min_cell}" if v is None else f"{v:,}"
            ink = "#ffffff" if v is not None and vmax and v / vmax > 0.3 else "#1a1a1a"
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{cw:.1f}" height="{cell_h}" fill="{fill}" stroke="#ffffff">'
                f"<title>{escape(r)} / {escape(col_labels[j])}: {escape(text)}</title></rect>"
                f'<text x="{x + cw / 2:.1f}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="middle" fill="{ink}">'
                f"{escape(text)}</text>"
            )
    out.append("</svg>")
    return Markup("".join(out))
