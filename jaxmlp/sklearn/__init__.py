"""scikit-learn's MLP estimators backed by jaxmlp, and bridges to and from scikit-learn's own.

``MLPClassifier`` and ``MLPRegressor`` (:mod:`jaxmlp.sklearn.estimators`) take scikit-learn
1.9's parameters and give its fitted attributes; :func:`from_sklearn` turns a fitted estimator
(scikit-learn's or these) into jaxmlp's ``(net, params)``, :func:`to_sklearn` one of these into
a fitted scikit-learn estimator (:mod:`jaxmlp.sklearn.bridges`); ``GridSearchCV`` and
``RandomizedSearchCV`` are scikit-learn's searches with their MLP fits trained as one population
(:mod:`jaxmlp.sklearn.search`). ``TabularClassifier``/``TabularRegressor`` take DataFrames and
train by the data-file recipe of ``jaxmlp train`` (:mod:`jaxmlp.sklearn.tabular`). scikit-learn is an optional
dependency (``pip install 'jaxmlp[sklearn]'``).
"""

import importlib.util

if importlib.util.find_spec("sklearn") is None:  # pragma: no cover - depends on the environment
    raise ImportError("jaxmlp.sklearn needs scikit-learn >= 1.6: pip install 'jaxmlp[sklearn]'")

from jaxmlp.sklearn.bridges import from_sklearn, to_sklearn
from jaxmlp.sklearn.estimators import MLPClassifier, MLPRegressor
from jaxmlp.sklearn.search import GridSearchCV, RandomizedSearchCV
from jaxmlp.sklearn.tabular import TabularClassifier, TabularRegressor

__all__ = [
    "GridSearchCV",
    "MLPClassifier",
    "MLPRegressor",
    "RandomizedSearchCV",
    "TabularClassifier",
    "TabularRegressor",
    "from_sklearn",
    "to_sklearn",
]
