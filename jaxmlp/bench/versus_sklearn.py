"""W8 of ``jaxmlp bench``: ``jaxmlp.fit`` against scikit-learn's ``MLPClassifier`` on the same architecture, optimizer, batch size and epochs (digits and a synthetic set): time to train and test accuracy.

A third peer, a bare JAX + optax program (initialisation, training and test predictions in one
``jit``), shows what any JAX program of this work pays on its first call: XLA's compilation.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["w8", "BARE"]


def w8(quick: bool) -> list[dict]:
    """W8 rows: train seconds and test accuracy, jaxmlp against scikit-learn, mean of 3 seeds."""
    try:
        from sklearn.datasets import make_classification
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return [
            {
                "workload": "W8 against scikit-learn",
                "peer": "scikit-learn",
                "note": "skipped: scikit-learn not installed",
            }
        ]
    cases = _w8_cases(quick, make_classification)
    rows = []
    seeds = (0,) if quick else (0, 1, 2)
    for case in cases:
        rows += _w8_case_rows(case, seeds, MLPClassifier, ConvergenceWarning)
    return rows


def _w8_cases(quick: bool, make_classification) -> list[tuple]:
    """W8's two cases: ``(label, x, y, x_test, y_test, hidden sizes, learning rate, batch, epochs)``."""
    from jaxmlp.io import builtin

    digits = builtin.load("digits")
    xs, ys = make_classification(5_000, 40, n_informative=20, n_classes=10, random_state=0)
    split = 4_000
    mean, std = xs[:split].mean(0), xs[:split].std(0)
    xs = (xs - mean) / std
    return [
        (
            "digits (1,347 train / 450 test)",
            digits.x_train,
            digits.y_train,
            digits.x_test,
            digits.y_test,
            (256,),
            1e-3,
            64,
            20 if quick else 100,
        ),
        (
            "synthetic 40 features, 10 classes (4,000 / 1,000)",
            xs[:split],
            ys[:split],
            xs[split:],
            ys[split:],
            (100, 100),
            1e-2,
            100,
            5 if quick else 30,
        ),
    ]


