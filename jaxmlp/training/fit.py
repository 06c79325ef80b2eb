r"""Training: SGD and optax updates, and ``fit``, the whole loop in compiled code.

``fit`` runs ``lax.scan`` over steps in chunks of ``chunk_size``: one compiled
call per chunk, and between chunks a ``callback`` (a progress bar, a
checkpoint) sees the state without any recompilation. The learning rate is an
array argument (for named optimizers it lives in the optimizer state through
``optax.inject_hyperparams``), so changing it never recompiles.

A non-finite loss is caught per chunk, from the chunk's losses (no host
synchronisation per step); ``fit`` stops at the end of that chunk and returns
the last parameters whose loss was finite, recomputed from the chunk's start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from jax.sharding import Mesh

from jaxmlp.mlp import MLP
from jaxmlp.training import early_stopping
from jaxmlp.training.arguments import (
    MAX_STEP,
    check_batch_size,
    check_gradient_path,
    chunk_size_for,
    optimizer_state,
    training_update,
    validation_split,
)
from jaxmlp.training.loop import StepSpec, TrainState
from jaxmlp.training.parallel import make_mesh
from jaxmlp.training.result import FitResult
from jaxmlp.training.run import FitRun
from jaxmlp.validation import check_batch, check_key, check_positive_int

if TYPE_CHECKING:
    import optax  # imported where used, so `import jaxmlp` stays light (W4 times the start-up)


def fit(
    net: MLP,
    params,
    x,
    y,
    *,
    steps: int,
    learning_rate=None,
    optimizer: str | optax.GradientTransformation | None = None,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    grad: str = "autodiff",
    order: str = "simultaneous",
    clip_norm: float | None = None,
    weight_decay: float | None = None,
    schedule: str = "constant",
    warmup_steps: int = 0,
    chunk_size: int | None = None,
    opt_state=None,
    start_step: int = 0,
    callback: Callable[[TrainState, np.ndarray], bool | None] | None = None,
    history: bool = True,
    devices: int | Mesh | None = None,
    check_gradient: bool = True,
    validation_fraction: float | None = None,
    validation_data: tuple[Any, Any] | None = None,
    patience: int | None = None,
    restore_best: bool = True,
) -> FitResult:
    r"""Train ``params`` for ``steps`` steps, in compiled chunks of ``lax.scan``.

    Each step computes :math:`E(\theta)` on the batch and its gradient (``grad``:
    ``"autodiff"`` is ``jax.grad`` of the loss, ``"backprop"`` the handwritten
    delta rule) and updates :math:`\theta` by manual SGD,
    :math:`\theta \leftarrow \theta - \eta \nabla E` (``optimizer=None``), a named
    optax optimizer (``"sgd"``, ``"momentum"``, ``"adam"``) or any optax
    ``GradientTransformation``.

    Args:
      net, params: the configuration and the initial parameter pytree.
      x, y: the data, ``(n, n_in)`` and ``(n, n_out)`` or labels ``(n,)``; a single example
        ``(n_in,)`` (as ``net.apply`` takes it) trains as a batch of one.
      steps: number of steps (positive).
      learning_rate: :math:`\eta` > 0, passed as data (no recompilation when it
        changes); required unless ``optimizer`` is a ``GradientTransformation``, and refused
        with one (it would be ignored).
      batch_size: examples per step: consecutive slices of one permutation per epoch
        (``fold_in(key, epoch)``; every example once per epoch, a batch crossing an epoch's end
        takes the rest of it and the start of the next; O(batch) per step, see
        :mod:`jaxmlp.training.batching`); ``None`` uses the whole data set every step.
      key: PRNG key; required when ``batch_size`` is smaller than ``n``.
      order: ``"updated_weights"`` (handwritten, manual SGD only) propagates
        hidden deltas through the weights just updated, see
        :func:`jaxmlp.backprop.sgd_step_updated_weights`.
      clip_norm: clip gradients to this global norm first.
      weight_decay, schedule, warmup_steps: with a named optimizer, see :func:`named_optimizer`
        (the schedule spans the run's ``start_step + steps`` steps).
      chunk_size: steps per compiled call; the callback runs between chunks. Default: all
        ``steps`` in one call without a callback (nothing to stop for), else about 1,000 in
        equal chunks (:func:`even_chunks`: one compiled program); when
        validating, one epoch with batches (``ceil(n_train / batch_size)``), else ``steps // 100``.
      opt_state, start_step: resume from a saved state (the global step feeds
        the batch keys, so a resumed run is bit-identical to an uninterrupted one).
      callback: ``callback(state, chunk_losses)`` after each chunk; return True to stop.
      history: record the loss before every step (default). ``False`` keeps
        only the loss before each chunk's last step, which makes a tiny
        network's step faster (W1 times both); divergence is then detected from that loss
        (a non-finite value sticks once the parameters are non-finite) and
        located by re-running the chunk with history.
      devices: data parallelism: a device count or a 1-D ``jax.sharding.Mesh``.
        The batch (each drawn batch, or the whole data set) is split over the
        mesh and must divide by its size; parameters are replicated; XLA
        all-reduces the gradient. Results equal one device's up to summation order.
      check_gradient: with ``grad="backprop"``, first compare the delta rule with ``jax.grad`` on
        the first step's batch (inside the first compiled call, by the criterion and tolerances
        of :func:`~jaxmlp.checks.gradient_check.check_gradients`); a mismatch raises
        :class:`~jaxmlp.checks.gradient_check.GradientMismatchError` naming the leaf before any result is
        returned. The report is ``FitResult.gradient_check``.
      validation_fraction, validation_data: hold out that fraction of ``(x, y)`` (drawn with
        ``key``), or take ``(x_val, y_val)``; the validation loss is evaluated after every chunk
        (:mod:`jaxmlp.training.early_stopping`).
      patience: stop after this many evaluations in a row without a lower validation loss.
      restore_best: return the parameters (and optimizer state) of the lowest validation loss.

    Returns:
      A :class:`FitResult`.
    """
    params, x, y = check_batch(net, params, x, y)
    if x.ndim == 1:  # a single example, as net.apply takes it: a batch of one
        x, y = x.reshape((1, -1)), y.reshape((1, *y.shape))
    steps = check_positive_int(steps, "steps")
    if (
        isinstance(start_step, bool)
        or not isinstance(start_step, (int, np.integer))
        or start_step < 0
    ):
        raise ValueError(f"start_step must be an integer >= 0, got {start_step!r}")
    key = None if key is None else check_key(key)
    x, y, x_val, y_val = validation_split(
        net, params, x, y, validation_fraction, validation_data, key
    )
    patience = early_stopping.check_patience(patience)
    if patience is not None and x_val is None:
        raise ValueError("patience needs a validation set (validation_fraction or validation_data)")
    for flag, value in (("check_gradient", check_gradient), ("history", history)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, got {value!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(state, losses), got {callback!r}")
    check_gradient_path(grad, order, optimizer, clip_norm)
    if start_step + steps > MAX_STEP:
        raise ValueError(
            f"start_step + steps must be at most {MAX_STEP:,} (the step counter is int32), "
            f"got {start_step + steps:,}"
        )
    held_out = (
        f": validation_fraction={validation_fraction} leaves {x.shape[0]} training examples"
        if validation_fraction is not None
        else ""
    )
    batch_size = check_batch_size(batch_size, x.shape[0], key, held_out)
    chunk_size = chunk_size_for(
        chunk_size, steps, x.shape[0], batch_size, x_val is not None, callback is not None
    )
    optimizer, clip_norm_step = training_update(
        optimizer, learning_rate, clip_norm, weight_decay, schedule, warmup_steps
    )
    opt_state = optimizer_state(optimizer, params, learning_rate, start_step + steps, opt_state)
    mesh = make_mesh(devices)
    spec = StepSpec(net, optimizer, grad, order, batch_size, clip_norm_step, mesh)
    lr = np.asarray(1.0 if learning_rate is None else learning_rate, x.dtype)  # x has params' dtype
    run = FitRun.placed(spec, lr, params, opt_state, x, y, x_val, y_val, key, start_step)
    return run.loop(
        steps,
        chunk_size,
        history,
        callback,
        early_stopping.Watch(patience),
        restore_best,
        check_gradient and grad == "backprop",
    )
