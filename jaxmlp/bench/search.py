"""W13 of ``jaxmlp bench``: a hyperparameter search three ways, each a whole search in a fresh
process (imports excluded, compilation included, an empty compilation cache):

* scikit-learn's ``GridSearchCV`` over its ``MLPClassifier`` with ``n_jobs=2``;
* scikit-learn's ``GridSearchCV`` over jaxmlp's ``MLPClassifier`` (one fit after another);
* ``jaxmlp.sklearn.GridSearchCV`` (every candidate and fold trained as one population).

A ``StandardScaler`` pipeline, hidden layer 100, ``max_iter=50``, 4 learning rates x 3 penalties x
3 seeds x 5 folds (180 fits) on digits (float64, as ``load_digits`` gives it) and on a 50,000 x 40
``make_classification`` set; ``--quick``: 2 learning rates x 3 folds on digits, seed 0. Every way must find
the same best mean score, else the benchmark raises. The useful arithmetic is
``6 x weights x rows`` per epoch of each fit, over the epochs the fits ran.
"""

from __future__ import annotations

import json
import sys

from jaxmlp.bench.common import agree, fresh_process

__all__ = ["GRID", "QUICK_GRID", "WAYS", "CASES", "data", "child", "run", "w13", "ratios"]

GRID = {
    "mlpclassifier__learning_rate_init": [1e-4, 3e-4, 1e-3, 3e-3],
    "mlpclassifier__alpha": [1e-4, 1e-3, 1e-2],
    "mlpclassifier__random_state": [0, 1, 2],
}
QUICK_GRID = {"mlpclassifier__learning_rate_init": [1e-3, 3e-3], "mlpclassifier__random_state": [0]}
WAYS = {
    "scikit": "scikit-learn GridSearchCV, scikit-learn MLPClassifier, n_jobs=2",
    "one by one": "scikit-learn GridSearchCV, jaxmlp MLPClassifier",
    "population": "jaxmlp.sklearn.GridSearchCV (one population)",
}
CASES = {
    "digits": "digits (1,797 x 64, 10 classes)",
    "synthetic": "make_classification 50,000 x 40, 3 classes",
}


def data(case: str, dtype: str = "float64"):
    """The case's ``(x, y)``."""
    from sklearn.datasets import load_digits, make_classification

    if case == "digits":
        x, y = load_digits(return_X_y=True)
    else:
        x, y = make_classification(50_000, 40, n_informative=20, n_classes=3, random_state=0)
    return x.astype(dtype), y


def child() -> None:
    """The timed process: ``python -c '...child()' WAY CASE QUICK DTYPE``; prints one JSON line:
    the seconds, the best mean score and the epochs x rows the population's fits ran."""
    import time
    import warnings

    from sklearn.model_selection import GridSearchCV as ScikitSearch
    from sklearn.neural_network import MLPClassifier as ScikitMLP
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import jaxmlp.sklearn

    way, case, quick, dtype = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
    grid, cv = (QUICK_GRID, 3) if quick else (GRID, 5)
    warnings.simplefilter("ignore")
    x, y = data(case, dtype)
    started = time.perf_counter()
    if way == "scikit":
        pipe = make_pipeline(StandardScaler(), ScikitMLP(max_iter=50))
        search = ScikitSearch(pipe, grid, cv=cv, n_jobs=2)
    else:
        pipe = make_pipeline(StandardScaler(), jaxmlp.sklearn.MLPClassifier(max_iter=50))
        kind = ScikitSearch if way == "one by one" else jaxmlp.sklearn.GridSearchCV
        search = kind(pipe, grid, cv=cv)
    rows_seen = None
    if isinstance(search, jaxmlp.sklearn.GridSearchCV):
        population = search.population(x, y)
        rows_seen = population.rows_seen if population is not None else 0
        search.fit(x, y, population=population)
    else:
        search.fit(x, y)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "best": search.best_score_, "rows": rows_seen}))


def run(way: str, case: str, quick: bool, dtype: str = "float64") -> dict:
    """One whole search in a fresh process: :func:`child`'s JSON."""
    return fresh_process("jaxmlp.bench.search", way, case, "1" if quick else "0", dtype)


def w13(quick: bool) -> list[dict]:
    """W13 rows: each way's seconds and useful GFLOP/s, per case."""
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        return [{"workload": "W13 search", "peer": "scikit-learn", "note": "skipped: no sklearn"}]
    rows = []
    for case in ("digits",) if quick else tuple(CASES):
        got = {way: run(way, case, quick) for way in WAYS}
        best = got["scikit"]["best"]
        for way, r in got.items():
            agree(
                abs(r["best"] - best) < 1e-12, f"W13 {case} {way}: best mean score", r["best"], best
            )
        seen = got["population"]["rows"]  # rows x epochs over every fit (the same for all ways)
        width = 64 if case == "digits" else 40
        classes = 10 if case == "digits" else 3
        weights = width * 100 + 100 * classes
        for way, r in got.items():
            rows.append(
                {
                    "workload": "W13 search",
                    "peer": f"{case}: {WAYS[way]}",
                    "seconds": r["seconds"],
                    "gflops": 6 * weights * seen / r["seconds"] / 1e9,
                    "best_score": r["best"],
                    "note": f"{CASES[case]}, "
                    + ("2 learning rates x 3 folds" if quick else "4 x 3 x 3 candidates x 5 folds"),
                }
            )
    return rows


def ratios(rows: list[dict], peak: float | None) -> str:
    """The sentence under W13's table: the population against the other ways, and its arithmetic
    against the float32 matmul peak measured in the same run."""
    by = {r["peer"]: r for r in rows if "seconds" in r}
    parts = []
    for case in CASES:
        ours = by.get(f"{case}: {WAYS['population']}")
        if ours is None:
            continue
        text = (
            f"{case}: the population {by[f'{case}: ' + WAYS['scikit']]['seconds'] / ours['seconds']:.2f}x "
            f"scikit-learn's search, {by[f'{case}: ' + WAYS['one by one']]['seconds'] / ours['seconds']:.2f}x "
            "scikit-learn's search over jaxmlp's estimator"
        )
        if peak:
            text += f", {100 * ours['gflops'] / peak:.0f}% of the float32 matmul peak"
        parts.append(text)
    return "; ".join(parts) + "." if parts else ""
