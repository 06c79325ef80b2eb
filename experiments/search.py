"""A hyperparameter search three ways: scikit-learn's GridSearchCV over its MLPClassifier
(n_jobs=2), scikit-learn's GridSearchCV over jaxmlp's MLPClassifier (one fit after another), and
jaxmlp.sklearn.GridSearchCV (the fits trained as one population).

    python experiments/search.py [--out experiments/results]

Digits in a StandardScaler pipeline, hidden layer 100, max_iter=50, 4 learning rates x 3
penalties x 3 seeds x 5 folds (180 fits), float64 (as load_digits gives the data) and float32;
whole searches, compilation included, each in a fresh process. Writes ``search.md``.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from jaxmlp.io.atomic import write_text

GRID = {
    "mlpclassifier__learning_rate_init": [1e-4, 3e-4, 1e-3, 3e-3],
    "mlpclassifier__alpha": [1e-4, 1e-3, 1e-2],
    "mlpclassifier__random_state": [0, 1, 2],
}
WAYS = {
    "scikit-learn GridSearchCV, scikit-learn MLPClassifier, n_jobs=2": "scikit",
    "scikit-learn GridSearchCV, jaxmlp MLPClassifier": "one by one",
    "jaxmlp.sklearn.GridSearchCV (one population)": "population",
}


def child(way: str, dtype: str) -> None:
    import time
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV as ScikitSearch
    from sklearn.neural_network import MLPClassifier as ScikitMLP
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import jaxmlp.sklearn

    warnings.simplefilter("ignore")
    x, y = load_digits(return_X_y=True)
    x = x.astype(dtype)
    started = time.perf_counter()
    if way == "scikit":
        pipe = make_pipeline(StandardScaler(), ScikitMLP(max_iter=50))
        search = ScikitSearch(pipe, GRID, cv=5, n_jobs=2)
    else:
        pipe = make_pipeline(StandardScaler(), jaxmlp.sklearn.MLPClassifier(max_iter=50))
        kind = ScikitSearch if way == "one by one" else jaxmlp.sklearn.GridSearchCV
        search = kind(pipe, GRID, cv=5)
    search.fit(x, y)
    print(json.dumps({"seconds": time.perf_counter() - started, "best": search.best_score_}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    lines = [
        "| search (180 fits, digits) | float64 s | float32 s | best mean accuracy |",
        "|---|---|---|---|",
    ]
    for label, way in WAYS.items():
        got = {}
        for dtype in ("float64", "float32"):
            run = subprocess.run(
                [sys.executable, __file__, "--child", way, dtype],
                capture_output=True, text=True, check=True,
                env={**os.environ, "JAXMLP_CACHE_DIR": ""},
            )  # fmt: skip
            got[dtype] = json.loads(run.stdout.strip().splitlines()[-1])
        lines.append(
            f"| {label} | {got['float64']['seconds']:.1f} | {got['float32']['seconds']:.1f} | "
            f"{got['float64']['best']:.4f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    write_text(args.out / "search.md", text)


if __name__ == "__main__":
    main()
