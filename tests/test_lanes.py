"""The population-last layout: every member's forward pass, loss and gradient equal one network's."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

import jaxmlp
from jaxmlp.forward import forward_trace, loss_fn
from jaxmlp.io import builtin
from jaxmlp.kernels import lanes
from jaxmlp.training import population
from tests.settings import examples, thorough_only
from tests.strategies import networks

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)

MEMBERS = 3


def perturbed_population(params, seed=0):
    """``MEMBERS`` copies of ``params``, each moved by its own noise, stacked on a leading axis."""
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(
        lambda a: jnp.stack([a + 0.2 * rng.standard_normal(a.shape) for _ in range(MEMBERS)]),
        params,
    )


def as_batch(x, y, net):
    if x.ndim == 1:
        return x[None], y[None]
    return x, y


@functools.partial(jax.jit, static_argnames="net")
def lanes_results(net, lane, x, y):
    """The layout's forward pass, losses and both gradients, handed back stacked per member."""
    outs = [jnp.moveaxis(layer.out, -1, 0) for layer in lanes.forward_trace(net, lane, x)]
    grads = [lanes.from_lanes(lanes.gradient(net, g, lane, x, y)) for g in ("backprop", "autodiff")]
    return outs, lanes.losses(net, lane, x, y), grads


@functools.partial(jax.jit, static_argnames="net")
def one_network_results(net, stacked, x, y):
    """The same from the single-network functions, vmapped over the members."""

    def one(p):
        outs = [layer.out.T for layer in forward_trace(net, p, x)]
        return outs, loss_fn(net, p, x, y), jax.grad(lambda q: loss_fn(net, q, x, y))(p)

    return jax.vmap(one)(stacked)


@thorough_only  # the quick run compares the layouts through sweep (test_sweep_layouts_agree)
@settings(max_examples=examples(20), deadline=None)
@given(networks(max_width=lanes.MAX_SIZE))
def test_every_member_matches_one_network_in_float64(case):
    net, params, x, y = case
    x, y = as_batch(x, y, net)
    stacked = perturbed_population(params)
    outs, losses, grads = lanes_results(net, lanes.to_lanes(stacked), x, y)
    want_outs, want_losses, want_grad = one_network_results(net, stacked, x, y)
    # float64: the unrolled sums add in another order than XLA's dots (a few ulp per sum).
    for got, want in zip(outs, want_outs):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-12, atol=1e-14)
    for got in grads:  # backprop, then autodiff
        jax.tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13), got, want_grad
        )


def test_layout_round_trip_and_shapes():
    net = jaxmlp.MLP((3, 4, 2), bias="per_neuron")
    stacked = population.init_population(net, [0, 1, 2, 3, 4])
    lane = lanes.to_lanes(stacked)
    assert lane[0]["w"].shape == (4, 3, 5) and lane[0]["b"].shape == (4, 5)
    jax.tree_util.tree_map(np.testing.assert_array_equal, lanes.from_lanes(lane), stacked)


@pytest.mark.parametrize("grad", ["backprop", pytest.param("autodiff", marks=thorough_only)])
def test_sweep_layouts_agree(grad):
    net = jaxmlp.MLP((2, 5, 1))
    ds = builtin.load("xor")
    x, y = ds.x_train, ds.y_train.reshape(-1, 1).astype(np.float64)
    kw = dict(learning_rates=[0.5, 2.0], seeds=[0, 1, 2], steps=300, grad=grad, dtype="float64")
    a = population.sweep(net, x, y, layout="vmap", **kw)
    b = population.sweep(net, x, y, layout="lanes", **kw)
    np.testing.assert_allclose(a.final_loss, b.final_loss, rtol=1e-9)
    jax.tree_util.tree_map(
        lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-8, atol=1e-12), a.params, b.params
    )
    assert b.params[0]["w"].shape == (6, 5, 2)  # handed back stacked on the leading axis


