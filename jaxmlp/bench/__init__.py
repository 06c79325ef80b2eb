"""Benchmarks: jaxmlp and its peers on identical work, in one process (``jaxmlp bench``).

Workloads (every peer ends on the same loss, checked: a mismatch raises BenchmarkMismatch):

* **W1 seed**: the seed network, 10,000 SGD steps at 0.5, float64, biases frozen.
  Peers: pure Python, NumPy by hand, PyTorch eager, a bare JAX baseline, ``fit``
  with autodiff and with handwritten backprop.
* **W2 mlp**: 784-512-512-10, logistic hidden layers, softmax cross-entropy, one
  float32 batch of 256 (4,096 on a GPU), 100 SGD steps at 0.1; GFLOP/s with
  ``flops = 6 x batch x sum(n_in x n_out)`` per step, against the machine's
  float32 matrix-multiply peak measured in the same run.
* **W3 population**: 4,096 (65,536 on a GPU) perturbed copies of the seed network,
  1,000 SGD steps, float32; net-steps per second.
* **W4 start-up**: the whole process of ``jaxmlp reproduce`` against ``python -c "import jax"``.
* **W5-W8 real data**: minibatch scaling, CSV ingestion, eager latency, scikit-learn
  (:mod:`jaxmlp.bench.real_data`).
* **W9 Hessian-vector products**: the R-operator by hand against ``jax.jvp(jax.grad)`` and one
  gradient (:mod:`jaxmlp.bench.second_order`).

Times are medians of repeated runs after compilation. ``--quick`` shrinks every
workload (same code paths) to finish in under a minute. PyTorch peers are
skipped, and say so, when torch is not installed.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

SEED_FINAL_LOSS = 3.5101877829788e-05


def median_time(f: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls of ``f`` (after none: warm up yourself), and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def torch_or_none():
    """PyTorch limited to at most two threads (this machine's cores), or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    return torch


def machine(device: str) -> dict:
    """The machine and library versions the report was made with."""
    import jax

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    torch = torch_or_none()
    return {
        "device": str(jax.devices()[0].device_kind)
        if device == "gpu"
        else f"CPU ({os.cpu_count()} cores)",
        "cpu": cpu,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__ if torch else "not installed",
    }


# --- W1: the seed network ---------------------------------------------------------------


def seed_pure_python(steps: int) -> float:
    """W1 in pure Python: lists and math.exp; returns E_total after ``steps`` rounds."""
    w = [[0.15, 0.20], [0.25, 0.30]]
    v = [[0.40, 0.45], [0.50, 0.55]]
    b1, b2, x, t, lr = 0.35, 0.60, (0.05, 0.10), (0.01, 0.99), 0.5
    sig = lambda z: 1.0 / (1.0 + math.exp(-z))
    for _ in range(steps):
        h = [sig(w[j][0] * x[0] + w[j][1] * x[1] + b1) for j in range(2)]
        o = [sig(v[k][0] * h[0] + v[k][1] * h[1] + b2) for k in range(2)]
        do = [(o[k] - t[k]) * o[k] * (1 - o[k]) for k in range(2)]
        dh = [(do[0] * v[0][j] + do[1] * v[1][j]) * h[j] * (1 - h[j]) for j in range(2)]
        v = [[v[k][j] - lr * do[k] * h[j] for j in range(2)] for k in range(2)]
        w = [[w[j][i] - lr * dh[j] * x[i] for i in range(2)] for j in range(2)]
    h = [sig(w[j][0] * x[0] + w[j][1] * x[1] + b1) for j in range(2)]
    o = [sig(v[k][0] * h[0] + v[k][1] * h[1] + b2) for k in range(2)]
    return 0.5 * ((t[0] - o[0]) ** 2 + (t[1] - o[1]) ** 2)


def seed_numpy(steps: int) -> float:
    """W1 with NumPy arrays and the delta rule written out; returns E_total after ``steps`` rounds."""
    w, v = np.array([[0.15, 0.20], [0.25, 0.30]]), np.array([[0.40, 0.45], [0.50, 0.55]])
    x, t = np.array([0.05, 0.10]), np.array([0.01, 0.99])
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))
    for _ in range(steps):
        h = sig(w @ x + 0.35)
        o = sig(v @ h + 0.60)
        do = (o - t) * o * (1 - o)
        dh = (v.T @ do) * h * (1 - h)
        v = v - 0.5 * np.outer(do, h)
        w = w - 0.5 * np.outer(dh, x)
    o = sig(v @ sig(w @ x + 0.35) + 0.60)
    return float(0.5 * np.sum((t - o) ** 2))


