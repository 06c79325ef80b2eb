"""``jaxmlp train --report report.html``: one self-contained page per training run.

The configuration and results of the run (the ``--json`` summary), the training loss per step with
the validation and test losses where measured, the confusion matrix of a classifier, and for
two-dimensional inputs the decision surface over the inputs' range with each hidden neuron's output
drawn the same way, as TensorFlow Playground shows them. Figures are inline SVG with text
alternatives; nothing is requested from another host.
"""

from __future__ import annotations

import json
from html import escape

import numpy as np

from jaxmlp import metrics
from jaxmlp.explain.explainer import page
from jaxmlp.explain.svgchart import heatmap, line_chart

__all__ = ["to_html"]

GRID, SMALL_GRID, MAX_MAPS = 40, 24, 32


def _dtype(params):
    return np.asarray(params[0]["w"]).dtype


def _summary_table(summary: dict) -> str:
    skip = {"network", "validation_losses", "gradient_check", "monitor"}
    rows = [(k, v) for k, v in summary.items() if k not in skip]
    rows += [(f"network.{k}", v) for k, v in summary["network"].items()]
    if summary.get("gradient_check"):
        rows.append(("gradient_check.max_rel_error", summary["gradient_check"]["max_rel_error"]))
    cell = lambda v: (
        f"{v:.6g}"
        if isinstance(v, float)
        else escape(json.dumps(v) if isinstance(v, (list, dict)) else str(v))
    )
    return (
        '<table><tr><th class="name">setting or result</th><th>value</th></tr>'
        + "".join(f'<tr><td class="name">{escape(k)}</td><td>{cell(v)}</td></tr>' for k, v in rows)
        + "</table>"
    )


def _curves(out) -> str:
    r = out.result
    losses = np.asarray(r.losses, float)
    keep = np.unique(np.linspace(0, len(losses) - 1, min(600, len(losses))).round().astype(int))
    series = [("training (batch)", out.start_step + keep, losses[keep])]
    if r.validation_losses is not None:
        series.append(("validation", r.validation_steps, r.validation_losses))
    if out.test_curve:
        steps = sorted(out.test_curve)
        series.append(("test", steps, [out.test_curve[s] for s in steps]))
    svg, _ = line_chart(
        series,
        description="loss per step: "
        + ", ".join(name for name, _, _ in series)
        + f"; final training loss {out.summary['final_loss']:.4g}",
    )
    return svg


def _dynamics(records: dict) -> str:
    """The monitor's records: sharpness against the stability edge, the loss on the training set,
    per-layer gradient norms and update ratios, dead and saturated fractions."""
    steps = np.asarray(records["step"])
    if steps.size == 0:
        return ""
    charts = []
    series = [("sharpness (top Hessian eigenvalue)", steps, records["sharpness"])]
    if records.get("gauss_newton") is not None and np.isfinite(records["gauss_newton"]).any():
        series.append(("Gauss-Newton top eigenvalue", steps, records["gauss_newton"]))
    if records.get("edge") is not None:
        series.append((records["edge_rule"], steps, np.full(steps.size, records["edge"])))
    edge = (
        f"; the edge {records['edge_rule']} = {records['edge']:.4g}" if records.get("edge") else ""
    )
    charts.append(
        line_chart(
            series, log_y=False, y_label="eigenvalue",
            description=f"sharpness per recorded step{edge}",
        )[0]
    )  # fmt: skip
    charts.append(
        line_chart(
            [("loss on the training set", steps, records["loss"])],
            description="the loss of the full training set at each recorded step",
        )[0]
    )
    layers = np.asarray(records["grad_norm"], float)
    charts.append(
        line_chart(
            [(f"layer {l + 1} gradient norm", steps, layers[:, l]) for l in range(layers.shape[1])]
            + [
                (f"layer {l + 1} update / weight", steps, np.asarray(records["update_ratio"])[:, l])
                for l in range(layers.shape[1])
            ],
            y_label="norm or ratio",
            description="per layer: the gradient's norm and the update's norm relative to the weights'",
        )[0]
    )
    hidden = np.asarray(records["dead"], float)
    if hidden.ndim == 2 and hidden.shape[1]:
        saturated = np.asarray(records["saturated"], float)
        charts.append(
            line_chart(
                [(f"layer {l + 1} dead", steps, hidden[:, l]) for l in range(hidden.shape[1])]
                + [
                    (f"layer {l + 1} saturated", steps, saturated[:, l])
                    for l in range(hidden.shape[1])
                ],
                log_y=False,
                y_label="fraction of units",
                description="per hidden layer: the fraction of units dead (output 0) or saturated "
                "(derivative below 0.01) on every training example",
            )[0]
        )
    return (
        '<h2>Training dynamics</h2><p class="legend-note">Recorded inside the compiled loop '
        "(jaxmlp.Monitor) every few steps on the whole training set: the Hessian's top eigenvalue "
        "by Lanczos iteration over the handwritten Hessian-vector product, gradient norms, update "
        "ratios and units that pass no gradient.</p>" + "".join(charts)
    )


