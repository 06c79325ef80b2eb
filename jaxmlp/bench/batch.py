"""W2 of ``jaxmlp bench``: a wide network on full batches, against the machine's matrix-multiply peak and the peers."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from jaxmlp.bench.common import interleaved, median_time, peers_agree

__all__ = ["matmul_peak", "w2"]


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
    # float32, 100 steps: the peers sum in different orders; agreement to 1e-4 relative.
    peers_agree(rows, rows[0]["final_loss"], rtol=1e-4)
    return rows, peak
