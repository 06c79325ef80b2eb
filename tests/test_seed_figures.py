"""Every figure the seed prints for its forward and backward pass, from the library's own functions.

Seed values are typed from the seed document; each is compared to what
``forward_trace``, ``loss_fn``/``per_example_loss``, ``backprop`` and
``sgd_step`` compute, to within half a unit of the seed's last printed digit
(plus the seed's own rounding of intermediates where it multiplies rounded
figures, noted per case).
"""

import jax
import numpy as np
import pytest

import jaxmlp

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)

with jax.enable_x64(True):  # the seed's nine digits: float64, in the scope its tests run in
    NET, PARAMS, X, Y = jaxmlp.tutorial()


# A 10,000-step float64 run: each step rounds a few ulps (1e-16 relative); another backend's
# summation order or exp may move each step by that much, so the end value is pinned to 1e-12
# relative (10,000 x 1e-16), not to XLA's bits on this machine.
LONG_RUN_RTOL = 1e-12


def tol(printed: str) -> float:
    """Half a unit of the last printed digit."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return 0.5 * 10.0**-decimals


def check(value, printed: str, slack: float = 0.0):
    assert abs(float(value) - float(printed)) <= tol(printed) + slack, (float(value), printed)


def test_forward_pass():
    hidden, output = NET.forward_trace(PARAMS, X)
    check(hidden.net[0], "0.3775")
    check(hidden.out[0], "0.593269992")
    check(hidden.out[1], "0.596884378")
    check(output.net[0], "1.105905967")
    check(output.out[0], "0.75136507")
    check(output.out[1], "0.772928465")


def test_errors():
    e = NET.per_example_loss(PARAMS, X[None], Y[None])
    assert e.shape == (1,)
    check(NET.loss_fn(PARAMS, X, Y), "0.298371109")
    _, output = NET.forward_trace(PARAMS, X)
    e_o = 0.5 * (np.asarray(Y) - np.asarray(output.out)) ** 2  # E_o1, E_o2 per output
    check(e_o[0], "0.274811083")
    check(e_o[1], "0.023560026")
    assert float(NET.per_example_loss(PARAMS, X, Y)) == pytest.approx(e_o.sum(), abs=1e-15)


def test_output_layer_gradients_and_updates():
    g = NET.backprop(PARAMS, X, Y)
    check(g[1]["w"][0, 0], "0.082167041")  # dE_total/dw5
    new = jaxmlp.sgd_step(PARAMS, g, 0.5)
    check(new[1]["w"][0, 0], "0.35891648")  # w5+
    check(new[1]["w"][0, 1], "0.408666186")  # w6+
    check(new[1]["w"][1, 0], "0.511301270")  # w7+
    check(new[1]["w"][1, 1], "0.561370121")  # w8+


def test_node_deltas():
    # delta_o = dE/dnet_o: the gradient of a bias-free copy's output bias per neuron.
    net = jaxmlp.MLP((2, 2, 2), bias="per_neuron")
    params = tuple({"w": p["w"], "b": jax.numpy.full((2,), p["b"])} for p in PARAMS)
    g = net.backprop(params, X, Y)
    check(g[1]["b"][0], "0.138498562")  # dE_o1/dnet_o1 = delta_o1
    # delta_h1 = dE_total/dout_h1 * dout_h1/dnet_h1 = 0.036350306 * 0.241300709
    check(g[0]["b"][0], "0.008771354", slack=1e-9)


def test_hidden_layer_gradients_and_updates():
    g = NET.backprop(PARAMS, X, Y)
    check(g[0]["w"][0, 0], "0.000438568")  # dE_total/dw1
    new = jaxmlp.sgd_step(PARAMS, g, 0.5)
    check(new[0]["w"][0, 0], "0.149780716")  # w1+
    check(new[0]["w"][0, 1], "0.19956143")  # w2+
    check(new[0]["w"][1, 0], "0.24975114")  # w3+
    check(new[0]["w"][1, 1], "0.29950229")  # w4+


def test_biases_are_frozen():
    g = NET.backprop(PARAMS, X, Y)
    auto = jax.grad(NET.loss_fn)(PARAMS, X, Y)
    for layer in (0, 1):
        assert float(g[layer]["b"]) == 0.0
        assert float(auto[layer]["b"]) == 0.0


def test_ten_thousand_steps_end_at_the_issue_value():
    x, y = X[None], Y[None]
    for grad in ("autodiff", "backprop"):
        r = jaxmlp.fit(NET, PARAMS, x, y, steps=10_000, learning_rate=0.5, grad=grad)
        # The issues print 3.5101877829e-05 and 3.5101877829788e-05 (truncated): one unit of the last digit.
        final = float(NET.loss_fn(r.params, X, Y))
        assert abs(final - 3.5101877829e-05) <= 1e-15
        assert final == pytest.approx(3.5101877829788e-05, rel=LONG_RUN_RTOL)
        check(r.losses[1], "0.291027774")  # the described algorithm after one round
        check(r.losses[-1], "0.0000351085")  # after 9,999 rounds: the seed's figure
