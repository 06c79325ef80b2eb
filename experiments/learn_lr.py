"""Learning the learning rate: gradient descent on log(learning rate) through whole 200-step training
runs, with ``jaxmlp.hypergradient`` (``jax.grad`` through ``fit``'s compiled loop).

    python experiments/learn_lr.py [--out experiments/results] [--meta-steps 40]

The objective is the log of the loss after 200 steps of plain SGD (``objective="final_loss"``),
on the seed's network and example (float64) and on digits (64-256-10 relu, softmax, the whole
training set each step; float64 too). With :math:`u = \\log \\eta`,
:math:`d \\log \\mathcal{O} / du = \\eta\\, (d\\mathcal{O}/d\\eta) / \\mathcal{O}`, and each meta step is
:math:`u \\leftarrow u - \\alpha\\, \\mathrm{clip}(d \\log \\mathcal{O}/du, \\pm 1)` with
:math:`\\alpha = 0.25` (the clip keeps the first steps from a far-off rate bounded); where the inner run diverges
(its final loss not finite, or above the loss it started from: its gradient says nothing useful)
the meta step is a plain step down, -alpha. Each network starts
from a rate too small and one too large. Writes ``learn_lr.md`` and ``learn_lr.png``.
"""

import argparse
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxmlp
from jaxmlp.cli import plots
from jaxmlp.io import builtin
from jaxmlp.io.atomic import write_text

jax.config.update("jax_enable_x64", True)

STEPS, META_LR = 200, 0.25


def cases():
    """``(name, net, params, x, y, starting rates)``."""
    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    digits = builtin.load("digits")
    dnet = jaxmlp.MLP((64, 256, 10), "relu", "softmax", "cross_entropy")
    dparams = dnet.init(jax.random.key(0), jnp.float64)
    dx, dy = digits.x_train, digits.y_train
    return [
        ("seed 2-2-2, one example", net, params, x, y, (0.05, 300.0)),
        ("digits 64-256-10 relu, full batch", dnet, dparams, dx, dy, (1e-3, 30.0)),
    ]


def descend(net, params, x, y, lr0, meta_steps):
    """The meta trajectory: ``(rates, objectives)``, one entry per meta step and the last rate's."""
    u, rates, objectives = math.log(lr0), [], []
    start = float(net.loss_fn(params, x, y))
    for _ in range(meta_steps + 1):
        lr = math.exp(u)
        value, grad = jaxmlp.hypergradient(net, params, x, y, steps=STEPS, learning_rate=lr)
        value, grad = float(value), float(grad)
        rates.append(lr)
        objectives.append(value if math.isfinite(value) else np.nan)
        if not math.isfinite(value) or value > start:  # the run diverged: step down
            slope = 1.0
        else:
            slope = lr * grad / value if math.isfinite(grad) and value > 0 else 0.0
        u -= META_LR * max(-1.0, min(1.0, slope))
    return np.asarray(rates), np.asarray(objectives)


def main(out: Path, meta_steps: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    rows = [
        "| network | start rate | loss after 200 steps at the start | learned rate "
        f"(after {meta_steps} meta steps) | loss after 200 steps there |",
        "|---|---|---|---|---|",
    ]
    for col, (name, net, params, x, y, starts) in enumerate(cases()):
        for i, lr0 in enumerate(starts):
            rates, objectives = descend(net, params, x, y, lr0, meta_steps)
            axes[0, col].plot(rates, f"C{i}o-", ms=3, label=f"from {lr0:g}")
            shown = np.where(
                objectives <= 10 * float(net.loss_fn(params, x, y)), objectives, np.nan
            )
            axes[1, col].plot(shown, f"C{i}o-", ms=3)
            rows.append(
                f"| {name} | {lr0:g} | {objectives[0]:.4g} | {rates[-1]:.4g} | {objectives[-1]:.4g} |"
            )
            print(rows[-1])
        axes[0, col].set_yscale("log")
        axes[0, col].set_title(name)
        axes[0, col].set_ylabel("learning rate")
        axes[0, col].legend()
        axes[1, col].set_yscale("log")
        axes[1, col].set_ylabel(f"loss after {STEPS} steps\n(diverged runs off the chart)")
        axes[1, col].set_xlabel("meta step (gradient descent on log learning rate)")
        for ax in axes[:, col]:
            ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    plots.save_figure(fig, out / "learn_lr.png")
    table = "\n".join(rows)
    write_text(out / "learn_lr.md", table + "\n")
    print(table)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--meta-steps", type=int, default=40)
    a = p.parse_args()
    main(a.out, a.meta_steps)
