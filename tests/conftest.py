"""Test-session settings, set once before any test runs.

float64 for the seed's nine digits (float32 paths cast explicitly and state
their tolerances); rank promotion and dtype promotion are strict, so a silent
broadcast or an accidental upcast fails loudly (as in equinox's tests).
"""

import os

import jax

# The CLI's persistent compilation cache stays off in tests (in-process and in subprocesses).
os.environ["JAXMLP_CACHE_DIR"] = ""

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")
