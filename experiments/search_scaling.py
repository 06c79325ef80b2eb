"""Search time against the number of candidates: scikit-learn's RandomizedSearchCV over its
MLPClassifier (n_jobs=2) and jaxmlp.sklearn.RandomizedSearchCV (every candidate and fold as one
population), 1 to 1,000 candidates.

    python experiments/search_scaling.py [--out experiments/results] [--most 1000] [--most-scikit 100]

Digits in a StandardScaler pipeline, hidden layer 100, max_iter=50, 5 folds; the candidates are
drawn by the search (``random_state=0``): learning rate and L2 penalty log-uniform, seed one of
0-9. Each search is a whole process (imports excluded, compilation included, an empty
compilation cache), float64 as ``load_digits`` gives the data. scikit-learn's search runs up to
``--most-scikit`` candidates (beyond, it grows as it does: linearly, about 1 s per candidate
here). Writes ``search_scaling.md`` and ``search_scaling.png``.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from jaxmlp.cli.plots import save_figure
from jaxmlp.io.atomic import write_text

COUNTS = (1, 3, 10, 30, 100, 300, 1000)
WAYS = {
    "scikit": "scikit-learn RandomizedSearchCV, n_jobs=2",
    "population": "jaxmlp.sklearn.RandomizedSearchCV (one population)",
}


def child(way: str, count: int) -> None:
    import time
    import warnings

    from scipy.stats import loguniform, randint
    from sklearn.datasets import load_digits
    from sklearn.model_selection import RandomizedSearchCV as ScikitSearch
    from sklearn.neural_network import MLPClassifier as ScikitMLP
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import jaxmlp.sklearn

    warnings.simplefilter("ignore")
    x, y = load_digits(return_X_y=True)
    space = {
        "mlpclassifier__learning_rate_init": loguniform(1e-4, 1e-2),
        "mlpclassifier__alpha": loguniform(1e-5, 1e-1),
        "mlpclassifier__random_state": randint(0, 10),
    }
    started = time.perf_counter()
    if way == "scikit":
        pipe = make_pipeline(StandardScaler(), ScikitMLP(max_iter=50))
        search = ScikitSearch(pipe, space, n_iter=count, cv=5, n_jobs=2, random_state=0)
    else:
        pipe = make_pipeline(StandardScaler(), jaxmlp.sklearn.MLPClassifier(max_iter=50))
        search = jaxmlp.sklearn.RandomizedSearchCV(pipe, space, n_iter=count, cv=5, random_state=0)
    search.fit(x, y)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "best": search.best_score_}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--most", type=int, default=1000)
    parser.add_argument("--most-scikit", type=int, default=100)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]))
    got: dict[str, dict[int, dict]] = {way: {} for way in WAYS}
    for count in (c for c in COUNTS if c <= args.most):
        for way in WAYS:
            if way == "scikit" and count > args.most_scikit:
                continue
            run = subprocess.run(
                [sys.executable, __file__, "--child", way, str(count)],
                capture_output=True, text=True, check=True,
                env={**os.environ, "JAXMLP_CACHE_DIR": ""},
            )  # fmt: skip
            got[way][count] = json.loads(run.stdout.strip().splitlines()[-1])
            print(way, count, got[way][count], flush=True)
    lines = [
        "| candidates (x 5 folds) | " + " | ".join(f"{WAYS[w]}, s" for w in WAYS) + " | ratio |",
        "|---|---|---|---|",
    ]
    for count in sorted(got["population"]):
        cells = [got[w].get(count) for w in WAYS]
        ratio = (
            f"{cells[0]['seconds'] / cells[1]['seconds']:.1f}x" if cells[0] and cells[1] else "-"
        )
        lines.append(
            f"| {count:,} | "
            + " | ".join(f"{c['seconds']:.1f}" if c else "-" for c in cells)
            + f" | {ratio} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    write_text(args.out / "search_scaling.md", text)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for way, label in WAYS.items():
        counts = sorted(got[way])
        ax.loglog(counts, [got[way][c]["seconds"] for c in counts], "o-", label=label)
    ax.set_xlabel("candidates (each fitted on 5 folds)")
    ax.set_ylabel("seconds, whole search (compilation included)")
    ax.set_title("digits, hidden layer 100, max_iter=50, float64", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, args.out / "search_scaling.png")


if __name__ == "__main__":
    main()
