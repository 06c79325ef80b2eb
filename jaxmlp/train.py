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
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxmlp import backprop as _backprop
from jaxmlp import batching, distributed, early_stopping
from jaxmlp import forward as _forward
from jaxmlp.config import MLP
from jaxmlp.gradcheck import GradCheckReport, leaf_errors, report_from_errors
from jaxmlp.validation import check_batch

if TYPE_CHECKING:
    import optax  # imported where used: it costs ~70 ms of `import jaxmlp` otherwise

GRADS = ("autodiff", "backprop")
DEFAULT_CHUNK = 1000  # steps per compiled call between two callbacks
ORDERS = ("simultaneous", "updated_weights")
OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "cosine", "exponential")


@jax.jit
def sgd_step(params, grads, learning_rate):
    r"""Plain gradient descent, leaf by leaf: :math:`\theta^+ = \theta - \eta\, \partial E / \partial \theta`.

    ``learning_rate`` may be a Python float or a scalar array; it is data to the
    compiled function, so a new value does not recompile.
    """
    return jax.tree_util.tree_map(
        lambda p, g: p - jnp.asarray(learning_rate, p.dtype) * g, params, grads
    )


@functools.cache
def named_optimizer(
    name: str,
    clip_norm: float | None = None,
    weight_decay: float | None = None,
    schedule: str = "constant",
    warmup_steps: int = 0,
    total_steps: int | None = None,
) -> optax.GradientTransformation:
    r"""An optax optimizer by name, its learning rate injected as state (set it with :func:`init_optimizer`).

    ``sgd`` is ``optax.sgd``; ``momentum`` is ``optax.sgd(momentum=0.9)``;
    ``adam`` is ``optax.adam``. With ``clip_norm``, gradients are first scaled
    to a global norm of at most ``clip_norm`` (``optax.clip_by_global_norm``).
    ``weight_decay`` :math:`\lambda`: L2 for ``sgd``/``momentum`` (the gradient gains
    :math:`\lambda 	heta`, ``optax.add_decayed_weights`` first), decoupled for ``adam``
    (``optax.adamw``). ``schedule`` multiplies each update by :math:`s(t)`
    (``optax.scale_by_schedule``): ``constant`` 1, ``cosine``
    :math:`	frac12(1 + \cos(\pi t / T))`, ``exponential`` :math:`0.01^{t/T}` over ``total_steps``
    :math:`T`, after a linear warm-up from 0 over ``warmup_steps`` (optax's
    ``warmup_cosine_decay_schedule``, ``join_schedules``). The learning rate itself stays data.
    Cached, so the same arguments always give the same (hashable) object and a compiled loop
    is reused.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    if weight_decay is not None and not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}")
    import optax

    factory = {
        "sgd": optax.sgd,
        "momentum": functools.partial(optax.sgd, momentum=0.9),
        "adam": optax.adam,
    }[name]
    if weight_decay and name == "adam":
        factory = functools.partial(optax.adamw, weight_decay=weight_decay)
    parts = [] if clip_norm is None else [optax.clip_by_global_norm(clip_norm)]
    if weight_decay and name != "adam":
        parts.append(optax.add_decayed_weights(weight_decay))
    parts.append(optax.inject_hyperparams(factory)(learning_rate=0.0))
    multiplier = schedule_multiplier(schedule, warmup_steps, total_steps)
    if multiplier is not None:
        parts.append(optax.scale_by_schedule(multiplier))
    opt = parts[0] if len(parts) == 1 else optax.chain(*parts)
    _INJECTED.append(opt)
    return opt


def schedule_multiplier(schedule: str, warmup_steps: int, total_steps: int | None):
    """The factor :math:`s(t)` of each update (None: always 1), from optax's schedules."""
    import optax

    if schedule == "constant" and not warmup_steps:
        return None
    if schedule != "constant" and not total_steps:
        raise ValueError(f"the {schedule} schedule needs the run's total number of steps")
    decay = max(1, (total_steps or 1) - warmup_steps)
    if schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps, warmup_steps + decay)
    after = (
        optax.constant_schedule(1.0)
        if schedule == "constant"
        else optax.exponential_decay(1.0, transition_steps=decay, decay_rate=0.01)
    )
    if not warmup_steps:
        return after
    return optax.join_schedules(
        [optax.linear_schedule(0.0, 1.0, warmup_steps), after], [warmup_steps]
    )


