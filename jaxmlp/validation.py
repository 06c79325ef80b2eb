"""Checks at the public boundary: arguments are validated before anything is traced.

Shape and dtype checks work on tracers too (shapes are static); value checks
(finiteness, label range) run only on concrete arrays, so calling a public
function under ``jit`` costs no host synchronisation.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp.finiteness import check_all_finite, check_finite, is_concrete

if TYPE_CHECKING:
    from jaxmlp.architecture import Architecture

__all__ = [
    "check_positive_int",
    "check_callback",
    "check_learning_rate",
    "check_key",
    "check_keys",
    "as_array",
    "on_device",
    "check_params",
    "check_inputs",
    "check_batch",
    "check_like",
    "raise_not_finite",
    "as_batch",
]


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


def check_callback(callback) -> None:
    """A training callback is None or callable as ``callback(state, losses)``, else a TypeError."""
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(state, losses), got {callback!r}")


def check_positive_int(value, name: str, upper: int | None = None) -> int:
    """``value`` as an ``int`` if it is a positive integer (not a bool), at most ``upper``; else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be at most {upper}, got {value}")
    return int(value)


def check_learning_rate(value: Any, *, zero_ok: bool = False) -> None:
    """Refuse a learning rate that is not one real number (a Python number or a scalar array) or,
    when its value is known, not finite and > 0 (>= 0 with ``zero_ok``: a schedule's first step)."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        real = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        real = jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
    if not real or tuple(getattr(value, "shape", ())) != ():
        raise TypeError(f"learning_rate must be a number, got {value!r}")
    if is_concrete(value):
        rate = float(value)
        if not (math.isfinite(rate) and (rate >= 0 if zero_ok else rate > 0)):
            bound = ">= 0" if zero_ok else "> 0"
            raise ValueError(f"learning_rate must be a finite number {bound}, got {value!r}")


def _key_array(keys: Any) -> tuple[bool, tuple[int, ...] | None, str]:
    """``(typed, shape of the keys or None, what came)``: PRNG keys typed (their shape) or legacy
    ``uint32`` ones (a last axis of 2, the shape before it); None when neither."""
    dtype, shape = getattr(keys, "dtype", None), tuple(getattr(keys, "shape", ()))
    got = f"an array of shape {shape} and dtype {dtype}" if dtype is not None else repr(keys)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
        return True, shape, got
    if dtype == np.uint32 and shape[-1:] == (2,):
        return False, shape[:-1], got
    return False, None, got


def check_key(key: Any, name: str = "key") -> Any:
    """Return ``key`` if it is one PRNG key: a typed key of shape ``()`` (``jax.random.key(0)``) or
    a legacy ``uint32`` key of shape ``(2,)`` (``jax.random.PRNGKey(0)``); else raise, saying what came."""
    typed, shape, got = _key_array(key)
    if typed and shape != ():
        raise ValueError(
            f"{name} must be one PRNG key, got a key array of shape {shape} "
            f"(pass one of them, e.g. {name}[0])"
        )
    if shape != ():
        raise TypeError(f"{name} must be a PRNG key such as jax.random.key(0), got {got}")
    return key


def check_keys(keys: Any, name: str = "keys") -> Any:
    """Return ``keys`` if it is a row of ``N`` >= 1 PRNG keys: typed keys of shape ``(N,)``
    (``jax.random.split(jax.random.key(0), N)``) or legacy ``uint32`` keys ``(N, 2)``; else raise,
    saying what came."""
    _, shape, got = _key_array(keys)
    if shape is None or len(shape) != 1:
        raise TypeError(
            f"{name} must be N PRNG keys such as jax.random.split(jax.random.key(0), N), got {got}"
        )
    if shape[0] == 0:
        raise ValueError(f"{name} must hold at least one key, got none")
    return keys


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
    return jax.device_put(arr)  # jnp.asarray would compile a copy program for each new shape


def on_device(a: Any, dtype=None) -> jax.Array:
    """``jnp.asarray(a, dtype)`` for host data, converted on the host and transferred: no compiled
    conversion (``jnp.asarray`` compiles one per new shape and dtype, a few ms each at start-up).
    JAX arrays and tracers go through ``jnp.asarray``."""
    if isinstance(a, jax.Array):
        return jnp.asarray(a, dtype)
    arr = np.asarray(a, dtype)
    return jax.device_put(arr.astype(jax.dtypes.canonicalize_dtype(arr.dtype), copy=False))


def _is_floating(dtype) -> bool:
    return dtype.kind == "f" or jnp.issubdtype(dtype, jnp.floating)  # the latter for bfloat16


def _is_numeric(dtype) -> bool:
    return dtype.kind in "fiu" or jnp.issubdtype(dtype, jnp.floating)


@functools.lru_cache(maxsize=256)
def _expected_leaves(net: Architecture) -> tuple[set, list[list[tuple[str, tuple, str]]]]:
    """The keys of a layer and, per layer, ``(key, expected shape, name)`` of each leaf (cached)."""
    keys = {"w"} if net.bias == "none" else {"w", "b"}
    layout = []
    for i, (n_in, n_out) in enumerate(net.layer_shapes):
        expected = {"w": (n_out, n_in), "b": () if net.bias == "shared" else (n_out,)}
        layout.append([(k, expected[k], f"params[{i}][{k!r}]") for k in sorted(keys)])
    return keys, layout


def _param_leaves(net: Architecture, params: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """The structure, shape and dtype checks of :func:`check_params`: ``(dtype, [(name, leaf)])``."""
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
    keys, layout = _expected_leaves(net)
    dtypes, named = set(), []
    for i, (layer, leaves) in enumerate(zip(params, layout)):
        if not isinstance(layer, dict) or layer.keys() != keys:
            got = sorted(layer) if isinstance(layer, dict) else type(layer).__name__
            raise ValueError(
                f"params[{i}] must be a dict with keys {sorted(keys)} (bias={net.bias!r}), got {got}"
            )
        for k, expected, name in leaves:
            leaf = layer[k]
            shape = tuple(leaf.shape) if hasattr(leaf, "shape") else tuple(np.shape(leaf))
            if shape != expected:
                raise ValueError(
                    f"{name} must have shape {expected} for sizes {net.sizes} "
                    f"and bias={net.bias!r}, got {shape}"
                )
            dtype = getattr(leaf, "dtype", None)
            if dtype is None and _has_dtype(leaf):
                dtype = jnp.result_type(leaf)
            if dtype is None or not _is_floating(dtype):
                raise TypeError(f"{name} must be a floating-point array, got {_describe(leaf)}")
            dtypes.add(dtype)
            named.append((name, leaf))
    if len(dtypes) != 1:
        raise TypeError(
            f"all parameters must share one dtype, got {sorted(str(d) for d in dtypes)}"
        )
    return dtypes.pop(), named


def check_params(net: Architecture, params: Any) -> jnp.dtype:
    """Check a parameter pytree against ``net``; return its common floating dtype.

    Expected: a tuple (or list) with one dict per layer, ``{"w": (n_out, n_in),
    "b": ...}``, ``b`` of shape ``()`` for ``bias="shared"``, ``(n_out,)`` for
    ``"per_neuron"``, and no ``"b"`` for ``"none"``; all values finite.
    """
    dtype, named = _param_leaves(net, params)
    check_all_finite(named)
    return dtype


def _checked_x(net: Architecture, x: Any) -> jax.Array:
    x = as_array(x, "x")
    n_in = net.sizes[0]
    if x.ndim not in (1, 2) or x.shape[-1] != n_in:
        raise ValueError(
            f"x must have shape ({n_in},) or (batch, {n_in}) for sizes {net.sizes}, got {x.shape}"
        )
    if x.ndim == 2 and x.shape[0] == 0:
        raise ValueError("x must hold at least one example, got an empty batch")
    if not _is_numeric(x.dtype):
        raise TypeError(f"x must be a floating-point array, got dtype {x.dtype}")
    return x


def _checked_y(net: Architecture, x: jax.Array, y: Any) -> jax.Array:
    y = as_array(y, "y")
    n_out = net.sizes[-1]
    batch = x.shape[:-1]
    if net.loss_spec.integer_labels and y.dtype.kind in "iu":
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
    if not _is_numeric(y.dtype):
        raise TypeError(f"y must be a numeric array, got dtype {y.dtype}")
    return y


def _cast(a: jax.Array, dtype, integer_labels: bool = False) -> jax.Array:
    if a.dtype == dtype or (integer_labels and a.dtype.kind in "iu"):
        return a
    return a.astype(dtype)


def check_inputs(
    net: Architecture, params: Any, x: Any, *, finite: bool = True
) -> tuple[Any, jax.Array]:
    """Validate ``params`` and ``x`` (``(n_in,)`` or ``(batch, n_in)``), cast ``x`` to the params' dtype.

    ``finite=False`` leaves the values' finiteness to the caller (the methods of ``Architecture`` check
    it inside their compiled call and then call :func:`raise_not_finite`)."""
    dtype, named = _param_leaves(net, params)
    x = _checked_x(net, x)
    if finite:
        check_all_finite(named + [("x", x)])
    return params, _cast(x, dtype)


def check_batch(
    net: Architecture, params: Any, x: Any, y: Any, *, finite: bool = True
) -> tuple[Any, jax.Array, jax.Array]:
    """:func:`check_inputs` and the targets, with one finiteness check for all of them.

    ``y`` has shape ``x.shape[:-1] + (n_out,)``; with ``cross_entropy`` it may
    instead hold integer class labels of shape ``x.shape[:-1]`` in ``[0, n_out)``.
    ``x`` and float targets are cast to the parameters' dtype.
    """
    dtype, named = _param_leaves(net, params)
    x = _checked_x(net, x)
    y = _checked_y(net, x, y)
    if finite:
        check_all_finite(named + [("x", x), ("y", y)])
    return params, _cast(x, dtype), _cast(y, dtype, net.loss_spec.integer_labels)


def check_like(net: Architecture, params: Any, v: Any, name: str = "v") -> Any:
    """Check a direction ``v`` against ``params``: the same structure and leaf shapes, floating
    values, all finite; return it with every leaf in the parameters' dtype."""
    dtype, _ = _param_leaves(net, params)
    try:
        _, named = _param_leaves(net, v)
    except (TypeError, ValueError) as e:
        message = str(e).replace("params", name, 1).replace("all parameters", f"all of {name}")
        raise type(e)(message) from None
    check_all_finite([(n.replace("params", name, 1), leaf) for n, leaf in named])
    return jax.tree_util.tree_map(
        lambda a: jnp.asarray(a) if getattr(a, "dtype", None) == dtype else jnp.asarray(a, dtype), v
    )


def raise_not_finite(net: Architecture, params: Any, **arrays: Any) -> None:
    """Raise the error of :func:`check_all_finite` (naming the array and the first bad index)."""
    named = _param_leaves(net, params)[1] + list(arrays.items())
    for n, a in named:
        check_finite(a, n)


def as_batch(a: jax.Array, like: jax.Array | None = None) -> jax.Array:
    """Add a batch axis of 1 when ``like`` (default ``a``) is a single example."""
    like = a if like is None else like
    return a[None] if like.ndim == 1 else a
