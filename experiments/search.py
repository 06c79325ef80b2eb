"""W13 of the benchmark alone: a hyperparameter search three ways (scikit-learn's GridSearchCV over
its MLPClassifier with n_jobs=2, over jaxmlp's MLPClassifier, and jaxmlp.sklearn.GridSearchCV's
population), whole searches in fresh processes (see jaxmlp/bench/search.py), with the float32
matrix-multiply peak measured in the same run. ``jaxmlp bench`` runs it with the others.

    python experiments/search.py [--quick]

Writes ``search.md`` (the documentation's W13 table).
"""

import sys
from pathlib import Path

from jaxmlp import bench
from jaxmlp.bench.batch import matmul_peak
from jaxmlp.bench.search import w13
from jaxmlp.io.atomic import write_text

if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    rows = w13(quick)
    sizes = (1024, 2048)
    peak = matmul_peak(sizes, 3 if quick else 7, None, "cpu")
    report = {
        "machine": bench.machine("cpu"),
        "rows": rows,
        "matmul_peak_gflops": peak,
        "matmul_peak_sizes": sizes,
    }
    text = bench.markdown(report)
    print(text)
    if not quick:
        write_text(Path(__file__).parent / "results" / "search.md", text + "\n")
