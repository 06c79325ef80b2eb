r"""The gradient by hand: the delta rule of the seed, for any depth, activation and loss.

Legend (the seed's names -> arrays; layer ``l`` = 1..L, batch index ``n``):

=====================  ================================================  ================
seed                   here                                              shape
=====================  ================================================  ================
i1, i2                 ``x[n, 0]``, ``x[n, 1]`` (= ``out_0``)            (batch, n_in)
net_h1, out_h1         ``layers[0].net[n, 0]``, ``layers[0].out[n, 0]``  (batch, n_1)
net_o1, out_o1         ``layers[-1].net[n, 0]``, ``layers[-1].out[n, 0]``
w1, w2 (into h1)       ``params[0]["w"][0, 0]``, ``params[0]["w"][0, 1]``  (n_1, n_in)
w3, w4 (into h2)       ``params[0]["w"][1, 0]``, ``params[0]["w"][1, 1]``
w5, w6 (into o1)       ``params[1]["w"][0, 0]``, ``params[1]["w"][0, 1]``  (n_2, n_1)
w7, w8 (into o2)       ``params[1]["w"][1, 0]``, ``params[1]["w"][1, 1]``
b1, b2                 ``params[0]["b"]``, ``params[1]["b"]``            () shared
delta_o1 = dE/dnet_o1  ``delta[n, 0]`` at the output layer              (batch, n_L)
pd_E_wrt_w5            ``grads[1]["w"][0, 0]``
=====================  ================================================  ================

The rule, with ``E`` the batch mean of the per-example loss (so every delta
carries a factor ``1/batch``; with per-example weights :math:`w_n` the mean is weighted and
example ``n``'s delta carries :math:`w_n / \sum_m w_m` instead):

.. math::

   \delta_L &= \frac{1}{B}\,\frac{\partial E}{\partial out_L} \odot f_L'(net_L)
      \quad(\text{or } \tfrac{1}{B}(out_L - t) \text{ for softmax + cross entropy,
      logistic + binary cross entropy}) \\
   \delta_{l} &= (\delta_{l+1} W_{l+1}) \odot f_l'(net_l) \\
   \frac{\partial E}{\partial W_l} &= \delta_l^T\, out_{l-1}, \qquad
   \frac{\partial E}{\partial b_l} = \textstyle\sum_n \delta_l
      \;(\text{and also } \textstyle\sum_k \text{ for a shared bias})

Every hidden delta uses the weights as they were in the forward pass: all
gradients first, then all updates (the seed's "we use the original weights").
:func:`sgd_step_updated_weights` is the other order, kept because the seed's
first published code used it. Nothing here calls ``jax.grad`` or ``vjp``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from jaxmlp.forward import (
    Layer,
    Matmul,
    batch_mean,
    forward_trace,
    one_hot_targets,
    per_example_loss_from_output,
)
from jaxmlp.update import sgd_update

if TYPE_CHECKING:
    from jaxmlp.architecture import Architecture

__all__ = [
    "Array",
    "output_delta",
    "hidden_delta",
    "layer_gradient",
    "value_and_backprop",
    "backward_sweep",
    "backprop",
    "sgd_step_updated_weights",
]

Array = jax.Array


def output_delta(net: Architecture, last: Layer, y: Array) -> Array:
    """Per-example output delta ``dE/dnet_L`` of shape ``(batch, n_out)`` (not yet divided by batch).

    ``dE/dout * f'(net)``, or the fused form where the loss defines one.
    """
    t = one_hot_targets(net, y, last.out.dtype)
    loss = net.loss_spec
    if loss.fused_delta is not None:
        return loss.fused_delta(last.net, last.out, t)
    assert loss.dE_dout is not None, f"loss {loss.name!r} has neither dE/dout nor a fused delta"
    return loss.dE_dout(last.out, t) * net.output_activation_spec.derivative(last.net, last.out)


def hidden_delta(
    net: Architecture,
    w_next: Array,
    delta_next: Array,
    layer: Layer,
    *,
    matmul: Matmul = jnp.matmul,
) -> Array:
    """``delta_l = (delta_{l+1} @ W_{l+1}) * f'(net_l)``: ``(batch, n_{l+1}) -> (batch, n_l)``."""
    back = matmul(delta_next, w_next)
    return back * net.activation_spec.derivative(layer.net, layer.out)