def _w8_case_rows(case: tuple, seeds: tuple, MLPClassifier, ConvergenceWarning) -> list[dict]:
    """One case's rows: each peer trained once per seed, in turn; mean seconds and test accuracy."""
    import jaxmlp

    label, x, y, xt, yt, hidden, lr, batch, epochs = case
    sizes = (x.shape[1], *hidden, 10)
    net = jaxmlp.MLP(sizes, "relu", "softmax", "cross_entropy")
    steps = epochs * (-(-len(x) // batch))
    x32, y32 = x.astype(np.float32), y.astype(np.int32)
    res: dict[str, list[tuple[float, float]]] = {
        "jaxmlp fit": [],
        "scikit-learn MLPClassifier": [],
        BARE: [],
    }
    bare = _bare_jax(net, x32, y32, xt.astype(np.float32), lr, batch, epochs)
    for seed in seeds:
        res["jaxmlp fit"].append(_time_jaxmlp_fit(net, x32, y32, xt, yt, steps, lr, batch, seed))
        res["scikit-learn MLPClassifier"].append(
            _time_sklearn(
                MLPClassifier, ConvergenceWarning, x, y, xt, yt, hidden, lr, batch, epochs, seed
            )
        )
        res[BARE].append(_time_bare(bare, yt, seed))
    return [
        {
            "workload": "W8 against scikit-learn",
            "peer": f"{label}: {peer}",
            "seconds": float(np.mean([r[0] for r in runs])),
            "test_accuracy": float(np.mean([r[1] for r in runs])),
            "note": f"{'-'.join(map(str, sizes))} relu, adam {lr:g}, batch {batch}, {epochs} epochs, "
            f"{len(seeds)} seed(s)"
            + ("" if peer.startswith("scikit") else " (includes compilation)")
            + (", whole epochs only" if peer == BARE and len(x) % batch else "")
            + f"; accuracy over seeds {min(a for _, a in runs):.2%} to {max(a for _, a in runs):.2%}",
        }
        for peer, runs in res.items()
    ]


def _time_jaxmlp_fit(
    net, x32, y32, xt, yt, steps: int, lr: float, batch: int, seed: int
) -> tuple[float, float]:
    """Times ``jaxmlp.fit`` (adam) and its jitted test predictions: ``(seconds, test accuracy)``."""
    import jax
    import jax.numpy as jnp

    import jaxmlp
    from jaxmlp import forward

    t = time.perf_counter()
    r = jaxmlp.fit(
        net,
        net.init(jax.random.key(seed)),
        x32,
        y32,
        steps=steps,
        learning_rate=lr,
        optimizer="adam",
        batch_size=batch,
        key=jax.random.key(seed + 100),
    )
    pred = np.asarray(
        jax.jit(forward.apply, static_argnums=0)(net, r.params, jnp.asarray(xt, jnp.float32))
    )
    return (time.perf_counter() - t, float((pred.argmax(1) == yt).mean()))


def _time_sklearn(
    MLPClassifier,
    ConvergenceWarning,
    x,
    y,
    xt,
    yt,
    hidden: tuple,
    lr: float,
    batch: int,
    epochs: int,
    seed: int,
) -> tuple[float, float]:
    """Times scikit-learn's ``MLPClassifier.fit`` on the same settings: ``(seconds, test accuracy)``."""
    import warnings

    clf = MLPClassifier(
        hidden,
        activation="relu",
        solver="adam",
        learning_rate_init=lr,
        batch_size=batch,
        max_iter=epochs,
        alpha=0.0,
        random_state=seed,
        shuffle=True,
        tol=0.0,
        n_iter_no_change=epochs + 1,
    )
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    return (time.perf_counter() - t, float(clf.score(xt, yt)))


def _time_bare(bare, yt, seed: int) -> tuple[float, float]:
    """Times the bare peer's one program (:func:`_bare_jax`): ``(seconds, test accuracy)``."""
    import jax

    t = time.perf_counter()
    pred = np.asarray(bare(jax.random.key(seed), jax.random.key(seed + 100)))
    return (time.perf_counter() - t, float((pred.argmax(1) == yt).mean()))


BARE = "bare JAX + optax (one jit: init, train, predict)"


def _bare_jax(net, x, y, xt, lr: float, batch: int, epochs: int):
    """The bare peer: ``(init_key, batch_key) -> test outputs``, one jitted program that draws He
    normal weights (``net.init``'s rule for ReLU), trains ``epochs`` epochs of a per-epoch
    ``permutation`` (whole batches: the last partial one is dropped) with ``optax.adam`` and
    predicts the test set."""
    import jax
    import jax.numpy as jnp
    import optax

    from jaxmlp import forward

    x, y, xt = jnp.asarray(x), jnp.asarray(y), jnp.asarray(xt)
    per_epoch = len(x) // batch
    opt = optax.adam(lr)

    @jax.jit
    def run(init_key, batch_key):
        keys = jax.random.split(init_key, len(net.layer_shapes))
        params = tuple(
            {
                "w": jax.random.normal(k, (n_out, n_in)) * jnp.sqrt(2.0 / n_in),
                "b": jnp.zeros(n_out),
            }
            for (n_in, n_out), k in zip(net.layer_shapes, keys)
        )

        def epoch(carry, e):
            perm = jax.random.permutation(jax.random.fold_in(batch_key, e), len(x))

            def step(carry, idx):
                p, s = carry
                g = jax.grad(forward.loss_fn, argnums=1)(net, p, x[idx], y[idx])
                u, s = opt.update(g, s, p)
                return (optax.apply_updates(p, u), s), None

            batches = perm[: per_epoch * batch].reshape(per_epoch, batch)
            return jax.lax.scan(step, carry, batches)[0], None

        (params, _), _ = jax.lax.scan(epoch, (params, opt.init(params)), jnp.arange(epochs))
        return forward.apply(net, params, xt)

    return run
