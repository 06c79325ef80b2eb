"""What the gradient check before training costs: ``fit(grad="backprop")`` with its default
``check_gradient=True`` against the same call with ``check_gradient=False``.

    python experiments/bench_gradient_check.py [--quick]

Each row times the two calls alternately (after a warm-up of each, so compilation is not counted)
and reports the medians and the median of the per-pair ratios. Writes
``results/gradient_check.md`` (the documentation's table).
"""

import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxmlp  # noqa: E402
from jaxmlp import bench  # noqa: E402
from jaxmlp.io import builtin  # noqa: E402
from jaxmlp.io.atomic import write_text  # noqa: E402


def pairs(call, repeats: int) -> tuple[float, float, float]:
    """Median seconds with and without the check, and the median ratio of adjacent pairs."""
    call(True), call(False)
    on, off = [], []
    for _ in range(repeats):
        for flag, times in ((True, on), (False, off)):
            t = time.perf_counter()
            call(flag)
            times.append(time.perf_counter() - t)
    on, off = np.array(on), np.array(off)
    return float(np.median(on)), float(np.median(off)), float(np.median(on / off))


def seed_run():
    net, params, x, y = jaxmlp.tutorial()  # x, y: the seed's single example, as fit takes it

    def run(check: bool):
        return jaxmlp.fit(
            net,
            params,
            x,
            y,
            steps=10_000,
            learning_rate=0.5,
            grad="backprop",
            check_gradient=check,
        ).params

    return run


def digits_run():
    ds = builtin.load("digits")
    net = jaxmlp.MLP((64, 256, 10), "relu", "softmax", "cross_entropy")
    params = net.init(jax.random.key(0), jnp.float32)
    x, y = jnp.asarray(ds.x_train, jnp.float32), jnp.asarray(ds.y_train)
    key = jax.random.key(1)

    def run(check: bool):
        r = jaxmlp.fit(
            net,
            params,
            x,
            y,
            steps=2_200,
            learning_rate=1e-3,
            optimizer="adam",
            batch_size=64,
            key=key,
            grad="backprop",
            check_gradient=check,
        )
        return r.params

    return run


def main(quick: bool) -> str:
    rows = [
        ("seed 2-2-2, float64, 10,000 full-batch SGD steps", seed_run(), 50 if quick else 1000),
        (
            "digits 64-256-10, float32, adam, batch 64, 2,200 steps",
            digits_run(),
            3 if quick else 15,
        ),
    ]
    lines = [
        f"Machine: {bench.machine('cpu')['cpu']}; jax {jax.__version__}.",
        "",
        '| run (`fit(grad="backprop")`) | checked (ms) | unchecked (ms) | cost of the check | pairs |',
        "|---|---|---|---|---|",
    ]
    for name, call, repeats in rows:
        on, off, ratio = pairs(call, repeats)
        lines.append(
            f"| {name} | {on * 1e3:.3f} | {off * 1e3:.3f} | {100 * (ratio - 1):+.1f}% | {repeats} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    text = main(quick)
    print(text)
    if not quick:
        write_text(Path(__file__).parent / "results" / "gradient_check.md", text + "\n")
