"""W9 of ``jaxmlp bench``: the handwritten Hessian-vector product against forward-over-reverse autodiff.

Three peers on the same network, data and parameters, each a compiled loop of ``n`` iterations
(so per-call dispatch does not hide the arithmetic), timed round-robin:

* the R-operator by hand (:func:`jaxmlp.hvp.hvp` with the small-product kernel, as
  :func:`jaxmlp.top_eigenvalue` and :func:`jaxmlp.hessian` run it), as power iteration
  ``v <- H v / |H v|``;
* ``jax.jvp(jax.grad(loss))``, the same power iteration;
* one gradient (``jax.grad``) in the same loop (taken at ``params + 1e-9 v``), for scale.

Every peer's result is checked: both power iterations must give the same vector (they compute the
same products), else the benchmark raises :class:`~jaxmlp.bench.common.BenchmarkMismatch`.
"""

from __future__ import annotations

import functools

import numpy as np

from jaxmlp.bench.common import agree

__all__ = ["w9"]


def _loops(net, x, y, n: int):
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from jaxmlp import forward, hvp
    from jaxmlp.kernels.small import matmul as kernel_matmul

    def power(product):
        @jax.jit
        def loop(params, v):
            def body(_, v):
                w = product(params, v)
                norm = jnp.sqrt(sum(jnp.sum(a * a) for a in jax.tree_util.tree_leaves(w)))
                return jax.tree_util.tree_map(lambda a: a / norm, w)

            return jax.lax.fori_loop(0, n, body, v)

        return loop

    loss = functools.partial(forward.loss_fn, net)
    hand = power(lambda p, v: hvp.hvp(net, p, x, y, v, matmul=kernel_matmul))
    auto = power(lambda p, v: jax.jvp(lambda q: jax.grad(loss)(q, x, y), (p,), (v,))[1])

    # The gradient in the same loop: at params + 1e-9 v (so it depends on v), normalised as above.
    gradient = power(
        lambda p, v: jax.grad(loss)(jax.tree_util.tree_map(lambda a, d: a + 1e-9 * d, p, v), x, y)
    )

    return {"hand": hand, "auto": auto, "grad": gradient}, ravel_pytree


def w9(repeats: int, quick: bool, interleaved) -> list[dict]:
    """W9 rows: microseconds per product for each peer, on the seed network and on 784-512-512-10."""
    import jax
    import jax.numpy as jnp

    import jaxmlp

    rng = np.random.default_rng(0)
    seed_net, seed_params, sx, sy = jaxmlp.tutorial(jnp.float64)
    big = jaxmlp.MLP((784, 512, 512, 10), "logistic", "softmax", "cross_entropy", "per_neuron")
    batch = 256
    cases = [
        (
            "seed 2-2-2, float64",
            seed_net,
            seed_params,
            sx[None],
            sy[None],
            2_000 if quick else 20_000,
        ),
        (
            f"784-512-512-10, batch {batch}, float32",
            big,
            big.init(jax.random.key(0), jnp.float32),
            jnp.asarray(rng.standard_normal((batch, 784)), jnp.float32),
            jnp.asarray(rng.integers(0, 10, batch).astype(np.int32)),
            3 if quick else 20,
        ),
    ]
    names = {
        "hand": "jaxmlp hvp (R-operator by hand)",
        "auto": "jax.jvp(jax.grad) (forward over reverse)",
        "grad": "one gradient (jax.grad), for scale",
    }
    rows = []
    for label, net, params, x, y, n in cases:
        loops, ravel = _loops(net, x, y, n)
        v = jax.tree_util.tree_map(
            lambda a: jnp.asarray(rng.standard_normal(a.shape), a.dtype), params
        )
        runners = {
            k: functools.partial(lambda f: jax.block_until_ready(f(params, v)), f)
            for k, f in loops.items()
        }
        timed = interleaved(runners, repeats)
        a, b = ravel(timed["hand"][1])[0], ravel(timed["auto"][1])[0]
        tol = 1e-8 if a.dtype == jnp.float64 else 2e-3
        gap = float(jnp.max(jnp.abs(a - b)))
        agree(gap <= tol, f"W9 {label}: the hand power iteration's vector (largest gap)", gap, 0.0)
        grad_us = timed["grad"][0] / n * 1e6
        for k in ("hand", "auto", "grad"):
            us = timed[k][0] / n * 1e6
            rows.append(
                {
                    "workload": "W9 Hessian-vector products",
                    "peer": f"{label}: {names[k]}",
                    "us_per_product": us,
                    "vs_one_gradient": us / grad_us,
                    "vs_autodiff": us / (timed["auto"][0] / n * 1e6),
                    "note": f"{n:,} products per compiled loop, median of {repeats} round-robin runs",
                }
            )
    return rows
