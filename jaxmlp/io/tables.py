"""Tables from files, by suffix (:mod:`~jaxmlp.io.csv_reader`, :mod:`~jaxmlp.io.parquet_reader`,
:mod:`~jaxmlp.io.npz_reader`), and their columns as the arrays a network trains on:

* numeric feature columns become floats, in the run's dtype, converted once;
* text feature columns are categorical: one-hot encoded with the categories of the
  training rows, sorted, and the encoding kept (:class:`Encoding`) so that a test file or
  new rows are encoded the same way (an unseen category is an error);
* a missing value (empty, null, or NaN) is imputed where the encoding says so: numbers with the
  training rows' median and an indicator input, categories as an indicator input (all their
  one-hot inputs 0); else it is an error naming its row and column;
* a text cell in a column that is otherwise numbers is an error naming the cell, not a
  categorical column of thousands of values.
"""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path

import numpy as np

from jaxmlp.io import columns, csv_reader, npz_reader, parquet_reader

__all__ = [
    "NUMBER",
    "Column",
    "Encoding",
    "read",
    "open_columns",
    "cell",
    "check_target",
    "drop_missing",
    "check_complete",
    "is_text",
    "check_numbers",
    "check_finite",
    "encoding",
    "aligned_empty",
    "encode",
    "check_columns",
    "encode_rows",
    "smooth_clip",
    "set_fills",
    "fill_missing",
    "missing_mask",
]

NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


@dataclasses.dataclass(frozen=True)
class Column:
    r"""A feature column: its ``name``; its ``categories`` if it is categorical (else None);
    ``missing``: whether an indicator input (1 where the value is missing) follows its inputs;
    ``fill``: the number a missing value of a numeric column becomes (None: a missing value is
    an error); ``clip``: whether its standardised input is smoothly clipped,
    :math:`z / \sqrt{1 + (z/3)^2}` (:func:`smooth_clip`)."""

    name: str
    categories: tuple[str, ...] | None = None
    missing: bool = False
    fill: float | None = None
    clip: bool = False

    @property
    def width(self) -> int:
        """How many inputs it becomes: 1, or one per category, and the indicator."""
        return (1 if self.categories is None else len(self.categories)) + int(self.missing)

    @property
    def imputes(self) -> bool:
        """Whether a missing value is encoded (imputed) rather than refused."""
        return self.missing or self.fill is not None

    @classmethod
    def from_dict(cls, d: dict) -> Column:
        """The column of a model file's ``features`` entry (the keys a file has; older files have
        only ``name`` and ``categories``)."""
        cats = d.get("categories")
        return cls(
            d["name"],
            None if cats is None else tuple(cats),
            bool(d.get("missing", False)),
            None if d.get("fill") is None else float(d["fill"]),
            bool(d.get("clip", False)),
        )

    def as_dict(self) -> dict:
        """The JSON-ready entry (only ``name`` and ``categories`` for a plain column, as files
        written before imputation and clipping existed)."""
        d: dict = {"name": self.name, "categories": self.categories}
        if self.missing:
            d["missing"] = True
        if self.fill is not None:
            d["fill"] = self.fill
        if self.clip:
            d["clip"] = True
        return d


@dataclasses.dataclass(frozen=True)
class Encoding:
    """How raw feature columns become network inputs, in order (JSON-ready with :meth:`as_dict`)."""

    columns: tuple[Column, ...]

    @property
    def input_names(self) -> tuple[str, ...]:
        """The name of each network input: the column, or ``column=category`` for one-hot inputs."""
        names = []
        for c in self.columns:
            names += [c.name] if c.categories is None else [f"{c.name}={v}" for v in c.categories]
            if c.missing:
                names.append(f"{c.name} missing")
        return tuple(names)

    def value_inputs(self, clipped_only: bool = False) -> np.ndarray:
        """The indices of the inputs that hold a numeric column's value (not one-hot, not an
        indicator), or only those that are clipped."""
        out, j = [], 0
        for c in self.columns:
            if c.categories is None and (c.clip or not clipped_only):
                out.append(j)
            j += c.width
        return np.asarray(out, np.int64)

    def level_inputs(self) -> np.ndarray:
        """The indices of the inputs of the category columns: their one-hot levels and their
        missing indicators (the inputs that stay 0 or 1, unscaled)."""
        out: list[int] = []
        j = 0
        for c in self.columns:
            if c.categories is not None:
                out += range(j, j + c.width)
            j += c.width
        return np.asarray(out, np.int64)

    def as_dict(self) -> dict:
        """``{"columns": [{"name", "categories", ...}, ...]}`` (:meth:`Column.as_dict`)."""
        return {"columns": [c.as_dict() for c in self.columns]}


