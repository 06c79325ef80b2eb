"""The default sweep (the seed's 2-2-2 architecture, 64 learning rates x 64 seeds, 10,000 steps), and
its speed in both population layouts and against training the same networks one after another
with ``fit``.

    python experiments/sweep.py [--out experiments/results] [--sequential 16]

Both are timed after compilation (a warm-up run of each first), as the
median of 3 runs; the sequential baseline trains ``--sequential`` of the
networks and is reported per net-step. Writes ``sweep.md`` and ``sweep.png``.
"""

import argparse
import time
from pathlib import Path

import jax
import numpy as np

from jaxmlp.cli import plots
from jaxmlp.cli.run_config import RunConfig, build_network
from jaxmlp.io import builtin
from jaxmlp.io.atomic import write_text
from jaxmlp.training import population
from jaxmlp.training.fit import fit


def timed(f, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def main(out: Path, sequential: int, steps: int = 10_000) -> None:
    ds = builtin.load("tutorial")
    net = build_network(ds, RunConfig())
    x, y = ds.x_train.astype(np.float32), ds.y_train.astype(np.float32)
    lrs, seeds = np.geomspace(0.01, 100, 64), np.arange(64)

    def sweep(layout):
        return population.sweep(
            net, x, y, learning_rates=lrs, seeds=seeds, steps=steps, layout=layout
        )

    sweep("auto")
    t_sweep, r = timed(lambda: sweep("auto"))
    sweep("vmap")
    t_vmap, r_vmap = timed(lambda: sweep("vmap"))
    assert np.allclose(r.final_loss, r_vmap.final_loss, rtol=1e-3, atol=1e-7, equal_nan=True)
    one = lambda i: fit(
        net,
        net.init(jax.random.key(int(seeds[i % 64])), "float32"),
        x,
        y,
        steps=steps,
        learning_rate=float(lrs[i // 64]),
        grad="backprop",
        chunk_size=steps,
    )
    jax.block_until_ready(one(0).params)
    t_seq, _ = timed(
        lambda: [jax.block_until_ready(one(i * 97 % 4096).params) for i in range(sequential)]
    )
    sweep_rate = r.nets * steps / t_sweep
    vmap_rate = r.nets * steps / t_vmap
    seq_rate = sequential * steps / t_seq
    plots.sweep_heatmap(
        r.final_loss,
        lrs,
        out / "sweep.png",
        f"seed network: final E_total after {steps} steps, 4,096 networks",
    )
    finite = np.isfinite(r.final_loss)
    table = "\n".join(
        [
            "| run | networks | steps | seconds | net-steps / s |",
            "|---|---|---|---|---|",
            f"| `sweep`, {r.layout} layout (the default for this network) | {r.nets} | {steps} | {t_sweep:.2f} | {sweep_rate:,.0f} |",
            f"| `sweep`, vmap layout | {r.nets} | {steps} | {t_vmap:.2f} | {vmap_rate:,.0f} |",
            f"| `fit`, one network after another | {sequential} | {steps} | {t_seq:.2f} | {seq_rate:,.0f} |",
            f"| **speed-up per net-step over `fit`** | | | | **{sweep_rate / seq_rate:,.0f}x** ({vmap_rate / seq_rate:,.0f}x with vmap) |",
        ]
    )
    best = np.unravel_index(
        np.nanargmin(np.where(finite, r.final_loss, np.nan)), r.final_loss.shape
    )
    note = (
        f"Diverged: {int((~finite).sum())} of {r.nets}. Best: learning rate {lrs[best[0]]:.3g}, seed {seeds[best[1]]}, "
        f"final E_total {r.final_loss[best]:.3g}."
    )
    write_text(out / "sweep.md", table + "\n\n" + note + "\n")
    print(table)
    print(note)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--sequential", type=int, default=16)
    a = p.parse_args()
    main(a.out, a.sequential)