def _confusion(m: np.ndarray, names: list[str]) -> str:
    top = max(int(m.max()), 1)
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    body = ""
    for i, row in enumerate(m):
        cells = "".join(
            f'<td style="background: rgba(0,114,178,{0.08 + 0.6 * v / top:.2f})">{v}</td>'
            for v in row
        )
        body += f'<tr><th class="name">{escape(names[i])}</th>{cells}</tr>'
    return (
        '<table class="confusion" aria-label="confusion matrix: rows are the true classes, columns the '
        f'predicted ones"><tr><th class="name">true \\ predicted</th>{head}</tr>{body}</table>'
    )


def _surfaces(net, params, x: np.ndarray, y: np.ndarray) -> str:
    """The output over the 2-D input range and each hidden neuron's output, as heatmaps."""
    lo, hi = x.min(0) - 0.5, x.max(0) + 0.5
    maps = []
    for n in (GRID, SMALL_GRID):
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(hi[1], lo[1], n))
        grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(_dtype(params))
        maps.append([np.asarray(layer.out, float) for layer in net.forward_trace(params, grid)])
    out = maps[0][-1]
    k = out.shape[1]
    surface = out[:, 0] if k == 1 else out[:, 1] if k == 2 else out.argmax(1) / (k - 1)
    if net.loss in ("half_sse", "mse") and k == 1 and not net.output_activation == "logistic":
        surface = (surface - surface.min()) / max(np.ptp(surface), 1e-12)
    cell = lambda v, i: (v - lo[i]) / (hi[i] - lo[i]) * GRID
    labels = np.asarray(y).reshape(len(y), -1)
    points = [
        (cell(a, 0), GRID - cell(b, 1), float(t[0] if t.size == 1 else t.argmax()) > 0.5)
        for (a, b), t in zip(x[:400], labels[:400])
    ]
    what = "probability of class 1" if k <= 2 else "predicted class"
    main = heatmap(
        surface.reshape(GRID, GRID),
        size=280,
        points=points,
        title=f"the network's output ({what}) over the inputs' range, with the training points",
    )
    small = []
    for l, layer in enumerate(maps[1][:-1]):
        for j in range(min(layer.shape[1], MAX_MAPS)):
            v = layer[:, j]
            v = (v - v.min()) / max(np.ptp(v), 1e-12)
            name = f"h{j + 1}" if len(maps[1]) == 2 else f"h{l + 1}_{j + 1}"
            small.append(
                f"<figure>{heatmap(v.reshape(SMALL_GRID, SMALL_GRID), size=96, title=f'output of {name} over the inputs, scaled to its range')}"
                f"<figcaption>{name}</figcaption></figure>"
            )
    return (
        f'<h2>Decision surface</h2><div class="heatmaps"><figure>{main}<figcaption>output: {what} '
        "(blue 0, white 0.5, vermillion 1)</figcaption></figure></div>"
        '<h2>Hidden neurons</h2><p class="legend-note">Each hidden neuron\'s output over the same '
        "range, scaled to its own minimum (blue) and maximum (vermillion).</p>"
        f'<div class="heatmaps">{"".join(small)}</div>'
    )


def to_html(ds, out) -> str:
    """The report page of a finished run (a :class:`~jaxmlp.cli.run.TrainOutcome` on ``ds``)."""
    s = out.summary
    sizes = "-".join(map(str, out.net.sizes))
    title = f"jaxmlp train {ds.name}: {sizes} {out.net.activation}"
    parts = [
        f'<header><h1>{escape(title)}</h1><p class="lede">{s["steps"]:,} steps in '
        f"{s['seconds']:.2f} s; final training loss {s['final_loss']:.6g}"
        + (
            f"; test accuracy {s['test_accuracy']:.4f}"
            if s.get("test_accuracy") is not None
            else ""
        )
        + "</p></header>",
        f"<h2>Loss</h2>{_curves(out)}",
        _dynamics(s["monitor"]) if s.get("monitor") else "",
        f"<h2>Configuration and results</h2>{_summary_table(s)}",
    ]
    if ds.task == "classification":
        x, y = (ds.x_test, ds.y_test) if ds.x_test is not None else (ds.x_train, ds.y_train)
        n = max(ds.n_outputs, 2)
        names = [str(c) for c in (ds.class_names or range(n))]
        outputs = out.net.apply(out.result.params, np.asarray(x, _dtype(out.result.params)))
        m = metrics.confusion_matrix(y, metrics.predicted_class(outputs), n)
        which = "test" if ds.x_test is not None else "training"
        parts.append(f"<h2>Confusion matrix ({which} set)</h2>{_confusion(m, names)}")
    if ds.x_train.shape[1] == 2:
        parts.append(_surfaces(out.net, out.result.params, np.asarray(ds.x_train), ds.y_train))
    return page(title, "".join(parts))
