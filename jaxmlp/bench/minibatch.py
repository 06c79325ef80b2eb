"""W5 of ``jaxmlp bench``: microseconds per step of ``fit(batch_size=128)`` at n = 4,000 / 40,000 / 400,000, against a bare JAX + optax loop with per-epoch shuffling and PyTorch."""

from __future__ import annotations

import time

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
