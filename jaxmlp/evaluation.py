r"""A network's outputs and metrics over data met a batch at a time, in bounded memory.

Each batch is padded to a fixed number of rows, so one compiled program serves every batch (a
stream's batches vary in length). :class:`Totals` accumulates, in float64 on the host, what the
metrics need: the sum of the per-example losses :math:`\sum_n E_n`, for classification the
confusion matrix (true class by row), for regression the count, the sum of absolute errors and
the residual and total sums of squares, the latter about the first batch's mean
(:math:`\sum (t - s)^2 - (\sum (t - s))^2 / n`, unchanged by the shift ``s`` and without its
cancellation). The results equal those of the whole data at once up to float64 rounding.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import metrics, programs
from jaxmlp.forward import apply, per_example_loss
from jaxmlp.mlp import MLP

__all__ = [
    "ROWS",
    "padded",
    "batch_rows",
    "outputs",
    "combine_moments",
    "Totals",
    "evaluate_batches",
]

ROWS = 65_536  # rows per compiled call, at most


def padded(x: np.ndarray, rows: int) -> np.ndarray:
    """``x`` ``(m, ...)`` with zero rows appended up to ``rows`` (``m <= rows``)."""
    if len(x) == rows:
        return x
    out = np.zeros((rows, *x.shape[1:]), x.dtype)
    out[: len(x)] = x
    return out


def batch_rows(total: int | None) -> int:
    """The padded batch for data of ``total`` rows: :data:`ROWS`, or the power of two at or
    above a smaller ``total`` (no 65,536-row calls for 100 rows)."""
    if total is None or total >= ROWS:
        return ROWS
    return max(8, 1 << max(0, total - 1).bit_length())


def outputs(net: MLP, params, x: np.ndarray, rows: int = ROWS) -> np.ndarray:
    """``out_L`` ``(m, n_out)`` for inputs ``x`` ``(m, n_in)``, ``rows`` at a time."""
    out = [
        np.asarray(_apply(net, params, padded(x[i : i + rows], rows)))[: len(x[i : i + rows])]
        for i in range(0, len(x), rows)
    ]
    return np.concatenate(out) if out else np.zeros((0, net.sizes[-1]), x.dtype)


@functools.partial(programs.jit, static_argnums=0)
def _apply(net: MLP, params, x):
    return apply(net, params, x)


@functools.partial(programs.jit, static_argnums=0)
def _losses(net: MLP, params, x, t):
    return per_example_loss(net, params, x, t), apply(net, params, x)


def combine_moments(a: tuple, b: tuple) -> tuple:
    r"""``(n, mean, M2)`` of two parts' rows together, from each part's (arrays or numbers; Chan,
    Golub and LeVeque's update):
    :math:`\mu = \mu_a + \delta n_b / n`, :math:`M_2 = M_{2a} + M_{2b} + \delta^2 n_a n_b / n`,
    :math:`\delta = \mu_b - \mu_a`."""
    (na, ma, m2a), (nb, mb, m2b) = a, b
    n = na + nb
    if n == 0:
        return a
    delta = mb - ma
    return n, ma + delta * (nb / n), m2a + m2b + delta**2 * (na * nb / n)


@dataclasses.dataclass
class Totals:
    """Running sums over batches for a ``task`` (``classification`` with ``n_classes``, or
    ``regression``); :meth:`add` a batch's outputs, :meth:`result` the metrics."""

    task: str
    n_classes: int = 0
    rows: int = 0
    loss: float = 0.0
    confusion: np.ndarray | None = None
    absolute: float = 0.0
    residual: float = 0.0
    shift: float | None = None
    shifted: float = 0.0
    shifted_squares: float = 0.0

    def add(self, y: np.ndarray, out: np.ndarray, losses: np.ndarray) -> None:
        """Count a batch: targets ``y`` (labels ``(m,)`` or ``(m, 1)``), outputs ``(m, n_out)``,
        per-example losses ``(m,)``."""
        self.rows += len(out)
        self.loss += float(np.sum(losses, dtype=np.float64))
        if self.task == "classification":
            m = metrics.confusion_matrix(y, metrics.predicted_class(out), self.n_classes)
            self.confusion = m if self.confusion is None else self.confusion + m
            return
        t, o = np.asarray(y, np.float64).reshape(-1), out[:, 0].astype(np.float64)
        if self.shift is None and len(t):
            self.shift = float(t.mean())
        d = t - (self.shift or 0.0)
        self.absolute += float(np.abs(t - o).sum())
        self.residual += float(((t - o) ** 2).sum())
        self.shifted += float(d.sum())
        self.shifted_squares += float((d**2).sum())

    def as_vector(self) -> np.ndarray:
        """The sums as one float64 vector (for adding those of several processes): rows, loss,
        and the confusion matrix or the regression sums with the targets' mean and :math:`M_2`."""
        if self.task == "classification":
            counts = (
                self.confusion if self.confusion is not None else np.zeros((self.n_classes,) * 2)
            )
            return np.concatenate([[self.rows, self.loss], np.ravel(counts)]).astype(np.float64)
        n = max(self.rows, 1)
        mean = (self.shift or 0.0) + self.shifted / n
        m2 = self.shifted_squares - self.shifted**2 / n
        return np.asarray([self.rows, self.loss, self.absolute, self.residual, mean, m2])

    @classmethod
    def summed(cls, task: str, n_classes: int, vectors: np.ndarray) -> Totals:
        """The :class:`Totals` of all the rows that several :meth:`as_vector` ``(p, k)`` counted
        (means and :math:`M_2` combined by :func:`combine_moments`)."""
        vectors = np.asarray(vectors, np.float64)
        out = cls(task, n_classes, rows=int(vectors[:, 0].sum()), loss=float(vectors[:, 1].sum()))
        if task == "classification":
            out.confusion = (
                vectors[:, 2:].sum(0).reshape(n_classes, n_classes).round().astype(np.int64)
            )
            return out
        n, mean, m2 = 0, 0.0, 0.0
        for rows, _, absolute, residual, m, v in vectors:
            out.absolute += absolute
            out.residual += residual
            n, mean, m2 = combine_moments((n, mean, m2), (rows, m, v))
        out.shift, out.shifted, out.shifted_squares = mean, 0.0, m2
        return out

    @property
    def mean_loss(self) -> float:
        """:math:`\\frac1n \\sum_n E_n` (NaN for no rows)."""
        return self.loss / self.rows if self.rows else float("nan")

    @property
    def accuracy(self) -> float | None:
        """The fraction classified right (None for regression)."""
        if self.task != "classification" or self.confusion is None:
            return None
        return float(np.trace(self.confusion) / max(self.rows, 1))

    def result(self) -> dict:
        """``rows``, ``loss``, ``task`` and accuracy and the confusion matrix, or :math:`R^2`
        (None for constant targets) and the mean absolute error."""
        out: dict = {"rows": self.rows, "loss": self.mean_loss, "task": self.task}
        if self.task == "classification":
            confusion = (
                self.confusion
                if self.confusion is not None
                else np.zeros((self.n_classes,) * 2, np.int64)
            )
            out.update(accuracy=self.accuracy, confusion_matrix=confusion.tolist())
        else:
            total = self.shifted_squares - self.shifted**2 / max(self.rows, 1)
            out.update(
                r2=None if total <= 0 else 1 - self.residual / total,
                mae=self.absolute / max(self.rows, 1),
            )
        return out


def evaluate_batches(net: MLP, params, batches, task: str, *, total: int | None = None) -> Totals:
    """:class:`Totals` of ``params`` over ``(x, y)`` batches (each at most :data:`ROWS` rows;
    ``total``, the rows to come if known, picks a smaller padded batch)."""
    rows = batch_rows(total)
    totals = Totals(task, net.sizes[-1] if net.sizes[-1] > 1 else 2)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    for x, y in batches:
        for i in range(0, len(x), rows):
            xb, yb = x[i : i + rows], y[i : i + rows]
            t = metrics.loss_targets(net, padded(np.asarray(yb), rows), dtype)
            losses, out = _losses(net, params, jnp.asarray(padded(xb, rows), dtype), t)
            m = len(xb)
            totals.add(yb, np.asarray(out)[:m], np.asarray(losses)[:m])
    return totals
