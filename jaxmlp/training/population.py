r"""Many networks at once: a population trained inside one compiled ``lax.scan``.

Every member has its own parameters and learning rate; all share the data and
the configuration. One step of the population is one SGD step of each member,

.. math:: \theta_n \leftarrow \theta_n - \eta_n \nabla E(\theta_n), \qquad n = 1..N,

and a chunk of steps is one ``lax.scan``, so N networks cost one compiled call
per chunk. Learning rates are data: a new grid never recompiles. This module
holds :func:`sweep` and the vmap layout (population first, ``vmap`` of one
network's step); :mod:`jaxmlp.kernels.lanes` holds the population-last layout.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import backprop as _backprop
from jaxmlp import metrics, programs
from jaxmlp.checks.gradient_check import GradCheckReport, leaf_errors, report_from_errors
from jaxmlp.forward import apply as _apply
from jaxmlp.forward import loss_fn as _loss_fn
from jaxmlp.kernels import lanes
from jaxmlp.kernels.small import matmul as kernel_matmul
from jaxmlp.mlp import MLP
from jaxmlp.params import init_stacked
from jaxmlp.training import engine, parallel
from jaxmlp.training import monitor as _monitor
from jaxmlp.training.arguments import (
    MAX_STEP,
    check_gradient_path,
    check_monitor,
    chunk_size_for,
)
from jaxmlp.training.loop import StepSpec, value_and_grad
from jaxmlp.update import keep_frozen, sgd_update
from jaxmlp.validation import check_batch, check_callback, check_positive_int

__all__ = [
    "SweepResult",
    "PopulationState",
    "LAYOUTS",
    "init_population",
    "run_population_chunk",
    "run_monitored_chunk",
    "population_loss",
    "kernel_errors",
    "sweep",
    "accuracy",
    "population_outputs",
]


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """What :func:`sweep` returns: ``final_loss`` ``(n_learning_rates, n_seeds)`` (loss of the final
    parameters), ``params`` stacked ``(n_learning_rates * n_seeds, ...)`` in row-major order, the
    steps and seconds of the training loop, the layout it ran in (``"vmap"`` or ``"lanes"``), and
    the check of the kernel's handwritten gradient on the first member (``None`` with autodiff or
    when turned off), and the records of a :class:`~jaxmlp.training.monitor.Monitor` (``None``
    without one)."""

    learning_rates: np.ndarray
    seeds: np.ndarray
    final_loss: np.ndarray
    params: tuple
    steps: int
    seconds: float
    layout: str
    gradient_check: GradCheckReport | None = None
    monitor: _monitor.Records | None = None

    @property
    def nets(self) -> int:
        """Number of networks trained: learning rates x seeds."""
        return self.final_loss.size

    @property
    def net_steps_per_second(self) -> float:
        """Networks x steps per second of the training loop."""
        return self.nets * self.steps / self.seconds


class PopulationState(NamedTuple):
    """What :func:`sweep`'s callback sees after each chunk (and
    :func:`~jaxmlp.training.members.train_population`'s after each check), as ``fit``'s sees a
    ``TrainState``: the population's ``params`` (stacked on a leading axis, as
    :attr:`SweepResult.params`) and the ``step`` every member has reached (a population's:
    ``(N,)``, each member's own)."""

    params: Any
    step: int


LAYOUTS = ("auto", "vmap", "lanes")


def init_population(net: MLP, seeds, dtype=jnp.float32):
    """Parameters for each seed, stacked on a leading axis: ``net.init(jax.random.key(seed))``."""
    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))
    return init_stacked(net, keys, dtype)


@functools.partial(programs.jit, static_argnames=("net", "grad", "n_steps"), donate_argnums=(0,))
def run_population_chunk(params, learning_rates, x, y, *, net: MLP, grad: str, n_steps: int):
    """``n_steps`` SGD steps of every member; returns ``(params, loss of every member after them)``.

    The loss is computed once after the scan, not per step: unused inside the
    loop, XLA drops its computation there, which leaves a step its gradient and update alone.
    """

    def body(params, _):
        return jax.vmap(_member_step(net, grad, x, y))(params, learning_rates), None

    params, _ = jax.lax.scan(body, params, None, length=n_steps)
    return params, population_loss(net, params, x, y)


def _member_step(net: MLP, grad: str, x, y, gradient: bool = False):
    """One member's SGD step ``(params, lr) -> params`` (with ``gradient``: and its gradient)."""
    spec = StepSpec(net, None, grad)

    def one(p, lr):
        g = value_and_grad(spec, p, x, y)[1]
        new = keep_frozen(net, sgd_update(p, g, lr), p)
        return (new, g) if gradient else new

    return one


