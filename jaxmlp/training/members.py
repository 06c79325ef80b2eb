r"""A population trained as ``fit`` trains one network: minibatch epochs, any optax optimizer, and
early stopping, every member with its own hyperparameters, rows, batch order and stopping.

Member :math:`m` has parameters :math:`\theta_m`, a PRNG key :math:`k_m`, its rows
:math:`R_m \subset \{0..n-1\}` of the shared data (a fold or a split: an index set, so the data are
stored once) and hyperparameters :math:`h_m` (learning rate, weight decay, betas, momentum,
warm-up, ...). Step :math:`t` of member :math:`m` draws the batch
:math:`B_{m,t} = R_m[\pi_{k_m}(\cdot)]` of its epoch stream (:mod:`jaxmlp.training.batching`: the
batches ``fit(x[R_m], y[R_m], key=k_m)`` draws) and applies

.. math:: (u, s_m) \leftarrow \mathrm{opt}_{h_m}.\mathrm{update}(\nabla E_{B_{m,t}}(\theta_m), s_m,
   \theta_m), \qquad \theta_m \leftarrow \theta_m + u,

the optax optimizer named ``optimizer`` built with ``optax.inject_hyperparams``: its numeric
hyperparameters live in the optimizer state :math:`s_m`, so they are data (a new grid never
recompiles) and ``jax.vmap`` gives every member its own. A ``schedule`` multiplies every update by
:func:`~jaxmlp.training.optimizers.schedule_multiplier` :math:`s(t)` over the run's steps, its
``warmup_steps`` and ``total_steps`` per-member hyperparameters too.

With validation rows :math:`V_m`, after every ``check_every`` steps each member's validation loss
:math:`E_{V_m}(\theta_m)` is taken; a member whose loss has not improved on its best for
``patience`` checks in a row stops (``fit``'s rule, :func:`~jaxmlp.training.early_stopping.
exhausted`): it is frozen (its later steps are discarded) and keeps the parameters of its best
check. A member whose batch loss is not finite stops too, with its last state whose loss was
finite (``fit``'s rule). The run ends when
every member has stopped or after ``steps`` steps; all of it is one compiled call (a
``lax.while_loop`` over checks around a ``lax.scan`` over steps, the members ``vmap``-ed).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import programs
from jaxmlp.checks.gradient_check import GradCheckReport, report_from_errors
from jaxmlp.forward import loss_fn
from jaxmlp.mlp import MLP
from jaxmlp.training import batching, early_stopping, engine, parallel
from jaxmlp.training.arguments import MAX_STEP, check_gradient_path
from jaxmlp.training.engine import select
from jaxmlp.training.loop import StepSpec, TrainState, update
from jaxmlp.training.optimizers import NamedOptimizer, optax_optimizer, set_hyperparams
from jaxmlp.training.population import PopulationState, kernel_errors
from jaxmlp.validation import check_batch, check_callback, check_positive_int

__all__ = ["PopulationFit", "train_population"]


@dataclasses.dataclass(frozen=True)
class PopulationFit:
    """What :func:`train_population` returns, every array with the members' axis ``N`` where it says.

    ``params``: stacked ``(N, ...)``: each member's best parameters when validating (those of its
    best check), else its last. ``last_params``: the parameters each member ended with.
    ``steps_run`` ``(N,)``: the steps each member took before it stopped. ``stopped`` ``(N,)``:
    stopped by its patience, a non-finite loss or the callback (False: it ran all ``steps``).
    ``diverged`` ``(N,)``: stopped by a batch loss that was not finite; such a member keeps, as
    ``fit`` does, its last state whose loss was finite (the state before the one whose loss
    overflowed), and ``steps_run`` counts the steps to it.
    ``train_loss`` ``(checks, N)``: the mean batch loss of each period of ``check_every`` steps
    (NaN after a member stopped). ``validation_loss`` ``(checks, N)`` after each period (None
    without validation rows); ``best_validation_loss``, ``best_step`` ``(N,)`` (None without).
    ``gradient_check``: the handwritten gradient against ``jax.grad`` on the first member's first
    batch (``grad="backprop"``), else None. ``seconds``: the run's wall time, compilation included.
    """

    params: Any
    last_params: Any
    steps_run: np.ndarray
    stopped: np.ndarray
    diverged: np.ndarray
    train_loss: np.ndarray
    validation_loss: np.ndarray | None
    best_validation_loss: np.ndarray | None
    best_step: np.ndarray | None
    gradient_check: GradCheckReport | None
    seconds: float


class _Static(NamedTuple):
    """The compiled run's static part: one program per distinct value."""

    spec: StepSpec
    batch: int | None  # None: every step takes all of a member's rows
    n_rows: int
    check_every: int
    checks: int
    patience: int | None


