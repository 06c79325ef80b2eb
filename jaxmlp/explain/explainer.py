"""The trace as one self-contained HTML page: the network drawn, the derivation stepped through.

:func:`jaxmlp.explain.trace.to_html` derives one SGD step (every value from the library, checked against
``jax.grad``) and :func:`render` draws the network (:mod:`jaxmlp.explain.netdraw`), writes
each step's equation as MathML (:mod:`jaxmlp.explain.mathml`) with the text trace's own line beside it,
and adds a training panel (the loss and every weight over a run of plain SGD on the example,
sampled) and, for the seed network, the errata of ``jaxmlp reproduce``. CSS and JavaScript are
inlined; the page requests nothing from any host and opens from disk.
"""

from __future__ import annotations

import json
import math
import re
from html import escape
from importlib import resources

import numpy as np

from jaxmlp.explain import mathml, netdraw
from jaxmlp.explain.names import (
    bias_names,
    fmt,
    neuron_names,
    param_names,
    step_lines,
    weight_names,
)
from jaxmlp.explain.svgchart import line_chart
from jaxmlp.mlp import MLP

__all__ = ["MAX_VALUES", "asset", "page", "involved", "training", "is_seed", "render"]

MAX_VALUES = 20_000  # sampled weights embedded for the training panel: samples x parameters


def asset(name: str) -> str:
    """A file of ``jaxmlp/explain/assets`` as text."""
    return resources.files("jaxmlp.explain").joinpath("assets", name).read_text(encoding="utf-8")


def page(title: str, body: str, script: str = "") -> str:
    """A complete HTML document with the shared stylesheet and an optional inline script."""
    js = f"<script>{script}</script>" if script else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{asset('page.css')}</style></head>"
        f"<body>{body}{js}</body></html>\n"
    )


def involved(step, outputs: list[str]) -> tuple[list[str], list[str]]:
    """The neurons and the parameters a step's name and expression refer to."""
    text = f"{step.name} {step.expression}"
    nodes = re.findall(r"(?:net|out|target|E)_([A-Za-z0-9_]+)", text)
    nodes += re.findall(r"\bi\d+\b", text) + re.findall(r" via ([A-Za-z0-9_]+)", text)
    if step.name == "E_total":
        nodes += outputs
    # a parameter alone or under a derivative's d: w5, dw5, b1, db_h1
    params = re.findall(r"(?<![A-Za-z0-9_])d?(w\d+|b\d+|b_[A-Za-z0-9_]+)(?![A-Za-z0-9_])", text)
    return sorted(set(nodes) - {"total"}), sorted(set(params))


def _drawing(d) -> str:
    net = d.net
    neurons, wn = neuron_names(net), weight_names(net)
    bn = bias_names(net, neurons)
    values = {s.name: s.value for s in d.steps}
    edges: list[netdraw.Edge] = []
    bias_nodes: list[str | None] = [None]
    for l, W in enumerate(d.weights):
        for j, row in enumerate(W):
            for i, w in enumerate(row):
                name = str(wn[l][j, i])
                edges.append(
                    netdraw.Edge(
                        name,
                        neurons[l][i],
                        neurons[l + 1][j],
                        w,
                        values.get(f"dE_total/d{name}"),
                        values.get(f"{name}+"),
                    )
                )
        b = d.biases[l]
        if b is None:
            bias_nodes.append(None)
            continue
        node = bn[l][0] if net.bias == "shared" else f"b{l + 1}"
        bias_nodes.append(node)
        for j, target in enumerate(neurons[l + 1]):
            value = b if np.ndim(b) == 0 else b[j]
            p = bn[l][j]
            edges.append(
                netdraw.Edge(
                    p, node, target, float(value), values.get(f"dE_total/d{p}"), values.get(f"{p}+")
                )
            )
    descriptions = {n: f"{n}: input {fmt(v)}" for n, v in zip(neurons[0], d.inputs)}
    for layer in neurons[1:]:
        for n in layer:
            delta = values.get(f"dE_total/dnet_{n}", values.get(f"dE_{n}/dnet_{n}", math.nan))
            descriptions[n] = (
                f"{n}: net {fmt(values[f'net_{n}'])}, out {fmt(values[f'out_{n}'])}, delta {fmt(delta)}"
            )
    for node in filter(None, bias_nodes):
        descriptions[node] = f"{node}: bias (a constant input 1 times its weight)"
    return netdraw.svg(neurons, bias_nodes, edges, descriptions)