@functools.partial(
    programs.jit, static_argnames=("net", "grad", "n_steps", "monitor", "lead"), donate_argnums=(0,)
)
def run_monitored_chunk(
    params, learning_rates, x, y, vectors, first_step, probe, *, net, grad, n_steps, monitor, lead
):
    """:func:`run_population_chunk` with every member's records (:mod:`jaxmlp.training.monitor`,
    :func:`~jaxmlp.training.monitor.scan`: a record before each global step that is a multiple of
    ``monitor.every``; ``lead`` steps come first) from the eigenvectors ``vectors`` (member axis
    first); returns ``(params, losses, Watch)``, the records with the member axis second."""
    one = _member_step(net, grad, x, y, gradient=True)

    def steps(params, n):
        def body(params, _):
            return jax.vmap(lambda p, lr: one(p, lr)[0])(params, learning_rates), None

        params, _ = jax.lax.scan(body, params, None, length=n)
        return params, jnp.zeros((n,), x.dtype)

    def record(params, vectors, step):
        return jax.vmap(
            lambda p, lr, v: _monitor.measure_at(
                net, monitor, p, lambda: one(p, lr), *probe, v, step
            )
        )(params, learning_rates, vectors)

    params, _, watch = _monitor.scan(
        monitor, steps, record, params, vectors, first_step, n_steps, lead
    )
    records = watch.records  # (records, members, ...): each record's rows stacked by the scan
    if records is not None:
        records = records._replace(step=records.step[:, 0])
    return params, population_loss(net, params, x, y), watch._replace(records=records)


@functools.partial(programs.jit, static_argnames=("net",))
def population_loss(net: MLP, params, x, y):
    """The loss of every member: ``(N,)``."""
    from jaxmlp.forward import loss_fn

    return jax.vmap(lambda p: loss_fn(net, p, x, y))(params)


@functools.partial(programs.jit, static_argnames=("net", "use_lanes"))
def kernel_errors(net: MLP, member, x, y, *, use_lanes: bool):
    """:func:`~jaxmlp.checks.gradient_check.leaf_errors` of the gradient the sweep's kernel computes for one
    member (the lanes delta rule on a population of one, or the delta rule with the loop's kernel
    that the vmap layout maps) against ``jax.grad`` of the reference loss."""
    auto = jax.grad(_loss_fn, argnums=1)(net, member, x, y)
    if use_lanes:
        one = lanes.to_lanes(jax.tree_util.tree_map(lambda a: a[None], member))
        hand = jax.tree_util.tree_map(
            lambda a: a[0], lanes.from_lanes(lanes.backprop(net, one, x, y))
        )
    else:
        hand = _backprop.backprop(net, member, x, y, matmul=kernel_matmul)
    return leaf_errors(net, hand, auto)


def _check_grid(learning_rates, seeds, steps, callback):
    """``(learning rates, seeds, steps)`` of a sweep, checked: finite positive rates, a non-empty
    list of integer seeds, a positive number of steps and a callable callback (or None)."""
    lrs = np.asarray(learning_rates)
    if lrs.dtype.kind not in "iuf":
        raise ValueError(f"learning_rates must be finite numbers > 0, got {learning_rates!r}")
    lrs = lrs.astype(np.float64).ravel()
    seeds = np.asarray(seeds).ravel()
    if lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError(f"learning_rates must be finite numbers > 0, got {learning_rates!r}")
    if seeds.size == 0 or seeds.dtype.kind not in "iu":
        raise ValueError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    steps = check_positive_int(steps, "steps", upper=MAX_STEP)
    check_callback(callback)
    return lrs, seeds, steps


def _placed(base, lrs, n_s: int, x, y, use_lanes: bool, mesh):
    """``(population, learning rates, x, y)``: the ``n_s`` stacked networks repeated for each
    learning rate (member ``n`` = learning rate ``n // n_s``, seed ``n % n_s``), in the lanes layout
    where asked, split over ``mesh`` (the data replicated) when given."""
    n_l = lrs.size
    population = jax.tree_util.tree_map(lambda a: jnp.tile(a, (n_l,) + (1,) * (a.ndim - 1)), base)
    lr = jnp.asarray(np.repeat(lrs, n_s), x.dtype)
    if use_lanes:
        population = lanes.to_lanes(population)
    if mesh is not None:
        parallel.check_divisible(n_l * n_s, mesh, "a population")
        shard = parallel.shard_trailing if use_lanes else parallel.shard_leading
        population = jax.tree_util.tree_map(lambda a: shard(mesh, a), population)
        lr = parallel.shard_leading(mesh, lr)
        x, y = parallel.replicate(mesh, (x, y))
    return population, lr, x, y


