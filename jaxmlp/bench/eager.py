"""W7 of ``jaxmlp bench``: each public method of ``MLP`` called outside ``jit`` against the same pure function jitted."""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["w7"]


def w7(repeats: int, interleaved) -> list[dict]:
    """W7 rows: microseconds per call of each public method outside jit, and of the jitted pure function."""
    import jax
    import jax.numpy as jnp

    import jaxmlp
    from jaxmlp import backprop, forward, update

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
    cases: dict[str, tuple[Any, Any, Any]] = {}
    for name, fn in pure.items():
        single, batch = ((x,), (xb,)) if name in ("apply", "forward_trace") else ((x, y), (xb, yb))
        cases[name] = (
            functools.partial(getattr(net, name), params, *single),
            jax.jit(fn, static_argnums=0),  # type: ignore[call-overload]  # jit's stub overloads miss this
            (net, params, *batch),
        )
    cases["sgd_step"] = (  # validated, against the pure update jitted
        lambda: jaxmlp.sgd_step(params, params, 0.5),
        jax.jit(update.sgd_update),
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
