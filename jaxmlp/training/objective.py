r"""The objective of scikit-learn's MLP: a weighted batch loss plus an L2 penalty on the weights.

For a batch with per-example losses :math:`E_n`, weights :math:`w_n` (1 without sample weights;
0 for the padding rows of a short last batch) and weight matrices :math:`W_l`:

.. math::

   J(\theta) = \frac{\sum_n w_n E_n}{\sum_n w_n}
             + \frac{\alpha}{2 \sum_n w_n} \sum_l \lVert W_l \rVert_F^2, \qquad
   \frac{\partial J}{\partial W_l} = \frac{\partial E}{\partial W_l}
             + \frac{\alpha}{\sum_n w_n} W_l

(biases are not penalised). The gradient comes from ``jax.grad`` (``grad="autodiff"``) or from
the delta rule with weighted deltas plus the penalty's term written out (``grad="backprop"``,
:func:`jaxmlp.backprop.value_and_backprop`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from jaxmlp import programs
from jaxmlp.backprop import value_and_backprop
from jaxmlp.checks.gradient_check import GradCheckReport, build_report
from jaxmlp.forward import loss_fn

if TYPE_CHECKING:
    from jaxmlp.architecture import Architecture

__all__ = ["Array", "GRADIENT_PATHS", "penalty", "value", "value_and_grad", "function", "check"]

Array = jax.Array
GRADIENT_PATHS = ("autodiff", "backprop")


def penalty(params, alpha: Array, weight_sum: Array) -> Array:
    r""":math:`\frac{\alpha}{2 \sum_n w_n} \sum_l \lVert W_l \rVert_F^2`."""
    squares = sum(jnp.sum(layer["w"] ** 2) for layer in params)
    return 0.5 * alpha * squares / weight_sum


def value(net: Architecture, params, x: Array, t: Array, w: Array, alpha: Array) -> Array:
    """:math:`J(\\theta)` for a batch ``x`` ``(batch, n_in)``, targets ``t`` ``(batch, n_out)``,
    weights ``w`` ``(batch,)``."""
    return loss_fn(net, params, x, t, weights=w) + penalty(params, alpha, jnp.sum(w))


def value_and_grad(
    net: Architecture, params, x: Array, t: Array, w: Array, alpha: Array, grad: str
) -> tuple[Array, tuple]:
    """``(J, dJ/dtheta)``, the gradient by ``grad`` (``"autodiff"`` or ``"backprop"``)."""
    if grad == "autodiff":
        return jax.value_and_grad(lambda p: value(net, p, x, t, w, alpha))(params)
    loss, grads = value_and_backprop(net, params, x, t, weights=w)
    weight_sum = jnp.sum(w)
    grads = tuple(
        {**g, "w": g["w"] + alpha * layer["w"] / weight_sum} for g, layer in zip(grads, params)
    )
    return loss + penalty(params, alpha, weight_sum), grads


def function(net: Architecture, x: Array, t: Array, w: Array, alpha: Array, grad: str):
    """:math:`J` as a function of the parameters alone, whose ``jax.grad`` is the gradient by
    ``grad``: with ``"backprop"`` a ``jax.custom_vjp`` whose backward pass is the delta rule
    (so optimisers that differentiate the objective themselves, such as ``optax.lbfgs``'s line
    search, use the handwritten gradient)."""

    def j(params):
        return value(net, params, x, t, w, alpha)

    if grad == "autodiff":
        return j

    @jax.custom_vjp
    def j_by_hand(params):
        return j(params)

    def forward(params):
        return value_and_grad(net, params, x, t, w, alpha, grad)

    def backward(grads, cotangent):
        return (jax.tree_util.tree_map(lambda g: cotangent * g, grads),)

    j_by_hand.defvjp(forward, backward)
    return j_by_hand


def _both(net: Architecture, params, x: Array, t: Array, w: Array, alpha: Array):
    """``(the delta rule's dJ/dtheta with the penalty's term, jax.grad of J)`` in one program."""
    hand = value_and_grad(net, params, x, t, w, alpha, "backprop")[1]
    auto = jax.grad(lambda p: value(net, p, x, t, w, alpha))(params)
    return hand, auto


_both_compiled = programs.jit(_both, static_argnums=0)


def check(net: Architecture, params, x: Array, t: Array, w: Array, alpha) -> GradCheckReport:
    r"""The check of the gradient a ``grad="backprop"`` solver follows: the delta rule with
    weighted deltas plus the penalty's term :math:`\alpha W_l / \sum_n w_n`, against ``jax.grad``
    of :math:`J` (the weighted loss plus the penalty), leaf by leaf under the default
    tolerances (those of :func:`jaxmlp.checks.gradient_check.check_gradients`); raises
    :class:`~jaxmlp.checks.gradient_check.GradientMismatchError` naming the leaf."""
    alpha = jnp.asarray(alpha, jax.tree_util.tree_leaves(params)[0].dtype)
    hand, auto = _both_compiled(net, params, x, t, w, alpha)
    return build_report(net, hand, auto, None, 0.0, "backprop", None, None, True)
