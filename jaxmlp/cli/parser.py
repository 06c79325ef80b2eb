"""The ``jaxmlp`` command line's parser: every command and its options (shared ones from
:mod:`jaxmlp.cli.options`).
"""

from __future__ import annotations

import jaxmlp
from jaxmlp.cli import budget, commands
from jaxmlp.cli.options import (
    Parser,
    add_data_arguments,
    add_network_options,
    add_parallel_options,
    bag_fraction,
    fraction_or_zero,
    non_negative_float,
    positive,
    shared,
)
from jaxmlp.io.file_dataset import RECIPE
from jaxmlp.training.optimizers import OPTIMIZERS, SCHEDULES

__all__ = ["build_parser"]


def build_parser() -> Parser:
    """The argument parser of every command."""
    parser = Parser(
        prog="jaxmlp",
        description="Multilayer perceptrons in JAX, with backpropagation by hand and by autodiff.",
    )
    parser.add_argument("--version", action="version", version=f"jaxmlp {jaxmlp.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    _reproduce(sub)
    _trace(sub)
    _gradcheck(sub)
    _train(sub)
    _sweep(sub)
    _model_commands(sub)
    _bench(sub)
    return parser


def _reproduce(sub) -> None:
    """``jaxmlp reproduce``."""
    p = sub.add_parser(
        "reproduce",
        parents=[
            shared(
                json="print the figures as JSON",
                plot="seed_loss.png (E_total over 10,000 steps, both update orders)",
            )
        ],
        help="every number of the seed tutorial, checked, with its errata",
        description="Run the seed network in float64 and compare every figure the seed prints.",
        epilog="example: jaxmlp reproduce --plot figures",
    )
    p.set_defaults(func=commands.cmd_reproduce)


def _trace(sub) -> None:
    """``jaxmlp trace``."""
    p = sub.add_parser(
        "trace",
        parents=[
            shared(
                json="every quantity with its name and value, as JSON",
                seed="PRNG seed for a random network (with --sizes)",
            )
        ],
        help="the step-by-step derivation of one SGD step, for the seed or any network",
        description="Print every net input, output, error, chain-rule product, delta and updated weight.",
        epilog="example: jaxmlp trace --sizes 3,4,2 --activation tanh --output-activation logistic --loss half_sse --seed 0",
    )
    add_network_options(p, bias="shared", train_bias=False)  # frozen, as the seed keeps them
    p.add_argument("--learning-rate", type=positive(float), default=None, help="eta (default 0.5)")
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="JSON file with weights, biases, x, y (see the guide's trace page)",
    )
    p.add_argument(
        "--example",
        type=int,
        default=0,
        help="which example of the weights file to trace (default 0)",
    )
    p.add_argument(
        "--format",
        choices=("text", "markdown", "html"),
        default="text",
        help="html: one self-contained interactive page (the network drawn, the steps, a training "
        "run); default text",
    )
    p.add_argument(
        "--output", metavar="PATH", help="write the trace here instead of standard output"
    )
    p.add_argument(
        "--steps",
        type=positive(int),
        default=10_000,
        help="steps of the html page's training panel (default 10000)",
    )
    p.add_argument(
        "--second-order",
        action="store_true",
        help="the Hessian over every parameter (by the handwritten R-operator) and its eigenvalues",
    )
    p.set_defaults(func=commands.cmd_trace)


def _gradcheck(sub) -> None:
    """``jaxmlp gradcheck``."""
    p = sub.add_parser(
        "gradcheck",
        parents=[
            shared(
                json="print the report as JSON",
                x64="float64 (default float32)",
                seed="PRNG seed for the network, batch and direction",
            )
        ],
        help="compare handwritten backprop with jax.grad (and finite differences)",
        description="Random network and batch; backprop vs autodiff leaf by leaf.",
        epilog="example: jaxmlp gradcheck --sizes 3,5,4,2 --activation tanh --output-activation softmax --loss cross_entropy --bias per_neuron --batch 8 --seed 0 --x64",
    )
    add_network_options(p, sizes=(3, 5, 4, 2))
    p.add_argument("--batch", type=positive(int), default=8, help="examples (default 8)")
    p.add_argument(
        "--finite-differences", action="store_true", help="also compare with central differences"
    )
    p.add_argument(
        "--second-order",
        action="store_true",
        help="check the Hessian-vector product (R-operator vs jax.jvp(jax.grad)) along a random direction",
    )
    p.set_defaults(func=commands.cmd_gradcheck)


def _train(sub) -> None:
    """``jaxmlp train``: the data, the network, the run (:func:`_train_run_options`) and what it
    writes (:func:`_train_outputs`)."""
    p = sub.add_parser(
        "train",
        parents=[
            shared(
                json="print the result as JSON",
                x64="train in float64 (default float32)",
                seed="PRNG seed for the initial weights and the batches",
                grad=True,
                chunk_size=True,
                plot="loss.png, and decision_boundary.png (xor) or confusion.png (classes)",
            )
        ],
        help="train a network on tutorial, xor, digits or your CSV file",
        description="Train with the whole loop compiled (lax.scan in chunks); progress, checkpoints and plots.",
        epilog="example: jaxmlp train digits --checkpoint runs/digits --plot runs/digits",
    )
    add_data_arguments(p)
    _train_run_options(p)
    _train_outputs(p)
    add_parallel_options(p)
    p.set_defaults(func=commands.cmd_train)


