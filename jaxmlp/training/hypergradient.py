r"""Hypergradients: the derivative of a whole training run with respect to its learning rate.

``fit``'s loop is a pure function of the learning rate :math:`\eta`: ``steps``
applications of :func:`jaxmlp.training.loop.train_step` in one ``lax.scan``. So
``jax.grad`` can differentiate through it (Maclaurin et al. 2015, "Gradient-based
hyperparameter optimization through reversible learning"):

.. math::

   \theta_{k+1} = \theta_k - \eta\, \nabla E_k(\theta_k), \qquad
   \frac{d\,\mathcal{O}}{d\eta} \text{ with }
   \mathcal{O} = E(\theta_K) \;(\texttt{final\_loss}) \text{ or }
   \tfrac{1}{K} \textstyle\sum_{k<K} E_k(\theta_k) \;(\texttt{mean\_loss}).

Memory: reverse mode keeps the scan's carry (parameters and optimizer state)
of every step, ``steps x (P + optimizer state)`` numbers; each step's own
intermediates are recomputed on the way back (``jax.checkpoint`` on the step),
so they cost one step's worth, not ``steps``' worth.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from jaxmlp import forward as _forward
from jaxmlp import programs
from jaxmlp.mlp import MLP
from jaxmlp.training.arguments import FitOptions, fit_arguments
from jaxmlp.training.loop import StepSpec, start_carry, train_step
from jaxmlp.training.optimizers import OPTIMIZERS, set_hyperparams

__all__ = ["OBJECTIVES", "hypergradient"]

OBJECTIVES = ("final_loss", "mean_loss")


@functools.partial(programs.jit, static_argnames=("spec", "steps", "objective"))
def _value_and_hypergradient(
    learning_rate, state, cursor, x, y, *, spec: StepSpec, steps, objective
):
    def run(lr):
        opt_state = None if spec.optimizer is None else set_hyperparams(state.opt_state, lr)
        step = jax.checkpoint(lambda c, _: train_step(spec, c, lr, x, y))
        start = (state._replace(opt_state=opt_state), cursor)
        (final, _), losses = jax.lax.scan(step, start, None, length=steps)
        if objective == "final_loss":
            return _forward.loss_fn(spec.net, final.params, x, y)
        return jnp.mean(losses)

    return jax.value_and_grad(run)(learning_rate)


def hypergradient(
    net: MLP,
    params,
    x,
    y,
    *,
    steps: int,
    learning_rate: float,
    objective: str = "final_loss",
    optimizer: str | None = None,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    grad: str = "autodiff",
) -> tuple[jax.Array, jax.Array]:
    r"""``(objective, d objective / d learning_rate)`` of a ``steps``-step training run.

    The run is ``fit``'s: the same step function, manual SGD (``optimizer=None``)
    or a named optax optimizer (``"sgd"``, ``"momentum"``, ``"adam"``), the same
    batches (``batch_size`` from the epoch stream of :mod:`jaxmlp.training.batching`), in one ``lax.scan``
    with a static length; ``jax.value_and_grad`` of it with respect to
    :math:`\eta`. Equal to central differences of :func:`jaxmlp.fit`'s results
    (tested).

    Args:
      x, y: the data as ``fit`` takes it, or a single example ``(n_in,)``.
      objective: ``"final_loss"``: the batch loss on all of ``x, y`` after the last
        step; ``"mean_loss"``: the mean of the losses before each step (each on
        that step's batch).
      grad: the gradient inside the run, ``"autodiff"`` or ``"backprop"`` (the
        handwritten delta rule, differentiated by JAX in turn).

    Returns:
      Two scalars in the parameters' dtype.
    """
    if objective not in OBJECTIVES:
        raise ValueError(
            f"unknown objective {objective!r}; expected one of {', '.join(OBJECTIVES)}"
        )
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be None (manual SGD) or one of {', '.join(OPTIMIZERS)}, got {optimizer!r}"
        )
    options = FitOptions(
        steps, learning_rate, optimizer, batch_size, key, grad, check_gradient=False
    )
    a = fit_arguments(net, params, x, y, options)
    spec = a.spec
    if spec.batch_size == a.x.shape[0]:  # the whole data set every step: no batches to draw
        spec = dataclasses.replace(spec, batch_size=None)
    start = start_carry(spec, a.params, a.opt_state, a.key, 0, a.x.shape[0])
    lr = jnp.asarray(a.learning_rate)
    x, y, steps = a.x, a.y, a.steps
    return _value_and_hypergradient(lr, *start, x, y, spec=spec, steps=steps, objective=objective)