def _steps(d) -> tuple[str, str]:
    """The ``<ol>`` of steps and the ``<select>`` options that jump to them."""
    outputs = neuron_names(d.net)[-1]
    items, options, section = [], [], None
    for k, s in enumerate(d.steps):
        nodes, params = involved(s, outputs)
        line1, line2 = step_lines(s)
        parts = (
            [s.expression]
            + ([s.substituted] if s.substituted != fmt(s.value) else [])
            + [fmt(s.value)]
        )
        items.append(
            f'<li id="step-{k}" data-section="{escape(s.section)}" data-nodes="{" ".join(nodes)}" '
            f'data-params="{" ".join(params)}"><p class="section">{escape(s.section)}</p>'
            f'{mathml.equation(s.name, parts)}<pre class="text-line">{escape(line1)}\n{escape(line2)}</pre></li>'
        )
        if s.section != section:
            options.append(
                ("</optgroup>" if section else "") + f'<optgroup label="{escape(s.section)}">'
            )
            section = s.section
        options.append(f'<option value="{k}">{k + 1}. {escape(s.name)}</option>')
    return "".join(items), "".join(options) + "</optgroup>"


def training(net: MLP, params, x, y, learning_rate: float, steps: int) -> dict:
    """The loss and every parameter over ``steps`` steps of SGD on the example, sampled at most
    ~200 times (fewer for many parameters: ``MAX_VALUES`` numbers in all)."""
    from jax.flatten_util import ravel_pytree

    from jaxmlp.training.fit import fit
    from jaxmlp.training.monitor import Monitor

    names = param_names(net)
    n_samples = max(2, min(200, MAX_VALUES // max(1, len(names)), steps))
    every = max(1, steps // n_samples)
    samples = [(0, np.asarray(ravel_pytree(params)[0]))]

    def keep(state, losses):
        samples.append((int(state.step), np.asarray(ravel_pytree(state.params)[0])))

    r = fit(
        net,
        params,
        x,
        y,
        steps=steps,
        learning_rate=learning_rate,
        grad="backprop",
        chunk_size=every,
        callback=keep,
        monitor=Monitor(every=every),  # a record per chunk: every chunk is one program
    )
    losses = np.append(np.asarray(r.losses), r.final_loss)
    at = [s for s, _ in samples]
    curve_x = np.unique(np.linspace(0, len(losses) - 1, min(400, len(losses))).round().astype(int))
    svg, to_px = line_chart(
        [("E_total", curve_x, losses[curve_x])],
        element_id="train-chart",
        description=f"E_total over {steps:,} steps of SGD at learning rate {fmt(learning_rate)}: "
        f"from {fmt(losses[0])} to {fmt(losses[-1])}",
    )
    px = [[round(v, 1) for v in to_px(s, losses[s])] for s in at]
    marker = f'<circle id="train-marker" cx="{px[0][0]}" cy="{px[0][1]}" r="5" fill="#000"/>'
    return {
        "svg": svg.replace("</svg>", marker + "</svg>"),
        "dynamics": _dynamics_charts(r.monitor, learning_rate),
        "data": {
            "steps": at,
            "loss": [fmt(losses[s]) for s in at],
            "px": px,
            "values": [[fmt(v) for v in vals] for _, vals in samples],
        },
        "names": names,
    }


def _dynamics_charts(records, learning_rate: float) -> str:
    r"""The monitor's records of the run: the sharpness against SGD's edge :math:`2/\eta`, the
    gradient norm and the saturated fraction of each layer."""
    steps = np.asarray(records.step)
    edge = 2 / learning_rate
    sharp, _ = line_chart(
        [
            ("top Hessian eigenvalue", steps, records.sharpness),
            ("2 / learning rate", steps, np.full(steps.size, edge)),
        ],
        log_y=False,
        y_label="eigenvalue",
        description=f"the sharpness of E_total from {fmt(records.sharpness[0])} to "
        f"{fmt(records.sharpness[-1])}, against the edge of stability 2 / eta = {fmt(edge)}",
    )
    norms = np.asarray(records.grad_norm)
    flow, _ = line_chart(
        [(f"layer {l + 1} gradient norm", steps, norms[:, l]) for l in range(norms.shape[1])],
        y_label="norm",
        description="the gradient's norm in each layer",
    )
    saturated = np.asarray(records.saturated)
    satur, _ = line_chart(
        [(f"layer {l + 1} saturated", steps, saturated[:, l]) for l in range(saturated.shape[1])],
        log_y=False,
        y_label="fraction of units",
        description="the fraction of hidden units whose derivative is below 0.01 on the example",
    )
    return sharp + flow + satur


def _training_panel(t: dict, steps: int) -> str:
    rows = "".join(
        f'<tr><td class="name">{escape(n)}</td><td data-k="{k}">{t["data"]["values"][0][k]}</td></tr>'
        for k, n in enumerate(t["names"])
    )
    last = len(t["data"]["steps"]) - 1
    return (
        f'<h2 id="training">Training: {steps:,} steps of SGD on this example</h2>{t["svg"]}'
        f'<div class="controls"><label for="scrub">Step</label><input type="range" id="scrub" min="0" '
        f'max="{last}" value="0" step="1" aria-describedby="scrub-readout"><output id="scrub-readout" '
        f'aria-live="polite"></output></div><details open><summary>Parameters at this step</summary>'
        f'<table id="train-weights"><tr><th class="name">parameter</th><th>value</th></tr>{rows}</table></details>'
        f'<script type="application/json" id="training-data">{json.dumps(t["data"])}</script>'
        '<h3 id="dynamics">Curvature and gradient flow during training</h3><p class="legend-note">'
        "Recorded inside the compiled loop (jaxmlp.Monitor): the largest eigenvalue of the Hessian of "
        "E_total by Lanczos iteration over the handwritten Hessian-vector product, against 2 / eta, "
        "where plain gradient descent on a quadratic stops being stable; the gradient's norm per "
        "layer; hidden units saturated on the example.</p>" + t["dynamics"]
    )


def _errata(steps: int) -> str:
    """The seed's errata as ``jaxmlp reproduce`` finds them, and its two update orders."""
    from jaxmlp.explain import reproduction

    figures, _ = reproduction.reproduce(steps)
    notes = reproduction.errata(figures)
    rounds = {f.variant: f.value for f in figures if f.name == "E_total@1"}
    rows = "".join(
        f'<tr><td class="name">{escape(f.name)}</td><td>{escape(f.seed or "-")}</td>'
        f'<td>{f.value:.12g}</td><td class="name">{escape(reproduction.status(f, notes))}</td></tr>'
        for f in figures
        if f.variant == "simultaneous" and f.match is False
    )
    return (
        '<h2 id="errata">The seed\'s errata</h2><p>The seed prints <code>E_total = 0.291027924</code> '
        "after the first round. The algorithm it describes updates all weights at once (simultaneous); "
        "its printed number follows an order that propagates the hidden deltas through the output "
        "weights already updated.</p>"
        '<div class="controls"><button id="order" aria-pressed="false">Update order: show the '
        "updated-weights order</button></div>"
        f'<p id="order-simultaneous">Simultaneous updates (the algorithm described): E_total after one '
        f"round = <strong>{fmt(rounds['simultaneous'])}</strong>.</p>"
        f'<p id="order-updated" hidden>Hidden deltas through the updated output weights (what the seed '
        f"printed): E_total after one round = <strong>{fmt(rounds['updated_weights'])}</strong>.</p>"
        '<table><tr><th class="name">figure</th><th>seed</th><th>jaxmlp</th><th class="name">status</th></tr>'
        f"{rows}</table>"
    )


def is_seed(net: MLP, params, x, y) -> bool:
    """Whether this is the seed's own network, weights and example."""
    from jaxmlp import worked_example

    s_net, s_params, s_x, s_y = worked_example.tutorial()
    same = lambda a, b: np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=0, atol=1e-12)
    return (
        net == s_net
        and same(x, s_x)
        and same(y, s_y)
        and all(same(p[k], q[k]) for p, q in zip(params, s_params) for k in p)
    )


def render(d, params, x, y, *, steps: int = 10_000) -> str:
    """The explainer page of the derivation ``d`` (:func:`jaxmlp.explain.trace.derive` of ``params`` on the
    example ``(x, y)``), with a training panel over ``steps`` steps; a complete, self-contained
    HTML document."""
    net, learning_rate = d.net, d.learning_rate
    items, options = _steps(d)
    sizes = "-".join(map(str, net.sizes))
    title = f"jaxmlp trace: {sizes} {net.activation}/{net.output_activation}, {net.loss}"
    seed_page = is_seed(net, params, x, y)
    body = (
        f'<header><h1>{escape(title)}</h1><p class="lede">One step of backpropagation, every number '
        f"computed by jaxmlp and checked against jax.grad. Learning rate {fmt(learning_rate)}; "
        f"bias: {net.bias}{'' if net.train_bias else ' (not trained)'}. Use the buttons, the arrow "
        "keys or the list to move through the steps; hover or focus an edge or a neuron for its numbers."
        "</p></header>"
        f'<div class="layout"><section aria-label="The network">{_drawing(d)}'
        '<div class="controls"><button id="colour-by" aria-pressed="false">Colour edges by gradient</button>'
        '<span id="colour-note" class="legend-note"></span></div>'
        '<div id="info" aria-live="polite">Hover or focus an edge or a neuron.</div></section>'
        '<section aria-label="The derivation"><div class="controls">'
        '<button id="prev">\u2190 Previous</button><button id="next">Next \u2192</button>'
        f'<label class="visually-hidden" for="jump">Jump to step</label><select id="jump">{options}</select></div>'
        f'<p id="counter" aria-live="polite"></p><ol id="steps">{items}</ol></section></div>'
        + (_errata(steps) if seed_page else "")
        + _training_panel(training(net, params, x, y, learning_rate, steps), steps)
    )
    return page(title, body, asset("explainer.js"))
