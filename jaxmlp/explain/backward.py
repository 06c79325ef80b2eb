"""The backward pass of the derivation (:func:`jaxmlp.explain.trace.derive`): for each layer from the
output, each neuron's ``dE/dout`` (a sum over the layer above for hidden neurons), ``dout/dnet`` and
delta, then each weight's and bias's gradient; every printed product is checked against the library."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax.numpy as jnp
import numpy as np

from jaxmlp.backprop import hidden_delta, output_delta
from jaxmlp.explain.names import fmt
from jaxmlp.forward import Layer

if TYPE_CHECKING:
    from jaxmlp.explain.steps import Values

__all__ = ["backward_steps"]


def backward_steps(v: Values) -> None:
    """Backward pass, layer by layer from the output: deltas from the library's delta functions,
    each printed product checked against them, gradients from backprop."""
    n_layers, layers, grads, params, x, y = len(v.W), v.layers, v.grads, v.params, v.x, v.y
    loss, out_names, last = v.net.loss_spec, v.neurons[-1], layers[-1]
    separable = v.net.loss != "cross_entropy"
    deltas: list[Any] = [None] * n_layers
    deltas[-1] = np.asarray(
        output_delta(v.net, Layer(last.net[None], last.out[None]), y[None])[0], float
    )
    for l in range(n_layers - 1, 0, -1):
        lay = layers[l - 1]
        deltas[l - 1] = np.asarray(
            hidden_delta(
                v.net,
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
        act = v.net.output_activation_spec if is_out else v.net.activation_spec
        for j, name in enumerate(v.neurons[l + 1]):
            delta_name = (
                f"dE_{name}/dnet_{name}" if is_out and separable else f"dE_total/dnet_{name}"
            )
            if is_out and loss.fused_delta is not None:
                v.add(
                    section,
                    delta_name,
                    f"out_{name} - target_{name}",
                    f"{fmt(v.outs[-1][j])} - {fmt(v.t[j])}",
                    deltas[l][j],
                )
            else:
                if is_out:
                    assert loss.dE_dout is not None  # not fused: the loss has dE/dout
                    dE_dout = float(
                        np.asarray(loss.dE_dout(last.out, jnp.asarray(v.t, last.out.dtype)))[j]
                    )
                    n_out = len(out_names)
                    expr = loss.display("dE_dout", n_out, f"out_{name}", f"target_{name}")
                    nums = loss.display("dE_dout", n_out, fmt(v.outs[-1][j]), fmt(v.t[j]))
                    v.add(section, f"dE_total/dout_{name}", expr, nums, dE_dout)
                else:
                    terms: list[str] = []
                    products: list[str] = []
                    total = 0.0
                    for k, nxt in enumerate(v.neurons[l + 2]):
                        term_name = (
                            f"dE_{nxt}/dout_{name}"
                            if l + 1 == n_layers - 1 and separable
                            else f"dE_total/dout_{name} via {nxt}"
                        )
                        v.add(
                            section,
                            f"dnet_{nxt}/dout_{name}",
                            v.wn[l + 1][k, j],
                            fmt(v.W[l + 1][k, j]),
                            v.W[l + 1][k, j],
                        )
                        dname = (
                            f"dE_{nxt}/dnet_{nxt}"
                            if l + 1 == n_layers - 1 and separable
                            else f"dE_total/dnet_{nxt}"
                        )
                        v.add(
                            section,
                            term_name,
                            f"{dname} * dnet_{nxt}/dout_{name}",
                            f"{fmt(deltas[l + 1][k])} * {fmt(v.W[l + 1][k, j])}",
                            deltas[l + 1][k] * v.W[l + 1][k, j],
                        )
                        terms.append(term_name)
                        products.append(fmt(deltas[l + 1][k] * v.W[l + 1][k, j]))
                        total += deltas[l + 1][k] * v.W[l + 1][k, j]
                    dE_dout = float((deltas[l + 1] @ v.W[l + 1])[j])
                    v.check(total, dE_dout, f"dE_total/dout_{name}")
                    v.add(
                        section,
                        f"dE_total/dout_{name}",
                        " + ".join(terms),
                        " + ".join(products),
                        dE_dout,
                    )
                deriv = float(np.asarray(act.derivative(layers[l].net, layers[l].out))[j])
                expr, nums = act.display_derivative(
                    f"out_{name}", f"net_{name}", fmt(v.outs[l + 1][j]), fmt(v.nets[l + 1][j])
                )
                v.add(section, f"dout_{name}/dnet_{name}", expr, nums, deriv)
                v.check(dE_dout * deriv, deltas[l][j], delta_name)
                v.add(
                    section,
                    delta_name,
                    f"dE_total/dout_{name} * dout_{name}/dnet_{name}",
                    f"{fmt(dE_dout)} * {fmt(deriv)}",
                    deltas[l][j],
                )
            for i, src in enumerate(v.neurons[l]):
                w, src_out = v.wn[l][j, i], v.outs[l][i]
                v.add(
                    section, f"dnet_{name}/d{w}", "out_" + src if l else src, fmt(src_out), src_out
                )
                g = float(np.asarray(grads[l]["w"])[j, i])
                v.check(deltas[l][j] * src_out, g, f"dE_total/d{w}")
                v.add(
                    section,
                    f"dE_total/d{w}",
                    f"{delta_name} * dnet_{name}/d{w}",
                    f"{fmt(deltas[l][j])} * {fmt(src_out)}",
                    g,
                )
        if v.B[l] is not None and v.net.train_bias:
            gb = np.asarray(grads[l]["b"], float)
            for j, b in enumerate(dict.fromkeys(v.bn[l])):
                value = float(gb) if gb.ndim == 0 else float(gb[j])
                parts = deltas[l] if gb.ndim == 0 else deltas[l][j : j + 1]
                v.check(float(np.sum(parts)), value, f"dE_total/d{b}")
                v.add(
                    section,
                    f"dE_total/d{b}",
                    " + ".join(
                        f"dE_total/dnet_{n}"
                        for n in (v.neurons[l + 1] if gb.ndim == 0 else [v.neurons[l + 1][j]])
                    ),
                    " + ".join(fmt(p) for p in parts),
                    value,
                )
