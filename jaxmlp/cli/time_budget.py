r"""A training run sized to a time budget: how many steps fit in the seconds left.

The run's own compiled chunk is timed first on the run's data (a probe of a few chunks, from
the same initial state; its program is the one the run then uses), and the run's steps are cut
to whole chunks that fit: :math:`T = \lfloor 0.9\,(B - t_0) / (s\,K) \rfloor K` for a budget
:math:`B`, :math:`t_0` seconds already spent, :math:`s` seconds a step and chunks of :math:`K`
steps (at least one chunk). A run that cannot reach its budget, by a pessimistic count of its
floating-point work (:data:`SLOW_FLOPS`), is not probed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = [
    "SLOW_FLOPS",
    "MARGIN",
    "work_flops",
    "may_bind",
    "seconds_per_step",
    "budgeted",
    "members",
]

SLOW_FLOPS = 5e9  # floating-point operations a second a slow CPU sustains on these networks
MARGIN = 0.9  # of the seconds left, the share the steps are planned to fill


def work_flops(steps: int, rows_per_step: int, n_params: int) -> float:
    """About :math:`6 P` operations a row and step (forward :math:`2P`, backward :math:`4P`)."""
    return 6.0 * steps * rows_per_step * n_params


def may_bind(steps: int, rows_per_step: int, n_params: int, seconds: float) -> bool:
    """Whether a run of ``steps`` might take more than a third of ``seconds`` on a slow CPU."""
    return work_flops(steps, rows_per_step, n_params) / SLOW_FLOPS > seconds / 3


def seconds_per_step(run: Callable[..., object], chunk: int) -> float:
    """Seconds a step, timed from the chunks of ``run(steps=, chunk_size=, callback=)`` after
    its first (which compiles): enough chunks for at least 20 timed steps."""
    chunks = 1 + max(2, math.ceil(20 / chunk))
    stamps: list[float] = []

    def stamp(state, losses):
        stamps.append(time.perf_counter())

    run(steps=chunks * chunk, chunk_size=chunk, callback=stamp)
    return (stamps[-1] - stamps[0]) / (chunk * (len(stamps) - 1))


def budgeted(steps: int, chunk: int, per_step: float, seconds_left: float) -> int:
    """The steps (whole chunks, at least one; at most ``steps``) that fit in ``seconds_left``."""
    fit = math.floor(MARGIN * max(seconds_left, 0.0) / (per_step * chunk)) * chunk
    return max(min(chunk, steps), min(steps, fit))


def members(k: int, steps: int, per_step: float, seconds_left: float) -> int:
    """How many of ``k`` ensemble members train all ``steps`` in ``seconds_left`` (a member
    costing one network's ``per_step``; at least 1)."""
    fit = math.floor(MARGIN * max(seconds_left, 0.0) / (per_step * steps))
    return max(1, min(k, fit))
