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
    n_layers, loss = len(v.W), v.net.loss_spec
    separable = v.net.loss != "cross_entropy"
    deltas = _deltas(v)
    for l in range(n_layers - 1, -1, -1):
        is_out = l == n_layers - 1
        section = (
            "Backward pass: output layer"
            if is_out
            else f"Backward pass: hidden layer{' ' + str(l + 1) if n_layers > 2 else ''}"
        )
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
                    dE_dout = _output_dE_dout(v, section, j, name)
                else:
                    dE_dout = _hidden_dE_dout(v, section, deltas, l, j, name, separable)
                _delta(v, section, deltas, l, j, name, delta_name, dE_dout)
            _weight_gradients(v, section, deltas, l, j, name, delta_name)
        if v.B[l] is not None and v.net.train_bias:
            _bias_gradients(v, section, deltas, l)


def _deltas(v: Values) -> list[Any]:
    """Every layer's deltas for the example, from the library's delta functions."""
    n_layers, layers, params, x, y = len(v.W), v.layers, v.params, v.x, v.y
    last = layers[-1]
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
    return deltas


def _output_dE_dout(v: Values, section: str, j: int, name: str) -> float:
    """Output ``j``'s dE/dout from the loss, printed."""
    loss, last = v.net.loss_spec, v.layers[-1]
    assert loss.dE_dout is not None  # not fused: the loss has dE/dout
    dE_dout = float(np.asarray(loss.dE_dout(last.out, jnp.asarray(v.t, last.out.dtype)))[j])
    n_out = len(v.neurons[-1])
    expr = loss.display("dE_dout", n_out, f"out_{name}", f"target_{name}")
    nums = loss.display("dE_dout", n_out, fmt(v.outs[-1][j]), fmt(v.t[j]))
    v.add(section, f"dE_total/dout_{name}", expr, nums, dE_dout)
    return dE_dout


def _hidden_dE_dout(v: Values, section, deltas, l: int, j: int, name: str, separable) -> float:
    """Hidden unit ``j`` of layer ``l``: dE/dout_j = sum over the next layer's units k of
    delta_k w_kj, each product printed and the sum checked."""
    n_layers = len(v.W)
    terms: list[str] = []
    products: list[str] = []
    total = 0.0
    into_output = l + 1 == n_layers - 1 and separable
    for k, nxt in enumerate(v.neurons[l + 2]):
        term_name = f"dE_{nxt}/dout_{name}" if into_output else f"dE_total/dout_{name} via {nxt}"
        w = v.W[l + 1][k, j]
        v.add(section, f"dnet_{nxt}/dout_{name}", v.wn[l + 1][k, j], fmt(w), w)
        dname = f"dE_{nxt}/dnet_{nxt}" if into_output else f"dE_total/dnet_{nxt}"
        v.add(
            section,
            term_name,
            f"{dname} * dnet_{nxt}/dout_{name}",
            f"{fmt(deltas[l + 1][k])} * {fmt(w)}",
            deltas[l + 1][k] * w,
        )
        terms.append(term_name)
        products.append(fmt(deltas[l + 1][k] * w))
        total += deltas[l + 1][k] * w
    dE_dout = float((deltas[l + 1] @ v.W[l + 1])[j])
    v.check(total, dE_dout, f"dE_total/dout_{name}")
    v.add(section, f"dE_total/dout_{name}", " + ".join(terms), " + ".join(products), dE_dout)
    return dE_dout


def _delta(v: Values, section, deltas, l: int, j: int, name: str, delta_name, dE_dout) -> None:
    """delta_j = dE/dout_j * f'(net_j), printed and checked against the library's delta."""
    is_out = l == len(v.W) - 1
    act = v.net.output_activation_spec if is_out else v.net.activation_spec
    deriv = float(np.asarray(act.derivative(v.layers[l].net, v.layers[l].out))[j])
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


def _weight_gradients(v: Values, section, deltas, l: int, j: int, name: str, delta_name) -> None:
    """dE/dw_ji = delta_j * out_i for each input i of unit j, checked against backprop's."""
    for i, src in enumerate(v.neurons[l]):
        w, src_out = v.wn[l][j, i], v.outs[l][i]
        v.add(section, f"dnet_{name}/d{w}", "out_" + src if l else src, fmt(src_out), src_out)
        g = float(np.asarray(v.grads[l]["w"])[j, i])
        v.check(deltas[l][j] * src_out, g, f"dE_total/d{w}")
        v.add(
            section,
            f"dE_total/d{w}",
            f"{delta_name} * dnet_{name}/d{w}",
            f"{fmt(deltas[l][j])} * {fmt(src_out)}",
            g,
        )


def _bias_gradients(v: Values, section: str, deltas, l: int) -> None:
    """A bias's gradient: the sum of the deltas of the units it feeds (a shared bias: all of the
    layer's), checked against backprop's."""
    gb = np.asarray(v.grads[l]["b"], float)
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
