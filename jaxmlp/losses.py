"""Per-example losses, their derivative dE/dout, and fused output deltas.

Notation (per example, ``n`` outputs): ``t`` target, ``net`` the output layer's
net input, ``out = f(net)`` its output.

============================  =====================================  ==========================
loss                          E                                      delta = dE/dnet
============================  =====================================  ==========================
``half_sse``                  sum_k 1/2 (t_k - out_k)^2              (out - t) * f'(net)
``mse``                       1/n sum_k (t_k - out_k)^2              2/n (out - t) * f'(net)
``cross_entropy`` (softmax)   -sum_k t_k log softmax(net)_k          softmax(net) sum(t) - t
``binary_cross_entropy``      sum_k softplus(net_k) - t_k net_k      logistic(net) - t
(logistic)                    (= -t log out - (1-t) log(1-out))
============================  =====================================  ==========================

The two cross entropies are computed from ``net`` (``log_softmax``,
``softplus``), which stays finite where ``log(out)`` would be ``log(0)``.
A batch's loss is the mean of the per-example values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

Array = jax.Array


@dataclass(frozen=True)
class Loss:
    """A loss: per-example ``value(net, out, t) -> (batch,)`` and its output delta.

    ``dE_dout(out, t)`` is the derivative with respect to the output, used with
    the activation's derivative; ``fused_delta(net, out, t)``, where set, is
    dE/dnet directly, and ``requires_output`` names the only output activation
    the loss accepts.
    """

    name: str
    value: Callable[[Array, Array, Array], Array]
    dE_dout: Callable[[Array, Array], Array] | None = None
    fused_delta: Callable[[Array, Array, Array], Array] | None = None
    requires_output: str | None = None
    integer_labels: bool = False


def _half_sse(net, out, t):
    return 0.5 * jnp.sum((t - out) ** 2, axis=-1)


def _mse(net, out, t):
    return jnp.mean((t - out) ** 2, axis=-1)


def _cross_entropy(net, out, t):
    return -jnp.sum(t * jax.nn.log_softmax(net, axis=-1), axis=-1)


def _binary_cross_entropy(net, out, t):
    return jnp.sum(jax.nn.softplus(net) - t * net, axis=-1)


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("half_sse", _half_sse, dE_dout=lambda out, t: out - t),
        Loss("mse", _mse, dE_dout=lambda out, t: 2 * (out - t) / out.shape[-1]),
        Loss(
            "cross_entropy",
            _cross_entropy,
            fused_delta=lambda net, out, t: out * jnp.sum(t, axis=-1, keepdims=True) - t,
            requires_output="softmax",
            integer_labels=True,
        ),
        Loss(
            "binary_cross_entropy",
            _binary_cross_entropy,
            fused_delta=lambda net, out, t: out - t,
            requires_output="logistic",
        ),
    )
}


def get_loss(name: str) -> Loss:
    """Look a loss up by name; raise ``ValueError`` listing the valid names."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}") from None
