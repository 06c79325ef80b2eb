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
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import programs
from jaxmlp.checks.gradient_check import GradCheckReport, report_from_errors
from jaxmlp.mlp import MLP
from jaxmlp.training import batching, parallel
from jaxmlp.training.arguments import MAX_STEP, check_gradient_path
from jaxmlp.training.loop import StepSpec
from jaxmlp.training.member_loop import Static, run, run_with_callback
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
    first = _first_member(params)
    _, x, y = check_batch(net, first, x, y)
    if x.ndim != 2:
        raise ValueError(f"train_population needs x of shape (n, {net.sizes[0]}), got {x.shape}")
    rows, valid, patience = _member_rows(n, x.shape[0], train_rows, validation_rows, patience)
    batch, keys, every = _batching(n, rows, batch_size, keys, check_every, steps)
    opt, values = _member_optimizer(n, steps, optimizer, hyperparams, schedule, options, clip_norm)
    static = Static(
        StepSpec(net, opt, grad), batch, rows.shape[1], every, -(-steps // every), patience
    )
    report = None
    if grad == "backprop" and check_gradient:
        report = _first_batch_check(net, first, x, y, rows[0], batch, keys)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    state = _start_state(opt, params, {k: np.asarray(v, dtype) for k, v in values.items()})
    members = (params, state, keys, rows, valid)
    data = (x, y)
    mesh = parallel.make_mesh(devices)
    if mesh is not None:
        parallel.check_divisible(n, mesh, "a population")
        members = parallel.shard_leaves(mesh, members)
        data = parallel.replicate(mesh, data)
    start = time.perf_counter()
    if callback is None:
        out = parallel.gathered(run(static, np.int32(steps), *members, *data))
    else:
        out = run_with_callback(static, np.int32(steps), members, data, callback)
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
    """The :class:`PopulationFit` of :func:`~jaxmlp.training.member_loop.run`'s outputs (the validation fields None without
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
    xb, yb = _first_batch(keys, rows, x, y, batch)
    errors = kernel_errors(net, first, xb, yb, use_lanes=False)
    return report_from_errors(net, errors, first, xb, yb)


# The steps before the run, each one compiled program (op by op, each array operation is a
# small program of its own: dozens of compilations, about a second, in a process's first run).


@programs.jit
def _first_member(params):
    """Member 0's parameters."""
    return jax.tree_util.tree_map(lambda a: a[0], params)


@functools.partial(programs.jit, static_argnums=0)
def _start_state(opt, params, values: dict):
    """Every member's optimizer state, its hyperparameters set to ``values`` ``(N,)`` each."""
    return set_hyperparams(jax.vmap(opt.init)(params), **values)


@functools.partial(programs.jit, static_argnums=4)
def _first_batch(keys, rows, x, y, batch: int | None):
    """The rows ``(x, y)`` of the first member's first step: its ``rows``, or the ``batch`` of
    them its key (``keys[0]``) draws first."""
    if batch:
        n, key = rows.shape[0], keys[0]
        rows = rows[batching.draw(key, batching.start(key, 0, n, batch), batch, n)[0]]
    return x[rows], y[rows]


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
