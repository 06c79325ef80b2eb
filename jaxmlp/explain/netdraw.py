"""The network drawn as the seed draws it, in SVG: neurons i1.., h1.., o1.. in columns, a bias node
below each column that feeds the next layer, every edge labelled with its weight's name and value.

Colours follow the Okabe-Ito palette (safe for the common colour-vision deficiencies): blue for a
positive value, vermillion for a negative one; the stroke width grows with the magnitude. Layers
wider than ``MAX_DRAWN`` neurons show their first and last few with an ellipsis between (the hidden
neurons' edges are not drawn); past ``MAX_LABELLED`` edges between two layers the labels are left
off the drawing. Every value stays reachable: on each drawn edge's tooltip and focus, and in the
page's table of all weights.
"""

from __future__ import annotations

import dataclasses
from html import escape

from jaxmlp.explain.names import fmt

__all__ = ["MAX_DRAWN", "MAX_LABELLED", "STAGGER", "Edge", "colour", "shown", "svg"]

MAX_DRAWN = 12  # neurons drawn per layer; wider layers show the first 6 and the last 5
MAX_LABELLED = 16  # edges between two layers that carry a text label on the drawing
POSITIVE, NEGATIVE = "#0072B2", "#D55E00"  # Okabe-Ito blue and vermillion
COLUMN, ROW, RADIUS = 240, 76, 22
STAGGER = (0.2, 0.66, 0.43, 0.55, 0.31, 0.74)  # where along an edge its label sits, by turns


@dataclasses.dataclass(frozen=True)
class Edge:
    """One drawn edge: the parameter it carries and its numbers (``grad``/``new`` None when frozen)."""

    param: str
    source: str
    target: str
    value: float
    grad: float | None
    new: float | None

    @property
    def description(self) -> str:
        """What hovering or focusing the edge shows."""
        text = f"{self.param}: {self.source} \u2192 {self.target}, value {fmt(self.value)}"
        if self.grad is not None and self.new is not None:
            text += f", dE_total/d{self.param} = {fmt(self.grad)}, updated {self.param}+ = {fmt(self.new)}"
        else:
            text += " (not trained)"
        return text


def colour(v: float) -> str:
    """The colour of a value's sign."""
    return POSITIVE if v >= 0 else NEGATIVE


def shown(n: int) -> list[int | None]:
    """Indices of the neurons drawn for a layer of ``n`` (None: the ellipsis)."""
    if n <= MAX_DRAWN:
        return list(range(n))
    return [*range(6), None, *range(n - 5, n)]


def svg(
    layers: list[list[str]], bias_nodes: list[str | None], edges: list[Edge], nodes: dict[str, str]
) -> str:
    """The drawing: ``layers`` of neuron names (inputs first), the bias node feeding each layer
    after the first (or None), the edges, and each neuron's description (net, out, delta)."""
    drawn = [shown(len(layer)) for layer in layers]
    rows = max(len(d) + (1 if b else 0) for d, b in zip(drawn, bias_nodes[1:] + [None]))
    height = rows * ROW + 40
    width = COLUMN * (len(layers) - 1) + 160
    where: dict[str, tuple[float, float]] = {}
    parts = []
    for l, (layer, idx) in enumerate(zip(layers, drawn)):
        x: float = 80 + COLUMN * l
        top = (
            (height - len(idx) * ROW) / 2
            + ROW / 2
            - (ROW / 2 if l + 1 < len(layers) and bias_nodes[l + 1] else 0)
        )
        for r, i in enumerate(idx):
            y = top + r * ROW
            if i is None:
                parts.append(
                    f'<text class="ellipsis" x="{x}" y="{y + 6}" aria-hidden="true">\u22ee {len(layer) - 11} more</text>'
                )
                continue
            where[layer[i]] = (x, y)
        bias = bias_nodes[l + 1] if l + 1 < len(layers) else None
        if bias:
            where[bias] = (x, top + len(idx) * ROW)
    parts += _edge_parts(layers, bias_nodes, edges, where)
    parts += _node_parts(layers, bias_nodes, nodes, where)
    legend = (
        f'<g class="legend" aria-hidden="true" transform="translate(10,{height - 14})">'
        f'<line x1="0" y1="0" x2="30" y2="0" stroke="{POSITIVE}" stroke-width="3"/><text x="36" y="4">positive</text>'
        f'<line x1="110" y1="0" x2="140" y2="0" stroke="{NEGATIVE}" stroke-width="3"/><text x="146" y="4">negative</text>'
        '<text x="230" y="4">width: magnitude</text></g>'
    )
    return (
        f'<svg id="network" viewBox="0 0 {width} {height}" role="group" '
        f'aria-label="The network: {", ".join(str(len(n)) for n in layers)} neurons per layer">'
        + "".join(parts)
        + legend
        + "</svg>"
    )


