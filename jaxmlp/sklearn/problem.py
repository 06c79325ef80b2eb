"""What a fit of scikit-learn's MLP trains, as jaxmlp holds it: the network of a fitted estimator,
its parameters in both layouts, the device and precision it runs in, and the state a stochastic run
carries between compiled calls."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import NamedTuple

import jax
import numpy as np
import scipy.sparse as sp

from jaxmlp.mlp import MLP
from jaxmlp.training import stochastic

__all__ = [
    "HEADS",
    "PERMUTATIONS_PER_CALL",
    "Problem",
    "Start",
    "SolverState",
    "network",
    "to_params",
    "from_params",
    "resolve_device",
    "running",
    "cohort",
    "dense",
    "epochs_per_call",
]

HEADS = {  # scikit-learn's output activation -> jaxmlp's loss
    "softmax": "cross_entropy",
    "logistic": "binary_cross_entropy",
    "identity": "half_mse",
    "exp": "poisson",
}
PERMUTATIONS_PER_CALL = 2**22  # shuffled row indices sent to the device per compiled call


class Problem(NamedTuple):
    """What a fit trains: the network, its starting parameters, the data ``X`` ``(n, n_in)``,
    targets ``t`` ``(n, n_out)`` and weights ``w`` ``(n,)`` in the data's dtype, the device."""

    net: MLP
    params: tuple
    X: np.ndarray
    t: np.ndarray
    w: np.ndarray
    device: object


class Start(NamedTuple):
    """A stochastic run prepared on the host: the static solver, the hyperparameters, the rows,
    the device state ``(params, moments, progress)`` and the epochs left."""

    solver: stochastic.Solver
    rules: stochastic.Rules
    rows: stochastic.Subset
    state: tuple
    left: int


@dataclass
class SolverState:
    """The stochastic solver's state between calls (``_optimizer``, as scikit-learn names it):
    the current ``learning_rate``, the moments in jaxmlp's layout and adam's updates so far."""

    solver: str
    learning_rate: float
    first: tuple
    second: tuple
    updates: int


def network(n_in: int, hidden, n_out: int, activation: str, out_activation: str) -> MLP:
    """The :class:`~jaxmlp.MLP` of a scikit-learn MLP: per-neuron biases, the head's loss."""
    return MLP(
        (n_in, *hidden, n_out),
        activation=activation,
        output_activation=out_activation,
        loss=HEADS[out_activation],
        bias="per_neuron",
    )


def to_params(coefs, intercepts, dtype) -> tuple[dict, ...]:
    """scikit-learn's ``coefs_`` ``(n_in, n_out)`` and ``intercepts_`` as jaxmlp's parameters."""
    return tuple(
        {"w": np.asarray(c, dtype).T, "b": np.asarray(b, dtype).reshape(-1)}
        for c, b in zip(coefs, intercepts)
    )


def from_params(params) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """jaxmlp's parameters as ``(coefs_, intercepts_)``, NumPy arrays."""
    coefs = [np.array(layer["w"]).T.copy() for layer in params]
    return coefs, [np.array(layer["b"]) for layer in params]


def resolve_device(device):
    """``None`` (JAX's default), a ``jax.Device``, or ``"cpu"``, ``"gpu"``, ``"gpu:1"``, ..."""
    if device is None or isinstance(device, jax.Device):
        return device
    if not isinstance(device, str):
        raise ValueError(
            f"device must be None, a jax.Device or a string like 'gpu:0', got {device!r}"
        )
    platform, _, index = device.partition(":")
    try:
        found = jax.devices(platform)
    except RuntimeError:
        have = sorted({d.platform for d in jax.devices()})
        raise ValueError(f"device {device!r} is not available; JAX has {', '.join(have)}") from None
    if index and not (index.isdigit() and int(index) < len(found)):
        raise ValueError(f"device {device!r}: {platform} has devices 0..{len(found) - 1}")
    return found[int(index) if index else 0]


@contextlib.contextmanager
def running(dtype, device):
    """JAX in the data's precision (a 64-bit scope for float64) on ``device``."""
    with contextlib.ExitStack() as scope:
        scope.enter_context(jax.enable_x64(np.dtype(dtype) == np.float64))
        if device is not None:
            scope.enter_context(jax.default_device(device))
        yield


def cohort(tree):
    """``tree`` as a cohort of one member (a leading axis of 1 on every leaf)."""
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[None], tree)


def dense(X):
    return X.toarray() if sp.issparse(X) else X


def epochs_per_call(max_iter: int, n: int, shuffle: bool) -> int:
    """A power of two: at least ``max_iter`` (one call for the whole run) unless the shuffled
    orders of that many epochs would exceed :data:`PERMUTATIONS_PER_CALL` indices."""
    epochs = 1 << (max_iter - 1).bit_length()
    if shuffle:
        epochs = min(epochs, 1 << max(0, (PERMUTATIONS_PER_CALL // n).bit_length() - 1))
    return epochs
