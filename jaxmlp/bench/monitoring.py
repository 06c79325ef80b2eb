"""W12 of ``jaxmlp bench``: what :class:`jaxmlp.Monitor` costs, against what it computes.

The digits network and settings of ``jaxmlp train digits`` (64-256-10 ReLU, softmax, adam at
1e-3, batches of 64, float32), ``steps`` steps, three peers timed round-robin on the same start:
unmonitored, the cheap records alone (``Monitor(every=100, sharpness=False)``: loss, gradient
norms, update ratios, dead and saturated units on the whole training set) and with the sharpness
(``Monitor(every=100)``). The sharpness run's budget is the unmonitored run plus the Hessian-vector
products its records asked for (the sum of their Lanczos iterations), each product timed alone
(in a compiled loop of products, so dispatch does not count; the R-operator by hand on the whole
training set, as the monitor takes it). Every monitored run's parameters must equal the
unmonitored run's bit for bit, else the benchmark raises.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from jaxmlp.bench.common import agree

__all__ = ["EVERY", "w12", "ratios"]

EVERY = 100


def w12(repeats: int, quick: bool, interleaved) -> list[dict]:
    """W12 rows: seconds of each peer, and each monitored peer's cost against its budget."""
    import jax
    import jax.numpy as jnp

    import jaxmlp
    from jaxmlp.bench.second_order import _loops
    from jaxmlp.io import builtin

    ds = builtin.load("digits")
    d = ds.defaults
    net = jaxmlp.MLP(
        d["sizes"], d["activation"], d["output_activation"], d["loss"], d["bias"], d["train_bias"]
    )
    x = jnp.asarray(ds.x_train, jnp.float32)
    y = jnp.asarray(ds.y_train)
    params = net.init(jax.random.key(0), jnp.float32)
    steps = 400 if quick else 2_000
    kw = dict(
        steps=steps,
        learning_rate=d["learning_rate"],
        optimizer=d["optimizer"],
        batch_size=d["batch_size"],
        key=jax.random.key(1),
    )
    monitors = {
        "jaxmlp fit, unmonitored": None,
        "jaxmlp fit, Monitor(every=100, sharpness=False)": jaxmlp.Monitor(EVERY, sharpness=False),
        "jaxmlp fit, Monitor(every=100)": jaxmlp.Monitor(EVERY),
    }

    def run(monitor):
        r = jaxmlp.fit(net, params, x, y, monitor=monitor, **kw)
        jax.block_until_ready(r.params)
        return r

    runners: dict[str, Any] = {k: functools.partial(run, m) for k, m in monitors.items()}
    products = 20
    loop = _loops(net, x, y, products)[0]["hand"]
    v = jax.tree_util.tree_map(lambda a: jnp.ones_like(a) / np.sqrt(a.size), params)
    runners["hvp"] = lambda: jax.block_until_ready(loop(params, v))
    timed = interleaved(runners, repeats)
    plain_seconds, plain = timed["jaxmlp fit, unmonitored"][:2]
    hvp_seconds = timed["hvp"][0] / products
    rows = []
    for peer, monitor in monitors.items():
        seconds, result = timed[peer][:2]
        row = {"workload": "W12 training monitor", "peer": peer, "seconds": seconds}
        if monitor is not None:
            row |= _against_budget(peer, seconds, result, plain, plain_seconds, hvp_seconds)
        rows.append(row | {"note": f"digits 64-256-10, adam, batch 64, {steps:,} steps, float32"})
    rows.append(
        {
            "workload": "W12 training monitor",
            "peer": "one Hessian-vector product on the training set, alone",
            "seconds": hvp_seconds,
            "note": f"{products} products per compiled loop (R-operator by hand, {x.shape[0]:,} examples)",
        }
    )
    return rows


def _against_budget(
    peer: str, seconds: float, result, plain, plain_seconds: float, hvp_seconds: float
) -> dict:
    """A monitored run's records, products and cost against its budget (its parameters checked equal to the unmonitored run's)."""
    import jax
    import jax.numpy as jnp

    same = all(
        bool(jnp.array_equal(a, b))
        for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(result.params))
    )
    agree(same, f"W12 {peer}: parameters equal the unmonitored run's", same, True)
    records = result.monitor
    products_asked = int(np.sum(records.iterations))
    budget = plain_seconds + products_asked * hvp_seconds
    return {
        "records": len(records.step),
        "hvps": products_asked,
        "budget_seconds": budget,
        "vs_budget": seconds / budget,
        "vs_unmonitored": seconds / plain_seconds,
    }


def ratios(rows: list[dict]) -> str:
    """The sentence under W12's table: each monitored run against its budget."""
    parts = [
        f"{r['peer'].removeprefix('jaxmlp fit, ')}: {r['vs_unmonitored']:.2f}x the unmonitored run, "
        f"{r['vs_budget']:.2f}x its budget ({r['records']} records, {r['hvps']} products)"
        for r in rows
        if "vs_budget" in r
    ]
    return "; ".join(parts) + "." if parts else ""
