r"""``fit`` over rows that stay on disk (a :class:`RowSource`, such as
:class:`~jaxmlp.io.source.NpySource` or :class:`~jaxmlp.io.parquet_source.ParquetSource`): the
batches of a chunk are gathered on the host and streamed into one compiled ``lax.scan`` over them.

The batches are exactly those of an in-memory run: step ``k``'s rows are positions
``[k b, (k+1) b)`` of the epoch stream of :mod:`jaxmlp.training.batching` (one keyed permutation
per epoch), computed by the same compiled draw, so a streamed run equals ``fit`` on the same arrays
held in memory, and a run resumed at ``start_step`` (with its ``opt_state``) equals an
uninterrupted one. A source that orders its own epochs (an :class:`OrderedSource`, where random
access is not cheap) gives step ``k`` the rows at those positions of its order instead. Each step
is :func:`jaxmlp.training.loop.update`, the in-memory loop's own.

JAX dispatches a chunk asynchronously, so the next chunk's rows are read from disk while the
current chunk computes: the host's reading and the steps overlap without a thread. Memory holds
two chunks of batches (at most :data:`BUFFER_BYTES` each by default) and the parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax
import numpy as np

from jaxmlp.checks.gradient_check import report_from_errors
from jaxmlp.mlp import MLP
from jaxmlp.training import batching
from jaxmlp.training.arguments import fit_arguments
from jaxmlp.training.loop import (
    StepSpec,
    TrainState,
    all_finite,
    first_bad,
    first_batch_check,
    update,
)
from jaxmlp.training.result import FitResult
from jaxmlp.validation import check_positive_int


@runtime_checkable
class RowSource(Protocol):
    """Training rows read by index (:class:`jaxmlp.NpySource` is one): ``num_rows``,
    ``n_features`` and ``rows(idx, dtype) -> (x (m, n_features), y (m, ...))``."""

    @property
    def num_rows(self) -> int: ...

    @property
    def n_features(self) -> int: ...

    def rows(self, idx: np.ndarray, dtype=None) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class OrderedSource(RowSource, Protocol):
    """A :class:`RowSource` that orders its own epochs (where random access is not cheap, such as
    :class:`~jaxmlp.io.parquet_source.ParquetSource`'s two-level shuffle): ``order(entropy, epoch,
    positions)`` is the rows at those positions of the epoch, keyed by ``entropy`` (the run's
    key's data); step ``k`` reads stream positions ``[k b, (k+1) b)`` as in memory."""

    def order(self, entropy: tuple[int, ...], epoch: int, positions: np.ndarray) -> np.ndarray: ...


BUFFER_BYTES = 64 << 20  # the rows of one chunk of steps, by default
REFUSED = ("validation_fraction", "validation_data", "patience", "monitor", "devices")


@functools.partial(jax.jit, static_argnames=("steps", "batch", "n"))
def chunk_indices(key, cursor: batching.Epochs, *, steps: int, batch: int, n: int):
    """The row indices of the next ``steps`` batches, ``(steps, batch)``, and the cursor after them
    (the epoch stream's own draw, as the in-memory loop makes it)."""

    def draw(cursor, _):
        idx, cursor = batching.draw(key, cursor, batch, n)
        return cursor, idx

    cursor, idx = jax.lax.scan(draw, cursor, None, length=steps)
    return idx, cursor


def _ordered(source: OrderedSource, key, batch: int, length: int, step: int):
    """The row indices ``(length, batch)`` of steps ``step..step+length-1`` in the source's own
    order (stream positions ``[k b, (k+1) b)`` of its epochs), and the step after them."""
    entropy = tuple(int(v) for v in np.asarray(jax.random.key_data(key)).ravel())
    positions = step * batch + np.arange(length * batch, dtype=np.int64)
    epochs, offsets = np.divmod(positions, source.num_rows)
    idx = np.empty_like(positions)
    for e in np.unique(epochs):
        part = epochs == e
        idx[part] = source.order(entropy, int(e), offsets[part])
    return idx.reshape(length, batch), step + length


@functools.partial(jax.jit, static_argnames=("spec",))
def stream_chunk(spec: StepSpec, state: TrainState, learning_rate, xs, ys):
    """``(state, losses, params_finite)`` after one step per batch of ``xs`` ``(k, batch, n_in)``
    and ``ys``; ``losses`` ``(k,)`` is the loss before each step."""

    def step(state, batch):
        state, loss = update(spec, state, learning_rate, *batch)
        return state._replace(step=state.step + 1), loss

    state, losses = jax.lax.scan(step, state, (xs, ys))
    return state, losses, all_finite(state.params)


@functools.partial(jax.jit, static_argnames=("spec",))
def _check(spec: StepSpec, state: TrainState, x, y):
    """The in-memory loop's check of the delta rule against ``jax.grad``, on the batch ``(x, y)``."""
    import dataclasses

    return first_batch_check(dataclasses.replace(spec, batch_size=None), state, None, x, y)[1]


def fit_source(
    net: MLP,
    params,
    source: RowSource,
    *,
    steps: int,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    chunk_size: int | None = None,
    start_step: int = 0,
    opt_state=None,
    callback: Callable[[TrainState, np.ndarray], bool | None] | None = None,
    **options: Any,
) -> FitResult:
    """:func:`jaxmlp.fit` with ``x`` a :class:`RowSource` such as :class:`~jaxmlp.io.source.NpySource`
    (see the module).

    Takes ``fit``'s arguments but validation, early stopping, a monitor and devices (refused, with
    a message); ``batch_size`` and ``key`` are required; with ``grad="backprop"`` the delta rule is
    checked on the first batch, as in memory. ``chunk_size`` defaults to the steps whose
    batches fill :data:`BUFFER_BYTES`. A chunk whose losses are not all finite ends the run with
    the parameters from before it (``diverged_at`` the step of its first non-finite loss).
    """
    for name in REFUSED:
        if options.get(name) is not None:
            raise ValueError(f"{name} is not available when training from a stream of rows")
    options = {k: v for k, v in options.items() if k not in REFUSED}
    if batch_size is None:
        raise ValueError(
            "training from a stream of rows needs a batch_size (its rows are read in batches)"
        )
    n = source.num_rows
    batch_size = check_positive_int(batch_size, "batch_size")
    if batch_size > n:
        raise ValueError(f"batch_size must be at most {n} (the source's rows), got {batch_size}")
    if key is None:
        raise ValueError(
            "training from a stream of rows needs a PRNG key (key=...) to draw its batches"
        )
    sample_x, sample_y = source.rows(np.arange(batch_size))
    a = fit_arguments(
        net, params, sample_x, sample_y, steps=steps, batch_size=batch_size, key=key,
        chunk_size=1, start_step=start_step, opt_state=opt_state, **options,
    )  # fmt: skip
    row_bytes = batch_size * source.n_features * a.x.dtype.itemsize
    k = chunk_size if chunk_size is not None else max(1, BUFFER_BYTES // row_bytes)
    k = min(check_positive_int(k, "chunk_size"), a.steps)
    state = TrainState(a.params, a.opt_state, np.int32(a.start_step), a.key)
    cursor: Any
    indices: Callable[[int, Any], tuple[np.ndarray, Any]]
    if isinstance(source, OrderedSource):  # the source's own epochs (its order of reading)
        cursor = a.start_step
        indices = functools.partial(_ordered, source, a.key, batch_size)
    else:
        cursor = batching.start(a.key, a.start_step, n, batch_size)

        def indices(length: int, cursor):
            idx, after = chunk_indices(a.key, cursor, steps=length, batch=batch_size, n=n)
            return np.asarray(idx), after

    def gather(idx: np.ndarray):
        x, y = source.rows(idx.reshape(-1), a.x.dtype)
        if a.y.dtype.kind in "iu":  # class labels: in range, as fit checks arrays in memory
            wrong = (y < 0) | (y >= net.sizes[-1])
            if wrong.any():
                i = int(np.argmax(wrong))
                row = int(idx.reshape(-1)[i])
                where = source.locate(row, 1) if hasattr(source, "locate") else f"row {row}"
                raise ValueError(
                    f"{where}: class label {int(y[i])} is outside [0, {net.sizes[-1]}) "
                    f"for sizes {net.sizes}"
                )
        if y.dtype.kind == "f" or a.y.dtype.kind == "f":
            y = y.astype(a.y.dtype, copy=False)
        return x.reshape(*idx.shape, -1), y.reshape(*idx.shape, *y.shape[1:])

    done, losses, ends, diverged, stopped = 0, [], [], None, False
    idx, cursor = indices(min(k, a.steps), cursor)
    batches = gather(idx)
    check = None
    if a.check:  # raises GradientMismatchError naming the leaf, before any step
        xb, yb = batches[0][0], batches[1][0]
        errors = _check(a.spec, state, xb, yb)
        report = report_from_errors(net, errors, a.params, xb, yb)
        check = lambda: report  # noqa: E731
    while done < a.steps:
        length = min(k, a.steps - done)
        ahead = a.steps - done - length
        if ahead:  # the next chunk's indices first: they wait for nothing the chunk computes
            idx, cursor = indices(min(k, ahead), cursor)
        after, chunk_losses, finite = stream_chunk(a.spec, state, a.learning_rate, *batches)
        if ahead:  # read the next chunk's rows while this one computes
            batches = gather(idx)
        chunk_losses = np.asarray(chunk_losses)
        bad = first_bad(chunk_losses, bool(finite), length)
        if bad >= 0:
            diverged = a.start_step + done + bad
            losses.append(chunk_losses[:bad])
            break
        state, done = after, done + length
        losses.append(chunk_losses)
        ends.append(chunk_losses[-1])
        if callback is not None and callback(
            state, chunk_losses
        ):  # after every chunk, as in memory
            stopped = done < a.steps
            break
    return FitResult(
        state.params,
        state.opt_state,
        np.concatenate(losses) if options.get("history", True) else None,
        a.start_step + done,
        a.key,
        diverged_at=diverged,
        stopped=stopped,
        check=check,
        chunk_end_losses=np.asarray(ends),
    )
