r"""Full-batch L-BFGS (``optax.lbfgs`` with its zoom line search) under scikit-learn's limits.

:func:`minimize` runs the whole optimisation in one compiled ``lax.while_loop`` over
:mod:`jaxmlp.training.objective`'s :math:`J` and stops, as SciPy's ``L-BFGS-B`` does for
scikit-learn's ``solver="lbfgs"``, when

* the largest gradient component is at most ``tol`` (converged),
* the relative decrease :math:`(J_{k} - J_{k+1}) / \max(|J_k|, |J_{k+1}|, 1)` is at most
  ``FTOL`` = 2.22e-9 (SciPy's default ``factr * eps``; converged),
* ``max_iter`` iterations are done, or
* ``max_fun`` evaluations of :math:`J` and its gradient are done (one at the start, one per
  line-search step).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmlp import programs
from jaxmlp.mlp import MLP
from jaxmlp.training import objective

__all__ = ["Array", "FTOL", "MESSAGES", "Result", "minimize"]

Array = jax.Array
FTOL = 2.220446049250313e-09

# Why the run ended.
CONVERGED_GRADIENT, CONVERGED_DECREASE, ITERATIONS, EVALUATIONS = 0, 1, 2, 3
MESSAGES = {
    CONVERGED_GRADIENT: "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL",
    CONVERGED_DECREASE: "CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH",
    ITERATIONS: "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
    EVALUATIONS: "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT",
}


class Result(NamedTuple):
    """``params``, the final ``loss``, ``iterations``, ``evaluations`` and ``reason`` (one of
    the codes of :data:`MESSAGES`)."""

    params: tuple
    loss: Array
    iterations: Array
    evaluations: Array
    reason: Array


# XLA's older CPU loop emitters compile this program (the zoom line search evaluates J in several
# places, each compiled) about a tenth faster, steps as fast.
@functools.partial(
    programs.jit, static_argnums=(0, 1), compiler_options={"xla_cpu_use_fusion_emitters": False}
)
def minimize(
    net: MLP, grad: str, params, x: Array, t: Array, w: Array, alpha, max_iter, max_fun, tol
) -> Result:
    """Minimise :math:`J` over ``(x, t, w)`` from ``params`` (module docstring); the limits and
    ``alpha`` are data (no recompilation when they change)."""
    import optax  # imported where used, so `import jaxmlp` stays light

    f = objective.function(net, x, t, w, alpha, grad)
    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(f)
    loss, g = jax.value_and_grad(f)(params)

    def largest(g):
        return jnp.max(jnp.stack([jnp.max(jnp.abs(leaf)) for leaf in jax.tree_util.tree_leaves(g)]))

    def reason_after(k, evaluations, old, new, g):
        decrease = (old - new) / jnp.maximum(jnp.maximum(jnp.abs(old), jnp.abs(new)), 1)
        return jnp.select(
            [
                largest(g) <= tol,
                decrease <= FTOL,
                k >= jnp.asarray(max_iter, jnp.int32),
                evaluations >= jnp.asarray(max_fun, jnp.int32),
            ],
            [CONVERGED_GRADIENT, CONVERGED_DECREASE, ITERATIONS, EVALUATIONS],
            -1,
        )

    def body(carry):
        params, state, loss, g, k, evaluations, _ = carry
        updates, state = solver.update(g, state, params, value=loss, grad=g, value_fn=f)
        params = optax.apply_updates(params, updates)
        new_loss, new_g = value_and_grad(params, state=state)
        k = k + 1
        steps = optax.tree_utils.tree_get(state, "num_linesearch_steps")
        evaluations = evaluations + jnp.asarray(steps, jnp.int32)
        return (
            params,
            state,
            new_loss,
            new_g,
            k,
            evaluations,
            reason_after(k, evaluations, loss, new_loss, new_g),
        )

    start_reason = jnp.where(largest(g) <= tol, CONVERGED_GRADIENT, -1)
    start = (params, solver.init(params), loss, g, jnp.int32(0), jnp.int32(1), start_reason)
    # optax's L-BFGS mixes int32 and int64 counters in 64-bit mode: standard promotion for it
    with jax.numpy_dtype_promotion("standard"):
        params, _, loss, _, k, evaluations, reason = jax.lax.while_loop(
            lambda c: c[-1] < 0, body, start
        )
    return Result(params, loss, k, evaluations, reason)
