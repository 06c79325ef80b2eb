"""JAX's persistent compilation cache, as the CLI and the scikit-learn estimators use it."""

from __future__ import annotations

import os

__all__ = ["NOISY_LOADERS", "enable_compilation_cache"]

NOISY_LOADERS = ("0.10.1",)  # jaxlib versions that log errors for every cached program loaded


def enable_compilation_cache() -> None:
    """JAX's persistent compilation cache, so that a new process loads the programs an earlier
    one compiled (a command's run, an estimator's training loop) instead of compiling them again.

    In ``$JAXMLP_CACHE_DIR`` (default ``~/.cache/jaxmlp/xla``); set it empty to turn the cache
    off. A process that already chose a cache directory keeps its own. Not with jaxlib 0.10.1,
    whose loader of cached programs logs two lines of errors on stderr for each program it loads
    on some CPUs (AMD Zen: the compiler's tuning features are not among the host's); each
    process compiles its programs afresh there.
    """
    import jax
    import jaxlib

    if jaxlib.__version__ in NOISY_LOADERS:
        return

    path = os.environ.get(
        "JAXMLP_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "jaxmlp", "xla")
    )
    # JAX declares its flags at run time, so a type checker does not see this one
    if not path or jax.config.jax_compilation_cache_dir is not None:  # type: ignore[attr-defined]
        return
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
