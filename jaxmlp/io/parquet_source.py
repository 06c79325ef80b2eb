r"""``ParquetSource``: the rows of a Parquet file, or of a directory of them, streamed by row groups
for training (a :class:`~jaxmlp.training.streamed.RowSource`), never held whole.

**Preparation, two streaming passes.** The first reads only the target and the text columns, a
row group at a time: the task and classes (as :func:`~jaxmlp.io.file_dataset.read_table` decides
them), the categories of each text column, the missing values (from the row groups' statistics).
The second encodes every row group once for the training rows' column statistics, float64 moments
per group combined exactly (:func:`~jaxmlp.evaluation.combine_moments`). They become the
model file's preprocessing, as for data read into memory, so ``predict`` encodes new rows the same way.

**Held-out rows.** Row ``i`` of row group ``g`` is a test row when the ``i``-th draw ``u`` of
``default_rng((split_seed, g))`` falls below ``test_fraction`` :math:`f_t`, a validation row when
``u`` lies in :math:`[f_t, f_t + f_v (1 - f_t))` (``validation_fraction`` :math:`f_v` of the rows
left after the test rows, as in memory): a keyed split that needs no per-row state (not
stratified, unlike the in-memory split). The column statistics are the training rows'.

**Epochs, a two-level shuffle.** A row costs its row group's decoding, so an epoch is not one
uniform permutation: the row groups are put in an order keyed by ``(key, epoch)``, cut into
windows of consecutive groups holding at least ``window_bytes`` of encoded training rows, and the
rows of each window are permuted (keyed by ``(key, epoch, window)``). Every training row comes
once per epoch; a row group is decoded once per epoch; at most two windows are held; and the
order is a function of ``(key, epoch)`` alone, so a run resumed at a step reads what an
uninterrupted run reads from that step on.

**Shards.** :meth:`ParquetSource.shard` keeps every ``count``-th row group: in a run over
``count`` processes, process ``p`` reads shard ``p`` alone, with epochs of its own, and gives each
step ``batch / count`` rows (:mod:`jaxmlp.training.streamed`).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from jaxmlp.evaluation import combine_moments
from jaxmlp.io import columns, tables
from jaxmlp.io.file_dataset import CLASSIFICATION_MAX_CLASSES, file_defaults, moments

__all__ = [
    "PARTS",
    "TRAIN",
    "TEST",
    "VALIDATION",
    "WINDOW_BYTES",
    "STREAM_BATCH",
    "Plan",
    "ParquetSource",
    "stream_dataset",
]

PARTS = ("train", "test", "validation")  # a row's part, by its number
TRAIN, TEST, VALIDATION = range(3)
WINDOW_BYTES = 128 << 20  # encoded training rows shuffled together, at least
STREAM_BATCH = 256  # a streamed data set's default batch (it cannot train full batch)


@dataclasses.dataclass(frozen=True)
class Plan:
    """One epoch's order of row groups, ``order`` ``(G,)``, cut into windows: window ``w`` holds
    ``order[bounds[w]:bounds[w+1]]`` and epoch positions ``[starts[w], starts[w+1])``."""

    order: np.ndarray
    bounds: np.ndarray
    starts: np.ndarray


class ParquetSource:
    """Training rows of ``path`` (a Parquet file or a directory of them) with ``target`` the
    column to predict, prepared in two streaming passes (see the module).

    ``num_rows`` counts the training rows (``test_rows`` and ``validation_rows`` the held-out
    ones); :meth:`rows` gives them encoded, standardised and in ``dtype``, with int32 class indices
    ``(m,)`` or float targets ``(m, 1)``; :meth:`order` is an epoch's two-level shuffle;
    :meth:`batches` reads the training, test or validation rows in file order. ``preprocessing``, ``task``, ``classes`` and ``n_outputs`` describe the data as
    :func:`~jaxmlp.io.file_dataset.read_table` does.
    """

    def __init__(
        self,
        path,
        target: str,
        *,
        task: str | None = None,
        dtype="float32",
        test_fraction: float = 0.0,
        validation_fraction: float = 0.0,
        split_seed: int = 0,
        window_bytes: int = WINDOW_BYTES,
    ):
        from jaxmlp.io.dataset import TASKS

        self.path = Path(path)
        if task is not None and task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        if not 0 <= test_fraction < 1:
            raise ValueError(f"test_fraction must lie in [0, 1), got {test_fraction}")
        if not 0 <= validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie in [0, 1), got {validation_fraction}")
        self.files = columns.ParquetFiles(self.path)
        tables.check_target(self.files, self.path, target)
        features = [c for c in self.files.column_names if c != target]
        if not features:
            raise ValueError(
                f"{self.path}: needs at least one feature column besides the target {target!r}"
            )
        tables.check_complete(self.files, self.path)
        self.target, self.dtype = target, np.dtype(dtype)
        self.test_fraction, self.validation_fraction = test_fraction, validation_fraction
        self.split_seed, self.window_bytes = split_seed, window_bytes
        self.groups = [g for g in self.files.groups if g.num_rows]
        self.encoding, self.task, self.classes = self._learn(features, task)
        self.n_outputs = 1 if self.task == "regression" else len(self.classes)
        self.part_counts, self.mean, self.std = self._statistics()
        self.train_counts = self.part_counts[:, TRAIN]
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._own(np.arange(len(self.groups)), ())
        if self.num_rows < 2:
            raise ValueError(f"{self.path}: needs at least 2 training rows, got {self.num_rows}")

    def _own(self, groups: np.ndarray, shard: tuple[int, ...]) -> None:
        """Read the row groups ``groups`` alone (all, or a shard's): training rows are numbered
        over them in order."""
        self.owned, self.shard_id = groups, shard
        self.offsets = np.concatenate([[0], np.cumsum(self.train_counts[groups])]).astype(np.int64)
        self.local = np.full(len(self.groups), -1, np.int64)  # a group's first row number
        self.local[groups] = self.offsets[:-1]
        self.test_rows = int(self.part_counts[groups, TEST].sum())
        self.validation_rows = int(self.part_counts[groups, VALIDATION].sum())
        self._plan: tuple | None = None
        self._window: tuple | None = None

    def shard(self, index: int, count: int) -> ParquetSource:
        """Shard ``index`` of ``count``: the row groups ``index, index + count, ...`` of this
        source's, with their own epochs (for process ``index`` of a ``count``-process run; it
        shares the encoding, statistics and the held row groups)."""
        if not 0 <= index < count or count > len(self.owned):
            raise ValueError(
                f"shard {index} of {count}: {self.path} has {len(self.owned)} row groups to share"
            )
        view = copy.copy(self)
        view._own(self.owned[index::count], (*self.shard_id, index, count))
        return view

    # --- what the data are --------------------------------------------------------------

    @property
    def num_rows(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_features(self) -> int:
        return len(self.encoding.input_names)

    @property
    def preprocessing(self) -> dict:
        """The encoding and standardisation, as the model file stores them."""
        return {
            "features": self.encoding.as_dict()["columns"],
            "inputs": list(self.encoding.input_names),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "target": self.target,
        }

    def _learn(self, features: list[str], task: str | None):
        """Categories, task and classes from the text and target columns, a row group at a time."""
        import pyarrow.compute as pc

        text = [f for f in features if tables.is_text(self.files.schema.field(f))]
        categories: dict[str, set] = {f: set() for f in text}
        target_text = tables.is_text(self.files.schema.field(self.target))
        if target_text and task == "regression":
            raise ValueError(
                f"{self.path}, column {self.target!r}: --task regression needs numbers, got text"
            )
        found: set = set()
        integral, few = True, True
        for group in self.groups:
            for f in text:
                col = group.column(f)
                tables.check_numbers(col, group.path, f, group.first)
                categories[f].update(str(v) for v in pc.unique(col).to_pylist())
            col = group.column(self.target)
            if target_text:
                found.update(str(v) for v in pc.unique(col).to_pylist())
                continue
            values = col.to_numpy().astype(np.float64)
            tables.check_finite(values, group.path, self.target, group.first)
            integral = integral and bool(np.all(values == np.round(values)))
            if few:
                found.update(np.unique(values).tolist())
                few = len(found) <= CLASSIFICATION_MAX_CLASSES
        encoding = tables.Encoding(
            tuple(
                tables.Column(f, tuple(sorted(categories[f])) if f in text else None)
                for f in features
            )
        )
        if task is None:
            task = "classification" if target_text or (integral and few) else "regression"
        if task == "regression":
            return encoding, task, ()
        if not target_text and not few:
            raise ValueError(
                f"{self.path}: --task classification of a streamed file needs at most "
                f"{CLASSIFICATION_MAX_CLASSES} distinct numbers in {self.target!r}"
            )
        classes = tuple(sorted(found) if target_text else (f"{v:g}" for v in sorted(found)))
        if len(classes) < 2:
            raise ValueError(
                f"{self.path}: classification needs at least 2 classes in {self.target!r}, got {len(classes)}"
            )
        return encoding, task, classes

    def _statistics(self):
        """The rows of each part per row group ``(G, 3)``, and the mean and standard deviation
        (1 for a constant column) of the training rows' encoded inputs."""
        counts, total = [], (0, np.zeros(self.n_features), np.zeros(self.n_features))
        for g in range(len(self.groups)):
            x, _ = self._encoded(g, standardise=False)
            part = self._parts(g)
            counts.append(np.bincount(part, minlength=3))
            total = combine_moments(total, moments(x[part == TRAIN]))
        n, mean, m2 = total
        std = np.sqrt(m2 / max(n, 1))
        std = np.where(std > 0, std, 1)
        levels = self.encoding.level_inputs()  # one-hot inputs stay 0 or 1, as in memory
        mean[levels], std[levels] = 0.0, 1.0
        return np.asarray(counts, np.int64), mean.astype(self.dtype), std.astype(self.dtype)

    # --- reading ------------------------------------------------------------------------

    def _parts(self, g: int) -> np.ndarray:
        """Each row of row group ``g``: :data:`TRAIN`, :data:`TEST` or :data:`VALIDATION`."""
        rows = self.groups[g].num_rows
        if not self.test_fraction and not self.validation_fraction:
            return np.zeros(rows, np.int64)
        u = np.random.default_rng((self.split_seed, g)).random(rows)
        test = self.test_fraction  # then a fraction of the rows left to train, as in memory
        held = test + self.validation_fraction * (1 - test)
        return np.where(u < test, TEST, np.where(u < held, VALIDATION, TRAIN))

    def _encoded(self, g: int, standardise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Row group ``g``'s rows: inputs ``(r, n_in)`` in ``dtype`` and targets."""
        group = self.groups[g]
        x = np.empty((group.num_rows, self.n_features), self.dtype)
        tables.encode_rows(group, group.path, self.encoding, x, slice(None), group.first)
        if standardise:
            x -= self.mean
            x /= self.std
        return x, self._targets(group)

    def _targets(self, group) -> np.ndarray:
        from jaxmlp.io.file_dataset import targets_from_column

        column = group.column(self.target)
        classes = self.classes or None
        y = targets_from_column(
            tables, column, group.path, self.target, self.task, classes, group.first
        )[0]
        return y.astype(self.dtype) if self.task == "regression" else y

    def _training(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        """Row group ``g``'s training rows, encoded (kept while two windows' worth are held)."""
        if g in self._cache:
            self._cache.move_to_end(g)
            return self._cache[g]
        x, y = self._encoded(g)
        keep = self._parts(g) == TRAIN
        part = (x[keep], y[keep]) if not keep.all() else (x, y)
        self._cache[g] = part
        limit = (
            2 * self.window_bytes + self.groups[g].num_rows * self.n_features * self.dtype.itemsize
        )
        while len(self._cache) > 1 and sum(a.nbytes for a, _ in self._cache.values()) > limit:
            self._cache.popitem(last=False)
        return part

    def release(self) -> None:
        """Drop the row groups held for reading (the next read decodes afresh)."""
        self._cache.clear()

    def rows(self, idx: np.ndarray, dtype=None) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of training rows ``idx`` ``(m,)`` (numbered over the row groups in order),
        ``x`` in ``dtype`` (default the source's)."""
        idx = np.asarray(idx, np.int64)
        which = np.searchsorted(self.offsets, idx, side="right") - 1
        x = np.empty((len(idx), self.n_features), dtype or self.dtype)
        y = np.empty((len(idx), 1) if self.task == "regression" else (len(idx),),
                     self.dtype if self.task == "regression" else np.int32)  # fmt: skip
        for k in np.unique(which):
            part = which == k
            xg, yg = self._training(int(self.owned[k]))
            local = idx[part] - self.offsets[k]
            x[part], y[part] = xg[local], yg[local]
        return x, y

    def locate(self, row: int, which: int = 0) -> str:
        """Where training row ``row`` is, for a message: ``file, data row r``."""
        k = int(np.searchsorted(self.offsets, row, side="right") - 1)
        g = int(self.owned[k])
        local = int(np.flatnonzero(self._parts(g) == TRAIN)[row - self.offsets[k]])
        group = self.groups[g]
        return f"{group.path}, row group {group.index}, data row {group.first + local + 1}"

    def batches(self, part: str = "train", rows: int = 65_536):
        """``(x, y)`` of the ``part``'s rows (``"train"``, ``"test"`` or ``"validation"``), in
        file order, at most ``rows`` at a time (each row group decoded once)."""
        which = PARTS.index(part)
        for g in self.owned:
            x, y = self._encoded(g)
            keep = self._parts(g) == which
            x, y = x[keep], y[keep]
            for i in range(0, len(x), rows):
                yield x[i : i + rows], y[i : i + rows]

    # --- the epochs' order --------------------------------------------------------------

    def batch_rows(
        self, entropy: tuple[int, ...], step: int, length: int, batch: int
    ) -> np.ndarray:
        """The training rows ``(length, batch)`` of steps ``step..step+length-1``: step ``k``
        takes positions ``[k b, (k+1) b)`` of the stream of epochs (:meth:`order` each)."""
        positions = step * batch + np.arange(length * batch, dtype=np.int64)
        epochs, offsets = np.divmod(positions, self.num_rows)
        rows = np.empty_like(positions)
        for e in np.unique(epochs):
            part = epochs == e
            rows[part] = self.order(entropy, int(e), offsets[part])
        return rows.reshape(length, batch)

    def order(self, entropy: tuple[int, ...], epoch: int, positions: np.ndarray) -> np.ndarray:
        """The training rows at ``positions`` ``(m,)`` of epoch ``epoch``'s two-level shuffle
        keyed by ``entropy`` (integers, such as a PRNG key's data)."""
        positions = np.asarray(positions, np.int64)
        plan = self._epoch(entropy, epoch)
        windows = np.searchsorted(plan.starts, positions, side="right") - 1
        out = np.empty_like(positions)
        for w in np.unique(windows):
            part = windows == w
            groups = plan.order[plan.bounds[w] : plan.bounds[w + 1]]
            j = self._permutation(entropy, epoch, int(w), plan)[positions[part] - plan.starts[w]]
            ends = np.cumsum(self.train_counts[groups])
            k = np.searchsorted(ends, j, side="right")
            out[part] = self.local[groups[k]] + j - (ends[k] - self.train_counts[groups[k]])
        return out

    def _epoch(self, entropy, epoch: int) -> Plan:
        if self._plan is not None and self._plan[0] == (entropy, epoch):
            return self._plan[1]
        seed = [*entropy, *self.shard_id, epoch]
        order = self.owned[np.random.default_rng(seed).permutation(len(self.owned))]
        row_bytes = self.n_features * self.dtype.itemsize
        bounds, held = [0], 0
        for i, g in enumerate(order):
            held += int(self.train_counts[g]) * row_bytes
            if held >= self.window_bytes and i + 1 < len(order):
                bounds.append(i + 1)
                held = 0
        bounds.append(len(order))
        sizes = [int(self.train_counts[order[a:b]].sum()) for a, b in zip(bounds, bounds[1:])]
        plan = Plan(order, np.asarray(bounds), np.concatenate([[0], np.cumsum(sizes)]))
        self._plan = ((entropy, epoch), plan)
        return plan

    def _permutation(self, entropy, epoch: int, w: int, plan: Plan) -> np.ndarray:
        if self._window is not None and self._window[0] == (entropy, epoch, w):
            return self._window[1]
        size = int(plan.starts[w + 1] - plan.starts[w])
        perm = np.random.default_rng([*entropy, *self.shard_id, epoch, w]).permutation(size)
        self._window = ((entropy, epoch, w), perm)
        return perm


def stream_dataset(
    path,
    target: str,
    task: str | None = None,
    *,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.0,
    split_seed: int = 0,
    dtype="float32",
    window_bytes: int = WINDOW_BYTES,
):
    """A :class:`~jaxmlp.io.dataset.Dataset` whose rows stay in the Parquet file or directory
    ``path`` (``source`` a :class:`ParquetSource`; the arrays None): the defaults of a data file
    but minibatches of :data:`STREAM_BATCH` for one epoch."""
    from jaxmlp.io.dataset import Dataset

    source = ParquetSource(
        path, target, task=task, dtype=dtype, test_fraction=test_fraction,
        validation_fraction=validation_fraction, split_seed=split_seed, window_bytes=window_bytes,
    )  # fmt: skip
    note = None
    if test_fraction and not source.test_rows:
        note = f"no test set: --test-fraction {test_fraction} held out none of the rows"
    if validation_fraction and not source.validation_rows:
        raise ValueError(
            f"--validation-fraction {validation_fraction} held out none of the {source.num_rows} "
            "rows: pass a larger fraction"
        )
    defaults = file_defaults(
        source.n_features, source.task, source.n_outputs, epochs=1, batch_size=STREAM_BATCH
    )
    nothing: Any = None  # the arrays: the rows stay in the files
    return Dataset(
        Path(path).name, nothing, nothing, None, None, source.task, source.n_outputs, defaults,
        source.classes, source.preprocessing, note, source,
    )  # fmt: skip
