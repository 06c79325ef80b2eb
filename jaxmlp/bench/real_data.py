"""W5-W8 of ``jaxmlp bench``: the paths users take with real data, at default arguments.

* **W5 minibatch scaling**: microseconds per step of ``fit(batch_size=128)`` (defaults otherwise:
  one call, adam 1e-3) on 40-64-2 at n = 4,000 / 40,000 / 400,000, against a bare JAX + optax
  loop with per-epoch shuffling (a permutation per epoch, slices of it per step), and PyTorch
  (index slices of a per-epoch ``randperm``) when installed. Each peer's whole call is timed,
  data already in memory.
* **W6 ingestion**: a 200,000 x 40 CSV (written once, about 65 MB) read by ``jaxmlp.io.data``
  (``read_table``: parse, encode, split, standardise), by ``numpy.loadtxt`` and by pyarrow's
  reader alone; each in a fresh process: the time of the read (imports excluded) and the
  process's peak resident memory (``VmHWM``, imports included).
* **W7 eager latency**: each public method of ``MLP`` called outside ``jit`` on the seed network,
  against the same pure function jitted.
* **W8 against scikit-learn**: ``MLPClassifier`` and ``jaxmlp.fit`` on the same architecture
  (relu hidden layers, softmax output), optimizer (adam), learning rate, batch size and number of
  epochs, on digits and on a synthetic 40-feature, 10-class set of 5,000 examples; seconds to
  train (jaxmlp's include compilation) and test accuracy, mean of 3 seeds.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

W5_SIZES = (4_000, 40_000, 400_000)


def _timed(f, repeats: int) -> float:
    f()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def w5(repeats: int, quick: bool, torch) -> list[dict]:
    """W5 rows: us per step against the data-set size, per peer."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxmlp
    from jaxmlp import forward

    net = jaxmlp.MLP((40, 64, 2), "tanh", "softmax", "cross_entropy")
    params = net.init(jax.random.key(0), jnp.float32)
    steps, batch = (300 if quick else 3_000), 128
    rows = []
    for n in W5_SIZES[:2] if quick else W5_SIZES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, 40)).astype(np.float32)
        y = rng.integers(0, 2, n).astype(np.int32)
        xj, yj = jax.device_put(x), jax.device_put(y)
        key = jax.random.key(1)

        def ours():
            r = jaxmlp.fit(
                net,
                params,
                xj,
                yj,
                steps=steps,
                learning_rate=1e-3,
                optimizer="adam",
                batch_size=batch,
                key=key,
            )
            jax.block_until_ready(r.params)

        per_epoch = n // batch
        opt = optax.adam(1e-3)

        @jax.jit
        def bare(p, x, y, key):
            def epoch(carry, e):
                p, s = carry
                perm = jax.random.permutation(jax.random.fold_in(key, e), n)[: per_epoch * batch]

                def step(carry, idx):
                    p, s = carry
                    g = jax.grad(lambda q: forward.loss_fn(net, q, x[idx], y[idx]))(p)
                    u, s = opt.update(g, s, p)
                    return (optax.apply_updates(p, u), s), None

                return jax.lax.scan(step, (p, s), perm.reshape(per_epoch, batch))[0], None

            epochs = -(-steps // per_epoch)
            return jax.lax.scan(epoch, (p, opt.init(p)), jnp.arange(epochs))[0][0]

        bare_steps = -(-steps // per_epoch) * per_epoch
        t_ours = _timed(ours, repeats)
        t_bare = _timed(lambda: jax.block_until_ready(bare(params, xj, yj, key)), repeats)
        rows += [
            _w5_row(n, "jaxmlp fit (defaults, batch_size=128)", t_ours / steps),
            _w5_row(n, "bare JAX + optax, per-epoch shuffle", t_bare / bare_steps),
        ]
        if torch is not None:
            rows.append(
                _w5_row(
                    n,
                    "PyTorch (randperm per epoch, index slices)",
                    _torch_w5(torch, x, y, steps, batch, repeats),
                )
            )
        else:
            rows.append(
                {
                    "workload": "W5 minibatch scaling",
                    "peer": "PyTorch",
                    "n": n,
                    "note": "skipped: torch not installed",
                }
            )
    return rows


def _w5_row(n: int, peer: str, seconds_per_step: float) -> dict:
    return {
        "workload": "W5 minibatch scaling",
        "peer": peer,
        "n": n,
        "us_per_step": seconds_per_step * 1e6,
        "note": "",
    }


def _torch_w5(torch, x, y, steps, batch, repeats) -> float:
    tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    n = len(x)

    def run():
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(40, 64), torch.nn.Tanh(), torch.nn.Linear(64, 2)
        )
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        done = 0
        while done < steps:
            perm = torch.randperm(n)
            for k in range(n // batch):
                idx = perm[k * batch : (k + 1) * batch]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(tx[idx]), ty[idx]).backward()
                opt.step()
                done += 1
                if done == steps:
                    return

    return _timed(run, max(1, repeats // 2)) / steps


W6_CHILD = """
import json, sys, time
kind, path = sys.argv[1], sys.argv[2]
import numpy as np
if kind == "jaxmlp":
    from jaxmlp.io import data
elif kind == "pyarrow":
    import pyarrow.csv as pc
t = time.perf_counter()
if kind == "jaxmlp":
    shape = data.read_table(path, "label").x_train.shape
elif kind == "numpy.loadtxt":
    shape = np.loadtxt(path, delimiter=",", skiprows=1).shape
else:
    shape = pc.read_csv(path).shape
seconds = time.perf_counter() - t
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "shape": list(shape)}))
"""


def w6(repeats: int, quick: bool) -> list[dict]:
    """W6 rows: reading an n x 40 CSV, each reader in a fresh process (seconds include its imports)."""
    n = 20_000 if quick else 200_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w6.csv"
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, 40))
        label = rng.integers(0, 10, n)
        header = ",".join([f"f{j}" for j in range(40)] + ["label"])
        np.savetxt(
            path,
            np.column_stack([x, label]),
            delimiter=",",
            header=header,
            comments="",
            fmt=["%.6f"] * 40 + ["%d"],
        )
        size_mb = path.stat().st_size / 1e6
        for kind in ("jaxmlp", "numpy.loadtxt", "pyarrow"):
            runs = []
            for _ in range(max(1, repeats // 3)):
                r = subprocess.run(
                    [sys.executable, "-c", W6_CHILD, kind, str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
            rows.append(
                {
                    "workload": f"W6 ingestion ({n:,} x 40 CSV, {size_mb:.0f} MB)",
                    "peer": kind
                    if kind != "jaxmlp"
                    else "jaxmlp data.read_table (parse, encode, split, standardise)",
                    "seconds": float(np.median([r["seconds"] for r in runs])),
                    "peak_mb": float(np.median([r["peak_mb"] for r in runs])),
                    "note": "reading alone, in a fresh process (imports excluded); peak: the process's",
                }
            )
    return rows


def w7(repeats: int, interleaved) -> list[dict]:
    """W7 rows: microseconds per call of each public method outside jit, and of the jitted pure function."""
    import jax
    import jax.numpy as jnp

    import jaxmlp
    from jaxmlp import backprop, forward, train

    net, params, x, y = jaxmlp.tutorial(jnp.float32)
    xb, yb = x[None], y[None]
    pure = {
        "apply": forward.apply,
        "loss_fn": forward.loss_fn,
        "per_example_loss": forward.per_example_loss,
        "backprop": backprop.backprop,
        "value_and_backprop": backprop.value_and_backprop,
        "forward_trace": forward.forward_trace,
    }
    cases = {}
    for name, fn in pure.items():
        single, batch = ((x,), (xb,)) if name in ("apply", "forward_trace") else ((x, y), (xb, yb))
        cases[name] = (
            functools.partial(getattr(net, name), params, *single),
            jax.jit(fn, static_argnums=0),
            (net, params, *batch),
        )
    cases["sgd_step"] = (
        lambda: train.sgd_step(params, params, 0.5),
        train.sgd_step,
        (params, params, 0.5),
    )
    cases["check_gradients"] = (lambda: jaxmlp.check_gradients(net, params, x, y), None, None)
    rows = []
    calls = 200
    for name, (eager, jitted, args) in cases.items():
        # Eager and jitted timed round-robin (bench.interleaved), so a drift of the machine's
        # speed hits both alike; each sample is 200 calls.
        runners = {"eager": lambda: [jax.block_until_ready(eager()) for _ in range(calls)]}
        if jitted is not None:
            runners["jitted"] = lambda: [jax.block_until_ready(jitted(*args)) for _ in range(calls)]
        timed = interleaved(runners, repeats)
        row = {
            "workload": "W7 eager latency (seed network)",
            "peer": f"net.{name}"
            if name not in ("sgd_step", "check_gradients")
            else f"jaxmlp.{name}",
            "us_eager": timed["eager"][0] / calls * 1e6,
            "note": "",
        }
        if jitted is not None:
            row["us_jitted"] = timed["jitted"][0] / calls * 1e6
            row["ratio"] = row["us_eager"] / row["us_jitted"]
        else:
            row["note"] = "a host-side report around one compiled call; no jitted equivalent"
        rows.append(row)
    return rows


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
    import warnings

    import jax
    import jax.numpy as jnp

    import jaxmlp
    from jaxmlp import forward
    from jaxmlp.io import data

    digits = data.load("digits")
    xs, ys = make_classification(5_000, 40, n_informative=20, n_classes=10, random_state=0)
    split = 4_000
    mean, std = xs[:split].mean(0), xs[:split].std(0)
    xs = (xs - mean) / std
    cases = [
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
    rows = []
    seeds = (0,) if quick else (0, 1, 2)
    for label, x, y, xt, yt, hidden, lr, batch, epochs in cases:
        sizes = (x.shape[1], *hidden, 10)
        net = jaxmlp.MLP(sizes, "relu", "softmax", "cross_entropy")
        steps = epochs * (-(-len(x) // batch))
        x32, y32 = x.astype(np.float32), y.astype(np.int32)
        res = {"jaxmlp fit": [], "scikit-learn MLPClassifier": []}
        for seed in seeds:
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
                jax.jit(forward.apply, static_argnums=0)(
                    net, r.params, jnp.asarray(xt, jnp.float32)
                )
            )
            res["jaxmlp fit"].append(
                (time.perf_counter() - t, float((pred.argmax(1) == yt).mean()))
            )
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
            res["scikit-learn MLPClassifier"].append(
                (time.perf_counter() - t, float(clf.score(xt, yt)))
            )
        for peer, runs in res.items():
            rows.append(
                {
                    "workload": "W8 against scikit-learn",
                    "peer": f"{label}: {peer}",
                    "seconds": float(np.mean([r[0] for r in runs])),
                    "test_accuracy": float(np.mean([r[1] for r in runs])),
                    "note": f"{'-'.join(map(str, sizes))} relu, adam {lr:g}, batch {batch}, {epochs} epochs, "
                    f"{len(seeds)} seed(s)"
                    + (" (includes compilation)" if peer == "jaxmlp fit" else ""),
                }
            )
    return rows


def all_rows(repeats: int, quick: bool, torch, interleaved) -> list[dict]:
    """W5-W8, in order; ``interleaved`` is :func:`jaxmlp.bench.interleaved` (round-robin timing)."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    return w5(repeats, quick, torch) + w6(repeats, quick) + w7(repeats, interleaved) + w8(quick)


def ratios(name: str, rows: list[dict]) -> str:
    """The sentence of ratios under a W5-W8 table (the figures the targets speak of)."""
    timed = [r for r in rows if not r.get("note", "").startswith("skipped")]
    if name.startswith("W5"):
        ours = {r["n"]: r["us_per_step"] for r in timed if r["peer"].startswith("jaxmlp")}
        bare = {r["n"]: r["us_per_step"] for r in timed if r["peer"].startswith("bare")}
        lo, hi = min(ours), max(ours)
        worst = max(ours[n] / bare[n] for n in ours)
        return (
            f"jaxmlp's step at n = {hi:,} is {ours[hi] / ours[lo]:.2f}x its step at n = {lo:,}; "
            f"fit against the bare loop: at most {worst:.2f}x."
        )
    if name.startswith("W6"):
        by = {r["peer"].split()[0]: r for r in timed}
        j, np_ = by["jaxmlp"], by["numpy.loadtxt"]
        return (
            f"jaxmlp reads the file {np_['seconds'] / j['seconds']:.1f}x as fast as numpy.loadtxt, "
            f"peak {j['peak_mb']:,.0f} MB."
        )
    if name.startswith("W7"):
        worst = max(r["ratio"] for r in timed if "ratio" in r)
        return f"Every method outside jit is within {worst:.2f}x of the jitted function."
    if name.startswith("W8"):
        parts = []
        for r in timed:
            if r["peer"].endswith("scikit-learn MLPClassifier"):
                label = r["peer"].rsplit(":", 1)[0]
                j = next(q for q in timed if q["peer"] == f"{label}: jaxmlp fit")
                parts.append(
                    f"{label.split(' (')[0]}: {r['seconds'] / j['seconds']:.1f}x faster, "
                    f"accuracy {100 * (j['test_accuracy'] - r['test_accuracy']):+.1f} points"
                )
        return "jaxmlp against scikit-learn: " + "; ".join(parts) + "."
    return ""
