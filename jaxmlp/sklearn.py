r"""scikit-learn estimators backed by :func:`jaxmlp.fit`: ``MLPClassifier`` and ``MLPRegressor``.

They follow scikit-learn's conventions (``fit``/``predict``/``score``, ``get_params``/``set_params``,
fitted attributes ending in ``_``, input checked by ``validate_data``) so they work in ``Pipeline``,
``cross_val_score`` and ``GridSearchCV``, and they pass ``sklearn.utils.estimator_checks``.
Training is jaxmlp's: the whole run is one compiled ``lax.scan`` (chunks of one epoch when early
stopping), minibatches are slices of one keyed permutation per epoch, and with
``grad="backprop"`` the handwritten delta rule is checked against ``jax.grad`` before it trains.

Differences from scikit-learn's own ``MLPClassifier``, by design:

- ``weight_decay`` is the optimizer's L2 decay (coupled for sgd/momentum, decoupled ``adamw`` for
  adam), not a penalty ``alpha`` added to the loss;
- early stopping watches the validation *loss* (``validation_losses_``); ``validation_scores_``
  still records the score (accuracy or :math:`R^2`) after every epoch;
- a classifier's outputs are a softmax over all classes (two for a binary problem) with
  cross-entropy; a regressor's are linear with the mean squared error
  :math:`\frac{1}{n}\sum_i \lVert o_i - t_i \rVert^2`.

Arrays are float64 when JAX runs in 64-bit mode (``jax_enable_x64``), else float32.
scikit-learn is an optional dependency (``pip install 'jaxmlp[sklearn]'``).
"""

from __future__ import annotations

import math
import numbers
import warnings

import jax
import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "jaxmlp.sklearn needs scikit-learn >= 1.6: pip install 'jaxmlp[sklearn]'"
    ) from e

from jaxmlp.mlp import MLP
from jaxmlp.training.fit import fit as _fit


def _dtype():
    return np.float64 if jax.config.jax_enable_x64 else np.float32


