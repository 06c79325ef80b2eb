"""Fuzzing the public API and the CLI parser: every input ends in a result or a documented error.

Documented errors are ``ValueError`` and ``TypeError`` from the library, and
:class:`jaxmlp.cli.UsageError` (exit 2) or ``SystemExit(0)`` (--help,
--version) from the parser. Anything else, or a hang, fails the test.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxmlp
from jaxmlp.cli import UsageError, build_parser
from tests.settings import examples

NETS = [
    jaxmlp.MLP((3, 4, 2), activation="tanh"),
    jaxmlp.MLP((3, 5, 3), activation="relu", output_activation="softmax", loss="cross_entropy"),
    jaxmlp.MLP(
        (3, 2),
        activation="logistic",
        output_activation="logistic",
        loss="binary_cross_entropy",
        bias="shared",
    ),
]
with jax.enable_x64(True):  # the module's float64 fixtures, made in the scope its tests run in
    PARAMS = [net.init(jax.random.key(i), jnp.float64) for i, net in enumerate(NETS)]

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, 1e-300, 1e30, -1e30]),
)

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)
shapes = st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple)
dtypes = st.sampled_from(
    [np.float64, np.float32, np.float16, np.int32, np.int64, np.bool_, np.complex64, np.uint8]
)


@st.composite
def arrays(draw, likely=()):
    """Arrays of any dtype and values; half the time of a shape in ``likely`` (so validation passes and the math runs)."""
    shape = draw(st.one_of(shapes, st.sampled_from(likely))) if likely else draw(shapes)
    dtype = draw(dtypes)
    n = int(np.prod(shape)) if shape else 1
    raw = draw(st.lists(values, min_size=n, max_size=n))
    with np.errstate(all="ignore"):
        return np.asarray(raw, np.float64).reshape(shape).astype(dtype)


@settings(max_examples=examples(350), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, len(NETS) - 1),
    arrays(likely=[(3,), (1, 3), (4, 3)]),
    arrays(likely=[(2,), (4, 2), (3,), (4, 3), (4,), ()]),
    st.sampled_from(["apply", "loss_fn", "backprop", "forward_trace", "per_example_loss"]),
    st.booleans(),
)
def test_public_api_returns_or_raises_a_documented_error(i, x, y, method, break_params):
    call(i, x, y, method, break_params)


METHODS = ["apply", "loss_fn", "backprop", "forward_trace", "per_example_loss"]


def call(i, x, y, method, break_params=False) -> bool:
    """Call ``method``; True when the math ran (and returned floats), False on a documented error."""
    net, params = NETS[i], PARAMS[i]
    if break_params:
        params = params[:-1] + ({k: v[..., :1] if k == "w" else v for k, v in params[-1].items()},)
    fn = getattr(net, method)
    try:
        out = fn(params, x) if method in ("apply", "forward_trace") else fn(params, x, y)
    except (ValueError, TypeError) as e:
        assert str(e), "an error must say what is wrong"
        return False
    leaves = jax.tree_util.tree_leaves(jax.block_until_ready(out))
    assert leaves and all(np.asarray(leaf).dtype.kind == "f" for leaf in leaves)
    return True


@pytest.mark.parametrize("method", METHODS)
def test_the_fuzzers_likely_shapes_reach_the_math(method):
    """The likely shapes above pass validation, so the fuzzer exercises the math, not only the errors."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    targets = [np.zeros((4, 2)), np.array([0, 1, 2, 0]), np.full((4, 2), 0.5)]
    for i, y in enumerate(targets):
        assert call(i, x, y, method), (i, method)
        assert call(i, x[0], y[0], method), (i, method)


TOKENS = [
    "reproduce",
    "trace",
    "gradcheck",
    "train",
    "sweep",
    "tutorial",
    "xor",
    "digits",
    "csv",
    "mnist",
    "--sizes",
    "3,4,2",
    "0,1",
    "a,b",
    "2",
    "-3",
    "--activation",
    "tanh",
    "relu",
    "swish",
    "--loss",
    "mse",
    "cross_entropy",
    "hinge",
    "--output-activation",
    "softmax",
    "--bias",
    "shared",
    "--learning-rate",
    "0.5",
    "-1",
    "nan",
    "inf",
    "1e400",
    "--steps",
    "0",
    "10",
    "--epochs",
    "--batch-size",
    "--seed",
    "--json",
    "--x64",
    "--format",
    "markdown",
    "latex",
    "--optimizer",
    "adam",
    "rmsprop",
    "--grad",
    "backprop",
    "numeric",
    "--checkpoint",
    "--resume",
    "--plot",
    "--weights",
    "--clip-norm",
    "--seeds",
    "--lr-min",
    "--help",
    "--version",
    "",
    "--",
    "-",
    "é",
    "--target",
    "\x00",
]


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=8)), max_size=8))
def test_cli_parser_accepts_or_raises_a_usage_error(argv):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        assert str(e)
        return
    except SystemExit as e:  # --help and --version print and exit 0
        assert e.code == 0
        return
    assert callable(args.func)


@pytest.mark.parametrize(
    "argv",
    [
        ["trace", "--sizes", "2,2", "--learning-rate", "1e400"],
        ["gradcheck", "--batch", "-1"],
        ["train", "xor", "--clip-norm", "nan"],
    ],
)
def test_cli_number_edge_cases_are_usage_errors(argv):
    with pytest.raises(UsageError):
        build_parser().parse_args(argv)
