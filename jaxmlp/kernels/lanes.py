r"""The population-last layout: many tiny networks, each of their scalars one vector over the population.

``vmap`` stacks a population on the leading axis, so every operation of a
network of a few neurons works on rows of 2 to 16 numbers, and XLA's CPU
loops spend their time on index arithmetic and on library calls for tiny
reductions. Here the population (``N`` members) is the *last* axis: member
``p``'s weight ``W_l[j, i]`` is ``W[j, i, p]``, so every scalar operation of
the network is one operation on ``N`` contiguous numbers, and the sums over
inputs, outputs and examples are unrolled into elementwise adds (sizes up to
:data:`MAX_SIZE`), so the step has no dot and no reduction at all.

Shapes (``B`` examples, shared by all members):

=====================  =====================================
``params[l]["w"]``     ``(n_out, n_in, N)``
``params[l]["b"]``     ``(N,)`` shared, ``(n_out, N)`` per neuron
``x``, ``y``           ``(B, n_in)``, ``(B, n_out)`` or labels ``(B,)``
``net_l``, ``out_l``   ``(n_l, B, N)`` (``out_0 = x^T``, broadcast over ``N``)
=====================  =====================================

Per member, the forward pass and the delta rule of :mod:`jaxmlp.backprop`:

.. math::

   net_l[j] &= \textstyle\sum_i W_l[j, i]\, out_{l-1}[i] + b_l[j], \qquad out_l = f_l(net_l) \\
   \delta_L &= \tfrac{1}{B}\, \partial E / \partial net_L, \qquad
   \delta_l[i] = f_l'(net_l[i]) \textstyle\sum_j W_{l+1}[j, i]\, \delta_{l+1}[j] \\
   \partial E / \partial W_l[j, i] &= \textstyle\sum_b \delta_l[j, b]\, out_{l-1}[i, b], \qquad
   \partial E / \partial b_l[j] = \textstyle\sum_b \delta_l[j, b] \;(\text{and } \textstyle\sum_j
   \text{ for a shared bias})

The activations and losses are those of :mod:`jaxmlp.activations` and
:mod:`jaxmlp.losses`; the output layer's (softmax, the losses) see a view
with the classes last, as everywhere else.
"""

from __future__ import annotations

import functools
import operator
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import programs
from jaxmlp.backprop import output_delta
from jaxmlp.forward import Layer, one_hot_targets, per_example_loss_from_output
from jaxmlp.kernels.small import SMALL
from jaxmlp.update import keep_frozen, sgd_update

if TYPE_CHECKING:
    from jaxmlp.architecture import Architecture

__all__ = [
    "Array",
    "MAX_SIZE",
    "MAX_EXAMPLES",
    "fits",
    "to_lanes",
    "from_lanes",
    "forward_trace",
    "losses",
    "compiled_losses",
    "backprop",
    "gradient",
    "compiler_options",
    "compiled_chunk",
    "run_population_chunk",
]

Array = jax.Array

MAX_SIZE = SMALL  # widest layer the unrolled sums accept
MAX_EXAMPLES = 16  # most examples the unrolled sums over the batch accept


def fits(net: Architecture, n_examples: int) -> bool:
    """Whether the layout takes ``net`` on ``n_examples`` examples (every width and the batch at most 16)."""
    return max(net.sizes) <= MAX_SIZE and n_examples <= MAX_EXAMPLES


def to_lanes(stacked):
    """Parameters stacked on a leading population axis ``(N, ...)`` -> population last ``(..., N)``."""
    return jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, 0, -1), stacked)


def from_lanes(params):
    """The inverse of :func:`to_lanes`."""
    return jax.tree_util.tree_map(lambda a: jnp.moveaxis(a, -1, 0), params)


def _total(terms) -> Array:
    return functools.reduce(operator.add, terms)


def _classes_last(a: Array) -> Array:
    """``(n, B, N)`` -> ``(B, N, n)``: the view the activations and losses reduce over."""
    return jnp.moveaxis(a, 0, -1)


def _classes_first(a: Array) -> Array:
    return jnp.moveaxis(a, -1, 0)


def _bias(net: Architecture, layer: dict) -> Array | float:
    """The bias as broadcastable to ``(n_out, B, N)``; frozen biases pass through ``stop_gradient``
    (as in :func:`jaxmlp.forward.bias_term`)."""
    if net.bias == "none":
        return 0.0
    b = layer["b"] if net.train_bias else jax.lax.stop_gradient(layer["b"])
    return b[None, None, :] if net.bias == "shared" else b[:, None, :]


def forward_trace(net: Architecture, params, x: Array) -> tuple[Layer, ...]:
    """Every layer's ``(net, out)``, each ``(n_l, B, N)``, for shared inputs ``x`` ``(B, n_in)``."""
    out = x.T[:, :, None]
    layers = []
    for i, layer in enumerate(params):
        w = layer["w"]
        z = _total(w[:, k, None, :] * out[k][None] for k in range(w.shape[1])) + _bias(net, layer)
        if i == len(params) - 1:
            out = _classes_first(net.output_activation_spec.fn(_classes_last(z)))
        else:
            out = net.activation_spec.fn(z)
        layers.append(Layer(z, out))
    return tuple(layers)


