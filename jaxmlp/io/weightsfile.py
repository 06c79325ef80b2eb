"""Weights files for ``jaxmlp trace``: a network's weights and examples as JSON.

Format (every key but ``weights`` optional)::

    {"weights": [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
     "biases": [0.35, 0.60],          # scalars: shared; lists: per neuron; absent: none
     "x": [0.05, 0.10],               # one example, or a list of examples
     "y": [0.01, 0.99],
     "learning_rate": 0.5,
     "activation": "logistic", "output_activation": "logistic", "loss": "half_sse",
     "train_bias": false}

``weights[l]`` has shape ``(n_out, n_in)``. JSON is parsed, never executed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from jaxmlp.mlp import MLP

__all__ = ["KEYS", "load_trace_file"]

KEYS = (
    "weights",
    "biases",
    "x",
    "y",
    "learning_rate",
    "activation",
    "output_activation",
    "loss",
    "train_bias",
)


def _matrix(value, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError(f"{where} must be a rectangular list of numbers") from None
    return arr


def _flag(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}")
    return value


def load_trace_file(
    path: str,
    *,
    activation: str = "logistic",
    output_activation: str = "logistic",
    loss: str = "half_sse",
    train_bias: bool = False,
    learning_rate: float = 0.5,
) -> tuple:
    """``(net, params, x, y, learning_rate)`` from a weights file: ``x`` ``(n_in,)`` or
    ``(examples, n_in)`` and ``y`` as the file holds them; the keywords where the file is
    silent."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(
            f"weights file {path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"
        ) from None
    if not isinstance(data, dict) or "weights" not in data:
        raise ValueError(f"weights file {path} must be a JSON object with a 'weights' list")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:  # a misspelt key (say "bias") would otherwise be ignored
        raise ValueError(
            f"weights file {path}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"the keys are {', '.join(KEYS)}"
        )
    weights = _weights(data["weights"], path)
    sizes = (weights[0].shape[1],) + tuple(w.shape[0] for w in weights)
    biases = data.get("biases")
    bias = _bias_kind(biases, len(weights), path)
    net = MLP(
        sizes,
        data.get("activation", activation),
        data.get("output_activation", output_activation),
        data.get("loss", loss),
        bias,
        _flag(data.get("train_bias", train_bias), f"weights file {path}: train_bias"),
    )
    params = []
    for l, w in enumerate(weights):
        layer = {"w": jnp.asarray(w)}
        if biases is not None:
            b = _matrix(biases[l], f"weights file {path}: biases[{l}]")
            if b.shape not in ((), (sizes[l + 1],)):
                raise ValueError(
                    f"weights file {path}: biases[{l}] must be a number or {sizes[l + 1]} numbers, got shape {b.shape}"
                )
            layer["b"] = jnp.asarray(b)
        params.append(layer)
    x, y = _example(data, net, path)
    lr = data.get("learning_rate", learning_rate)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise ValueError(
            f"weights file {path}: learning_rate must be a finite number > 0, got {lr!r}"
        )
    return net, tuple(params), jnp.asarray(x), y, float(lr)


def _weights(ws, path) -> list[np.ndarray]:
    """The file's ``weights``: a non-empty list of matrices ``(n_out, n_in)``, each layer's
    inputs the previous layer's outputs."""
    if not isinstance(ws, list) or not ws:
        raise ValueError(f"weights file {path}: 'weights' must be a non-empty list of matrices")
    weights = [_matrix(w, f"weights file {path}: weights[{l}]") for l, w in enumerate(ws)]
    for l, w in enumerate(weights):
        if w.ndim != 2 or 0 in w.shape:
            raise ValueError(
                f"weights file {path}: weights[{l}] must be a matrix (n_out, n_in), got shape {w.shape}"
            )
    for l in range(1, len(weights)):
        if weights[l].shape[1] != weights[l - 1].shape[0]:
            raise ValueError(
                f"weights file {path}: weights[{l}] has {weights[l].shape[1]} inputs but layer {l - 1} has {weights[l - 1].shape[0]} outputs"
            )
    return weights


def _bias_kind(biases, layers: int, path) -> str:
    """The network's ``bias`` of the file's ``biases``: ``"none"`` without, ``"shared"`` (a
    number per layer) or ``"per_neuron"`` (a list per layer), never mixed."""
    if biases is None:
        return "none"
    if not isinstance(biases, list) or len(biases) != layers:
        raise ValueError(
            f"weights file {path}: 'biases' must list one bias (or one per neuron) for each of the {layers} layers"
        )
    shared = [np.ndim(b) == 0 for b in biases]
    if all(shared):
        return "shared"
    if not any(shared):
        return "per_neuron"
    raise ValueError(
        f"weights file {path}: 'biases' mixes shared (numbers) and per-neuron (lists) layers"
    )


def _example(data: dict, net: MLP, path):
    """The file's example ``(x, y)``: ``x`` numbers, ``y`` numbers (class indices for cross
    entropy, else float64), as many rows of ``y`` as of a batch ``x``."""
    if "x" not in data or "y" not in data:
        raise ValueError(f"weights file {path} needs an example: keys 'x' and 'y'")
    x = _matrix(data["x"], f"weights file {path}: x")
    y_raw = np.asarray(data["y"])
    if y_raw.dtype.kind not in "iuf":
        raise ValueError(f"weights file {path}: y must hold numbers")
    if x.ndim == 2 and len(y_raw) != len(x):
        raise ValueError(f"weights file {path}: {len(x)} examples in x but {len(y_raw)} in y")
    y = (
        jnp.asarray(y_raw)
        if y_raw.dtype.kind in "iu" and net.loss == "cross_entropy"
        else jnp.asarray(y_raw, jnp.float64)
    )
    return x, y