def layer_gradient(
    net: Architecture,
    layer: dict,
    delta: Array,
    prev_out: Array,
    *,
    matmul: Matmul = jnp.matmul,
) -> dict:
    """``dE/dW = delta^T @ out_prev`` ``(n_out, n_in)`` and ``dE/db`` (zero when biases are frozen)."""
    grads = {"w": matmul(delta.T, prev_out)}
    if net.bias != "none":
        if not net.train_bias:
            grads["b"] = jnp.zeros_like(layer["b"])
        elif net.bias == "shared":
            grads["b"] = jnp.sum(delta)
        else:
            grads["b"] = jnp.sum(delta, axis=0)
    return grads


def value_and_backprop(
    net: Architecture,
    params,
    x: Array,
    y: Array,
    *,
    weights: Array | None = None,
    matmul: Matmul = jnp.matmul,
) -> tuple[Array, tuple]:
    """The batch loss and its gradient by the delta rule, from one forward pass.

    Args:
      net: the configuration.
      params: tuple of per-layer dicts ``{"w": (n_out, n_in), "b": () | (n_out,)}``.
      x: ``(batch, n_in)``.
      y: ``(batch, n_out)``, or integer labels ``(batch,)`` for cross entropy.
      weights: per-example weights ``(batch,)``: ``E`` is their weighted mean
        (:func:`jaxmlp.forward.batch_mean`); None, the plain mean.
      matmul: how products are taken (:mod:`jaxmlp.forward`): ``jnp.matmul``, or a kernel
        computing the same products (:func:`jaxmlp.kernels.small.matmul`).

    Returns:
      ``(E, grads)``, ``grads`` with the structure and shapes of ``params``.
    """
    return backward_sweep(net, params, x, y, weights=weights, matmul=matmul)


def backward_sweep(
    net: Architecture,
    params,
    x: Array,
    y: Array,
    update=None,
    *,
    weights: Array | None = None,
    matmul: Matmul = jnp.matmul,
) -> tuple[Array, tuple]:
    """One forward pass, then the delta rule from the output layer down; returns ``(E, per-layer results)``.

    Without ``update`` each layer's result is its gradient. With
    ``update(layer_params, layer_grads) -> new_layer_params``, each layer is
    updated as soon as its gradient is known, and the next delta is propagated
    through the *updated* weights (the online order).
    """
    layers = forward_trace(net, params, x, matmul=matmul)
    loss = batch_mean(per_example_loss_from_output(net, layers[-1], y), weights)
    if weights is None:
        delta = output_delta(net, layers[-1], y) / x.shape[0]
    else:
        delta = output_delta(net, layers[-1], y) * (weights / jnp.sum(weights))[:, None]
    results: list[Any] = [None] * len(params)
    for l in reversed(range(len(params))):
        prev_out = x if l == 0 else layers[l - 1].out
        grads = layer_gradient(net, params[l], delta, prev_out, matmul=matmul)
        results[l] = grads if update is None else update(params[l], grads)
        if l > 0:
            w = params[l]["w"] if update is None else results[l]["w"]
            delta = hidden_delta(net, w, delta, layers[l - 1], matmul=matmul)
    return loss, tuple(results)


def backprop(
    net: Architecture, params, x: Array, y: Array, *, matmul: Matmul = jnp.matmul
) -> tuple:
    """The gradient of the batch loss by the delta rule (see the module docstring); same pytree as ``params``."""
    return value_and_backprop(net, params, x, y, matmul=matmul)[1]


def sgd_step_updated_weights(
    net: Architecture,
    params,
    x: Array,
    y: Array,
    learning_rate: Array,
    *,
    matmul: Matmul = jnp.matmul,
) -> tuple[Array, tuple]:
    r"""One online SGD step, layer by layer from the output, through the weights just updated.

    .. math::

       W_L^+ = W_L - \eta\, \delta_L^T out_{L-1}, \qquad
       \delta_{l} = (\delta_{l+1} W_{l+1}^{+}) \odot f_l'(net_l), \qquad
       W_l^+ = W_l - \eta\, \delta_l^T out_{l-1}

    The forward pass is done once with the old weights; only the hidden deltas
    see the new ones. This is *not* gradient descent on E (the hidden deltas are
    not the gradient), but it is what the seed's first published code did, and
    it is the order that reproduces the seed's "0.291027924 after the first
    round" and its outputs after 10,000 rounds. Use :func:`backprop` for the
    true gradient.

    Returns:
      ``(E, new_params)``, ``E`` the loss before the step.
    """

    def sgd(layer, grads):
        return sgd_update(layer, grads, learning_rate)

    return backward_sweep(net, params, x, y, update=sgd, matmul=matmul)
