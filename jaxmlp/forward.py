"""The forward pass and the loss: pure functions of ``(net, params, x[, y])``.

For layer ``l`` with weights ``W_l`` of shape ``(n_out, n_in)`` and bias ``b_l``::

    net_l = out_{l-1} @ W_l^T + b_l        (batch, n_out)
    out_l = f_l(net_l)                     f_l = activation, output_activation for the last

with ``out_0 = x``. These functions take a batch ``x`` of shape ``(batch, n_in)``
and do no validation: they are what compiled loops call. The validated public
versions are the methods of :class:`jaxmlp.MLP`.

``matmul`` (default ``jnp.matmul``, the textbook product) is how every product is
taken; the training loops pass a kernel that computes the same product faster for
one example and narrow layers (:func:`jaxmlp.kernels.small.matmul`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    from jaxmlp.architecture import Architecture

__all__ = [
    "Array",
    "Matmul",
    "Layer",
    "bias_term",
    "forward_trace",
    "apply",
    "one_hot_targets",
    "per_example_loss_from_output",
    "per_example_loss",
    "batch_mean",
    "loss_fn",
]

Array = jax.Array
Matmul = Callable[[Array, Array], Array]


class Layer(NamedTuple):
    """One layer's values in a forward pass: ``net`` and ``out``, each ``(batch, n_out)``."""

    net: Array
    out: Array


def bias_term(net: Architecture, layer: dict) -> Array | float:
    """The bias as broadcastable to ``(batch, n_out)``: ``b`` (shared), ``b[None]`` (per neuron), 0 (none).

    With ``train_bias=False`` the bias passes through ``stop_gradient``, so
    autodiff gives it a zero gradient, exactly as the handwritten rule does.
    """
    if net.bias == "none":
        return 0.0
    b = layer["b"] if net.train_bias else jax.lax.stop_gradient(layer["b"])
    return b if net.bias == "shared" else b[None, :]


def forward_trace(
    net: Architecture, params, x: Array, *, matmul: Matmul = jnp.matmul
) -> tuple[Layer, ...]:
    """Every layer's ``(net, out)`` for a batch ``x`` of shape ``(batch, n_in)``."""
    layers = []
    out = x
    for i, layer in enumerate(params):
        act = net.output_activation_spec if i == len(params) - 1 else net.activation_spec
        z = matmul(out, layer["w"].T) + bias_term(net, layer)
        out = act.fn(z)
        layers.append(Layer(z, out))
    return tuple(layers)


def apply(net: Architecture, params, x: Array) -> Array:
    """The network's output ``out_L`` of shape ``(batch, n_out)`` for ``x`` of shape ``(batch, n_in)``."""
    return forward_trace(net, params, x)[-1].out


def one_hot_targets(net: Architecture, y: Array, dtype) -> Array:
    """Targets as ``(batch, n_out)`` floats: integer labels become one-hot rows."""
    if jnp.issubdtype(y.dtype, jnp.integer):
        return jax.nn.one_hot(y, net.sizes[-1], dtype=dtype)
    return y


def per_example_loss_from_output(net: Architecture, last: Layer, y: Array) -> Array:
    """Per-example loss ``(batch,)`` from the output layer's ``(net, out)``."""
    return net.loss_spec.value(last.net, last.out, one_hot_targets(net, y, last.out.dtype))


def per_example_loss(
    net: Architecture, params, x: Array, y: Array, *, matmul: Matmul = jnp.matmul
) -> Array:
    """E for each example: shape ``(batch,)``."""
    return per_example_loss_from_output(net, forward_trace(net, params, x, matmul=matmul)[-1], y)


def batch_mean(values: Array, weights: Array | None = None) -> Array:
    r"""The batch loss from per-example values ``(batch,)``: their mean, or with ``weights``
    ``(batch,)`` the weighted mean :math:`\sum_n w_n E_n / \sum_n w_n`."""
    if weights is None:
        return jnp.mean(values)
    return jnp.sum(weights * values) / jnp.sum(weights)


def loss_fn(
    net: Architecture,
    params,
    x: Array,
    y: Array,
    *,
    weights: Array | None = None,
    matmul: Matmul = jnp.matmul,
) -> Array:
    """The batch loss: the mean over examples of the per-example loss E (a scalar), or its
    weighted mean with per-example ``weights`` ``(batch,)`` (:func:`batch_mean`)."""
    return batch_mean(per_example_loss(net, params, x, y, matmul=matmul), weights)
