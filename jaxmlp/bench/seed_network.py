"""W1 of ``jaxmlp bench``: the seed network trained for 10,000 steps by jaxmlp (``fit`` at its defaults) and by its peers (pure Python, NumPy, PyTorch, a bare JAX loop)."""

from __future__ import annotations

import math
import time

import numpy as np

from jaxmlp.bench.common import agree, interleaved, median_time, peers_agree

__all__ = ["SEED_FINAL_LOSS", "seed_pure_python", "seed_numpy", "seed_torch", "bare_jax_seed", "w1"]

SEED_FINAL_LOSS = 3.5101877829788e-05


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
    import jax.numpy as jnp

    import jaxmlp

    net, params, x, y = jaxmlp.tutorial(jnp.float64)
    X, Y = x[None], y[None]
    rows = []
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
    rows.append(_w1_row(steps, "pure Python (lists, math.exp)", t, final))
    t, final = median_time(lambda: seed_numpy(steps), slow_repeats)
    rows.append(_w1_row(steps, "NumPy by hand", t, final))
    if torch is not None:
        t, final = _time_seed_torch(torch, steps, slow_repeats)
        rows.append(_w1_row(steps, "PyTorch eager (autograd + optim.SGD)", t, final))
    else:
        rows.append(
            {"workload": "W1 seed", "peer": "PyTorch eager", "note": "skipped: torch not installed"}
        )
    rows += _jax_rows(net, params, X, Y, x, y, steps, repeats)
    peers_agree(rows, reference, rtol=0.0, atol=1e-12 * max(1.0, abs(reference)) + 1e-15)
    return rows


def _w1_row(steps: int, peer: str, seconds: float, final, compile_s=None, note: str = "") -> dict:
    """One timed row of W1: a peer's seconds per 10,000 steps, ns per step, compile seconds and final E."""
    scale = 10_000 / steps
    return {
        "workload": "W1 seed",
        "peer": peer,
        "seconds_per_10k_steps": seconds * scale,
        "ns_per_step": seconds / steps * 1e9,
        "compile_seconds": compile_s,
        "final_loss": final,
        "note": note,
    }


def _time_seed_torch(torch, steps: int, slow_repeats: int) -> tuple[float, float]:
    """Times the PyTorch peer on at most 2,000 steps, scaled to ``steps``: ``(seconds, final E after all of them)``."""
    # eager PyTorch is slow: time 2,000 steps, check the loss on all of them
    torch_steps = min(steps, 2_000)
    t, _ = median_time(lambda: seed_torch(torch, torch_steps), slow_repeats)
    return t * steps / torch_steps, seed_torch(torch, steps)


def _jax_rows(net, params, X, Y, x, y, steps: int, repeats: int) -> list[dict]:
    """The JAX peers' rows (bare loop, ``fit`` per gradient and history), compiled, then timed round-robin."""
    loss, bare_compile_s, bare_runner = _bare_jax_runner(params, X, Y, steps)
    compile_s = {"bare": bare_compile_s}
    runners = {"bare": bare_runner}
    variants = {
        (grad, history): f"jaxmlp fit, {grad}" + ("" if history else ", history=False")
        for history in (True, False)
        for grad in ("autodiff", "backprop")
    }
    for (grad, history), name in variants.items():
        compile_s[name], runners[name] = _fit_runner(net, params, X, Y, steps, grad, history)
    # Round-robin, so drifts of the machine's speed hit every peer alike; a call takes under a
    # millisecond, so many rounds are cheap and steady the medians.
    timed = interleaved(runners, 25 * repeats)
    t, out, _ = timed.pop("bare")
    final = float(loss(out, X, Y))
    rows = [_w1_row(steps, "bare JAX (grad + scan, inline)", t, final, compile_s["bare"])]
    for (_, history), name in variants.items():
        t, out, _ = timed[name]
        rows.append(
            _w1_row(
                steps,
                name,
                t,
                float(net.loss_fn(out, x, y)),
                compile_s[name],
                "loss of every step recorded" if history else "loss per chunk only",
            )
        )
    return rows


def _bare_jax_runner(params, X, Y, steps: int):
    """The bare JAX peer (:func:`bare_jax_seed`), compiled ahead: ``(loss, compile seconds, runner)``."""
    import jax

    loss, train = bare_jax_seed(steps)
    p = {"w1": params[0]["w"], "b1": params[0]["b"], "w2": params[1]["w"], "b2": params[1]["b"]}
    t0 = time.perf_counter()
    compiled = train.lower(p, X, Y).compile()
    compile_s = time.perf_counter() - t0
    return loss, compile_s, lambda: jax.block_until_ready(compiled(p, X, Y))


def _fit_runner(net, params, X, Y, steps: int, grad: str, history: bool):
    """``jaxmlp.fit`` with ``grad`` and ``history``: ``(compile seconds from a cleared cache, runner)``."""
    import jax

    import jaxmlp

    runner = lambda: jax.block_until_ready(
        jaxmlp.fit(
            net, params, X, Y, steps=steps, learning_rate=0.5, grad=grad, history=history
        ).params
    )
    jaxmlp.training.loop.run_chunk.clear_cache()  # type: ignore[attr-defined]  # jit's stub lacks it
    t0 = time.perf_counter()
    runner()
    first = time.perf_counter() - t0
    return max(first - median_time(runner, 5)[0], 0.0), runner
