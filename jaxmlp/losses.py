r"""Per-example losses, their derivative dE/dout, and fused output deltas.

Notation (per example, ``n`` outputs): ``t`` target, ``net`` the output layer's
net input, ``out = f(net)`` its output.

============================  =====================================  ==========================
loss                          E                                      delta = dE/dnet
============================  =====================================  ==========================
``half_sse``                  sum_k 1/2 (t_k - out_k)^2              (out - t) * f'(net)
``mse``                       1/n sum_k (t_k - out_k)^2              2/n (out - t) * f'(net)
``half_mse``                  1/(2n) sum_k (t_k - out_k)^2           1/n (out - t) * f'(net)
``poisson`` (exp)             sum_k e^net_k - t_k net_k              exp(net) - t
                              + t_k log t_k - t_k
``cross_entropy`` (softmax)   -sum_k t_k log softmax(net)_k          softmax(net) sum(t) - t
``binary_cross_entropy``      sum_k softplus(net_k) - t_k net_k      logistic(net) - t
(logistic)                    (= -t log out - (1-t) log(1-out))
============================  =====================================  ==========================

The two cross entropies are computed from ``net`` (``log_softmax``,
``softplus``), which stays finite where ``log(out)`` would be ``log(0)``.
A batch's loss is the mean of the per-example values (or their weighted mean, with weights).
``half_mse`` is scikit-learn's ``squared_error``; ``poisson`` is its half Poisson deviance
:math:`t \log(t / out) - t + out` with the log link (``out = e^{net}``), finite for ``t = 0``.

Second order (the R-operator of :mod:`jaxmlp.hvp`, ``r = R{net}``, ``p = out``):

============================  ==================================================
loss                          d^2E/dout^2 (diagonal) or R{delta}
============================  ==================================================
``half_sse``                  1
``mse``                       2/n
``half_mse``                  1/n
``poisson`` (exp)             R{delta} = p * r
``cross_entropy`` (softmax)   R{delta} = sum(t) (p * r - p (p . r))
``binary_cross_entropy``      R{delta} = p (1 - p) * r
============================  ==================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

__all__ = ["Array", "Loss", "LOSSES", "get_loss"]

Array = jax.Array


@dataclass(frozen=True)
class Loss:
    """A loss: per-example ``value(net, out, t) -> (batch,)`` and its output delta.

    ``dE_dout(out, t)`` is the derivative with respect to the output, used with
    the activation's derivative, and ``d2E_dout2(out, t)`` its derivative (the
    diagonal of the Hessian in ``out``: these losses are sums over outputs);
    ``fused_delta(net, out, t)``, where set, is dE/dnet directly, and
    ``fused_delta_r(net, out, t, r)`` its directional derivative along
    ``r = R{net}``. ``requires_output`` names the only output activation the
    loss accepts. ``error_text``/``dE_dout_text``: how the trace writes one output's error and
    its derivative (see :meth:`display`).
    """

    name: str
    value: Callable[[Array, Array, Array], Array]
    dE_dout: Callable[[Array, Array], Array] | None = None
    d2E_dout2: Callable[[Array, Array], Array] | None = None
    fused_delta: Callable[[Array, Array, Array], Array] | None = None
    fused_delta_r: Callable[[Array, Array, Array, Array], Array] | None = None
    requires_output: str | None = None
    integer_labels: bool = False
    error_text: str | None = None
    dE_dout_text: str | None = None

    def display(self, which: str, n_out: int, o: str, t: str) -> str:
        """The trace's formula ``which`` (``"error"``: one output's share E_k, ``"dE_dout"``), a
        template over ``{o}`` (the output), ``{t}`` (its target) and ``{n}`` (outputs), filled in."""
        template = self.error_text if which == "error" else self.dE_dout_text
        if template is None:
            raise ValueError(f"loss {self.name!r} has no {which} formula to display")
        return template.format(o=o, t=t, n=n_out)


def _half_sse(net, out, t):
    return 0.5 * jnp.sum((t - out) ** 2, axis=-1)


def _mse(net, out, t):
    return jnp.mean((t - out) ** 2, axis=-1)


def _cross_entropy(net, out, t):
    return -jnp.sum(t * jax.nn.log_softmax(net, axis=-1), axis=-1)


def _binary_cross_entropy(net, out, t):
    return jnp.sum(jax.nn.softplus(net) - t * net, axis=-1)


def _half_mse(net, out, t):
    return 0.5 * jnp.mean((t - out) ** 2, axis=-1)


def _poisson(net, out, t):
    return jnp.sum(out - t * net + jax.scipy.special.xlogy(t, t) - t, axis=-1)


def _softmax_delta_r(net, out, t, r):
    """R{p sum(t) - t} = sum(t) (p * r - p (p . r)): the softmax Jacobian applied to ``r``."""
    return jnp.sum(t, axis=-1, keepdims=True) * (
        out * r - out * jnp.sum(out * r, axis=-1, keepdims=True)
    )


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "half_sse",
            _half_sse,
            dE_dout=lambda out, t: out - t,
            d2E_dout2=lambda out, t: jnp.ones_like(out),
            error_text="1/2 ({t} - {o})^2",
            dE_dout_text="-({t} - {o})",
        ),
        Loss(
            "mse",
            _mse,
            dE_dout=lambda out, t: 2 * (out - t) / out.shape[-1],
            d2E_dout2=lambda out, t: jnp.full_like(out, 2 / out.shape[-1]),
            error_text="1/{n} ({t} - {o})^2",
            dE_dout_text="2/{n} ({o} - {t})",
        ),
        Loss(
            "half_mse",
            _half_mse,
            dE_dout=lambda out, t: (out - t) / out.shape[-1],
            d2E_dout2=lambda out, t: jnp.full_like(out, 1 / out.shape[-1]),
            error_text="1/(2 {n}) ({t} - {o})^2",
            dE_dout_text="1/{n} ({o} - {t})",
        ),
        Loss(
            "poisson",
            _poisson,
            fused_delta=lambda net, out, t: out - t,
            fused_delta_r=lambda net, out, t, r: out * r,
            requires_output="exp",
            error_text="{o} - {t} log({o}) + {t} log({t}) - {t}",
        ),
        Loss(
            "cross_entropy",
            _cross_entropy,
            fused_delta=lambda net, out, t: out * jnp.sum(t, axis=-1, keepdims=True) - t,
            fused_delta_r=_softmax_delta_r,
            requires_output="softmax",
            integer_labels=True,
        ),
        Loss(
            "binary_cross_entropy",
            _binary_cross_entropy,
            fused_delta=lambda net, out, t: out - t,
            fused_delta_r=lambda net, out, t, r: out * (1 - out) * r,
            requires_output="logistic",
            error_text="-({t} log({o}) + (1 - {t}) log(1 - {o}))",
        ),
    )
}


def get_loss(name: str) -> Loss:
    """Look a loss up by name; raise ``ValueError`` listing the valid names."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}") from None
