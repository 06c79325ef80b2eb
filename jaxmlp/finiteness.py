"""Finiteness checks: of concrete arrays on the host at the public boundary (each JAX array once),
and of pytrees inside compiled code (one flag to fetch)."""

from __future__ import annotations

import weakref
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["is_concrete", "check_finite", "FINITE_KEPT", "check_all_finite", "all_finite"]


def is_concrete(a: Any) -> bool:
    """True when ``a`` holds values now (not a tracer inside jit, vmap or grad)."""
    return not isinstance(a, jax.core.Tracer)


_CONCATENATED = 1 << 16  # arrays up to this size are checked together, larger ones by their sum


def check_finite(a: Any, name: str) -> None:
    """Raise ``ValueError`` if concrete ``a`` holds NaN or infinity."""
    if is_concrete(a):
        arr = np.asarray(a)
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            _raise_not_finite(arr, name)


def _raise_not_finite(arr: np.ndarray, name: str) -> None:
    bad = np.argwhere(~np.isfinite(arr))
    where = tuple(int(i) for i in bad[0]) if bad.size else ()
    raise ValueError(
        f"{name} must be finite, but {len(bad)} value(s) are NaN or infinite "
        f"(first at index {where}: {arr[where] if where else arr})"
    )


# The JAX arrays already found finite, by identity (a jax.Array's values never change, so one check
# serves every later call with the same array; NumPy arrays can change and are checked every time).
# An entry leaves when its array is collected, or as the oldest once FINITE_KEPT are kept.
_FINITE: dict[int, weakref.ref] = {}
FINITE_KEPT = 4096


def _known_finite(a: Any) -> bool:
    ref = _FINITE.get(id(a))
    return ref is not None and ref() is a


def _remember_finite(a: Any) -> None:
    key = id(a)
    if len(_FINITE) >= FINITE_KEPT:
        _FINITE.pop(next(iter(_FINITE)))

    def forget(_: object, key: int = key) -> None:
        _FINITE.pop(key, None)

    _FINITE[key] = weakref.ref(a, forget)


def check_all_finite(named: list[tuple[str, Any]]) -> None:
    r""":func:`check_finite` for many arrays at once.

    A JAX array is checked once: its values cannot change, so a later call with the same array
    object skips it (``fit`` called again on the same data, or with the same parameters, pays
    nothing; a large data set costs a full read per check).

    Small arrays (a network's parameters, validated on every call of ``fit``, where one NumPy
    call per leaf would cost more than the check) are checked by one ``isfinite`` over their
    concatenated host copies. A large array (a data set) is checked by its sum: if
    :math:`\sum_i a_i` is finite, every :math:`a_i` is (a NaN or an infinity makes the sum NaN
    or infinite), at the cost of one read and no copy; a sum that is not finite may be an
    overflow, so the exact check decides. The per-array check runs only to name the culprit.
    """
    named = [(n, a) for n, a in named if is_concrete(a) and not _known_finite(a)]
    host = [(n, np.asarray(a)) for n, a in named]
    host = [(n, a) for n, a in host if a.dtype.kind in "fc"]
    small = [(n, a) for n, a in host if a.size <= _CONCATENATED]
    if small:
        flat = np.concatenate([a.ravel() for _, a in small]) if len(small) > 1 else small[0][1]
        if not np.isfinite(flat).all():
            for n, a in small:
                check_finite(a, n)
    for n, a in host:
        if a.size > _CONCATENATED:
            with np.errstate(over="ignore", invalid="ignore"):
                total = a.sum()
            if not np.isfinite(total):
                check_finite(a, n)
    for _, a in named:
        if isinstance(a, jax.Array):
            _remember_finite(a)


def all_finite(*trees: Any) -> jax.Array:
    """Inside compiled code: whether every floating leaf of ``trees`` is finite (a bool scalar)."""
    leaves = [a for a in jax.tree_util.tree_leaves(trees) if jnp.issubdtype(a.dtype, jnp.floating)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in leaves]))
