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

    compile_s: dict[str, float | None] = {}
    runners: dict[str, Callable[[], object]] = {}
    final: dict[str, Callable[[object], float]] = {}
    name = "bare JAX (grad + scan, inline)"
    compile_s[name], runners[name], final[name] = _bare_jax_peer(params, x, labels, steps)
    for grad in ("autodiff", "backprop"):
        name = f"jaxmlp fit, {grad}"
        compile_s[name], runners[name], final[name] = _fit_peer(net, params, x, labels, steps, grad)
    if torch is not None:
        torch_name, train_torch, final[torch_name] = _torch_peer(
            torch, device, params, x, labels, steps
        )
    # The JAX peers and a 2048 x 2048 JAX product, round-robin, so that the peak (the fastest product
    # seen in this run) and the peers see the same conditions: this machine's speed drifts between
    # runs. PyTorch runs after them: its OpenMP threads keep spinning after each call and would slow
    # whatever runs next.
    timed, matmul_gflops = _round_robin_with_matmul(runners, repeats, rng)
    peak["jax"] = max(peak["jax"], matmul_gflops)
    if torch is not None:
        timed |= interleaved({torch_name: train_torch}, repeats)
    rows = _w2_rows(batch, flops, peak["jax"], timed, compile_s, final)
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


def _bare_jax_peer(
    params, x, labels, steps: int
) -> tuple[float, Callable[[], object], Callable[[object], float]]:
    """The bare JAX peer (grad + scan, inline), compiled ahead: ``(compile seconds, runner, final loss of its output)``."""
    import jax
    import jax.numpy as jnp

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

    t0 = time.perf_counter()
    compiled = bare.lower(params, x, labels).compile()
    compile_s = time.perf_counter() - t0
    return (
        compile_s,
        lambda: jax.block_until_ready(compiled(params, x, labels)),
        lambda out: float(loss(out, x, labels)),
    )


def _fit_peer(
    net, params, x, labels, steps: int, grad: str
) -> tuple[float, Callable[[], object], Callable[[object], float]]:
    """``jaxmlp.fit`` with ``grad``, run once: ``(first run's seconds, runner, final loss of its output)``."""
    import jax

    import jaxmlp

    run = lambda: jax.block_until_ready(
        jaxmlp.fit(net, params, x, labels, steps=steps, learning_rate=0.1, grad=grad).params
    )
    t0 = time.perf_counter()
    run()
    compile_s = time.perf_counter() - t0  # less one run's time, in _w2_rows
    return compile_s, run, lambda out: float(net.loss_fn(out, x, labels))


def _torch_peer(
    torch, device: str, params, x, labels, steps: int
) -> tuple[str, Callable[[], object], Callable[[object], float]]:
    """The PyTorch eager peer on a copy of the data: ``(peer name, runner, final loss of its output)``."""
    dev = "cuda" if device == "gpu" and torch.cuda.is_available() else "cpu"
    tp = [
        {k: torch.tensor(np.asarray(v), device=dev) for k, v in layer.items()} for layer in params
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

    return torch_name, train_torch, torch_final


def _round_robin_with_matmul(
    runners: dict[str, Callable[[], object]], repeats: int, rng: np.random.Generator
) -> tuple[dict[str, tuple[float, object, float]], float]:
    """The JAX peers timed round-robin with a 2048 x 2048 JAX product: ``(timed, the product's best GFLOP/s)``."""
    import jax
    import jax.numpy as jnp

    a = jnp.asarray(rng.standard_normal((2048, 2048), np.float32))
    mm = jax.jit(jnp.matmul)
    mm_times: list[float] = []

    def matmul():
        t = time.perf_counter()
        jax.block_until_ready(mm(a, a))
        mm_times.append(time.perf_counter() - t)

    timed = interleaved({**runners, "_matmul": matmul}, repeats)
    timed.pop("_matmul")
    return timed, 2 * 2048**3 / min(mm_times) / 1e9


def _w2_rows(
    batch: int,
    flops: int,
    peak: float,
    timed: dict[str, tuple[float, object, float]],
    compile_s: dict[str, float | None],
    final: dict[str, Callable[[object], float]],
) -> list[dict]:
    """One row per timed peer: seconds, GFLOP/s, share of JAX's matmul ``peak``, compile seconds, final loss."""
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
                "pct_of_jax_matmul_peak": 100 * flops / best / 1e9 / peak,
                "compile_seconds": None
                if c is None
                else (c if name.startswith("bare") else max(c - t, 0.0)),
                "final_loss": final[name](out),
                "note": "",
            }
        )
    return rows
