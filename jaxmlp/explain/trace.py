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
import re

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp.checks.gradient_check import check_gradients
from jaxmlp.explain.backward import backward_steps
from jaxmlp.explain.mathml import FUNCTIONS
from jaxmlp.explain.names import fmt, step_lines
from jaxmlp.explain.steps import (
    Derivation,
    Values,
    error_steps,
    forward_steps,
    update_steps,
)
from jaxmlp.mlp import MLP

__all__ = [
    "derive",
    "render_text",
    "MAX_PAGE_PARAMETERS",
    "to_html",
    "tex_name",
    "tex_expression",
    "render_markdown",
    "render_json",
    "MAX_HESSIAN_PARAMS",
    "curvature",
    "render_curvature",
]


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
    v = Values.of(net, params, x, y, learning_rate)
    forward_steps(v)
    error_steps(v)
    backward_steps(v)
    update_steps(v)
    return Derivation(
        net,
        [w.tolist() for w in v.W],
        [None if b is None else b.tolist() for b in v.B],
        np.asarray(x, float).tolist(),
        np.asarray(y).tolist(),
        float(learning_rate),
        tuple(v.steps),
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


MAX_PAGE_PARAMETERS = 10_000  # the page spells out each parameter's numbers: about 4 kB each


def to_html(net: MLP, params, x, y, learning_rate: float = 0.5, *, steps: int = 10_000) -> str:
    """The derivation as a self-contained interactive HTML page (see :mod:`jaxmlp.explain.explainer`),
    with a training panel over ``steps`` steps of SGD on the example.

    Networks of up to ``MAX_PAGE_PARAMETERS`` parameters (a page of about 40 MB); a larger one is
    refused before anything is computed (40-300-300-10 made a 560 MB page and took 4.6 GB)."""
    from jaxmlp.explain import explainer

    n = sum(int(np.size(a)) for a in jax.tree_util.tree_leaves(params))
    if n > MAX_PAGE_PARAMETERS:
        raise ValueError(
            f"the html page spells out every number, up to {MAX_PAGE_PARAMETERS:,} parameters; "
            f"this {','.join(map(str, net.sizes))} network has {n:,}: trace it as text or --json, "
            "or draw a smaller network"
        )

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

    from jaxmlp.checks.hvp_check import check_hvp
    from jaxmlp.explain.names import param_names
    from jaxmlp.training.curvature import hessian, top_eigenvalue

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