_INJECTED: list = []  # the optimizers named_optimizer made: their learning rate is set from fit's


def takes_learning_rate(optimizer) -> bool:
    """Whether ``fit``'s ``learning_rate`` reaches ``optimizer``: manual SGD, a name, or the result of
    :func:`named_optimizer` (a learning rate with any other optax transformation would be ignored)."""
    return optimizer is None or isinstance(optimizer, str) or any(optimizer is o for o in _INJECTED)


def set_learning_rate(opt_state, learning_rate):
    """``opt_state`` with every injected ``learning_rate`` hyperparameter set to ``learning_rate``."""

    def is_injected(s):
        return isinstance(getattr(s, "hyperparams", None), dict)

    def set_lr(s):
        if is_injected(s) and "learning_rate" in s.hyperparams:
            hp = dict(s.hyperparams)
            hp["learning_rate"] = jnp.asarray(learning_rate, hp["learning_rate"].dtype)
            return s._replace(hyperparams=hp)
        return s

    return jax.tree_util.tree_map(set_lr, opt_state, is_leaf=is_injected)


def init_optimizer(optimizer: optax.GradientTransformation, params, learning_rate=None):
    """``optimizer.init(params)``, with the injected learning rate set to ``learning_rate`` where there is one."""
    state = optimizer.init(params)
    return state if learning_rate is None else set_learning_rate(state, learning_rate)


class TrainState(NamedTuple):
    """What a training run carries: ``params``, optimizer state, global ``step`` (int32 scalar), PRNG ``key``."""

    params: Any
    opt_state: Any
    step: jax.Array
    key: jax.Array


