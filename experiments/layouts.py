"""The two population layouts of ``sweep`` on several small networks, and what YNNPACK costs in each.

    python experiments/layouts.py [--out experiments/results]

For each network, 4,096 members (64 learning rates x 64 seeds) train by
full-batch SGD in one compiled chunk, in the vmap layout (population first)
and the lanes layout (population last, :mod:`jaxmlp.kernels.lanes`); the second table
compiles each layout's loop with XLA's YNNPACK fusions on and off. Every
figure is the median of 5 timed runs after a warm-up, in net-steps per second.
Writes ``layouts.md``.
"""

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxmlp
from jaxmlp.io import builtin
from jaxmlp.io.atomic import write_text
from jaxmlp.kernels import lanes
from jaxmlp.training import population

MEMBERS, REPEATS = 4096, 5
YNN_OFF = {"xla_cpu_experimental_ynn_fusion_type": ""}


def cases():
    """``(name, net, x, y, steps)``: the seed network, XOR, a deeper softmax net, a wider net on 16 examples."""
    seed_net, _, x, t = jaxmlp.tutorial(jnp.float32)
    xor = builtin.load("xor")
    xx, xy = xor.x_train.astype(np.float32), xor.y_train.astype(np.float32)
    rng = np.random.default_rng(0)
    x16 = rng.standard_normal((16, 4)).astype(np.float32)
    y16 = rng.integers(0, 3, 16)
    return [
        (
            "seed 2-2-2 logistic, 1 example",
            seed_net,
            np.asarray(x)[None],
            np.asarray(t)[None],
            1000,
        ),
        ("XOR 2-5-1 logistic, 4 examples", jaxmlp.MLP((2, 5, 1)), xx, xy, 500),
        (
            "2-8-8-2 tanh, softmax, 4 examples",
            jaxmlp.MLP(
                (2, 8, 8, 2), activation="tanh", output_activation="softmax", loss="cross_entropy"
            ),
            xx,
            xor.y_train.ravel().astype(np.int32),
            100,
        ),
        (
            "4-16-3 relu, softmax, 16 examples",
            jaxmlp.MLP(
                (4, 16, 3), activation="relu", output_activation="softmax", loss="cross_entropy"
            ),
            x16,
            y16,
            20,
        ),
    ]


def rate(chunk, net, grad, layout, x, y, steps) -> float:
    """Median net-steps per second of ``chunk`` (a jitted training chunk of that layout)."""
    stacked = population.init_population(net, np.arange(MEMBERS))
    params = lanes.to_lanes(stacked) if layout == "lanes" else stacked
    lr = jnp.full((MEMBERS,), 0.1, jnp.float32)
    run = lambda: jax.block_until_ready(  # noqa: E731
        chunk(jax.tree_util.tree_map(jnp.copy, params), lr, x, y, net=net, grad=grad, n_steps=steps)
    )
    run()
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return MEMBERS * steps / float(np.median(times))


def chunks(options: dict) -> dict:
    """Each layout's training chunk, jitted with ``options``."""
    static = dict(static_argnames=("net", "grad", "n_steps"), compiler_options=options)
    return {
        "vmap": jax.jit(population.run_population_chunk.__wrapped__, **static),
        "lanes": jax.jit(lanes._population_chunk, **static),
    }


def main(out: Path) -> None:
    on, off = chunks({}), chunks(YNN_OFF)
    rows = [
        "| network | gradient | vmap | lanes | lanes / vmap |",
        "|---|---|---|---|---|",
    ]
    ynn = [
        "| network | gradient | layout | YNNPACK on | YNNPACK off | off / on |",
        "|---|---|---|---|---|---|",
    ]
    for name, net, x, y, steps in cases():
        x, y = jnp.asarray(x), jnp.asarray(y)
        for grad in ("backprop", "autodiff"):
            r = {
                (layout, ynn_on): rate(
                    (on if ynn_on else off)[layout], net, grad, layout, x, y, steps
                )
                for layout in ("vmap", "lanes")
                for ynn_on in (True, False)
            }
            vmap, lane = r[("vmap", True)], r[("lanes", False)]  # as sweep compiles them
            rows.append(f"| {name} | {grad} | {vmap:,.0f} | {lane:,.0f} | {lane / vmap:.1f}x |")
            for layout in ("vmap", "lanes"):
                a, b = r[(layout, True)], r[(layout, False)]
                ynn.append(f"| {name} | {grad} | {layout} | {a:,.0f} | {b:,.0f} | {b / a:.2f}x |")
            print(rows[-1])
    text = (
        f"Net-steps per second, {MEMBERS:,} members, as `sweep` compiles each layout "
        "(vmap with XLA's defaults, lanes with YNNPACK off):\n\n"
        + "\n".join(rows)
        + "\n\nThe same loops compiled with XLA's YNNPACK fusions on and off:\n\n"
        + "\n".join(ynn)
    )
    write_text(out / "layouts.md", text + "\n")
    print(text)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    main(p.parse_args().out)