def _sweep(sub) -> None:
    """``jaxmlp sweep``."""
    p = sub.add_parser(
        "sweep",
        parents=[
            shared(
                json="print the result as JSON",
                x64="train in float64 (default float32)",
                seed="the first seed",
                grad=True,
                chunk_size=True,
                plot="sweep.png (final loss by learning rate and seed)",
            )
        ],
        help="train a grid of learning rates x seeds at once (one compiled scan)",
        description="One network per (learning rate, seed), full-batch SGD, all in one compiled loop.",
        epilog="example: jaxmlp sweep --learning-rates 64 --seeds 64 --steps 10000 --plot figures",
    )
    add_data_arguments(p, default="tutorial")
    p.add_argument(
        "--learning-rates", type=positive(int), default=64, help="how many, log-spaced (default 64)"
    )
    p.add_argument("--lr-min", type=positive(float), default=0.01, help="(default 0.01)")
    p.add_argument("--lr-max", type=positive(float), default=100.0, help="(default 100)")
    p.add_argument("--seeds", type=positive(int), default=64, help="how many seeds (default 64)")
    p.add_argument("--steps", type=positive(int), default=10_000, help="(default 10000)")
    p.add_argument(
        "--layout",
        choices=jaxmlp.training.population.LAYOUTS,
        default="auto",
        help="population on the leading axis (vmap) or last (lanes: tiny networks, "
        "up to 16 wide and 16 examples); auto picks lanes for backprop where it fits",
    )
    add_parallel_options(p)
    p.set_defaults(func=commands.cmd_sweep)


def _model_commands(sub) -> None:
    """``jaxmlp predict``, ``export`` and ``evaluate``: the commands that apply a saved model."""
    # The options of the commands that apply a saved model, declared once.
    model_options = shared(json="print the result as JSON")
    model_options.add_argument("model", help="a model file written by jaxmlp train --save")
    model_options.add_argument("path", help="a CSV, Parquet or .npz file with the feature columns")
    model_options.add_argument("--delimiter", help="the CSV field delimiter (default: detected)")

    p = sub.add_parser(
        "predict",
        parents=[model_options],
        help="apply a saved model to the rows of a data file",
        description="Encode and standardise the file's feature columns as in training, apply the network.",
        epilog="example: jaxmlp predict model.safetensors new.csv --output predictions.csv --proba",
    )
    p.add_argument("--output", metavar="CSV", help="write the predictions here (default: stdout)")
    p.add_argument("--proba", action="store_true", help="also each class's probability")
    p.set_defaults(func=commands.cmd_predict)

    p = sub.add_parser(
        "export",
        parents=[shared(json="print the result as JSON")],
        help="write a saved model in another format (ONNX)",
        description="The whole model (encoding, standardisation, network, class names) as one ONNX "
        "graph over the raw feature columns, for onnxruntime from C++, C#, Java, JavaScript or Python.",
        epilog="example: jaxmlp export model.safetensors --format onnx --output model.onnx",
    )
    p.add_argument("model", help="a model file written by jaxmlp train --save")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="the format (default: onnx)")
    p.add_argument("--output", required=True, help="the file to write")
    p.set_defaults(func=commands.cmd_export)

    p = sub.add_parser(
        "evaluate",
        parents=[model_options],
        help="loss and metrics of a saved model on a labelled data file",
        description="Loss, accuracy and confusion matrix (classification) or R^2 and MAE (regression).",
        epilog="example: jaxmlp evaluate model.safetensors test.csv --target label",
    )
    p.add_argument("--target", help="the target column (default: the one the model was trained on)")
    p.set_defaults(func=commands.cmd_evaluate)


def _bench(sub) -> None:
    """``jaxmlp bench``."""
    p = sub.add_parser(
        "bench",
        parents=[shared(json="print the report as JSON")],
        help="jaxmlp against pure Python, NumPy, PyTorch and bare JAX on identical work",
        description="Fourteen workloads (W1-W4: seed network, 784-512-512-10 MLP, population, start-up; W5-W8: minibatches, CSV ingestion, eager calls, scikit-learn; W9: Hessian-vector products; W10: data larger than memory; W11: the scikit-learn estimators; W12: the training monitor; W13: hyperparameter search; W14: default models on real tables), timed in one process or, where a whole process is the measure, in fresh ones.",
        epilog="example: jaxmlp bench --quick",
    )
    p.add_argument("--quick", action="store_true", help="small workloads, under a minute")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="(default cpu)")
    p.set_defaults(func=commands.cmd_bench)