def _targets(net: Architecture, y: Array, last: Layer) -> Array:
    """Targets as ``(B, N, n_out)`` floats, matching the classes-last view of the output layer."""
    t = one_hot_targets(net, y, last.out.dtype)
    return jnp.broadcast_to(t[:, None, :], (t.shape[0], last.out.shape[-1], t.shape[1]))


def losses(net: Architecture, params, x: Array, y: Array) -> Array:
    """Every member's batch loss (the mean over examples of E): ``(N,)``."""
    last = forward_trace(net, params, x)[-1]
    view = Layer(_classes_last(last.net), _classes_last(last.out))
    return jnp.mean(per_example_loss_from_output(net, view, _targets(net, y, last)), axis=0)


@functools.partial(programs.jit, static_argnames=("net",))
def compiled_losses(net: Architecture, params, x: Array, y: Array) -> Array:
    """:func:`losses` in one compiled call (what :func:`jaxmlp.training.population.sweep` reports at the end)."""
    return losses(net, params, x, y)


def backprop(net: Architecture, params, x: Array, y: Array) -> tuple:
    """Every member's gradient by the delta rule (module docstring); same pytree and layout as ``params``."""
    layers = forward_trace(net, params, x)
    last = layers[-1]
    view = Layer(_classes_last(last.net), _classes_last(last.out))
    n_examples = x.shape[0]
    delta = _classes_first(output_delta(net, view, _targets(net, y, last))) / n_examples
    grads: list[Any] = [None] * len(params)
    for l in reversed(range(len(params))):
        prev = x.T[:, :, None] if l == 0 else layers[l - 1].out
        g = {"w": _total(delta[:, None, b] * prev[None, :, b] for b in range(n_examples))}
        if net.bias != "none":
            if not net.train_bias:
                g["b"] = jnp.zeros_like(params[l]["b"])
            else:
                per_neuron = _total(delta[:, b] for b in range(n_examples))
                g["b"] = _total(per_neuron) if net.bias == "shared" else per_neuron
        grads[l] = g
        if l > 0:
            w = params[l]["w"]
            back = _total(w[j, :, None, :] * delta[j][None] for j in range(w.shape[0]))
            below = layers[l - 1]
            delta = back * net.activation_spec.derivative(below.net, below.out)
    return tuple(grads)


def gradient(net: Architecture, grad: str, params, x: Array, y: Array) -> tuple:
    """Every member's gradient: :func:`backprop`, or ``jax.grad`` of the summed losses for autodiff
    (the members are independent, so the gradient of the sum is each member's own)."""
    if grad == "backprop":
        return backprop(net, params, x, y)
    return jax.grad(lambda p: jnp.sum(losses(net, p, x, y)))(params)


def _population_chunk(params, learning_rates, x, y, *, net: Architecture, grad: str, n_steps: int):
    def body(p, _):
        new = sgd_update(p, gradient(net, grad, p, x, y), learning_rates)
        return keep_frozen(net, new, p), None

    params, _ = jax.lax.scan(body, params, None, length=n_steps)
    return params, losses(net, params, x, y)


@functools.cache
def compiler_options() -> dict[str, str]:
    """XLA options for the layout's loops: YNNPACK fusions off, where this XLA has the option.

    XLA's CPU backend hands reductions to YNNPACK; in a loop over networks
    this small, each becomes a library call that costs more than its
    arithmetic (`jaxmlp bench` times the population of seed networks this layout serves). The option is
    probed once, so an XLA without it keeps its defaults.
    """
    option = {"xla_cpu_experimental_ynn_fusion_type": ""}
    try:
        jax.jit(lambda a: a + 1, compiler_options=option).lower(np.float32(0)).compile()
    except Exception:  # noqa: BLE001 - whatever this XLA says, its defaults are the fallback
        return {}
    return option


@functools.cache
def compiled_chunk():
    """The jitted training chunk (built once, with :func:`compiler_options`)."""
    return programs.jit(
        _population_chunk,
        static_argnames=("net", "grad", "n_steps"),
        donate_argnums=(0,),
        compiler_options=compiler_options(),
    )


def run_population_chunk(
    params, learning_rates, x, y, *, net: Architecture, grad: str, n_steps: int
):
    r"""``n_steps`` SGD steps of every member, :math:`\theta_p \leftarrow \theta_p - \eta_p \nabla E(\theta_p)`,
    in one ``lax.scan``; returns ``(params, every member's loss after them (N,))``.

    ``params`` (population last) is donated; ``learning_rates`` is ``(N,)``.
    """
    return compiled_chunk()(params, learning_rates, x, y, net=net, grad=grad, n_steps=n_steps)
