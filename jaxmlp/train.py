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

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from jax.sharding import Mesh

from jaxmlp import batching, distributed, early_stopping
from jaxmlp import forward as _forward
from jaxmlp.config import MLP
from jaxmlp.gradcheck import GradCheckReport, report_from_errors
from jaxmlp.loop import (  # noqa: F401 (the loop's names, re-exported where they were)
    GRADS,
    ORDERS,
    Chunk,
    StepSpec,
    TrainState,
    first_bad,
    keep_frozen,
    run_chunk,
    train_step,
    update,
    value_and_grad,
)
from jaxmlp.optimizers import (  # noqa: F401 (re-exported: jaxmlp.train.named_optimizer, ...)
    OPTIMIZERS,
    SCHEDULES,
    init_optimizer,
    named_optimizer,
    set_learning_rate,
    sgd_step,
    takes_learning_rate,
)
from jaxmlp.validation import check_batch

if TYPE_CHECKING:
    import optax  # imported where used: it costs ~70 ms of `import jaxmlp` otherwise

DEFAULT_CHUNK = 1000  # steps per compiled call between two callbacks


@dataclasses.dataclass(frozen=True)
class FitResult:
    """The result of :func:`fit`.

    ``params``/``opt_state``: the final state (the last one with a finite
    loss if training diverged; the best one on the validation set when
    validating with ``restore_best``); ``losses``: the loss before each step taken,
    ``(steps_taken,)``; ``step``: the global step of ``params``; ``diverged_at``:
    the global step whose loss was first non-finite, else ``None``;
    ``stopped``: True when the callback or early stopping ended the run before ``steps``;
    ``final_loss``: the loss of the returned ``params`` on the training data (the loss after
    the last step; computed on first use: a forward pass over the whole training set, one more
    compiled call); ``gradient_check``: the check of the handwritten gradient on the first
    batch (``None`` when not checked); ``validation_losses`` ``(k,)`` and ``validation_steps``
    ``(k,)``: the validation loss after each evaluated step (``None`` without validation);
    ``best_step``: the step of the lowest validation loss.
    """

    params: Any
    opt_state: Any
    losses: np.ndarray
    step: int
    key: jax.Array
    diverged_at: int | None = None
    stopped: bool = False
    check: Callable[[], GradCheckReport] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    validation_losses: np.ndarray | None = None
    validation_steps: np.ndarray | None = None
    best_step: int | None = None
    final: Callable[[], Any] | None = dataclasses.field(default=None, repr=False, compare=False)

    @functools.cached_property
    def gradient_check(self) -> GradCheckReport | None:
        """The passed check of the handwritten gradient on the first batch (None: not checked)."""
        return None if self.check is None else self.check()

    @functools.cached_property
    def final_loss(self) -> float:
        """The loss of ``params`` on the training data (NaN when unknown)."""
        return math.nan if self.final is None else float(self.final())

    @property
    def last_finite_loss(self) -> float:
        """The last finite entry of ``losses`` (NaN when there is none)."""
        finite = self.losses[np.isfinite(self.losses)]
        return float(finite[-1]) if finite.size else float("nan")


@functools.lru_cache(maxsize=1)
def _default_key() -> jax.Array:
    """The key of a run that draws no batches (unused, but part of the state); made once.

    ``jax.random.key(0)``, wrapped from its data: creating it would compile two
    small programs, a tenth of ``jaxmlp reproduce``'s start-up.
    """
    return jax.random.wrap_key_data(np.zeros(2, np.uint32))


