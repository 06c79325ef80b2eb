"""A data file's columns, read on demand: a ``pyarrow.Table`` held whole (CSV, ``.npz``), or a
Parquet file read one column of one row group at a time, so that a large file is never held whole
in memory (the network's input matrix, filled batch by batch, is the one full copy).

Both give ``column_names``, ``num_rows``, ``schema``, ``column(name)`` (a ``ChunkedArray``),
``null_count(name)`` and ``batches(names)``: ``(first_row, batch)`` pairs in file order, a batch
being :data:`BATCH_ROWS` rows of a table or one row group of a Parquet file, with ``num_rows``
and ``column(name)``. Dictionary-encoded columns (a pandas ``category`` saved to Parquet) read
as their values.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "BATCH_ROWS",
    "decoded",
    "TableColumns",
    "ParquetColumns",
    "RowGroup",
    "ParquetFiles",
    "as_columns",
]

BATCH_ROWS = 65_536  # rows of an in-memory table converted at a time


def decoded(table):
    """``table`` with dictionary-encoded columns as their values (text categories read as text
    whatever the file's encoding)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, pc.cast(table.column(i), field.type.value_type))
    return table


def _value_schema(schema):
    """``schema`` with dictionary types replaced by their value types."""
    import pyarrow as pa

    return pa.schema(
        [f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema]
    )


class TableColumns:
    """The columns of a ``pyarrow.Table`` in memory."""

    def __init__(self, table):
        self.table = decoded(table)

    @property
    def column_names(self) -> list[str]:
        return self.table.column_names

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    @property
    def schema(self):
        return self.table.schema

    def column(self, name: str):
        return self.table.column(name)

    def null_count(self, name: str) -> int:
        return self.table.column(name).null_count

    def batches(self, names: list[str]) -> Iterator[tuple[int, Any]]:
        import pyarrow as pa

        first = 0
        for batch in self.table.select(names).to_batches(max_chunksize=BATCH_ROWS):
            yield first, pa.Table.from_batches([batch])
            first += batch.num_rows


class ParquetColumns:
    """The columns of a Parquet file, read when asked for (a column, or a batch of rows).

    A column or row group that fails to decode is refused naming the file and where."""

    def __init__(self, path: Path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as e:
            raise ValueError(f"{path} is not a readable Parquet file: {e}") from None
        self.schema = _value_schema(self.file.schema_arrow)

    @property
    def column_names(self) -> list[str]:
        return self.schema.names

    @property
    def num_rows(self) -> int:
        return self.file.metadata.num_rows

    def column(self, name: str):
        import pyarrow as pa

        groups = [
            RowGroup(self, g, 0).column(name) for g in range(self.file.metadata.num_row_groups)
        ]  # a row group's column needs no row count
        return pa.chunked_array(
            [c for g in groups for c in g.chunks], type=self.schema.field(name).type
        )

    def null_count(self, name: str) -> int:
        """From the row groups' statistics where every one has them, else by reading the column."""
        meta = self.file.metadata
        j = self.file.schema_arrow.get_field_index(name)
        counts = []
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(j).statistics
            if stats is None or not stats.has_null_count:
                return self.column(name).null_count
            counts.append(stats.null_count)
        return sum(counts)

    def batches(self, names: list[str]) -> Iterator[tuple[int, RowGroup]]:
        """One batch per row group, whose columns are read when asked for (one column of one
        row group in memory at a time; pyarrow's ``iter_batches`` keeps every batch it decoded
        allocated until the file is closed)."""
        first = 0
        for g in range(self.file.metadata.num_row_groups):
            group = RowGroup(self, g, self.file.metadata.row_group(g).num_rows)
            yield first, group
            first += group.num_rows

    def _read(self, read, name: str, group: int | None = None):
        import pyarrow as pa

        try:
            return read()
        except (pa.ArrowException, OSError) as e:
            where = f"column {name!r}" + ("" if group is None else f", row group {group}")
            raise ValueError(f"{self.path}, {where}: cannot be read: {e}") from None


class RowGroup:
    """One row group of a Parquet file: ``num_rows`` and ``column(name)``, read when asked for;
    ``first`` is its first row's index in its file."""

    def __init__(self, source: ParquetColumns, index: int, num_rows: int, first: int = 0):
        self.source, self.index, self.num_rows, self.first = source, index, num_rows, first

    @property
    def path(self) -> Path:
        return self.source.path

    def column(self, name: str):
        read = lambda: self.source.file.read_row_group(self.index, columns=[name])  # noqa: E731
        return decoded(self.source._read(read, name, self.index)).column(0)

    def table(self, names: list[str]):
        """The columns ``names`` of this row group as one ``pyarrow.Table``, read a column at a
        time (reading them together left several times the group's size resident)."""
        import pyarrow as pa

        return pa.table({name: self.column(name) for name in names})


class ParquetFiles(ParquetColumns):
    """One Parquet file, or a directory of them (``*.parquet``, ``*.pq``, by name) read as their
    concatenation: the columns protocol of :class:`ParquetColumns` over all of them, and
    ``groups``, every row group of every file in order (:class:`RowGroup`, ``first`` counted in
    its own file).

    Refused with one line naming the file: a directory without Parquet files, a file whose columns
    or types differ from the first file's, an empty file among several."""

    def __init__(self, path: Path):
        from jaxmlp.io.parquet_reader import SUFFIXES

        self.path = Path(path)
        if self.path.is_dir():
            paths = sorted(p for p in self.path.iterdir() if p.suffix.lower() in SUFFIXES)
            if not paths:
                raise ValueError(
                    f"{self.path}: a directory without Parquet files (*.parquet, *.pq)"
                )
        else:
            paths = [self.path]
        self.files = [ParquetColumns(p) for p in paths]
        first = self.files[0]
        self.schema = first.schema
        for f in self.files[1:]:
            if not f.schema.equals(first.schema):
                raise ValueError(
                    f"{f.path}: its columns ({_describe(f.schema)}) differ from those of "
                    f"{first.path} ({_describe(first.schema)})"
                )
        if len(self.files) > 1:
            for f in self.files:
                if f.num_rows == 0:
                    raise ValueError(f"{f.path}: holds no rows (an empty file among {len(paths)})")
        self.groups: list[RowGroup] = []
        for f in self.files:
            start = 0
            for g in range(f.file.metadata.num_row_groups):
                rows = f.file.metadata.row_group(g).num_rows
                self.groups.append(RowGroup(f, g, rows, start))
                start += rows

    @property
    def num_rows(self) -> int:
        return sum(f.num_rows for f in self.files)

    def column(self, name: str):
        import pyarrow as pa

        parts = [f.column(name) for f in self.files]
        return pa.chunked_array(
            [c for p in parts for c in p.chunks], type=self.schema.field(name).type
        )

    def null_count(self, name: str) -> int:
        return sum(f.null_count(name) for f in self.files)

    def batches(self, names: list[str]) -> Iterator[tuple[int, RowGroup]]:
        """One batch per row group, over every file in order (see :class:`ParquetColumns`)."""
        first = 0
        for group in self.groups:
            yield first, group
            first += group.num_rows


def _describe(schema) -> str:
    return ", ".join(f"{f.name}: {f.type}" for f in schema)


def as_columns(table) -> TableColumns | ParquetColumns:
    """``table`` as columns (a ``pyarrow.Table`` is wrapped; columns pass through)."""
    return table if isinstance(table, (TableColumns, ParquetColumns)) else TableColumns(table)
