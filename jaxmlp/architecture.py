"""``Architecture``: the static, hashable description of a multilayer perceptron.

The lowest layer of the library: the widths, activations, loss and bias mode,
validated once, and the derived views every other module reads (layer shapes,
the activation and loss specs). It holds no arrays and imports no computation,
so the forward pass, the delta rule and the checks can all name it without an
import cycle; :class:`jaxmlp.MLP` adds the validated public methods on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from jaxmlp.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, Activation, get_activation
from jaxmlp.losses import LOSSES, Loss, get_loss

__all__ = ["BIAS_MODES", "Architecture"]

BIAS_MODES = ("per_neuron", "shared", "none")


@dataclass(frozen=True)
class Architecture:
    """A multilayer perceptron's configuration (the fields of :class:`jaxmlp.MLP`).

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
        if self.output_activation == "softmax" and sizes[-1] < 2:
            raise ValueError(
                f"output_activation 'softmax' needs at least 2 outputs (over one it is always 1), "
                f"got sizes {sizes}; for one output use 'logistic' with 'binary_cross_entropy'"
            )
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


jax.tree_util.register_static(Architecture)