class _MLP(BaseEstimator):
    """What both estimators share: the hyperparameters, the training loop and prediction."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        optimizer="adam",
        learning_rate=1e-3,
        weight_decay=0.0,
        schedule="constant",
        batch_size=200,
        max_iter=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        grad="autodiff",
        random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.grad = grad
        self.random_state = random_state

    # --- what the subclasses define -------------------------------------------------------
    _head: tuple[str, str]  # (output activation, loss)

    def _network(self, n_in: int, n_out: int, hidden: tuple[int, ...]) -> MLP:
        output_activation, loss = self._head
        return MLP(
            (n_in, *hidden, n_out),
            activation=self.activation,
            output_activation=output_activation,
            loss=loss,
        )

    def _encode(self, y, first: bool, classes=None):
        """``(targets as the loss takes them, number of outputs)``."""
        raise NotImplementedError

    def _score_on(self, x, t, params) -> float:
        """The estimator's score (accuracy, :math:`R^2`) of ``params`` on encoded targets ``t``."""
        return self._score_outputs(np.asarray(self.net_.apply(params, x)), t)

    def _score_outputs(self, out, t) -> float:
        raise NotImplementedError

    # --- training ------------------------------------------------------------------------
    def fit(self, X, y):
        """Train from scratch for ``max_iter`` epochs (fewer when early stopping); returns self."""
        for name in list(vars(self)):
            if name.endswith("_") and not name.endswith("__"):
                delattr(self, name)
        return self._train(X, y, epochs=self.max_iter, first=True)

    def _checked_params(self) -> tuple[tuple[int, ...], int | None]:
        """``(hidden widths, batch size or None for 'auto')``, after refusing a hyperparameter out of
        its range with a message that names it (the rest are checked by :func:`jaxmlp.fit`)."""
        hidden = tuple(np.atleast_1d(self.hidden_layer_sizes).tolist())
        if not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden):
            raise ValueError(
                f"hidden_layer_sizes must hold positive integers, got {self.hidden_layer_sizes!r}"
            )
        for name in ("max_iter", "n_iter_no_change"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        batch = self.batch_size
        if batch != "auto" and (
            isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1
        ):
            raise ValueError(f"batch_size must be 'auto' or a positive integer, got {batch!r}")
        fraction = self.validation_fraction
        if self.early_stopping and not (isinstance(fraction, numbers.Real) and 0 < fraction < 1):
            raise ValueError(f"validation_fraction must lie in (0, 1), got {fraction!r}")
        return hidden, None if batch == "auto" else int(batch)

    def _train(self, X, y, *, epochs: int, first: bool, classes=None):
        hidden, batch_size = self._checked_params()
        X, y = validate_data(
            self, X, y, reset=first, dtype=_dtype(), multi_output=self._multi, y_numeric=self._multi
        )
        t, n_out = self._encode(y, first, classes)
        if first:
            self._seed = int(check_random_state(self.random_state).randint(2**31 - 1))
            init_key = jax.random.fold_in(jax.random.key(self._seed), 0)
            self.net_ = self._network(X.shape[1], n_out, hidden)
            self.params_ = self.net_.init(init_key, _dtype())
            self._opt_state, self.t_ = None, 0
            self.loss_curve_, self.n_iter_ = [], 0
        x_val = t_val = None
        if self.early_stopping and first:
            stratify = t if isinstance(self, ClassifierMixin) and _stratifiable(t) else None
            X, x_val, t, t_val = train_test_split(
                X, t, test_size=self.validation_fraction, random_state=self._seed, stratify=stratify
            )
        n = X.shape[0]
        batch = min(200 if batch_size is None else batch_size, n)  # 'auto': scikit-learn's rule
        per_epoch = math.ceil(n / batch)
        scores: list[float] = []

        def score_epoch(state, losses):
            scores.append(self._score_on(x_val, t_val, state.params))

        result = _fit(
            self.net_,
            self.params_,
            X,
            t,
            steps=epochs * per_epoch,
            learning_rate=self.learning_rate,
            optimizer=self.optimizer,
            weight_decay=self.weight_decay or None,
            schedule=self.schedule,
            batch_size=batch,
            key=jax.random.fold_in(jax.random.key(self._seed), 1),
            grad=self.grad,
            opt_state=self._opt_state,
            start_step=self.t_,
            validation_data=None if x_val is None else (x_val, t_val),
            patience=self.n_iter_no_change if x_val is not None else None,
            chunk_size=per_epoch if x_val is not None else None,
            callback=score_epoch if x_val is not None else None,
        )
        if result.diverged_at is not None:
            warnings.warn(
                f"training diverged at step {result.diverged_at} (non-finite loss); the parameters "
                f"of step {result.step} are kept: lower learning_rate",
                RuntimeWarning,
                stacklevel=3,
            )
        run = len(result.losses)
        self.loss_curve_ += [
            float(np.mean(result.losses[i : i + per_epoch])) for i in range(0, run, per_epoch)
        ]
        self.n_iter_ += math.ceil(run / per_epoch)
        self.params_, self._opt_state, self.t_ = result.params, result.opt_state, self.t_ + run
        if x_val is not None:
            self.validation_losses_ = result.validation_losses.tolist()
            self.validation_scores_ = scores
            self.best_validation_score_ = max(scores) if scores else None
        else:
            self.validation_losses_ = self.validation_scores_ = self.best_validation_score_ = None
        self.gradient_check_ = result.gradient_check
        return self

    def _outputs(self, X) -> np.ndarray:
        """The network's outputs in the precision of ``X``: float32 for float32 input, else float64
        (scikit-learn's convention), computed in that precision (64-bit mode in a scope that ends
        with the call, never switched globally), so a row's prediction does not depend on its
        position in the batch beyond that precision's rounding."""
        check_is_fitted(self, "params_")
        dtype = np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64
        X = validate_data(self, X, reset=False, dtype=dtype)
        with jax.enable_x64(dtype == np.float64):
            params = jax.tree_util.tree_map(lambda a: np.asarray(a, dtype), self.params_)
            return np.asarray(self.net_.apply(params, X))

    @property
    def _multi(self) -> bool:
        return isinstance(self, RegressorMixin)


def _stratifiable(t) -> bool:
    counts = np.bincount(t)
    return bool(counts[counts > 0].min() >= 2)


class MLPClassifier(ClassifierMixin, _MLP):
    """A multilayer perceptron classifier: softmax outputs, cross-entropy, trained by
    :func:`jaxmlp.fit`.

    Parameters: ``hidden_layer_sizes`` (widths of the hidden layers), ``activation`` (a jaxmlp
    activation: relu, tanh, logistic, leaky_relu, softplus, identity), ``optimizer`` (sgd,
    momentum, adam), ``learning_rate``, ``weight_decay``, ``schedule`` (constant, cosine,
    exponential), ``batch_size`` (at most the data set; ``'auto'`` is scikit-learn's
    ``min(200, n)``), ``max_iter`` (epochs),
    ``early_stopping`` with ``validation_fraction`` and ``n_iter_no_change`` (epochs without a
    lower validation loss), ``grad`` (autodiff, or backprop: the delta rule, checked first),
    ``random_state``.

    Fitted attributes: ``classes_``, ``net_`` (the :class:`~jaxmlp.MLP`), ``params_``,
    ``loss_curve_`` (mean training loss per epoch), ``n_iter_`` (epochs), ``t_`` (steps),
    ``validation_losses_``/``validation_scores_``/``best_validation_score_`` (early stopping),
    ``gradient_check_``, ``n_features_in_``.
    """

    _head = ("softmax", "cross_entropy")

    def _encode(self, y, first, classes=None):
        check_classification_targets(y)
        if first:
            self.classes_ = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                raise ValueError(
                    f"MLPClassifier needs at least 2 classes, got one class: {self.classes_.tolist()}"
                )
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y holds labels {unseen.tolist()} not in classes {self.classes_.tolist()}"
            )
        return np.searchsorted(self.classes_, y).astype(np.int32), len(self.classes_)

    def _score_outputs(self, out, t):
        return float(accuracy_score(t, out.argmax(1)))

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``, continuing from the current parameters and optimizer state;
        ``classes`` (every label) is required on the first call."""
        first = not hasattr(self, "params_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._train(X, y, epochs=1, first=first, classes=classes)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``, in the order of ``classes_``."""
        return self._outputs(X)

    def predict_log_proba(self, X) -> np.ndarray:
        """``log(predict_proba(X))``."""
        return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(1)]


