"""The seed's step-by-step derivation, for any network: one SGD step, every number named.

Names follow the seed: inputs ``i1..``, hidden neurons ``h1..`` (``h1_1, h2_1, ..``
with several hidden layers: layer, then neuron), outputs ``o1..``; weights
``w1..`` numbered layer by layer, row by row (``w1, w2`` into ``h1``), biases
``b1, b2, ..`` per layer when shared or ``b_h1, ..`` per neuron. Every value comes
from the library (``forward_trace``, the loss, ``output_delta``/``hidden_delta``,
``backprop``, ``sgd_step``); each printed product is checked against the value the
library computed, and the whole gradient against ``jax.grad``, before rendering.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import jax.numpy as jnp
import numpy as np

from jaxmlp.backprop import hidden_delta, output_delta
from jaxmlp.config import MLP
from jaxmlp.explain.mathml import FUNCTIONS
from jaxmlp.explain.names import bias_names, fmt, neuron_names, step_lines, weight_names  # noqa: F401
from jaxmlp.forward import Layer
from jaxmlp.gradcheck import check_gradients
from jaxmlp.train import sgd_step


@dataclasses.dataclass(frozen=True)
class Step:
    """One line of the derivation: ``name = expression = substituted = value``."""

    section: str
    name: str
    expression: str
    substituted: str
    value: float


@dataclasses.dataclass(frozen=True)
class Derivation:
    """A whole derivation: the network, its numbers, and the steps in order."""

    net: MLP
    weights: list
    biases: list
    inputs: list
    targets: list
    learning_rate: float
    steps: tuple[Step, ...]

    @property
    def sections(self) -> list[str]:
        """Section titles in order of appearance."""
        return list(dict.fromkeys(s.section for s in self.steps))

    def value(self, name: str) -> float:
        """The value of the step named ``name``."""
        return next(s.value for s in self.steps if s.name == name)

    def as_dict(self) -> dict:
        """The derivation as ``trace --json`` prints it."""
        return {
            "network": dataclasses.asdict(self.net),
            "weights": self.weights,
            "biases": self.biases,
            "inputs": self.inputs,
            "targets": self.targets,
            "learning_rate": self.learning_rate,
            "quantities": [dataclasses.asdict(s) for s in self.steps],
        }


def _check(product: float, library: float, what: str) -> None:
    if not math.isclose(product, library, rel_tol=1e-9, abs_tol=1e-15):
        raise AssertionError(f"{what}: printed product {product!r} != library value {library!r}")


def derive(net: MLP, params, x, y, learning_rate: float = 0.5) -> Derivation:
    """The derivation of one SGD step on one example ``x`` ``(n_in,)``, target ``y``.

    Raises ``GradientMismatchError`` if backprop and ``jax.grad`` disagree.
    """
    params, x, y = net._check(params, x, y)
    if x.ndim != 1:
        raise ValueError(
            f"trace derives one example: x must have shape ({net.sizes[0]},), got {x.shape}"
        )
    check_gradients(net, params, x, y)
    layers = net.forward_trace(params, x)
    grads = net.backprop(params, x, y)
    new = sgd_step(params, grads, learning_rate)
    t = np.asarray(
        y if not jnp.issubdtype(y.dtype, jnp.integer) else np.eye(net.sizes[-1])[int(y)], float
    )
    neurons, wn = neuron_names(net), weight_names(net)
    bn = bias_names(net, neurons)
    outs = [np.asarray(x, float)] + [np.asarray(lay.out, float) for lay in layers]
    nets = [None] + [np.asarray(lay.net, float) for lay in layers]
    W = [np.asarray(p["w"], float) for p in params]
    B = [np.asarray(p["b"], float) if "b" in p else None for p in params]
    n_layers = len(W)
    steps: list[Step] = []

    def add(section, name, expression, substituted, value):
        steps.append(Step(section, name, expression, substituted, float(value)))

    # Forward pass.
    for l in range(n_layers):
        section = f"Forward pass: {'output layer' if l == n_layers - 1 else 'hidden layer ' + str(l + 1) if n_layers > 2 else 'hidden layer'}"
        act = net.output_activation if l == n_layers - 1 else net.activation
        for j, name in enumerate(neurons[l + 1]):
            terms = [
                f"{wn[l][j, i]} * {'out_' + src if l else src}" for i, src in enumerate(neurons[l])
            ]
            nums = [f"{fmt(W[l][j, i])} * {fmt(outs[l][i])}" for i in range(len(neurons[l]))]
            if B[l] is not None:
                b = B[l] if B[l].ndim == 0 else B[l][j]
                terms.append(f"{bn[l][j]} * 1")
                nums.append(f"{fmt(b)} * 1")
            add(section, f"net_{name}", " + ".join(terms), " + ".join(nums), nets[l + 1][j])
        for j, name in enumerate(neurons[l + 1]):
            add(
                section,
                f"out_{name}",
                f"{act}(net_{name})",
                f"{act}({fmt(nets[l + 1][j])})",
                outs[l + 1][j],
            )

    # Error.
    section = "Total error"
    out_names, loss = neurons[-1], net.loss_spec
    last = layers[-1]
    separable = net.loss != "cross_entropy"
    if separable:
        n_out = len(out_names)
        for k, name in enumerate(out_names):
            e_k = loss.value(
                last.net[k : k + 1], last.out[k : k + 1], jnp.asarray(t[k : k + 1], last.out.dtype)
            )
            scale = (
                n_out if net.loss == "mse" else 1
            )  # the library's mse divides one output by 1, not n
            add(
                section,
                f"E_{name}",
                loss.display("error", n_out, f"out_{name}", f"target_{name}"),
                loss.display("error", n_out, fmt(outs[-1][k]), fmt(t[k])),
                float(e_k) / scale,
            )
        terms = " + ".join(f"E_{n}" for n in out_names)
        nums = " + ".join(fmt(s.value) for s in steps if s.name.startswith("E_o"))
    else:
        terms = " - ".join(
            ["-target_" + out_names[0] + " log(out_" + out_names[0] + ")"]
            + [f"target_{n} log(out_{n})" for n in out_names[1:]]
        )
        nums = " + ".join(f"-{fmt(t[k])} * log({fmt(outs[-1][k])})" for k in range(len(out_names)))
    e_total = float(net.loss_fn(params, x, y))
    add(section, "E_total", terms, nums, e_total)

    # Backward pass: deltas from the library's delta functions, gradients from backprop.
    deltas = [None] * n_layers
    deltas[-1] = np.asarray(
        output_delta(net, Layer(last.net[None], last.out[None]), y[None])[0], float
    )
    for l in range(n_layers - 1, 0, -1):
        lay = layers[l - 1]
        deltas[l - 1] = np.asarray(
            hidden_delta(
                net,
                params[l]["w"],
                jnp.asarray(deltas[l][None], x.dtype),
                Layer(lay.net[None], lay.out[None]),
            )[0],
            float,
        )
    for l in range(n_layers - 1, -1, -1):
        is_out = l == n_layers - 1
        section = (
            "Backward pass: output layer"
            if is_out
            else f"Backward pass: hidden layer{' ' + str(l + 1) if n_layers > 2 else ''}"
        )
        act = net.output_activation_spec if is_out else net.activation_spec
        for j, name in enumerate(neurons[l + 1]):
            delta_name = (
                f"dE_{name}/dnet_{name}" if is_out and separable else f"dE_total/dnet_{name}"
            )
            if is_out and loss.fused_delta is not None:
                add(
                    section,
                    delta_name,
                    f"out_{name} - target_{name}",
                    f"{fmt(outs[-1][j])} - {fmt(t[j])}",
                    deltas[l][j],
                )
            else:
                if is_out:
                    dE_dout = float(
                        np.asarray(loss.dE_dout(last.out, jnp.asarray(t, last.out.dtype)))[j]
                    )
                    n_out = len(out_names)
                    expr = loss.display("dE_dout", n_out, f"out_{name}", f"target_{name}")
                    nums = loss.display("dE_dout", n_out, fmt(outs[-1][j]), fmt(t[j]))
                    add(section, f"dE_total/dout_{name}", expr, nums, dE_dout)
                else:
                    terms, nums, total = [], [], 0.0
                    for k, nxt in enumerate(neurons[l + 2]):
                        term_name = (
                            f"dE_{nxt}/dout_{name}"
                            if l + 1 == n_layers - 1 and separable
                            else f"dE_total/dout_{name} via {nxt}"
                        )
                        add(
                            section,
                            f"dnet_{nxt}/dout_{name}",
                            wn[l + 1][k, j],
                            fmt(W[l + 1][k, j]),
                            W[l + 1][k, j],
                        )
                        dname = (
                            f"dE_{nxt}/dnet_{nxt}"
                            if l + 1 == n_layers - 1 and separable
                            else f"dE_total/dnet_{nxt}"
                        )
                        add(
                            section,
                            term_name,
                            f"{dname} * dnet_{nxt}/dout_{name}",
                            f"{fmt(deltas[l + 1][k])} * {fmt(W[l + 1][k, j])}",
                            deltas[l + 1][k] * W[l + 1][k, j],
                        )
                        terms.append(term_name)
                        nums.append(fmt(deltas[l + 1][k] * W[l + 1][k, j]))
                        total += deltas[l + 1][k] * W[l + 1][k, j]
                    dE_dout = float((deltas[l + 1] @ W[l + 1])[j])
                    _check(total, dE_dout, f"dE_total/dout_{name}")
                    add(
                        section,
                        f"dE_total/dout_{name}",
                        " + ".join(terms),
                        " + ".join(nums),
                        dE_dout,
                    )
                deriv = float(np.asarray(act.derivative(layers[l].net, layers[l].out))[j])
                expr, nums = act.display_derivative(
                    f"out_{name}", f"net_{name}", fmt(outs[l + 1][j]), fmt(nets[l + 1][j])
                )
                add(section, f"dout_{name}/dnet_{name}", expr, nums, deriv)
                _check(dE_dout * deriv, deltas[l][j], delta_name)
                add(
                    section,
                    delta_name,
                    f"dE_total/dout_{name} * dout_{name}/dnet_{name}",
                    f"{fmt(dE_dout)} * {fmt(deriv)}",
                    deltas[l][j],
                )
            for i, src in enumerate(neurons[l]):
                w, src_out = wn[l][j, i], outs[l][i]
                add(section, f"dnet_{name}/d{w}", "out_" + src if l else src, fmt(src_out), src_out)
                g = float(np.asarray(grads[l]["w"])[j, i])
                _check(deltas[l][j] * src_out, g, f"dE_total/d{w}")
                add(
                    section,
                    f"dE_total/d{w}",
                    f"{delta_name} * dnet_{name}/d{w}",
                    f"{fmt(deltas[l][j])} * {fmt(src_out)}",
                    g,
                )
        if B[l] is not None and net.train_bias:
            gb = np.asarray(grads[l]["b"], float)
            for j, b in enumerate(dict.fromkeys(bn[l])):
                value = float(gb) if gb.ndim == 0 else float(gb[j])
                parts = deltas[l] if gb.ndim == 0 else deltas[l][j : j + 1]
                _check(float(np.sum(parts)), value, f"dE_total/d{b}")
                add(
                    section,
                    f"dE_total/d{b}",
                    " + ".join(
                        f"dE_total/dnet_{n}"
                        for n in (neurons[l + 1] if gb.ndim == 0 else [neurons[l + 1][j]])
                    ),
                    " + ".join(fmt(p) for p in parts),
                    value,
                )

    # Updates.
    section = "Updated weights"
    for l in range(n_layers):
        for j in range(W[l].shape[0]):
            for i in range(W[l].shape[1]):
                w = wn[l][j, i]
                g = float(np.asarray(grads[l]["w"])[j, i])
                add(
                    section,
                    f"{w}+",
                    f"{w} - eta * dE_total/d{w}",
                    f"{fmt(W[l][j, i])} - {fmt(learning_rate)} * {fmt(g)}",
                    float(np.asarray(new[l]["w"])[j, i]),
                )
        if B[l] is not None and net.train_bias:
            nb = np.asarray(new[l]["b"], float)
            gb = np.asarray(grads[l]["b"], float)
            for j, b in enumerate(dict.fromkeys(bn[l])):
                old = float(B[l]) if B[l].ndim == 0 else float(B[l][j])
                g = float(gb) if gb.ndim == 0 else float(gb[j])
                add(
                    section,
                    f"{b}+",
                    f"{b} - eta * dE_total/d{b}",
                    f"{fmt(old)} - {fmt(learning_rate)} * {fmt(g)}",
                    float(nb) if nb.ndim == 0 else float(nb[j]),
                )
    return Derivation(
        net,
        [w.tolist() for w in W],
        [None if b is None else b.tolist() for b in B],
        np.asarray(x, float).tolist(),
        np.asarray(y).tolist(),
        float(learning_rate),
        tuple(steps),
    )


def render_text(d: Derivation) -> str:
    """Aligned plain text for a terminal: ``name = expression`` then ``= numbers = value``."""
    lines = []
    for section in d.sections:
        steps = [s for s in d.steps if s.section == section]
        width = max(len(s.name) for s in steps)
        lines += ["", section, "-" * len(section)]
        for s in steps:
            lines += [f"  {line}" for line in step_lines(s, width)]
    return "\n".join(lines[1:]) + "\n"


def to_html(net: MLP, params, x, y, learning_rate: float = 0.5, *, steps: int = 10_000) -> str:
    """The derivation as a self-contained interactive HTML page (see :mod:`jaxmlp.explain.explainer`),
    with a training panel over ``steps`` steps of SGD on the example."""
    from jaxmlp.explain import explainer

    return explainer.render(derive(net, params, x, y, learning_rate), params, x, y, steps=steps)


def tex_name(name: str) -> str:
    """A plain name as LaTeX: ``dE_total/dw5`` -> ``\\frac{\\partial E_{total}}{\\partial w_{5}}``."""
    if "/" in name and name.startswith("d"):
        top, bottom = name.split("/", 1)
        via = ""
        if " via " in bottom:
            bottom, via = bottom.split(" via ")
            via = rf"\big|_{{{_sub(via)}}}"
        return rf"\frac{{\partial {tex_name(top[1:])}}}{{\partial {tex_name(bottom[1:])}}}{via}"
    m = re.fullmatch(r"(E|net|out|target|delta)_(.+)", name)
    if m:
        return f"{m.group(1)}_{{{_sub(m.group(2))}}}"
    m = re.fullmatch(r"([wbi])_?([A-Za-z0-9_]+)(\+?)", name)
    if m:
        return f"{m.group(1)}_{{{_sub(m.group(2))}}}" + ("^{+}" if m.group(3) else "")
    return name


def _sub(s: str) -> str:
    return s.replace("_", r"\_")


def tex_expression(expr: str) -> str:
    """An expression's names and operators as LaTeX."""
    tokens = re.split(r"(\s+|[()*+^-])", expr)
    out = []
    for tok in tokens:
        if tok == "*":
            out.append(r"\cdot")
        elif re.fullmatch(r"d[A-Za-z_0-9]+/d[A-Za-z_0-9]+", tok) or re.fullmatch(
            r"(E|net|out|target|delta)_\w+|[wbi]_?\w*\d\+?", tok
        ):
            out.append(tex_name(tok))
        elif tok.rstrip("'") in FUNCTIONS:
            out.append(rf"\operatorname{{{_sub(tok.rstrip(chr(39)))}}}" + "'" * tok.endswith("'"))
        elif tok == "eta":
            out.append(r"\eta")
        else:
            out.append(tok)
    return "".join(out)


