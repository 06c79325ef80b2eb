"""Curvature predicts divergence: the Hessian's largest eigenvalue against the learning rate at which
full-batch gradient descent stops working, for the seed network and a small regression network.

    python experiments/curvature.py [--out experiments/results]

For each network, ``sweep`` trains 48 learning rates x 32 seeds (initial weights ``net.init(key(seed))``)
by full-batch SGD. Per seed, lambda_max of the Hessian at initialisation comes from the handwritten
R-operator through Lanczos (``jaxmlp.top_eigenvalue``, vmapped over the seeds), giving the classical
bound 2 / lambda_max of gradient descent on the local quadratic model. A run "fails" when its final
loss is not finite or over 100 times the best final loss of that seed at any smaller learning rate
(a larger step that stops working, where smaller ones worked); the measured threshold of a seed is
its smallest failing learning rate. A third panel follows lambda_max along training at a few learning rates.
Writes ``curvature.md`` and ``curvature.png``.
"""

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxmlp
from jaxmlp.cli import plots
from jaxmlp.io import builtin
from jaxmlp.io.atomic import write_text
from jaxmlp.training import population

jax.config.update("jax_enable_x64", True)

LRS = np.geomspace(0.1, 1000.0, 48)
SEEDS = np.arange(32)
STEPS = 2000
JUMP = 100  # a run fails when its final loss is this many times the best at a smaller rate


def cases():
    """``(name, net, x, y)``: the seed's network and example, and 2-8-1 tanh regression on XOR."""
    net, _, x, y = jaxmlp.tutorial(jnp.float64)
    xor = builtin.load("xor")
    reg = jaxmlp.MLP((2, 8, 1), "tanh", "identity", "mse", "per_neuron")
    return [
        ("seed 2-2-2 logistic, half_sse", net, np.asarray(x)[None], np.asarray(y)[None]),
        ("XOR 2-8-1 tanh, identity, mse", reg, xor.x_train, xor.y_train),
    ]


def study(net, x, y):
    """Per seed: lambda_max at init, 2 / lambda_max, the measured threshold; and the sweep's grid."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    init = population.init_population(net, SEEDS, jnp.float64)
    lam = np.asarray(jax.vmap(lambda p: jaxmlp.top_eigenvalue(net, p, x, y))(init))
    loss0 = np.asarray(population.population_loss(net, init, x, y))
    r = population.sweep(
        net, x, y, learning_rates=LRS, seeds=SEEDS, steps=STEPS, dtype=jnp.float64, chunk_size=STEPS
    )
    final = np.where(np.isfinite(r.final_loss), r.final_loss, np.inf)
    best_below = np.vstack([loss0[None, :], np.minimum.accumulate(final, axis=0)[:-1]])
    failed = final > JUMP * best_below
    threshold = np.array(
        [LRS[np.argmax(failed[:, s])] if failed[:, s].any() else np.nan for s in range(len(SEEDS))]
    )
    return lam, threshold, r.final_loss


def along_training(net, x, y, rates, steps=2000, every=50):
    """lambda_max every ``every`` steps of seed 0's run at each learning rate."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    curves = {}
    for lr in rates:
        params = net.init(jax.random.key(0), jnp.float64)
        lams = [float(jaxmlp.top_eigenvalue(net, params, x, y))]
        for _ in range(steps // every):
            params = jaxmlp.fit(
                net, params, x, y, steps=every, learning_rate=lr, chunk_size=every
            ).params
            if not all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree_util.tree_leaves(params)):
                break
            lams.append(float(jaxmlp.top_eigenvalue(net, params, x, y)))
        curves[lr] = np.asarray(lams)
    return curves, every


def main(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    rows = [
        "| network | median lambda_max at init | median 2 / lambda_max | median measured threshold "
        "| threshold / bound (median, range over seeds) | seeds that never failed |",
        "|---|---|---|---|---|---|",
    ]
    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    for ax, (name, net, x, y) in zip(axes[:2], cases()):
        lam, threshold, final = study(net, x, y)
        bound = 2 / lam
        ratio = threshold / bound
        ok = np.isfinite(ratio)
        rows.append(
            f"| {name} | {np.median(lam):.4g} | {np.median(bound):.4g} | "
            + (
                f"{np.nanmedian(threshold):.4g} | "
                if ok.any()
                else "none up to " + f"{LRS[-1]:g} | "
            )
            + (
                f"{np.median(ratio[ok]):.2f} ({ratio[ok].min():.2f}-{ratio[ok].max():.2f})"
                if ok.any()
                else "-"
            )
            + f" | {int((~ok).sum())} of {len(SEEDS)} |"
        )
        data_ = np.where(np.isfinite(final), final, np.nan)
        positive = data_[np.isfinite(data_) & (data_ > 0)]
        im = ax.imshow(
            data_,
            aspect="auto",
            origin="lower",
            cmap="viridis",
            norm=LogNorm(positive.min(), positive.max()),
            extent=(-0.5, len(SEEDS) - 0.5, np.log10(LRS[0]), np.log10(LRS[-1])),
        )
        ax.plot(SEEDS, np.log10(bound), "w-", lw=2, label="2 / lambda_max at init")
        ax.plot(SEEDS, np.log10(threshold), "rx", ms=6, label="first failing learning rate")
        ax.set_xlabel("seed")
        ax.set_ylabel("log10 learning rate")
        ax.set_title(f"{name}\nfinal loss after {STEPS} steps (blank: not finite)", fontsize=9)
        ax.legend(loc="lower left", fontsize=8)
        fig.colorbar(im, ax=ax)
        print(rows[-1])
    name, net, x, y = cases()[1]
    lam0 = float(
        jaxmlp.top_eigenvalue(
            net, net.init(jax.random.key(0), jnp.float64), jnp.asarray(x), jnp.asarray(y)
        )
    )
    rates = [f * 2 / lam0 for f in (0.25, 0.5, 0.9)]
    curves, every = along_training(net, x, y, rates)
    ax = axes[2]
    for i, (lr, lams) in enumerate(curves.items()):
        ax.plot(np.arange(len(lams)) * every, lams, color=f"C{i}", label=f"lr {lr:.3g}")
        ax.axhline(2 / lr, color=f"C{i}", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("lambda_max")
    ax.set_title(f"{name}, seed 0: lambda_max along training\n(dashed: 2 / lr)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    plots.save_figure(fig, out / "curvature.png")
    table = "\n".join(rows)
    write_text(out / "curvature.md", table + "\n")
    print(table)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    main(p.parse_args().out)
