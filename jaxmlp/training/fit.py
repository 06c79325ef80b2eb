r"""``fit``: a network trained with the whole loop in compiled code.

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
from jaxmlp.training.arguments import FitOptions, fit_arguments
from jaxmlp.training.loop import TrainState
from jaxmlp.training.monitor import Monitor
from jaxmlp.training.result import FitResult
from jaxmlp.training.run import FitRun
from jaxmlp.training.streamed import RowSource, fit_source

if TYPE_CHECKING:
    import optax  # imported where used, so `import jaxmlp` stays light (`jaxmlp bench` times the start-up)

__all__ = ["fit", "fit_with"]


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
    monitor: Monitor | None = None,
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
        ``(n_in,)`` (as ``net.apply`` takes it) trains as a batch of one. Or ``x`` a
        :class:`~jaxmlp.io.source.NpySource` (rows in memory-mapped ``.npy`` files: the same
        batches as the rows in memory) or :class:`~jaxmlp.io.parquet_source.ParquetSource`
        (Parquet row groups: a two-level shuffle) and ``y`` None: the batches are read from
        disk a chunk ahead (:mod:`jaxmlp.training.streamed`).
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
        the batch keys, so a resumed run is bit-identical to an uninterrupted one); a named
        optimizer's state takes this call's ``learning_rate`` and schedule length.
      callback: ``callback(state, chunk_losses)`` after each chunk; return True to stop.
      history: record the loss before every step (default). ``False`` keeps
        only the loss before each chunk's last step, which makes a tiny
        network's step faster (`jaxmlp bench` times both); divergence is then detected from that loss
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
      monitor: a :class:`~jaxmlp.training.monitor.Monitor`: record sharpness, gradient norms,
        update ratios and dead or saturated units every ``monitor.every`` global steps inside
        the compiled loop (:mod:`jaxmlp.training.monitor`); the records are
        ``FitResult.monitor``. The parameters are those of the same run unmonitored, bit for bit.

    Returns:
      A :class:`FitResult`.
    """
    return fit_with(net, params, x, y, FitOptions.of(locals()))


def fit_with(net: MLP, params, x, y, options: FitOptions) -> FitResult:
    """:func:`fit` with its keywords as one :class:`~jaxmlp.training.arguments.FitOptions`
    (what the command line builds from its flags, once for a run and its time-budget probe)."""
    o = options
    if isinstance(x, RowSource):
        if y is not None:
            raise ValueError("with a row source as x, pass y=None: the source holds the targets")
        return fit_source(net, params, x, o)
    a = fit_arguments(net, params, x, y, o)
    run = FitRun.placed(
        a.spec, a.learning_rate, a.params, a.opt_state, a.x, a.y, a.x_val, a.y_val, a.key,
        a.start_step, a.probe,
    )  # fmt: skip
    watch = early_stopping.Watch(a.patience)
    return run.loop(a.steps, a.chunk_size, o.history, o.callback, watch, o.restore_best, a.check)
