"""``MLP``: the static, hashable configuration of a multilayer perceptron.

The configuration holds no arrays: parameters are a separate pytree (see
:mod:`jaxmlp.params`). ``MLP`` is registered as a static pytree node, so it can
be passed straight to ``jax.jit``-compiled functions, and its methods are the
validated public API; each delegates to a pure function in ``forward``,
``backprop`` or ``params``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import backprop as _backprop
from jaxmlp import forward as _forward
from jaxmlp import hvp as _hvp
from jaxmlp import params as _params
from jaxmlp.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, Activation, get_activation
from jaxmlp.losses import LOSSES, Loss, get_loss
from jaxmlp.validation import (
    all_finite,
    check_batch,
    check_inputs,
    check_like,
    is_concrete,
    raise_not_finite,
)

BIAS_MODES = ("per_neuron", "shared", "none")


@dataclass(frozen=True)
class MLP:
    """A multilayer perceptron's configuration.

    Args:
      sizes: layer widths ``(n_in, n_1, ..., n_out)``, at least two entries.
      activation: hidden activation, one of ``logistic``, ``tanh``, ``relu``,
        ``leaky_relu``, ``softplus``, ``identity``.
      output_activation: the output layer's activation; also ``softmax``
        (only with ``loss="cross_entropy"``).
      loss: per-example loss, one of ``half_sse``, ``mse``, ``cross_entropy``
        (softmax outputs), ``binary_cross_entropy`` (logistic outputs). A
        batch's loss is the mean over examples.
      bias: ``per_neuron``, ``shared`` (one bias per layer, as in the seed) or ``none``.
      train_bias: whether biases receive a gradient (the seed keeps them fixed).

    Example:
      >>> import jax, jaxmlp
      >>> net = jaxmlp.MLP((2, 3, 1), activation="tanh", output_activation="logistic",
      ...                  loss="binary_cross_entropy")
      >>> params = net.init(jax.random.key(0))
      >>> net.apply(params, jax.numpy.ones((4, 2))).shape
      (4, 1)
    """

    sizes: tuple[int, ...]
    activation: str = "logistic"
    output_activation: str = "logistic"
    loss: str = "half_sse"
    bias: str = "per_neuron"
    train_bias: bool = True

    def __post_init__(self):
        sizes = self.sizes
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError(f"sizes must be a sequence of positive integers, got {sizes!r}")
        sizes = tuple(sizes)
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
                raise TypeError(f"sizes must hold positive integers, got {s!r} in {sizes!r}")
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(
                f"sizes must be at least two positive integers (inputs, ..., outputs), got {sizes}"
            )
        object.__setattr__(self, "sizes", sizes)
        if self.activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; expected one of {', '.join(HIDDEN_ACTIVATIONS)}"
            )
        if self.output_activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown output_activation {self.output_activation!r}; "
                f"expected one of {', '.join(ACTIVATIONS)}"
            )
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {', '.join(LOSSES)}")
        if self.output_activation == "softmax" and self.loss != "cross_entropy":
            raise ValueError(
                f"output_activation 'softmax' needs loss 'cross_entropy', got loss {self.loss!r}"
            )
        required = get_loss(self.loss).requires_output
        if required is not None and self.output_activation != required:
            raise ValueError(
                f"loss {self.loss!r} needs output_activation {required!r}, "
                f"got {self.output_activation!r}"
            )
        if self.bias not in BIAS_MODES:
            raise ValueError(f"unknown bias {self.bias!r}; expected one of {', '.join(BIAS_MODES)}")
        if not isinstance(self.train_bias, bool):
            raise TypeError(f"train_bias must be True or False, got {self.train_bias!r}")

    # Derived, static views -------------------------------------------------

    @property
    def layer_shapes(self) -> tuple[tuple[int, int], ...]:
        """``(n_in, n_out)`` of each layer."""
        return tuple(zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def activation_spec(self) -> Activation:
        """The hidden layers' :class:`Activation`."""
        return get_activation(self.activation)

    @property
    def output_activation_spec(self) -> Activation:
        """The output layer's :class:`Activation`."""
        return get_activation(self.output_activation)

    @property
    def loss_spec(self) -> Loss:
        """The configured :class:`Loss`."""
        return get_loss(self.loss)

    @property
    def is_classifier(self) -> bool:
        """True when the outputs are class scores (softmax or logistic with a cross entropy)."""
        return self.loss in ("cross_entropy", "binary_cross_entropy")

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

    def _finite(self, result_and_flag, params, **arrays):
        """The result of a compiled method, once its inputs are known to be finite (checked in the
        same compiled call: one flag to fetch instead of every array); under tracing, as is."""
        result, finite = result_and_flag
        if is_concrete(finite) and not np.asarray(finite):  # np: bool() on an Array costs 3x
            raise_not_finite(self, params, **arrays)
        return result

    def _check(self, params, x, y):
        return check_batch(self, params, x, y)


def _as_batch(a: jax.Array, like: jax.Array | None = None) -> jax.Array:
    """Add a batch axis of 1 when ``like`` (default ``a``) is a single example."""
    like = a if like is None else like
    return a[None] if like.ndim == 1 else a


def _compiled(fn):
    """``fn(net, params, *arrays)`` jitted with ``net`` static (one cache entry per shape), returning
    ``(result, whether params and arrays are all finite)``."""

    def with_flag(net, params, *arrays):
        return fn(net, params, *arrays), all_finite(params, arrays)

    return functools.wraps(fn)(jax.jit(with_flag, static_argnums=0))


@_compiled
def _apply(net, params, x):
    out = _forward.apply(net, params, _as_batch(x))
    return out[0] if x.ndim == 1 else out


@_compiled
def _forward_trace(net, params, x):
    layers = _forward.forward_trace(net, params, _as_batch(x))
    if x.ndim == 1:
        layers = tuple(_forward.Layer(lay.net[0], lay.out[0]) for lay in layers)
    return layers


@_compiled
def _per_example_loss(net, params, x, y):
    e = _forward.per_example_loss(net, params, _as_batch(x), _as_batch(y, x))
    return e[0] if x.ndim == 1 else e


@_compiled
def _loss_fn(net, params, x, y):
    return _forward.loss_fn(net, params, _as_batch(x), _as_batch(y, x))


@_compiled
def _value_and_backprop(net, params, x, y):
    return _backprop.value_and_backprop(net, params, _as_batch(x), _as_batch(y, x))


@_compiled
def _hvp_of(net, params, x, y, v):
    return _hvp.hvp(net, params, _as_batch(x), _as_batch(y, x), v)


jax.tree_util.register_static(MLP)
