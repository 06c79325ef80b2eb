"""Minibatches by epochs: every example once per epoch, O(batch) per step, resumable at any step."""

import functools

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmlp
from jaxmlp.training import batching
from tests.settings import thorough_only

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def stream(key, n, batch, steps, start=0):
    """The example indices of ``steps`` steps from global step ``start``: ``(steps * batch,)``."""

    def body(cursor, _):
        idx, cursor = batching.draw(key, cursor, batch, n)
        return cursor, idx

    return jax.lax.scan(body, batching.start(key, start, n, batch), None, length=steps)[1].ravel()


@pytest.mark.parametrize(
    "n,batch", [(1, 1), (5, 2), (10, 4), (64, 64), (1000, 128), (4097, 100), (100_003, 4096)]
)
def test_every_example_exactly_once_per_epoch(n, batch):
    key = jax.random.key(3)
    epochs = 3
    s = np.asarray(stream(key, n, batch, -(-epochs * n // batch)))
    for e in range(epochs):
        assert sorted(s[e * n : (e + 1) * n]) == list(range(n)), e
    assert np.array_equal(s[:n], np.asarray(batching.permutation(key, 0, n)))
    if n > 8:  # each epoch its own order
        assert not np.array_equal(s[:n], s[n : 2 * n])


@pytest.mark.parametrize("n", [4096, 4097, 400_000])  # halves of equal and of unequal widths
def test_an_epochs_order_shows_no_structure(n):
    """Position and drawn index are uncorrelated, successive indices are not close, and there are
    about as many fixed points as in a uniformly random permutation (1 expected)."""
    perm = np.asarray(batching.permutation(jax.random.key(5), 0, n)).astype(np.float64)
    pos = np.arange(n)
    assert abs(np.corrcoef(pos, perm)[0, 1]) < 4 / np.sqrt(n)
    gaps = np.abs(np.diff(perm))  # a uniform pair is n / 3 apart on average
    assert abs(gaps.mean() / (n / 3) - 1) < 0.05
    assert np.sum(perm == pos) <= 6


def test_the_draw_at_any_step_equals_the_uninterrupted_stream():
    key, n, batch = jax.random.key(0), 37, 8
    whole = np.asarray(stream(key, n, batch, 20))
    for start in (0, 4, 5, 13):
        part = np.asarray(stream(key, n, batch, 20 - start, start))
        assert np.array_equal(part, whole[start * batch :])


def test_a_draw_does_no_work_of_the_data_sets_size():
    """No intermediate of a draw is as large as the data set: O(batch) per step, not O(n)."""
    n, batch = 100_003, 16
    jaxpr = jax.make_jaxpr(lambda c: batching.draw(jax.random.key(0), c, batch, n))(
        batching.start(jax.random.key(0), 0, n, batch)
    )

    def sizes(jp):
        for eqn in jp.eqns:
            for var in eqn.outvars:
                yield int(np.prod(var.aval.shape))
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                yield from sizes(sub)

    assert max(sizes(jaxpr.jaxpr)) <= batch * batching.ROUNDS


@thorough_only
def test_resuming_across_an_epoch_boundary_is_bit_identical():
    net = jaxmlp.MLP((3, 5, 2), "tanh", "softmax", "cross_entropy")
    params = net.init(jax.random.key(0), jnp.float64)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 3)), rng.integers(0, 2, 10)
    kw = dict(learning_rate=0.1, optimizer="adam", batch_size=4, key=jax.random.key(5))
    whole = jaxmlp.fit(net, params, x, y, steps=23, **kw)
    first = jaxmlp.fit(net, params, x, y, steps=9, **kw)  # 36 examples: mid-epoch 4
    rest = jaxmlp.fit(
        net, first.params, x, y, steps=14, opt_state=first.opt_state, start_step=9, **kw
    )
    # The same batches and steps, but 23 steps in one scan against 9 + 14: other programs, which
    # XLA may round otherwise on some CPUs; float64 adam, 23 steps: equal to 1e-11.
    for a, b in zip(
        jax.tree_util.tree_leaves(whole.params), jax.tree_util.tree_leaves(rest.params)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(
        whole.losses, np.concatenate([first.losses, rest.losses]), rtol=1e-11
    )


def test_fit_trains_on_the_epoch_stream():
    """fit's batches are the stream's: a network whose loss is one example's value reveals the order."""
    net = jaxmlp.MLP((1, 1), "identity", "identity", "half_sse", "none")
    params = ({"w": jnp.zeros((1, 1))},)
    n, batch = 6, 1
    x = np.ones((n, 1))
    y = np.arange(n, dtype=np.float64)[:, None]  # the loss at w = 0 names the example: y^2 / 2
    key = jax.random.key(2)
    r = jaxmlp.fit(net, params, x, y, steps=2 * n, learning_rate=1e-30, batch_size=batch, key=key)
    seen = np.rint(np.sqrt(2 * r.losses)).astype(int)
    assert np.array_equal(seen, np.asarray(stream(key, n, batch, 2 * n)))