def render_markdown(d: Derivation) -> str:
    """Markdown with one ``##`` section per layer and ``$$ ... $$`` display math (renders on GitHub)."""
    lines = [f"# Backpropagation step by step: {'-'.join(map(str, d.net.sizes))} network", ""]
    for section in d.sections:
        lines += [f"## {section}", ""]
        for s in d.steps:
            if s.section == section:
                numbers = (
                    "" if s.substituted == fmt(s.value) else f"{tex_expression(s.substituted)} = "
                )
                lines += [
                    f"$${tex_name(s.name)} = {tex_expression(s.expression)} = {numbers}{fmt(s.value)}$$",
                    "",
                ]
    return "\n".join(lines)


def render_json(d: Derivation) -> str:
    """Every quantity with its name and value, and the weights, inputs and targets used."""
    return json.dumps(d.as_dict(), indent=2)


MAX_HESSIAN_PARAMS = 100  # a dense Hessian printed in a terminal: small networks only


def curvature(net: MLP, params, x, y) -> dict:
    """The Hessian of E over the trained parameters (frozen biases left out) on one example,
    from the handwritten R-operator, checked against ``jax.jvp(jax.grad)`` first, and its eigenvalues.

    Returns JSON-ready ``{"network", "parameters", "hessian", "eigenvalues", "top_eigenvalue_lanczos",
    "step_size_bound"}``: ``hessian[i][j]`` is d^2E / dtheta_i dtheta_j, eigenvalues ascending
    (``numpy.linalg.eigvalsh``), the largest also by Lanczos (:func:`jaxmlp.top_eigenvalue`), and
    ``2 / lambda_max``, the classical bound on a stable gradient-descent step.
    """
    from jax.flatten_util import ravel_pytree

    from jaxmlp.curvature import hessian, top_eigenvalue
    from jaxmlp.explain.names import param_names
    from jaxmlp.gradcheck import check_hvp

    params, x, y = net._check(params, x, y)
    xb, yb = (x[None], y[None]) if x.ndim == 1 else (x, y)
    names = param_names(net)
    keep = [i for i, n in enumerate(names) if net.train_bias or not n.startswith("b")]
    if len(keep) > MAX_HESSIAN_PARAMS:
        raise ValueError(
            f"--second-order prints a dense Hessian: at most {MAX_HESSIAN_PARAMS} trained parameters, "
            f"this network has {len(keep)}"
        )
    flat, unravel = ravel_pytree(params)
    rng = np.random.default_rng(0)
    check_hvp(net, params, xb, yb, unravel(jnp.asarray(rng.standard_normal(flat.size), flat.dtype)))
    h = np.asarray(hessian(net, params, xb, yb))[np.ix_(keep, keep)]
    eig = np.linalg.eigvalsh(h)
    top = float(top_eigenvalue(net, params, xb, yb, iterations=flat.size))
    return {
        "network": dataclasses.asdict(net),
        "loss": float(net.loss_fn(params, xb, yb)),
        "parameters": [names[i] for i in keep],
        "hessian": h.tolist(),
        "eigenvalues": eig.tolist(),
        "top_eigenvalue_lanczos": top,
        "step_size_bound": 2 / top if top > 0 else None,
    }


def render_curvature(c: dict) -> str:
    """The Hessian as an aligned table with the parameters' names, then its eigenvalues."""
    names, h = c["parameters"], c["hessian"]
    width = max(11, *(len(n) for n in names))
    head = " " * 6 + "".join(f"{n:>{width + 1}}" for n in names)
    lines = [
        f"Hessian of E_total = {fmt(c['loss'])} over the trained parameters "
        "(the R-operator, checked against jax.jvp(jax.grad)):",
        "",
        head,
    ]
    lines += [f"{n:<6}" + "".join(f"{v:>{width + 1}.4e}" for v in row) for n, row in zip(names, h)]
    lines += [
        "",
        "eigenvalues: " + ", ".join(f"{v:.6e}" for v in c["eigenvalues"]),
        f"largest (Lanczos): {c['top_eigenvalue_lanczos']:.9e}",
    ]
    if c["step_size_bound"] is not None:
        lines.append(
            f"2 / lambda_max = {c['step_size_bound']:.6g} (gradient descent is stable below it on the quadratic model)"
        )
    return "\n".join(lines) + "\n"
