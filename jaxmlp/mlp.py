"""``MLP``: a network's configuration (:class:`~jaxmlp.architecture.Architecture`) with its public API.

The configuration holds no arrays: parameters are a separate pytree (see
:mod:`jaxmlp.params`). ``MLP`` is registered as a static pytree node, so it can
be passed straight to ``jax.jit``-compiled functions, and its methods are the
validated public API; each delegates to a pure function in ``forward``,
``backprop``, ``hvp`` or ``params``, which take any ``Architecture``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import backprop as _backprop
from jaxmlp import forward as _forward
from jaxmlp import hvp as _hvp
from jaxmlp import params as _params
from jaxmlp import programs
from jaxmlp.architecture import BIAS_MODES, Architecture
from jaxmlp.finiteness import all_finite, is_concrete
from jaxmlp.validation import as_batch, check_batch, check_inputs, check_like, raise_not_finite

__all__ = ["BIAS_MODES", "MLP"]


class MLP(Architecture):
    """A multilayer perceptron: its configuration (the fields of :class:`Architecture`:
    ``sizes``, ``activation``, ``output_activation``, ``loss``, ``bias``, ``train_bias``)
    and the validated public methods.

    Example:
      >>> import jax, jaxmlp
      >>> net = jaxmlp.MLP((2, 3, 1), activation="tanh", output_activation="logistic",
      ...                  loss="binary_cross_entropy")
      >>> params = net.init(jax.random.key(0))
      >>> net.apply(params, jax.numpy.ones((4, 2))).shape
      (4, 1)
    """

    # The validated public API ---------------------------------------------

    def init(self, key: jax.Array, dtype=jnp.float32) -> tuple[dict, ...]:
        """Random parameters (see :func:`jaxmlp.params.init`)."""
        return _params.init(self, key, dtype)

    # Each method validates on the host, then runs one cached compiled function (jitted with the
    # configuration static): outside jit a call costs microseconds instead of one dispatch per
    # operation, and inside jit, vmap or grad the inner jit is inlined. A new shape compiles once.

    def apply(self, params, x) -> jax.Array:
        """The output ``out_L``: ``(n_out,)`` for ``x`` of shape ``(n_in,)``, ``(batch, n_out)`` for ``(batch, n_in)``."""
        params, x = check_inputs(self, params, x, finite=False)
        return self._finite(_apply(self, params, x), params, x=x)

    def forward_trace(self, params, x) -> tuple[_forward.Layer, ...]:
        """Each layer's ``Layer(net, out)``, shapes ``(n_l,)`` or ``(batch, n_l)`` as ``x``."""
        params, x = check_inputs(self, params, x, finite=False)
        return self._finite(_forward_trace(self, params, x), params, x=x)

    def per_example_loss(self, params, x, y) -> jax.Array:
        """The loss E of each example: ``()`` for a single example, ``(batch,)`` for a batch."""
        params, x, y = check_batch(self, params, x, y, finite=False)
        return self._finite(_per_example_loss(self, params, x, y), params, x=x, y=y)

    def loss_fn(self, params, x, y) -> jax.Array:
        """The batch loss: the mean of E over examples (exactly the seed's E_total for one example)."""
        params, x, y = check_batch(self, params, x, y, finite=False)
        return self._finite(_loss_fn(self, params, x, y), params, x=x, y=y)

    def backprop(self, params, x, y) -> tuple[dict, ...]:
        """``dE/dparams`` by the handwritten delta rule (see :mod:`jaxmlp.backprop`)."""
        return self.value_and_backprop(params, x, y)[1]

    def value_and_backprop(self, params, x, y) -> tuple[jax.Array, tuple[dict, ...]]:
        """``(loss_fn(params, x, y), backprop(params, x, y))`` from one forward pass."""
        params, x, y = check_batch(self, params, x, y, finite=False)
        return self._finite(_value_and_backprop(self, params, x, y), params, x=x, y=y)

    def hvp(self, params, x, y, v) -> tuple[dict, ...]:
        """:math:`H v`: the Hessian of ``loss_fn`` times the direction ``v`` (shaped like ``params``),
        by the handwritten R-operator (see :mod:`jaxmlp.hvp`); same pytree as ``params``."""
        params, x, y = check_batch(self, params, x, y, finite=False)
        v = check_like(self, params, v, "v")
        return self._finite(_hvp_of(self, params, x, y, v), params, x=x, y=y)

    def gnvp(self, params, x, y, v) -> tuple[dict, ...]:
        """:math:`G v`: the Gauss-Newton matrix :math:`J^T H_{loss} J` of ``loss_fn`` times ``v``
        (positive semi-definite for convex losses), by the same R-operator without the
        second-derivative terms of the hidden layers (see :mod:`jaxmlp.hvp`)."""
        params, x, y = check_batch(self, params, x, y, finite=False)
        v = check_like(self, params, v, "v")
        return self._finite(_gnvp_of(self, params, x, y, v), params, x=x, y=y)

    def _finite(self, result_and_flag, params, **arrays):
        """The result of a compiled method, once its inputs are known to be finite (checked in the
        same compiled call: one flag to fetch instead of every array); under tracing, as is."""
        result, finite = result_and_flag
        if is_concrete(finite) and not np.asarray(finite):  # np: cheaper than bool() on an Array
            raise_not_finite(self, params, **arrays)
        return result

    def _check(self, params, x, y):
        return check_batch(self, params, x, y)


def _compiled(fn):
    """``fn(net, params, *arrays)`` jitted with ``net`` static (one cache entry per shape), returning
    ``(result, whether params and arrays are all finite)``."""

    def with_flag(net, params, *arrays):
        return fn(net, params, *arrays), all_finite(params, arrays)

    return functools.wraps(fn)(programs.jit(with_flag, static_argnums=0))


@_compiled
def _apply(net, params, x):
    out = _forward.apply(net, params, as_batch(x))
    return out[0] if x.ndim == 1 else out


@_compiled
def _forward_trace(net, params, x):
    layers = _forward.forward_trace(net, params, as_batch(x))
    if x.ndim == 1:
        layers = tuple(_forward.Layer(lay.net[0], lay.out[0]) for lay in layers)
    return layers


@_compiled
def _per_example_loss(net, params, x, y):
    e = _forward.per_example_loss(net, params, as_batch(x), as_batch(y, x))
    return e[0] if x.ndim == 1 else e


@_compiled
def _loss_fn(net, params, x, y):
    return _forward.loss_fn(net, params, as_batch(x), as_batch(y, x))


@_compiled
def _value_and_backprop(net, params, x, y):
    return _backprop.value_and_backprop(net, params, as_batch(x), as_batch(y, x))


@_compiled
def _hvp_of(net, params, x, y, v):
    return _hvp.hvp(net, params, as_batch(x), as_batch(y, x), v)


@_compiled
def _gnvp_of(net, params, x, y, v):
    return _hvp.gnvp(net, params, as_batch(x), as_batch(y, x), v)


jax.tree_util.register_static(MLP)
