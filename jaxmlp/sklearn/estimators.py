r"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn's estimators, trained by compiled JAX code.

The constructors are scikit-learn 1.9's (same parameters, defaults and validation) plus four
keywords of jaxmlp's whose defaults change nothing: ``grad`` (``"backprop"``: the handwritten
delta rule, checked against ``jax.grad`` before training), ``weight_decay`` (a decoupled decay
of the weights, see :mod:`jaxmlp.training.stochastic`), ``device`` (where JAX runs: ``"cpu"``,
``"gpu"``, ``"gpu:1"``, a ``jax.Device``; None, JAX's default) and, for the classifier,
``class_weight`` (a dict ``{label: weight}`` or ``"balanced"``, multiplying the sample weights).
``activation`` also takes jaxmlp's ``leaky_relu`` and ``softplus``.

The algorithm is scikit-learn's: the same initialisation (Glorot uniform weights and biases
drawn from ``random_state`` in scikit-learn's order, so a seed gives scikit-learn's starting
``coefs_``), the same objective (:mod:`jaxmlp.training.objective`: the weighted loss plus
``alpha``'s L2 penalty), the same heads (softmax for multiclass, logistic for binary and
multilabel, identity for squared error, exp for Poisson), batches cut and shuffled as
scikit-learn cuts and shuffles them (the permutations come from the same NumPy random state),
scikit-learn's ``sgd`` (momentum, Nesterov, ``constant``/``invscaling``/``adaptive``) and
``adam`` updates, its convergence and early-stopping rules (:mod:`jaxmlp.training.stochastic`),
and SciPy's L-BFGS-B under scikit-learn's options driving one compiled value-and-gradient
(:mod:`jaxmlp.sklearn.scipy_lbfgs`, so ``n_iter_`` and the iterates are scikit-learn's up to
rounding). The fitted attributes are scikit-learn's: ``coefs_`` and ``intercepts_`` (NumPy,
``(n_in, n_out)``) are the model (set them and ``partial_fit`` trains from them), with
``loss_``, ``best_loss_``, ``loss_curve_``, ``validation_scores_``, ``best_validation_score_``,
``t_``, ``n_iter_``, ``n_layers_``, ``n_outputs_``, ``out_activation_``, ``classes_``,
``n_features_in_``, ``feature_names_in_``, and jaxmlp's ``validation_losses_`` and
``gradient_check_``.

Where they differ: the cross entropies are computed from the output layer's net input
(``log_softmax``, ``softplus``), where scikit-learn clips probabilities to ``[eps, 1 - eps]``,
so a loss differs once a probability is within ``eps`` of 0 or 1; sparse input is made dense
before it reaches the device. Precision follows the data: float32 input trains and predicts in
float32, anything else in float64 (inside a 64-bit scope that ends with the call; JAX's global
setting is never changed).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import hashlib
import numbers
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import jax
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor as _ScikitRegressor
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions  # scikit-learn's own checks
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from jaxmlp import programs
from jaxmlp.activations import HIDDEN_ACTIVATIONS
from jaxmlp.checks.gradient_check import check_gradients
from jaxmlp.compilation_cache import enable_compilation_cache
from jaxmlp.forward import apply
from jaxmlp.mlp import MLP
from jaxmlp.sklearn import scipy_lbfgs
from jaxmlp.training import stochastic

__all__ = [
    "HEADS",
    "PERMUTATIONS_PER_CALL",
    "Problem",
    "PREFITTED",
    "fit_key",
    "Start",
    "SolverState",
    "network",
    "to_params",
    "from_params",
    "resolve_device",
    "running",
    "epochs_per_call",
    "MLPClassifier",
    "MLPRegressor",
]

HEADS = {  # scikit-learn's output activation -> jaxmlp's loss
    "softmax": "cross_entropy",
    "logistic": "binary_cross_entropy",
    "identity": "half_mse",
    "exp": "poisson",
}
PERMUTATIONS_PER_CALL = 2**22  # shuffled row indices sent to the device per compiled call

_outputs = programs.jit(apply, static_argnums=0)


class Problem(NamedTuple):
    """What a fit trains: the network, its starting parameters, the data ``X`` ``(n, n_in)``,
    targets ``t`` ``(n, n_out)`` and weights ``w`` ``(n,)`` in the data's dtype, the device."""

    net: MLP
    params: tuple
    X: np.ndarray
    t: np.ndarray
    w: np.ndarray
    device: object


