"""A progress bar for long runs (rich), shown only on a terminal and never with ``--json``.

It is updated between compiled chunks, from the chunk's losses, so it costs no
host synchronisation inside the loop and no recompilation.
"""

from __future__ import annotations

import sys
import time

__all__ = ["NoProgress", "Progress", "progress"]


class NoProgress:
    """The stand-in when no bar is shown."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, step: int, loss: float) -> None:
        """Show ``step`` and ``loss`` (and the rate since the start)."""
        pass

    def set_total(self, total: int) -> None:
        """The run's steps changed (cut to a time budget)."""
        pass


class Progress(NoProgress):
    """``with Progress(total, start) as bar: bar.update(step, loss)``: step, loss, steps/s, and
    with ``batch`` and ``rows`` (the training rows) the rows per second and the epoch; the time
    elapsed and the time left, counting down."""

    def __init__(
        self,
        total: int,
        start: int = 0,
        description: str = "training",
        batch: int | None = None,
        rows: int | None = None,
    ):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self.start_step, self.t0 = start, time.perf_counter()
        self.batch, self.rows = batch, rows
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[rate]} steps/s"),
        ]
        if batch and rows:
            columns += [
                TextColumn("{task.fields[row_rate]} rows/s"),
                TextColumn("epoch {task.fields[epoch]}"),
            ]
        columns += [TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()]
        self._bar = RichProgress(*columns, transient=False)
        self._task = self._bar.add_task(
            description, total=total, completed=start, loss="-", rate="-", row_rate="-",
            epoch=self._epoch(start),
        )  # fmt: skip

    def _epoch(self, step: int) -> str:
        return f"{step * self.batch / self.rows:.2f}" if self.batch and self.rows else "-"

    def __enter__(self):
        self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self._bar.__exit__(*exc)

    def set_total(self, total: int) -> None:
        """The run's steps changed (cut to a time budget)."""
        self._bar.update(self._task, total=total)

    def update(self, step: int, loss: float) -> None:
        """Show ``step`` and ``loss`` (and the rates since the start, and the epoch)."""
        rate = (step - self.start_step) / max(time.perf_counter() - self.t0, 1e-9)
        self._bar.update(
            self._task, completed=step, loss=f"{loss:.4g}", rate=f"{rate:,.0f}",
            row_rate=f"{rate * (self.batch or 0):,.0f}", epoch=self._epoch(step),
        )  # fmt: skip


def progress(
    total: int,
    start: int = 0,
    *,
    enabled: bool = True,
    description: str = "training",
    batch: int | None = None,
    rows: int | None = None,
):
    """A :class:`Progress` when ``enabled`` and stdout is a terminal, else a :class:`NoProgress`."""
    if enabled and sys.stdout.isatty():
        return Progress(total, start, description, batch, rows)
    return NoProgress()
