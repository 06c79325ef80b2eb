"""The command line as a real process: help, version, exit codes, one-line errors."""

import pytest

import jaxmlp
from jaxmlp.cli import main
from tests.cli_helpers import assert_one_line_error, run_process


def test_a_process_of_its_own_prints_the_version():
    r = run_process("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"jaxmlp {jaxmlp.__version__}"


@pytest.mark.parametrize("command", ["reproduce", "trace", "gradcheck", "train", "sweep", "bench"])
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0 and "example: jaxmlp " + command in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, needle",
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["gradcheck", "--batch", "0"], "expected a positive int"),
        (["gradcheck", "--loss", "cross_entropy"], "needs output_activation 'softmax'"),
    ],
)
def test_user_errors_exit_two_with_one_line(argv, needle):
    r = run_process(*argv)
    assert_one_line_error(r.returncode, r.stderr, needle)


def test_gradcheck_json_passes():
    import json

    r = run_process(
        "gradcheck",
        "--sizes",
        "3,5,4,2",
        "--activation",
        "tanh",
        "--output-activation",
        "softmax",
        "--loss",
        "cross_entropy",
        "--bias",
        "per_neuron",
        "--batch",
        "8",
        "--seed",
        "0",
        "--x64",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["passed"] is True and d["max_abs_error"] < 1e-12 and d["max_rel_error"] < 1e-9


def test_errors_raised_inside_commands_are_one_line_too():
    """A command's own UsageError, run as ``python -m jaxmlp.cli`` (where cli is loaded twice)."""
    r = run_process("sweep", "--lr-min", "10", "--lr-max", "1")
    assert_one_line_error(r.returncode, r.stderr, "--lr-min 10.0 is larger than --lr-max 1.0")


def test_asking_for_more_memory_than_the_machine_has_is_one_line_too(capsys):
    """A population of 10^12 networks: XLA's out-of-memory error becomes the usual one line."""
    code = main(["sweep", "xor", "--learning-rates", "1000000", "--seeds", "1000000"])
    assert_one_line_error(code, capsys.readouterr().err, "the device ran out of memory (Out of")