# The fitted states of a search's population, by fit_key, while the search collects its scores
# (jaxmlp.sklearn.search); empty otherwise.
PREFITTED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("prefitted", default=None)


def fit_key(estimator, X, y, sample_weight) -> tuple:
    """What identifies a fit: the estimator's parameters and the bytes of its data."""
    digest = hashlib.sha256()
    for a in (X, y, sample_weight):
        a = np.ascontiguousarray(_dense(a) if a is not None else np.zeros(0))
        digest.update(str((a.shape, a.dtype)).encode())
        digest.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    params = tuple(sorted((k, repr(v)) for k, v in estimator.get_params(deep=False).items()))
    return type(estimator).__name__, params, digest.hexdigest()


class Start(NamedTuple):
    """A stochastic run prepared on the host: the static solver, the hyperparameters, the rows,
    the device state ``(params, moments, progress)`` and the epochs left."""

    solver: stochastic.Solver
    rules: stochastic.Rules
    rows: stochastic.Subset
    state: tuple
    left: int


@dataclass
class SolverState:
    """The stochastic solver's state between calls (``_optimizer``, as scikit-learn names it):
    the current ``learning_rate``, the moments in jaxmlp's layout and adam's updates so far."""

    solver: str
    learning_rate: float
    first: tuple
    second: tuple
    updates: int


def network(n_in: int, hidden, n_out: int, activation: str, out_activation: str) -> MLP:
    """The :class:`~jaxmlp.MLP` of a scikit-learn MLP: per-neuron biases, the head's loss."""
    return MLP(
        (n_in, *hidden, n_out),
        activation=activation,
        output_activation=out_activation,
        loss=HEADS[out_activation],
        bias="per_neuron",
    )


def to_params(coefs, intercepts, dtype) -> tuple[dict, ...]:
    """scikit-learn's ``coefs_`` ``(n_in, n_out)`` and ``intercepts_`` as jaxmlp's parameters."""
    return tuple(
        {"w": np.asarray(c, dtype).T, "b": np.asarray(b, dtype).reshape(-1)}
        for c, b in zip(coefs, intercepts)
    )


def from_params(params) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """jaxmlp's parameters as ``(coefs_, intercepts_)``, NumPy arrays."""
    coefs = [np.array(layer["w"]).T.copy() for layer in params]
    return coefs, [np.array(layer["b"]) for layer in params]


def resolve_device(device):
    """``None`` (JAX's default), a ``jax.Device``, or ``"cpu"``, ``"gpu"``, ``"gpu:1"``, ..."""
    if device is None or isinstance(device, jax.Device):
        return device
    if not isinstance(device, str):
        raise ValueError(
            f"device must be None, a jax.Device or a string like 'gpu:0', got {device!r}"
        )
    platform, _, index = device.partition(":")
    try:
        found = jax.devices(platform)
    except RuntimeError:
        have = sorted({d.platform for d in jax.devices()})
        raise ValueError(f"device {device!r} is not available; JAX has {', '.join(have)}") from None
    if index and not (index.isdigit() and int(index) < len(found)):
        raise ValueError(f"device {device!r}: {platform} has devices 0..{len(found) - 1}")
    return found[int(index) if index else 0]


@contextlib.contextmanager
def running(dtype, device):
    """JAX in the data's precision (a 64-bit scope for float64) on ``device``."""
    with contextlib.ExitStack() as scope:
        scope.enter_context(jax.enable_x64(np.dtype(dtype) == np.float64))
        if device is not None:
            scope.enter_context(jax.default_device(device))
        yield


def _cohort(tree):
    """``tree`` as a cohort of one member (a leading axis of 1 on every leaf)."""
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[None], tree)


def _dense(X):
    return X.toarray() if sp.issparse(X) else X


