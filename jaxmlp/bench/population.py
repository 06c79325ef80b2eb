"""W3 and W4 of ``jaxmlp bench``: thousands of tiny networks trained at once (``sweep``) against the peers, and the start-up of the whole ``jaxmlp reproduce`` process."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import numpy as np

from jaxmlp.bench.common import median_time, peers_agree

__all__ = ["W3_CHILD", "population_params", "w3", "w4"]

W3_CHILD = """
import json, sys, numpy as np, jax, jax.numpy as jnp, jaxmlp
from jaxmlp.training import population
from jaxmlp.bench.population import population_params
n, steps, repeats, devices = map(int, sys.argv[1:5])
p = population_params(n)
x, t = np.array([[0.05, 0.10]], np.float32), np.array([[0.01, 0.99]], np.float32)
stacked = tuple({"w": jnp.asarray(p[k]), "b": jnp.full((n,), b, jnp.float32)} for k, b in (("w1", 0.35), ("w2", 0.60)))
run = lambda: population.sweep(jaxmlp.tutorial()[0], x, t, learning_rates=[0.5], seeds=np.arange(n), params=stacked,
                               steps=steps, devices=devices)
run()
rs = [run() for _ in range(repeats)]
print(json.dumps([float(np.median([r.seconds for r in rs])), float(np.mean(rs[-1].final_loss))]))
"""


def population_params(n: int) -> dict[str, np.ndarray]:
    """The seed's weights plus 0.1 x normal noise (seed 0), per network: w1 (n, 2, 2), w2 (n, 2, 2)."""
    rng = np.random.default_rng(0)
    w1 = np.array([[0.15, 0.20], [0.25, 0.30]]) + 0.1 * rng.standard_normal((n, 2, 2))
    w2 = np.array([[0.40, 0.45], [0.50, 0.55]]) + 0.1 * rng.standard_normal((n, 2, 2))
    return {"w1": w1.astype(np.float32), "w2": w2.astype(np.float32)}


def w3(n: int, steps: int, repeats: int, torch, device: str) -> list[dict]:
    """W3, a population of perturbed seed networks: net-steps per second per peer."""
    p = population_params(n)
    x, t = np.array([0.05, 0.10], np.float32), np.array([0.01, 0.99], np.float32)
    rows = []
    slow = max(1, repeats // 5)
    if device == "cpu":
        t_np, final = median_time(lambda: _numpy_population(p, x, t, steps), slow)
        rows.append(_w3_row(n, steps, "NumPy batched einsum, by hand", t_np, final))
    if torch is not None:
        t_torch, final = _time_torch_population(torch, device, p, x, t, steps, slow)
        rows.append(_w3_row(n, steps, "PyTorch batched (bmm, autograd)", t_torch, final))
    else:
        rows.append(
            {
                "workload": f"W3 population ({n:,} nets)",
                "peer": "PyTorch batched",
                "note": "skipped: torch not installed",
            }
        )
    tb, final = _time_bare_jax_population(p, x, t, steps, repeats)
    rows.append(_w3_row(n, steps, "bare JAX (vmap + scan, inline)", tb, final))
    rows += _sweep_rows(p, x, t, n, steps, repeats)
    if device == "cpu" and (os.cpu_count() or 1) > 1:
        rows.append(_sweep_over_cores_row(n, steps, repeats))
    peers_agree(rows, rows[-1]["final_loss"], rtol=1e-4)
    return rows


def _w3_row(n: int, steps: int, peer: str, seconds: float, final, note: str = "") -> dict:
    """One timed row of W3: a peer's seconds, net-steps per second and mean final loss."""
    return {
        "workload": f"W3 population ({n:,} nets)",
        "peer": peer,
        "seconds": seconds,
        "net_steps_per_second": n * steps / seconds,
        "final_loss": final,
        "note": note,
    }


def _numpy_population(p: dict[str, np.ndarray], x: np.ndarray, t: np.ndarray, steps: int) -> float:
    """The NumPy peer, one timed call: ``steps`` batched einsum steps by hand; the mean final loss."""
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


def _time_torch_population(
    torch,
    device: str,
    p: dict[str, np.ndarray],
    x: np.ndarray,
    t: np.ndarray,
    steps: int,
    slow: int,
) -> tuple[float, object]:
    """Times the PyTorch peer (batched bmm, autograd) after one warm-up call: ``(seconds, final_loss)``."""
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
    return median_time(torch_batched, slow)


def _time_bare_jax_population(
    p: dict[str, np.ndarray], x: np.ndarray, t: np.ndarray, steps: int, repeats: int
) -> tuple[float, float]:
    """Times the bare JAX peer (vmap + scan, inline) after one warm-up call: ``(seconds, final_loss)``."""
    import jax
    import jax.numpy as jnp

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
    return tb, float(jnp.mean(jax.vmap(loss, (0, None, None))(out, jx, jt)))


def _sweep_rows(
    p: dict[str, np.ndarray], x: np.ndarray, t: np.ndarray, n: int, steps: int, repeats: int
) -> list[dict]:
    """The rows of ``jaxmlp sweep`` in its own layout and in ``layout="vmap"``, each after one warm-up call."""
    import jax.numpy as jnp

    import jaxmlp
    from jaxmlp.training import population

    net = jaxmlp.tutorial()[0]
    stacked = tuple(
        {"w": jnp.asarray(p[k]), "b": jnp.full((n,), b, jnp.float32)}
        for k, b in (("w1", 0.35), ("w2", 0.60))
    )
    rows = []
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
        rows.append(
            _w3_row(
                n,
                steps,
                peer,
                float(np.median([r.seconds for r in results])),
                float(np.mean(results[-1].final_loss)),
                f"{results[-1].layout} layout; loop time (setup and final losses excluded)",
            )
        )
    return rows


def _sweep_over_cores_row(n: int, steps: int, repeats: int) -> dict:
    """The row of ``jaxmlp sweep`` split over one CPU device per core, timed in a child process (:data:`W3_CHILD`)."""
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
    return _w3_row(
        n,
        steps,
        f"jaxmlp sweep, devices={cores}",
        seconds,
        final,
        f"population split over {cores} CPU devices, one per core (a child process)",
    )


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
