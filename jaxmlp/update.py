r"""The SGD update and frozen biases: the one place every training path takes them from.

:math:`\theta^+ = \theta - \eta\, \partial E / \partial \theta`, leaf by leaf: ``fit``'s loop with
manual SGD, the updated-weights step of :mod:`jaxmlp.backprop` (layer by layer) and both layouts of
``sweep`` (members first under ``vmap``, or last in :mod:`jaxmlp.kernels.lanes`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmlp.architecture import Architecture

__all__ = ["sgd_update", "keep_frozen"]


def sgd_update(params, grads, learning_rate):
    r"""Plain gradient descent, leaf by leaf: :math:`\theta^+ = \theta - \eta\, \partial E / \partial \theta`.

    ``learning_rate`` :math:`\eta` is a scalar, or ``(N,)`` for a population stored last (each
    leaf's last axis is the member, as :mod:`jaxmlp.kernels.lanes` keeps it): member ``n`` of every
    leaf moves by :math:`\eta_n`. :math:`\eta` is cast to each leaf's dtype.
    """

    def one(p, g):
        eta = jnp.asarray(learning_rate, p.dtype)
        return p - eta.reshape((1,) * (p.ndim - eta.ndim) + eta.shape) * g

    return jax.tree_util.tree_map(one, params, grads)


def keep_frozen(net: Architecture, new, old):
    """``new`` with the biases of ``old`` when ``net.train_bias`` is False.

    Their gradient is zero, so plain SGD would leave them unchanged anyway; but
    ``b - lr * 0`` cannot be folded away by XLA (``lr`` might be inf), and momentum
    or weight decay could move them. Frozen means frozen.
    """
    if net.train_bias or net.bias == "none":
        return new
    return tuple({**n, "b": o["b"]} for n, o in zip(new, old))