class MLPRegressor(RegressorMixin, _MLP):
    """A multilayer perceptron regressor: linear outputs, mean squared error, trained by
    :func:`jaxmlp.fit`. Parameters and fitted attributes as :class:`MLPClassifier`'s (without
    ``classes_``); ``y`` may be ``(n,)`` or ``(n, n_outputs)``, and ``validation_scores_`` holds
    :math:`R^2`.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    _head = ("identity", "mse")

    def _encode(self, y, first, classes=None):
        t = y.reshape(len(y), -1)
        if first:
            self._one_output = y.ndim == 1
        elif t.shape[1] != self.net_.sizes[-1]:
            raise ValueError(
                f"y has {t.shape[1]} outputs; this regressor was fitted with {self.net_.sizes[-1]}"
            )
        return t, t.shape[1]

    def _score_outputs(self, out, t):
        return float(r2_score(t, out))

    def partial_fit(self, X, y):
        """One epoch over ``(X, y)``, continuing from the current parameters and optimizer state."""
        return self._train(X, y, epochs=1, first=not hasattr(self, "params_"))

    def predict(self, X) -> np.ndarray:
        """The network's outputs, ``(n,)`` when fitted on a 1-D ``y``, else ``(n, n_outputs)``."""
        out = self._outputs(X)
        return out[:, 0] if self._one_output else out