def _chunks(
    net, grad, population, lr, x, y, steps, chunk_size, callback, use_lanes, monitor, probe, mesh
):
    """``(population, steps done, monitor records)``: the sweep's compiled chunks until ``steps``
    are done or the callback says stop (monitored chunks in the vmap layout)."""
    chunk = lanes.run_population_chunk if use_lanes else run_population_chunk
    if monitor is not None:
        probe = (x, y) if probe is None else probe
        vector = jax.vmap(_monitor.start_vector)(population)
        vectors = (vector, vector)
        if mesh is not None:
            probe = parallel.replicate(mesh, probe)
            vectors = jax.tree_util.tree_map(lambda a: parallel.shard_leading(mesh, a), vectors)
    watched: list[_monitor.Records] = []

    def call(wanted):  # one chunk of every member, then the callback: (steps, stop)
        nonlocal population, vectors, done
        n = int(wanted[0])
        if monitor is None:
            population, losses = chunk(population, lr, x, y, net=net, grad=grad, n_steps=n)
        else:
            population, losses, watch = run_monitored_chunk(
                population, lr, x, y, vectors, np.int32(done), probe,
                net=net, grad=grad, n_steps=n, monitor=monitor, lead=(-done) % monitor.every,
            )  # fmt: skip
            vectors = (watch.vector, watch.gn_vector)
            if watch.records is not None:
                gathered = jax.tree_util.tree_map(parallel.gather, tuple(watch.records))
                watched.append(_monitor.Records(*parallel.to_host_tree(gathered)))
        done += n
        if callback is None:
            return [n], [False]
        # a copy either way: the population's own buffers are donated to the next chunk
        stacked = (
            lanes.from_lanes(population)
            if use_lanes
            else jax.tree_util.tree_map(jnp.copy, population)
        )
        losses = parallel.to_host(parallel.gather(losses))
        return [n], [bool(callback(PopulationState(stacked, done), losses))]

    done = 0
    engine.run_calls(call, [steps], chunk_size)
    return population, done, watched


def sweep(
    net: MLP,
    x,
    y,
    *,
    learning_rates,
    seeds,
    steps: int,
    grad: str = "backprop",
    dtype=jnp.float32,
    chunk_size: int | None = None,
    params=None,
    callback: Callable[[PopulationState, np.ndarray], bool | None] | None = None,
    devices=None,
    layout: str = "auto",
    check_gradient: bool = True,
    monitor: _monitor.Monitor | None = None,
) -> SweepResult:
    """Train one network per (learning rate, seed) pair by full-batch SGD, all at once.

    Args:
      net: the shared configuration; x, y: the shared data, ``(n, n_in)`` and targets.
      learning_rates: ``(L,)`` positive values; seeds: ``(S,)`` integers (initial weights
        ``net.init(key(seed))``), or ``params`` given stacked as ``(S, ...)``.
      steps: SGD steps for every network; grad: ``"backprop"`` or ``"autodiff"``.
      chunk_size: steps per compiled call; default all ``steps`` in one call without a
        callback, else about 1,000 in equal chunks (:func:`jaxmlp.training.arguments.even_chunks`).
      callback: ``callback(state, losses)`` after each chunk, as ``fit``'s: ``state`` a
        :class:`PopulationState` (``params``, ``step``), ``losses`` ``(N,)`` every member's loss;
        return True to stop.
      devices: a device count or a 1-D ``jax.sharding.Mesh``: the population
        (``L * S`` networks) is split over it and must divide by its size; the
        data are replicated. The members never communicate.
      layout: ``"vmap"`` stacks the population on the leading axis and maps one
        network's step over it with ``vmap``; ``"lanes"`` puts it last, so each scalar
        of a network is one vector over the population (:mod:`jaxmlp.kernels.lanes`; widths
        and examples at most 16); ``"auto"`` takes lanes for the handwritten gradient
        where it fits (faster on tiny networks: ``experiments/layouts.py`` times both), else vmap.
      check_gradient: with ``grad="backprop"``, first compare the gradient of the kernel that will
        run (lanes or vmap) for the first member with ``jax.grad``, as ``fit`` does; a mismatch
        raises :class:`~jaxmlp.checks.gradient_check.GradientMismatchError` before training.
      monitor: a :class:`~jaxmlp.training.monitor.Monitor`: every member's records, as ``fit``
        takes them (on its probe, else the data), in ``SweepResult.monitor`` with the member
        axis after the step axis (``step`` is ``(R,)``; runs in the vmap layout).

    Returns:
      A :class:`SweepResult`; ``final_loss[i, j]`` is learning rate ``i``, seed ``j``
      (NaN or inf where that network diverged).
    """
    lrs, seeds, steps = _check_grid(learning_rates, seeds, steps, callback)
    chunk_size = chunk_size_for(
        chunk_size,
        steps,
        n_train=0,
        batch_size=None,
        validating=False,
        callback=callback is not None,
    )
    check_gradient_path(grad, "simultaneous", None, None)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    base = init_population(net, seeds, dtype) if params is None else params
    first, x, y = _checked_members(net, base, seeds.size, x, y)
    use_lanes, monitor, probe = _layout(net, first, x.shape[0], grad, layout, monitor)
    report = None
    if check_gradient and grad == "backprop":
        errors = kernel_errors(net, first, x, y, use_lanes=use_lanes)
        report = report_from_errors(net, errors, first, x, y)
    n_l, n_s = lrs.size, seeds.size
    mesh = parallel.make_mesh(devices)
    population, lr, x, y = _placed(base, lrs, n_s, x, y, use_lanes, mesh)
    start = time.perf_counter()
    population, done, watched = _chunks(
        net, grad, population, lr, x, y, steps, chunk_size, callback, use_lanes, monitor, probe,
        mesh,
    )  # fmt: skip
    jax.block_until_ready(population)
    seconds = time.perf_counter() - start
    final_losses = lanes.compiled_losses if use_lanes else population_loss
    final = parallel.to_host(parallel.gather(final_losses(net, population, x, y)))
    if use_lanes:
        population = lanes.from_lanes(population)
    return SweepResult(
        lrs,
        seeds,
        final.reshape(n_l, n_s),
        population,
        done,
        seconds,
        "lanes" if use_lanes else "vmap",
        report,
        _monitor.concatenate(watched),
    )


