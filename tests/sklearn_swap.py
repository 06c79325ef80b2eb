"""A pytest plugin that points scikit-learn's ``MLPClassifier``/``MLPRegressor`` at jaxmlp's.

``python -m pytest -p tests.sklearn_swap --pyargs sklearn.neural_network.tests.test_mlp`` runs
scikit-learn's own test file for its MLP, as installed, with its own conftest, on jaxmlp's
estimators: the file imports the two names from ``sklearn.neural_network`` after this plugin
has replaced them.
"""

import sklearn.neural_network

import jaxmlp.sklearn


def pytest_configure(config):
    sklearn.neural_network.MLPClassifier = jaxmlp.sklearn.MLPClassifier
    sklearn.neural_network.MLPRegressor = jaxmlp.sklearn.MLPRegressor
