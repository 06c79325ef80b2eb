r"""The compiled training loop: one step (a batch drawn, a gradient by autodiff or by the delta rule,
an SGD or optax update) and ``lax.scan`` over a chunk of steps. :func:`jaxmlp.training.fit.fit` drives it.

A chunk carries ``(TrainState, cursor)``; the cursor is the epoch stream's position
(:mod:`jaxmlp.training.batching`) when batches are drawn, else None. Nothing loss-dependent is reduced inside
the loop (see :func:`run_chunk`): divergence is found on the host from the chunk's losses.

Every product in the loop, autodiff's and the delta rule's alike, is taken by the kernel
:func:`jaxmlp.kernels.small.matmul` (the reference's ``a @ b``, fused for one example and narrow
layers); the gradient the loop computes is the one checked against ``jax.grad`` before training.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import jaxpr_as_fun
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxmlp import backprop as _backprop
from jaxmlp import forward as _forward
from jaxmlp import programs
from jaxmlp.checks.gradient_check import leaf_errors
from jaxmlp.kernels.small import matmul as kernel_matmul
from jaxmlp.mlp import MLP
from jaxmlp.training import batching
from jaxmlp.training import monitor as _monitor
from jaxmlp.update import keep_frozen, sgd_update

if TYPE_CHECKING:
    import optax

__all__ = [
    "GRADS",
    "ORDERS",
    "no_batch_key",
    "TrainState",
    "Chunk",
    "StepSpec",
    "start_carry",
    "value_and_grad",
    "shard_batch",
    "update",
    "update_and_gradient",
    "train_step",
    "next_batch",
    "monitor_record",
    "plain_steps",
    "first_batch_check",
    "run_chunk",
    "all_finite",
    "first_bad",
]

GRADS = ("autodiff", "backprop")
ORDERS = ("simultaneous", "updated_weights")


@functools.lru_cache(maxsize=1)
def no_batch_key() -> jax.Array:
    """The key of a run that draws no batches (unused, but part of the state); made once.

    ``jax.random.key(0)``, wrapped from its data: creating it would compile two
    small programs, a tenth of ``jaxmlp reproduce``'s start-up.
    """
    return jax.random.wrap_key_data(
        cast(jax.Array, np.zeros(2, np.uint32))
    )  # host data: no program


class TrainState(NamedTuple):
    """What a training run carries: ``params``, optimizer state, global ``step`` (int32 scalar), PRNG ``key``."""

    params: Any
    opt_state: Any
    step: Any  # an int32 scalar, on the host or the device
    key: jax.Array | None


class Chunk(NamedTuple):
    """What :func:`run_chunk` returns: the carry (``state``, ``cursor``), the chunk's ``losses``,
    whether the final parameters are all finite, the first batch's gradient check
    (``(idx, errors)`` or None), the validation loss after the chunk (or None) and the
    monitor's :class:`~jaxmlp.training.monitor.Watch` (or None)."""

    state: TrainState
    cursor: Any
    losses: jax.Array
    params_finite: jax.Array
    check: Any = None
    validation_loss: jax.Array | None = None
    watch: Any = None


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
    monitor: _monitor.Monitor | None = None  # without its probe (Monitor.static)
    given: bool = False  # the chunk's batches come in, (n_steps, batch, ...): a stream's


def start_carry(spec: StepSpec, params, opt_state, key, start_step: int, n: int):
    """``(TrainState, cursor)`` before global step ``start_step`` over ``n`` examples: the carry every
    run starts from (``fit``'s chunks and ``hypergradient``'s differentiated run alike). Without
    batches the cursor is None and the key an unused placeholder."""
    key = no_batch_key() if key is None else key
    state = TrainState(params, opt_state, np.int32(start_step), key)
    if spec.batch_size is None:
        return state, None
    return state, batching.start(key, start_step, n, spec.batch_size)


def value_and_grad(spec: StepSpec, params, x, y):
    """``(E, dE/dparams)`` by autodiff or by the handwritten delta rule, as ``spec.grad`` says."""
    if spec.grad == "backprop":
        return _backprop.value_and_backprop(spec.net, params, x, y, matmul=kernel_matmul)
    loss = functools.partial(_forward.loss_fn, spec.net, matmul=kernel_matmul)
    return jax.value_and_grad(loss)(params, x, y)


def shard_batch(spec: StepSpec, x, y):
    """Keep a drawn batch split over the mesh (else XLA may gather it whole onto every device)."""
    if spec.mesh is None:
        return x, y
    sharding = NamedSharding(spec.mesh, PartitionSpec(spec.mesh.axis_names[0]))
    return jax.lax.with_sharding_constraint(x, sharding), jax.lax.with_sharding_constraint(
        y, sharding
    )


def update(
    spec: StepSpec, state: TrainState, learning_rate, xb, yb
) -> tuple[TrainState, jax.Array]:
    """One update on the batch ``(xb, yb)``: ``(state, E)`` -> next state (its ``step`` unchanged);
    E is the loss before the update."""
    state, loss, _ = update_and_gradient(spec, state, learning_rate, xb, yb)
    return state, loss


