r"""Minibatches by epochs: one permutation per epoch, consecutive slices of it per step, O(batch).

The examples are read as one stream, epoch after epoch, each epoch a permutation
:math:`\pi_e` of ``0..n-1`` keyed by ``fold_in(key, e)``; step ``k`` takes the ``batch``
examples at stream positions ``[k * batch, (k + 1) * batch)``. So every example is used
exactly once per epoch, as with PyTorch's ``DataLoader(shuffle=True)``; when ``batch`` does
not divide ``n``, the batch that crosses an epoch's end takes the last examples of that
epoch and the first of the next (none dropped, none repeated within an epoch, every batch
the same size, so one compiled step serves all).

No permutation is ever stored: :math:`\pi_e(i)` is computed for the ``batch`` positions a
step needs, so a step costs O(batch) whatever ``n`` is. :math:`\pi_e` is a keyed bijection
of ``[0, n)``: a 4-round Feistel network on ``b`` bits (``2^b >= n``, halves of
``floor(b/2)`` and ``ceil(b/2)`` bits, round keys drawn from ``fold_in(key, e)``), iterated
while its value is ``>= n`` ("cycle walking", which restricts a bijection of ``[0, 2^b)`` to
one of ``[0, n)``; fewer than 2 passes on average, since ``2^b < 2n``; a step repeats them
until all ``batch`` values are in range: for a batch of 128 typically about 8 passes when ``n``
is just above a power of two, 4 at n = 400,000). The cursor, ``(offset, epoch)``, is a
function of ``(key, step)`` alone (:func:`start`), so a run resumed at any step draws exactly the
batches of an uninterrupted one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Array", "ROUNDS", "Epochs", "start", "round_keys", "permuted", "permutation", "draw"]

Array = jax.Array
ROUNDS = 4


class Epochs(NamedTuple):
    """Where the stream of examples stands: position ``offset`` of epoch ``epoch`` (int32 scalars)."""

    offset: Array
    epoch: Array


def start(key: Array, step: Any, n: int, batch: int) -> Epochs:
    """The cursor before global step ``step`` (Python integers: no overflow in long runs; as host
    scalars, since ``jnp.int32`` would compile a conversion; a traced step gives traced ones)."""
    epoch, offset = divmod(step * batch, n)
    as_int32 = np.int32 if isinstance(step, (int, np.integer)) else jnp.int32
    return Epochs(as_int32(offset), as_int32(epoch))  # type: ignore[arg-type]  # host scalars are arrays to JAX


def _bits(n: int) -> int:
    return max(2, (n - 1).bit_length())


def _mix(r: Array, k: Array) -> Array:
    """A 32-bit integer hash of ``r`` under round key ``k`` (murmur3's finaliser)."""
    h = r * jnp.uint32(0x9E3779B1) + k
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def _feistel(v: Array, keys: Array, bits: int) -> Array:
    """A bijection of ``[0, 2^bits)``: ``ROUNDS`` (even) Feistel rounds on a high half of
    ``bits // 2`` bits and a low half of the rest; each round swaps the halves and their widths."""
    hi, lo = bits // 2, bits - bits // 2
    left, right = v >> lo, v & jnp.uint32((1 << lo) - 1)
    for r in range(ROUNDS):
        left, right = right, left ^ (_mix(right, keys[..., r]) & jnp.uint32((1 << hi) - 1))
        hi, lo = lo, hi
    return (left << lo) | right


def round_keys(key: Array, epoch: Array) -> Array:
    """The Feistel round keys of one epoch: ``(ROUNDS,)`` uint32 from ``fold_in(key, epoch)``."""
    return jax.random.bits(jax.random.fold_in(key, epoch), (ROUNDS,), jnp.uint32)


def permuted(keys: Array, i: Array, n: int) -> Array:
    r""":math:`\pi(i)` for positions ``i`` ``(m,)`` in ``[0, n)``, under round keys ``(m, ROUNDS)``."""
    bits = _bits(n)
    v = _feistel(i.astype(jnp.uint32), keys, bits)
    v = jax.lax.while_loop(
        lambda v: jnp.any(v >= n), lambda v: jnp.where(v >= n, _feistel(v, keys, bits), v), v
    )
    return v.astype(jnp.int32)


def permutation(key: Array, epoch: int, n: int) -> Array:
    r"""The whole order of one epoch, :math:`(\pi_e(0), .., \pi_e(n-1))` (for inspection; O(n))."""
    keys = jnp.broadcast_to(round_keys(key, jnp.asarray(epoch, jnp.int32)), (n, ROUNDS))
    return permuted(keys, jnp.arange(n, dtype=jnp.int32), n)


def draw(key: Array, cursor: Epochs, batch: int, n: int) -> tuple[Array, Epochs]:
    """The next ``batch`` example indices ``(batch,)`` and the advanced cursor (``batch <= n``)."""
    pos = cursor.offset + jnp.arange(batch, dtype=jnp.int32)
    wrapped = (pos >= n).astype(jnp.int32)
    both = jax.vmap(lambda e: round_keys(key, e))(jnp.stack([cursor.epoch, cursor.epoch + 1]))
    idx = permuted(both[wrapped], pos - n * wrapped, n)
    offset = cursor.offset + batch
    crossed = (offset >= n).astype(jnp.int32)
    return idx, Epochs(offset - n * crossed, cursor.epoch + crossed)