def epochs_per_call(max_iter: int, n: int, shuffle: bool) -> int:
    """A power of two: at least ``max_iter`` (one call for the whole run) unless the shuffled
    orders of that many epochs would exceed :data:`PERMUTATIONS_PER_CALL` indices."""
    epochs = 1 << (max_iter - 1).bit_length()
    if shuffle:
        epochs = min(epochs, 1 << max(0, (PERMUTATIONS_PER_CALL // n).bit_length() - 1))
    return epochs


def _stochastic(est) -> bool:
    if est.solver not in stochastic.SOLVERS:
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. {est.solver} is not "
            "stochastic."
        )
    return True


class _MLP(BaseEstimator):
    """What both estimators share (scikit-learn's ``BaseMultilayerPerceptron``'s role)."""

    _parameter_constraints: dict = {
        **_ScikitRegressor._parameter_constraints,  # scikit-learn's own, version for version
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS))],
        "grad": [StrOptions({"autodiff", "backprop"})],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "device": "no_validation",  # resolve_device checks it
    }
    _parameter_constraints.pop("loss")

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        loss=None,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        grad="autodiff",
        weight_decay=0.0,
        device=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.grad = grad
        self.weight_decay = weight_decay
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # --- fitting ---------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train on ``(X, y)`` for up to ``max_iter`` epochs (iterations for lbfgs), from fresh
        parameters or, with ``warm_start``, from ``coefs_``/``intercepts_``; returns self."""
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental: bool):
        prefitted = PREFITTED.get()
        if prefitted and not incremental:
            state = prefitted.get(fit_key(self, X, y, sample_weight))
            if state is not None:  # trained already, as a member of a search's population
                self.__dict__.update(copy.deepcopy(state))
                return self
        problem = self._problem(X, y, sample_weight, incremental)
        with running(problem.X.dtype, problem.device):
            if self.solver == "lbfgs":
                params = self._fit_lbfgs(*problem[:5])
            else:
                params = self._fit_stochastic(*problem[:5], incremental)
        return self._keep(params)

    def _problem(self, X, y, sample_weight, incremental: bool) -> Problem:
        """Validate the input, initialise (first call) and check the delta rule (``grad=
        "backprop"``): the network, the starting parameters and the data as the solvers take
        them."""
        hidden = self.hidden_layer_sizes
        hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
        if np.any(np.array(hidden) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        device = resolve_device(self.device)
        enable_compilation_cache()
        first = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, t, labels = self._validate_input(X, y, incremental, reset=first)
        X = _dense(X)
        w = self._sample_weight(sample_weight, X, labels)
        t = t.reshape(len(t), -1).astype(X.dtype)
        self.n_outputs_ = t.shape[1]
        units = [X.shape[1], *hidden, self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first:
            self._initialize(units, X.dtype)
        net = network(units[0], units[1:-1], units[-1], self.activation, self.out_activation_)
        params = to_params(self.coefs_, self.intercepts_, X.dtype)
        if first:
            self.gradient_check_ = None
            if self.grad == "backprop":
                with running(X.dtype, device):
                    self.gradient_check_ = check_gradients(net, params, X[:200], t[:200])
        return Problem(net, params, X, t, w, device)

    def _keep(self, params):
        """The trained parameters as ``coefs_``/``intercepts_``, refused if not finite."""
        self.coefs_, self.intercepts_ = from_params(params)
        if not all(np.isfinite(a).all() for a in (*self.coefs_, *self.intercepts_)):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain large"
                " values and need to be preprocessed."
            )
        return self

    def _sample_weight(self, sample_weight, X, labels):
        n = X.shape[0]
        if sample_weight is None:
            w = np.ones(n, X.dtype)
        else:
            w = np.asarray(sample_weight, X.dtype)
            if w.ndim == 0:
                w = np.full(n, w, X.dtype)
            if w.shape != (n,):
                raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}!")
            if not np.isfinite(w).all() or (w < 0).any():
                raise ValueError("sample_weight must be finite and non-negative")
            if not w.any():
                raise ValueError("sample_weight must contain at least one non-zero weight")
        class_weight = getattr(self, "class_weight", None)
        if class_weight is not None:
            w = w * compute_sample_weight(class_weight, labels).astype(X.dtype)
        return w

    def _initialize(self, units, dtype):
        """scikit-learn's first-call state: Glorot-uniform weights and biases in its draw order
        (bound :math:`\\sqrt{6 / (n_{in} + n_{out})}`, 2 instead of 6 for logistic)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(units)
        self.out_activation_ = self._head()
        factor = 2.0 if self.activation == "logistic" else 6.0
        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out in zip(units[:-1], units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            self.coefs_.append(
                self._random_state.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype)
            )
            self.intercepts_.append(
                self._random_state.uniform(-bound, bound, fan_out).astype(dtype)
            )
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]
        if self.solver in stochastic.SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_, self.validation_losses_ = [], []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = self.validation_losses_ = None
                self.best_validation_score_ = None

    def _fit_lbfgs(self, net, params, X, t, w):
        result = scipy_lbfgs.minimize(
            net, self.grad, params, X, t, w, self.alpha, self.max_iter, self.max_fun, self.tol
        )
        self.loss_ = result.loss
        self.n_function_calls_ = result.evaluations
        if self.verbose:
            print(
                f"L-BFGS-B: {result.iterations} iterations, {result.evaluations} evaluations, "
                f"loss = {self.loss_:.8f}: {result.message}"
            )
        self.n_iter_ = scipy_lbfgs.warn_if_stopped(result, self.max_iter)
        return result.params

    def _loss_grad_lbfgs(
        self, packed_coef_inter, X, y, sample_weight, activations, deltas, coef_grads,
        intercept_grads,
    ):  # fmt: skip
        """scikit-learn's private evaluation of :math:`J` and its packed gradient at
        ``packed_coef_inter`` (:func:`jaxmlp.sklearn.scipy_lbfgs.pack`'s layout) for the targets
        ``y`` ``(n, n_outputs_)`` as the solver sees them (one-hot for classes), after a fit
        that fixed the network; sets ``coefs_``/``intercepts_`` to the point, as scikit-learn
        does. The four buffers are scikit-learn's workspace, unused here."""
        check_is_fitted(self)
        X = np.asarray(_dense(X))
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        X = X.astype(dtype)
        t = np.asarray(y, dtype).reshape(len(X), -1)
        w = np.ones(len(X), dtype) if sample_weight is None else np.asarray(sample_weight, dtype)
        sizes = (X.shape[1], *(c.shape[1] for c in self.coefs_))
        net = network(sizes[0], sizes[1:-1], sizes[-1], self.activation, self.out_activation_)
        theta = np.asarray(packed_coef_inter, dtype)
        self.coefs_, self.intercepts_ = from_params(scipy_lbfgs.unpack(sizes, theta))
        with running(dtype, resolve_device(self.device)):
            value, grad = scipy_lbfgs.value_and_packed_grad(
                net, self.grad, theta, X, t, w, np.asarray(self.alpha, dtype)
            )
        return float(value), np.asarray(grad, np.float64)

    def _fit_stochastic(self, net, params, X, t, w, incremental: bool):
        start = self._stochastic_start(net, params, X, t, w, incremental)
        data = (X, t, w)
        rules, state = _cohort(start.rules), _cohort(start.state)  # a cohort of one
        left, stopped = start.left, False
        while left > 0 and not stopped:
            wanted = min(start.solver.epochs, left)
            perms = self._orders(start, wanted)
            *state, records, ran, now = stochastic.run_epochs(
                start.solver, rules, *state, data, start.rows, perms, np.asarray([wanted], np.int32)
            )
            ran, stopped = int(ran[0]), bool(now[0])
            records = jax.tree_util.tree_map(lambda a: a[:, 0], jax.device_get(records))
            self._record(records, ran, int(start.rows.n_train))
            left -= ran
        # the cohort of one, taken apart on the host: an index on the device compiles a program
        params, moments, progress = jax.tree_util.tree_map(
            lambda a: np.asarray(a)[0], jax.device_get(tuple(state))
        )
        return self._stochastic_finish(start, params, moments, progress, stopped, incremental)

    def _stochastic_start(self, net, params, X, t, w, incremental: bool) -> Start:
        """Everything a stochastic run needs before its first compiled call: the solver's state
        (fresh unless ``partial_fit`` continues), the early-stopping split (as row indices, drawn
        as scikit-learn draws it), the batch size, the static :class:`~stochastic.Solver`, the
        hyperparameters as data and the stopping rules' state."""
        dtype = X.dtype
        previous = getattr(self, "_optimizer", None)
        if not incremental or previous is None or previous.solver != self.solver:
            zeros = jax.tree_util.tree_map(np.zeros_like, params)
            self._optimizer = SolverState(
                self.solver,
                float(self.learning_rate_init),
                zeros,
                zeros if self.solver == "adam" else (),
                0,
            )
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        rows = stochastic.subset(np.arange(X.shape[0]))
        if self.early_stopping:
            stratify = t.astype(bool) if is_classifier(self) and self.n_outputs_ == 1 else None
            train, valid = train_test_split(
                np.arange(X.shape[0]),
                random_state=self._random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            if len(valid) < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the "
                    "size of your dataset."
                )
            rows = stochastic.subset(train, valid)
        n = int(rows.n_train)
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                    "clipped",
                    stacklevel=4,
                )
            batch = int(np.clip(self.batch_size, 1, n))
        epochs = 1 if incremental else epochs_per_call(self.max_iter, n, self.shuffle)
        solver = stochastic.Solver(
            net,
            self.solver,
            self.learning_rate,
            bool(self.nesterovs_momentum),
            batch,
            bool(self.early_stopping),
            self._score_kind(),
            self.grad,
            bool(self.shuffle),
            epochs,
        )
        values = (
            self.learning_rate_init,
            self.alpha,
            self.power_t,
            self.momentum,
            self.beta_1,
            self.beta_2,
            self.epsilon,
            self.tol,
            self.n_iter_no_change,
            self.weight_decay,
        )
        rules = stochastic.Rules(*(np.asarray(v, dtype) for v in values))
        state = self._optimizer
        moments = stochastic.Moments(
            state.first,
            state.second,
            np.asarray(state.updates, np.int32),
            np.asarray(state.learning_rate, dtype),
        )
        best = params
        if self.early_stopping:
            best = to_params(self._best_coefs, self._best_intercepts, dtype)
        best_loss = getattr(self, "best_loss_", None)
        best_score = getattr(self, "best_validation_score_", None)
        progress = stochastic.Progress(
            np.asarray(self.t_, dtype),
            np.asarray(np.inf if best_loss is None else best_loss, dtype),
            np.asarray(-np.inf if best_score is None else best_score, dtype),
            np.asarray(getattr(self, "_no_improvement_count", 0), np.int32),
            best,
        )
        self.n_iter_ = 0
        self._order = np.arange(n)
        left = 1 if incremental else self.max_iter
        return Start(solver, rules, rows, (params, moments, progress), left)

    def _orders(self, start: Start, wanted: int) -> np.ndarray | None:
        """The next ``wanted`` epochs' orders ``(solver.epochs, n)`` (the rest zero), each a
        shuffle of the last as scikit-learn's ``shuffle(sample_idx, random_state)``; None
        without ``shuffle``."""
        if not self.shuffle:
            return None
        n = len(self._order)
        perms = np.zeros((start.solver.epochs, n), np.int32)
        for e in range(wanted):
            self._order = self._order[self._random_state.permutation(n)]
            perms[e] = self._order
        return perms

    def _stochastic_finish(self, start, params, moments, progress, stopped, incremental):
        """The solver's and the rules' state back on the host as scikit-learn's attributes; the
        convergence warning; the parameters to keep (the best with early stopping)."""
        self._optimizer = SolverState(
            self.solver,
            float(moments.learning_rate),
            jax.device_get(moments.first),
            jax.device_get(moments.second),
            int(moments.updates),
        )
        self._no_improvement_count = int(progress.stale)
        if self.early_stopping:
            self.best_validation_score_ = float(progress.best_score)
            self._best_coefs, self._best_intercepts = from_params(progress.best_params)
        else:
            self.best_loss_ = float(progress.best_loss)
        if not stopped and not incremental and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )
        return progress.best_params if self.early_stopping else params

    def _record(self, records, ran: int, n: int):
        """The epochs' records as scikit-learn's attributes, and its verbose lines."""
        for e in range(ran):
            self.n_iter_ += 1
            self.t_ += n
            self.loss_ = float(records.loss[e])
            self.loss_curve_ = [*getattr(self, "loss_curve_", []), self.loss_]
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            if self.early_stopping:
                self.validation_scores_.append(float(records.score[e]))
                self.validation_losses_.append(float(records.validation_loss[e]))
                if self.verbose:
                    print(f"Validation score: {self.validation_scores_[-1]:f}")
            event = int(records.event[e])
            if self.verbose and event != stochastic.NOTHING:
                what = "Validation score" if self.early_stopping else "Training loss"
                message = (
                    f"{what} did not improve more than tol={self.tol:f} for "
                    f"{self.n_iter_no_change} consecutive epochs."
                )
                if event == stochastic.LEARNING_RATE_DIVIDED:
                    print(f"{message} Setting learning rate to {float(records.learning_rate[e]):f}")
                elif event == stochastic.LEARNING_RATE_TOO_SMALL:
                    print(f"{message} Learning rate too small. Stopping.")
                else:
                    print(f"{message} Stopping.")

    # --- prediction ------------------------------------------------------------------------
    def _forward(self, X) -> np.ndarray:
        """The output layer's activations ``(n, n_outputs_)`` in ``X``'s precision (float32
        stays float32, anything else is float64), computed on the estimator's device."""
        X = validate_data(
            self, X, accept_sparse=["csr", "csc"], reset=False, dtype=(np.float64, np.float32)
        )
        X = _dense(X)
        net = network(
            X.shape[1],
            [c.shape[1] for c in self.coefs_[:-1]],
            self.n_outputs_,
            self.activation,
            self.out_activation_,
        )
        with running(X.dtype, resolve_device(self.device)):
            out = _outputs(net, to_params(self.coefs_, self.intercepts_, X.dtype), X)
            return np.array(out)


