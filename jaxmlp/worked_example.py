"""The seed's network: a 2-2-2 logistic MLP with one shared, frozen bias per layer.

Weights, in the seed's names (``w[j, i]`` connects input ``i`` to neuron ``j``)::

    h1 = f(w1 i1 + w2 i2 + b1)      w1 = 0.15  w2 = 0.20  b1 = 0.35
    h2 = f(w3 i1 + w4 i2 + b1)      w3 = 0.25  w4 = 0.30
    o1 = f(w5 h1 + w6 h2 + b2)      w5 = 0.40  w6 = 0.45  b2 = 0.60
    o2 = f(w7 h1 + w8 h2 + b2)      w7 = 0.50  w8 = 0.55

trained on one example, ``i = (0.05, 0.10)`` with target ``(0.01, 0.99)``, by
SGD at learning rate 0.5 on ``E = sum 1/2 (target - out)^2``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxmlp import programs
from jaxmlp.backprop import output_delta
from jaxmlp.forward import Layer
from jaxmlp.mlp import MLP
from jaxmlp.params import check_dtype
from jaxmlp.update import sgd_update
from jaxmlp.validation import check_batch

__all__ = [
    "SEED_NET",
    "SEED_WEIGHTS",
    "SEED_BIASES",
    "SEED_X",
    "SEED_Y",
    "SEED_LEARNING_RATE",
    "tutorial",
    "SEED_PRINTED",
    "printed_unit",
    "one_step_figures",
]

SEED_NET = MLP((2, 2, 2), "logistic", "logistic", "half_sse", bias="shared", train_bias=False)
SEED_WEIGHTS = (((0.15, 0.20), (0.25, 0.30)), ((0.40, 0.45), (0.50, 0.55)))
SEED_BIASES = (0.35, 0.60)
SEED_X = (0.05, 0.10)
SEED_Y = (0.01, 0.99)
SEED_LEARNING_RATE = 0.5


def tutorial(dtype=None):
    """The seed's ``(net, params, x, y)``; ``x`` and ``y`` are single examples of shape ``(2,)``.

    ``dtype`` defaults to JAX's default float (float64 once x64 is enabled,
    which the seed's nine digits need).
    """
    dtype = check_dtype(jnp.zeros(()).dtype if dtype is None else dtype)

    def array(values):  # device_put of a NumPy array: jnp.asarray would compile a copy per shape
        return jax.device_put(np.asarray(values, dtype))

    params = tuple({"w": array(w), "b": array(b)} for w, b in zip(SEED_WEIGHTS, SEED_BIASES))
    return SEED_NET, params, array(SEED_X), array(SEED_Y)


# The figures the seed prints, as printed (strings keep their printed digits).
SEED_PRINTED: dict[str, str | None] = {
    "net_h1": "0.3775",
    "out_h1": "0.593269992",
    "out_h2": "0.596884378",
    "net_o1": "1.105905967",
    "out_o1": "0.75136507",
    "out_o2": "0.772928465",
    "E_o1": "0.274811083",
    "E_o2": "0.023560026",
    "E_total": "0.298371109",
    "dE_total/dout_o1": "0.74136507",
    "dout_o1/dnet_o1": "0.186815602",
    "dnet_o1/dw5": "0.593269992",
    "dE_total/dw5": "0.082167041",
    "w5+": "0.35891648",
    "w6+": "0.408666186",
    "w7+": "0.511301270",
    "w8+": "0.561370121",
    "dE_o1/dnet_o1": "0.138498562",
    "dnet_o1/dout_h1": "0.40",
    "dE_o1/dout_h1": "0.055399425",
    "dE_o2/dout_h1": "-0.019049119",
    "dE_total/dout_h1": "0.036350306",
    "dout_h1/dnet_h1": "0.241300709",
    "dnet_h1/dw1": "0.05",
    "dE_total/dw1": "0.000438568",
    "w1+": "0.149780716",
    "w2+": "0.19956143",
    "w3+": "0.24975114",
    "w4+": "0.29950229",
    "E_total@1": "0.291027924",
    "E_total@9999": None,
    "E_total@10000": "0.0000351085",
    "out_o1@10000": "0.015912196",
    "out_o2@10000": "0.984065734",
}


def printed_unit(printed: str) -> float:
    """One unit of the last printed digit: ``"0.05" -> 0.01``."""
    return 10.0 ** -len(printed.split(".")[1]) if "." in printed else 1.0


def one_step_figures() -> dict[str, float]:
    """The seed's forward and backward figures, each from the library's own functions (float64).

    Computed in one compiled call: the same functions, traced once instead of
    dispatched op by op (which compiled ~40 tiny programs).
    """
    net, params, x, y = tutorial(jnp.float64)
    # Validation alone: running the checked methods would dispatch op by op.
    check_batch(net, params, x, y)
    values = jax.device_get(
        _one_step_figures(net, params, x, y)
    )  # a dict: its keys come back sorted
    return {k: float(values[k]) for k in SEED_PRINTED if "@" not in k}


@functools.partial(programs.jit, static_argnums=0)
def _one_step_figures(net: MLP, params, x, y) -> dict:
    hidden, output = net.forward_trace(params, x)
    loss = net.loss_spec
    act = net.output_activation_spec
    e_o = [loss.value(output.net[k : k + 1], output.out[k : k + 1], y[k : k + 1]) for k in (0, 1)]
    grads = net.backprop(params, x, y)
    new = sgd_update(params, grads, SEED_LEARNING_RATE)
    delta_o = output_delta(net, Layer(output.net[None], output.out[None]), y[None])[0]
    w_out = params[1]["w"]
    assert loss.dE_dout is not None  # the seed's half_sse
    f = {
        "net_h1": hidden.net[0],
        "out_h1": hidden.out[0],
        "out_h2": hidden.out[1],
        "net_o1": output.net[0],
        "out_o1": output.out[0],
        "out_o2": output.out[1],
        "E_o1": e_o[0],
        "E_o2": e_o[1],
        "E_total": net.loss_fn(params, x, y),
        "dE_total/dout_o1": loss.dE_dout(output.out, y)[0],
        "dout_o1/dnet_o1": act.derivative(output.net, output.out)[0],
        "dnet_o1/dw5": hidden.out[0],
        "dE_total/dw5": grads[1]["w"][0, 0],
        "w5+": new[1]["w"][0, 0],
        "w6+": new[1]["w"][0, 1],
        "w7+": new[1]["w"][1, 0],
        "w8+": new[1]["w"][1, 1],
        "dE_o1/dnet_o1": delta_o[0],
        "dnet_o1/dout_h1": w_out[0, 0],
        "dE_o1/dout_h1": delta_o[0] * w_out[0, 0],
        "dE_o2/dout_h1": delta_o[1] * w_out[1, 0],
        "dE_total/dout_h1": (delta_o @ w_out)[0],
        "dout_h1/dnet_h1": net.activation_spec.derivative(hidden.net, hidden.out)[0],
        "dnet_h1/dw1": x[0],
        "dE_total/dw1": grads[0]["w"][0, 0],
        "w1+": new[0]["w"][0, 0],
        "w2+": new[0]["w"][0, 1],
        "w3+": new[0]["w"][1, 0],
        "w4+": new[0]["w"][1, 1],
    }
    return f
