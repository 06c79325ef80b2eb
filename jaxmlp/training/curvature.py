r"""Curvature from the handwritten Hessian-vector product: the dense Hessian and its top eigenvalue.

Both are built from :func:`jaxmlp.hvp.hvp` alone (no autodiff), so they are
as trustworthy as the R-operator that :func:`jaxmlp.check_hvp` checks, and
like it they jit and vmap (over parameters, data or directions). Like the training
loops they pass the core the small-product kernel (:func:`jaxmlp.kernels.small.matmul`:
the same products, fused for one example and narrow layers).

The parameter vector is ``jax.flatten_util.ravel_pytree(params)[0]``: layer by
layer, ``"b"`` before ``"w"`` within a layer (dict keys sorted), each leaf
row-major. :func:`jaxmlp.explain.names.param_names` gives the seed's names in that order.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxmlp import programs
from jaxmlp.hvp import hvp
from jaxmlp.kernels.small import matmul as kernel_matmul
from jaxmlp.validation import as_batch, check_batch, check_key, check_positive_int

if TYPE_CHECKING:
    from jaxmlp.architecture import Architecture

__all__ = ["Array", "hessian", "top_eigenvalue"]

Array = jax.Array


def hessian(net: Architecture, params, x: Array, y: Array) -> Array:
    r"""The dense Hessian :math:`H_{ij} = \partial^2 E / \partial\theta_i \partial\theta_j`, ``(P, P)``.

    Column ``i`` is :math:`H e_i`, one handwritten HVP per parameter (vmapped):
    for small networks (``P`` HVPs of memory at once). Rows and columns follow
    ``ravel_pytree(params)``; rows of frozen biases are zero. ``x``, ``y`` as for
    ``net.loss_fn`` (one example or a batch), validated before anything is traced.
    """
    params, x, y = check_batch(net, params, x, y)
    return _hessian(net, params, as_batch(x), as_batch(y, x))


@functools.partial(programs.jit, static_argnames=("net",))
def _hessian(net: Architecture, params, x: Array, y: Array) -> Array:
    flat, unravel = ravel_pytree(params)

    def column(e):
        return ravel_pytree(hvp(net, params, x, y, unravel(e), matmul=kernel_matmul))[0]

    return jax.vmap(column)(jnp.eye(flat.size, dtype=flat.dtype))


def top_eigenvalue(
    net: Architecture, params, x: Array, y: Array, *, iterations: int = 32, key: Array | None = None
) -> Array:
    r"""The largest eigenvalue :math:`\lambda_{max}` of the Hessian, by Lanczos iteration.

    ``k = min(iterations, P)`` steps build an orthonormal Krylov basis
    :math:`Q = [q_1 .. q_k]` of :math:`\{q_1, H q_1, H^2 q_1, ..\}` (each new vector
    re-orthogonalised against all earlier ones, twice) and the tridiagonal
    :math:`T = Q^T H Q`; the answer is the largest eigenvalue of ``T``. It
    converges to :math:`\lambda_{max}` from below, fastest where it is well
    separated, and with ``k = P`` it is exact up to rounding. ``q_1`` is a
    normal draw from ``key`` (default ``key(0)``); should the Krylov space
    close early, the basis continues with another draw.

    The classical step-size bound of gradient descent on a quadratic is
    :math:`\eta < 2 / \lambda_{max}`.

    ``x``, ``y`` as for ``net.loss_fn``; ``iterations`` a positive integer; the arguments are
    validated before anything is traced.
    """
    params, x, y = check_batch(net, params, x, y)
    iterations = check_positive_int(iterations, "iterations")
    key = jax.random.key(0) if key is None else check_key(key)
    return _top_eigenvalue(net, params, as_batch(x), as_batch(y, x), iterations, key)


@functools.partial(programs.jit, static_argnums=(0, 4))
def _top_eigenvalue(net: Architecture, params, x: Array, y: Array, iterations: int, key) -> Array:
    flat, unravel = ravel_pytree(params)
    n = flat.size
    k = int(min(iterations, n))
    dtype = flat.dtype
    eps = jnp.finfo(dtype).eps

    def matvec(q):
        return ravel_pytree(hvp(net, params, x, y, unravel(q), matmul=kernel_matmul))[0]

    def orthogonalise(w, basis):
        for _ in range(2):
            w = w - basis.T @ (basis @ w)
        return w

    def unit(w):
        return w / jnp.linalg.norm(w)

    def body(j, carry):
        basis, alphas, betas, q = carry
        basis = basis.at[j].set(q)
        w = matvec(q)
        alphas = alphas.at[j].set(q @ w)
        scale = jnp.linalg.norm(w)
        w = orthogonalise(w, basis)
        beta = jnp.linalg.norm(w)
        fresh = orthogonalise(jax.random.normal(jax.random.fold_in(key, j + 1), (n,), dtype), basis)
        closed = beta <= jnp.sqrt(eps) * scale
        q_next = jnp.where(closed, unit(fresh), w / jnp.where(closed, 1.0, beta))
        betas = betas.at[j].set(jnp.where(closed, 0.0, beta))
        return basis, alphas, betas, q_next

    q1 = unit(jax.random.normal(key, (n,), dtype))
    init = (jnp.zeros((k, n), dtype), jnp.zeros((k,), dtype), jnp.zeros((k,), dtype), q1)
    _, alphas, betas, _ = jax.lax.fori_loop(0, k, body, init)
    t = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    return jnp.linalg.eigvalsh(t)[-1]