def seed_torch(torch, steps: int) -> float:
    """W1 in PyTorch eager mode: autograd and ``torch.optim.SGD``; returns E_total after ``steps`` rounds."""
    w = torch.tensor([[0.15, 0.20], [0.25, 0.30]], dtype=torch.float64, requires_grad=True)
    v = torch.tensor([[0.40, 0.45], [0.50, 0.55]], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([0.05, 0.10], dtype=torch.float64)
    t = torch.tensor([0.01, 0.99], dtype=torch.float64)
    opt = torch.optim.SGD([w, v], lr=0.5)

    def loss():
        return 0.5 * torch.sum((t - torch.sigmoid(v @ torch.sigmoid(w @ x + 0.35) + 0.60)) ** 2)

    for _ in range(steps):
        opt.zero_grad()
        loss().backward()
        opt.step()
    with torch.no_grad():
        return float(loss())


def bare_jax_seed(steps: int):
    """A bare JAX baseline, written inline: jax.grad + lax.scan in one jit."""
    import jax
    import jax.numpy as jnp

    def loss(p, x, t):
        h = jax.nn.sigmoid(x @ p["w1"].T + p["b1"])
        o = jax.nn.sigmoid(h @ p["w2"].T + p["b2"])
        return jnp.mean(0.5 * jnp.sum((t - o) ** 2, -1))

    @jax.jit
    def train(p, x, t):
        def body(p, _):
            g = jax.grad(loss)(p, x, t)
            return {k: v - 0.5 * g[k] if k[0] == "w" else v for k, v in p.items()}, None

        return jax.lax.scan(body, p, None, length=steps)[0]

    return loss, train


def w1(steps: int, repeats: int, torch) -> list[dict]:
    """W1, the seed network: every peer's time per 10,000 steps, ns per step, compile time and final E."""
    import jax
    import jax.numpy as jnp

    import jaxmlp

    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    X, Y = x[None], y[None]
    scale = 10_000 / steps
    rows = []

    def row(peer, seconds, final, compile_s=None, note=""):
        rows.append(
            {
                "workload": "W1 seed",
                "peer": peer,
                "seconds_per_10k_steps": seconds * scale,
                "ns_per_step": seconds / steps * 1e9,
                "compile_seconds": compile_s,
                "final_loss": final,
                "note": note,
            }
        )

    reference = float(
        net.loss_fn(
            jaxmlp.fit(net, params, X, Y, steps=steps, learning_rate=0.5).params,
            x,
            y,
        )
    )
    if steps == 10_000:
        agree(abs(reference - SEED_FINAL_LOSS) <= 1e-18, "W1 reference", reference, SEED_FINAL_LOSS)
    slow_repeats = max(1, repeats // 5)
    t, final = median_time(lambda: seed_pure_python(steps), slow_repeats)
    row("pure Python (lists, math.exp)", t, final)
    t, final = median_time(lambda: seed_numpy(steps), slow_repeats)
    row("NumPy by hand", t, final)
    if torch is not None:
        torch_steps = min(
            steps, 2_000
        )  # eager PyTorch is slow: time 2,000 steps, check the loss on all of them
        t, _ = median_time(lambda: seed_torch(torch, torch_steps), slow_repeats)
        row(
            "PyTorch eager (autograd + optim.SGD)",
            t * steps / torch_steps,
            seed_torch(torch, steps),
        )
    else:
        rows.append(
            {"workload": "W1 seed", "peer": "PyTorch eager", "note": "skipped: torch not installed"}
        )
    loss, train = bare_jax_seed(steps)
    p = {"w1": params[0]["w"], "b1": params[0]["b"], "w2": params[1]["w"], "b2": params[1]["b"]}
    t0 = time.perf_counter()
    compiled = train.lower(p, X, Y).compile()
    compile_s = {"bare": time.perf_counter() - t0}
    runners = {"bare": lambda: jax.block_until_ready(compiled(p, X, Y))}
    variants = {
        (grad, history): f"jaxmlp fit, {grad}" + ("" if history else ", history=False")
        for history in (True, False)
        for grad in ("autodiff", "backprop")
    }
    for (grad, history), name in variants.items():
        runners[name] = functools.partial(
            lambda grad, history: jax.block_until_ready(
                jaxmlp.fit(
                    net,
                    params,
                    X,
                    Y,
                    steps=steps,
                    learning_rate=0.5,
                    grad=grad,
                    history=history,
                ).params
            ),
            grad,
            history,
        )
        jaxmlp.train.run_chunk.clear_cache()
        t0 = time.perf_counter()
        runners[name]()
        first = time.perf_counter() - t0
        compile_s[name] = max(first - median_time(runners[name], 5)[0], 0.0)
    # Round-robin, so drifts of the machine's speed hit every peer alike; a call takes under a
    # millisecond, so many rounds are cheap and steady the medians.
    timed = interleaved(runners, 25 * repeats)
    t, out, _ = timed.pop("bare")
    row("bare JAX (grad + scan, inline)", t, float(loss(out, X, Y)), compile_s["bare"])
    for (_, history), name in variants.items():
        t, out, _ = timed[name]
        row(
            name,
            t,
            float(net.loss_fn(out, x, y)),
            compile_s[name],
            "loss of every step recorded" if history else "loss per chunk only",
        )
    for r in rows:
        if "final_loss" in r:
            ok = abs(r["final_loss"] - reference) <= 1e-12 * max(1.0, abs(reference)) + 1e-15
            agree(ok, r["peer"], r["final_loss"], reference)
    return rows


# --- W2: a 784-512-512-10 MLP ------------------------------------------------------------


def matmul_peak(sizes: tuple[int, ...], repeats: int, torch, device: str) -> dict:
    """Best GFLOP/s of n x n float32 matrix products, over ``sizes`` and repeats, in JAX, NumPy and PyTorch."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    mm = jax.jit(jnp.matmul)
    out: dict[str, float] = {}
    for n in sizes:
        flops = 2 * n**3
        a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        jax.block_until_ready(mm(ja, jb))
        best = {
            "jax": min(
                median_time(lambda: jax.block_until_ready(mm(ja, jb)), 1)[0] for _ in range(repeats)
            )
        }
        if device == "cpu":
            a @ b
            best["numpy"] = min(median_time(lambda: a @ b, 1)[0] for _ in range(repeats))
        if torch is not None:
            dev = "cuda" if device == "gpu" and torch.cuda.is_available() else "cpu"
            ta, tb = torch.from_numpy(a).to(dev), torch.from_numpy(b).to(dev)
            sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
            ta @ tb
            sync()
            best["torch"] = min(
                median_time(lambda: (ta @ tb, sync()), 1)[0] for _ in range(repeats)
            )
        for lib, t in best.items():
            out[lib] = max(out.get(lib, 0.0), flops / t / 1e9)
    return out


def interleaved(
    runners: dict[str, Callable[[], object]], repeats: int
) -> dict[str, tuple[float, object, float]]:
    """Median time, last result and best time of each runner, timed round-robin (after one warm-up
    call each), so slow drifts of the machine's speed hit every peer alike."""
    times: dict[str, list[float]] = {k: [] for k in runners}
    last = {k: f() for k, f in runners.items()}
    for _ in range(repeats):
        for k, f in runners.items():
            t = time.perf_counter()
            last[k] = f()
            times[k].append(time.perf_counter() - t)
    return {k: (float(np.median(v)), last[k], min(v)) for k, v in times.items()}


def w2(
    batch: int, steps: int, repeats: int, torch, device: str, peak_sizes: tuple[int, ...]
) -> tuple[list[dict], dict]:
    """W2, a 784-512-512-10 MLP: time, GFLOP/s and share of the matmul peak per peer; returns ``(rows, peak)``."""
    import jax
    import jax.numpy as jnp

    import jaxmlp

    sizes = (784, 512, 512, 10)
    net = jaxmlp.MLP(sizes, "logistic", "softmax", "cross_entropy", "per_neuron")
    params = net.init(jax.random.key(0), jnp.float32)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, 784), np.float32))
    labels = jnp.asarray(rng.integers(0, 10, batch).astype(np.int32))
    flops = 6 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) * steps
    peak = matmul_peak(peak_sizes, repeats, torch, device)

    def loss(p, x, labels):
        h = jax.nn.sigmoid(x @ p[0]["w"].T + p[0]["b"])
        h = jax.nn.sigmoid(h @ p[1]["w"].T + p[1]["b"])
        z = h @ p[2]["w"].T + p[2]["b"]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), labels[:, None], 1))

    @jax.jit
    def bare(p, x, labels):
        def body(p, _):
            g = jax.grad(loss)(p, x, labels)
            return jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g), None

        return jax.lax.scan(body, p, None, length=steps)[0]

    compile_s: dict[str, float | None] = {}
    t0 = time.perf_counter()
    compiled = bare.lower(params, x, labels).compile()
    compile_s["bare JAX (grad + scan, inline)"] = time.perf_counter() - t0
    runners: dict[str, Callable[[], object]] = {
        "bare JAX (grad + scan, inline)": lambda: jax.block_until_ready(compiled(params, x, labels))
    }
    final: dict[str, Callable[[object], float]] = {
        "bare JAX (grad + scan, inline)": lambda out: float(loss(out, x, labels))
    }
    for grad in ("autodiff", "backprop"):
        name = f"jaxmlp fit, {grad}"
        run = lambda grad=grad: jax.block_until_ready(
            jaxmlp.fit(net, params, x, labels, steps=steps, learning_rate=0.1, grad=grad).params
        )
        t0 = time.perf_counter()
        run()
        compile_s[name] = time.perf_counter() - t0  # less one run's time, below
        runners[name] = run
        final[name] = lambda out: float(net.loss_fn(out, x, labels))
    if torch is not None:
        dev = "cuda" if device == "gpu" and torch.cuda.is_available() else "cpu"
        tp = [
            {k: torch.tensor(np.asarray(v), device=dev) for k, v in layer.items()}
            for layer in params
        ]
        tx = torch.tensor(np.asarray(x), device=dev)
        tl = torch.tensor(np.asarray(labels), device=dev, dtype=torch.long)
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

        def tloss(p):
            h = torch.sigmoid(tx @ p[0]["w"].T + p[0]["b"])
            h = torch.sigmoid(h @ p[1]["w"].T + p[1]["b"])
            return torch.nn.functional.cross_entropy(h @ p[2]["w"].T + p[2]["b"], tl)

        def train_torch():
            p = [{k: v.clone().requires_grad_(True) for k, v in layer.items()} for layer in tp]
            opt = torch.optim.SGD([v for layer in p for v in layer.values()], lr=0.1)
            for _ in range(steps):
                opt.zero_grad()
                tloss(p).backward()
                opt.step()
            sync()
            return p

        torch_name = (
            f"PyTorch eager ({torch.get_num_threads()} threads)"
            if dev == "cpu"
            else "PyTorch eager (CUDA)"
        )

        def torch_final(p):
            with torch.no_grad():
                return float(tloss(p))

        final[torch_name] = torch_final
    # The JAX peers and a 2048 x 2048 JAX product, round-robin, so that the peak (the fastest product
    # seen in this run) and the peers see the same conditions: this machine's speed drifts between
    # runs. PyTorch runs after them: its OpenMP threads keep spinning after each call and would slow
    # whatever runs next.
    a = jnp.asarray(rng.standard_normal((2048, 2048), np.float32))
    mm = jax.jit(jnp.matmul)
    MM_TIMES: list[float] = []

    def matmul():
        t = time.perf_counter()
        jax.block_until_ready(mm(a, a))
        MM_TIMES.append(time.perf_counter() - t)

    runners["_matmul"] = matmul
    timed = interleaved(runners, repeats)
    timed.pop("_matmul")
    peak["jax"] = max(peak["jax"], 2 * 2048**3 / min(MM_TIMES) / 1e9)
    if torch is not None:
        timed |= interleaved({torch_name: train_torch}, repeats)
    rows = []
    for name, (t, out, best) in timed.items():
        gflops = flops / t / 1e9
        c = compile_s.get(name)
        rows.append(
            {
                "workload": f"W2 mlp (batch {batch})",
                "peer": name,
                "seconds": t,
                "gflops": gflops,
                # best against best: the peak is the fastest product seen, so the loop's
                # fastest run is its like (the median would fold in the machine's drifts).
                "pct_of_jax_matmul_peak": 100 * flops / best / 1e9 / peak["jax"],
                "compile_seconds": None
                if c is None
                else (c if name.startswith("bare") else max(c - t, 0.0)),
                "final_loss": final[name](out),
                "note": "",
            }
        )
    if torch is None:
        rows.append(
            {
                "workload": f"W2 mlp (batch {batch})",
                "peer": "PyTorch eager",
                "note": "skipped: torch not installed",
            }
        )
    reference = rows[0]["final_loss"]
    for r in rows:
        if "final_loss" in r:
            # float32, 100 steps: the peers sum in different orders; agreement to 1e-4 relative.
            agree(
                abs(r["final_loss"] - reference) <= 1e-4 * abs(reference),
                r["peer"],
                r["final_loss"],
                reference,
            )
    return rows, peak


