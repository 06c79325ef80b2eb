"""Throughput against device count: data-parallel fit (digits model, large batch) and a
population-parallel sweep (65,536 seed networks).

    python experiments/scaling.py [--devices 1,2,4] [--out experiments/results]

Each device count runs in its own process with
XLA_FLAGS=--xla_force_host_platform_device_count=N (the flag must be set before
JAX starts). On this 2-core CPU the "devices" share two cores, so no speed-up
beyond two is possible: the table shows what sharding costs, not a cluster's
gain. On a GPU machine pass --platform gpu to use its real devices instead.
Writes scaling.md.
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = """
import json, sys, time, numpy as np, jax, jaxmlp
from jaxmlp.training import population
from jaxmlp.cli import run
from jaxmlp.io import builtin
n = int(sys.argv[1])
def med(f, r=3):
    f(); ts = []
    for _ in range(r):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return float(np.median(ts))
ds = builtin.load("digits")
net = jaxmlp.MLP((64, 256, 10), "relu", "softmax", "cross_entropy")
p = net.init(jax.random.key(0))
batch, steps = 1024, 100
x, y = ds.x_train[:batch].astype(np.float32), ds.y_train[:batch]
fit_t = med(lambda: jax.block_until_ready(jaxmlp.fit(net, p, x, y, steps=steps, learning_rate=0.1, devices=n, chunk_size=steps, history=False).params))
seed_net = jaxmlp.tutorial()[0]
xs, ys = np.array([[0.05, 0.10]], np.float32), np.array([[0.01, 0.99]], np.float32)
nets, sweep_steps = 65_536, 1_000
r = [None]
def sweep():
    r[0] = population.sweep(seed_net, xs, ys, learning_rates=[0.5], seeds=np.arange(nets), steps=sweep_steps, chunk_size=sweep_steps, devices=n)
sweep_t = med(lambda: sweep())
print(json.dumps({"devices": n, "platform": jax.devices()[0].platform, "fit_examples_per_s": batch * steps / fit_t,
                  "sweep_net_steps_per_s": nets * sweep_steps / r[0].seconds}))
"""


def main(counts, out: Path, platform: str) -> None:
    rows = []
    for n in counts:
        env = dict(os.environ)
        if platform == "cpu":
            env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n}"
            env["JAX_PLATFORMS"] = "cpu"
        r = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(CHILD), str(n)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    base = rows[0]
    lines = [
        f"| devices ({rows[0]['platform']}) | fit: examples / s (digits 64-256-10, batch 1024) | vs 1 | sweep: net-steps / s (65,536 seed networks) | vs 1 |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['devices']} | {r['fit_examples_per_s']:,.0f} | {r['fit_examples_per_s'] / base['fit_examples_per_s']:.2f}x "
            f"| {r['sweep_net_steps_per_s']:,.0f} | {r['sweep_net_steps_per_s'] / base['sweep_net_steps_per_s']:.2f}x |"
        )
    table = "\n".join(lines)
    from jaxmlp.io.atomic import write_text

    write_text(out / ("scaling.md" if platform == "cpu" else "scaling_gpu.md"), table + "\n")
    print(table)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", default="1,2,4")
    p.add_argument("--platform", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    a = p.parse_args()
    main([int(v) for v in a.devices.split(",")], a.out, a.platform)
