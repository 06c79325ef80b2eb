"""How fast can a population of the W13 search run on this machine? The arithmetic rates that bound it.

    python experiments/search_ceiling.py [--out experiments/results]

W13's grid on digits trains 180 networks 64-100-10 (15 cohorts of 12 members that share a fold and a
seed, so their batches) with adam, batches of 200 rows. This measures, in float32 and float64, each
in the same run (medians of 5 after compilation):

* the machine's matrix-multiply peak: the fastest n x n product (n = 1024, 2048);
* the first layer's products as a population step takes them (86 % of its arithmetic): every
  cohort's batch (200 x 64) times its members' weights (64 x 1,200), and the weight gradient
  (64 x 200 times 200 x 1,200), 15 cohorts at once;
* an idealised population step: the forward and backward pass and adam's update of all 180 members,
  written directly with ``einsum`` (no batch gathers, no stopping rules, no records, the data
  already in batches): what the population's step costs with nothing but its arithmetic.

Useful arithmetic is ``6 x weights x rows`` per member step, as W13 counts it. Writes
``search_ceiling.md``.
"""

import argparse
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from jaxmlp.bench.common import x64_scope
from jaxmlp.io.atomic import write_text

COHORTS, MEMBERS, BATCH, N_IN, HIDDEN, N_OUT, STEPS = 15, 12, 200, 64, 100, 10, 40
USEFUL = 6 * (N_IN * HIDDEN + HIDDEN * N_OUT) * BATCH  # per member step


def median_seconds(f, *args, repeats: int = 5) -> float:
    jax.block_until_ready(f(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak(dtype) -> float:
    """GFLOP/s of the fastest n x n product."""
    best = 0.0
    for n in (1024, 2048):
        a = jax.random.normal(jax.random.key(0), (n, n), dtype)
        best = max(best, 2 * n**3 / median_seconds(jax.jit(jnp.matmul), a, a) / 1e9)
    return best


def first_layer(dtype) -> tuple[float, float]:
    """GFLOP/s of the first layer's forward product and weight gradient, all cohorts at once."""
    key = jax.random.key(1)
    x = jax.random.normal(key, (COHORTS, BATCH, N_IN), dtype)
    w = jax.random.normal(key, (COHORTS, N_IN, MEMBERS * HIDDEN), dtype)
    d = jax.random.normal(key, (COHORTS, BATCH, MEMBERS * HIDDEN), dtype)
    flops = 2 * COHORTS * BATCH * N_IN * MEMBERS * HIDDEN
    forward = jax.jit(lambda x, w: jnp.einsum("gbi,gih->gbh", x, w))
    gradient = jax.jit(lambda x, d: jnp.einsum("gbi,gbh->gih", x, d))
    return (
        flops / median_seconds(forward, x, w) / 1e9,
        flops / median_seconds(gradient, x, d) / 1e9,
    )


def member_gradients(p, x, t):
    """One cohort's gradients of the mean cross-entropy: ``x`` ``(B, n_in)`` shared by its members."""
    w1, b1, w2, b2 = p
    z1 = jnp.einsum("bi,ich->bch", x, w1) + b1[None]
    h = jnp.maximum(z1, 0)
    z2 = jnp.einsum("bch,cho->bco", h, w2) + b2[None]
    d2 = (jax.nn.softmax(z2, -1) - t[:, None]) / BATCH
    d1 = jnp.einsum("bco,cho->bch", d2, w2) * (z1 > 0)
    return (
        jnp.einsum("bi,bch->ich", x, d1),
        d1.sum(0),
        jnp.einsum("bch,bco->cho", h, d2),
        d2.sum(0),
    )


def idealised_step(dtype) -> float:
    """GFLOP/s (useful) of ``STEPS`` adam steps of all members, the batches given."""
    key = jax.random.key(2)
    shapes = [
        (COHORTS, N_IN, MEMBERS, HIDDEN),
        (COHORTS, MEMBERS, HIDDEN),
        (COHORTS, MEMBERS, HIDDEN, N_OUT),
        (COHORTS, MEMBERS, N_OUT),
    ]
    params = tuple(0.1 * jax.random.normal(key, s, dtype) for s in shapes)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    x = jax.random.normal(key, (STEPS, COHORTS, BATCH, N_IN), dtype)
    labels = jax.random.randint(key, (STEPS, COHORTS, BATCH), 0, N_OUT)
    t = jax.nn.one_hot(labels, N_OUT, dtype=dtype)

    def step(carry, batch):
        p, m, v = carry
        g = jax.vmap(member_gradients)(p, *batch)
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        p = jax.tree_util.tree_map(lambda p, m, v: p - 1e-3 * m / (jnp.sqrt(v) + 1e-8), p, m, v)
        return (p, m, v), None

    run = jax.jit(lambda p, m, v, x, t: jax.lax.scan(step, (p, m, v), (x, t))[0])
    seconds = median_seconds(run, params, zeros, zeros, x, t)
    return USEFUL * STEPS * COHORTS * MEMBERS / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    rows = {}
    for name, dtype in (("float32", jnp.float32), ("float64", jnp.float64)):
        with x64_scope(dtype == jnp.float64):
            rows[name] = (peak(dtype), *first_layer(dtype), idealised_step(dtype))
    half = rows["float32"][0] / 2
    lines = [
        "| precision | matmul peak | first layer, forward (200 x 64 x 1,200) | first layer, "
        "weight gradient | idealised population step (useful) |",
        "|---|---|---|---|---|",
    ]
    for name, (p, f, g, s) in rows.items():
        lines.append(
            f"| {name} | {p:.0f} GFLOP/s | {f:.0f} ({f / p:.0%}) | {g:.0f} ({g / p:.0%}) "
            f"| {s:.0f} ({s / p:.0%} of its peak; {s / half:.0%} of half the float32 peak) |"
        )
    lines += [
        "",
        f"Half the float32 matmul peak is {half:.0f} GFLOP/s of useful "
        f"arithmetic: {half / rows['float64'][0]:.1f}x the float64 peak measured here, and "
        f"{half / rows['float32'][3]:.1f}x the idealised float32 step.",
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "search_ceiling.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
