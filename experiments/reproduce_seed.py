"""Regenerate the seed reproduction table (Markdown) and its loss-curve plot.

    python experiments/reproduce_seed.py [--out experiments/results]

Writes ``reproduce_seed.md`` and ``seed_loss.png`` (the documentation shows both).
"""

import argparse
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

from jaxmlp.cli import plots  # noqa: E402
from jaxmlp.explain import reproduction  # noqa: E402
from jaxmlp.explain.reproduction import REPRODUCE_NOTE  # noqa: E402
from jaxmlp.io.atomic import write_text  # noqa: E402


def main(out: Path) -> None:
    figures, curves = reproduction.reproduce()
    notes = reproduction.errata(figures)
    table = reproduction.reproduction_table(figures, notes, markdown=True)
    write_text(out / "reproduce_seed.md", table + "\n\n" + REPRODUCE_NOTE + "\n")
    plots.seed_loss_curves(curves, out / "seed_loss.png")
    print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    main(parser.parse_args().out)