# --- W3: a population of seed networks ----------------------------------------------------


def population_params(n: int) -> dict[str, np.ndarray]:
    """The seed's weights plus 0.1 x normal noise (seed 0), per network: w1 (n, 2, 2), w2 (n, 2, 2)."""
    rng = np.random.default_rng(0)
    w1 = np.array([[0.15, 0.20], [0.25, 0.30]]) + 0.1 * rng.standard_normal((n, 2, 2))
    w2 = np.array([[0.40, 0.45], [0.50, 0.55]]) + 0.1 * rng.standard_normal((n, 2, 2))
    return {"w1": w1.astype(np.float32), "w2": w2.astype(np.float32)}


def w3(n: int, steps: int, repeats: int, torch, device: str) -> list[dict]:
    """W3, a population of perturbed seed networks: net-steps per second per peer."""
    import jax
    import jax.numpy as jnp

    import jaxmlp
    from jaxmlp import population

    p = population_params(n)
    x, t = np.array([0.05, 0.10], np.float32), np.array([0.01, 0.99], np.float32)
    rows = []

    def row(peer, seconds, final, note=""):
        rows.append(
            {
                "workload": f"W3 population ({n:,} nets)",
                "peer": peer,
                "seconds": seconds,
                "net_steps_per_second": n * steps / seconds,
                "final_loss": final,
                "note": note,
            }
        )

    def numpy_batched():
        w1, w2 = p["w1"].copy(), p["w2"].copy()
        for _ in range(steps):
            h = 1 / (1 + np.exp(-(np.einsum("nji,i->nj", w1, x) + 0.35)))
            o = 1 / (1 + np.exp(-(np.einsum("nkj,nj->nk", w2, h) + 0.60)))
            do = (o - t) * o * (1 - o)
            dh = np.einsum("nk,nkj->nj", do, w2) * h * (1 - h)
            w2 -= 0.5 * do[:, :, None] * h[:, None, :]
            w1 -= 0.5 * dh[:, :, None] * x[None, None, :]
        o = 1 / (
            1
            + np.exp(
                -(
                    np.einsum(
                        "nkj,nj->nk", w2, 1 / (1 + np.exp(-(np.einsum("nji,i->nj", w1, x) + 0.35)))
                    )
                    + 0.60
                )
            )
        )
        return float(np.mean(0.5 * np.sum((t - o) ** 2, -1)))

    slow = max(1, repeats // 5)
    if device == "cpu":
        t_np, final = median_time(numpy_batched, slow)
        row("NumPy batched einsum, by hand", t_np, final)
    if torch is not None:
        dev = "cuda" if device == "gpu" and torch.cuda.is_available() else "cpu"
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
        tx, tt = torch.tensor(x, device=dev), torch.tensor(t, device=dev)

        def tloss(w1, w2):
            h = torch.sigmoid(torch.einsum("nji,i->nj", w1, tx) + 0.35)
            o = torch.sigmoid(torch.bmm(w2, h[:, :, None])[:, :, 0] + 0.60)
            return 0.5 * torch.sum((tt - o) ** 2, -1)

        def torch_batched():
            w1 = torch.tensor(p["w1"], device=dev, requires_grad=True)
            w2 = torch.tensor(p["w2"], device=dev, requires_grad=True)
            for _ in range(steps):
                loss = tloss(w1, w2).sum()  # the sum over networks: each net's gradient is its own
                g1, g2 = torch.autograd.grad(loss, (w1, w2))
                with torch.no_grad():
                    w1 -= 0.5 * g1
                    w2 -= 0.5 * g2
            sync()
            with torch.no_grad():
                return float(tloss(w1, w2).mean())

        torch_batched()
        t_torch, final = median_time(torch_batched, slow)
        row("PyTorch batched (bmm, autograd)", t_torch, final)
    else:
        rows.append(
            {
                "workload": f"W3 population ({n:,} nets)",
                "peer": "PyTorch batched",
                "note": "skipped: torch not installed",
            }
        )

    def loss(w, x, t):
        h = jax.nn.sigmoid(w["w1"] @ x + 0.35)
        o = jax.nn.sigmoid(w["w2"] @ h + 0.60)
        return 0.5 * jnp.sum((t - o) ** 2)

    @jax.jit
    def bare(w, x, t):
        def body(w, _):
            g = jax.vmap(jax.grad(loss), (0, None, None))(w, x, t)
            return jax.tree_util.tree_map(lambda a, b: a - 0.5 * b, w, g), None

        return jax.lax.scan(body, w, None, length=steps)[0]

    jw = {k: jnp.asarray(v) for k, v in p.items()}
    jx, jt = jnp.asarray(x), jnp.asarray(t)
    jax.block_until_ready(bare(jw, jx, jt))
    tb, out = median_time(lambda: jax.block_until_ready(bare(jw, jx, jt)), repeats)
    row(
        "bare JAX (vmap + scan, inline)",
        tb,
        float(jnp.mean(jax.vmap(loss, (0, None, None))(out, jx, jt))),
    )

    net = jaxmlp.tutorial()[0]
    stacked = tuple(
        {"w": jnp.asarray(p[k]), "b": jnp.full((n,), b, jnp.float32)}
        for k, b in (("w1", 0.35), ("w2", 0.60))
    )
    for layout, peer in (("auto", "jaxmlp sweep"), ("vmap", "jaxmlp sweep, layout=vmap")):
        run = functools.partial(
            population.sweep,
            net,
            x[None],
            t[None],
            learning_rates=[0.5],
            seeds=np.arange(n),
            params=stacked,
            steps=steps,
            layout=layout,
        )
        run()
        results = [run() for _ in range(repeats)]
        row(
            peer,
            float(np.median([r.seconds for r in results])),
            float(np.mean(results[-1].final_loss)),
            f"{results[-1].layout} layout; loop time (setup and final losses excluded)",
        )
    if device == "cpu" and (os.cpu_count() or 1) > 1:
        cores = os.cpu_count()
        child = subprocess.run(
            [sys.executable, "-c", W3_CHILD, str(n), str(steps), str(repeats), str(cores)],
            capture_output=True,
            text=True,
            check=True,
            env={
                **os.environ,
                "XLA_FLAGS": f"--xla_force_host_platform_device_count={cores}",
                "JAX_PLATFORMS": "cpu",
            },
        )
        seconds, final = json.loads(child.stdout.strip().splitlines()[-1])
        row(
            f"jaxmlp sweep, devices={cores}",
            seconds,
            final,
            f"population split over {cores} CPU devices, one per core (a child process)",
        )
    reference = rows[-1]["final_loss"]
    for q in rows:
        if "final_loss" in q:
            agree(
                abs(q["final_loss"] - reference) <= 1e-4 * abs(reference),
                q["peer"],
                q["final_loss"],
                reference,
            )
    return rows


W3_CHILD = """
import json, sys, numpy as np, jax, jax.numpy as jnp, jaxmlp
from jaxmlp import bench, population
n, steps, repeats, devices = map(int, sys.argv[1:5])
p = bench.population_params(n)
x, t = np.array([[0.05, 0.10]], np.float32), np.array([[0.01, 0.99]], np.float32)
stacked = tuple({"w": jnp.asarray(p[k]), "b": jnp.full((n,), b, jnp.float32)} for k, b in (("w1", 0.35), ("w2", 0.60)))
run = lambda: population.sweep(jaxmlp.tutorial()[0], x, t, learning_rates=[0.5], seeds=np.arange(n), params=stacked,
                               steps=steps, devices=devices)
run()
rs = [run() for _ in range(repeats)]
print(json.dumps([float(np.median([r.seconds for r in rs])), float(np.mean(rs[-1].final_loss))]))
"""


# --- W4: start-up -----------------------------------------------------------------------------


def w4(repeats: int) -> list[dict]:
    """W4, start-up: whole-process wall time of ``jaxmlp reproduce`` and of ``python -c 'import jax'``."""

    def whole(argv):
        subprocess.run(
            argv, check=True, capture_output=True
        )  # warm: later runs find the compilation cache
        return median_time(lambda: subprocess.run(argv, check=True, capture_output=True), repeats)[
            0
        ]

    t_jax = whole([sys.executable, "-c", "import jax"])
    t_rep = whole([sys.executable, "-m", "jaxmlp.cli", "reproduce"])
    return [
        {"workload": "W4 start-up", "peer": 'python -c "import jax"', "seconds": t_jax},
        {
            "workload": "W4 start-up",
            "peer": "jaxmlp reproduce",
            "seconds": t_rep,
            "note": f"{t_rep / t_jax:.2f}x the bare import",
        },
    ]


# --- report ------------------------------------------------------------------------------------


def markdown(report: dict) -> str:
    """The report as Markdown: the machine, the peaks, one table per workload and its ratios."""
    m = report["machine"]
    lines = [
        f"Machine: {m['device']}, {m['cpu']}; Python {m['python']}, jax {m['jax']}, numpy {m['numpy']}, torch {m['torch']}.",
        "",
    ]
    peak = report.get("matmul_peak_gflops")
    if peak:
        best = ", ".join(f"{k} {v:,.1f}" for k, v in peak.items())
        lines += [
            f"float32 matrix-multiply peak, the fastest n x n product seen in this run (n = 1024..4096, and "
            f"2048 round-robin with W2's JAX peers): {best} GFLOP/s. W2's percentages are each peer's "
            "fastest run against JAX's peak (best against best); its times and GFLOP/s are medians.",
            "",
        ]
    groups: dict[str, list[dict]] = {}
    for r in report["rows"]:
        groups.setdefault(r["workload"], []).append(r)
    columns = {
        "W1": [
            ("seconds_per_10k_steps", "s / 10k steps", "{:.4g}"),
            ("ns_per_step", "ns / step", "{:,.0f}"),
            ("compile_seconds", "compile s", "{:.3f}"),
            ("final_loss", "final E", "{:.13g}"),
        ],
        "W2": [
            ("seconds", "s", "{:.3f}"),
            ("gflops", "GFLOP/s", "{:.1f}"),
            ("pct_of_jax_matmul_peak", "% of JAX matmul peak", "{:.0f}%"),
            ("compile_seconds", "compile s", "{:.2f}"),
            ("final_loss", "final loss", "{:.6g}"),
        ],
        "W3": [
            ("seconds", "s", "{:.3f}"),
            ("net_steps_per_second", "net-steps / s", "{:,.0f}"),
            ("final_loss", "mean final E", "{:.6g}"),
        ],
        "W4": [("seconds", "s (whole process)", "{:.2f}")],
        "W5": [("n", "n", "{:,}"), ("us_per_step", "us / step", "{:,.1f}")],
        "W6": [("seconds", "s", "{:.2f}"), ("peak_mb", "peak MB", "{:,.0f}")],
        "W7": [
            ("us_eager", "us / call outside jit", "{:,.1f}"),
            ("us_jitted", "us / call, jitted pure function", "{:,.1f}"),
            ("ratio", "ratio", "{:.2f}x"),
        ],
        "W8": [("seconds", "s to train", "{:.2f}"), ("test_accuracy", "test accuracy", "{:.2%}")],
        "W9": [
            ("us_per_product", "us / product", "{:,.2f}"),
            ("vs_one_gradient", "x one gradient", "{:.2f}"),
            ("vs_autodiff", "x autodiff HVP", "{:.2f}"),
        ],
    }
    for name, rows in groups.items():
        cols = columns[name[:2]]
        lines.append(f"**{name}**")
        lines.append("")
        lines.append("| peer | " + " | ".join(c[1] for c in cols) + " | note |")
        lines.append("|---|" + "---|" * (len(cols) + 1))
        for r in rows:
            cells = [c[2].format(r[c[0]]) if r.get(c[0]) is not None else "-" for c in cols]
            lines.append(f"| {r['peer']} | " + " | ".join(cells) + f" | {r.get('note', '')} |")
        lines.append("")
        ratio = ratios(name, rows)
        if ratio:
            lines += [ratio, ""]
    return "\n".join(lines)


def ratios(name: str, rows: list[dict]) -> str:
    """The sentence of ratios under a workload's table (the figures the targets speak of)."""
    by = {r["peer"]: r for r in rows if "note" not in r or not r["note"].startswith("skipped")}
    if name.startswith("W1"):
        j = by.get("jaxmlp fit, backprop")
        a, bare = by.get("jaxmlp fit, autodiff"), by.get("bare JAX (grad + scan, inline)")
        parts = []
        for peer, key in (
            ("PyTorch eager (autograd + optim.SGD)", "PyTorch eager"),
            ("pure Python (lists, math.exp)", "pure Python"),
        ):
            if peer in by:
                parts.append(
                    f"jaxmlp (backprop) is {by[peer]['seconds_per_10k_steps'] / j['seconds_per_10k_steps']:,.0f}x faster than {key}"
                )
        over = lambda r: (
            f"{100 * (r['seconds_per_10k_steps'] / bare['seconds_per_10k_steps'] - 1):+.0f}%"
        )
        parts.append(
            f"overhead over bare JAX: autodiff {over(a)}, backprop {over(j)}; with history=False: "
            f"autodiff {over(by['jaxmlp fit, autodiff, history=False'])}, backprop {over(by['jaxmlp fit, backprop, history=False'])}"
        )
        parts.append(
            f"backprop vs autodiff {100 * (j['seconds_per_10k_steps'] / a['seconds_per_10k_steps'] - 1):+.0f}%"
        )
        return "; ".join(parts) + "."
    if name.startswith("W2"):
        t = next((r for p, r in by.items() if p.startswith("PyTorch")), None)
        j = [by[p] for p in ("jaxmlp fit, autodiff", "jaxmlp fit, backprop")]
        return (
            f"jaxmlp vs PyTorch eager: {t['seconds'] / j[0]['seconds']:.2f}x (autodiff), {t['seconds'] / j[1]['seconds']:.2f}x (backprop)."
            if t
            else ""
        )
    if name.startswith(("W5", "W6", "W7", "W8")):
        from jaxmlp.bench.real_data import ratios as real_data_ratios

        return real_data_ratios(name, rows)
    if name.startswith("W3"):
        t = next((r for p, r in by.items() if p.startswith("PyTorch")), None)
        j = by["jaxmlp sweep"]
        multi = next((r for p, r in by.items() if p.startswith("jaxmlp sweep, devices=")), None)
        if t is None:
            return ""
        text = f"jaxmlp sweep vs PyTorch batched: {j['net_steps_per_second'] / t['net_steps_per_second']:.1f}x on one device"
        if multi:
            text += f", {multi['net_steps_per_second'] / t['net_steps_per_second']:.1f}x split over {multi['peer'].split('=')[1]} devices"
        return text + "."
    return ""


class BenchmarkMismatch(RuntimeError):
    """A peer's result differs from the reference: its timing would compare different work."""


def agree(ok: bool, what: str, value, reference) -> None:
    """Raise :class:`BenchmarkMismatch` unless ``ok`` (a check that ``python -O`` keeps)."""
    if not ok:
        raise BenchmarkMismatch(f"{what}: {value!r} differs from the reference {reference!r}")


def run(quick: bool = False, device: str = "cpu") -> dict:
    """Every workload; returns ``{"machine", "matmul_peak_gflops", "rows"}``."""
    import jax

    jax.config.update("jax_enable_x64", True)
    if device == "gpu":
        try:
            gpu = jax.devices("gpu")[0]
        except RuntimeError:
            raise ValueError("--device gpu: JAX finds no GPU on this machine") from None
        jax.config.update("jax_default_device", gpu)
    torch = torch_or_none()
    repeats = 3 if quick else 7
    rows = w1(2_000 if quick else 10_000, repeats, torch)
    batch = 4096 if device == "gpu" else 256
    w2_rows, peak = w2(
        batch,
        10 if quick else 100,
        repeats,
        torch,
        device,
        (1024,) if quick else (1024, 2048, 3072, 4096),
    )
    rows += w2_rows
    rows += w3(
        (65_536 if device == "gpu" else 4_096) // (4 if quick else 1),
        200 if quick else 1_000,
        repeats,
        torch,
        device,
    )
    rows += w4(1 if quick else 3)
    from jaxmlp.bench.real_data import all_rows
    from jaxmlp.bench.second_order import w9

    rows += all_rows(repeats, quick, torch, interleaved)
    rows += w9(repeats, quick, interleaved)
    return {"machine": machine(device), "quick": quick, "matmul_peak_gflops": peak, "rows": rows}


def main(argv=None) -> int:
    """``python -m jaxmlp.bench [--quick] [--device cpu|gpu] [--json]``."""
    p = argparse.ArgumentParser(
        prog="jaxmlp bench",
        description="jaxmlp against its peers on identical work, in one process.",
    )
    p.add_argument(
        "--quick", action="store_true", help="small workloads, under a minute (a smoke test)"
    )
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    report = run(args.quick, args.device)
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
