"""The process a command runs in: the persistent compilation cache, float64 on request, and standard output kept for results."""

from __future__ import annotations

import os
import sys

_RESULTS = None  # where results go when the process's stdout was handed to native libraries


def enable_compilation_cache() -> None:
    """JAX's persistent compilation cache, so a second run of a command skips XLA compilation.

    In ``$JAXMLP_CACHE_DIR`` (default ``~/.cache/jaxmlp/xla``); set it empty to turn the cache off.
    """
    path = os.environ.get(
        "JAXMLP_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "jaxmlp", "xla")
    )
    if not path:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def enable_x64() -> None:
    """float64 for the commands that ask for it, before any array exists."""
    import jax

    jax.config.update("jax_enable_x64", True)


def emit(text: str) -> None:
    """Print ``text`` to stdout with one trailing newline, flushed."""
    out = _RESULTS or sys.stdout
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()


def keep_stdout_for_results() -> None:
    """Point file descriptor 1 at stderr, keeping the real stdout for :func:`emit` alone.

    gloo's C++ side prints "[Gloo] Rank k is connected ..." to stdout in
    multi-process runs; without this, ``--json`` output would not parse.
    """
    global _RESULTS
    if _RESULTS is None:
        sys.stdout.flush()
        _RESULTS = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