def smooth_clip(z: np.ndarray, bound: float = 3.0) -> np.ndarray:
    r"""RealMLP's smooth clipping, in place: :math:`z / \sqrt{1 + (z/b)^2}` (about :math:`z` for
    small :math:`|z|`, tending to :math:`\pm b`)."""
    z /= np.sqrt(1 + np.square(z / bound))
    return z


def read(path: str | Path, *, delimiter: str | None = None):
    """A file as a ``pyarrow.Table``: ``.parquet``/``.pq``, ``.npz`` (arrays ``x`` and ``y``), else
    CSV; its column names are unique (a column is found by its name)."""
    table = columns.decoded(_read(Path(path), delimiter))
    _check_shape(path, table.num_rows, table.column_names)
    return table


def open_columns(path: str | Path, *, delimiter: str | None = None):
    """A file's columns, read on demand (:mod:`jaxmlp.io.columns`): a Parquet file is opened, not
    read; a CSV or ``.npz`` file is read whole. The same checks as :func:`read`."""
    path = Path(path)
    source: columns.ParquetColumns | columns.TableColumns
    if path.is_dir() or (path.is_file() and path.suffix.lower() in parquet_reader.SUFFIXES):
        source = columns.ParquetFiles(path)
    else:
        source = columns.TableColumns(_read(path, delimiter))
    _check_shape(path, source.num_rows, source.column_names)
    return source


def _check_shape(path, rows: int, names: list[str]) -> None:
    if rows == 0:
        raise ValueError(f"{path}: has a header but no data rows")
    counts = collections.Counter(names)
    repeated = sorted(n for n, k in counts.items() if k > 1)
    if repeated:
        raise ValueError(
            f"{path}: column names must be unique, but "
            + ", ".join(f"{n!r} appears {counts[n]} times" for n in repeated)
        )


def _read(path: Path, delimiter: str | None):
    if path.is_dir():  # a directory of Parquet files, checked to agree, concatenated
        import pyarrow as pa

        files = columns.ParquetFiles(path).files
        return pa.concat_tables([parquet_reader.read_parquet_table(f.path) for f in files])
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in parquet_reader.SUFFIXES:
        return parquet_reader.read_parquet_table(path)
    if suffix == npz_reader.SUFFIX:
        return npz_reader.read_npz_table(path)
    return csv_reader.read_csv_table(path, delimiter)


def cell(path, row: int, column: str) -> str:
    """Where a value is, for a message: ``file, data row r (line l), column 'c'`` (lines in a CSV
    file only, counting one line per row after the header)."""
    csv_file = not Path(path).is_dir() and Path(path).suffix.lower() not in (
        *parquet_reader.SUFFIXES,
        npz_reader.SUFFIX,
    )
    return (
        f"{path}, data row {row + 1}{f' (line {row + 2})' if csv_file else ''}, column {column!r}"
    )


def check_target(table, path, target: str) -> None:
    """Raise when ``target`` is not a column of ``table``."""
    if target not in table.column_names:
        raise ValueError(
            f"{path}: no target column {target!r}; the columns are {', '.join(table.column_names)}"
        )


def drop_missing(table):
    """``table`` without the rows that have a missing value in any column."""
    return table.drop_null()


def check_complete(table, path, first: int = 0) -> None:
    """Raise naming the first missing value (row and column) when there is one (a Parquet file's
    counts come from its statistics; a column is read only to find the row; the table's rows are
    the file's data rows from ``first`` on)."""
    import pyarrow.compute as pc

    source = columns.as_columns(table)
    files = source.files if isinstance(source, columns.ParquetFiles) else [source]
    for name in source.column_names:
        for part in files:  # a directory's files one by one: the message names the file
            if part.null_count(name):
                where = getattr(part, "path", path)
                row = int(pc.index(pc.is_null(part.column(name)), True).as_py())
                raise ValueError(
                    f"{cell(where, first + row, name)}: the value is missing; fill it in or pass --drop-missing"
                )


