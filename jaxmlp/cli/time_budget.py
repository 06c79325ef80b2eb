r"""A training run sized to a time budget: how many steps fit in the seconds left.

The run's own compiled chunk is timed first on the run's data (a probe of a few chunks, from
the same initial state; its program is the one the run then uses), and the run's steps are cut
to whole chunks that fit: :math:`T = \lfloor 0.9\,(B - t_0) / (s\,K) \rfloor K` for a budget
:math:`B`, :math:`t_0` seconds already spent, :math:`s` seconds a step and chunks of :math:`K`
steps (at least one chunk). A run that cannot reach its budget, by a pessimistic count of its
floating-point work (:data:`SLOW_FLOPS`), is not probed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np

from jaxmlp.training.arguments import FitOptions, chunk_size_for, optimizer_state
from jaxmlp.training.fit import fit_with

__all__ = [
    "SLOW_FLOPS",
    "MARGIN",
    "work_flops",
    "may_bind",
    "seconds_per_step",
    "budgeted",
    "members",
    "within_budget",
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


def within_budget(net, params, x, y, options: FitOptions, cfg, t_begin, k=1):
    """``(steps, chunk_size, members)``: what ends within ``cfg.time_budget`` seconds of
    ``t_begin``, timed by a probe of one network's compiled chunk (:func:`seconds_per_step`) of
    the run's ``fit`` ``options`` (without patience or the monitor): as many of the ``k``
    ensemble members as fit all the run's steps (a member counted as one network's time on one
    device, the members shared by ``cfg.devices`` devices at once), else
    one network with its steps cut to whole chunks. Unchanged, with the run's own chunk size,
    when the run cannot reach its budget."""
    steps, batch = options.steps, options.batch_size
    n = x.shape[0]
    held = max(1, round(n * cfg.validation_fraction)) if cfg.validation_fraction else 0
    n_params = sum(int(np.size(v)) for layer in params for v in layer.values())
    if not may_bind(k * steps, batch or n - held, n_params, cfg.time_budget):
        return steps, cfg.chunk_size, k
    chunk = chunk_size_for(
        cfg.chunk_size, steps, n - held, batch, bool(cfg.validation_fraction), True
    )
    fresh = optimizer_state(options.optimizer, params, options.learning_rate, steps)
    # an ensemble splits its members over the devices: a member's step is one network's on one
    # device, and the devices take their shares at once
    shared = cfg.devices if k > 1 and cfg.devices else 1
    devices = None if k > 1 else options.devices
    # an ensemble's members run another program: the probe's chunk is timed only, and times
    # the steps alone (a network's validation split and its loss after each chunk left out)
    held_out = options.validation_fraction if k == 1 else None
    base = dataclasses.replace(
        options,
        opt_state=fresh,
        patience=None,
        monitor=None,
        devices=devices,
        validation_fraction=held_out,
    )

    def probe(**run):
        fit_with(net, params, x, y, dataclasses.replace(base, **run))

    per_step = seconds_per_step(probe, chunk)
    left = cfg.time_budget - (time.perf_counter() - t_begin)
    k = members(k, steps, per_step / shared, left)
    if cfg.devices and k > 1:  # the members split over the devices: a multiple of their count
        k = k // cfg.devices * cfg.devices or 1
    if k > 1:
        return steps, chunk, k
    return budgeted(steps, chunk, per_step, left), chunk, 1
