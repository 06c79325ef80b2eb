"""Matrix products for one example and narrow layers, where XLA's dot is slow in a training loop.

:func:`matmul` computes exactly ``a @ b`` (the reference core's product, :mod:`jaxmlp.forward`)
and is what the training loops pass as the core's ``matmul`` argument:

* ``a`` of shape ``(m, 1)``: the outer product ``a * b``, which XLA fuses with its neighbours (a
  dot it would not): the gradient ``delta^T out`` of a single example;
* ``a`` of shape ``(1, k)`` with ``k <= SMALL``: the unrolled sum of ``k`` rank-1 products. For
  one example and a narrow layer XLA leaves a ``(1, k) x (k, m)`` dot unfused in a training loop
  and, once vmapped over a population, reduces a small axis slowly; elementwise products and adds
  fuse and vectorise in both cases;
* anything else: ``a @ b``.

The results equal ``a @ b`` up to the order of summation (exactly for the outer product); the
tests compare every path with the reference and the training loops' gradients are checked against
``jax.grad`` before training.
"""

from __future__ import annotations

import jax

__all__ = ["Array", "SMALL", "matmul"]

Array = jax.Array

SMALL = 16  # widths up to this are multiplied by unrolled sums of products


def matmul(a: Array, b: Array) -> Array:
    """``a @ b`` for ``a`` ``(m, k)``, ``b`` ``(k, n)``, by the fastest fused form for small ``k``."""
    if a.shape[1] == 1:
        return a * b
    if a.shape[0] != 1 or a.shape[1] > SMALL:
        return a @ b
    out = a[:, 0:1] * b[0][None, :]
    for k in range(1, a.shape[1]):
        out = out + a[:, k : k + 1] * b[k][None, :]
    return out
