"""W11 of ``jaxmlp bench``: ``jaxmlp.sklearn.MLPClassifier`` against scikit-learn's, as a user
swaps one for the other: scikit-learn's defaults, the same data (float64, as scikit-learn's
loaders give it), a fit in a fresh process (compilation included) and later fits in the same one.

Each peer runs in its own process (``python -c``), in turn: jaxmlp with an empty compilation
cache, scikit-learn, jaxmlp again with the cache the first run left (what every run after a
user's first one gets). A process times only ``fit`` (not its imports or the data), then
``repeats`` more fits of the same estimator, and scores the test split.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CASES = {
    "digits": "digits (1,347 train / 450 test), StandardScaler, adam (the defaults)",
    "digits-lbfgs": "digits, StandardScaler, solver='lbfgs'",
    "synthetic": "make_classification 50,000 x 40, 3 classes (37,500 / 12,500), StandardScaler, adam",
}
PEERS = ("jaxmlp.sklearn, empty compilation cache", "scikit-learn", "jaxmlp.sklearn, cache warm")


def child() -> None:
    """The timed process: ``python -c '...child()' PEER CASE REPEATS``; prints one JSON line."""
    import time
    import warnings

    peer, case, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    from sklearn.datasets import load_digits, make_classification
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if peer == "scikit-learn":
        from sklearn.neural_network import MLPClassifier
    else:
        from jaxmlp.sklearn import MLPClassifier
    if case.startswith("digits"):
        x, y = load_digits(return_X_y=True)
    else:
        x, y = make_classification(50_000, 40, n_informative=20, n_classes=3, random_state=0)
    x, xt, y, yt = train_test_split(x, y, random_state=0)
    scaler = StandardScaler().fit(x)
    x, xt = scaler.transform(x), scaler.transform(xt)
    solver = "lbfgs" if case.endswith("lbfgs") else "adam"
    times = []
    for _ in range(1 + repeats):
        clf = MLPClassifier(solver=solver, random_state=0)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x, y)
        times.append(time.perf_counter() - t)
    print(
        json.dumps(
            {
                "first": times[0],
                "later": float(np.median(times[1:])),
                "accuracy": float(clf.score(xt, yt)),
                "iterations": int(clf.n_iter_),
            }
        )
    )


def _run(peer: str, case: str, repeats: int, cache: str) -> dict:
    env = {**os.environ, "JAXMLP_CACHE_DIR": cache}
    out = subprocess.run(
        [sys.executable, "-c", "from jaxmlp.bench.estimators import child; child()", peer, case,
         str(repeats)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def w11(quick: bool) -> list[dict]:
    """W11 rows: first-fit and later-fit seconds and test accuracy of each peer and case."""
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        return [
            {
                "workload": "W11 scikit-learn drop-in",
                "peer": "scikit-learn",
                "note": "skipped: scikit-learn not installed",
            }
        ]
    rows = []
    cases = ("digits", "digits-lbfgs") if quick else tuple(CASES)
    for case in cases:
        repeats = 1 if quick or case == "synthetic" else 3
        with tempfile.TemporaryDirectory() as cache:
            for peer in PEERS:
                run = _run(peer.split(",")[0], case, repeats, cache)
                rows.append(
                    {
                        "workload": "W11 scikit-learn drop-in",
                        "peer": f"{case}: {peer}",
                        "first_fit_seconds": run["first"],
                        "later_fit_seconds": run["later"],
                        "test_accuracy": run["accuracy"],
                        "note": f"{CASES[case]}; {run['iterations']} iterations; later: median of "
                        f"{repeats}",
                    }
                )
    return rows


def ratios(rows: list[dict]) -> str:
    """The sentence under W11's table: each case's speed-ups over scikit-learn."""
    by = {r["peer"]: r for r in rows if "first_fit_seconds" in r}
    parts = []
    for case in CASES:
        theirs = by.get(f"{case}: scikit-learn")
        if theirs is None:
            continue
        cold, warm = by[f"{case}: {PEERS[0]}"], by[f"{case}: {PEERS[2]}"]
        parts.append(
            f"{case}: first fit {theirs['first_fit_seconds'] / cold['first_fit_seconds']:.2f}x "
            f"scikit-learn's speed with an empty cache, "
            f"{theirs['first_fit_seconds'] / warm['first_fit_seconds']:.2f}x with the cache warm; "
            f"later fits {theirs['later_fit_seconds'] / warm['later_fit_seconds']:.2f}x"
        )
    return "; ".join(parts) + "." if parts else ""
