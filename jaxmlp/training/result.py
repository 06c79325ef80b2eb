"""``FitResult``: what :func:`jaxmlp.fit` returns, each field with one meaning."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxmlp.checks.gradient_check import GradCheckReport

__all__ = ["FitResult"]


@dataclasses.dataclass(frozen=True)
class FitResult:
    """The result of :func:`fit`.

    ``params``/``opt_state``: the final state (the last one with a finite
    loss if training diverged; the best one on the validation set when
    validating with ``restore_best``); ``losses``: the loss before each step taken,
    ``(steps_taken,)`` (``None`` with ``history=False``); ``chunk_end_losses``: the loss before the
    last step of each compiled chunk, ``(chunks,)`` (for the chunk that diverged, its first
    non-finite loss), with or without history; ``step``: the global step of ``params``; ``diverged_at``:
    the global step whose loss was first non-finite, else ``None``;
    ``stopped``: True when the callback or early stopping ended the run before ``steps``;
    ``final_loss``: the loss of the returned ``params`` on the training data (the loss after
    the last step; computed on first use: a forward pass over the whole training set, one more
    compiled call); ``gradient_check``: the check of the handwritten gradient on the first
    batch (``None`` when not checked); ``validation_losses`` ``(k,)`` and ``validation_steps``
    ``(k,)``: the validation loss after each evaluated step (``None`` without validation);
    ``best_step``: the step of the lowest validation loss; ``monitor``: the records of the
    :class:`~jaxmlp.training.monitor.Monitor` (:class:`~jaxmlp.training.monitor.Records`, NumPy
    arrays; ``None`` without one).
    """

    params: Any
    opt_state: Any
    losses: np.ndarray | None
    step: int
    key: jax.Array
    diverged_at: int | None = None
    stopped: bool = False
    check: Callable[[], GradCheckReport] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    validation_losses: np.ndarray | None = None
    validation_steps: np.ndarray | None = None
    best_step: int | None = None
    final: Callable[[], Any] | None = dataclasses.field(default=None, repr=False, compare=False)
    chunk_end_losses: np.ndarray | None = None
    monitor: Any = None

    @functools.cached_property
    def gradient_check(self) -> GradCheckReport | None:
        """The passed check of the handwritten gradient on the first batch (None: not checked)."""
        return None if self.check is None else self.check()

    @functools.cached_property
    def final_loss(self) -> float:
        """The loss of ``params`` on the training data (NaN when unknown)."""
        return math.nan if self.final is None else float(self.final())

    @property
    def last_finite_loss(self) -> float:
        """The last finite recorded loss (of ``losses``, else ``chunk_end_losses``; NaN if none)."""
        recorded = np.asarray(self.chunk_end_losses if self.losses is None else self.losses)
        finite = recorded[np.isfinite(recorded)]
        return float(finite[-1]) if finite.size else float("nan")
