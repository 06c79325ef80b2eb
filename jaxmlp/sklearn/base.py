"""What scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` share (the role of its
``BaseMultilayerPerceptron``): the parameters and their validation, ``fit``, initialisation,
sample weights, the delta rule's check, the L-BFGS solver and the forward pass
(:mod:`jaxmlp.sklearn.estimators` for the algorithm and where it differs from scikit-learn's)."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.neural_network import MLPRegressor as _ScikitRegressor
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions  # scikit-learn's own checks
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxmlp import programs
from jaxmlp.activations import HIDDEN_ACTIVATIONS
from jaxmlp.compilation_cache import enable_compilation_cache
from jaxmlp.forward import apply
from jaxmlp.sklearn import scipy_lbfgs, stochastic_fit
from jaxmlp.sklearn.problem import (
    Problem,
    dense,
    from_params,
    network,
    resolve_device,
    running,
    to_params,
)
from jaxmlp.training import objective, stochastic

__all__ = ["BaseMLP"]

_outputs = programs.jit(apply, static_argnums=0)


class BaseMLP(BaseEstimator):
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
    # A search's population and the fit's rows reach fit under metadata routing unasked.
    __metadata_request__fit = {"population": True, "rows": True}

    def fit(self, X, y, sample_weight=None, *, population=None, rows=None):
        """Train on ``(X, y)`` for up to ``max_iter`` epochs (iterations for lbfgs), from fresh
        parameters or, with ``warm_start``, from ``coefs_``/``intercepts_``; returns self.

        ``population`` and ``rows``: what jaxmlp's searches pass (a
        :class:`~jaxmlp.sklearn.trained.Population` and this fit's rows of the search's data); a
        fit the population holds is taken from it, already trained."""
        self._validate_params()
        if population is not None and rows is not None and sample_weight is None:
            state = population.state_of(self, rows)
            if state is not None:
                self.__dict__.update(state)
                return self
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental: bool):
        problem = self._problem(X, y, sample_weight, incremental)
        with running(problem.X.dtype, problem.device):
            if self.solver == "lbfgs":
                params = self._fit_lbfgs(*problem[:5])
            else:
                params = stochastic_fit.run(self, *problem[:5], incremental)
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
        X = dense(X)
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
                    rows = np.flatnonzero(w > 0)[:200]  # (rows that weigh in the objective)
                    self.gradient_check_ = objective.check(
                        net, params, X[rows], t[rows], w[rows], self.alpha
                    )
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
        X = np.asarray(dense(X))
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

    # --- prediction ------------------------------------------------------------------------
    def _forward(self, X) -> np.ndarray:
        """The output layer's activations ``(n, n_outputs_)`` in ``X``'s precision (float32
        stays float32, anything else is float64), computed on the estimator's device."""
        X = validate_data(
            self, X, accept_sparse=["csr", "csc"], reset=False, dtype=(np.float64, np.float32)
        )
        X = dense(X)
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
