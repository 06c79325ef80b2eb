r"""Activation functions and their first and second derivatives.

Each activation ``f`` comes with its derivatives ``f'(net)`` and ``f''(net)``,
written in whatever is cheapest: the net input ``net`` or the output
``out = f(net)`` (the seed's logistic derivative is ``out * (1 - out)``). The
second derivative is what the R-operator (:mod:`jaxmlp.hvp`) needs, as
:math:`\mathcal{R}\{f'(net)\} = f''(net)\,\mathcal{R}\{net\}`; an activation whose
derivative is written in ``out`` takes it by the chain rule through ``out`` instead
(:meth:`Activation.r_derivative`), as autodiff does. ``softmax`` is an output-only
activation whose derivative is never formed: together with ``cross_entropy`` the
output delta fuses to ``out - target`` (see :mod:`jaxmlp.losses`); ``exp`` is the output of a
Poisson head (``exp`` with ``poisson`` fuses the same way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

__all__ = [
    "LEAKY_RELU_SLOPE",
    "Activation",
    "ACTIVATIONS",
    "OUTPUT_ONLY",
    "HIDDEN_ACTIVATIONS",
    "OUTPUT_ACTIVATIONS",
    "get_activation",
]

LEAKY_RELU_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """An elementwise activation ``out = fn(net)``, ``derivative(net, out) = f'(net)`` and
    ``second_derivative(net, out) = f''(net)``.

    ``derivative_through_out``: ``d f' / d out`` for a derivative written in ``out``, so that
    ``R{f'} = (d f' / d out) R{out}`` reads the ``R{out}`` the R-operator's forward pass keeps
    instead of recomputing ``f''(net) R{net}`` (None: the latter). ``curved``: whether ``f''`` is
    not identically zero (the ReLU family and identity have no second-derivative term).

    ``derivative_text``: how the trace writes f' for display, as templates over ``{out}`` (and
    ``{net}``): the symbolic form and the form with numbers substituted (None: ``name'(net)``);
    :func:`jaxmlp.explain.trace.tex_expression` turns either into LaTeX, :mod:`jaxmlp.explain.mathml` into MathML.
    """

    name: str
    fn: Callable[[jax.Array], jax.Array]
    derivative: Callable[[jax.Array, jax.Array], jax.Array]
    second_derivative: Callable[[jax.Array, jax.Array], jax.Array]
    relu_family: bool = False
    derivative_text: tuple[str, str] | None = None
    derivative_through_out: Callable[[jax.Array], jax.Array] | None = None

    @property
    def curved(self) -> bool:
        """Whether ``f''`` is not identically zero."""
        return self.second_derivative is not _zero

    def r_derivative(
        self, net: jax.Array, out: jax.Array, rnet: jax.Array, rout: jax.Array
    ) -> jax.Array:
        r""":math:`\mathcal{R}\{f'(net)\} = f''(net)\,\mathcal{R}\{net\}`, where
        :math:`\mathcal{R}\{out\} = f'(net)\,\mathcal{R}\{net\}` (all ``(batch, n)``)."""
        if self.derivative_through_out is not None:
            return self.derivative_through_out(out) * rout
        return self.second_derivative(net, out) * rnet

    def display_derivative(
        self, out: str, net: str, out_value: str, net_value: str
    ) -> tuple[str, str]:
        """``(f' symbolically, f' with the numbers)`` for a neuron with these names and values."""
        if self.derivative_text is None:
            return f"{self.name}'({net})", f"{self.name}'({net_value})"
        symbolic, numeric = self.derivative_text
        return symbolic.format(out=out, net=net), numeric.format(out=out_value, net=net_value)


def _softmax_derivative(net, out):
    raise NotImplementedError(
        "softmax has no elementwise derivative; its delta is fused with cross_entropy"
    )


def _zero(net, out):
    return jnp.zeros_like(net)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        # logistic: out = 1 / (1 + e^-net),   f' = out (1 - out),   f'' = f' (1 - 2 out)
        Activation(
            "logistic",
            jax.nn.sigmoid,
            lambda net, out: out * (1 - out),
            lambda net, out: out * (1 - out) * (1 - 2 * out),
            derivative_text=("{out} (1 - {out})", "{out} (1 - {out})"),
            derivative_through_out=lambda out: 1 - 2 * out,
        ),
        # tanh: f' = 1 - out^2,   f'' = -2 out (1 - out^2)
        Activation(
            "tanh",
            jnp.tanh,
            lambda net, out: 1 - out * out,
            lambda net, out: -2 * out * (1 - out * out),
            derivative_text=("1 - {out}^2", "1 - ({out})^2"),
            derivative_through_out=lambda out: -2 * out,
        ),
        # relu: f' = [net > 0],   f'' = 0 (almost everywhere)
        Activation(
            "relu",
            jax.nn.relu,
            lambda net, out: (net > 0).astype(net.dtype),
            _zero,
            relu_family=True,
        ),
        # leaky relu: f' = 1 if net > 0 else slope,   f'' = 0 (almost everywhere)
        Activation(
            "leaky_relu",
            lambda net: jnp.where(net > 0, net, LEAKY_RELU_SLOPE * net),
            lambda net, out: jnp.where(net > 0, 1.0, LEAKY_RELU_SLOPE).astype(net.dtype),
            _zero,
            relu_family=True,
        ),
        # softplus: out = log(1 + e^net),   f' = logistic(net),   f'' = f' (1 - f')
        Activation(
            "softplus",
            jax.nn.softplus,
            lambda net, out: jax.nn.sigmoid(net),
            lambda net, out: jax.nn.sigmoid(net) * (1 - jax.nn.sigmoid(net)),
            relu_family=True,
        ),
        # identity: f' = 1,   f'' = 0
        Activation("identity", lambda net: net, lambda net, out: jnp.ones_like(net), _zero),
        # exp (output only, the Poisson head): out = e^net,   f' = f'' = out
        Activation(
            "exp",
            jnp.exp,
            lambda net, out: out,
            lambda net, out: out,
            derivative_text=("{out}", "{out}"),
            derivative_through_out=jnp.ones_like,
        ),
        Activation(
            "softmax",
            lambda net: jax.nn.softmax(net, axis=-1),
            _softmax_derivative,
            _softmax_derivative,
        ),
    )
}

OUTPUT_ONLY = ("softmax", "exp")
HIDDEN_ACTIVATIONS = tuple(n for n in ACTIVATIONS if n not in OUTPUT_ONLY)
OUTPUT_ACTIVATIONS = tuple(ACTIVATIONS)


def get_activation(name: str) -> Activation:
    """Look an activation up by name; raise ``ValueError`` listing the valid names."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}"
        ) from None