def is_text(column) -> bool:
    """Whether a table column holds text."""
    import pyarrow as pa

    return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)


def check_numbers(column, path, name: str, first: int = 0) -> None:
    """A text column whose cells are mostly, not all, numbers has a typo: name its first non-number
    (its cells are the file's data rows from ``first`` on). (Text that is all numbers, such as
    codes stored as strings in Parquet, is a category.)"""
    import pyarrow.compute as pc

    numeric = pc.match_substring_regex(column, NUMBER)
    share = pc.mean(numeric.cast("int8")).as_py() or 0.0
    row = int(pc.index(numeric, False).as_py())
    if share >= 0.5 and row >= 0:
        raise ValueError(
            f"{cell(path, first + row, name)}: {column[row].as_py()!r} is not a number"
        )


def check_finite(values: np.ndarray, path, name: str, first: int = 0) -> None:
    """Raise naming the first NaN or infinity of a column's ``values`` (its row and column; the
    values are the file's data rows from ``first`` on)."""
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"{cell(path, first + row, name)}: {float(values[row])!r} is not a finite number"
        )


def encoding(
    table, path, features: list[str], *, impute: bool = False, clip: bool = False
) -> Encoding:
    """The encoding of the feature columns, learned from ``table`` (the training file; a
    ``pyarrow.Table`` or :mod:`~jaxmlp.io.columns`: only text columns, and with ``impute`` the
    null counts, are read). With ``impute`` a column with a missing (null) value gets an indicator
    input (a NaN in it is missing too; elsewhere it is refused as not finite)
    (its fill, the training rows' median, is set after the split: :func:`set_fills`); ``clip``
    marks the numeric columns for smooth clipping."""
    import pyarrow.compute as pc

    source = columns.as_columns(table)
    found = []
    for name in features:
        missing = impute and source.null_count(name) > 0
        if is_text(source.schema.field(name)):
            col = source.column(name)
            check_numbers(col, path, name)
            values = pc.unique(col).drop_null() if impute else pc.unique(col)
            cats = tuple(sorted(str(v) for v in values.to_pylist()))
            found.append(Column(name, cats, missing))
        else:
            found.append(Column(name, None, missing, clip=clip))
    return Encoding(tuple(found))


def set_fills(enc: Encoding, x: np.ndarray) -> tuple[Encoding, np.ndarray]:
    """With the training rows' inputs ``x`` (NaN where missing), each imputing numeric column's
    fill, its median over the rows where it is present; ``(encoding, fills per input)``, the
    fills NaN where nothing is filled. A column missing in every training row is refused."""
    fills = np.full(x.shape[1], np.nan)
    cols, j = [], 0
    for c in enc.columns:
        if c.categories is None and c.missing:
            present = x[:, j][~np.isnan(x[:, j])]
            if present.size == 0:
                raise ValueError(
                    f"column {c.name!r} is missing in every training row: leave it out with "
                    f"--ignore {c.name}"
                )
            fills[j] = float(np.median(present))
            c = dataclasses.replace(c, fill=float(fills[j]))
        cols.append(c)
        j += c.width
    return Encoding(tuple(cols)), fills


def fill_missing(x: np.ndarray, fills: np.ndarray) -> None:
    """Replace, in place, the NaNs of ``x``'s columns by their fills (columns whose fill is NaN
    are left alone)."""
    for j in np.flatnonzero(~np.isnan(fills)):
        col = x[:, j]
        col[np.isnan(col)] = fills[j]


def _floating(col) -> bool:
    import pyarrow as pa

    return pa.types.is_floating(col.type)


def missing_mask(col) -> np.ndarray:
    """Where a column's values are missing: null, or NaN in a float column."""
    import pyarrow.compute as pc

    mask = pc.is_null(col, nan_is_null=_floating(col))
    return np.asarray(mask.to_numpy(zero_copy_only=False), bool)


def aligned_empty(shape: tuple[int, int], dtype, alignment: int = 64) -> np.ndarray:
    """An uninitialised array whose data starts at a multiple of ``alignment`` bytes: JAX's CPU
    backend then uses it as the device buffer, without a copy (``jax.device_put``)."""
    dtype = np.dtype(dtype)
    size = shape[0] * shape[1] * dtype.itemsize
    raw = np.empty(size + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start : start + size].view(dtype).reshape(shape)


