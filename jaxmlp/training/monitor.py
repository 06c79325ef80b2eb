r"""Watching training happen: curvature, gradient flow and dead units, recorded inside the loop.

A :class:`Monitor` given to :func:`jaxmlp.fit` (or :func:`jaxmlp.sweep`) records, at every global
step :math:`s` that is a multiple of ``every``, from the parameters :math:`\theta_s` before that
step's update and from the update itself, without leaving the compiled call (a ``lax.cond`` in
the scanned step writes one row of preallocated records; no Python runs per record):

* ``sharpness``: :math:`\lambda_{max}(\nabla^2 E(\theta_s))`, the largest eigenvalue of the
  Hessian of the loss on the probe (the training set unless ``probe`` is given), by Lanczos
  iteration over the handwritten Hessian-vector product (:func:`jaxmlp.hvp.hvp`). Each record's
  iteration starts from the previous record's eigenvector, so a few iterations suffice; it stops
  when the residual :math:`\lVert H u - \lambda u \rVert = \beta_k |y_k|` (Lanczos' own, with
  ``u = Q y`` the Ritz vector) is at most ``tol`` :math:`\cdot|\lambda|`, or after ``iterations``.
  The iterations taken and that residual are recorded beside it. Under gradient descent with
  step size :math:`\eta` the quadratic model is stable while :math:`\lambda_{max} < 2/\eta`
  (:math:`(2 + 2\beta)/\eta` with heavy-ball momentum :math:`\beta`); Cohen et al. (ICLR 2021)
  found full-batch training drives the sharpness up to that edge and holds it there.
* ``gauss_newton`` (optional): the top eigenvalue of the Gauss-Newton matrix
  :math:`G = J^T H_\ell J` (:func:`jaxmlp.hvp.gnvp`), the same way.
* ``loss``: :math:`E(\theta_s)` on the probe.
* ``grad_norm``: per layer ``l``, :math:`\lVert \partial E_b / \partial \theta_l \rVert_2` over
  the layer's weights and bias, of the gradient step :math:`s` computed on its batch ``b`` (the
  whole training set without batches; before any clipping): the gradient the optimizer saw, at
  no cost beyond its norm.
* ``update_ratio``: per layer, :math:`\lVert \theta_{s+1,l} - \theta_{s,l} \rVert_2 /
  \lVert \theta_{s,l} \rVert_2`, the relative size of step :math:`s`'s update.
* ``dead`` and ``saturated``: per hidden layer, the fraction of units whose output is exactly 0
  (dead: the ReLU family) or whose derivative :math:`f'(net)` is below ``saturation`` (saturated:
  logistic, tanh; ``0.01`` is where logistic outputs pass 0.99 or 0.01 and tanh's pass
  :math:`\pm 0.995`) for every probe example: units through which no probe example passes a
  gradient.

The records never touch the training state: a monitored run's parameters are bit-identical to
an unmonitored run's. :class:`Records` holds the rows, each field with the step axis first.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxmlp.forward import forward_trace, per_example_loss_from_output
from jaxmlp.hvp import gnvp, hvp
from jaxmlp.kernels.small import matmul as kernel_matmul

__all__ = [
    "Array",
    "Monitor",
    "Records",
    "Watch",
    "layout",
    "start_vector",
    "lanczos_top",
    "measure",
    "scan",
    "measure_at",
    "concatenate",
    "until",
]

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Monitor:
    """What to record, and how often (module docstring).

    Args:
      every: record at every global step that is a multiple of ``every`` (a positive int).
      sharpness: record the Hessian's top eigenvalue (``False``: the cheap records alone).
      iterations: the most Lanczos iterations per record (a positive int).
      tol: stop a record's Lanczos iteration once the residual is at most ``tol * |lambda|``.
      gauss_newton: record the Gauss-Newton matrix's top eigenvalue too.
      saturation: the derivative below which a unit counts as saturated.
      probe: ``(x, y)`` on which the records are taken (a fixed batch); ``None``: the training
        set (after any validation split).
    """

    every: int = 100
    sharpness: bool = True
    iterations: int = 20
    tol: float = 1e-3
    gauss_newton: bool = False
    saturation: float = 0.01
    probe: Any = dataclasses.field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self):
        for name in ("every", "iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Monitor {name} must be a positive integer, got {value!r}")
        for name in ("sharpness", "gauss_newton"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(
                    f"Monitor {name} must be True or False, got {getattr(self, name)!r}"
                )
        for name in ("tol", "saturation"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"Monitor {name} must be a number > 0, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"Monitor {name} must be finite, got {value!r}")
        if self.probe is not None and (
            not isinstance(self.probe, (tuple, list)) or len(self.probe) != 2
        ):
            raise TypeError(
                f"Monitor probe must be a pair (x, y) or None, got {type(self.probe).__name__}"
            )

    @property
    def static(self) -> Monitor:
        """The monitor without its probe: the part that shapes the compiled program."""
        return dataclasses.replace(self, probe=None)


class Records(NamedTuple):
    """The records, ``R`` rows (one per recorded step): ``step`` ``(R,)``, ``loss``,
    ``sharpness``, ``iterations``, ``residual``, ``gauss_newton`` ``(R,)`` (NaN, or 0 iterations,
    where not asked), ``grad_norm`` and ``update_ratio`` ``(R, layers)``, ``dead`` and
    ``saturated`` ``(R, hidden layers)``. A population's records have the member axis after
    the step axis."""

    step: Any
    loss: Any
    sharpness: Any
    iterations: Any
    residual: Any
    gauss_newton: Any
    grad_norm: Any
    update_ratio: Any
    dead: Any
    saturated: Any

    def to_json(self) -> dict[str, list]:
        """Every field as nested lists (NaN stays NaN: the caller's JSON writer says how)."""
        return {k: np.asarray(v).tolist() for k, v in self._asdict().items()}


class Watch(NamedTuple):
    """What a compiled chunk returns for the monitor: its ``records`` (None when no record fell in
    it) and the last eigenvectors (flat: the next record's warm starts)."""

    records: Records | None
    vector: Array
    gn_vector: Array


def layout(n_steps: int, every: int, lead: int) -> tuple[int, int, int]:
    """How a chunk of ``n_steps`` steps whose first ``lead`` steps come before the next multiple of
    ``every`` runs: ``(head, blocks, tail)``: ``head`` steps without a record, then ``blocks``
    times a record and ``every`` steps, then (when ``tail`` > 0) a record and ``tail`` steps."""
    head = min(lead, n_steps)
    blocks, tail = divmod(n_steps - head, every)
    return head, blocks, tail


def start_vector(params) -> Array:
    """The first record's Lanczos start: a fixed normal draw (``key(0)``), shaped like the flat
    parameters."""
    flat, _ = ravel_pytree(params)
    return jax.random.normal(jax.random.key(0), flat.shape, flat.dtype)


def lanczos_top(matvec, start: Array, iterations: int, tol: float):
    r"""The largest eigenvalue of the symmetric operator ``matvec`` by Lanczos iteration from
    ``start``: ``(lambda, unit eigenvector, iterations taken, residual)``.

    Step ``j`` extends the orthonormal basis ``Q`` (each new vector re-orthogonalised against
    all earlier ones, twice) and the tridiagonal :math:`T_j = Q^T A Q`; its top eigenpair
    :math:`(\lambda, y)` gives the Ritz vector :math:`u = Q y` with
    :math:`\lVert A u - \lambda u \rVert = \beta_j |y_j|`. The loop stops once that is at most
    ``tol`` :math:`\cdot|\lambda|` or the Krylov space closes (:math:`\beta_j = 0`: exact), else
    after ``iterations`` steps. :math:`T_j` is embedded in a fixed ``iterations``-square matrix
    whose other diagonal entries lie below its Gershgorin bound, so one ``eigh`` shape serves
    every step."""
    m, dtype = iterations, start.dtype
    index = jnp.arange(m, dtype=jnp.int32)
    q = start / jnp.linalg.norm(start)

    def top(alphas, betas, j):
        inside = index <= j
        spread = 2 * jnp.max(jnp.where(index < j, jnp.abs(betas), 0))
        floor = jnp.min(jnp.where(inside, alphas, jnp.inf)) - spread - 1
        off = jnp.where(index[:-1] < j, betas[:-1], 0)
        t = jnp.diag(jnp.where(inside, alphas, floor)) + jnp.diag(off, 1) + jnp.diag(off, -1)
        values, vectors = jnp.linalg.eigh(t)
        return values[-1], vectors[:, -1]

    def body(carry):
        j, basis, alphas, betas, q, *_ = carry
        basis = basis.at[j].set(q)
        w = matvec(q)
        alphas = alphas.at[j].set(q @ w)
        for _ in range(2):
            w = w - basis.T @ (basis @ w)
        beta = jnp.linalg.norm(w)
        betas = betas.at[j].set(beta)
        value, y = top(alphas, betas, j)
        residual = beta * jnp.abs(y[j])
        return j + 1, basis, alphas, betas, w / jnp.where(beta > 0, beta, 1), value, y, residual

    def more(carry):
        j, *_, value, _, residual = carry
        return (j < m) & ((j == 0) | (residual > tol * jnp.abs(value)))

    zero = jnp.zeros((), dtype)
    init = (
        jnp.int32(0), jnp.zeros((m, q.size), dtype), jnp.zeros(m, dtype), jnp.zeros(m, dtype),
        q, zero, jnp.zeros(m, dtype), zero,
    )  # fmt: skip
    j, basis, *_, value, y, residual = jax.lax.while_loop(more, body, init)
    u = y @ basis
    return value, u / jnp.linalg.norm(u), j, residual


def _layer_norms(tree) -> Array:
    return jnp.stack(
        [jnp.sqrt(sum(jnp.sum(a**2) for a in jax.tree_util.tree_leaves(layer))) for layer in tree]
    )


def measure(net, monitor: Monitor, params, advance, x: Array, y: Array, vector, gn_vector):
    """One record at ``params`` on the probe ``(x, y)``: ``(row, vector, gn_vector)``, the row a
    :class:`Records` of one record's values (its step left -1 for the caller). ``advance()`` gives
    ``(params after the step's update, the gradient of the step's batch)``."""
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    new_params, grads = advance()
    change = jax.tree_util.tree_map(lambda a, b: b - a, params, new_params)
    sizes = _layer_norms(params)
    ratio = _layer_norms(change) / jnp.where(sizes > 0, sizes, jnp.nan)
    trace = forward_trace(net, params, x, matmul=kernel_matmul)
    loss = jnp.mean(per_example_loss_from_output(net, trace[-1], y))
    layers = trace[:-1]
    act = net.activation_spec
    dead = jnp.stack([jnp.mean(jnp.all(l.out == 0, axis=0).astype(dtype)) for l in layers])
    saturated = jnp.stack(
        [
            jnp.mean(
                jnp.all(act.derivative(l.net, l.out) < monitor.saturation, axis=0).astype(dtype)
            )
            for l in layers
        ]
    )
    flat, unravel = ravel_pytree(params)
    nan, none = jnp.asarray(jnp.nan, dtype), jnp.int32(0)
    sharp = (nan, vector, none, nan)
    gn = (nan, gn_vector, none, nan)

    def along(product):
        return lambda v: ravel_pytree(product(net, params, x, y, unravel(v), matmul=kernel_matmul))[
            0
        ]

    most = min(monitor.iterations, flat.size)  # a Krylov space has at most P dimensions
    if monitor.sharpness:
        sharp = lanczos_top(along(hvp), vector, most, monitor.tol)
    if monitor.gauss_newton:
        gn = lanczos_top(along(gnvp), gn_vector, most, monitor.tol)
    hidden = len(net.sizes) - 2
    row = Records(
        step=jnp.int32(-1),
        loss=loss.astype(dtype),
        sharpness=sharp[0],
        iterations=sharp[2],
        residual=sharp[3],
        gauss_newton=gn[0],
        grad_norm=_layer_norms(grads),
        update_ratio=ratio,
        dead=dead.reshape(hidden),
        saturated=saturated.reshape(hidden),
    )
    return row, sharp[1], gn[1]


def scan(monitor: Monitor, steps, record, carry, vectors, first_step, n_steps: int, lead: int):
    """``n_steps`` steps with a record at each global step that is a multiple of
    ``monitor.every``, as nested ``lax.scan`` s (:func:`layout`: no conditional inside the step
    loop, which would keep XLA from pipelining tiny steps): ``(carry, losses, Watch)``.

    ``steps(carry, n)`` runs ``n`` steps: ``(carry, losses)``; ``record(carry, vectors, step)``
    measures before global step ``step``: ``(row, vectors)``. ``first_step`` is the global step of
    the first step; ``lead`` (static) how many steps come before the next record."""
    head, blocks, tail = layout(n_steps, monitor.every, lead)
    parts, rows = [], []
    if head:
        carry, losses = steps(carry, head)
        parts.append(losses)
    if blocks:

        def block(c, b):
            carry, vectors = c
            row, vectors = record(carry, vectors, first_step + head + b * monitor.every)
            carry, losses = steps(carry, monitor.every)
            return (carry, vectors), (row, losses)

        (carry, vectors), (block_rows, losses) = jax.lax.scan(
            block, (carry, vectors), jnp.arange(blocks, dtype=jnp.int32)
        )
        parts.append(losses.reshape((-1,) + losses.shape[2:]))
        rows.append(block_rows)
    if tail:
        row, vectors = record(carry, vectors, first_step + head + blocks * monitor.every)
        carry, losses = steps(carry, tail)
        parts.append(losses)
        rows.append(jax.tree_util.tree_map(lambda a: a[None], row))
    records = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *rows) if rows else None
    return carry, jnp.concatenate(parts), Watch(records, *vectors)


def measure_at(net, monitor: Monitor, params, advance, x, y, vectors, step):
    """:func:`measure`'s row with its ``step``, and the new eigenvectors."""
    row, *vectors = measure(net, monitor, params, advance, x, y, *vectors)
    return row._replace(step=jnp.asarray(step, jnp.int32)), tuple(vectors)


def concatenate(parts: list[Records]) -> Records | None:
    """The records of several chunks, in order (None when there are none)."""
    if not parts:
        return None
    return Records(*(np.concatenate(field) for field in zip(*parts)))


def until(records: Records | None, step: int | None) -> Records | None:
    """The records of steps before ``step`` (all when ``step`` is None)."""
    if records is None or step is None:
        return records
    keep = np.asarray(records.step) < step
    return Records(*(np.asarray(a)[keep] for a in records))
