r"""The second-order check: the handwritten Hessian-vector product (the R-operator,
:mod:`jaxmlp.hvp`) against ``jax.jvp(jax.grad(loss))``, and both against central differences of
the gradient, with the tolerances of :mod:`jaxmlp.checks.gradient_check`."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxmlp import forward as _forward
from jaxmlp import hvp as _hvp
from jaxmlp import programs
from jaxmlp.checks.gradient_check import GradCheckReport, build_report, check_tolerances
from jaxmlp.mlp import MLP
from jaxmlp.validation import as_batch, check_like

__all__ = ["check_hvp"]


@functools.partial(programs.jit, static_argnums=(0, 5))
def _hvps(net: MLP, params, x, y, v, finite_differences: bool):
    """``(R-operator, jax.jvp(jax.grad), central differences of jax.grad or None, E)`` in one call."""
    loss_of = functools.partial(_forward.loss_fn, net)
    grad = jax.grad(loss_of)
    auto = jax.jvp(lambda p: grad(p, x, y), (params,), (v,))[1]
    hand = _hvp.hvp(net, params, x, y, v)
    fd = None
    if finite_differences:
        flat, unravel = ravel_pytree(params)
        if not net.train_bias:  # frozen biases are constants: no step along them
            v = tuple({k: jnp.zeros_like(a) if k == "b" else a for k, a in lv.items()} for lv in v)
        dv = ravel_pytree(v)[0]
        eps = jnp.finfo(flat.dtype).eps
        # h = eps^(1/3) along v scaled to unit max-norm, relative to the parameters' size.
        h = eps ** (1 / 3) * jnp.maximum(1.0, jnp.max(jnp.abs(flat))) / jnp.max(jnp.abs(dv))
        g_plus = ravel_pytree(grad(unravel(flat + h * dv), x, y))[0]
        g_minus = ravel_pytree(grad(unravel(flat - h * dv), x, y))[0]
        fd = unravel((g_plus - g_minus) / (2 * h))
    return hand, auto, fd, loss_of(params, x, y)


def check_hvp(
    net: MLP,
    params,
    x,
    y,
    v,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    finite_differences: bool = False,
    raise_on_mismatch: bool = True,
) -> GradCheckReport:
    r"""Compare the handwritten :math:`H v` (``net.hvp``, the R-operator) with ``jax.jvp(jax.grad(loss))``.

    Leaf by leaf with ``chex.assert_trees_all_close`` and the gradient check's
    tolerances (module docstring: rtol 1e-9 in float64, 1e-4 in float32, atol
    ``rtol * max|Hv|``). With ``finite_differences``, autodiff is also compared
    with central differences of the gradient along ``v``,
    :math:`(\nabla E(\theta + h v) - \nabla E(\theta - h v)) / 2h`, ``h`` as for the
    gradient check and ``v`` scaled to unit max-norm.

    Args:
      v: the direction, a pytree shaped like ``params``.

    Returns:
      A :class:`GradCheckReport` (its "backprop" side is the R-operator here).

    Raises:
      GradientMismatchError: naming the leaf, the sides and the error.
    """
    params, xb, yb = net._check(params, x, y)
    v = check_like(net, params, v, "v")
    xb, yb = as_batch(xb), as_batch(yb, xb)
    check_tolerances(rtol, atol)
    hand, auto, fd, loss = _hvps(net, params, xb, yb, v, finite_differences)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    eps = float(jnp.finfo(dtype).eps)
    grad_scale = float(jnp.max(jnp.abs(ravel_pytree(auto)[0])))
    # The difference quotient's rounding: ~ eps^(2/3) times the gradient's size.
    fd_noise = 10 * eps ** (2 / 3) * max(1.0, abs(float(loss)), grad_scale)
    return build_report(net, hand, auto, fd, fd_noise, "R-operator", rtol, atol, raise_on_mismatch)
