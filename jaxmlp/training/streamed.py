r"""``fit`` over rows that stay on disk (a :class:`RowSource`, such as
:class:`~jaxmlp.io.source.NpySource` or :class:`~jaxmlp.io.parquet_source.ParquetSource`): the
batches of a chunk are gathered on the host and streamed into one compiled ``lax.scan`` over them.

The batches are exactly those of an in-memory run: step ``k``'s rows are positions
``[k b, (k+1) b)`` of the epoch stream of :mod:`jaxmlp.training.batching` (one keyed permutation
per epoch), computed by the same compiled draw, so a streamed run equals ``fit`` on the same arrays
held in memory, and a run resumed at ``start_step`` (with its ``opt_state``) equals an
uninterrupted one. A source that orders its own epochs (an :class:`OrderedSource`, where random
access is not cheap) gives step ``k`` the rows at those positions of its order instead. The run is
``fit``'s own loop (:class:`~jaxmlp.training.run.FitRun`, with :class:`StreamRun`'s part that reads
the batches): the same steps, validation and patience, monitor, callback, divergence recovery.

With ``devices`` (a count or a 1-D mesh), each chunk's batches are split over the mesh along the
batch, as in memory. In a run over several processes (``jax.distributed``), each process reads only
its part: a :class:`ShardableSource` (a Parquet source) its own shard of the row groups, ``batch /
processes`` rows a step; any other source its columns of every global batch (the same indices
drawn in every process). The global batch is assembled from the processes' parts
(``jax.make_array_from_process_local_data``); :class:`ShardedSource` reproduces a sharded run's
batches in one process.

JAX dispatches a chunk asynchronously, so the next chunk's rows are read from disk while the
current chunk computes: the host's reading and the steps overlap without a thread. Memory holds
two chunks of batches (at most :data:`BUFFER_BYTES` each by default) and the parameters.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxmlp import programs
from jaxmlp.checks.gradient_check import report_from_errors
from jaxmlp.mlp import MLP
from jaxmlp.training import batching, early_stopping, parallel
from jaxmlp.training.arguments import FitOptions, fit_arguments
from jaxmlp.training.loop import TrainState
from jaxmlp.training.result import FitResult
from jaxmlp.training.run import FitRun
from jaxmlp.validation import check_key, check_positive_int

__all__ = [
    "RowSource",
    "OrderedSource",
    "ShardableSource",
    "ShardedSource",
    "BUFFER_BYTES",
    "chunk_indices",
    "StreamRun",
    "Reading",
    "reading",
    "fit_source",
]


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
    :class:`~jaxmlp.io.parquet_source.ParquetSource`'s two-level shuffle):
    ``batch_rows(entropy, step, length, batch)`` is the rows ``(length, batch)`` of steps
    ``step..step+length-1``, keyed by ``entropy`` (the run's key's data) and a function of them
    alone (so a resumed run reads what an uninterrupted one reads)."""

    def batch_rows(
        self, entropy: tuple[int, ...], step: int, length: int, batch: int
    ) -> np.ndarray: ...


@runtime_checkable
class ShardableSource(OrderedSource, Protocol):
    """An :class:`OrderedSource` that splits into ``count`` disjoint shards (``shard(index,
    count)``, each an :class:`OrderedSource` of its own rows): in a run over several processes,
    process ``p`` reads shard ``p`` alone and contributes ``batch / count`` rows to each step."""

    def shard(self, index: int, count: int) -> OrderedSource: ...