def _check_positive_int(value, name: str, upper: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be at most {upper}, got {value}")
    return int(value)


def _check_learning_rate(learning_rate) -> None:
    try:
        lr = float(learning_rate)
    except (TypeError, ValueError):
        raise TypeError(f"learning_rate must be a number, got {learning_rate!r}") from None
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")


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
        :mod:`jaxmlp.batching`); ``None`` uses the whole data set every step.
      key: PRNG key; required when ``batch_size`` is smaller than ``n``.
      order: ``"updated_weights"`` (handwritten, manual SGD only) propagates
        hidden deltas through the weights just updated, see
        :func:`jaxmlp.backprop.sgd_step_updated_weights`.
      clip_norm: clip gradients to this global norm first.
      weight_decay, schedule, warmup_steps: with a named optimizer, see :func:`named_optimizer`
        (the schedule spans the run's ``start_step + steps`` steps).
      chunk_size: steps per compiled call; the callback runs between chunks. Default: all
        ``steps`` in one call without a callback (nothing to stop for), else 1,000; when
        validating, one epoch with batches (``ceil(n_train / batch_size)``), else ``steps // 100``.
      opt_state, start_step: resume from a saved state (the global step feeds
        the batch keys, so a resumed run is bit-identical to an uninterrupted one).
      callback: ``callback(state, chunk_losses)`` after each chunk; return True to stop.
      history: record the loss before every step (default). ``False`` keeps
        only the loss before each chunk's last step, which makes a tiny
        network's step ~7% faster; divergence is then detected from that loss
        (a non-finite value sticks once the parameters are non-finite) and
        located by re-running the chunk with history.
      devices: data parallelism: a device count or a 1-D ``jax.sharding.Mesh``.
        The batch (each drawn batch, or the whole data set) is split over the
        mesh and must divide by its size; parameters are replicated; XLA
        all-reduces the gradient. Results equal one device's up to summation order.
      check_gradient: with ``grad="backprop"``, first compare the delta rule with ``jax.grad`` on
        the first step's batch (inside the first compiled call, by the criterion and tolerances
        of :func:`~jaxmlp.gradcheck.check_gradients`); a mismatch raises
        :class:`~jaxmlp.gradcheck.GradientMismatchError` naming the leaf before any result is
        returned. The report is ``FitResult.gradient_check``.
      validation_fraction, validation_data: hold out that fraction of ``(x, y)`` (drawn with
        ``key``), or take ``(x_val, y_val)``; the validation loss is evaluated after every chunk
        (:mod:`jaxmlp.early_stopping`).
      patience: stop after this many evaluations in a row without a lower validation loss.
      restore_best: return the parameters (and optimizer state) of the lowest validation loss.

    Returns:
      A :class:`FitResult`.
    """
    params, x, y = check_batch(net, params, x, y)
    if x.ndim == 1:  # a single example, as net.apply takes it: a batch of one
        x, y = x.reshape((1, -1)), y.reshape((1, *y.shape))
    steps = _check_positive_int(steps, "steps")
    x, y, x_val, y_val = _validation_split(
        net, params, x, y, validation_fraction, validation_data, key
    )
    patience = early_stopping.check_patience(patience)
    if patience is not None and x_val is None:
        raise ValueError("patience needs a validation set (validation_fraction or validation_data)")
    if not isinstance(check_gradient, bool):
        raise TypeError(f"check_gradient must be True or False, got {check_gradient!r}")
    _check_gradient_path(grad, order, optimizer, clip_norm)
    if batch_size is not None:
        batch_size = _check_positive_int(batch_size, "batch_size", upper=x.shape[0])
        if batch_size < x.shape[0] and key is None:
            raise ValueError("a batch_size smaller than the data set needs a PRNG key (key=...)")
    if chunk_size is None:  # chunks serve the callback and validation; else one call does all
        if x_val is not None:
            chunk_size = -(-x.shape[0] // batch_size) if batch_size else max(1, steps // 100)
        else:
            chunk_size = steps if callback is None else DEFAULT_CHUNK
    chunk_size = _check_positive_int(chunk_size, "chunk_size")
    optimizer, clip_norm_step, opt_state = _optimizer_and_state(
        optimizer,
        learning_rate,
        params,
        opt_state,
        clip_norm,
        weight_decay,
        schedule,
        warmup_steps,
        start_step + steps,
    )
    mesh = distributed.make_mesh(devices)
    spec = StepSpec(net, optimizer, grad, order, batch_size, clip_norm_step, mesh)
    lr = np.asarray(1.0 if learning_rate is None else learning_rate, x.dtype)  # x has params' dtype
    run = _Run.placed(spec, lr, params, opt_state, x, y, x_val, y_val, key, start_step)
    return run.loop(
        steps,
        chunk_size,
        history,
        callback,
        early_stopping.Watch(patience),
        restore_best,
        check_gradient and grad == "backprop",
    )


def _check_gradient_path(grad: str, order: str, optimizer, clip_norm) -> None:
    """Refuse an unknown gradient path or update order, or an order that its update cannot take."""
    if grad not in GRADS:
        raise ValueError(f"unknown grad {grad!r}; expected one of {', '.join(GRADS)}")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; expected one of {', '.join(ORDERS)}")
    if clip_norm is not None and not (float(clip_norm) > 0 and math.isfinite(clip_norm)):
        raise ValueError(f"clip_norm must be a finite number > 0, got {clip_norm!r}")
    if order == "updated_weights" and (grad != "backprop" or optimizer is not None or clip_norm):
        raise ValueError(
            "order='updated_weights' is a handwritten SGD step: it needs grad='backprop', "
            "optimizer=None and no clip_norm"
        )


def _optimizer_and_state(
    optimizer,
    learning_rate,
    params,
    opt_state,
    clip_norm,
    weight_decay,
    schedule,
    warmup_steps,
    total_steps: int,
):
    """``(optax transformation or None, clip norm for manual SGD, optimizer state)`` from fit's
    arguments, refusing combinations where one would be ignored."""
    named = isinstance(optimizer, str)
    shaped = bool(weight_decay) or schedule != "constant" or warmup_steps
    if shaped and not named:
        raise ValueError(
            "weight_decay, schedule and warmup_steps go with a named optimizer ('sgd', 'momentum', "
            "'adam'); with your own optax transformation, chain them into it"
        )
    if named:
        optimizer = named_optimizer(
            optimizer,
            clip_norm,
            weight_decay or None,
            schedule,
            warmup_steps,
            total_steps if schedule != "constant" else None,
        )
        clip_norm = None  # inside the named optimizer
    elif optimizer is not None and clip_norm is not None:
        raise ValueError(
            "clip_norm works with named optimizers or manual SGD; chain optax.clip_by_global_norm yourself"
        )
    if optimizer is None or named:
        if learning_rate is None:
            raise ValueError("learning_rate is required (a finite number > 0)")
        _check_learning_rate(learning_rate)
    elif learning_rate is not None and not takes_learning_rate(optimizer):
        raise ValueError(
            "learning_rate has no effect with an optax GradientTransformation (its own rate applies): "
            "drop learning_rate, or pass a named optimizer ('sgd', 'momentum', 'adam')"
        )
    if optimizer is not None and opt_state is None:
        opt_state = init_optimizer(
            optimizer, params, learning_rate if takes_learning_rate(optimizer) else None
        )
    return optimizer, clip_norm, opt_state


@dataclasses.dataclass
class _Run:
    """One ``fit`` call's data and state, placed on its devices, and the chunk loop over them."""

    spec: StepSpec
    lr: np.ndarray
    params: Any  # the initial parameters (the gradient check's)
    x: Any
    y: Any
    x_val: Any
    y_val: Any
    key: jax.Array
    start_step: int
    start: tuple  # (TrainState, cursor): the carry before the first step

    @classmethod
    def placed(cls, spec, lr, params, opt_state, x, y, x_val, y_val, key, start_step) -> _Run:
        """The run with its data and state on ``spec.mesh`` (split or replicated) or one device.

        Without batches the step counter and key play no part in a step: they stay on the host
        (each argument and result of the compiled call costs microseconds of dispatch).
        """
        mesh, batch_size = spec.mesh, spec.batch_size
        key = _default_key() if key is None else key
        if mesh is not None:
            distributed.check_divisible(
                batch_size or x.shape[0], mesh, "a batch" if batch_size else "a full batch"
            )
            if batch_size is None:
                x, y = distributed.shard_leading(mesh, x), distributed.shard_leading(mesh, y)
            else:
                x, y = distributed.replicate(mesh, (x, y))
            params, opt_state, key = distributed.replicate(mesh, (params, opt_state, key))
            if x_val is not None:
                x_val, y_val = distributed.replicate(mesh, (x_val, y_val))
        host_counter = batch_size is None
        state = TrainState(
            params, opt_state, *((None, None) if host_counter else (np.int32(start_step), key))
        )
        cursor = None if host_counter else batching.start(key, start_step, x.shape[0], batch_size)
        if mesh is not None and cursor is not None:
            cursor = distributed.replicate(mesh, cursor)
        return cls(spec, lr, params, x, y, x_val, y_val, key, start_step, (state, cursor))

    def chunk(self, start, n, history=True, check=False):
        """``((state, cursor), losses, params_finite, validation loss, check)`` after ``n`` steps
        from ``start``."""
        c = run_chunk(
            *start[:2],
            self.lr,
            self.x,
            self.y,
            self.x_val,
            self.y_val,
            spec=self.spec,
            n_steps=n,
            history=history,
            check=check,
        )
        validating = self.x_val is not None
        losses, finite, *val = distributed.fetch(
            c.losses, c.params_finite, *((c.validation_loss,) if validating else ())
        )
        return (c.state, c.cursor), losses, finite, float(val[0]) if val else None, c.check

    def gradient_report(self, checked):
        """The first batch's check: raises :class:`~jaxmlp.gradcheck.GradientMismatchError` on a
        failed leaf, else returns a function that builds the :class:`GradCheckReport` (the
        report's objects cost more than the check itself on a tiny network, so they are made
        only when read)."""
        idx, errors = checked
        errors = np.asarray(errors)
        x, y, net, params = self.x, self.y, self.spec.net, self.params
        if not errors[2].all():  # the full check on the batch raises, naming the leaf
            batch = (x, y) if idx is None else (x[np.asarray(idx)], y[np.asarray(idx)])
            report_from_errors(net, errors, params, *batch)
        return lambda: report_from_errors(net, errors, params, x, y)  # passed: x, y unused

    def last_finite(self, chunk_start, previous, bad: int):
        """The carry one step before the first non-finite loss, ``bad`` steps into the chunk that
        began at ``chunk_start``: recomputed from there (or from the previous chunk's start when
        ``bad`` is 0), a rare path that compiles one more chunk length."""
        if bad > 0:
            origin, k = chunk_start, bad - 1
        elif previous is not None:
            origin, k = previous[0], previous[1] - 1
        else:
            origin, k = chunk_start, 0
        return origin if k == 0 else self.chunk(origin, k)[0]

    def loop(self, steps, chunk_size, history, callback, watch, restore_best, check) -> FitResult:
        """Chunks until ``steps`` are done, the loss is not finite, the callback or early
        stopping says stop; the :class:`FitResult`."""
        here, previous, report = self.start, None, None
        recorded, done, diverged_at, stopped = [], 0, None, False
        host_counter = self.spec.batch_size is None
        while done < steps:
            n = min(chunk_size, steps - done)
            chunk_start = here
            checking = check and report is None
            here, losses, params_finite, val_loss, checked = self.chunk(here, n, history, checking)
            if checking:  # raises GradientMismatchError before any result leaves fit
                report = self.gradient_report(checked)
            bad = first_bad(losses, params_finite, n)
            if bad >= 0 and not history:  # locate the first non-finite loss
                _, losses, params_finite, *_ = self.chunk(chunk_start, n)
                bad = first_bad(losses, params_finite, n)
            if bad >= 0:
                diverged_at = self.start_step + done + bad
                recorded.append(losses[: bad + 1])
                here = self.last_finite(chunk_start, previous, bad)
                break
            recorded.append(losses)
            previous = (chunk_start, n)
            done += n
            state, step = here[0], self.start_step + done
            asked = callback is not None and callback(
                state._replace(step=np.int32(step), key=self.key) if host_counter else state,
                losses,
            )
            if (val_loss is not None and watch.see(val_loss, step, here)) or asked:
                stopped = done < steps
                break
        step = self.start_step + done if diverged_at is None else diverged_at - 1
        if restore_best and watch.best is not None:
            here, step = watch.best, watch.best_step
        state, validating = here[0], self.x_val is not None
        net, x, y = self.spec.net, self.x, self.y

        def final():
            return compiled_loss(net, state.params, x, y)

        return FitResult(
            state.params,
            state.opt_state,
            np.concatenate(recorded),
            step,
            self.key,
            diverged_at,
            stopped,
            check=report,
            validation_losses=np.asarray(watch.losses) if validating else None,
            validation_steps=np.asarray(watch.steps, np.int64) if validating else None,
            best_step=watch.best_step,
            final=final,
        )


compiled_loss = jax.jit(_forward.loss_fn, static_argnums=0)


def _validation_split(net: MLP, params, x, y, fraction, data, key):
    """``(x, y, x_val, y_val)``: ``fraction`` of the examples held out, or ``data`` checked as a
    batch (a single example becomes a batch of one), or no validation set (``None``s)."""
    if fraction is not None and data is not None:
        raise ValueError("pass validation_fraction or validation_data, not both")
    if fraction is not None:
        split_key = jax.random.split(_default_key() if key is None else key)[1]
        return early_stopping.split(x, y, fraction, split_key)
    if data is None:
        return x, y, None, None
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"validation_data must be a pair (x_val, y_val), got {type(data).__name__}")
    _, x_val, y_val = check_batch(net, params, *data)
    if x_val.ndim == 1:
        x_val, y_val = x_val[None], y_val[None]
    return x, y, x_val, y_val
