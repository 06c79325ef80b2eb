"""Whether ``jaxmlp train`` reads a data file into memory or streams it: the inputs it would hold
against a memory budget (``--memory-budget``, by default half the memory available), or
``--stream``. Only Parquet files and directories stream (read by row groups); a CSV or ``.npz``
file is read whole. A stream's holdings follow the budget: windows of a quarter of it, chunks of
batches of an eighth (at most 128 MB and 64 MB)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from jaxmlp.cli.options import UsageError

__all__ = [
    "FRACTION",
    "HELD",
    "UNITS",
    "NOT_STREAMED",
    "size_arg",
    "available_memory",
    "gigabytes",
    "is_parquet",
    "inputs_bytes",
    "choose",
    "window_bytes",
    "chunk_steps",
]

FRACTION = 0.5  # of the available memory, the default budget
HELD = 1.3  # bytes held in memory per byte of inputs, at most (jaxmlp's one-copy reading)
UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
# what a streamed run does not offer, and the run it would need instead
NOT_STREAMED = {
    "test": "--test",
    "drop_missing": "--drop-missing",
    "missing": "--missing",
    "ignore": "--ignore",
    "scaling": "--scaling",
    "plot": "--plot",
    "report": "--report",
}


def size_arg(text: str) -> int:
    """An argparse type: a size in bytes such as ``8G``, ``512M``, ``1.5GiB`` or ``1000000``."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not m or float(m.group(1)) <= 0:
        import argparse

        raise argparse.ArgumentTypeError(f"expected a size such as 8G or 512M, got {text!r}")
    return int(float(m.group(1)) * UNITS[m.group(2)])


def available_memory() -> int:
    """Bytes of memory available to a new process (Linux's ``MemAvailable``, else free pages)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def gigabytes(n: float) -> str:
    """``n`` bytes for a message: in GB, or MB below one GB."""
    return f"{n / (1 << 30):.2f} GB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MB"


def is_parquet(path: str) -> bool:
    """A Parquet file or a directory (of Parquet files)."""
    from jaxmlp.io.parquet_reader import SUFFIXES

    p = Path(path)
    return p.is_dir() or p.suffix.lower() in SUFFIXES


def inputs_bytes(path: str, itemsize: int) -> int:
    """The inputs a Parquet file or directory would hold in memory, from its metadata alone: rows
    x (columns - 1) x ``itemsize`` (text columns count one input each: at least this)."""
    from jaxmlp.io.columns import ParquetFiles

    files = ParquetFiles(Path(path))
    return files.num_rows * (len(files.column_names) - 1) * itemsize


def choose(args) -> tuple[bool, str | None]:
    """``(stream, note)``: whether to stream the run's data file, and the one line that says
    why when it was not asked for. A run that must stream but asks for what a stream does not
    offer is refused."""
    if args.dataset != "csv":
        if args.stream:
            raise UsageError(f"--stream applies to data files; {args.dataset} is built in")
        return False, None
    if args.path is None:  # the data set's loader says what is missing
        return False, None
    if not is_parquet(args.path):
        if args.stream:
            raise UsageError(
                f"--stream reads Parquet files or a directory of them; {args.path} is read whole "
                "(write it as Parquet with pyarrow to stream it)"
            )
        return False, None
    note = None
    stream = bool(args.stream)
    if not stream:
        need = HELD * inputs_bytes(args.path, 8 if args.x64 else 4)
        budget = args.memory_budget or int(FRACTION * available_memory())
        if need > budget:
            stream = True
            source = "--memory-budget" if args.memory_budget else "the default memory budget"
            note = (
                f"jaxmlp: {args.path} needs about {gigabytes(need)} in memory, over {source} "
                f"({gigabytes(budget)}): streaming it by row groups (--memory-budget to change)"
            )
    if stream:
        given = [flag for name, flag in NOT_STREAMED.items() if getattr(args, name, None)]
        if given:
            why = "--stream" if args.stream else "the data exceed the memory budget"
            raise UsageError(
                f"{', '.join(given)} cannot be used when the data are streamed ({why})"
            )
    return stream, note


def window_bytes(budget: int | None) -> int:
    """The rows a stream shuffles together: a quarter of ``--memory-budget`` (two windows are
    held), at most :data:`~jaxmlp.io.parquet_source.WINDOW_BYTES`, at least 1 MB."""
    from jaxmlp.io.parquet_source import WINDOW_BYTES

    return WINDOW_BYTES if budget is None else int(min(WINDOW_BYTES, max(1 << 20, budget // 4)))


def chunk_steps(budget: int | None, batch: int, n_in: int, x64: bool) -> int | None:
    """Steps per chunk of a stream: the batches of an eighth of ``--memory-budget`` (two chunks
    are held, each once on the host and once on the device), at most the default's 64 MB; None:
    the default."""
    from jaxmlp.training.streamed import BUFFER_BYTES

    if budget is None:
        return None
    held = min(BUFFER_BYTES, budget // 8)
    return max(1, held // (batch * n_in * (8 if x64 else 4)))