def _per_member(values, n: int, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,) or not np.all(np.isfinite(a)):
        raise ValueError(
            f"hyperparameter {name!r} must be one finite number or one per member ({n}), got "
            f"{np.shape(values)} values" + ("" if a.shape != (n,) else " with a non-finite one")
        )
    return a


def _rows(rows, n_members: int, n: int, name: str) -> np.ndarray:
    """``rows`` as ``(N, L)`` int32 positions in ``[0, n)``: one index set per member, or one shared."""
    r = np.asarray(rows)
    if r.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer row indices, got dtype {r.dtype}")
    if r.ndim == 1:
        r = np.broadcast_to(r, (n_members, r.shape[0]))
    if r.ndim != 2 or r.shape[0] != n_members or r.shape[1] == 0:
        raise ValueError(
            f"{name} must be one index set per member, (N={n_members}, rows) with rows of one "
            f"length (pad nothing: equal folds), or one (rows,) for all; got shape {np.shape(rows)}"
        )
    if r.min() < 0 or r.max() >= n:
        raise ValueError(f"{name} must lie in [0, {n}), got values from {r.min()} to {r.max()}")
    return np.ascontiguousarray(r, np.int32)


def train_population(
    net: MLP,
    params,
    x,
    y,
    *,
    steps: int,
    optimizer: str | NamedOptimizer = "adam",
    hyperparams: dict[str, Any],
    options: dict[str, Any] | None = None,
    schedule: str = "constant",
    clip_norm: float | None = None,
    batch_size: int | None = None,
    keys=None,
    train_rows=None,
    validation_rows=None,
    patience: int | None = None,
    check_every: int | None = None,
    grad: str = "autodiff",
    check_gradient: bool = True,
    devices=None,
    callback: Callable[[PopulationState, np.ndarray], bool | None] | None = None,
) -> PopulationFit:
    """Train ``N`` networks at once as ``fit`` trains each (module docstring).

    Args:
      net: the shared configuration. params: stacked ``(N, ...)`` (e.g.
        :func:`~jaxmlp.training.population.init_population`).
      x, y: the shared data, ``(n, n_in)`` and targets (``fit``'s forms).
      steps: the most steps any member takes.
      optimizer: the name of an optax optimizer (``"adam"``, ``"adamw"``, ``"sgd"``,
        ``"rmsprop"``, ``"lion"``, ...); ``options`` its non-numeric arguments (``nesterov``).
        Or ``fit``'s own update, a :func:`~jaxmlp.training.optimizers.named_optimizer` (its
        weight decay, schedule, warm-up and clipping inside it; ``hyperparams`` then the
        learning rate alone, its schedule's length ``steps``): every member trains with the
        update ``fit`` applies for the same arguments.
      hyperparams: its numeric hyperparameters by name, each one number or ``(N,)`` (one per
        member): ``learning_rate`` at least; with a ``schedule`` (``"cosine"``,
        ``"exponential"``) also ``warmup_steps`` (default 0) and ``total_steps`` (the length it
        decays over; default ``steps``). clip_norm: every member's gradients scaled to a global
        norm of at most this first (``fit``'s ``clip_norm``).
      batch_size: rows per step (each member's own keyed epochs over its rows); None: all of them.
      keys: ``(N,)`` PRNG keys, required with ``batch_size``.
      train_rows: each member's rows, ``(N, L)`` (or ``(L,)`` for all); default every row.
      validation_rows: ``(N, V)`` (or ``(V,)``): early stopping on their loss with ``patience``
        checks without improvement (default: never stop), a check every ``check_every`` steps
        (default: one epoch of the member's rows).
      grad: ``"autodiff"`` or ``"backprop"`` (the delta rule, first checked against ``jax.grad``
        on the first member's first batch unless ``check_gradient=False``).
      devices: a count or a 1-D ``jax.sharding.Mesh`` (as ``fit`` takes it), also across processes:
        the members split over it (``N`` must divide), the data replicated.
      callback: ``callback(state, losses)`` after every check, as ``fit``'s after a chunk:
        ``state`` a :class:`~jaxmlp.training.population.PopulationState` (``params`` stacked,
        ``step`` ``(N,)`` the steps each member has run), ``losses`` ``(N,)`` each member's mean
        batch loss of the period (NaN for a member that no longer trains); return True to stop
        every member (``stopped`` then True for those still training). The run is then one
        compiled call per check: the one call's numbers to rounding (another program).

    Returns:
      A :class:`PopulationFit` (every process gets all members').
    """
    n = _members(params)
    steps = check_positive_int(steps, "steps", upper=MAX_STEP)
    check_callback(callback)
    check_gradient_path(grad, "simultaneous", optimizer, None)
    if not isinstance(hyperparams, dict) or "learning_rate" not in hyperparams:
        raise ValueError(
            "hyperparams must be a dict with a 'learning_rate' (one or one per member)"
        )
    first = jax.tree_util.tree_map(lambda a: a[0], params)
    _, x, y = check_batch(net, first, x, y)
    if x.ndim != 2:
        raise ValueError(f"train_population needs x of shape (n, {net.sizes[0]}), got {x.shape}")
    rows, valid, patience = _member_rows(n, x.shape[0], train_rows, validation_rows, patience)
    batch, keys, every = _batching(n, rows, batch_size, keys, check_every, steps)
    opt, values = _member_optimizer(n, steps, optimizer, hyperparams, schedule, options, clip_norm)
    static = _Static(
        StepSpec(net, opt, grad), batch, rows.shape[1], every, -(-steps // every), patience
    )
    report = None
    if grad == "backprop" and check_gradient:
        report = _first_batch_check(net, first, x, y, rows[0], batch, keys)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    state = jax.vmap(opt.init)(params)
    state = set_hyperparams(state, **{k: jnp.asarray(v, dtype) for k, v in values.items()})
    members = (params, state, keys, rows, valid)
    data = (x, y)
    mesh = parallel.make_mesh(devices)
    if mesh is not None:
        parallel.check_divisible(n, mesh, "a population")
        members = parallel.shard_leaves(mesh, members)
        data = parallel.replicate(mesh, data)
    start = time.perf_counter()
    if callback is None:
        out = parallel.gathered(_run(static, np.int32(steps), *members, *data))
    else:
        out = _run_with_callback(static, np.int32(steps), members, data, callback)
    return _fitted(out, valid is not None, report, time.perf_counter() - start)


def _member_rows(n: int, n_rows: int, train_rows, validation_rows, patience):
    """``(rows (N, L), validation rows (N, V) or None, patience)``, checked: every row by
    default, and patience only with validation rows to watch."""
    rows = _rows(np.arange(n_rows) if train_rows is None else train_rows, n, n_rows, "train_rows")
    valid = None
    if validation_rows is not None:
        valid = _rows(validation_rows, n, n_rows, "validation_rows")
    elif patience is not None:
        raise ValueError("patience needs validation_rows to watch")
    if patience is not None:
        patience = check_positive_int(patience, "patience")
    return rows, valid, patience


def _batching(n: int, rows, batch_size, keys, check_every, steps: int):
    """``(batch, keys, check_every)``: the rows per step (None: all of a member's), the members'
    keys (None when nothing is drawn) and the steps per period (default one epoch)."""
    batch = None
    if batch_size is not None:
        batch = check_positive_int(batch_size, "batch_size", upper=rows.shape[1])
        keys = _keys(keys, n)
    else:
        keys = None  # every step takes all of a member's rows: nothing is drawn
    every = check_every or (-(-rows.shape[1] // batch) if batch else 1)
    return batch, keys, min(check_positive_int(every, "check_every"), steps)


def _member_optimizer(n: int, steps: int, name, hyperparams, schedule, options, clip_norm):
    """``(optimizer, {hyperparameter: (N,) values})``: :func:`optax_optimizer` (or ``fit``'s
    named optimizer as given) and every member's numbers, a schedule's ``total_steps`` (default
    ``steps``) and ``warmup_steps`` (default 0) among them."""
    values = {k: _per_member(v, n, k) for k, v in hyperparams.items()}
    if np.any(values["learning_rate"] <= 0):
        raise ValueError(
            f"learning_rate must be > 0 for every member, got {hyperparams['learning_rate']!r}"
        )
    if isinstance(name, NamedOptimizer):  # fit's own update: its settings are inside it
        ignored = {
            "hyperparams other than learning_rate": set(hyperparams) - {"learning_rate"},
            "options": options,
            "schedule": schedule != "constant",
            "clip_norm": clip_norm is not None,
        }
        given = [what for what, value in ignored.items() if value]
        if given:
            raise ValueError(
                f"an optimizer from named_optimizer holds its weight decay, schedule and "
                f"clipping: {', '.join(given)} would be ignored (pass its name instead)"
            )
        return name, {**values, "total_steps": np.full(n, float(steps))}
    opt = optax_optimizer(name, values, schedule, options, clip_norm)
    if schedule != "constant":
        values.setdefault("total_steps", np.full(n, float(steps)))
        values.setdefault("warmup_steps", np.zeros(n))
    return opt, values


def _fitted(out, validating: bool, report, seconds: float) -> PopulationFit:
    """The :class:`PopulationFit` of :func:`_run`'s outputs (the validation fields None without
    validation rows; ``params`` then the last)."""
    best, last, ran, stopped, train_loss, val_loss, best_loss, best_step, diverged = out
    return PopulationFit(
        best if validating else last,
        last,
        ran,
        stopped,
        diverged,
        train_loss,
        val_loss if validating else None,
        best_loss if validating else None,
        best_step if validating else None,
        report,
        seconds,
    )


def _members(params) -> int:
    """``N``: the one leading axis of every leaf of stacked ``params``, else refused."""
    leaves = jax.tree_util.tree_leaves(params)
    leading = {np.shape(a)[0] if np.ndim(a) else -1 for a in leaves}
    if len(leading) != 1 or -1 in leading:
        raise ValueError(
            "params must be stacked with one network per member: one leading axis N on every "
            f"leaf, got leading axes {sorted(leading)} (-1: a scalar leaf)"
        )
    return leading.pop()


def _first_batch_check(net: MLP, first, x, y, rows, batch: int | None, keys) -> GradCheckReport:
    """The delta rule against ``jax.grad`` on the first member's first batch (its rows ``rows``,
    drawn by its key as its first step draws them); raises on a mismatch."""
    pick = rows
    if batch:
        cursor = batching.start(keys[0], 0, rows.shape[0], batch)
        pick = rows[np.asarray(batching.draw(keys[0], cursor, batch, rows.shape[0])[0])]
    errors = kernel_errors(net, first, x[pick], y[pick], use_lanes=False)
    return report_from_errors(net, errors, first, x[pick], y[pick])


def _keys(keys, n: int):
    if keys is None:
        raise ValueError("batch_size needs keys: one PRNG key per member, (N,) jax.random.key(...)")
    if not jnp.issubdtype(getattr(keys, "dtype", None) or np.float64, jax.dtypes.prng_key) or (
        keys.shape != (n,)
    ):
        raise ValueError(
            f"keys must be {n} typed PRNG keys (jax.random.split(jax.random.key(0), {n})), got "
            f"{getattr(keys, 'shape', None)} of dtype {getattr(keys, 'dtype', type(keys).__name__)}"
        )
    return keys


@functools.partial(programs.jit, static_argnums=0)
def _run(static: _Static, steps, params, opt_state, keys, rows, valid, x, y):
    """The whole run in one compiled call (module docstring): the
    :mod:`~jaxmlp.training.engine`'s loop over every check of every member from the start."""
    wanted = jnp.full(rows.shape[0], static.checks, jnp.int32)
    run = _periods(
        static, steps, _start(static, params, opt_state), keys, rows, valid, x, y, wanted
    )
    m = _settled(static, run.state, keys, rows, x, y)
    return (
        m.best, m.states.params, m.ran, run.stopped, run.records.train, run.records.valid,
        m.best_loss, m.best_step, m.diverged,
    )  # fmt: skip


def _start(static: _Static, params, opt_state) -> _Members:
    """The members before their first step: no step run, no best check yet."""
    n = _members(params)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    zeros = jnp.zeros(n, jnp.int32)
    states = TrainState(params, opt_state, zeros, None)
    cursors = zeros if static.batch is None else batching.Epochs(zeros, zeros)  # (unused: zeros)
    never = jnp.zeros(n, bool)
    return _Members(
        states, cursors, params, jnp.full(n, jnp.inf, dtype), zeros, zeros, zeros, never,
        (states, cursors), zeros,
    )  # fmt: skip


def _steps(static: _Static, keys, rows, x, y, states, cursors, counts):
    """Traceable: each member's next ``counts`` ``(N,)`` steps (at most ``check_every``) from
    ``(states, cursors)``: ``((states, cursors), overflowed, taken, losses)``. A member whose
    batch loss is not finite takes no more steps (it holds the state whose loss that was)."""
    spec = static.spec

    def member_step(carry, member):
        state, cursor = carry
        key, own = member
        if static.batch is None:
            picked = own
        else:
            idx, cursor = batching.draw(key, cursor, static.batch, static.n_rows)
            picked = own[idx]
        state, loss = update(spec, state, None, x[picked], y[picked])
        return (state._replace(step=state.step + 1), cursor), loss

    def body(carry, i):
        inner, overflowed, taken = carry
        new, loss = jax.vmap(member_step)(inner, (keys, rows))
        trying = (i < counts) & ~overflowed  # past its last step, stopped or overflowed: stays
        overflow = trying & ~jnp.isfinite(loss)
        took = trying & ~overflow
        carry = (select(took, new, inner), overflowed | overflow, taken + took.astype(jnp.int32))
        return carry, jnp.where(trying, loss, 0)

    zeros = jnp.zeros(rows.shape[0], jnp.int32)
    (inner, overflowed, taken), losses = jax.lax.scan(
        body,
        ((states, cursors), zeros.astype(bool), zeros),
        jnp.arange(static.check_every, dtype=jnp.int32),
    )
    return inner, overflowed, taken, losses


def _settled(static: _Static, m: _Members, keys, rows, x, y) -> _Members:
    """Traceable: ``m`` with every diverged member at ``fit``'s last finite state, the one
    before the state whose loss overflowed: its last ``back`` steps replayed from
    ``last_start`` (only when a member diverged)."""

    def replay(m: _Members) -> _Members:
        counts = jnp.where(m.diverged, m.back, 0)
        again = _steps(static, keys, rows, x, y, *m.last_start, counts)[0]
        states, cursors = select(m.diverged, again, (m.states, m.cursors))
        return m._replace(states=states, cursors=cursors)

    return jax.lax.cond(jnp.any(m.diverged), replay, lambda m: m, m)


def _periods(static: _Static, steps, start, keys, rows, valid, x, y, wanted) -> engine.Periods:
    """Traceable: up to ``wanted`` ``(N,)`` periods of ``check_every`` steps of every member from
    ``start`` (:func:`engine.run_periods`), each judged by patience on the validation loss and
    by divergence; the records hold ``static.checks`` periods."""
    spec, n = static.spec, rows.shape[0]
    dtype = jax.tree_util.tree_leaves(start.best)[0].dtype

    def train(c, members: _Members, active):
        left = jnp.where(active, jnp.clip(steps - members.ran, 0, static.check_every), 0)
        now, overflowed, taken, losses = _steps(
            static, keys, rows, x, y, members.states, members.cursors, left
        )
        return (now, overflowed, taken, left), losses

    def judge(c, trained, members: _Members, losses, active):
        (states, cursors), diverging, taken, left = trained
        # a member that overflowed goes back a step at the end (_settled): from this period's
        # start, or the last one's when the first loss of this period overflowed
        begun = (members.states, members.cursors)
        first = (taken == 0) & (members.ran > 0)
        back = jnp.where(first, static.check_every - 1, jnp.maximum(taken - 1, 0))
        back = jnp.where(diverging, back, members.back)
        last_start = select(
            diverging,
            select(first, members.last_start, begun),
            select(active, begun, members.last_start),
        )
        best, best_loss, best_step, stale = (
            members.best, members.best_loss, members.best_step, members.stale
        )  # fmt: skip
        train = jnp.sum(losses, 0) / jnp.maximum(left, 1).astype(dtype)
        ran = jnp.where(diverging, jnp.maximum(members.ran + taken - 1, 0), members.ran + taken)
        stop = diverging
        v = jnp.full(n, jnp.nan, dtype)
        if valid is not None:
            v = jax.vmap(lambda p, r: loss_fn(spec.net, p, x[r], y[r]))(states.params, valid)
            better = active & ~diverging & (v < best_loss)
            best = select(better, states.params, best)
            best_step = jnp.where(better, ran, best_step)
            best_loss = jnp.where(better, v, best_loss)
            stale = jnp.where(active, jnp.where(better, 0, stale + 1), stale)
            if static.patience is not None:
                stop = stop | early_stopping.exhausted(stale, static.patience)
        judged = _Members(
            states, cursors, best, best_loss, best_step, stale, ran, members.diverged | diverging,
            last_start, back,
        )  # fmt: skip
        record = _Records(jnp.where(active, train, jnp.nan), jnp.where(active, v, jnp.nan))
        return judged, record, stop

    nan = jnp.full((static.checks, n), jnp.nan, dtype)
    return engine.run_periods(train, judge, start, _Records(nan, nan), wanted)


_first = programs.jit(_start, static_argnums=0)
_settle = programs.jit(_settled, static_argnums=0)


@functools.partial(programs.jit, static_argnums=0)
def _one_check(static: _Static, steps, members, keys, rows, valid, x, y, wanted):
    """One period of the members still training (``wanted`` 1), as one compiled call."""
    run = _periods(static, steps, members, keys, rows, valid, x, y, wanted)
    return run.state, run.records, run.ran, run.stopped


def _run_with_callback(static: _Static, steps, members, data, callback):
    """:func:`_run`'s outputs (gathered on the host), the members run one check per compiled
    call (:func:`engine.run_calls`) with ``callback`` between: True from it stops every member
    still training."""
    params, opt_state, keys, rows, valid = members
    n, one = rows.shape[0], static._replace(checks=1)
    m = _first(one, params, opt_state)
    train_losses, valid_losses = [], []

    def call(wanted):
        nonlocal m
        m, records, ran, stopped = _one_check(one, steps, m, keys, rows, valid, *data, wanted)
        records, ran, stopped = parallel.gathered((records, ran, stopped))
        train_losses.append(np.asarray(records.train[0]))
        valid_losses.append(np.asarray(records.valid[0]))
        seen = PopulationState(m.states.params, parallel.gathered(m.ran))  # as sweep's: on device
        if callback(seen, train_losses[-1]):
            stopped = np.asarray(stopped) | (np.asarray(wanted) > 0)
        return ran, stopped

    _, stopped = engine.run_calls(call, np.full(n, static.checks), 1)
    m = _settle(one, m, keys, rows, *data)
    pad = np.full((static.checks - len(train_losses), n), np.nan, train_losses[0].dtype)
    m = parallel.gathered(m)
    return (
        m.best, m.states.params, m.ran, stopped, np.concatenate([np.stack(train_losses), pad]),
        np.concatenate([np.stack(valid_losses), pad]), m.best_loss, m.best_step, m.diverged,
    )  # fmt: skip


class _Members(NamedTuple):
    """What the members carry from period to period: their training ``states`` and epoch
    ``cursors``, the ``best`` parameters, ``best_loss`` and ``best_step`` of their validation
    checks, the checks since the best (``stale``), the steps ``ran``, whether a step's loss was
    not finite (``diverged``), the state and cursor at the start of the last period
    (``last_start``; a diverged member's: where its last finite state is ``back`` steps on)."""

    states: TrainState
    cursors: Any
    best: Any
    best_loss: jax.Array
    best_step: jax.Array
    stale: jax.Array
    ran: jax.Array
    diverged: jax.Array
    last_start: Any
    back: jax.Array


class _Records(NamedTuple):
    train: jax.Array
    valid: jax.Array
