"""The process a command runs in: float64 on request, and standard output kept for results
(the persistent compilation cache: :mod:`jaxmlp.compilation_cache`)."""

from __future__ import annotations

import os
import sys

__all__ = ["enable_x64", "emit", "results_stream", "keep_stdout_for_results"]

_RESULTS = None  # where results go when the process's stdout was handed to native libraries


def enable_x64() -> None:
    """float64 for the commands that ask for it, before any array exists."""
    import jax

    jax.config.update("jax_enable_x64", True)


def emit(text: str) -> None:
    """Print ``text`` to stdout with one trailing newline, flushed."""
    out = results_stream()
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()


def results_stream():
    """Where :func:`emit` writes (stdout, or the stdout kept for results)."""
    return _RESULTS or sys.stdout


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
