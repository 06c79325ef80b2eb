r"""Gradient checks: handwritten backprop against ``jax.grad``, and both against finite differences;
the handwritten Hessian-vector product is checked the same way in :mod:`jaxmlp.checks.hvp_check`.

Default tolerances, elementwise :math:`|a - b| \le atol + rtol\,|b|` with
``b`` the autodiff value and ``atol = rtol * max|b|`` over the whole gradient
(an element that is a near-cancelling sum, such as a shared bias under softmax
whose exact gradient is 0, carries rounding on the scale of its terms, not of
its result):

=========  ==========  ===============================================
dtype      rtol        why
=========  ==========  ===============================================
float64    1e-9        ~4.5e6 ulp: far above summation-order noise for
                       widths up to thousands, far below any real bug
float32    1e-4        ~840 ulp: the two paths sum products in different
                       orders; for a width-n dot product the rounding
                       is O(n eps) relative, so widths to ~1000 pass
=========  ==========  ===============================================

Central finite differences, :math:`(E(\theta + h e_i) - E(\theta - h e_i)) / 2h`,
use ``h = eps**(1/3)`` scaled by ``max(1, |theta_i|)`` (which balances
truncation :math:`O(h^2)` against rounding :math:`O(eps/h)`), and are compared
with ``rtol = 1e-5`` (float64) or ``2e-2`` (float32) and
``atol = rtol * max|b| + 10 eps^(2/3) max(1, |E|)``, the second term being the
rounding noise of the difference quotient. Frozen biases are checked to be exactly zero
in both gradients and skipped by finite differences.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxmlp import backprop as _backprop
from jaxmlp import forward as _forward
from jaxmlp import programs
from jaxmlp.mlp import MLP
from jaxmlp.validation import as_batch

__all__ = [
    "DEFAULT_RTOL",
    "FD_RTOL",
    "GradientMismatchError",
    "LeafReport",
    "GradCheckReport",
    "finite_difference_gradient",
    "check_gradients",
    "check_tolerances",
    "build_report",
    "leaf_errors",
    "report_from_errors",
]

DEFAULT_RTOL = {8: 1e-9, 4: 1e-4, 2: 1e-2}
FD_RTOL = {8: 1e-5, 4: 2e-2, 2: 1e-1}


class GradientMismatchError(AssertionError):
    """Two gradients disagree; the message names the leaf, the sides and the error."""


@dataclasses.dataclass(frozen=True)
class LeafReport:
    """Errors of one parameter leaf (``path`` like ``params[1]['w']``)."""

    path: str
    max_abs_error: float
    max_rel_error: float
    fd_max_abs_error: float | None = None
    fd_max_rel_error: float | None = None
    passed: bool = True
    message: str = ""


@dataclasses.dataclass(frozen=True)
class GradCheckReport:
    """The result of :func:`check_gradients`; ``max_*`` are over all leaves."""

    passed: bool
    dtype: str
    rtol: float
    atol: float | None
    leaves: tuple[LeafReport, ...]

    @property
    def max_abs_error(self) -> float:
        """Largest backprop-vs-autodiff absolute error over all leaves."""
        return max(leaf.max_abs_error for leaf in self.leaves)

    @property
    def max_rel_error(self) -> float:
        """Largest backprop-vs-autodiff relative error over all leaves."""
        return max(leaf.max_rel_error for leaf in self.leaves)

    def as_dict(self) -> dict:
        """The report as JSON-ready data, with the overall maxima."""
        d = dataclasses.asdict(self)
        d["max_abs_error"], d["max_rel_error"] = self.max_abs_error, self.max_rel_error
        fd = [leaf.fd_max_abs_error for leaf in self.leaves if leaf.fd_max_abs_error is not None]
        d["fd_max_abs_error"] = max(fd) if fd else None
        return d


def _path_name(path) -> str:
    return "params" + jax.tree_util.keystr(path)


def _errors(a: np.ndarray, b: np.ndarray, atol: float) -> tuple[float, float]:
    diff = np.abs(a - b)
    if diff.size == 0:
        return 0.0, 0.0
    return float(diff.max()), float(
        (diff / np.maximum(np.abs(b), max(atol, np.finfo(b.dtype).tiny))).max()
    )


def _compare(a, b, rtol: float, atol: float, what: str, path: str) -> str | None:
    import chex  # only the gradient check needs it

    try:
        chex.assert_trees_all_close(a, b, rtol=rtol, atol=atol)
    except AssertionError as e:
        abs_err, rel_err = _errors(np.asarray(a), np.asarray(b), atol)
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return (
            f"{path}: {what}: max abs error {abs_err:.3e}, max rel error {rel_err:.3e} "
            f"(rtol={rtol:g}, atol={atol:.3e}). {first}"
        )
    return None


def finite_difference_gradient(net: MLP, params, x, y, *, step: float | None = None):
    """Central finite differences of the batch loss for every parameter scalar (same pytree as ``params``).

    ``x``/``y`` are a batch (or one example); the loss is evaluated in chunks
    of 256 perturbations with ``lax.map``.
    """
    flat, unravel = ravel_pytree(params)
    eps = float(jnp.finfo(flat.dtype).eps)
    h = (step if step is not None else eps ** (1 / 3)) * jnp.maximum(1.0, jnp.abs(flat))
    loss = functools.partial(_forward.loss_fn, net)

    def one(i):
        e = jnp.zeros_like(flat).at[i].set(h[i])
        return (loss(unravel(flat + e), x, y) - loss(unravel(flat - e), x, y)) / (2 * h[i])

    return unravel(jax.lax.map(one, jnp.arange(flat.size), batch_size=256))


@functools.partial(programs.jit, static_argnums=(0, 4))
def _gradients(net: MLP, params, x, y, finite_differences: bool):
    """``(E, backprop, jax.grad, finite differences or None)`` in one compiled call."""
    loss, auto = jax.value_and_grad(_forward.loss_fn, argnums=1)(net, params, x, y)
    hand = _backprop.backprop(net, params, x, y)
    fd = finite_difference_gradient(net, params, x, y) if finite_differences else None
    return loss, hand, auto, fd


def check_gradients(
    net: MLP,
    params,
    x,
    y,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    finite_differences: bool = False,
    raise_on_mismatch: bool = True,
) -> GradCheckReport:
    """Compare ``net.backprop`` with ``jax.grad(net.loss_fn)`` leaf by leaf (``chex.assert_trees_all_close``).

    Args:
      rtol, atol: tolerances; default by dtype (module docstring). A given
        ``atol`` is used as is for every leaf.
      finite_differences: also compare autodiff with central differences.
      raise_on_mismatch: raise :class:`GradientMismatchError` naming the leaf
        path, the two sides and the error; else only report.

    Returns:
      A :class:`GradCheckReport` with max abs and rel errors per leaf.
    """
    xb, yb = net._check(params, x, y)[1:]
    xb, yb = as_batch(xb), as_batch(yb, xb)
    check_tolerances(rtol, atol)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    loss, hand, auto, fd = _gradients(net, params, xb, yb, finite_differences)
    # Rounding noise of a central difference with h = eps^(1/3): ~ eps^(2/3) |E|.
    eps = float(jnp.finfo(dtype).eps)
    fd_noise = 10 * eps ** (2 / 3) * max(1.0, abs(float(loss)))
    return build_report(net, hand, auto, fd, fd_noise, "backprop", rtol, atol, raise_on_mismatch)


def check_tolerances(rtol, atol) -> None:
    """Refuse a tolerance that is not None or a finite number >= 0."""
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if tol is None:
            continue
        if isinstance(tol, (bool, str)) or not isinstance(tol, (int, float, np.floating)):
            raise TypeError(f"{name} must be None or a number >= 0, got {tol!r}")
        if not (math.isfinite(tol) and tol >= 0):
            raise ValueError(f"{name} must be None or a finite number >= 0, got {tol!r}")


def build_report(net, hand, auto, fd, fd_noise, side, rtol, atol, raise_on_mismatch):
    """Compare ``hand`` with ``auto`` (and ``fd`` with ``auto``) leaf by leaf; the report, or raise."""
    dtype = jax.tree_util.tree_leaves(auto)[0].dtype
    size = jnp.dtype(dtype).itemsize
    rtol_ = DEFAULT_RTOL[size] if rtol is None else rtol
    leaves, failures = [], []
    flat_auto = jax.tree_util.tree_flatten_with_path(auto)[0]
    tree_scale = max(float(np.abs(np.asarray(a)).max(initial=0.0)) for _, a in flat_auto)
    flat_hand = jax.tree_util.tree_leaves(hand)
    flat_fd = jax.tree_util.tree_leaves(fd) if fd is not None else [None] * len(flat_hand)
    for (path, a), h, f in zip(flat_auto, flat_hand, flat_fd):
        name = _path_name(path)
        a, h = np.asarray(a), np.asarray(h)
        scale = float(np.abs(a).max()) if a.size else 0.0
        atol_ = rtol_ * max(scale, tree_scale) if atol is None else atol
        frozen = name.endswith("['b']") and not net.train_bias
        msgs = []
        if frozen:
            if np.any(a != 0) or np.any(h != 0):
                msgs.append(
                    f"{name}: frozen bias has a non-zero entry ({side} max {np.abs(h).max():.3e}, autodiff max {np.abs(a).max():.3e})"
                )
        else:
            m = _compare(h, a, rtol_, atol_, f"{side} disagrees with autodiff", name)
            msgs += [m] if m else []
        abs_err, rel_err = _errors(h, a, atol_)
        fd_abs = fd_rel = None
        if f is not None and not frozen:
            f = np.asarray(f)
            fd_rtol = FD_RTOL[size] if rtol is None else max(rtol, FD_RTOL[size])
            fd_atol = fd_rtol * scale + fd_noise if atol is None else atol
            fd_abs, fd_rel = _errors(f, a, fd_atol)
            m = _compare(f, a, fd_rtol, fd_atol, "finite differences disagree with autodiff", name)
            msgs += [m] if m else []
        leaves.append(LeafReport(name, abs_err, rel_err, fd_abs, fd_rel, not msgs, "; ".join(msgs)))
        failures += msgs
    report = GradCheckReport(not failures, str(dtype), rtol_, atol, tuple(leaves))
    if failures and raise_on_mismatch:
        what = "gradient" if side == "backprop" else "Hessian-vector product"
        raise GradientMismatchError(f"{what} check failed: " + " | ".join(failures))
    return report


def leaf_errors(net: MLP, hand, auto) -> jax.Array:
    """Traceable: per leaf, ``(max abs error, max rel error, passed)`` of ``hand`` against ``auto``
    under the default tolerances, by the criterion :func:`check_gradients` applies with chex
    (stacked: ``(3, n_leaves)`` in the gradient's dtype, one transfer to the host). ``fit`` computes this inside its first compiled call, so the
    gradient check before training costs no extra dispatch; :func:`report_from_errors` reads it.
    """
    a_leaves, h_leaves = jax.tree_util.tree_leaves(auto), jax.tree_util.tree_leaves(hand)
    dtype = a_leaves[0].dtype
    rtol = DEFAULT_RTOL[jnp.dtype(dtype).itemsize]
    # One flat vector with a leaf index per entry: a few fused kernels instead of ~10 per leaf.
    sizes = [a.size for a in a_leaves]
    leaf = np.repeat(np.arange(len(sizes)), sizes)
    names = _leaf_names(jax.tree_util.tree_structure(auto))
    frozen = np.repeat([n.endswith("['b']") and not net.train_bias for n in names], sizes)
    a = jnp.concatenate([v.ravel() for v in a_leaves])
    h = jnp.concatenate([v.ravel() for v in h_leaves])
    diff, scale = jnp.abs(h - a), jnp.abs(a)
    atol = rtol * jnp.max(scale, initial=0.0)
    ok = jnp.where(frozen, (a == 0) & (h == 0), diff <= atol + rtol * scale)
    rel = diff / jnp.maximum(scale, jnp.maximum(atol, jnp.finfo(dtype).tiny))
    n = len(sizes)
    return jnp.stack(
        [
            jnp.maximum(jax.ops.segment_max(diff, leaf, n), 0),
            jnp.maximum(jax.ops.segment_max(rel, leaf, n), 0),
            jnp.minimum(jax.ops.segment_min(ok.astype(dtype), leaf, n), 1),
        ]
    )


def report_from_errors(net: MLP, errors, params, x, y) -> GradCheckReport:
    """The :class:`GradCheckReport` of :func:`leaf_errors`'s result on the batch ``(x, y)``; on a
    failed leaf, :func:`check_gradients` on that batch (chex, leaf by leaf) raises
    :class:`GradientMismatchError` with its message."""
    abs_err, rel_err, passed = np.asarray(errors).tolist()
    names = _leaf_names(jax.tree_util.tree_structure(params))
    if not all(passed):
        check_gradients(net, params, x, y)  # raises with chex's message
        failed = [
            f"{n}: max abs error {a:.3e}, max rel error {r:.3e}"
            for n, a, r, ok in zip(names, abs_err, rel_err, passed)
            if not ok
        ]
        raise GradientMismatchError("gradient check failed: " + " | ".join(failed))
    dtype = jnp.dtype(errors.dtype)
    leaves = tuple(map(LeafReport, names, abs_err, rel_err))
    return GradCheckReport(True, str(dtype), DEFAULT_RTOL[dtype.itemsize], None, leaves)


@functools.lru_cache(maxsize=64)
def _leaf_names(treedef) -> tuple[str, ...]:
    paths = jax.tree_util.tree_flatten_with_path(
        jax.tree_util.tree_unflatten(treedef, [0] * treedef.num_leaves)
    )[0]
    return tuple(_path_name(p) for p, _ in paths)