def update_and_gradient(spec: StepSpec, state: TrainState, learning_rate, xb, yb):
    r""":func:`update`, and the batch's gradient: ``(state, E, dE/dparams)`` (before any clipping;
    for the ``updated_weights`` order, :math:`(\theta - \theta') / \eta`, the step it took)."""
    if spec.order == "updated_weights":
        loss, params = _backprop.sgd_step_updated_weights(
            spec.net, state.params, xb, yb, learning_rate, matmul=kernel_matmul
        )
        opt_state = state.opt_state
        grads = jax.tree_util.tree_map(lambda a, b: (a - b) / learning_rate, state.params, params)
    else:
        loss, grads = value_and_grad(spec, state.params, xb, yb)
        if spec.optimizer is None:
            if spec.clip_norm is not None:
                import optax  # here, not above: manual SGD (the seed's runs) never pays its import

                clipped, _ = optax.clip_by_global_norm(spec.clip_norm).update(
                    grads, optax.EmptyState()
                )
            else:
                clipped = grads
            params, opt_state = sgd_update(state.params, clipped, learning_rate), state.opt_state
        else:
            import optax

            # optax mixes int32 step counts with floats; let it, even where callers run strict promotion.
            with jax.numpy_dtype_promotion("standard"):
                updates, opt_state = spec.optimizer.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
    params = keep_frozen(spec.net, params, state.params)
    return state._replace(params=params, opt_state=opt_state), loss, grads


def train_step(spec: StepSpec, carry, learning_rate, x, y):
    """One step: ``((state, cursor), E)`` -> next; E is the loss before the step.

    With batches (``spec.batch_size``) the step draws the next ``batch_size`` examples of the
    epoch stream (:mod:`jaxmlp.training.batching`: O(batch), ``cursor`` an :class:`~jaxmlp.training.batching.Epochs`)
    and advances the state's step counter; without, ``cursor`` is None, the whole data set is
    the batch, and :func:`run_chunk` adds the chunk's length to the counter instead.
    """
    state, cursor = carry
    xb, yb, cursor = next_batch(spec, state, cursor, x, y)
    state, loss = update(spec, state, learning_rate, xb, yb)
    if spec.batch_size is not None:
        state = state._replace(step=state.step + 1)
    return (state, cursor), loss


def next_batch(spec: StepSpec, state: TrainState, cursor, x, y):
    """``(xb, yb, cursor)``: the step's batch (all of ``x``, ``y`` without batches) and where the
    epoch stream stands after it. With ``spec.given``, ``x`` and ``y`` are the chunk's batches
    ``(n_steps, batch, ...)`` (read from a stream on the host) and ``cursor`` the next one's index."""
    if spec.batch_size is None:
        return x, y, cursor
    if spec.given:
        xb, yb = shard_batch(spec, x[cursor], y[cursor])
        return xb, yb, cursor + 1
    assert state.key is not None  # a run with batches carries its key
    idx, cursor = batching.draw(state.key, cursor, spec.batch_size, x.shape[0])
    xb, yb = shard_batch(spec, x[idx], y[idx])
    return xb, yb, cursor


def monitor_record(spec: StepSpec, carry, vectors, step, learning_rate, x, y, probe):
    """The monitor's record before global step ``step`` from the carry ``(state, cursor)``, the
    step's update recomputed from it (:func:`jaxmlp.training.monitor.measure`): ``(row, vectors)``."""
    state, cursor = carry
    xb, yb, _ = next_batch(spec, state, cursor, x, y)

    def advance():
        new, _, grads = update_and_gradient(spec, state, learning_rate, xb, yb)
        return new.params, grads

    assert spec.monitor is not None
    px, py = probe
    return _monitor.measure_at(spec.net, spec.monitor, state.params, advance, px, py, vectors, step)


def plain_steps(spec: StepSpec, carry, learning_rate, x, y, n_steps: int, history: bool):
    """``n_steps`` of :func:`train_step` in one ``lax.scan``: ``(carry, losses)``, the losses
    ``(n_steps,)`` with ``history``, else ``(1,)``: the loss before the last step, carried rather
    than stored (storing is a measurable part of a tiny network's step: `jaxmlp bench` times both)."""
    if history:
        return jax.lax.scan(
            lambda c, _: train_step(spec, c, learning_rate, x, y), carry, None, length=n_steps
        )

    def body(carry, _):
        return train_step(spec, carry[0], learning_rate, x, y), None

    loss0 = jnp.zeros((), jax.tree_util.tree_leaves(carry[0].params)[0].dtype)
    (carry, loss), _ = jax.lax.scan(body, (carry, loss0), None, length=n_steps)
    return carry, loss[None]


