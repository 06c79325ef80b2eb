"""Parameter pytrees: initialisation and shape bookkeeping.

Parameters are a tuple with one dict per layer, ``{"w": (n_out, n_in), "b": b}``
where ``b`` has shape ``()`` for a shared bias, ``(n_out,)`` per neuron, and is
absent for ``bias="none"``. Weights are applied as ``out_prev @ W^T``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from jaxmlp import programs
from jaxmlp.validation import check_key, check_keys

if TYPE_CHECKING:
    from jaxmlp.architecture import Architecture

__all__ = ["check_dtype", "init", "init_stacked", "ONCE"]


def check_dtype(dtype) -> jnp.dtype:
    """Return ``dtype`` as a floating dtype JAX will really use, or raise.

    float64 needs ``jax.config.update("jax_enable_x64", True)`` (or the
    environment variable ``JAX_ENABLE_X64=1``) before any array is created;
    without it JAX would silently hand back float32.
    """
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a floating dtype such as float32, got {dtype!r}") from None
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"dtype must be a floating dtype such as float32, got {dt}")
    if dt.itemsize == 8 and not jax.config.read("jax_enable_x64"):
        raise ValueError(
            "dtype float64 needs x64 mode: call jax.config.update('jax_enable_x64', True) "
            "at start-up or set JAX_ENABLE_X64=1"
        )
    return dt


def init(net: Architecture, key: jax.Array, dtype=jnp.float32) -> tuple[dict, ...]:
    r"""Random initial parameters, biases zero.

    Weights of a layer with fan-in ``n_in`` and fan-out ``n_out`` are drawn as

    * Glorot (Xavier) uniform for ``logistic``, ``tanh``, ``identity``:
      :math:`W \sim U(-a, a),\ a = \sqrt{6 / (n_{in} + n_{out})}`;
    * He normal for the ReLU family (``relu``, ``leaky_relu``, ``softplus``):
      :math:`W \sim \mathcal{N}(0, 2 / n_{in})`.

    The hidden activation picks the rule for every layer but the last, the
    output activation for the last (softmax counts as Glorot).

    Args:
      key: a ``jax.random`` key; one sub-key per layer is split from it.
      dtype: floating dtype of every leaf.
    """
    return _init(net, check_key(key), check_dtype(dtype))


# A program that runs once per network is compiled for a short compilation: LLVM's level 1 and
# XLA's older loop emitters compile a large network's draw (each random draw is a large program)
# several times faster and draw the same numbers (tested to a few ulps: two programs). In a training loop the same options make
# each step slower, so they are used here only (`jaxmlp bench` times a first fit, compilation included).
ONCE = {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False}


def init_stacked(net: Architecture, keys: jax.Array, dtype=jnp.float32) -> tuple[dict, ...]:
    r"""The initial parameters of ``N`` networks, :func:`init` for each key of ``keys`` (``(N,)``
    typed keys, or ``(N, 2)`` legacy ``uint32`` keys), stacked on a leading axis: every leaf
    ``(N, ...)``, member :math:`m`'s :math:`W_l` drawn from ``keys[m]`` as :func:`init` draws it.

    One compiled draw for all of them, with :func:`init`'s short compilation (``jax.vmap`` of
    :func:`init` compiles the batched draw with the training loop's options: several times
    longer, the same numbers)."""
    return _init_stacked(net, check_keys(keys), check_dtype(dtype))


@functools.partial(programs.jit, static_argnums=(0, 2), compiler_options=ONCE)
def _init(net: Architecture, key: jax.Array, dtype) -> tuple[dict, ...]:
    """:func:`init` as one compiled program per configuration and dtype (drawn op by op, the
    draws of a three-layer network compiled a dozen small programs, about a second)."""
    keys = jax.random.split(key, len(net.layer_shapes))
    params = []
    for i, ((n_in, n_out), k) in enumerate(zip(net.layer_shapes, keys)):
        act = net.output_activation_spec if i == len(keys) - 1 else net.activation_spec
        if act.relu_family:
            w = _unfused(jax.random.normal(k, (n_out, n_in), dtype)) * jnp.sqrt(2.0 / n_in).astype(
                dtype
            )
        else:
            a = jnp.sqrt(6.0 / (n_in + n_out)).astype(dtype)
            w = jax.random.uniform(k, (n_out, n_in), dtype, -a, a)
        layer = {"w": w}
        if net.bias == "shared":
            layer["b"] = jnp.zeros((), dtype)
        elif net.bias == "per_neuron":
            layer["b"] = jnp.zeros((n_out,), dtype)
        params.append(layer)
    return tuple(params)


@functools.partial(programs.jit, static_argnums=(0, 2), compiler_options=ONCE)
def _init_stacked(net: Architecture, keys: jax.Array, dtype) -> tuple[dict, ...]:
    return jax.vmap(lambda key: _init.__wrapped__(net, key, dtype))(keys)


def _unfused(a: jax.Array) -> jax.Array:
    """``a``, kept out of the fusion with what follows, so the compiled draw rounds exactly as the
    op-by-op one did (fused, the scaling of a normal draw moved some weights by one ulp)."""
    return jax.lax.optimization_barrier(a)
