"""jaxmlp: multilayer perceptrons as pure JAX functions, with backpropagation by hand and by autodiff."""

from jaxmlp.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from jaxmlp.architecture import BIAS_MODES
from jaxmlp.backprop import sgd_step_updated_weights
from jaxmlp.checks.gradient_check import GradCheckReport, GradientMismatchError, check_gradients
from jaxmlp.checks.hvp_check import check_hvp
from jaxmlp.forward import Layer
from jaxmlp.io.parquet_source import ParquetSource
from jaxmlp.io.source import NpySource
from jaxmlp.losses import LOSSES
from jaxmlp.mlp import MLP
from jaxmlp.training.curvature import hessian, top_eigenvalue
from jaxmlp.training.fit import fit
from jaxmlp.training.hypergradient import hypergradient
from jaxmlp.training.loop import TrainState
from jaxmlp.training.members import PopulationFit, train_population
from jaxmlp.training.monitor import Monitor
from jaxmlp.training.optimizers import named_optimizer, sgd_step
from jaxmlp.training.parallel import make_mesh
from jaxmlp.training.population import SweepResult, sweep
from jaxmlp.training.result import FitResult
from jaxmlp.version import __version__
from jaxmlp.worked_example import tutorial

__all__ = [
    "__version__",
    "ACTIVATIONS",
    "BIAS_MODES",
    "FitResult",
    "GradCheckReport",
    "GradientMismatchError",
    "HIDDEN_ACTIVATIONS",
    "LOSSES",
    "Layer",
    "MLP",
    "Monitor",
    "NpySource",
    "ParquetSource",
    "PopulationFit",
    "SweepResult",
    "TrainState",
    "check_gradients",
    "check_hvp",
    "fit",
    "hessian",
    "hypergradient",
    "make_mesh",
    "named_optimizer",
    "sgd_step",
    "sgd_step_updated_weights",
    "sweep",
    "top_eigenvalue",
    "train_population",
    "tutorial",
]