def encode(table, path, enc: Encoding, dtype, order: np.ndarray | None = None) -> np.ndarray:
    """The feature columns of ``table`` as ``(n, inputs)`` in ``dtype``, as ``enc`` says.

    Columns are found by name (any order; extra columns are ignored). Errors: a missing
    column, an unseen category, a non-finite or non-numeric value (with its row).
    ``table`` is a ``pyarrow.Table`` or :mod:`~jaxmlp.io.columns`, converted a batch of rows at
    a time into one 64-byte aligned array (the only full copy); row ``i`` lands at
    ``order[i]`` when ``order`` (a permutation of the rows) is given, else at ``i``.
    """
    source = columns.as_columns(table)
    check_columns(source, path, enc)
    out = aligned_empty((source.num_rows, sum(c.width for c in enc.columns)), dtype)
    for first, batch in source.batches([c.name for c in enc.columns]):
        rows = slice(first, first + batch.num_rows)
        # a row group's errors name its own file and row
        where, at = (
            (batch.path, batch.first) if isinstance(batch, columns.RowGroup) else (path, first)
        )
        encode_rows(batch, where, enc, out, rows if order is None else order[rows], at)
    return out


def check_columns(source, path, enc: Encoding) -> None:
    """Raise when a column that ``enc`` needs is not among ``source``'s."""
    missing = [c.name for c in enc.columns if c.name not in source.column_names]
    if missing:
        raise ValueError(
            f"{path}: no column {missing[0]!r}; the model needs {', '.join(x.name for x in enc.columns)}"
        )


def encode_rows(table, path, enc: Encoding, out: np.ndarray, rows, first: int) -> None:
    """Write the encoded rows of ``table`` (the file's data rows from ``first`` on, 0-based) to the
    rows ``rows`` (a slice or indices) of ``out``, a column at a time. A missing value of an
    imputing column (:attr:`Column.imputes`) becomes its fill (NaN while the fill is not yet
    known) and sets its indicator input; of any other column it is an error naming its cell."""
    import pyarrow as pa
    import pyarrow.compute as pc

    j = 0
    for c in enc.columns:
        col = table.column(c.name)
        absent = None
        if c.imputes:
            absent = missing_mask(col)
            if not absent.any():
                absent = None
        elif col.null_count:
            row = int(pc.index(pc.is_null(col), True).as_py())
            raise ValueError(
                f"{cell(path, first + row, c.name)}: the value is missing; fill it in or pass --drop-missing"
            )
        if c.categories is None:
            if is_text(col):
                check_numbers(col, path, c.name, first)
                raise ValueError(f"{path}, column {c.name!r}: expected numbers, got text")
            if not (
                pa.types.is_integer(col.type)
                or pa.types.is_floating(col.type)
                or pa.types.is_boolean(col.type)
                or pa.types.is_null(col.type)
            ):
                raise ValueError(f"{path}, column {c.name!r}: expected numbers, got {col.type}")
            if absent is not None:
                values = col.to_numpy(zero_copy_only=False).astype(out.dtype)
                values[absent] = np.nan if c.fill is None else c.fill
                check_finite(np.where(absent, 0, values), path, c.name, first)
            else:
                values = col.to_numpy(zero_copy_only=False).astype(out.dtype, copy=False)
                check_finite(values, path, c.name, first)
            out[rows, j] = values
            width = 1
        else:
            text = col.cast(pa.string())
            codes = pc.index_in(text, value_set=pa.array(c.categories, pa.string())).to_numpy(
                zero_copy_only=False
            )
            unseen = np.isnan(codes) if codes.dtype.kind == "f" else codes < 0
            if absent is not None:
                unseen &= ~absent
            if unseen.any():
                row = int(np.argmax(unseen))
                raise ValueError(
                    f"{cell(path, first + row, c.name)}: category "
                    f"{text[row].as_py()!r} was not seen in training (known: {', '.join(c.categories)})"
                )
            width = len(c.categories)
            eye = np.eye(width + 1, width, dtype=out.dtype)  # the last row: all zeros
            idx = np.where(absent, width, np.nan_to_num(codes)) if absent is not None else codes
            out[rows, j : j + width] = eye[np.asarray(idx).astype(np.int64)]
        if c.missing:
            out[rows, j + width] = 0 if absent is None else absent
        j += c.width
