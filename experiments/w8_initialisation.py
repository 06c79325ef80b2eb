"""W8's accuracy gap on the synthetic set, over 10 seeds: jaxmlp's default initialisation against
scikit-learn's, with the same training.

    python experiments/w8_initialisation.py [--seeds 10]

The set, network and training are W8's (40-100-100-10 ReLU, adam 0.01, batch 100, 30 epochs,
4,000 training and 1,000 test examples of ``make_classification``). Three runs per seed:
``jaxmlp.fit`` from ``net.init`` (He normal weights for ReLU, zero biases), ``jaxmlp.fit`` from
scikit-learn's initialisation (Glorot uniform weights *and* biases, ``U(-a, a)``,
``a = sqrt(6 / (n_in + n_out))``), and scikit-learn's ``MLPClassifier``. Writes
``w8_initialisation.md``: mean test accuracy and its standard error.
"""

import argparse
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxmlp
from jaxmlp import forward
from jaxmlp.io.atomic import write_text


def glorot_uniform(net: jaxmlp.MLP, key) -> tuple[dict, ...]:
    """scikit-learn's ``MLPClassifier`` initialisation: weights and biases ``U(-a, a)``."""
    keys = jax.random.split(key, 2 * len(net.layer_shapes))
    layers = []
    for i, (n_in, n_out) in enumerate(net.layer_shapes):
        a = float(np.sqrt(6.0 / (n_in + n_out)))
        layers.append(
            {
                "w": jax.random.uniform(keys[2 * i], (n_out, n_in), jnp.float32, -a, a),
                "b": jax.random.uniform(keys[2 * i + 1], (n_out,), jnp.float32, -a, a),
            }
        )
    return tuple(layers)


def main(seeds: int) -> str:
    from sklearn.datasets import make_classification
    from sklearn.neural_network import MLPClassifier

    xs, ys = make_classification(5_000, 40, n_informative=20, n_classes=10, random_state=0)
    xs = (xs - xs[:4_000].mean(0)) / xs[:4_000].std(0)
    x, y, xt, yt = xs[:4_000], ys[:4_000], xs[4_000:], ys[4_000:]
    net = jaxmlp.MLP((40, 100, 100, 10), "relu", "softmax", "cross_entropy")
    runs = {"jaxmlp fit, net.init": [], "jaxmlp fit, scikit-learn's initialisation": []}
    runs["scikit-learn MLPClassifier"] = []
    for seed in range(seeds):
        starts = (net.init(jax.random.key(seed)), glorot_uniform(net, jax.random.key(seed)))
        for name, params in zip(list(runs)[:2], starts):
            r = jaxmlp.fit(
                net,
                params,
                x.astype(np.float32),
                y.astype(np.int32),
                steps=1_200,
                learning_rate=1e-2,
                optimizer="adam",
                batch_size=100,
                key=jax.random.key(seed + 100),
            )
            out = np.asarray(forward.apply(net, r.params, jnp.asarray(xt, jnp.float32)))
            runs[name].append(float((out.argmax(1) == yt).mean()))
        clf = MLPClassifier(
            (100, 100),
            learning_rate_init=1e-2,
            batch_size=100,
            max_iter=30,
            alpha=0.0,
            random_state=seed,
            tol=0.0,
            n_iter_no_change=31,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(x, y)
        runs["scikit-learn MLPClassifier"].append(float(clf.score(xt, yt)))
    lines = [
        f"W8's synthetic set, {seeds} seeds: test accuracy (mean, standard error of the mean)",
        "",
        "| run | test accuracy | standard error |",
        "|---|---|---|",
    ]
    for name, acc in runs.items():
        a = 100 * np.asarray(acc)
        lines.append(f"| {name} | {a.mean():.2f}% | {a.std(ddof=1) / np.sqrt(len(a)):.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    table = main(p.parse_args().seeds)
    print(table)
    write_text(Path(__file__).parent / "results" / "w8_initialisation.md", table + "\n")
