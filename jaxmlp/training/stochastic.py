r"""scikit-learn's stochastic solvers (``sgd``, ``adam``), many epochs inside one compiled call.

One call of :func:`run_epochs` trains up to ``Solver.epochs`` epochs in a ``lax.while_loop``,
with scikit-learn's rules for everything that happens between epochs evaluated on the device:
no Python runs per step or per epoch, and the hyperparameters (:class:`Rules`) are data, so
changing a learning rate, penalty, momentum or tolerance never recompiles.

An epoch visits the ``n`` training rows in the order ``perm`` (a permutation drawn by the
caller, or ``0..n-1``) in ``ceil(n / B)`` consecutive batches of ``B`` rows; the last batch is
short, as scikit-learn cuts it (its missing rows are padding with weight 0, so every step has
one shape). Each step minimises :mod:`jaxmlp.training.objective`'s :math:`J` with

* ``sgd`` (learning rate :math:`\eta`, momentum :math:`\mu`):
  :math:`v \leftarrow \mu v - \eta g`, :math:`\theta \leftarrow \theta + v`, or with Nesterov's
  momentum :math:`\theta \leftarrow \theta + \mu v - \eta g` (the new :math:`v`);
* ``adam``: :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`,
  :math:`s \leftarrow \beta_2 s + (1-\beta_2) g^2`,
  :math:`\eta_t = \eta \sqrt{1-\beta_2^t} / (1-\beta_1^t)`,
  :math:`\theta \leftarrow \theta - \eta_t\, m / (\sqrt{s} + \epsilon)` (scikit-learn's form:
  :math:`\epsilon` is added to :math:`\sqrt{s}`, not to the bias-corrected
  :math:`\sqrt{s / (1-\beta_2^t)}` as in ``optax.adam``);
* optionally a decoupled weight decay :math:`W \leftarrow W - \eta \lambda W` on the weights.

The epoch's loss is :math:`\frac{1}{n}\sum_b J_b \cdot |b|` (each batch's objective times its
rows). After each epoch, as scikit-learn's ``_fit_stochastic``: without early stopping the
no-improvement count grows when the loss exceeds the best loss minus ``tol`` and resets
otherwise; with early stopping it follows the validation score (accuracy or :math:`R^2`, NaN
when the outputs are not finite) against the best score plus ``tol``, and the parameters of the
best score are kept. ``invscaling`` sets :math:`\eta = \eta_0 / (t + 1)^{p}` with ``t`` the rows
seen; when the count exceeds ``n_iter_no_change`` the run stops, or with ``adaptive`` the
learning rate is divided by 5 (stopping once it is at most ``1e-6``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import programs
from jaxmlp.forward import apply, batch_mean, per_example_loss
from jaxmlp.mlp import MLP
from jaxmlp.training import engine, objective

__all__ = [
    "Array",
    "ArrayLike",
    "SOLVERS",
    "SMALLEST_LEARNING_RATE",
    "Rules",
    "Solver",
    "Moments",
    "Progress",
    "Records",
    "score",
    "Subset",
    "subset",
    "run_epochs",
    "run_population",
]

Array = jax.Array
ArrayLike = jax.Array | np.ndarray  # on the host (NumPy) or the device
SOLVERS = ("sgd", "adam")
SMALLEST_LEARNING_RATE = 1e-6

# What happened at the end of an epoch (recorded per epoch; the caller words it).
NOTHING, LEARNING_RATE_DIVIDED, STOPPED, LEARNING_RATE_TOO_SMALL = 0, 1, 2, 3


class Rules(NamedTuple):
    """The hyperparameters, as data (scalars of the parameters' dtype)."""

    learning_rate_init: ArrayLike
    alpha: ArrayLike
    power_t: ArrayLike
    momentum: ArrayLike
    beta_1: ArrayLike
    beta_2: ArrayLike
    epsilon: ArrayLike
    tol: ArrayLike
    n_iter_no_change: ArrayLike  # may be inf
    weight_decay: ArrayLike


@dataclass(frozen=True)
class Solver:
    """The static configuration: one compiled program per distinct value.

    ``score``: how a validation score is taken: ``"labels"`` (accuracy of the arg max, softmax
    heads), ``"thresholds"`` (accuracy of every output at 0.5, all of a row's right: logistic
    heads, binary and multilabel), ``"r2"`` (the mean :math:`R^2` over outputs).
    ``epochs``: how many epochs one call can run (the length of the records).
    ``ragged``: a population whose members train on different numbers of rows.
    """

    net: MLP
    solver: str
    schedule: str
    nesterov: bool
    batch: int
    early_stopping: bool
    score: str
    grad: str
    shuffle: bool
    epochs: int
    ragged: bool = False


class Moments(NamedTuple):
    """The optimizer's state: ``first`` (sgd's velocity, adam's :math:`m`), ``second`` (adam's
    :math:`s`), ``updates`` (adam's updates so far) and the current ``learning_rate``."""

    first: tuple
    second: tuple
    updates: ArrayLike
    learning_rate: ArrayLike


class Progress(NamedTuple):
    """What the stopping rules carry from epoch to epoch (and from call to call):
    ``samples`` (rows seen, scikit-learn's ``t_``), ``best_loss``, ``best_score``,
    ``stale`` (epochs without improvement) and ``best_params`` (early stopping)."""

    samples: ArrayLike
    best_loss: ArrayLike
    best_score: ArrayLike
    stale: ArrayLike
    best_params: tuple


class Records(NamedTuple):
    """Per epoch of the call, ``(epochs,)`` each: the training ``loss``, the validation
    ``score`` and ``validation_loss`` (NaN without early stopping), the ``event`` (NOTHING,
    LEARNING_RATE_DIVIDED, STOPPED, LEARNING_RATE_TOO_SMALL) and the ``learning_rate`` after it."""

    loss: Array
    score: Array
    validation_loss: Array
    event: Array
    learning_rate: Array


def score(kind: str, net: MLP, params, x: Array, t: Array, w: Array) -> Array:
    """The validation score of ``params`` on ``(x, t)`` weighted by ``w``: accuracy
    (``"labels"``, ``"thresholds"``) or the mean over outputs of
    :math:`R^2 = 1 - \\sum w (t - o)^2 / \\sum w (t - \\bar t)^2` (1 for a constant target
    predicted exactly, else 0; NaN when an output is not finite), as scikit-learn's ``score``."""
    out = apply(net, params, x)
    if kind == "r2":
        mean = jnp.sum(w[:, None] * t, axis=0) / jnp.sum(w)
        residual = jnp.sum(w[:, None] * (t - out) ** 2, axis=0)
        spread = jnp.sum(w[:, None] * (t - mean) ** 2, axis=0)
        r2 = jnp.where(
            spread != 0,
            1 - residual / jnp.where(spread != 0, spread, 1),
            (residual == 0).astype(out.dtype),
        )
        return jnp.where(jnp.all(jnp.isfinite(out)), jnp.mean(r2), jnp.nan).astype(out.dtype)
    if kind == "labels":
        right = jnp.argmax(out, axis=1) == jnp.argmax(t, axis=1)
    else:
        right = jnp.all((out > 0.5) == (t > 0.5), axis=1)
    return jnp.sum(w * right.astype(w.dtype)) / jnp.sum(w)


def _update(solver: Solver, rules: Rules, params, moments: Moments, grads):
    """One step of ``sgd`` or ``adam`` (module docstring); returns ``(params, moments)``."""
    tree_map = jax.tree_util.tree_map
    if solver.solver == "sgd":
        eta = moments.learning_rate
        velocity = tree_map(lambda v, g: rules.momentum * v - eta * g, moments.first, grads)
        if solver.nesterov:
            step = tree_map(lambda v, g: rules.momentum * v - eta * g, velocity, grads)
        else:
            step = velocity
        moments = moments._replace(first=velocity)
    else:
        dtype = moments.learning_rate.dtype
        updates = moments.updates + 1
        m = tree_map(lambda m, g: rules.beta_1 * m + (1 - rules.beta_1) * g, moments.first, grads)
        s = tree_map(
            lambda s, g: rules.beta_2 * s + (1 - rules.beta_2) * g * g, moments.second, grads
        )
        k = updates.astype(dtype)
        eta_t = rules.learning_rate_init * jnp.sqrt(1 - rules.beta_2**k) / (1 - rules.beta_1**k)
        step = tree_map(lambda m, s: -eta_t * m / (jnp.sqrt(s) + rules.epsilon), m, s)
        moments = Moments(m, s, updates, eta_t)
        eta = rules.learning_rate_init
    new = tree_map(lambda p, d: p + d, params, step)
    decay = rules.weight_decay * eta
    return tuple({**n, "w": n["w"] - decay * p["w"]} for n, p in zip(new, params)), moments


class Subset(NamedTuple):
    """A run's rows of the shared data: ``train`` ``(L,)`` int32 indices, of which the first
    ``n_train`` are real (the rest padding), and the same for the validation rows ``valid``
    ``(V,)`` and ``n_valid`` (unused without early stopping). A population's members hold
    different subsets of one data set (folds, splits), so the data are stored once."""

    train: ArrayLike
    n_train: ArrayLike
    valid: ArrayLike
    n_valid: ArrayLike


def subset(train, valid=None) -> Subset:
    """The :class:`Subset` of the rows ``train`` (and ``valid``), in that order, none padded."""
    train = np.asarray(train, np.int32)
    valid = np.zeros(1, np.int32) if valid is None else np.asarray(valid, np.int32)
    n_valid = 0 if valid is None else len(valid)
    return Subset(train, np.asarray(len(train), np.int32), valid, np.asarray(n_valid, np.int32))


def _per_member(fn, *members):
    """``jax.vmap(fn)(*members)``; for a cohort of one, ``fn`` on the member itself (the same
    numbers, a smaller program: an estimator's fit compiles faster)."""
    if jax.tree_util.tree_leaves(members)[0].shape[0] > 1:
        return jax.vmap(fn)(*members)
    alone = jax.tree_util.tree_map(lambda a: a[0], members)
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[None], fn(*alone))


