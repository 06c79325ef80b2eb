"""W5 of ``jaxmlp bench``: microseconds per step of ``fit(batch_size=128)`` at n = 4,000 / 40,000 / 400,000, against a bare JAX + optax loop with per-epoch shuffling and PyTorch."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["W5_SIZES", "w5", "TORCH"]

W5_SIZES = (4_000, 40_000, 400_000)


def w5(repeats: int, quick: bool, torch) -> list[dict]:
    """W5 rows: us per step against the data-set size, per peer; every size and peer timed
    round-robin in one loop (:func:`~jaxmlp.bench.common.interleaved`), so a slow stretch of the
    machine hits them alike."""
    import jax

    from jaxmlp.bench.common import interleaved

    steps, batch = (300 if quick else 3_000), 128
    sizes = W5_SIZES[:2] if quick else W5_SIZES
    runners: dict[Any, Any] = {}
    per_step: dict[Any, int] = {}
    for n in sizes:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, 40)).astype(np.float32)
        y = rng.integers(0, 2, n).astype(np.int32)
        ours, bare, bare_steps = _peers(n, jax.device_put(x), jax.device_put(y), steps, batch)
        runners[(n, OURS)], per_step[(n, OURS)] = ours, steps
        runners[(n, BARE)], per_step[(n, BARE)] = bare, bare_steps
        if torch is not None:
            runners[(n, TORCH)], per_step[(n, TORCH)] = _torch_run(torch, x, y, steps, batch), steps
    timed = interleaved(runners, repeats)
    rows = []
    for n in sizes:
        rows += [
            _w5_row(n, peer, timed[(n, peer)][0] / per_step[(n, peer)])
            for peer in (OURS, BARE, TORCH)
            if (n, peer) in timed
        ]
        if torch is None:
            rows.append(
                {
                    "workload": "W5 minibatch scaling",
                    "peer": "PyTorch",
                    "n": n,
                    "note": "skipped: torch not installed",
                }
            )
    return rows


OURS, BARE = "jaxmlp fit (defaults, batch_size=128)", "bare JAX + optax, per-epoch shuffle"
TORCH = "PyTorch (randperm per epoch, index slices)"


def _peers(n: int, xj, yj, steps: int, batch: int):
    """``(ours, bare, bare_steps)``: ``fit(batch_size=128)`` as a user calls it, and the bare JAX +
    optax loop with a per-epoch ``permutation`` (whole epochs: ``bare_steps`` >= ``steps``)."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxmlp
    from jaxmlp import forward

    net = jaxmlp.MLP((40, 64, 2), "tanh", "softmax", "cross_entropy")
    params = net.init(jax.random.key(0), jnp.float32)
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
    return ours, lambda: jax.block_until_ready(bare(params, xj, yj, key)), bare_steps


def _w5_row(n: int, peer: str, seconds_per_step: float) -> dict:
    return {
        "workload": "W5 minibatch scaling",
        "peer": peer,
        "n": n,
        "us_per_step": seconds_per_step * 1e6,
        "note": "",
    }


def _torch_run(torch, x, y, steps: int, batch: int):
    """One PyTorch training run of ``steps`` steps (a new model each time), as a function."""
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

    return run
