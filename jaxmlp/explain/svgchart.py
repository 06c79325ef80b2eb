"""Small SVG figures for the HTML pages: line charts (log scale), heatmaps, with text alternatives.

No plotting library: a page embeds a few hundred numbers, drawn as polylines and rectangles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

import numpy as np

__all__ = ["PALETTE", "line_chart", "heatmap"]

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")  # Okabe-Ito


def line_chart(
    series: Sequence[tuple[str, Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]],
    *,
    log_y: bool = True,
    width: int = 640,
    height: int = 260,
    x_label: str = "step",
    y_label: str = "loss",
    description: str = "",
    element_id: str = "",
) -> tuple[str, Callable[[float, float], tuple[float, float]]]:
    """``(svg, to_px)``: the series ``(label, xs, ys)`` as polylines on shared axes, and the map
    from data to drawing coordinates (for a marker moved by the page's script)."""
    left, right, top, bottom = 84, 36, 14, 40
    xs_all = np.concatenate([np.asarray(s[1], float) for s in series])
    ys_all = np.concatenate([np.asarray(s[2], float) for s in series])
    ok = np.isfinite(ys_all) & ((ys_all > 0) if log_y else True)
    ys_ok = ys_all[ok] if ok.any() else np.array([1.0])
    f = np.log10 if log_y else (lambda v: v)
    y0, y1 = float(f(ys_ok.min())), float(f(ys_ok.max()))
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    x0, x1 = float(xs_all.min()), float(max(xs_all.max(), xs_all.min() + 1))

    def to_px(x: float, y: float) -> tuple[float, float]:
        fy = f(max(y, 10.0**y0)) if log_y else y
        return (
            left + (x - x0) / (x1 - x0) * (width - left - right),
            top + (y1 - fy) / (y1 - y0) * (height - top - bottom),
        )

    parts = [
        f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}"/>',
    ]
    for v in (y0, (y0 + y1) / 2, y1):
        _, py = to_px(x0, 10**v if log_y else v)
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">{(10**v if log_y else v):.3g}</text>'
        )
    for v in (x0, (x0 + x1) / 2, x1):
        px, _ = to_px(v, 10**y0 if log_y else y0)
        parts.append(
            f'<text class="tick" x="{px:.1f}" y="{height - bottom + 16}" text-anchor="middle">{v:,.0f}</text>'
        )
    parts.append(
        f'<text class="label" x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text class="label" x="14" y="{(top + height - bottom) / 2}" transform="rotate(-90 14 {(top + height - bottom) / 2})" text-anchor="middle">{escape(y_label)}{" (log)" if log_y else ""}</text>'
    )
    for k, (label, xs, ys) in enumerate(series):
        pts = [to_px(x, y) for x, y in zip(xs, ys) if math.isfinite(y) and (y > 0 or not log_y)]
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        colour = PALETTE[k % len(PALETTE)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{points}"/>'
        )
        if len(pts) < 60:  # few points (evaluations every chunk): mark each
            parts += [
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}"/>' for px, py in pts
            ]
        parts.append(
            f'<text class="key" x="{width - right - 4}" y="{top + 14 + 16 * k}" text-anchor="end" fill="{colour}">{escape(label)}</text>'
        )
    ident = f' id="{element_id}"' if element_id else ""
    alt = description or ", ".join(label for label, _, _ in series)
    svg = (
        f'<svg{ident} class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(alt)}">'
        f"<title>{escape(alt)}</title>" + "".join(parts) + "</svg>"
    )
    return svg, to_px


def heatmap(values: np.ndarray, *, size: int = 120, title: str = "", points=None) -> str:
    """A grid of values in [0, 1] (rows: y from top) as coloured cells, blue (0) to vermillion (1)
    through white; ``points`` ``(x, y, label)`` in cell coordinates are drawn on top."""
    rows, cols = values.shape
    cell_w, cell_h = size / cols, size / rows
    low, high = np.array([0x00, 0x72, 0xB2]), np.array([0xD5, 0x5E, 0x00])
    cells = []
    for r in range(rows):
        for c in range(cols):
            v = float(np.clip(values[r, c], 0, 1))
            end, t = (low, 1 - 2 * v) if v < 0.5 else (high, 2 * v - 1)
            rgb = np.round(255 + (end - 255) * t).astype(int)
            cells.append(
                f'<rect x="{c * cell_w:.1f}" y="{r * cell_h:.1f}" width="{cell_w + 0.3:.1f}" '
                f'height="{cell_h + 0.3:.1f}" fill="#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}"/>'
            )
    for x, y, label in points or []:
        fill = "#000" if label else "#fff"  # the class, on top of the colour map
        cells.append(
            f'<circle cx="{x * cell_w:.1f}" cy="{y * cell_h:.1f}" r="3.5" fill="{fill}" stroke="#000"/>'
        )
    return (
        f'<svg class="heatmap" viewBox="0 0 {size} {size}" width="{size}" height="{size}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>' + "".join(cells) + "</svg>"
    )
