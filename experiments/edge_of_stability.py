"""The edge of stability, watched from inside the loop: full-batch gradient descent on a tanh MLP
drives the sharpness (the largest Hessian eigenvalue of the training loss) up to 2 / eta and holds
it there while the loss keeps falling, not monotonically (Cohen et al., ICLR 2021).

    python experiments/edge_of_stability.py [--out experiments/results] [--steps 5000]

All 1,797 digits of scikit-learn's ``load_digits`` (standardised pixels, one-hot targets), a
64-200-200-10 tanh network with a linear output and squared error (``half_sse``:
1/2 |f(x) - t|^2 averaged over examples, the paper's main loss), initial weights ``net.init(key(0))``
halved (a flat start, so the sharpening shows), float32. Every run is one ``jaxmlp.fit`` with a
``jaxmlp.Monitor(every=steps // 100)``: the sharpness by Lanczos over the handwritten Hessian-vector
product on the whole training set, warm-started from the previous record. Four step sizes of plain
gradient descent (edge 2 / eta) and two of heavy-ball momentum 0.9 (``optimizer="momentum"``, edge
(2 + 2 x 0.9) / eta). Per run: the first recorded step at which the sharpness reaches its edge, the
median sharpness from there on relative to the edge, the final loss, and the fraction of steps whose
loss rose. Writes ``edge_of_stability.md`` and ``edge_of_stability.png``.
"""

import argparse
from pathlib import Path

import jax
import numpy as np
from sklearn.datasets import load_digits

import jaxmlp
from jaxmlp.cli.plots import save_figure
from jaxmlp.io.atomic import write_text
from jaxmlp.training.optimizers import MOMENTUM

SIZES = (64, 200, 200, 10)
RUNS = [  # (label, optimizer, learning rate)
    *[("gradient descent", None, lr) for lr in (0.1, 0.2, 0.3, 0.4)],
    *[(f"momentum {MOMENTUM}", "momentum", lr) for lr in (0.19, 0.3)],
]


def data():
    x, y = load_digits(return_X_y=True)
    spread = x.std(0)
    x = ((x - x.mean(0)) / np.where(spread > 0, spread, 1)).astype(np.float32)
    return x, np.eye(10, dtype=np.float32)[y]


def edge(optimizer, lr: float) -> float:
    """The quadratic model's stability bound: 2 / eta, or (2 + 2 beta) / eta with momentum."""
    return (2 + 2 * MOMENTUM) / lr if optimizer == "momentum" else 2 / lr


def run(x, t, optimizer, lr: float, steps: int):
    net = jaxmlp.MLP(SIZES, activation="tanh", output_activation="identity", loss="half_sse")
    params = jax.tree_util.tree_map(lambda a: a / 2, net.init(jax.random.key(0)))
    monitor = jaxmlp.Monitor(every=max(1, steps // 100), iterations=30)
    return jaxmlp.fit(
        net, params, x, t, steps=steps, learning_rate=lr, optimizer=optimizer, monitor=monitor
    )


def summary(r, bound: float) -> dict:
    m = r.monitor
    reached = np.nonzero(m.sharpness >= bound)[0]
    first = int(m.step[reached[0]]) if reached.size else None
    return {
        "first": first,
        "median": float(np.median(m.sharpness[reached[0] :]) / bound) if reached.size else None,
        "final": float(r.final_loss),
        "rises": float(np.mean(np.diff(r.losses) > 0)),
        "converged": float(np.mean(m.residual <= 1e-3 * np.abs(m.sharpness))),
    }


def main(out: Path, steps: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, t = data()
    rows = [
        "| update | step size eta | edge | first step at the edge | median sharpness after it / edge "
        "| final loss | steps whose loss rose | records converged (residual <= 1e-3 lambda) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 9), sharex=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for (label, optimizer, lr), colour in zip(RUNS, colours):
        bound = edge(optimizer, lr)
        r = run(x, t, optimizer, lr, steps)
        s = summary(r, bound)
        rows.append(
            f"| {label} | {lr:g} | {bound:.3g} | {s['first'] if s['first'] is not None else 'never'} | "
            f"{s['median']:.3f} | {s['final']:.4g} | {s['rises']:.0%} | {s['converged']:.0%} |"
            if s["median"] is not None
            else f"| {label} | {lr:g} | {bound:.3g} | never | - | {s['final']:.4g} | "
            f"{s['rises']:.0%} | {s['converged']:.0%} |"
        )
        print(rows[-1], flush=True)
        style = "--" if optimizer else "-"
        name = f"{label}, eta = {lr:g}"
        top.plot(r.monitor.step, r.monitor.sharpness, style, color=colour, label=name)
        top.axhline(bound, color=colour, lw=0.8, ls=":")
        bottom.semilogy(np.arange(len(r.losses)), r.losses, style, color=colour, lw=0.7, label=name)
    top.set_ylabel("sharpness (top Hessian eigenvalue)")
    top.set_title(
        f"digits, {'-'.join(map(str, SIZES))} tanh, squared error, full batch: the sharpness rises "
        "to its edge (dotted: 2 / eta, or 3.8 / eta with momentum) and stays there",
        fontsize=9,
    )
    top.legend(fontsize=8, ncol=2)
    bottom.set_xlabel("step")
    bottom.set_ylabel("training loss")
    bottom.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    save_figure(fig, out / "edge_of_stability.png")
    text = "\n".join(rows) + "\n"
    write_text(out / "edge_of_stability.md", text)
    print(text)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--steps", type=int, default=5000)
    a = p.parse_args()
    main(a.out, a.steps)