class ShardedSource:
    """``count`` shards of a :class:`ShardableSource` read in one process as a run over ``count``
    processes reads them: step ``k``'s batch is shard 0's ``batch / count`` rows of step ``k``,
    then shard 1's, and so on (rows numbered shard after shard). Training on it reproduces a
    multi-process run's global batches on one machine."""

    def __init__(self, source: ShardableSource, count: int):
        self.shards = [source.shard(i, count) for i in range(count)]
        self.bases = np.cumsum([0] + [s.num_rows for s in self.shards])

    @property
    def num_rows(self) -> int:
        return int(self.bases[-1])

    @property
    def n_features(self) -> int:
        return self.shards[0].n_features

    def rows(self, idx: np.ndarray, dtype=None) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of rows ``idx`` ``(m,)``, each read from its shard."""
        idx = np.asarray(idx, np.int64)
        which = np.searchsorted(self.bases, idx, side="right") - 1
        parts = [
            self.shards[i].rows(idx[which == i] - self.bases[i], dtype)
            for i in range(len(self.shards))
        ]
        x = np.empty((len(idx), *parts[0][0].shape[1:]), parts[0][0].dtype)
        y = np.empty((len(idx), *parts[0][1].shape[1:]), parts[0][1].dtype)
        for i, (xi, yi) in enumerate(parts):
            x[which == i], y[which == i] = xi, yi
        return x, y

    def batch_rows(self, entropy, step: int, length: int, batch: int) -> np.ndarray:
        """Each shard's ``batch / count`` rows of each step, side by side ``(length, batch)``."""
        part = batch // len(self.shards)
        return np.concatenate(
            [
                s.batch_rows(entropy, step, length, part) + b
                for s, b in zip(self.shards, self.bases)
            ],
            axis=1,
        )


BUFFER_BYTES = 64 << 20  # the rows of one chunk of steps, by default


@functools.partial(programs.jit, static_argnames=("steps", "batch", "n"))
def chunk_indices(key, cursor: batching.Epochs, *, steps: int, batch: int, n: int):
    """The row indices of the next ``steps`` batches, ``(steps, batch)``, and the cursor after them
    (the epoch stream's own draw, as the in-memory loop makes it)."""

    def draw(cursor, _):
        idx, cursor = batching.draw(key, cursor, batch, n)
        return cursor, idx

    cursor, idx = jax.lax.scan(draw, cursor, None, length=steps)
    return idx, cursor


def _same(a, b) -> bool:
    """Whether two host cursors (an epoch stream's position, or a step) are one position."""
    return a is b or (isinstance(a, int) and isinstance(b, int) and a == b)


@dataclasses.dataclass
class StreamRun(FitRun):
    """A :class:`~jaxmlp.training.run.FitRun` whose batches are read from a :class:`RowSource` on
    the host: each chunk's ``(n, batch, ...)`` batches go into the compiled loop
    (``StepSpec.given``), and the next chunk's rows are read while it computes. The loop, its
    validation, patience, monitor and callback are ``fit``'s own."""

    indices: Callable[[int, Any], tuple[np.ndarray, Any]] | None = None
    gather: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    place: Callable[[tuple], tuple] | None = None
    first: tuple | None = None  # this process's part of the first batch (the check's report)
    drawn: tuple | None = None  # (cursor, n, idx, after): the next chunk's indices
    read: tuple | None = None  # (cursor, n, batches, after): the next chunk's rows

    def feed(self, cursor, n: int, ahead: int):
        """The chunk's batches (read ahead by the previous chunk, or now), and the next chunk's
        indices drawn before this one is dispatched (they wait for nothing it computes)."""
        assert self.indices is not None and self.gather is not None and self.place is not None
        if self.read is not None and _same(self.read[0], cursor) and self.read[1] == n:
            batches, after = self.read[2], self.read[3]
        else:
            idx, after = self.indices(n, cursor)
            host = self.gather(idx)
            if self.first is None:
                self.first = (host[0][0], host[1][0])
            batches = self.place(host)
        self.read = None
        self.drawn = (after, ahead, *self.indices(ahead, after)) if ahead else None
        return np.int32(0), *batches, after

    def read_ahead(self) -> None:
        """The next chunk's rows read from disk while the device computes this one."""
        assert self.gather is not None and self.place is not None
        if self.drawn is not None:
            cursor, n, idx, after = self.drawn
            self.read, self.drawn = (cursor, n, self.place(self.gather(idx)), after), None

    def gradient_report(self, checked):
        """The first batch's check, its report built now (on this process's part of the batch)."""
        assert self.first is not None
        report = report_from_errors(
            self.spec.net, np.asarray(checked[1]), self.start[0].params, *self.first
        )  # raises GradientMismatchError naming the leaf
        return lambda: report

    def final(self, params):
        """None: the training rows are not in memory (``FitResult.final_loss`` is NaN)."""
        return None