@thorough_only
def test_auto_takes_lanes_only_for_the_handwritten_gradient_where_it_fits():
    chunk = lanes.compiled_chunk()
    chunk.clear_cache()  # what this test compiles, whatever ran before it in this process
    tiny = jaxmlp.MLP((2, 3, 1))
    x, y = np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32)
    kw = dict(learning_rates=[0.1], seeds=[0, 1], steps=3)
    for grad, xs, expect_lanes in (
        ("backprop", x, True),
        ("autodiff", x, False),
        ("backprop", np.zeros((17, 2), np.float32), False),  # more than 16 examples
    ):
        before = chunk._cache_size()
        population.sweep(tiny, xs, np.zeros((len(xs), 1), np.float32), grad=grad, **kw)
        assert (chunk._cache_size() > before) == expect_lanes, (grad, len(xs))
    wide = jaxmlp.MLP((2, 17, 1))
    with pytest.raises(ValueError, match=r"layout='lanes' takes layers at most 16 wide"):
        population.sweep(wide, x, y, layout="lanes", **kw)
    with pytest.raises(
        ValueError, match="unknown layout 'rows'; expected one of auto, vmap, lanes"
    ):
        population.sweep(tiny, x, y, layout="rows", **kw)
    for bad, error, message in (
        ({"learning_rates": "0.1"}, ValueError, "learning_rates must be finite numbers > 0"),
        ({"learning_rates": [0.1, float("nan")]}, ValueError, "learning_rates must be finite"),
        ({"seeds": [0.5]}, ValueError, "seeds must be a non-empty list of integers"),
        ({"steps": 2**31}, ValueError, "steps must be at most 2147483647, got 2147483648"),
        ({"callback": 3}, TypeError, r"callback must be callable as callback\(state, losses\)"),
    ):
        with pytest.raises(error, match=message):
            population.sweep(tiny, x, y, **(kw | bad))


def test_library_reductions_are_off_in_the_lanes_loop():
    assert lanes.compiler_options() == {"xla_cpu_experimental_ynn_fusion_type": ""}
    net = jaxmlp.MLP((2, 2, 2))
    lane = lanes.to_lanes(population.init_population(net, [0, 1]))
    text = (
        lanes.compiled_chunk()
        .lower(
            lane,
            *(jnp.ones(shape, jnp.float32) for shape in (2, (1, 2), (1, 2))),
            net=net,
            grad="autodiff",
            n_steps=2,
        )
        .compile()
        .as_text()
    )
    assert "ynn" not in text


def test_a_sweep_with_a_callback_runs_equal_default_chunks():
    net = jaxmlp.MLP((2, 3, 1))
    ds = builtin.load("xor")
    x, y = ds.x_train, ds.y_train.reshape(-1, 1).astype(np.float64)
    seen = []
    r = population.sweep(
        net,
        x,
        y,
        learning_rates=[0.5],
        seeds=[0],
        steps=2200,
        dtype="float64",
        callback=lambda state, losses: seen.append(state.step) and False,
    )
    assert seen == [550, 1100, 1650, 2200] and r.steps == 2200  # 4 x 550: one compiled length


@pytest.mark.parametrize("layout", ["lanes", "vmap"])
def test_sweeps_callback_sees_the_population_as_fits_sees_its_state(layout):
    """callback(state, losses), as fit's: state.step and state.params (stacked, kept valid after the
    next chunk has run), losses one per member; the last state is the result."""
    net = jaxmlp.MLP((2, 3, 1), activation="tanh")
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
    y = np.array([[0], [1], [1], [0]], np.float64)
    seen = []
    r = jaxmlp.sweep(
        net,
        x,
        y,
        learning_rates=[0.5, 1.0],
        seeds=[0, 1],
        steps=30,
        chunk_size=10,
        layout=layout,
        dtype=jnp.float64,
        callback=lambda s, losses: seen.append((s, losses)) and False,
    )
    assert [s.step for s, _ in seen] == [10, 20, 30] and all(l.shape == (4,) for _, l in seen)
    first = seen[0][0].params[0]["w"]
    assert first.shape == (4, 3, 2) and np.isfinite(np.asarray(first)).all()
    jax.tree_util.tree_map(np.testing.assert_array_equal, seen[-1][0].params, r.params)
