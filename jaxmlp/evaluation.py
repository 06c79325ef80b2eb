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
    "gives_probabilities",
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
    ``regression``); :meth:`add` a batch's outputs, :meth:`result` the metrics.

    ``probabilities``: the outputs are class probabilities (softmax, or one logistic output), so
    the log loss is counted. ``reference``: the trivial baseline's statistics of the training rows
    (:meth:`reference_of`), ``{"mean": m}`` or ``{"class_counts": [...]}``, scored beside the
    network's (the training mean, or the majority class and the class frequencies).
    """

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
    probabilities: bool = False
    reference: dict | None = None
    log_loss: float = 0.0
    base_absolute: float = 0.0
    base_squares: float = 0.0

    def add(self, y: np.ndarray, out: np.ndarray, losses: np.ndarray) -> None:
        """Count a batch: targets ``y`` (labels ``(m,)`` or ``(m, 1)``), outputs ``(m, n_out)``,
        per-example losses ``(m,)``."""
        self.rows += len(out)
        self.loss += float(np.sum(losses, dtype=np.float64))
        if self.task == "classification":
            labels = np.asarray(y).reshape(-1).astype(int)
            m = metrics.confusion_matrix(labels, metrics.predicted_class(out), self.n_classes)
            self.confusion = m if self.confusion is None else self.confusion + m
            if self.probabilities:
                self.log_loss += float(-np.log(metrics.true_class_probability(out, labels)).sum())
            return
        t, o = np.asarray(y, np.float64).reshape(-1), out[:, 0].astype(np.float64)
        if self.shift is None and len(t):
            self.shift = float(t.mean())
        d = t - (self.shift or 0.0)
        self.absolute += float(np.abs(t - o).sum())
        self.residual += float(((t - o) ** 2).sum())
        self.shifted += float(d.sum())
        self.shifted_squares += float((d**2).sum())
        if self.reference is not None:
            base = t - self.reference["mean"]
            self.base_absolute += float(np.abs(base).sum())
            self.base_squares += float((base**2).sum())

    @staticmethod
    def reference_of(task: str, y: np.ndarray, n_classes: int) -> dict:
        """The trivial baseline of training targets ``y``: their mean, or their class counts."""
        if task == "classification":
            labels = np.asarray(y).reshape(-1).astype(int)
            return {"class_counts": np.bincount(labels, minlength=n_classes).tolist()}
        return {"mean": float(np.mean(np.asarray(y, np.float64)))}

    def own_reference(self) -> dict:
        """:meth:`reference_of` the rows counted so far (the training part's, for the test's)."""
        if self.task == "classification":
            counts = (
                self.confusion.sum(1) if self.confusion is not None else np.zeros(self.n_classes)
            )
            return {"class_counts": [int(c) for c in counts]}
        return {"mean": (self.shift or 0.0) + self.shifted / max(self.rows, 1)}

    def as_vector(self) -> np.ndarray:
        """The sums as one float64 vector (for adding those of several processes): rows, loss,
        and the log loss and the confusion matrix, or the regression sums with the targets' mean
        and :math:`M_2` and the baseline's sums."""
        if self.task == "classification":
            counts = (
                self.confusion if self.confusion is not None else np.zeros((self.n_classes,) * 2)
            )
            head = [self.rows, self.loss, self.log_loss]
            return np.concatenate([head, np.ravel(counts)]).astype(np.float64)
        n = max(self.rows, 1)
        mean = (self.shift or 0.0) + self.shifted / n
        m2 = self.shifted_squares - self.shifted**2 / n
        return np.asarray(
            [self.rows, self.loss, self.absolute, self.residual, mean, m2]
            + [self.base_absolute, self.base_squares]
        )

    @classmethod
    def summed(
        cls,
        task: str,
        n_classes: int,
        vectors: np.ndarray,
        probabilities: bool = False,
        reference: dict | None = None,
    ) -> Totals:
        """The :class:`Totals` of all the rows that several :meth:`as_vector` ``(p, k)`` counted
        (means and :math:`M_2` combined by :func:`combine_moments`)."""
        vectors = np.asarray(vectors, np.float64)
        out = cls(task, n_classes, rows=int(vectors[:, 0].sum()), loss=float(vectors[:, 1].sum()))
        out.probabilities, out.reference = probabilities, reference
        if task == "classification":
            out.log_loss = float(vectors[:, 2].sum())
            out.confusion = (
                vectors[:, 3:].sum(0).reshape(n_classes, n_classes).round().astype(np.int64)
            )
            return out
        n, mean, m2 = 0, 0.0, 0.0
        for rows, _, absolute, residual, m, v, base_absolute, base_squares in vectors:
            out.absolute += absolute
            out.residual += residual
            out.base_absolute += base_absolute
            out.base_squares += base_squares
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
        r"""``rows``, ``loss``, ``task`` and the scores: accuracy, balanced accuracy (the mean
        recall of the classes present), log loss :math:`-\frac1n \sum \log p_{t_n}` (None unless
        the outputs are probabilities) and the confusion matrix; or :math:`R^2` (None for
        constant targets), RMSE and MAE. With a ``reference``, ``baseline``: the same scores of
        the trivial predictor (the training mean; the training majority class, with the
        training class frequencies as its probabilities)."""
        out: dict = {"rows": self.rows, "loss": self.mean_loss, "task": self.task}
        n = max(self.rows, 1)
        if self.task == "classification":
            confusion = (
                self.confusion
                if self.confusion is not None
                else np.zeros((self.n_classes,) * 2, np.int64)
            )
            support = confusion.sum(1)
            present = support > 0
            recall = np.diag(confusion)[present] / support[present]
            out.update(
                accuracy=self.accuracy,
                balanced_accuracy=float(recall.mean()) if present.any() else None,
                log_loss=self.log_loss / n if self.probabilities and self.rows else None,
                confusion_matrix=confusion.tolist(),
            )
            if self.reference is not None and self.rows:
                counts = np.asarray(self.reference["class_counts"], np.float64)
                majority = int(counts.argmax())
                prior = np.clip(counts / max(counts.sum(), 1), metrics.PROBABILITY_FLOOR, 1)
                out["baseline"] = {
                    "rule": "the training rows' majority class and class frequencies",
                    "accuracy": float(support[majority] / n),
                    "balanced_accuracy": float(present[majority] / present.sum()),
                    "log_loss": float(-(support * np.log(prior)).sum() / n),
                }
            return out
        total = self.shifted_squares - self.shifted**2 / n
        out.update(
            r2=None if total <= 0 else 1 - self.residual / total,
            rmse=float(np.sqrt(self.residual / n)),
            mae=self.absolute / n,
        )
        if self.reference is not None and self.rows:
            out["baseline"] = {
                "rule": "the training rows' mean",
                "r2": None if total <= 0 else 1 - self.base_squares / total,
                "rmse": float(np.sqrt(self.base_squares / n)),
                "mae": self.base_absolute / n,
            }
        return out


