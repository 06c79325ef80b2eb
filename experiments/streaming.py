"""W10 of ``jaxmlp bench`` alone: training on data larger than memory, whole processes (see
:mod:`jaxmlp.bench.streaming`). Writes 30,000,000 x 50 float32 rows (6 GB) as Parquet and as
``.npy`` (13 GB of disk with the in-memory run's file), runs each way and its reading limit.

    python experiments/streaming.py [--quick]   # writes experiments/results/streaming.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    from jaxmlp.bench.common import machine
    from jaxmlp.bench.report import markdown
    from jaxmlp.bench.streaming import w10

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000,000 rows (a smoke test)")
    args = parser.parse_args()
    report = {"machine": machine("cpu"), "rows": w10(args.quick)}
    text = markdown(report).replace("**W10", "`python experiments/streaming.py`.\n\n**W10", 1)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "streaming.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
