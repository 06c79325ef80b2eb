"""jaxmlp: multilayer perceptrons as pure JAX functions, with backpropagation by hand and by autodiff."""

from jaxmlp.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from jaxmlp.architecture import BIAS_MODES
from jaxmlp.backprop import sgd_step_updated_weights
from jaxmlp.config import MLP
from jaxmlp.curvature import hessian, top_eigenvalue
from jaxmlp.distributed import make_mesh
from jaxmlp.forward import Layer
from jaxmlp.gradcheck import GradCheckReport, GradientMismatchError, check_gradients
from jaxmlp.hvpcheck import check_hvp
from jaxmlp.hypergrad import hypergradient
from jaxmlp.losses import LOSSES
from jaxmlp.population import SweepResult, sweep
from jaxmlp.seed import tutorial
from jaxmlp.train import FitResult, TrainState, fit, named_optimizer, sgd_step

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "BIAS_MODES",
    "FitResult",
    "GradCheckReport",
    "GradientMismatchError",
    "HIDDEN_ACTIVATIONS",
    "LOSSES",
    "Layer",
    "MLP",
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
    "tutorial",
]
