"""Parquet files, read by pyarrow into a ``pyarrow.Table``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SUFFIXES", "read_parquet_table"]

SUFFIXES = (".parquet", ".pq")


def read_parquet_table(path: Path):
    """The Parquet file ``path`` as a ``pyarrow.Table``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(f"{path} is not a readable Parquet file: {e}") from None