class MLPClassifier(ClassifierMixin, _MLP):
    """scikit-learn's ``MLPClassifier``, trained by jaxmlp (see the module docstring): softmax
    outputs for multiclass targets, logistic outputs for binary and multilabel ones, trained by
    ``solver`` ``"adam"`` (default), ``"sgd"`` or ``"lbfgs"`` on the cross entropy plus
    ``alpha``'s L2 penalty; ``class_weight`` weights the classes (dict or ``"balanced"``)."""

    _parameter_constraints: dict = {
        **_MLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        grad="autodiff",
        weight_decay=0.0,
        device=None,
        class_weight=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss="log_loss",
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            grad=grad,
            weight_decay=weight_decay,
            device=device,
        )
        self.class_weight = class_weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _head(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _score_kind(self) -> str:
        return "labels" if self.out_activation_ == "softmax" else "thresholds"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        return X, self._label_binarizer.transform(y).astype(bool), y

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)`` from the current ``coefs_``/``intercepts_`` and solver
        state; ``classes`` (every label) is required on the first call."""
        self._validate_params()
        known = getattr(self, "classes_", None)
        if known is None and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None and known is not None:
            if not np.array_equal(known, unique_labels(classes)):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                    f"was: {known!r}"
                )
        elif classes is not None:
            self.classes_ = unique_labels(classes)
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def _predict(self, X) -> np.ndarray:
        out = self._forward(X)
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row (multilabel: every label above 0.5)."""
        check_is_fitted(self)
        return self._predict(X)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` in the order of ``classes_`` (binary: the
        logistic output and its complement; multilabel: one probability per label)."""
        check_is_fitted(self)
        out = self._forward(X)
        if self.n_outputs_ == 1:
            out = out.ravel()
        return np.vstack([1 - out, out]).T if out.ndim == 1 else out

    def predict_log_proba(self, X) -> np.ndarray:
        """``log(predict_proba(X))``."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)


class MLPRegressor(RegressorMixin, _MLP):
    """scikit-learn's ``MLPRegressor``, trained by jaxmlp (see the module docstring): identity
    outputs with half the mean squared error (``loss="squared_error"``) or exp outputs with the
    half Poisson deviance (``loss="poisson"``), plus ``alpha``'s L2 penalty."""

    _parameter_constraints: dict = {
        **_MLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        grad="autodiff",
        weight_decay=0.0,
        device=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss=loss,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            grad=grad,
            weight_decay=weight_decay,
            device=device,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _head(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _score_kind(self) -> str:
        return "r2"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y.astype(X.dtype), y

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)`` from the current ``coefs_``/``intercepts_`` and solver
        state."""
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True)

    def _predict(self, X) -> np.ndarray:
        out = self._forward(X)
        return out.ravel() if out.shape[1] == 1 else out

    def predict(self, X) -> np.ndarray:
        """The predictions, ``(n,)`` for one output, else ``(n, n_outputs_)``."""
        check_is_fitted(self)
        return self._predict(X)
