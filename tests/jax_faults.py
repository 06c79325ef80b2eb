"""Reproducers of known XLA:CPU faults, upstream's and on jaxmlp's own vmapped paths; run as a
script in a fresh process (a fault may be a segmentation fault), one case per call:

    python tests/jax_faults.py CASE

prints ``ok`` or ``wrong: ...``; a crash is the process's exit status. The cases:

- ``matvec-reduction`` (jax-ml/jax#39103, jaxlib 0.10.2): ``jit(vmap(sum((M @ row) ** 2)))`` over
  32,769 rows returns wrong values (the exact answer is an integer);
- ``rank7-reduce`` (#40412, #39257): a float32 multiply-and-reduce of rank 7 with a size-1
  dimension segfaults on a worker thread;
- jaxmlp's vmapped products followed by reductions, each against float64 NumPy at sizes past
  those faults' thresholds: ``per-example-gradients`` (``vmap(net.backprop)``), ``population``
  (``sweep``: a vmapped population's losses after training), ``hessian`` (vmapped HVPs) and
  ``lanczos`` (``top_eigenvalue`` against the dense Hessian's).
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

ROWS = 32_769  # past #39103's threshold in float32


def matvec_reduction() -> str:
    i = jnp.arange(ROWS, dtype=jnp.float32)
    x = jnp.stack((i, jnp.zeros_like(i), jnp.zeros_like(i)), axis=1)
    matrix = jnp.eye(3, dtype=jnp.float32)
    got = jax.jit(jax.vmap(lambda row: jnp.sum((matrix @ row) ** 2)))(x)
    want = np.arange(ROWS, dtype=np.float32) ** 2  # i * i rounded once to float32, as XLA's
    bad = np.flatnonzero(np.asarray(got) != want)
    if bad.size == 0:
        return "ok"
    return f"wrong: {bad.size} of {ROWS} rows, e.g. {got[bad[-1]]} for {want[bad[-1]]}"


def rank7_reduce() -> str:
    shape = (3, 1, 2, 2, 8, 8, 8)
    u = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    v = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    got = np.asarray(jax.jit(lambda a, b: jnp.sum(a * b, axis=3))(u, v))
    want = np.sum(u.astype(np.float64) * v, axis=3)
    return "ok" if np.allclose(got, want, rtol=1e-5, atol=1e-5) else "wrong: the reduction"


def _network(sizes=(3, 3, 1)):
    import jaxmlp

    net = jaxmlp.MLP(sizes, activation="tanh", loss="mse")
    return net, net.init(jax.random.key(0))


def _close(got, want, rtol: float) -> str:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = np.max(np.abs(want))
    worst = float(np.max(np.abs(got - want))) / scale
    return "ok" if worst <= rtol else f"wrong: relative error {worst:.2e} (allowed {rtol:.0e})"


def per_example_gradients() -> str:
    net, params = _network()
    x = np.random.default_rng(2).normal(size=(ROWS, 3)).astype(np.float32)
    y = np.random.default_rng(3).normal(size=(ROWS, 1)).astype(np.float32)
    got = jax.jit(jax.vmap(net.backprop, in_axes=(None, 0, 0)))(params, x, y)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
        want = jax.vmap(net.backprop, in_axes=(None, 0, 0))(
            p64, x.astype(np.float64), y.astype(np.float64)
        )
        want = jax.tree.map(np.asarray, want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        verdict = _close(g, w, 1e-4)  # float32 against float64: a few hundred ulps of the largest
        if verdict != "ok":
            return verdict
    return "ok"


def population() -> str:
    import jaxmlp

    net, _ = _network()
    x = np.random.default_rng(4).normal(size=(ROWS, 3)).astype(np.float32)
    y = np.tanh(x[:, :1])
    rates = np.asarray([0.05, 0.1, 0.2], np.float32)
    result = jaxmlp.sweep(net, x, y, learning_rates=rates, seeds=np.arange(3), steps=3)
    losses = np.asarray(result.final_loss).reshape(-1)  # members in row-major order
    with jax.enable_x64(True):
        want = []
        for m in range(losses.size):
            member = jax.tree.map(lambda a: np.asarray(a[m], np.float64), result.params)
            want.append(float(net.loss_fn(member, x.astype(np.float64), y.astype(np.float64))))
    return _close(losses, want, 1e-4)


def _dense_hessian_problem(seed: int):
    """A 3-4-1 network, ``ROWS`` float32 rows, and the dense Hessian in float64 (the reference)."""
    import jaxmlp

    net, params = _network((3, 4, 1))
    x = np.random.default_rng(seed).normal(size=(ROWS, 3)).astype(np.float32)
    y = np.random.default_rng(seed + 1).normal(size=(ROWS, 1)).astype(np.float32)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
        dense = np.asarray(jaxmlp.hessian(net, p64, x.astype(np.float64), y.astype(np.float64)))
    return net, params, x, y, dense


def hessian() -> str:
    import jaxmlp

    net, params, x, y, dense = _dense_hessian_problem(5)
    return _close(jaxmlp.hessian(net, params, x, y), dense, 1e-4)


def lanczos() -> str:
    import jaxmlp

    net, params, x, y, dense = _dense_hessian_problem(7)
    got = jaxmlp.top_eigenvalue(net, params, x, y)
    return _close(got, np.max(np.linalg.eigvalsh(dense)), 1e-3)


CASES = {
    "matvec-reduction": matvec_reduction,
    "rank7-reduce": rank7_reduce,
    "per-example-gradients": per_example_gradients,
    "population": population,
    "hessian": hessian,
    "lanczos": lanczos,
}

if __name__ == "__main__":
    print(CASES[sys.argv[1]]())