def _edge_parts(layers, bias_nodes, edges: list[Edge], where) -> list[str]:
    """Each drawn edge (both ends placed in ``where``): a line as wide as its weight's magnitude
    and coloured by its sign, labelled with the weight where a layer has few enough edges."""
    parts: list[str] = []
    max_abs = max((abs(e.value) for e in edges), default=1.0) or 1.0
    layer_of = {n: l for l, layer in enumerate(layers) for n in layer}
    sources = [
        layer + [b for b in bias_nodes[l + 1 : l + 2] if b and l + 1 < len(layers)]
        for l, layer in enumerate(layers)
    ]
    rank = {n: (j, len(layer)) for layer in sources for j, n in enumerate(layer)}
    into: dict[int, int] = {}  # edges into each layer
    for e in edges:
        into[layer_of[e.target]] = into.get(layer_of[e.target], 0) + 1
    for e in edges:
        if e.source not in where or e.target not in where:
            continue
        (x1, y1), (x2, y2) = where[e.source], where[e.target]
        label = ""
        if into[layer_of[e.target]] <= MAX_LABELLED:
            # Staggered along the edge as a Latin square over (source row, target row): the
            # labels of one source's edges, and of one target's, sit at different distances.
            i, n_src = rank[e.source]
            j, _ = rank[e.target]
            t = STAGGER[((i + j) % n_src) % len(STAGGER)]
            lx, ly = x1 + t * (x2 - x1), y1 + t * (y2 - y1) - 4
            label = f'<text x="{lx:.1f}" y="{ly:.1f}">{escape(e.param)} = {fmt(e.value)}</text>'
        width_px = 1 + 4 * abs(e.value) / max_abs
        d = escape(e.description)
        parts.append(
            f'<g class="edge" id="e-{escape(e.param)}-{escape(e.target)}" data-param="{escape(e.param)}" '
            f'data-source="{escape(e.source)}" data-target="{escape(e.target)}" '
            f'data-w="{e.value!r}" data-g="{e.grad!r}" tabindex="0" aria-label="{d}"><title>{d}</title>'
            f'<line x1="{x1 + RADIUS}" y1="{y1:.1f}" x2="{x2 - RADIUS}" y2="{y2:.1f}" '
            f'stroke="{colour(e.value)}" stroke-width="{width_px:.2f}"/>{label}</g>'
        )
    return parts


def _node_parts(layers, bias_nodes, nodes: dict[str, str], where) -> list[str]:
    """Each placed neuron as a circle with its name, its kind (input, hidden, output, bias) a
    class and its description (net, out, delta) a title."""
    parts: list[str] = []
    for name, (x, y) in where.items():
        kind = (
            "bias"
            if name in bias_nodes
            else "input"
            if name in layers[0]
            else "output"
            if name in layers[-1]
            else "hidden"
        )
        d = escape(nodes.get(name, name))
        parts.append(
            f'<g class="node {kind}" id="n-{escape(name)}" data-name="{escape(name)}" tabindex="0" '
            f'aria-label="{d}"><title>{d}</title><circle cx="{x}" cy="{y:.1f}" r="{RADIUS}"/>'
            f'<text x="{x}" y="{y + 5:.1f}">{escape(name)}</text></g>'
        )
    return parts
