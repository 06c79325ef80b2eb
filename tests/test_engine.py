"""jaxmlp.training.engine: the one loop of periods that train_population and the estimators'
solvers compile, checked on parts whose every number is known."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp.training import engine

# Member m adds step[m] to its count each period and stops once the count reaches limit[m].
STEP = np.array([1.0, 2.0, 5.0, 3.0], np.float32)
LIMIT = np.array([3.0, 100.0, 10.0, 6.0], np.float32)


def run(start, wanted, step=STEP, limit=LIMIT):
    def train(e, count, active):
        return count + step, jnp.full(step.shape, e, jnp.float32)

    def judge(e, trained, count, losses, active):
        return trained, (trained, losses), trained >= limit

    nan = jnp.full((8, step.shape[0]), jnp.nan, jnp.float32)
    return jax.jit(engine.run_periods, static_argnums=(0, 1))(
        train, judge, start, (nan, nan), wanted
    )


def test_each_member_runs_until_its_judge_stops_it_or_its_periods_run_out():
    """Counts by hand: member 0 stops after 3 periods (3 >= 3), member 2 after 2 (10), member 3
    after 2 (6); member 1 never reaches 100 and runs its 5 wanted periods, and stopped says
    only what the judge ended. A stopped member keeps its state while the others go on."""
    wanted = np.array([8, 5, 8, 8], np.int32)
    out = run(jnp.zeros(4, jnp.float32), wanted)
    np.testing.assert_array_equal(out.ran, [3, 5, 2, 2])
    np.testing.assert_array_equal(out.stopped, [True, False, True, True])
    np.testing.assert_array_equal(out.state, [3.0, 10.0, 10.0, 6.0])
    counts, periods = (np.asarray(r) for r in out.records)
    # records of the periods each member ran: its count after period e, and e itself
    np.testing.assert_array_equal(counts[:3, 0], [1, 2, 3])
    np.testing.assert_array_equal(counts[:5, 1], [2, 4, 6, 8, 10])
    np.testing.assert_array_equal(periods[:5, 1], np.arange(5))
    assert np.isnan(counts[5:]).all()  # the loop ended after the fifth period


def test_calls_of_a_few_periods_end_where_one_call_ends():
    """run_calls: calls of at most 2 periods each carry the state on and stop the same members
    at the same counts as one call of all of them."""
    state = {"count": jnp.zeros(4, jnp.float32)}

    def call(wanted):
        out = run(state["count"], wanted)
        assert wanted.max() <= 2
        state["count"] = out.state
        return out.ran, out.stopped

    ran, stopped = engine.run_calls(call, [8, 5, 8, 8], per_call=2)
    np.testing.assert_array_equal(ran, [3, 5, 2, 2])
    np.testing.assert_array_equal(stopped, [True, False, True, True])
    np.testing.assert_array_equal(state["count"], [3.0, 10.0, 10.0, 6.0])


def test_a_population_of_one_takes_its_judged_state_as_it_is():
    """One member: the loop runs only while it is active; its state is the judge's."""
    step, limit = np.array([2.0], np.float32), np.array([5.0], np.float32)
    out = run(jnp.zeros(1, jnp.float32), np.array([8], np.int32), step, limit)
    assert (int(out.ran[0]), bool(out.stopped[0]), float(out.state[0])) == (3, True, 6.0)
    np.testing.assert_array_equal(np.asarray(out.records[0])[:3, 0], [2, 4, 6])
