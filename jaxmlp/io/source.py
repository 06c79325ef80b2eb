"""``NpySource``: training rows that stay on disk, in memory-mapped ``.npy`` files, read a gather of
rows at a time (random access is cheap, so epochs keep their exact permutation).

``x`` is one ``.npy`` file ``(n, n_in)`` or several ``(n_i, n_in)`` read as their concatenation in
order; ``y`` the same, ``(n_i,)`` integer labels or ``(n_i, n_out)`` targets. Nothing is read
when the source is made but the files' headers; :meth:`NpySource.rows` reads the rows asked for,
in file order within each file (then put in the asked order), so the pages a batch needs are read
once and the rest never.
"""

from __future__ import annotations

import functools
import mmap
import os
from pathlib import Path

import numpy as np

__all__ = ["BLOCK_ROWS", "READERS", "NpySource"]


def _open(path, what: str) -> np.memmap:
    """The ``.npy`` file ``path`` memory-mapped read-only, refused with one line naming it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        if "object" in str(e).lower() or "allow_pickle" in str(e):
            raise ValueError(f"{path}: {what} must hold numbers, got an object array") from None
        raise ValueError(f"{path} is truncated or not an .npy file: {e}") from None
    except OSError as e:
        raise ValueError(f"{path} is not a readable .npy file: {e}") from None
    if not isinstance(array, np.memmap) or array.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {what} must hold numbers, got dtype {array.dtype}")
    # rows are read at random: a page fault maps its page alone (not the pages around it, and no
    # read-ahead), so a gather of BLOCK_ROWS rows maps at most BLOCK_ROWS pages
    _advise(array, "MADV_RANDOM")
    return array


BLOCK_ROWS = 8_192  # rows gathered between two releases of the pages they mapped


# threads gathering blocks of rows (a row costs a page fault; two at a time doubled the rate on
# two cores, three did not help): half the cores, at least 2, at most 8
READERS = max(2, min(8, (os.cpu_count() or 2) // 2))


@functools.lru_cache(maxsize=1)
def _readers():
    """The threads that gather rows (made once, for every source)."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(READERS, thread_name_prefix="jaxmlp-npy")


def _advise(array: np.memmap, advice: str) -> None:
    """``madvise`` the whole mapping of ``array`` (where the platform has the advice)."""
    mapping = getattr(array, "_mmap", None)
    if mapping is not None and hasattr(mmap, advice):
        mapping.madvise(getattr(mmap, advice))


def _release(array: np.memmap, first: int, last: int) -> None:
    """Unmap the pages of rows ``first..last`` of ``array`` that a read mapped into the process
    (``MADV_DONTNEED``; the kernel keeps them cached): the process's resident memory does not
    grow with the file."""
    mapping = getattr(array, "_mmap", None)
    if mapping is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    row = array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
    skip = array.offset % mmap.ALLOCATIONGRANULARITY  # where the data start in the mapping
    start = (skip + first * row) // mmap.PAGESIZE * mmap.PAGESIZE
    end = min(skip + (last + 1) * row, len(mapping))
    mapping.madvise(mmap.MADV_DONTNEED, start, end - start)


class NpySource:
    """Rows of memory-mapped ``.npy`` files: ``x`` and ``y``, each a path or a list of paths (the
    same number of files, row counts equal file by file).

    ``num_rows``, ``n_features`` and the files' dtypes are known from the headers; :meth:`rows`
    reads rows by index. Pass it to :func:`jaxmlp.fit` in place of ``x`` (with ``y=None``).
    """

    def __init__(self, x, y):
        xs = [x] if isinstance(x, (str, Path)) else list(x)
        ys = [y] if isinstance(y, (str, Path)) else list(y)
        if not xs or len(xs) != len(ys):
            raise ValueError(
                f"NpySource needs as many y files as x files (at least one), got {len(xs)} and {len(ys)}"
            )
        self.paths = [Path(p) for p in xs], [Path(p) for p in ys]
        self.x = [_open(p, "x") for p in xs]
        self.y = [_open(p, "y") for p in ys]
        first = self.x[0]
        for path, a, b in zip(self.paths[0], self.x, self.y):
            if a.ndim != 2:
                raise ValueError(f"{path}: x must be (rows, features), got shape {a.shape}")
            if a.shape[1] != first.shape[1] or a.dtype != first.dtype:
                raise ValueError(
                    f"{path}: {a.shape[1]} columns of {a.dtype}, but {self.paths[0][0]} has "
                    f"{first.shape[1]} of {first.dtype}"
                )
            if b.shape[0] != a.shape[0] or b.ndim not in (1, 2):
                raise ValueError(
                    f"{path}: {a.shape[0]} rows, but its y file holds shape {b.shape} "
                    "(expected one label or target row per row)"
                )
            if b.shape[1:] != self.y[0].shape[1:] or b.dtype != self.y[0].dtype:
                raise ValueError(
                    f"{path}: its y file's shape or dtype differs from the first file's"
                )
        self.offsets = np.cumsum([0] + [a.shape[0] for a in self.x])

    @property
    def num_rows(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_features(self) -> int:
        return self.x[0].shape[1]

    def rows(self, idx: np.ndarray, dtype=None) -> tuple[np.ndarray, np.ndarray]:
        """``(x[idx], y[idx])`` for row indices ``idx`` ``(m,)`` into the concatenated files, ``x``
        converted to ``dtype`` (default its own); a NaN or infinity is refused naming its file
        and row."""
        idx = np.asarray(idx, np.int64)
        order = np.argsort(idx, kind="stable")
        wanted = idx[order]
        files = np.searchsorted(self.offsets, wanted, side="right") - 1
        x = np.empty((len(idx), self.n_features), dtype or self.x[0].dtype)
        y = np.empty((len(idx), *self.y[0].shape[1:]), self.y[0].dtype)
        bounds = np.searchsorted(files, np.arange(len(self.x) + 1))  # files are sorted
        blocks = [(f, i, min(i + BLOCK_ROWS, bounds[f + 1]))
                  for f in range(len(self.x)) for i in range(bounds[f], bounds[f + 1], BLOCK_ROWS)]  # fmt: skip

        def gather(block) -> bool:
            """Read a block of rows into place; whether they are all finite."""
            f, i, j = block
            local = wanted[i:j] - self.offsets[f]
            rows = self.x[f][local]
            x[order[i:j]] = rows
            y[order[i:j]] = self.y[f][local]
            # x's pages go back to the page cache; y's (a column of x's rows) stay mapped
            _release(self.x[f], int(local[0]), int(local[-1]))
            return bool(np.isfinite(rows).all())

        if not all(list(_readers().map(gather, blocks))):  # (NumPy lets go of the GIL)
            bad = ~np.isfinite(x)
            i = int(np.argmax(bad.any(1)))
            raise ValueError(
                f"{self.locate(int(idx[i]))}: x holds {float(x[i][bad[i]][0])!r}, not a finite number"
            )
        return x, y

    def locate(self, row: int, which: int = 0) -> str:
        """Where row ``row`` of the concatenation is, for a message: ``path, row r`` of its x file
        (``which=1``: of its y file)."""
        f = int(np.searchsorted(self.offsets, row, side="right") - 1)
        return f"{self.paths[which][f]}, row {row - int(self.offsets[f])}"
