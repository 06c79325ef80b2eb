"""W11 of ``jaxmlp bench``: ``jaxmlp.sklearn.MLPClassifier`` against scikit-learn's, as a user
swaps one for the other: scikit-learn's defaults, the same data (float64, as scikit-learn's
loaders give it), a fit in a fresh process (compilation included) and later fits in the same one.

Each peer runs in its own process (``python -c``), in turn: jaxmlp with an empty compilation
cache, scikit-learn, jaxmlp again with the cache the first run left (what every run after a
user's first one gets). A process times only ``fit`` (not its imports or the data), then
``repeats`` more fits of the same estimator, and scores the test split.
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile

import numpy as np

from jaxmlp.bench.common import fresh_process

__all__ = ["CASES", "PEERS", "BARE", "bare_fit", "child", "w11", "ratios"]

CASES = {
    "digits": "digits (1,347 train / 450 test), StandardScaler, adam (the defaults)",
    "digits-lbfgs": "digits, StandardScaler, solver='lbfgs'",
    "synthetic": "make_classification 50,000 x 40, 3 classes (37,500 / 12,500), StandardScaler, adam",
}
PEERS = ("jaxmlp.sklearn, empty compilation cache", "scikit-learn", "jaxmlp.sklearn, cache warm")
BARE = "bare JAX, the same epochs (one jit: shuffled batches of 200, adam, no stopping rule)"


def bare_fit(x, y, epochs: int):
    """The floor under any JAX implementation of the estimator's default fit: scikit-learn's
    algorithm (one hidden layer of 100 ReLU units, softmax, its Glorot-uniform start, batches of
    200 of a fresh permutation per epoch, the last one short, its adam and L2 penalty 1e-4) for
    ``epochs`` epochs, hand-written as one jitted function in float64, without validation, stopping
    rules or records; returns the trained parameters."""
    import jax
    import jax.numpy as jnp

    classes = int(y.max()) + 1
    train = _bare_train(*x.shape, classes, epochs)
    return jax.block_until_ready(
        train(jnp.asarray(x), jnp.asarray(np.eye(classes)[y]), jax.random.key(0))
    )


@functools.lru_cache
def _bare_train(n: int, d: int, classes: int, epochs: int):
    """:func:`bare_fit`'s compiled function for one shape (compiled at its first call)."""
    import jax
    import jax.numpy as jnp

    batch, hidden, alpha, lr = min(200, n), 100, 1e-4, 1e-3
    steps = -(-n // batch)

    @jax.jit
    def train(x, t, key):
        k1, k2, key = jax.random.split(key, 3)
        params = []
        for k, (a, b) in zip((k1, k2), ((d, hidden), (hidden, classes))):
            bound = jnp.sqrt(6 / (a + b))
            w = jax.random.uniform(k, (a, b), x.dtype, -bound, bound)
            params.append((w, jnp.zeros(b, x.dtype)))

        def loss(p, xb, tb, wb):
            (w1, b1), (w2, b2) = p
            z = jax.nn.relu(xb @ w1 + b1) @ w2 + b2
            rows = wb.sum()
            e = -jnp.sum(wb * jnp.sum(tb * jax.nn.log_softmax(z), 1)) / rows
            return e + alpha / (2 * rows) * (jnp.sum(w1**2) + jnp.sum(w2**2))

        def epoch(carry, e):
            order = jax.random.permutation(jax.random.fold_in(key, e), n)
            order = jnp.concatenate([order, jnp.zeros(steps * batch - n, order.dtype)])
            real = (jnp.arange(steps * batch) < n).astype(x.dtype)

            def step(carry, i):
                p, m, v, k = carry
                idx = jax.lax.dynamic_slice(order, (i * batch,), (batch,))
                wb = jax.lax.dynamic_slice(real, (i * batch,), (batch,))
                g = jax.grad(loss)(p, x[idx], t[idx], wb)
                k = k + 1
                m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
                v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
                eta = lr * jnp.sqrt(1 - 0.999**k) / (1 - 0.9**k)
                p = jax.tree_util.tree_map(
                    lambda p, m, v: p - eta * m / (jnp.sqrt(v) + 1e-8), p, m, v
                )
                return (p, m, v, k), None

            return jax.lax.scan(step, carry, jnp.arange(steps))[0], None

        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        start = (params, zeros, zeros, jnp.zeros((), x.dtype))
        return jax.lax.scan(epoch, start, jnp.arange(epochs))[0][0]

    return train


def child() -> None:
    """The timed process: ``python -c '...child()' PEER CASE REPEATS``; prints one JSON line."""
    import time
    import warnings

    peer, case, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 0
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
    if peer == "bare JAX":
        import jax

        jax.config.update("jax_enable_x64", True)
        for _ in range(1 + repeats):
            t = time.perf_counter()
            (w1, b1), (w2, b2) = bare_fit(x, y, epochs)
            times.append(time.perf_counter() - t)
        hidden = np.maximum(xt @ np.asarray(w1) + np.asarray(b1), 0)
        right = np.argmax(hidden @ np.asarray(w2) + np.asarray(b2), 1) == yt
        result = {"first": times[0], "later": float(np.median(times[1:]))}
        print(json.dumps(result | {"accuracy": float(right.mean()), "iterations": epochs}))
        return
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


def _run(peer: str, case: str, repeats: int, cache: str, epochs: int = 0) -> dict:
    return fresh_process(
        "jaxmlp.bench.estimators", peer, case, str(repeats), str(epochs), cache=cache
    )


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
            epochs = 0
            for peer in PEERS + (() if case.endswith("lbfgs") else (BARE,)):
                run = _run(peer.split(",")[0], case, repeats, cache, epochs)
                epochs = run["iterations"]  # the bare peer runs scikit-learn's epochs
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
        bare = by.get(f"{case}: {BARE}")
        parts.append(
            f"{case}: first fit {theirs['first_fit_seconds'] / cold['first_fit_seconds']:.2f}x "
            f"scikit-learn's speed with an empty cache, "
            f"{theirs['first_fit_seconds'] / warm['first_fit_seconds']:.2f}x with the cache warm; "
            f"later fits {theirs['later_fit_seconds'] / warm['later_fit_seconds']:.2f}x"
            + (
                f" (bare JAX: first {theirs['first_fit_seconds'] / bare['first_fit_seconds']:.2f}x, "
                f"later {theirs['later_fit_seconds'] / bare['later_fit_seconds']:.2f}x)"
                if bare
                else ""
            )
        )
    return "; ".join(parts) + "." if parts else ""
