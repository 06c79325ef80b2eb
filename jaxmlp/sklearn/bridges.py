"""Bridges between scikit-learn's fitted MLPs and jaxmlp.

:func:`from_sklearn` gives the :class:`~jaxmlp.MLP` and parameters of a fitted MLP (scikit-learn's
or jaxmlp's estimator), so that a model trained by scikit-learn can be traced, explained,
reported and its Hessian taken by jaxmlp. :func:`to_sklearn` gives a fitted scikit-learn
estimator with the same coefficients and predictions as one of jaxmlp's, so that tools made for
scikit-learn's own (pickle, skops, ONNX converters) take it.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import is_classifier
from sklearn.neural_network import MLPClassifier as ScikitClassifier
from sklearn.neural_network import MLPRegressor as ScikitRegressor
from sklearn.utils.validation import check_is_fitted

from jaxmlp.mlp import MLP
from jaxmlp.sklearn.estimators import MLPClassifier, MLPRegressor
from jaxmlp.sklearn.problem import network, to_params

__all__ = ["SHARED_ACTIVATIONS", "JAXMLP_ONLY", "FITTED", "from_sklearn", "to_sklearn"]

SHARED_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
JAXMLP_ONLY = ("grad", "weight_decay", "device", "class_weight")
FITTED = (
    "coefs_", "intercepts_", "n_features_in_", "n_outputs_", "n_layers_", "out_activation_",
    "n_iter_", "t_", "loss_", "best_loss_", "loss_curve_", "validation_scores_",
    "best_validation_score_", "feature_names_in_", "classes_", "_label_binarizer",
)  # fmt: skip


def from_sklearn(estimator) -> tuple[MLP, tuple[dict, ...]]:
    """``(net, params)`` of a fitted ``MLPClassifier``/``MLPRegressor`` (scikit-learn's or
    jaxmlp's): per-neuron biases, ``W_l = coefs_[l].T``, ``b_l = intercepts_[l]``, the output
    activation ``out_activation_`` with its loss (softmax: cross_entropy, logistic:
    binary_cross_entropy, identity: half_mse, exp: poisson), in the coefficients' dtype.
    ``net.apply(params, X)`` equals the estimator's output layer (``predict_proba``'s
    probabilities, ``predict``'s values)."""
    if not isinstance(estimator, (ScikitClassifier, ScikitRegressor, MLPClassifier, MLPRegressor)):
        raise TypeError(
            f"from_sklearn takes a fitted MLPClassifier or MLPRegressor, got {type(estimator).__name__}"
        )
    check_is_fitted(estimator, "coefs_")
    coefs = estimator.coefs_
    net = network(
        coefs[0].shape[0],
        [c.shape[1] for c in coefs[:-1]],
        coefs[-1].shape[1],
        estimator.activation,
        estimator.out_activation_,
    )
    return net, to_params(coefs, estimator.intercepts_, coefs[0].dtype)


def to_sklearn(estimator):
    """A fitted scikit-learn ``MLPClassifier``/``MLPRegressor`` with ``estimator``'s
    hyperparameters, coefficients and fitted attributes (its predictions are the same up to
    rounding). The activation must be one scikit-learn has (identity, logistic, tanh, relu), and
    jaxmlp's own keywords (grad, weight_decay, device, class_weight) are left behind."""
    if not isinstance(estimator, (MLPClassifier, MLPRegressor)):
        raise TypeError(
            f"to_sklearn takes jaxmlp.sklearn's MLPClassifier or MLPRegressor, got "
            f"{type(estimator).__name__}"
        )
    check_is_fitted(estimator, "coefs_")
    if estimator.activation not in SHARED_ACTIVATIONS:
        raise ValueError(
            f"scikit-learn has no activation {estimator.activation!r}; it has "
            f"{', '.join(SHARED_ACTIVATIONS)}"
        )
    params = {k: v for k, v in estimator.get_params(deep=False).items() if k not in JAXMLP_ONLY}
    target = ScikitClassifier if is_classifier(estimator) else ScikitRegressor
    twin = target(**params)
    for name in FITTED:
        if hasattr(estimator, name):
            value = getattr(estimator, name)
            if name in ("coefs_", "intercepts_"):
                value = [np.array(a) for a in value]
            setattr(twin, name, value)
    return twin
