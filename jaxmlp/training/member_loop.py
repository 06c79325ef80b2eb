"""The compiled loop of :func:`jaxmlp.training.members.train_population`: every member's steps
(``vmap``-ed, a ``lax.scan`` over a check's steps) and the judgement after each check (patience
on the validation loss, divergence), as one call over every check (:func:`run`, a
``lax.while_loop`` of :func:`jaxmlp.training.engine.run_periods`) or one call per check with a
callback between (:func:`run_with_callback`). A member whose batch loss is not finite stops
with ``fit``'s last finite state (:func:`_settled`)."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import programs
from jaxmlp.forward import loss_fn
from jaxmlp.training import batching, early_stopping, engine, parallel
from jaxmlp.training.engine import select
from jaxmlp.training.loop import StepSpec, TrainState, update
from jaxmlp.training.population import PopulationState

__all__ = ["Static", "run", "run_with_callback"]


class Static(NamedTuple):
    """The compiled run's static part: one program per distinct value."""

    spec: StepSpec
    batch: int | None  # None: every step takes all of a member's rows
    n_rows: int
    check_every: int
    checks: int
    patience: int | None


@functools.partial(programs.jit, static_argnums=0)
def run(static: Static, steps, params, opt_state, keys, rows, valid, x, y):
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


def _start(static: Static, params, opt_state) -> _Members:
    """The members before their first step: no step run, no best check yet."""
    n = jax.tree_util.tree_leaves(params)[0].shape[0]
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    zeros = jnp.zeros(n, jnp.int32)
    states = TrainState(params, opt_state, zeros, None)
    cursors = zeros if static.batch is None else batching.Epochs(zeros, zeros)  # (unused: zeros)
    never = jnp.zeros(n, bool)
    return _Members(
        states, cursors, params, jnp.full(n, jnp.inf, dtype), zeros, zeros, zeros, never,
        (states, cursors), zeros,
    )  # fmt: skip


def _steps(static: Static, keys, rows, x, y, states, cursors, counts):
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


def _settled(static: Static, m: _Members, keys, rows, x, y) -> _Members:
    """Traceable: ``m`` with every diverged member at ``fit``'s last finite state, the one
    before the state whose loss overflowed: its last ``back`` steps replayed from
    ``last_start`` (only when a member diverged)."""

    def replay(m: _Members) -> _Members:
        counts = jnp.where(m.diverged, m.back, 0)
        states, cursors = m.last_start
        again = _steps(static, keys, rows, x, y, states, cursors, counts)[0]
        states, cursors = select(m.diverged, again, (m.states, m.cursors))
        return m._replace(states=states, cursors=cursors)

    return jax.lax.cond(jnp.any(m.diverged), replay, lambda m: m, m)


def _periods(static: Static, steps, start, keys, rows, valid, x, y, wanted) -> engine.Periods:
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
def _one_check(static: Static, steps, members, keys, rows, valid, x, y, wanted):
    """One period of the members still training (``wanted`` 1), as one compiled call."""
    run = _periods(static, steps, members, keys, rows, valid, x, y, wanted)
    return run.state, run.records, run.ran, run.stopped


def run_with_callback(static: Static, steps, members, data, callback):
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