@dataclasses.dataclass(frozen=True)
class Reading:
    """How a stream's rows are read in this process: the ``source``, the ``reader`` this process
    reads (the source, or its shard over several processes), the ``mesh``, this process's
    ``local`` rows of each global ``batch``, the training ``n`` and ``train_rows`` (the source's
    rows that train, when a validation part is held out)."""

    source: Any
    reader: Any
    mesh: Any
    processes: int
    me: int
    batch: int
    local: int
    n: int
    train_rows: np.ndarray | None = None

    def start(self, key, start_step: int):
        """``(cursor, indices)``: the position before ``start_step`` and ``indices(length,
        cursor) -> (global batch rows (length, batch), cursor after)``."""
        reader, batch, n, train_rows = self.reader, self.batch, self.n, self.train_rows
        if isinstance(reader, OrderedSource):  # the source's own epochs (its order of reading)
            entropy = tuple(int(v) for v in np.asarray(jax.random.key_data(key)).ravel())
            size = self.local if reader is not self.source else batch

            def ordered(length: int, step: int):
                return reader.batch_rows(entropy, step, length, size), step + length

            return start_step, ordered

        def drawn(length: int, cursor):
            idx, after = chunk_indices(key, cursor, steps=length, batch=batch, n=n)
            idx = np.asarray(idx)
            return (idx if train_rows is None else train_rows[idx]), after

        return batching.start(key, start_step, n, batch), drawn

    def gather(self, net: MLP, x_dtype, y_dtype, idx: np.ndarray):
        """This process's rows of a chunk's global batch rows ``idx`` ``(k, batch)``, as
        ``(x (k, local, n_in), y)``; class labels checked to be in range, as ``fit`` checks arrays
        in memory."""
        if self.reader is self.source and self.processes > 1:  # its columns of each batch
            idx = idx[:, self.me * self.local : (self.me + 1) * self.local]
        x, y = self.reader.rows(idx.reshape(-1), x_dtype)
        if y_dtype.kind in "iu":
            wrong = (y < 0) | (y >= net.sizes[-1])
            if wrong.any():
                i = int(np.argmax(wrong))
                row = int(idx.reshape(-1)[i])
                locate = getattr(self.reader, "locate", None)
                where = locate(row, 1) if locate is not None else f"row {row}"
                raise ValueError(
                    f"{where}: class label {int(y[i])} is outside [0, {net.sizes[-1]}) "
                    f"for sizes {net.sizes}"
                )
        if y.dtype.kind == "f" or y_dtype.kind == "f":
            y = y.astype(y_dtype, copy=False)
        return x.reshape(*idx.shape, -1), y.reshape(*idx.shape, *y.shape[1:])

    def place(self, batches):
        """A chunk's batches as global arrays, split over the mesh along the batch."""
        if self.mesh is None:
            return batches
        sharding = NamedSharding(self.mesh, PartitionSpec(None, self.mesh.axis_names[0]))
        return tuple(
            jax.make_array_from_process_local_data(
                sharding, b, (b.shape[0], self.batch, *b.shape[2:])
            )
            for b in batches
        )


