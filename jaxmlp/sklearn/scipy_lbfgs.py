r"""``solver="lbfgs"`` as scikit-learn runs it: SciPy's L-BFGS-B driving one compiled
value-and-gradient.

scikit-learn packs its parameters into one vector :math:`\theta` (every ``coefs_[l]``, row-major,
then every ``intercepts_[l]``) and hands :math:`J(\theta)` and :math:`\nabla J(\theta)`
(:mod:`jaxmlp.training.objective`) to ``scipy.optimize.minimize(method="L-BFGS-B", jac=True,
options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol})``. :func:`minimize` does the
same with the objective and its gradient computed by one jitted function of :math:`\theta`
(``jax.grad`` or the delta rule), so the iterates, ``n_iter_`` and the evaluation count follow
SciPy's algorithm step for step: they equal scikit-learn's up to the rounding of the two
gradient computations.

Each evaluation is one call from the host (SciPy's loop runs there). Runs that must stay on an
accelerator use :func:`jaxmlp.training.lbfgs.minimize` instead: ``optax.lbfgs`` in one compiled
``lax.while_loop`` (other iterates, the same minimum).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from jaxmlp import programs
from jaxmlp.mlp import MLP
from jaxmlp.training import objective

__all__ = ["Result", "pack", "unpack", "value_and_packed_grad", "minimize", "warn_if_stopped"]


class Result(NamedTuple):
    """The parameters (jaxmlp's layout), the final :math:`J`, SciPy's iteration and evaluation
    counts, its ``status`` (0: converged) and ``message``."""

    params: tuple
    loss: float
    iterations: int
    evaluations: int
    status: int
    message: str


def pack(params) -> np.ndarray:
    """jaxmlp's parameters (``w`` ``(n_out, n_in)``, ``b`` ``(n_out,)`` per layer) as
    scikit-learn's vector: each ``coefs_[l]`` = ``w.T`` row-major, then each ``b``."""
    coefs = [np.asarray(layer["w"]).T.ravel() for layer in params]
    return np.concatenate([*coefs, *(np.asarray(layer["b"]).ravel() for layer in params)])


def unpack(sizes: tuple[int, ...], theta):
    """The inverse of :func:`pack` for a network of layer ``sizes`` (NumPy or JAX arrays)."""
    shapes = list(zip(sizes[:-1], sizes[1:]))
    ends = np.cumsum([a * b for a, b in shapes] + [b for _, b in shapes])
    starts = np.concatenate([[0], ends[:-1]])
    cuts = [theta[s:e] for s, e in zip(starts, ends)]
    n = len(shapes)
    return tuple(
        {"w": cuts[i].reshape(fan_in, fan_out).T, "b": cuts[n + i]}
        for i, (fan_in, fan_out) in enumerate(shapes)
    )


@programs.jit(static_argnums=(0, 1))
def value_and_packed_grad(net: MLP, grad: str, theta, x, t, w, alpha):
    """``(J(theta), dJ/dtheta)`` on the batch ``(x, t, w)``, the gradient packed as ``theta``."""
    value, grads = objective.value_and_grad(net, unpack(net.sizes, theta), x, t, w, alpha, grad)
    return value, jnp.concatenate(
        [*(g["w"].T.ravel() for g in grads), *(g["b"].ravel() for g in grads)]
    )


def minimize(
    net: MLP, grad: str, params, x, t, w, alpha: float, max_iter: int, max_fun: int, tol: float
) -> Result:
    """Minimise :math:`J` from ``params`` with SciPy's L-BFGS-B under scikit-learn's options.

    The data stay on the device; SciPy's iterate (float64) is cast to the data's dtype for each
    evaluation, and :math:`J` and the gradient come back as float64 (SciPy's arithmetic)."""
    dtype = np.asarray(x).dtype
    x, t, w = (jnp.asarray(a) for a in (x, t, w))
    penalty = jnp.asarray(alpha, dtype)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, g = value_and_packed_grad(net, grad, jnp.asarray(theta, dtype), x, t, w, penalty)
        return float(value), np.asarray(g, np.float64)

    result = scipy.optimize.minimize(
        fun,
        pack(params),
        method="L-BFGS-B",
        jac=True,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
    )
    return Result(
        params=unpack(net.sizes, np.asarray(result.x, dtype)),
        loss=float(result.fun),
        iterations=int(result.nit),
        evaluations=int(result.nfev),
        status=int(result.status),
        message=str(result.message),
    )


def warn_if_stopped(result: Result, max_iter: int) -> int:
    """scikit-learn's report of a run SciPy stopped before convergence (a ``ConvergenceWarning``
    with its words); returns ``n_iter_``: the iterations, at most ``max_iter``."""
    n_iter = min(result.iterations, max_iter)
    if result.status != 0:
        message = (
            f"lbfgs failed to converge after {n_iter} iteration(s) "
            f"(status={result.status}):\n{result.message}\n"
        )
        if n_iter == max_iter:
            message += (
                "\nIncrease the number of iterations to improve the convergence "
                f"(max_iter={max_iter})."
            )
        message += (
            "\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
        )
        warnings.warn(message, ConvergenceWarning, stacklevel=4)
    return n_iter
