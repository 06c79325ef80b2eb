r"""Second order by hand: Hessian-vector products by Pearlmutter's R-operator.

For a direction ``v`` shaped like the parameters, :math:`\mathcal{R}\{g\} =
\frac{d}{dr} g(\theta + r v)\big|_{r=0}` is the directional derivative of any
quantity ``g`` computed from the parameters. Applied to every line of the
forward pass and of the delta rule (:mod:`jaxmlp.backprop`), it turns the
gradient into :math:`\mathcal{R}\{\nabla E\} = H v`, the Hessian times ``v``,
at the cost of about two gradients (Pearlmutter 1994; Bishop, PRML 5.4.6).

Legend (the seed's names as in :mod:`jaxmlp.backprop`; ``V_l = v[l]["w"]``,
``c_l = v[l]["b"]``, ``B`` examples):

=========================  ========================================  ===============
seed                       here                                      shape
=========================  ========================================  ===============
R{net_h1}, R{out_h1}       ``rnet[0][n, 0]``, ``rout[0][n, 0]``      (batch, n_1)
R{net_o1}, R{out_o1}       ``rnet[-1][n, 0]``, ``rout[-1][n, 0]``    (batch, n_L)
delta_o1, R{delta_o1}      ``delta[n, 0]``, ``rdelta[n, 0]``         (batch, n_L)
v for w5                   ``v[1]["w"][0, 0]``                       (n_2, n_1)
(H v) for w5               ``hv[1]["w"][0, 0]``
=========================  ========================================  ===============

Forward, with :math:`\mathcal{R}\{out_0\} = \mathcal{R}\{x\} = 0`:

.. math::

   \mathcal{R}\{net_l\} &= \mathcal{R}\{out_{l-1}\} W_l^T + out_{l-1} V_l^T + c_l \\
   \mathcal{R}\{out_l\} &= f_l'(net_l) \odot \mathcal{R}\{net_l\}

Backward, from :math:`\delta_L = \frac{1}{B} \frac{\partial E}{\partial out_L} \odot f_L'(net_L)`:

.. math::

   \mathcal{R}\{\delta_L\} &= \tfrac{1}{B}\Big(\frac{\partial^2 E}{\partial out_L^2} \odot
      \mathcal{R}\{out_L\} \odot f_L'(net_L) + \frac{\partial E}{\partial out_L} \odot
      f_L''(net_L) \odot \mathcal{R}\{net_L\}\Big)
      \quad(\text{softmax + cross entropy: } \tfrac{1}{B}(p \odot r - p\,(p \cdot r)),\
      r = \mathcal{R}\{net_L\}) \\
   \mathcal{R}\{\delta_l\} &= (\mathcal{R}\{\delta_{l+1}\} W_{l+1} + \delta_{l+1} V_{l+1})
      \odot f_l'(net_l) + (\delta_{l+1} W_{l+1}) \odot f_l''(net_l) \odot \mathcal{R}\{net_l\} \\
   (H v)_{W_l} &= \mathcal{R}\{\delta_l\}^T out_{l-1} + \delta_l^T \mathcal{R}\{out_{l-1}\},
      \qquad (H v)_{b_l} = \textstyle\sum_n \mathcal{R}\{\delta_l\}
      \;(\text{and } \textstyle\sum_k \text{ for a shared bias})

:math:`f_l''(net_l) \odot \mathcal{R}\{net_l\}` is :math:`\mathcal{R}\{f_l'(net_l)\}`; where
:math:`f'` is written in :math:`out` it is taken through :math:`out` from the kept
:math:`\mathcal{R}\{out_l\}` (logistic: :math:`(1 - 2\,out_l) \odot \mathcal{R}\{out_l\}`),
and it is left out where :math:`f'' = 0` (the ReLU family, identity).

For the seed: :math:`(Hv)_{w5} = \mathcal{R}\{\delta_{o1}\}\, out_{h1} + \delta_{o1}\,
\mathcal{R}\{out_{h1}\}`. Frozen biases (``train_bias=False``) are constants:
their ``c`` is ignored and their rows of ``H v`` are zero, as autodiff gives them.

The Gauss-Newton product :math:`G v = J^T H_{\ell} J v` keeps the curvature of the
loss and drops that of the network: the :math:`f''` and :math:`V` terms of the
backward pass and the :math:`\delta^T \mathcal{R}\{out\}` term of the gradient go, and
:math:`H_\ell` is the loss's Hessian in ``out_L`` (squared errors, convex in the
output) or in ``net_L`` (the cross entropies with their fused activations, convex
in the net input), so ``G`` is positive semi-definite.

Nothing here calls ``jax.grad``, ``jvp`` or ``vjp``: :mod:`jaxmlp.checks.gradient_check`
compares it with ``jax.jvp(jax.grad(loss))``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from jaxmlp.backprop import layer_gradient, output_delta
from jaxmlp.forward import Matmul, forward_trace, one_hot_targets, per_example_loss_from_output

if TYPE_CHECKING:
    from jaxmlp.architecture import Architecture

__all__ = [
    "Array",
    "direction_bias",
    "r_forward",
    "output_delta_r",
    "value_grad_and_hvp",
    "hvp",
    "gnvp",
]

Array = jax.Array


def direction_bias(net: Architecture, layer_v: dict) -> Array | float:
    """``c_l`` as broadcastable to ``(batch, n_out)``; 0 without biases or when they are frozen."""
    if net.bias == "none" or not net.train_bias:
        return 0.0
    c = layer_v["b"]
    return c if net.bias == "shared" else c[None, :]


def r_forward(
    net: Architecture, params, v, x: Array, layers, *, matmul: Matmul = jnp.matmul
) -> tuple[list[Array], list[Array]]:
    """``(R{net_l}, R{out_l})`` for every layer, each ``(batch, n_l)``, from the forward pass ``layers``."""
    rnets, routs = [], []
    out, rout = x, None  # R{x} = 0: the first layer has no R{out_0} W^T term
    for l, (layer, lv) in enumerate(zip(params, v)):
        act = net.output_activation_spec if l == len(params) - 1 else net.activation_spec
        rnet = matmul(out, lv["w"].T) + direction_bias(net, lv)
        if rout is not None:
            rnet = matmul(rout, layer["w"].T) + rnet
        here = layers[l]
        if act.name == "softmax":  # its R{out} is never needed: the delta is fused
            rout = jnp.zeros_like(rnet)
        else:
            rout = act.derivative(here.net, here.out) * rnet
        rnets.append(rnet)
        routs.append(rout)
        out = here.out
    return rnets, routs


def output_delta_r(
    net: Architecture, last, y: Array, rnet: Array, rout: Array, *, gauss_newton: bool
):
    """``R{dE/dnet_L}`` per example ``(batch, n_out)`` (not yet divided by batch)."""
    t = one_hot_targets(net, y, last.out.dtype)
    loss, act = net.loss_spec, net.output_activation_spec
    if loss.fused_delta_r is not None:
        return loss.fused_delta_r(last.net, last.out, t, rnet)
    fprime = act.derivative(last.net, last.out)
    assert loss.d2E_dout2 is not None and loss.dE_dout is not None, f"loss {loss.name!r}"
    curvature = loss.d2E_dout2(last.out, t) * rout * fprime
    if gauss_newton or not act.curved:
        return curvature
    # f''(net) R{net} here, not r_derivative through R{out}: at the output layer that form
    # compiled to a slower product (the hidden layers' form through R{out} reads one array
    # fewer per element where layers are wide; `jaxmlp bench` times the product).
    return curvature + loss.dE_dout(last.out, t) * act.second_derivative(last.net, last.out) * rnet


def value_grad_and_hvp(
    net: Architecture,
    params,
    x: Array,
    y: Array,
    v,
    *,
    gauss_newton: bool = False,
    matmul: Matmul = jnp.matmul,
) -> tuple[Array, tuple, tuple]:
    """``(E, dE/dparams, H v)`` (or ``G v`` with ``gauss_newton``) from one R-augmented sweep.

    Args:
      params, v: parameter pytrees of the same structure and shapes.
      x: ``(batch, n_in)``; y: ``(batch, n_out)`` or integer labels ``(batch,)``.
      matmul: how products are taken (:mod:`jaxmlp.forward`).
    """
    layers = forward_trace(net, params, x, matmul=matmul)
    rnets, routs = r_forward(net, params, v, x, layers, matmul=matmul)
    loss = jnp.mean(per_example_loss_from_output(net, layers[-1], y))
    batch = x.shape[0]
    delta = output_delta(net, layers[-1], y) / batch
    rdelta = output_delta_r(net, layers[-1], y, rnets[-1], routs[-1], gauss_newton=gauss_newton)
    rdelta = rdelta / batch
    grads: list[Any] = [None] * len(params)
    hv: list[Any] = [None] * len(params)
    act = net.activation_spec
    for l in reversed(range(len(params))):
        prev_out = x if l == 0 else layers[l - 1].out
        grads[l] = layer_gradient(net, params[l], delta, prev_out, matmul=matmul)
        hv[l] = layer_gradient(net, params[l], rdelta, prev_out, matmul=matmul)
        if not gauss_newton and l > 0:  # R{out_0} = R{x} = 0
            hv[l]["w"] = hv[l]["w"] + matmul(delta.T, routs[l - 1])
        if l > 0:
            below = layers[l - 1]
            w, vw = params[l]["w"], v[l]["w"]
            fprime = act.derivative(below.net, below.out)
            back = matmul(delta, w)
            new_rdelta = matmul(rdelta, w) * fprime
            if not gauss_newton:
                new_rdelta = new_rdelta + matmul(delta, vw) * fprime
                if act.curved:
                    r_fprime = act.r_derivative(below.net, below.out, rnets[l - 1], routs[l - 1])
                    new_rdelta = new_rdelta + back * r_fprime
            delta, rdelta = back * fprime, new_rdelta
    return loss, tuple(grads), tuple(hv)


def hvp(net: Architecture, params, x: Array, y: Array, v, *, matmul: Matmul = jnp.matmul) -> tuple:
    """:math:`H v`, the Hessian of the batch loss times ``v``, by the R-operator; shaped like ``params``."""
    return value_grad_and_hvp(net, params, x, y, v, matmul=matmul)[2]


def gnvp(net: Architecture, params, x: Array, y: Array, v, *, matmul: Matmul = jnp.matmul) -> tuple:
    """:math:`G v`, the Gauss-Newton matrix :math:`J^T H_\\ell J` times ``v`` (module docstring)."""
    return value_grad_and_hvp(net, params, x, y, v, gauss_newton=True, matmul=matmul)[2]
