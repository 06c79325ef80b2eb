"""The seed's names for a network's neurons, weights and biases, for any network.

Inputs ``i1..``, hidden neurons ``h1..`` (``h1_1, h2_1, ..`` with several hidden
layers: layer, then neuron), outputs ``o1..``; weights ``w1..`` numbered layer by
layer, row by row (``w1, w2`` into ``h1``); biases ``b1, b2, ..`` per layer when
shared, ``b_h1, ..`` per neuron. Every front end (trace, the explainer, the
Hessian's labels) names things from here, and writes numbers as the seed does (:func:`fmt`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from jaxmlp.architecture import Architecture

__all__ = ["neuron_names", "weight_names", "bias_names", "param_names", "fmt", "step_lines"]


def neuron_names(net: Architecture) -> list[list[str]]:
    """Names per layer, inputs first: ``[["i1", "i2"], ["h1", "h2"], ["o1", "o2"]]``."""
    n_hidden = len(net.sizes) - 2
    names = [[f"i{j + 1}" for j in range(net.sizes[0])]]
    for l in range(n_hidden):
        prefix = "h" if n_hidden == 1 else f"h{l + 1}_"
        names.append([f"{prefix}{j + 1}" for j in range(net.sizes[l + 1])])
    names.append([f"o{j + 1}" for j in range(net.sizes[-1])])
    return names


def weight_names(net: Architecture) -> list[np.ndarray]:
    """``w1..`` per layer, shaped like each ``W`` ``(n_out, n_in)``, numbered row by row."""
    names, k = [], 1
    for n_in, n_out in net.layer_shapes:
        names.append(np.array([f"w{k + i}" for i in range(n_in * n_out)]).reshape(n_out, n_in))
        k += n_in * n_out
    return names


def bias_names(net: Architecture, neurons: list[list[str]]) -> list[list[str]]:
    """The bias name seen by each neuron of each layer."""
    if net.bias == "shared":
        return [[f"b{l + 1}"] * len(n) for l, n in enumerate(neurons[1:])]
    return [[f"b_{j}" for j in n] for n in neurons[1:]]


def param_names(net: Architecture) -> list[str]:
    """Names of the entries of ``ravel_pytree(params)`` in order: per layer ``"b"`` before ``"w"``
    (dict keys sorted), each leaf row-major; a shared bias is one name."""
    neurons = neuron_names(net)
    biases = bias_names(net, neurons)
    names = []
    for l, w in enumerate(weight_names(net)):
        if net.bias == "shared":
            names.append(biases[l][0])
        elif net.bias == "per_neuron":
            names += biases[l]
        names += [str(n) for n in w.ravel()]
    return names


def fmt(v: float) -> str:
    """A number as the seed prints it: up to nine decimals, trailing zeros dropped."""
    if v == 0:
        return "0"
    if abs(v) < 1e-4 or abs(v) >= 1e6:
        return f"{v:.9e}"
    return f"{v:.9f}".rstrip("0").rstrip(".")


def step_lines(s, width: int = 0) -> tuple[str, str]:
    """A trace step's two lines of text (any object with ``name``, ``expression``,
    ``substituted``, ``value``): ``name = expression`` and ``= numbers = value``, the names padded
    to ``width``; the numbers part is left out when it is just the value."""
    numbers = "" if s.substituted == fmt(s.value) else f"{s.substituted} = "
    return f"{s.name:<{width}} = {s.expression}", f"{'':<{width}} = {numbers}{fmt(s.value)}"