def _checked_members(net: MLP, base, n: int, x, y):
    """``(first member, x, y)``: ``base`` stacked with one network per seed (``n``) and the
    data a batch it takes (:func:`~jaxmlp.validation.check_batch`), else refused."""
    leading = {np.shape(a)[0] if np.ndim(a) else None for a in jax.tree_util.tree_leaves(base)}
    if leading != {n}:
        raise ValueError(
            f"params must be stacked with one network per seed: a leading axis of {n}, "
            f"got leading axes {sorted(leading, key=str)}"
        )
    first = jax.tree_util.tree_map(lambda a: a[0], base)
    _, x, y = check_batch(net, first, x, y)
    if x.ndim != 2:
        raise ValueError(f"sweep needs a batch x of shape (n, {net.sizes[0]}), got {x.shape}")
    return first, x, y


def _layout(net: MLP, first, n_examples: int, grad: str, layout: str, monitor):
    """``(use_lanes, monitor, probe)``: whether the sweep runs in the lanes layout (``layout``
    asks for it, or ``"auto"`` with the handwritten gradient where it fits and nothing is
    monitored) and the monitor checked (:func:`check_monitor`)."""
    fits = lanes.fits(net, n_examples)
    if layout == "lanes" and not fits:
        raise ValueError(
            f"layout='lanes' takes layers at most {lanes.MAX_SIZE} wide and at most "
            f"{lanes.MAX_EXAMPLES} examples, got sizes {net.sizes} and {n_examples} examples; "
            "use layout='vmap'"
        )
    if monitor is not None and layout == "lanes":
        raise ValueError("a monitored sweep runs in the vmap layout: pass layout='vmap' or 'auto'")
    monitor, probe = check_monitor(net, first, monitor)
    use_lanes = layout == "lanes" or (
        layout == "auto" and fits and grad == "backprop" and monitor is None
    )
    return use_lanes, monitor, probe


def accuracy(net: MLP, stacked, x, y) -> np.ndarray:
    """Training accuracy of every member of a stacked population, ``(N,)``: argmax for several
    outputs, threshold 0.5 for one."""
    dtype = jax.tree_util.tree_leaves(stacked)[0].dtype
    out = np.asarray(population_outputs(net, stacked, jnp.asarray(x, dtype)))
    return np.asarray(metrics.accuracy(out, y))


@functools.partial(programs.jit, static_argnames=("net",))
def population_outputs(net: MLP, stacked, x):
    """Every member's outputs on ``x``: ``(N, n, n_out)``."""
    return jax.vmap(lambda p: _apply(net, p, x))(stacked)