def _epoch(solver: Solver, rules: Rules, params, moments: Moments, data, rows: Subset, perm):
    """One epoch of a cohort (every member argument with a leading axis of ``C`` members) over
    the training rows in the order ``perm`` ``(L,)`` (positions in ``rows.train``; those from
    ``n_train`` on are padding); returns ``(params, moments, epoch losses (C,))``.

    The members share the batches: each batch is gathered once and every member's step is
    ``jax.vmap``-ed over it, so the first layer's products of all members are one wide product.
    With ``solver.ragged`` (members of a population whose rows are fewer than the longest), a step
    without real rows leaves the cohort as it was."""
    x, t, w = data
    size, batch = rows.train.shape[0], solver.batch
    steps = -(-size // batch)
    order = jnp.concatenate([perm, jnp.zeros(steps * batch - size, perm.dtype)])
    real = jnp.arange(steps * batch, dtype=jnp.int32) < rows.n_train

    def step(carry, i):
        picked = rows.train[jax.lax.dynamic_slice(order, (i * batch,), (batch,))]
        kept = jax.lax.dynamic_slice(real, (i * batch,), (batch,))
        xb, tb, wb = x[picked], t[picked], jnp.where(kept, w[picked], 0)

        def one(rules, params, moments):
            loss, grads = objective.value_and_grad(
                solver.net, params, xb, tb, wb, rules.alpha, solver.grad
            )
            return _update(solver, rules, params, moments, grads), loss

        new, loss = _per_member(one, rules, *carry)
        if solver.ragged:
            some = jnp.any(kept)
            new = jax.tree_util.tree_map(lambda a, b: jnp.where(some, a, b), new, carry)
            loss = jnp.where(some, loss, 0)
        return new, loss * jnp.sum(kept).astype(loss.dtype)

    (params, moments), losses = jax.lax.scan(step, (params, moments), jnp.arange(steps))
    return params, moments, jnp.sum(losses, axis=0) / rows.n_train.astype(losses.dtype)


def _after_epoch(
    solver: Solver, dtype, n_train, validation, rules, params, moments, progress, loss
):
    """scikit-learn's end of an epoch for one member: the validation score, the no-improvement
    count, the best loss or score and parameters, the learning-rate schedule and the stop.
    Returns ``(moments, progress, (score, validation loss, event, learning rate), stop)``."""
    samples = progress.samples + n_train.astype(dtype)
    if solver.early_stopping:
        xv, tv, wv = validation
        value = score(solver.score, solver.net, params, xv, tv, wv)
        val_loss = batch_mean(per_example_loss(solver.net, params, xv, tv), wv)
        worse = value < progress.best_score + rules.tol
        better = value > progress.best_score
        best_score = jnp.where(better, value, progress.best_score)
        best_params = jax.tree_util.tree_map(
            lambda new, old: jnp.where(better, new, old), params, progress.best_params
        )
        best_loss = progress.best_loss
    else:
        value = val_loss = jnp.asarray(jnp.nan, dtype)
        worse = loss > progress.best_loss - rules.tol
        best_loss = jnp.where(loss < progress.best_loss, loss, progress.best_loss)
        best_score, best_params = progress.best_score, progress.best_params
    stale = jnp.where(worse, progress.stale + 1, 0)
    eta = moments.learning_rate
    if solver.solver == "sgd" and solver.schedule == "invscaling":
        eta = (rules.learning_rate_init / (samples + 1) ** rules.power_t).astype(dtype)
    triggered = stale.astype(dtype) > rules.n_iter_no_change
    if solver.solver == "sgd" and solver.schedule == "adaptive":
        too_small = eta <= SMALLEST_LEARNING_RATE
        stop = triggered & too_small
        divide = triggered & ~too_small
        eta = jnp.where(divide, eta / 5, eta)
        stale = jnp.where(divide, 0, stale)
        event = jnp.where(
            stop, LEARNING_RATE_TOO_SMALL, jnp.where(divide, LEARNING_RATE_DIVIDED, NOTHING)
        )
    else:
        stop = triggered
        event = jnp.where(stop, STOPPED, NOTHING)
    moments = moments._replace(learning_rate=eta)
    progress = Progress(samples, best_loss, best_score, stale, best_params)
    return moments, progress, (value, val_loss, event, eta), stop


def _run(solver: Solver, rules, params, moments, progress, data, rows, perms, epochs_wanted):
    """:func:`run_epochs` for one cohort of ``C`` members that share rows and epoch orders
    (every member argument and ``epochs_wanted`` with a leading axis of ``C``): the
    :mod:`~jaxmlp.training.engine`'s loop, a period an epoch (:func:`_epoch`), judged by
    scikit-learn's rules (:func:`_after_epoch`)."""
    x, t, w = data
    dtype, size = x.dtype, rows.train.shape[0]
    members = epochs_wanted.shape[0]
    nan = jnp.full((solver.epochs, members), jnp.nan, dtype)
    records = Records(nan, nan, nan, jnp.zeros((solver.epochs, members), jnp.int32), nan)
    validation = None
    if solver.early_stopping:
        kept = jnp.arange(rows.valid.shape[0], dtype=jnp.int32) < rows.n_valid
        validation = x[rows.valid], t[rows.valid], jnp.where(kept, w[rows.valid], 0)

    def train(e, state, active):
        params, moments, _ = state
        perm = perms[e] if solver.shuffle else jnp.arange(size, dtype=jnp.int32)
        params, moments, loss = _epoch(solver, rules, params, moments, data, rows, perm)
        return (params, moments), loss

    def judge(e, trained, state, loss, active):
        params, moments = trained
        moments, progress, (value, val_loss, event, eta), stop = _per_member(
            lambda *a: _after_epoch(solver, dtype, rows.n_train, validation, *a),
            rules, params, moments, state[2], loss,
        )  # fmt: skip
        return (params, moments, progress), Records(loss, value, val_loss, event, eta), stop

    run = engine.run_periods(train, judge, (params, moments, progress), records, epochs_wanted)
    params, moments, progress = run.state
    return params, moments, progress, run.records, run.ran, run.stopped


_FAST_COMPILE = {"xla_cpu_use_fusion_emitters": False}  # a third less compile time, steps as fast


@functools.partial(programs.jit, static_argnums=0, compiler_options=_FAST_COMPILE)
def run_epochs(
    solver: Solver,
    rules: Rules,
    params,
    moments: Moments,
    progress: Progress,
    data: tuple,
    rows: Subset,
    perms: Array | None,
    epochs_wanted: Array,
):
    """Up to ``epochs_wanted`` (at most ``solver.epochs``) epochs of a cohort of ``C`` runs
    that share their rows and epoch orders (one estimator's fit: ``C = 1``; the candidates of a
    search with one fold and seed), stopping early by the rules of the module docstring.

    Args:
      rules, params, moments, progress, epochs_wanted: each leaf with a leading axis of ``C``
        members, each member's own; a member is frozen once it stopped or ran its epochs.
      data: ``(x, t, w)``: ``(n, n_in)``, ``(n, n_out)``, ``(n,)``.
      rows: which rows of ``data`` train (and validate, with early stopping): :class:`Subset`.
      perms: ``(solver.epochs, L)`` int32, row ``e`` the order of epoch ``e`` as positions in
        ``rows.train`` (``shuffle``); None visits the rows in order.

    Returns:
      ``(params, moments, progress, records, epochs run (C,), stopped (C,))``, records
      ``(solver.epochs, C)``; ``stopped`` is True when the no-improvement rule ended a run.
    """
    return _run(solver, rules, params, moments, progress, data, rows, perms, epochs_wanted)


@functools.partial(programs.jit, static_argnums=0, compiler_options=_FAST_COMPILE)
def run_population(
    solver: Solver,
    rules: Rules,
    params,
    moments: Moments,
    progress: Progress,
    data: tuple,
    rows: Subset,
    perms: Array | None,
    epochs_wanted: Array,
):
    """:func:`run_epochs` for ``G`` cohorts at once (``jax.vmap``): every argument but ``data``
    has a leading axis of ``G`` cohorts (each with its own rows of the shared data and epoch
    orders), the member arguments then the axis of the cohort's ``C`` members. A cohort whose
    members have all stopped is frozen while the others go on. Returns what :func:`run_epochs`
    returns, each with the cohorts' axis in front."""

    def one(rules, params, moments, progress, rows, perms, wanted):
        return _run(solver, rules, params, moments, progress, data, rows, perms, wanted)

    perm_axis = None if perms is None else 0
    return jax.vmap(one, in_axes=(0, 0, 0, 0, 0, perm_axis, 0))(
        rules, params, moments, progress, rows, perms, epochs_wanted
    )