def first_batch_check(spec: StepSpec, state: TrainState, cursor, x, y):
    """Traceable: ``(idx, errors)``: the indices of the batch the first step draws (None without
    batches: all of ``x``) and :func:`~jaxmlp.checks.gradient_check.leaf_errors` between the delta rule's
    gradient as the loop computes it (with the loop's kernel) and ``jax.grad`` of the reference
    loss (the gradients stay inside: each output of a compiled call costs dispatch time)."""
    idx = None
    if spec.given:
        x, y = shard_batch(spec, x[0], y[0])
    elif spec.batch_size is not None:
        assert state.key is not None  # a run with batches carries its key
        idx, _ = batching.draw(state.key, cursor, spec.batch_size, x.shape[0])
        x, y = shard_batch(spec, x[idx], y[idx])
    auto = jax.grad(_forward.loss_fn, argnums=1)(spec.net, state.params, x, y)  # the reference
    hand = _backprop.backprop(spec.net, state.params, x, y, matmul=kernel_matmul)
    return idx, leaf_errors(spec.net, hand, auto)


@functools.partial(programs.jit, static_argnames=("spec", "n_steps", "history", "check", "lead"))
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
    check_now=True,
    vectors=None,
    probe=None,
    lead: int = 0,
) -> Chunk:
    """``n_steps`` training steps in one ``lax.scan``: a :class:`Chunk`.

    ``cursor`` is the epoch stream's :class:`~jaxmlp.training.batching.Epochs` (None without batches;
    with ``spec.given``, 0: ``x`` and ``y`` are then the chunk's batches, one per step).
    ``state.key`` never changes in a run, so it is an input only: the returned state's key is
    None (the caller keeps its own), and without batches it may be None on the way in too.

    With ``history``, ``losses`` ``(n_steps,)`` is the loss before each step;
    without, ``(1,)``: the loss before the last step, carried rather than
    stored (storing is a measurable part of a tiny network's step: `jaxmlp bench` times both).
    ``params_finite`` says whether the final parameters are all finite; :func:`first_bad`
    reads both. Nothing loss-dependent is carried or reduced in the compiled call: a flag or a
    select on the loss inside the loop keeps XLA from pipelining the tiny steps, and a reduction
    over the stacked losses after the loop costs more than NumPy on the host copy that ``fit``
    fetches anyway.

    With ``check``, the chunk first compares the handwritten gradient with ``jax.grad`` on the
    batch its first step uses (:func:`first_batch_check`) when ``check_now`` (a traced bool: every
    chunk of a run is one program, the first checks, the others return zeros); with
    ``x_val``/``y_val``, it ends with the validation loss of the final parameters.

    With ``spec.monitor``, the steps run as :func:`jaxmlp.training.monitor.scan` s, with a record
    on ``probe`` ``(x, y)`` before each global step that is a multiple of its ``every`` (the first
    ``lead`` steps, static, come before the next such step), the Lanczos iterations starting from
    ``vectors``; the returned chunk's ``watch`` holds the records and the last eigenvectors.
    """
    checked = None
    if check:  # traced once (as a jaxpr): the skipped branch needs only its shapes
        first, shapes = jax.make_jaxpr(
            lambda: first_batch_check(spec, state, cursor, x, y), return_shape=True
        )()
        zeros = [jnp.zeros(s.shape, s.dtype) for s in jax.tree_util.tree_leaves(shapes)]
        checked = jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(shapes),
            jax.lax.cond(check_now, jaxpr_as_fun(first), lambda: zeros),
        )
    if spec.monitor is not None:

        def steps(carry, n):
            return plain_steps(spec, carry, learning_rate, x, y, n, history)

        def record(carry, vectors, step):
            return monitor_record(spec, carry, vectors, step, learning_rate, x, y, probe)

        first_step = jnp.asarray(state.step, jnp.int32)
        (state, cursor), losses, watch = _monitor.scan(
            spec.monitor, steps, record, (state, cursor), vectors, first_step, n_steps, lead
        )
        if not history:
            losses = losses[-1:]
    else:
        (state, cursor), losses = plain_steps(
            spec, (state, cursor), learning_rate, x, y, n_steps, history
        )
        watch = None
    if spec.batch_size is None:
        state = state._replace(step=state.step + n_steps)
    params_finite = all_finite(state.params)
    val = None if x_val is None else _forward.loss_fn(spec.net, state.params, x_val, y_val)
    return Chunk(state._replace(key=None), cursor, losses, params_finite, checked, val, watch)


def all_finite(params) -> jax.Array:
    """Traceable: whether every leaf of ``params`` is finite (a bool scalar)."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(params)]))


def first_bad(losses: np.ndarray, params_finite, n_steps: int) -> int:
    """Index of the first non-finite loss of a chunk; ``n_steps`` when only the final parameters
    are non-finite (the next loss would not be finite); -1 when all is finite."""
    # A NaN or an infinity makes the sum non-finite; a sum that overflowed needs the exact look.
    if math.isfinite(np.add.reduce(losses)) or np.isfinite(losses).all():
        return -1 if params_finite else n_steps
    return int(np.argmin(np.isfinite(losses)))
