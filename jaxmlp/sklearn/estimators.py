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

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions  # scikit-learn's own checks
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from jaxmlp.sklearn.base import BaseMLP
from jaxmlp.training import stochastic

__all__ = ["MLPClassifier", "MLPRegressor"]


def _stochastic(est) -> bool:
    if est.solver not in stochastic.SOLVERS:
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. {est.solver} is not "
            "stochastic."
        )
    return True


class MLPClassifier(ClassifierMixin, BaseMLP):
    """scikit-learn's ``MLPClassifier``, trained by jaxmlp (see the module docstring): softmax
    outputs for multiclass targets, logistic outputs for binary and multilabel ones, trained by
    ``solver`` ``"adam"`` (default), ``"sgd"`` or ``"lbfgs"`` on the cross entropy plus
    ``alpha``'s L2 penalty; ``class_weight`` weights the classes (dict or ``"balanced"``)."""

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
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


class MLPRegressor(RegressorMixin, BaseMLP):
    """scikit-learn's ``MLPRegressor``, trained by jaxmlp (see the module docstring): identity
    outputs with half the mean squared error (``loss="squared_error"``) or exp outputs with the
    half Poisson deviance (``loss="poisson"``), plus ``alpha``'s L2 penalty."""

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
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