def reading(source: RowSource, options: FitOptions) -> tuple[Reading, Any]:
    """The stream's :class:`Reading` and its validation data (``validation_fraction`` of the
    source's rows read into memory, or ``validation_data``); what a stream cannot take is
    refused in one line."""
    batch_size, key, monitor = options.batch_size, options.key, options.monitor
    fraction, validation_data = options.validation_fraction, options.validation_data
    if batch_size is None:
        raise ValueError(
            "training from a stream of rows needs a batch_size (its rows are read in batches)"
        )
    batch_size = check_positive_int(batch_size, "batch_size")
    if key is None:
        raise ValueError(
            "training from a stream of rows needs a PRNG key (key=...) to draw its batches"
        )
    if monitor is not None and getattr(monitor, "probe", None) is None:
        raise ValueError(
            "monitor on a stream of rows needs its probe, Monitor(probe=(x, y)): the training "
            "rows are not in memory"
        )
    mesh = parallel.make_mesh(options.devices)
    processes, me = jax.process_count(), jax.process_index()
    if mesh is not None:
        parallel.check_divisible(batch_size, mesh, "a batch")
        owners = np.bincount([d.process_index for d in mesh.devices.flat], minlength=processes)
        if (owners != owners[0]).any():
            raise ValueError(
                f"a stream read by {processes} processes needs a mesh with as many devices on each, "
                f"got {', '.join(map(str, owners))} (devices={mesh.devices.size} of {len(jax.devices())})"
            )
    elif processes > 1:
        raise ValueError(
            f"a stream read by {processes} processes needs devices= (a mesh over their devices)"
        )
    reader: RowSource = source
    if processes > 1 and isinstance(source, ShardableSource):  # its own shard, nothing else
        reader = source.shard(me, processes)
    n, train_rows = source.num_rows, None
    if fraction is not None:
        if isinstance(reader, OrderedSource):
            raise ValueError(
                "validation_fraction is not available for a source that orders its own rows "
                f"({type(source).__name__}): pass validation_data=(x_val, y_val)"
            )
        if validation_data is not None:
            raise ValueError("pass validation_fraction or validation_data, not both")
        split_key = jax.random.split(check_key(key))[1]
        train_rows, held = early_stopping.held_out(n, fraction, split_key)
        validation_data = reader.rows(held)
        n = len(train_rows)
    if batch_size > n:
        kept = f" (after validation_fraction={fraction})" if train_rows is not None else ""
        raise ValueError(
            f"batch_size must be at most {n} (the source's rows{kept}), got {batch_size}"
        )
    local = batch_size // processes  # this process's rows of each step
    r = Reading(source, reader, mesh, processes, me, batch_size, local, n, train_rows)
    return r, validation_data


def fit_source(net: MLP, params, source: RowSource, options: FitOptions) -> FitResult:
    """:func:`jaxmlp.fit` with ``x`` a :class:`RowSource` such as :class:`~jaxmlp.io.source.NpySource`
    (see the module): ``fit``'s loop, with the batches read from the source.

    Takes ``fit``'s options; ``batch_size`` and ``key`` are required; ``devices`` split each
    batch (and, over several processes, its reading: see the module); with ``grad="backprop"``
    the delta rule is checked on the first batch, as in memory. ``chunk_size`` defaults to the
    steps whose batches fill :data:`BUFFER_BYTES`; the validation loss (``validation_data``, or
    ``validation_fraction`` of the source's rows, read into memory) is taken after every chunk,
    so a run equals ``fit`` on the rows in memory with the same ``chunk_size``. A monitor needs
    its own probe (``Monitor(probe=(x, y))``): the training rows are not in memory. A source that
    orders its own rows (an :class:`OrderedSource`) takes ``validation_data``, not a fraction.
    """
    r, validation_data = reading(source, options)
    sample_x, sample_y = r.reader.rows(np.arange(1))  # (for the checks of shapes and dtypes)
    sample = dataclasses.replace(
        options, batch_size=1, chunk_size=1, validation_fraction=None,
        validation_data=validation_data,
    )  # fmt: skip
    a = fit_arguments(net, params, sample_x, sample_y, sample)
    spec = dataclasses.replace(a.spec, batch_size=r.batch, given=True, mesh=r.mesh)
    row_bytes = r.local * source.n_features * a.x.dtype.itemsize
    k = options.chunk_size
    k = k if k is not None else max(1, BUFFER_BYTES // row_bytes)
    k = min(check_positive_int(k, "chunk_size"), a.steps)
    cursor, indices = r.start(a.key, a.start_step)
    state = TrainState(a.params, a.opt_state, np.int32(a.start_step), a.key)
    x_val, y_val, probe = a.x_val, a.y_val, a.probe
    if r.mesh is not None:
        state, x_val, y_val = parallel.replicate(r.mesh, (state, x_val, y_val))
        probe = FitRun.spread(r.mesh, probe)
    gather = functools.partial(r.gather, net, a.x.dtype, a.y.dtype)
    run = StreamRun(
        spec, a.learning_rate, None, None, x_val, y_val, a.start_step, (state, cursor), probe,
        FitRun.start_vectors(spec, a.params), indices=indices, gather=gather, place=r.place,
    )  # fmt: skip
    watch = early_stopping.Watch(a.patience)
    return run.loop(
        a.steps, k, options.history, options.callback, watch, options.restore_best, a.check
    )
