r"""The compiled loop that runs many members over periods of steps, with the parts passed in.

A run is a ``lax.while_loop`` over periods :math:`e = 0, 1, \dots`; in each, every member still
active (:math:`e < w_m`, the periods it may run, and not stopped) trains one period and is then
judged:

.. math:: (s'_m, \ell_m) = \mathrm{train}(e, s), \qquad
   (s''_m, r_{e,m}, \mathrm{stop}_m) = \mathrm{judge}(e, s', s, \ell, a),

where :math:`s` is the members' state (parameters, optimizer state, whatever the stop rules
carry: one pytree, the members' axis leading every leaf), :math:`a` the active mask and
:math:`r_{e,m}` the period's record. A member that is not active keeps its state
(:math:`s_m`), so members stop one by one while the others go on, and the loop ends when none is
active. The parts are what differ between the runs that use it:

* :func:`jaxmlp.training.members.train_population` (``fit``'s minibatch steps, any optax
  optimizer; a period is ``check_every`` steps, judged by patience on the validation loss and
  divergence);
* the estimators' stochastic solvers and the searches' populations
  (:mod:`jaxmlp.training.stochastic`: scikit-learn's exact ``sgd``/``adam`` iterates; a period is
  an epoch, judged by scikit-learn's ``tol``/``n_iter_no_change`` rules and schedules).

The loop itself (the active mask, the frozen members, the records, the periods run, the stop)
is written once, here. It is traceable: callers compile it inside their own program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Periods", "select", "run_periods", "run_calls"]


class Periods(NamedTuple):
    """What :func:`run_periods` returns: the members' final ``state``, the ``records`` (each leaf
    ``(periods, N, ...)``: row ``e`` as the judge recorded period ``e``; rows of periods a member
    did not run hold what the judge returned for it), ``ran`` ``(N,)`` int32 (periods each member
    ran) and ``stopped`` ``(N,)`` (ended by its judge rather than by running out of periods)."""

    state: Any
    records: Any
    ran: jax.Array
    stopped: jax.Array


def select(keep, new, old):
    """Per member (leading axis of every leaf), ``new`` where ``keep`` ``(N,)``, else ``old``."""
    return jax.tree_util.tree_map(
        lambda a, b: jnp.where(keep.reshape(keep.shape + (1,) * (a.ndim - 1)), a, b), new, old
    )


def run_periods(
    train: Callable[[jax.Array, Any, jax.Array], tuple[Any, Any]],
    judge: Callable[[jax.Array, Any, Any, Any, jax.Array], tuple[Any, Any, jax.Array]],
    state,
    records,
    wanted,
) -> Periods:
    """Traceable: the members' periods (module docstring) until every member stopped or ran
    ``wanted`` ``(N,)`` int32 periods.

    Args:
      train: ``(e, state, active) -> (trained, losses)``: period ``e`` of every member (an
        inactive member's result is discarded; ``active`` lets a part skip its work).
      judge: ``(e, trained, state, losses, active) -> (judged, record, stop)``: the rules
        between periods, every output with the members' axis leading; ``stop`` ``(N,)`` bool.
      state: the members' state before the first period. records: the record buffers, each leaf
        ``(periods, N, ...)``, at least ``max(wanted)`` periods long.
      wanted: ``(N,)`` the most periods each member runs.

    A population of one runs the loop only while its member is active, so its judged state is
    taken as it is (the same numbers, a smaller program).
    """
    wanted = jnp.asarray(wanted, jnp.int32)
    alone = wanted.shape[0] == 1

    def body(carry):
        e, state, records, ran, stopped = carry
        active = (e < wanted) & ~stopped
        trained, losses = train(e, state, active)
        judged, record, stop = judge(e, trained, state, losses, active)
        state = judged if alone else select(active, judged, state)
        records = jax.tree_util.tree_map(lambda r, v: r.at[e].set(v), records, record)
        return e + 1, state, records, ran + active.astype(jnp.int32), stopped | (active & stop)

    def more(carry):
        e, *_, stopped = carry
        return jnp.any((e < wanted) & ~stopped)

    zeros = jnp.zeros(wanted.shape, jnp.int32)
    start = (jnp.int32(0), state, records, zeros, zeros.astype(bool))
    _, state, records, ran, stopped = jax.lax.while_loop(more, body, start)
    return Periods(state, records, ran, stopped)


def run_calls(
    call: Callable[[np.ndarray], tuple[Any, Any]], left, per_call: int
) -> tuple[np.ndarray, np.ndarray]:
    """On the host: compiled calls until every member ran its ``left`` periods (or steps) or
    stopped; ``(ran, stopped)``, each ``left``'s shape: the periods each member ran in all and
    whether a call stopped it.

    ``call(wanted)`` runs each member up to ``wanted`` periods (at most ``per_call``; 0 for a
    member that is done) and returns ``(ran, stopped)`` as :func:`run_periods` does; the
    caller's ``call`` keeps the state and reads the records. Every run of jaxmlp is this loop:
    ``fit``, streams and ``sweep`` call a chunk of steps (one member: the run), judged on the
    host; ``train_population``, the estimators and the searches call :func:`run_periods`."""
    left = np.array(left, np.int64)
    ran = np.zeros(left.shape, np.int64)
    stopped = np.zeros(left.shape, bool)
    while ((left > 0) & ~stopped).any():
        wanted = np.where(stopped, 0, np.minimum(per_call, left)).astype(np.int32)
        now_ran, now_stopped = call(wanted)
        left -= np.asarray(now_ran)
        ran += np.asarray(now_ran)
        stopped |= np.asarray(now_stopped, bool)
    return ran, stopped
