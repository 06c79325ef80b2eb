"""Handwritten digits (scikit-learn's 8x8 set) with the defaults of ``jaxmlp train digits``.

    python experiments/digits.py [--out experiments/results] [--seeds 5]

Trains with each seed, reports test accuracy and wall time (compilation
included), and writes ``digits.md``, ``digits_loss.png`` and
``digits_confusion.png`` (seed 0).
"""

import argparse
from pathlib import Path

import numpy as np

from jaxmlp.cli import plots, run
from jaxmlp.cli.run_config import RunConfig
from jaxmlp.cli.summary import confusion
from jaxmlp.io import builtin
from jaxmlp.io.atomic import write_text


def main(out: Path, seeds: int) -> None:
    ds = builtin.load("digits")
    rows = []
    for seed in range(seeds):
        o = run.train(ds, RunConfig(seed=seed, chunk_size=100))
        s = o.summary
        rows.append(
            (
                seed,
                s["steps"],
                s["test_accuracy"],
                s["train_accuracy"],
                s["test_loss"],
                s["seconds"],
            )
        )
        if seed == 0:
            plots.loss_curves(
                o.result.losses,
                out / "digits_loss.png",
                o.test_curve,
                "digits, 64-256-10 relu, adam 1e-3, batch 64",
            )
            plots.confusion_matrix(
                confusion(o.net, o.result.params, ds.x_test, ds.y_test, 10),
                out / "digits_confusion.png",
                "digits: test set (450 images)",
            )
    acc = np.array([r[2] for r in rows])
    lines = [
        "| seed | steps | test accuracy | train accuracy | test loss | seconds |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r[0]} | {r[1]} | {r[2]:.2%} | {r[3]:.2%} | {r[4]:.4f} | {r[5]:.1f} |" for r in rows
    ]
    lines.append(
        f"| **median** | | **{np.median(acc):.2%}** (min {acc.min():.2%}) | | | {np.median([r[5] for r in rows]):.1f} |"
    )
    table = "\n".join(lines)
    write_text(out / "digits.md", table + "\n")
    print(table)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--seeds", type=int, default=5)
    a = p.parse_args()
    main(a.out, a.seeds)
