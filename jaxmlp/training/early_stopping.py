r"""Early stopping on a validation split: hold out examples, watch their loss, keep the best.

``fit`` evaluates the validation loss :math:`E_{val}(\theta_t)` (the network's batch loss on the
held-out examples) at the end of every compiled chunk, inside the chunk's call. :class:`Watch`
keeps the best state seen (lowest :math:`E_{val}`, the earliest on a tie) and says when
``patience`` evaluations in a row brought no improvement, as scikit-learn's ``early_stopping``
does per epoch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import numpy as np

__all__ = ["split", "held_out", "check_patience", "exhausted", "Watch"]


def split(x, y, fraction: float, key: jax.Array) -> tuple[Any, Any, Any, Any]:
    """``(x_train, y_train, x_val, y_val)``: ``round(n * fraction)`` examples (at least one)
    drawn without replacement by ``jax.random.permutation(key, n)`` are held out.

    Raises ValueError when ``fraction`` is not in (0, 1) or leaves no training example.
    """
    train, val = held_out(x.shape[0], fraction, key)
    return x[train], y[train], x[val], y[val]


def held_out(n: int, fraction: float, key: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)``: the sorted indices of :func:`split`'s training and held-out examples of
    ``n`` (a stream reads its held-out rows by these)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(f"validation_fraction must be a number in (0, 1), got {fraction!r}")
    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction!r}")
    n_val = max(1, round(n * fraction))
    if n_val >= n:
        raise ValueError(f"validation_fraction={fraction} of {n} examples leaves none to train on")
    order = np.asarray(jax.random.permutation(key, n))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def check_patience(patience) -> int | None:
    """``patience``: None (never stop early) or a positive integer."""
    if patience is None:
        return None
    if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
        raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
    return int(patience)


def exhausted(since_best, patience: int):
    """The stopping rule every training path applies: ``patience`` checks in a row without a new
    best validation loss (``since_best >= patience``; Python integers or arrays)."""
    return since_best >= patience


@dataclasses.dataclass
class Watch:
    """The validation losses seen so far, the best state and whether to stop."""

    patience: int | None
    losses: list[float] = dataclasses.field(default_factory=list)
    steps: list[int] = dataclasses.field(default_factory=list)
    best: Any = None  # whatever the caller keeps with the best loss (its state)
    best_step: int | None = None
    best_loss: float = math.inf
    since_best: int = 0

    def see(self, loss: float, step: int, state: Any) -> bool:
        """Record :math:`E_{val}` after ``step`` steps; True when training should stop."""
        self.losses.append(loss)
        self.steps.append(step)
        if loss < self.best_loss:
            self.best, self.best_step, self.best_loss, self.since_best = state, step, loss, 0
        else:
            self.since_best += 1
        return self.patience is not None and bool(exhausted(self.since_best, self.patience))
