"""XOR with the default 2-5-1 logistic network: success rate over 100 seeds trained at once.

    python experiments/xor_seeds.py [--out experiments/results]

A seed succeeds when all four cases fall on the right side of 0.5. All 100
networks train together (``jaxmlp.training.population.sweep``, in one compiled scan).
Writes ``xor.md`` and ``xor_boundary.png`` (seed 0).
"""

import argparse
from pathlib import Path

import numpy as np

from jaxmlp.cli import plots
from jaxmlp.cli.run_config import RunConfig, build_network
from jaxmlp.cli.summary import predictions
from jaxmlp.io import builtin
from jaxmlp.io.atomic import write_text
from jaxmlp.training import population
from jaxmlp.training.population import accuracy as population_accuracy


def main(out: Path, seeds: int = 100) -> None:
    ds = builtin.load("xor")
    net = build_network(ds, RunConfig())
    lr, steps = ds.defaults["learning_rate"], ds.defaults["steps"]
    r = population.sweep(
        net, ds.x_train, ds.y_train, learning_rates=[lr], seeds=np.arange(seeds), steps=steps
    )
    acc = population_accuracy(net, r.params, ds.x_train, ds.y_train)
    rate = float((acc == 1.0).mean())
    first = __import__("jax").tree_util.tree_map(lambda a: a[0], r.params)
    plots.decision_boundary(
        lambda g: predictions(net, first, g)[:, 0],
        ds.x_train,
        ds.y_train,
        out / "xor_boundary.png",
        "XOR, 2-5-1 logistic, seed 0",
    )
    table = "\n".join(
        [
            "| network | loss | SGD learning rate | steps | seeds | all four right | median final loss | seconds (all seeds) |",
            "|---|---|---|---|---|---|---|---|",
            f"| {'-'.join(map(str, net.sizes))} {net.activation} | {net.loss} | {lr} | {steps} | {seeds} | {rate:.0%} | {np.median(r.final_loss):.3g} | {r.seconds:.2f} |",
        ]
    )
    write_text(out / "xor.md", table + "\n")
    print(table)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    main(p.parse_args().out)