def gives_probabilities(net: MLP) -> bool:
    """Whether ``net``'s outputs are class probabilities: softmax, or one logistic output."""
    return net.output_activation == "softmax" or (
        net.output_activation == "logistic" and net.sizes[-1] == 1
    )


def evaluate_batches(
    net: MLP,
    params,
    batches,
    task: str,
    *,
    total: int | None = None,
    reference: dict | None = None,
) -> Totals:
    """:class:`Totals` of ``params`` over ``(x, y)`` batches (each at most :data:`ROWS` rows;
    ``total``, the rows to come if known, picks a smaller padded batch; ``reference``, the
    trivial baseline's training statistics, :meth:`Totals.reference_of`)."""
    rows = batch_rows(total)
    totals = Totals(
        task,
        net.sizes[-1] if net.sizes[-1] > 1 else 2,
        probabilities=gives_probabilities(net),
        reference=reference,
    )
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    for x, y in batches:
        for i in range(0, len(x), rows):
            xb, yb = x[i : i + rows], y[i : i + rows]
            t = metrics.loss_targets(net, padded(np.asarray(yb), rows), dtype)
            losses, out = _losses(net, params, jnp.asarray(padded(xb, rows), dtype), t)
            m = len(xb)
            totals.add(yb, np.asarray(out)[:m], np.asarray(losses)[:m])
    return totals
