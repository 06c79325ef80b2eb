"""Same quality as scikit-learn: jaxmlp.sklearn's default estimators against scikit-learn's on the
data sets that ship with scikit-learn, over 10 seeds.

    python experiments/sklearn_quality.py [--seeds 10] [--out experiments/results]

For each data set and seed s: a stratified 75/25 split drawn with seed s, a StandardScaler
pipeline, each library's MLPClassifier (MLPRegressor for diabetes) with its defaults and
random_state=s; the test accuracy (R^2). Writes ``sklearn_quality.md``: the mean and standard error
of each, the largest difference between the two on any seed, and whether jaxmlp's mean lies
within one standard error of scikit-learn's.
"""

import argparse
import warnings
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import jaxmlp.sklearn
from jaxmlp.io.atomic import write_text

SETS = {
    "iris": (datasets.load_iris, "accuracy"),
    "wine": (datasets.load_wine, "accuracy"),
    "breast cancer": (datasets.load_breast_cancer, "accuracy"),
    "digits": (datasets.load_digits, "accuracy"),
    "diabetes": (datasets.load_diabetes, "R^2"),
}


def scores(load, regression: bool, seeds) -> dict[str, np.ndarray]:
    """Test scores per seed of each library's default estimator."""
    x, y = load(return_X_y=True)
    if regression:
        y = (y - y.mean()) / y.std()
        peers = {"scikit-learn": MLPRegressor, "jaxmlp": jaxmlp.sklearn.MLPRegressor}
    else:
        peers = {"scikit-learn": MLPClassifier, "jaxmlp": jaxmlp.sklearn.MLPClassifier}
    out = {name: [] for name in peers}
    for seed in seeds:
        split = train_test_split(x, y, random_state=seed, stratify=None if regression else y)
        xs, xt, ys, yt = split
        for name, estimator in peers.items():
            model = make_pipeline(StandardScaler(), estimator(random_state=seed))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(xs, ys)
            out[name].append(model.score(xt, yt))
    return {k: np.asarray(v) for k, v in out.items()}


def table(results: dict) -> str:
    lines = [
        "| data set | score | scikit-learn mean ± s.e. | jaxmlp mean ± s.e. | largest difference on one seed | within one s.e. |",
        "|---|---|---|---|---|---|",
    ]
    for name, (metric, s) in results.items():
        a, b = s["scikit-learn"], s["jaxmlp"]
        se = lambda v: v.std(ddof=1) / np.sqrt(len(v))
        within = abs(b.mean() - a.mean()) <= se(a)
        lines.append(
            f"| {name} | {metric} | {a.mean():.4f} ± {se(a):.4f} | {b.mean():.4f} ± {se(b):.4f} | "
            f"{np.abs(a - b).max():.2g} | {'yes' if within else 'no'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    results = {
        name: (metric, scores(load, metric == "R^2", range(args.seeds)))
        for name, (load, metric) in SETS.items()
    }
    text = (
        f"Default estimators in a StandardScaler pipeline, {args.seeds} seeds (split and "
        f"random_state), test scores (`python experiments/sklearn_quality.py`).\n\n"
        + table(results)
        + "\n"
    )
    print(text)
    write_text(args.out / "sklearn_quality.md", text)


if __name__ == "__main__":
    main()