def _train_run_options(p) -> None:
    """How ``jaxmlp train`` trains: optimiser, length, regularisation (:func:`_train_steps`),
    validation, ensemble, time budget (:func:`_train_members`)."""
    _train_steps(p)
    _train_members(p)


def _train_steps(p) -> None:
    """``jaxmlp train``'s optimiser, run length, clipping, weight decay and schedule."""
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        help="optax optimizer (sgd is plain gradient descent; default: the data set's)",
    )
    p.add_argument("--learning-rate", type=positive(float))
    p.add_argument(
        "--batch-size",
        type=positive(int),
        help="examples per step (default: the data set's; full batch for tutorial, xor)",
    )
    p.add_argument(
        "--steps", type=positive(int), help="total steps (with --resume: until this many in all)"
    )
    p.add_argument(
        "--epochs", type=positive(float), help="passes over the training set, instead of --steps"
    )
    p.add_argument(
        "--clip-norm", type=positive(float), help="clip each gradient to this global norm"
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        help="L2 weight decay (decoupled, adamw, with adam); needs --optimizer",
    )
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="learning-rate schedule over the run (default: the data set's; constant with "
        "--optimizer or --learning-rate)",
    )
    p.add_argument(
        "--warmup-steps",
        type=int,
        help="linear warm-up of the learning rate from 0 (default: the data set's; 0 with "
        "--optimizer or --learning-rate)",
    )


def _train_members(p) -> None:
    """``jaxmlp train``'s validation split, ensemble, bagging, time budget, label smoothing,
    target scaling and patience (a data file's defaults: :data:`~jaxmlp.io.file_dataset.RECIPE`)."""
    p.add_argument(
        "--validation-fraction",
        type=fraction_or_zero,
        metavar="F",
        help="hold out this fraction of the training set; its loss is evaluated after every chunk "
        "and the best parameters are kept (0: none; default: the data set's; a stream holds "
        "these rows out of each row group and reads them into memory)",
    )
    p.add_argument(
        "--ensemble",
        type=positive(int),
        metavar="K",
        help="train K members at once (own initial weights and batch order, one compiled call) "
        "and save their average as one network (1: a single network; default: the data set's, "
        f"{RECIPE['ensemble']} for data files, fewer if the time budget needs; 1 with --sizes, "
        "--steps or --epochs)",
    )
    p.add_argument(
        "--bag",
        type=bag_fraction,
        metavar="F",
        help="with an ensemble: each member trains on its own draw of this fraction of the "
        "training rows, without replacement (default: every member on all of them)",
    )
    p.add_argument(
        "--time-budget",
        type=non_negative_float,
        metavar="SECONDS",
        help="cut the run's steps (whole epochs) so that training ends within SECONDS, timed on "
        "its own first chunks (0: none; default: the data set's, "
        f"{RECIPE['time_budget']:g} for data files, none with --steps or --epochs)",
    )
    p.add_argument(
        "--label-smoothing",
        type=fraction_or_zero,
        metavar="EPS",
        help="train classes against (1 - EPS) one-hot + EPS / classes (cross entropy; default: "
        "the data set's)",
    )
    p.add_argument(
        "--target-scaling",
        choices=("standard", "none"),
        help="regression: train on (target - mean) / std of the training rows, the model saved "
        "on the target's scale (default: standard for data files)",
    )
    p.add_argument(
        "--patience",
        type=positive(int),
        metavar="N",
        help="with --validation-fraction: stop after N evaluations without a lower validation loss",
    )


def _train_outputs(p) -> None:
    """What ``jaxmlp train`` records and writes: the monitor, checkpoints, the model, the report,
    and how it reads data larger than memory."""
    p.add_argument(
        "--monitor",
        type=positive(int),
        nargs="?",
        const=100,
        metavar="EVERY",
        help="record sharpness (the loss Hessian's top eigenvalue), per-layer gradient norms and "
        "update ratios, dead and saturated units every EVERY steps (default 100) inside the "
        "compiled loop, on the training rows (a stream's first 1,024): the last record is "
        "printed, --json carries all, --report draws them",
    )
    p.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="save a checkpoint here after every chunk and on Ctrl-C/SIGTERM",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint in --checkpoint DIR"
    )
    p.add_argument(
        "--save",
        metavar="MODEL",
        help="write the trained model (network, weights, preprocessing, classes) as a safetensors file",
    )
    p.add_argument(
        "--report",
        metavar="HTML",
        help="write a self-contained page: configuration, loss curves, test metrics, confusion "
        "matrix, and for two inputs the decision surface and each hidden neuron's output",
    )
    g = p.add_argument_group("data larger than memory (Parquet)")
    g.add_argument(
        "--stream",
        action="store_true",
        help="read a Parquet file or directory a row group at a time instead of into memory "
        "(epochs in a two-level shuffle: row groups, then rows within windows of them)",
    )
    g.add_argument(
        "--memory-budget",
        type=budget.size_arg,
        metavar="SIZE",
        help="memory the data may take, e.g. 8G or 512M (default: half the available memory); "
        "Parquet data that would need more are streamed",
    )
