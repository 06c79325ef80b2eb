"""Checks at the public boundary: arguments are validated before anything is traced.

Shape and dtype checks work on tracers too (shapes are static); value checks
(finiteness, label range) run only on concrete arrays, so calling a public
function under ``jit`` costs no host synchronisation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

if TYPE_CHECKING:
    from jaxmlp.config import MLP


def is_concrete(a: Any) -> bool:
    """True when ``a`` holds values now (not a tracer inside jit, vmap or grad)."""
    return not isinstance(a, jax.core.Tracer)


def _describe(a: Any) -> str:
    return f"shape {tuple(np.shape(a))} and dtype {jnp.result_type(a) if _has_dtype(a) else type(a).__name__}"


def _has_dtype(a: Any) -> bool:
    if hasattr(a, "dtype"):
        return True
    try:
        jnp.result_type(a)
        return True
    except Exception:
        return False


def _dtype(a: Any):
    return a.dtype if hasattr(a, "dtype") else jnp.result_type(a)


def check_finite(a: Any, name: str) -> None:
    """Raise ``ValueError`` if concrete ``a`` holds NaN or infinity."""
    if is_concrete(a):
        arr = np.asarray(a)
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))
            where = tuple(int(i) for i in bad[0]) if bad.size else ()
            raise ValueError(
                f"{name} must be finite, but {len(bad)} value(s) are NaN or infinite "
                f"(first at index {where}: {arr[where] if where else arr})"
            )


def as_array(a: Any, name: str) -> jax.Array:
    """``jnp.asarray(a)`` with a message naming the argument when that fails."""
    if isinstance(a, jax.Array):
        return a
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged lists and the like
        raise TypeError(
            f"{name} must be an array of numbers, got {type(a).__name__}: {e}"
        ) from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of numbers, got an array of dtype {arr.dtype}")
    return jnp.asarray(arr)


def check_params(net: MLP, params: Any) -> jnp.dtype:
    """Check a parameter pytree against ``net``; return its common floating dtype.

    Expected: a tuple (or list) with one dict per layer, ``{"w": (n_out, n_in),
    "b": ...}``, ``b`` of shape ``()`` for ``bias="shared"``, ``(n_out,)`` for
    ``"per_neuron"``, and no ``"b"`` for ``"none"``.
    """
    n_layers = len(net.sizes) - 1
    if not isinstance(params, (tuple, list)):
        raise TypeError(
            f"params must be a tuple of {n_layers} per-layer dicts for sizes {net.sizes}, "
            f"got {type(params).__name__}"
        )
    if len(params) != n_layers:
        raise ValueError(
            f"params has {len(params)} layer(s) but sizes {net.sizes} needs {n_layers}"
        )
    keys = {"w"} if net.bias == "none" else {"w", "b"}
    dtypes = set()
    for i, (layer, (n_in, n_out)) in enumerate(zip(params, net.layer_shapes)):
        if not isinstance(layer, dict) or set(layer) != keys:
            got = sorted(layer) if isinstance(layer, dict) else type(layer).__name__
            raise ValueError(
                f"params[{i}] must be a dict with keys {sorted(keys)} (bias={net.bias!r}), got {got}"
            )
        expected = {"w": (n_out, n_in), "b": () if net.bias == "shared" else (n_out,)}
        for k in sorted(keys):
            leaf = layer[k]
            shape = tuple(leaf.shape) if hasattr(leaf, "shape") else tuple(np.shape(leaf))
            if shape != expected[k]:
                raise ValueError(
                    f"params[{i}][{k!r}] must have shape {expected[k]} for sizes {net.sizes} "
                    f"and bias={net.bias!r}, got {shape}"
                )
            if not _has_dtype(leaf) or not jnp.issubdtype(_dtype(leaf), jnp.floating):
                raise TypeError(
                    f"params[{i}][{k!r}] must be a floating-point array, got {_describe(leaf)}"
                )
            dtypes.add(_dtype(leaf))
            check_finite(leaf, f"params[{i}][{k!r}]")
    if len(dtypes) != 1:
        raise TypeError(
            f"all parameters must share one dtype, got {sorted(str(d) for d in dtypes)}"
        )
    return dtypes.pop()


def check_inputs(net: MLP, params: Any, x: Any) -> tuple[Any, jax.Array]:
    """Validate ``params`` and ``x`` (``(n_in,)`` or ``(batch, n_in)``), cast ``x`` to the params' dtype."""
    dtype = check_params(net, params)
    x = as_array(x, "x")
    n_in = net.sizes[0]
    if x.ndim not in (1, 2) or x.shape[-1] != n_in:
        raise ValueError(
            f"x must have shape ({n_in},) or (batch, {n_in}) for sizes {net.sizes}, got {x.shape}"
        )
    if x.ndim == 2 and x.shape[0] == 0:
        raise ValueError("x must hold at least one example, got an empty batch")
    if not jnp.issubdtype(x.dtype, jnp.floating) and not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"x must be a floating-point array, got dtype {x.dtype}")
    check_finite(x, "x")
    return params, x if x.dtype == dtype else x.astype(dtype)


def check_targets(net: MLP, x: jax.Array, y: Any) -> jax.Array:
    """Validate targets ``y`` against a validated ``x`` and the configuration's loss.

    ``y`` has shape ``x.shape[:-1] + (n_out,)``; with ``cross_entropy`` it may
    instead hold integer class labels of shape ``x.shape[:-1]`` in ``[0, n_out)``.
    """
    y = as_array(y, "y")
    n_out = net.sizes[-1]
    batch = x.shape[:-1]
    if net.loss_spec.integer_labels and jnp.issubdtype(y.dtype, jnp.integer):
        if y.shape != batch:
            raise ValueError(
                f"integer labels y must have shape {batch} to match x of shape {x.shape}, got {y.shape}"
            )
        if is_concrete(y):
            arr = np.asarray(y)
            if arr.size and (arr.min() < 0 or arr.max() >= n_out):
                raise ValueError(
                    f"labels y must lie in [0, {n_out}) for {n_out} outputs, "
                    f"got values from {arr.min()} to {arr.max()}"
                )
        return y
    if y.shape != batch + (n_out,):
        labels = " or integer labels of shape " + str(batch) if net.loss_spec.integer_labels else ""
        raise ValueError(
            f"y must have shape {batch + (n_out,)}{labels} to match x of shape {x.shape} "
            f"and {n_out} outputs, got {y.shape}"
        )
    if not (jnp.issubdtype(y.dtype, jnp.floating) or jnp.issubdtype(y.dtype, jnp.integer)):
        raise TypeError(f"y must be a numeric array, got dtype {y.dtype}")
    check_finite(y, "y")
    return y if y.dtype == x.dtype else y.astype(x.dtype)
