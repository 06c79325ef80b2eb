"""matplotlib figures, written atomically as PNG. Imported only when a plot is asked for."""

from __future__ import annotations

import io
import os

import numpy as np

from jaxmlp.io.atomic import atomic_open

__all__ = [
    "save_figure",
    "seed_loss_curves",
    "loss_curves",
    "decision_boundary",
    "confusion_matrix",
    "sweep_heatmap",
]


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ValueError("plots need matplotlib: pip install 'jaxmlp[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike) -> None:
    """Write a matplotlib figure as PNG, atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())


def seed_loss_curves(curves: dict[str, np.ndarray], path) -> None:
    """E_total after each round of the seed's training (log scale), one line per variant,
    and below it the variants' relative difference, which the top panel cannot show."""
    plt = _pyplot()
    fig, (ax, diff) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=(2, 1))
    for variant, curve in curves.items():
        ax.plot(np.arange(len(curve)), curve, label=variant.replace("_", " "), lw=1.6)
    ax.set_yscale("log")
    ax.set_ylabel("E_total")
    ax.set_title("The seed network: E_total over 10,000 rounds of SGD (learning rate 0.5)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if {"simultaneous", "updated_weights"} <= set(curves):
        a, b = curves["simultaneous"], curves["updated_weights"]
        diff.plot(np.arange(len(a)), (b - a) / a, color="C1", lw=1.4)
        diff.axhline(0, color="k", lw=0.6)
        diff.set_ylabel("(updated - simultaneous)\n/ simultaneous")
        diff.grid(True, alpha=0.3)
    diff.set_xlabel("round of backpropagation")
    save_figure(fig, path)
    plt.close(fig)


def loss_curves(
    train: np.ndarray,
    path,
    test: dict[int, float] | None = None,
    title: str = "",
    validation: dict[int, float] | None = None,
) -> None:
    """Training loss per step (log scale) and, where given, validation and test loss at some
    steps (global step -> loss after it)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(np.arange(len(train)), train, label="train (batch)", lw=1.0)
    for name, curve in (("validation", validation), ("test", test)):
        if curve:
            steps = sorted(curve)
            ax.plot(steps, [curve[s] for s in steps], ".-", label=name, lw=1.6)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save_figure(fig, path)
    plt.close(fig)


def decision_boundary(predict, x: np.ndarray, y: np.ndarray, path, title: str = "") -> None:
    """The 2-D decision boundary of ``predict`` (grid points -> probability), with the data points."""
    plt = _pyplot()
    lo, hi = x.min(0) - 0.5, x.max(0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    p = np.asarray(predict(np.stack([gx.ravel(), gy.ravel()], 1))).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    cs = ax.contourf(gx, gy, p, levels=20, cmap="RdBu_r", alpha=0.8)
    ax.contour(gx, gy, p, levels=[0.5], colors="k", linewidths=1.5)
    ax.scatter(x[:, 0], x[:, 1], c=y.ravel(), cmap="RdBu_r", edgecolors="k", s=120)
    fig.colorbar(cs, ax=ax, label="output")
    ax.set_title(title)
    save_figure(fig, path)
    plt.close(fig)


def confusion_matrix(matrix: np.ndarray, path, title: str = "") -> None:
    """A confusion matrix, true class by row, predicted class by column, with counts."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(int(v)),
            ha="center",
            va="center",
            color="white" if v > matrix.max() / 2 else "black",
        )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_title(title)
    save_figure(fig, path)
    plt.close(fig)


def sweep_heatmap(
    final_loss: np.ndarray, learning_rates: np.ndarray, path, title: str = ""
) -> None:
    """Final loss by learning rate (rows) and seed (columns), log colour scale."""
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    fig, ax = plt.subplots(figsize=(8, 5))
    data = np.where(np.isfinite(final_loss), final_loss, np.nan)
    positive = data[np.isfinite(data) & (data > 0)]
    norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size else None
    im = ax.imshow(data, aspect="auto", origin="lower", cmap="viridis", norm=norm)
    ticks = np.linspace(0, len(learning_rates) - 1, min(8, len(learning_rates))).astype(int)
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{learning_rates[t]:.3g}" for t in ticks])
    ax.set_ylabel("learning rate")
    ax.set_xlabel("seed")
    fig.colorbar(im, ax=ax, label="final loss (NaN: diverged, blank)")
    ax.set_title(title)
    save_figure(fig, path)
    plt.close(fig)
