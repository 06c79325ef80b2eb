"""W11 of the benchmark alone: jaxmlp.sklearn's MLPClassifier against scikit-learn's, each in fresh
processes (see jaxmlp/bench/estimators.py). ``jaxmlp bench`` runs it with the others.

    python experiments/bench_estimators.py [--quick]

Writes ``bench_estimators.md`` (the documentation's W11 table).
"""

import sys
from pathlib import Path

from jaxmlp import bench
from jaxmlp.bench.estimators import w11
from jaxmlp.io.atomic import write_text

if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    text = bench.markdown({"machine": bench.machine("cpu"), "rows": w11(quick)})
    print(text)
    if not quick:
        write_text(Path(__file__).parent / "results" / "bench_estimators.md", text + "\n")