class FitResult(NamedTuple):
    """The result of :func:`fit`.

    ``params``/``opt_state``: the final state (the last one with a finite
    loss if training diverged; the best one on the validation set when
    validating with ``restore_best``); ``losses``: the loss before each step taken,
    ``(steps_taken,)``; ``step``: the global step of ``params``; ``diverged_at``:
    the global step whose loss was first non-finite, else ``None``;
    ``stopped``: True when the callback or early stopping ended the run before ``steps``;
    ``final_loss``: the loss of the returned ``params`` on the training data (the loss after
    the last step); ``gradient_check``: the check of the handwritten gradient on the first
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
    final_loss: float = math.nan
    gradient_check: GradCheckReport | None = None
    validation_losses: np.ndarray | None = None
    validation_steps: np.ndarray | None = None
    best_step: int | None = None

    @property
    def last_finite_loss(self) -> float:
        """The last finite entry of ``losses`` (NaN when there is none)."""
        finite = self.losses[np.isfinite(self.losses)]
        return float(finite[-1]) if finite.size else float("nan")


class Chunk(NamedTuple):
    """What :func:`run_chunk` returns: the carry (``state``, ``cursor``), the chunk's ``losses``,
    whether the final parameters are all finite, the first batch's gradient check
    (``(idx, errors)`` or None), the validation loss after the chunk (or None) and, without
    batches, the training loss after it (else None)."""

    state: TrainState
    cursor: Any
    losses: jax.Array
    params_finite: jax.Array
    check: Any = None
    validation_loss: jax.Array | None = None
    final_loss: jax.Array | None = None


@dataclasses.dataclass(frozen=True)
class StepSpec:
    """The static part of a training step: hashable, so it keys the compilation cache."""

    net: MLP
    optimizer: optax.GradientTransformation | None
    grad: str = "autodiff"
    order: str = "simultaneous"
    batch_size: int | None = None
    clip_norm: float | None = None
    mesh: Mesh | None = None


def value_and_grad(spec: StepSpec, params, x, y):
    """``(E, dE/dparams)`` by autodiff or by the handwritten delta rule, as ``spec.grad`` says."""
    if spec.grad == "backprop":
        return _backprop.value_and_backprop(spec.net, params, x, y)
    return jax.value_and_grad(functools.partial(_forward.loss_fn, spec.net))(params, x, y)


def shard_batch(spec: StepSpec, x, y):
    """Keep a drawn batch split over the mesh (else XLA may gather it whole onto every device)."""
    if spec.mesh is None:
        return x, y
    sharding = NamedSharding(spec.mesh, PartitionSpec(spec.mesh.axis_names[0]))
    return jax.lax.with_sharding_constraint(x, sharding), jax.lax.with_sharding_constraint(
        y, sharding
    )


def keep_frozen(net: MLP, new, old):
    """``new`` with the biases of ``old`` when ``net.train_bias`` is False.

    Their gradient is zero, so plain SGD would leave them unchanged anyway; but
    ``b - lr * 0`` cannot be folded away by XLA (``lr`` might be inf), and momentum
    or weight decay could move them. Frozen means frozen.
    """
    if net.train_bias or net.bias == "none":
        return new
    return tuple({**n, "b": o["b"]} for n, o in zip(new, old))


def update(
    spec: StepSpec, state: TrainState, learning_rate, xb, yb
) -> tuple[TrainState, jax.Array]:
    """One update on the batch ``(xb, yb)``: ``(state, E)`` -> next state (its ``step`` unchanged);
    E is the loss before the update."""
    if spec.order == "updated_weights":
        loss, params = _backprop.sgd_step_updated_weights(
            spec.net, state.params, xb, yb, learning_rate
        )
        opt_state = state.opt_state
    else:
        loss, grads = value_and_grad(spec, state.params, xb, yb)
        if spec.optimizer is None:
            if spec.clip_norm is not None:
                import optax  # here, not above: manual SGD (the seed's runs) never pays its import

                grads, _ = optax.clip_by_global_norm(spec.clip_norm).update(
                    grads, optax.EmptyState()
                )
            params, opt_state = sgd_step(state.params, grads, learning_rate), state.opt_state
        else:
            import optax

            # optax mixes int32 step counts with floats; let it, even where callers run strict promotion.
            with jax.numpy_dtype_promotion("standard"):
                updates, opt_state = spec.optimizer.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
    params = keep_frozen(spec.net, params, state.params)
    return state._replace(params=params, opt_state=opt_state), loss


def train_step(spec: StepSpec, carry, learning_rate, x, y):
    """One step: ``((state, cursor), E)`` -> next; E is the loss before the step.

    With batches (``spec.batch_size``) the step draws the next ``batch_size`` examples of the
    epoch stream (:mod:`jaxmlp.batching`: O(batch), ``cursor`` an :class:`~jaxmlp.batching.Epochs`)
    and advances the state's step counter; without, ``cursor`` is None, the whole data set is
    the batch, and :func:`run_chunk` adds the chunk's length to the counter instead.
    """
    state, cursor = carry
    if spec.batch_size is None:
        state, loss = update(spec, state, learning_rate, x, y)
        return (state, None), loss
    idx, cursor = batching.draw(state.key, cursor, spec.batch_size, x.shape[0])
    xb, yb = shard_batch(spec, x[idx], y[idx])
    state, loss = update(spec, state, learning_rate, xb, yb)
    return (state._replace(step=state.step + 1), cursor), loss


def first_batch_check(spec: StepSpec, state: TrainState, cursor, x, y):
    """Traceable: ``(idx, errors)``: the indices of the batch the first step draws (None without
    batches: all of ``x``) and :func:`~jaxmlp.gradcheck.leaf_errors` between the delta rule's and
    ``jax.grad``'s gradients on it (the gradients stay inside: each output of a compiled call
    costs dispatch time)."""
    idx = None
    if spec.batch_size is not None:
        idx, _ = batching.draw(state.key, cursor, spec.batch_size, x.shape[0])
        x, y = shard_batch(spec, x[idx], y[idx])
    auto = jax.grad(_forward.loss_fn, argnums=1)(spec.net, state.params, x, y)
    hand = _backprop.backprop(spec.net, state.params, x, y)
    return idx, leaf_errors(spec.net, hand, auto)


@functools.partial(jax.jit, static_argnames=("spec", "n_steps", "history", "check"))
def run_chunk(
    state: TrainState,
    cursor,
    learning_rate,
    x,
    y,
    x_val=None,
    y_val=None,
    *,
    spec: StepSpec,
    n_steps: int,
    history: bool = True,
    check: bool = False,
) -> Chunk:
    """``n_steps`` training steps in one ``lax.scan``: a :class:`Chunk`.

    ``cursor`` is the epoch stream's :class:`~jaxmlp.batching.Epochs` (None without batches).

    With ``history``, ``losses`` ``(n_steps,)`` is the loss before each step;
    without, ``(1,)``: the loss before the last step, carried rather than
    stored (storing costs ~7% of a tiny network's step). ``params_finite``
    says whether the final parameters are all finite; :func:`first_bad` reads
    both. Nothing loss-dependent is carried or reduced in the compiled call:
    a flag or a select on the loss inside the loop made the seed network's
    step 10x slower on CPU, and even a reduction over the stacked losses
    after the loop cost 5%, where NumPy on the host copy (which ``fit``
    fetches anyway) costs microseconds. Without batches (``spec.batch_size``
    None) the state's ``step`` and ``key`` are not used and may be None.

    With ``check``, the chunk first compares the handwritten gradient with ``jax.grad`` on the
    batch its first step uses (:func:`first_batch_check`); with ``x_val``/``y_val``, it ends with
    the validation loss of the final parameters.
    """
    checked = first_batch_check(spec, state, cursor, x, y) if check else None
    if history:
        (state, cursor), losses = jax.lax.scan(
            lambda c, _: train_step(spec, c, learning_rate, x, y),
            (state, cursor),
            None,
            length=n_steps,
        )
    else:

        def body(carry, _):
            return train_step(spec, carry[0], learning_rate, x, y), None

        loss0 = jnp.zeros((), jax.tree_util.tree_leaves(state.params)[0].dtype)
        ((state, cursor), loss), _ = jax.lax.scan(
            body, ((state, cursor), loss0), None, length=n_steps
        )
        losses = loss[None]
    if spec.batch_size is None and state.step is not None:
        state = state._replace(step=state.step + n_steps)
    params_finite = jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(state.params)])
    )
    val = None if x_val is None else _forward.loss_fn(spec.net, state.params, x_val, y_val)
    # Without batches x is the training set: its loss after the chunk costs one forward pass here
    # (with batches, fit evaluates it once after the run instead of once per chunk).
    final = _forward.loss_fn(spec.net, state.params, x, y) if spec.batch_size is None else None
    return Chunk(state, cursor, losses, params_finite, checked, val, final)


def first_bad(losses: np.ndarray, params_finite, n_steps: int) -> int:
    """Index of the first non-finite loss of a chunk; ``n_steps`` when only the final parameters
    are non-finite (the next loss would not be finite); -1 when all is finite."""
    finite = np.isfinite(losses)
    if finite.all():
        return -1 if bool(params_finite) else n_steps
    return int(np.argmin(finite))


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
    if grad not in GRADS:
        raise ValueError(f"unknown grad {grad!r}; expected one of {', '.join(GRADS)}")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; expected one of {', '.join(ORDERS)}")
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
    if clip_norm is not None and not (float(clip_norm) > 0 and math.isfinite(clip_norm)):
        raise ValueError(f"clip_norm must be a finite number > 0, got {clip_norm!r}")
    if order == "updated_weights" and (grad != "backprop" or optimizer is not None or clip_norm):
        raise ValueError(
            "order='updated_weights' is a handwritten SGD step: it needs grad='backprop', "
            "optimizer=None and no clip_norm"
        )
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
            start_step + steps if schedule != "constant" else None,
        )
        clip_norm_step = None
    else:
        clip_norm_step = clip_norm
        if optimizer is not None and clip_norm is not None:
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
    lr = np.asarray(1.0 if learning_rate is None else learning_rate, x.dtype)  # x has params' dtype
    mesh = distributed.make_mesh(devices)
    spec = StepSpec(net, optimizer, grad, order, batch_size, clip_norm_step, mesh)
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
    # Without batches the step counter and key play no part in a step: they stay on the host
    # (each argument and result of the compiled call costs microseconds of dispatch).
    host_counter = batch_size is None
    state = TrainState(
        params, opt_state, *((None, None) if host_counter else (np.int32(start_step), key))
    )
    cursor = None if host_counter else batching.start(key, start_step, x.shape[0], batch_size)
    if mesh is not None and cursor is not None:
        cursor = distributed.replicate(mesh, cursor)

    def chunk(start, n, history=True, check=False):
        """``((state, cursor, loss), losses, params_finite, validation loss, check)`` after ``n``
        steps from ``start`` (``loss``: the training loss there, without batches)."""
        c = run_chunk(
            *start[:2], lr, x, y, x_val, y_val, spec=spec, n_steps=n, history=history, check=check
        )
        losses, finite, *val = distributed.fetch(
            c.losses, c.params_finite, *(() if x_val is None else (c.validation_loss,))
        )
        end = (c.state, c.cursor, c.final_loss)
        return end, losses, finite, float(val[0]) if val else None, c.check

    here = (state, cursor, None)  # the carry, and the training loss there when known
    recorded, done, diverged_at, stopped = [], 0, None, False
    previous = None  # (start, length) of the chunk before this one
    report = None
    watch = early_stopping.Watch(patience)
    while done < steps:
        n = min(chunk_size, steps - done)
        chunk_start = here
        checking = check_gradient and grad == "backprop" and report is None
        here, losses, params_finite, val_loss, checked = chunk(here, n, history, checking)
        if checking:  # raises GradientMismatchError before any result leaves fit
            idx = checked[0]
            batch = (x, y) if idx is None else (x[np.asarray(idx)], y[np.asarray(idx)])
            report = report_from_errors(net, checked[1], params, *batch)
        bad = first_bad(losses, params_finite, n)
        if bad >= 0 and not history:  # locate the first non-finite loss
            _, losses, params_finite, *_ = chunk(chunk_start, n)
            bad = first_bad(losses, params_finite, n)
        if bad >= 0:
            # The loss of the state `bad` steps into this chunk is the first non-finite one; the
            # state one step earlier is recomputed from the chunk's start (or the previous chunk's
            # when bad == 0): a rare path that compiles one more chunk length.
            diverged_at = start_step + done + bad
            recorded.append(losses[: bad + 1])
            if bad > 0:
                origin, k = chunk_start, bad - 1
            elif previous is not None:
                origin, k = previous[0], previous[1] - 1
            else:
                origin, k = chunk_start, 0
            here = origin if k == 0 else chunk(origin, k)[0]
            break
        recorded.append(losses)
        previous = (chunk_start, n)
        done += n
        state = here[0]
        asked = callback is not None and callback(
            state._replace(step=np.int32(start_step + done), key=key) if host_counter else state,
            losses,
        )
        if (val_loss is not None and watch.see(val_loss, start_step + done, here)) or asked:
            stopped = done < steps
            break
    step = start_step + done if diverged_at is None else diverged_at - 1
    if restore_best and watch.best is not None:
        here, step = watch.best, watch.best_step
    state = here[0]
    return FitResult(
        state.params,
        state.opt_state,
        np.concatenate(recorded),
        step,
        key,
        diverged_at,
        stopped,
        final_loss=float(compiled_loss(net, state.params, x, y) if here[2] is None else here[2]),
        gradient_check=report,
        validation_losses=np.asarray(watch.losses) if x_val is not None else None,
        validation_steps=np.asarray(watch.steps, np.int64) if x_val is not None else None,
        best_step=watch.best_step,
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
