"""What every workload of the benchmark shares: timing (medians, round-robin), the machine's description, the optional PyTorch peer, and the check that peers agree."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "median_time",
    "interleaved",
    "torch_or_none",
    "machine",
    "BenchmarkMismatch",
    "agree",
    "peers_agree",
    "x64_scope",
    "fresh_process",
]


def median_time(f: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls of ``f`` (after none: warm up yourself), and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def interleaved(
    runners: dict[Any, Callable[[], object]], repeats: int
) -> dict[Any, tuple[float, object, float]]:
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


class BenchmarkMismatch(RuntimeError):
    """A peer's result differs from the reference: its timing would compare different work."""


def agree(ok: bool, what: str, value, reference) -> None:
    """Raise :class:`BenchmarkMismatch` unless ``ok`` (a check that ``python -O`` keeps)."""
    if not ok:
        raise BenchmarkMismatch(f"{what}: {value!r} differs from the reference {reference!r}")


def peers_agree(rows: list[dict], reference: float, rtol: float, atol: float = 0.0) -> None:
    """:func:`agree` for every timed row's ``final_loss``: within ``atol + rtol * |reference|``."""
    for r in rows:
        if "final_loss" in r:
            ok = abs(r["final_loss"] - reference) <= atol + rtol * abs(reference)
            agree(ok, r["peer"], r["final_loss"], reference)


def x64_scope(enabled: bool = True):
    """A context in which JAX computes in float64, or with ``enabled=False`` in its default 32 bits
    (the caller's setting returns after it)."""
    import jax

    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(enabled)
    from jax.experimental import disable_x64, enable_x64  # type: ignore[attr-defined]  # older JAX

    return enable_x64() if enabled else disable_x64()


def fresh_process(module: str, *args: str, cache: str = "") -> dict:
    """``module.child()`` run as a new Python process with ``args`` (its ``sys.argv[1:]``) and
    ``$JAXMLP_CACHE_DIR`` set to ``cache`` (empty: no persistent compilation cache); the JSON of
    its last output line."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", f"from {module} import child; child()", *args],
        capture_output=True, text=True, check=True,
        env={**os.environ, "JAXMLP_CACHE_DIR": cache},
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])
