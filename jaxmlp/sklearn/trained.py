"""What a search's population trained, handed to the search's fits in public: a
:class:`Population` passed to each ``fit`` as a fit parameter, with ``rows``, the fit's rows of the
search's data, which scikit-learn cuts with the folds as it cuts ``sample_weight``."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping

import numpy as np

__all__ = ["Population", "fit_identity"]


def fit_identity(estimator, rows) -> tuple:
    """What identifies a fit of a search: the estimator's class and parameters, and its training
    rows (indices into the search's data)."""
    params = tuple(sorted((k, repr(v)) for k, v in estimator.get_params(deep=False).items()))
    return type(estimator).__name__, params, np.asarray(rows, np.int64).tobytes()


@dataclasses.dataclass(frozen=True, eq=False)
class Population:
    """The fits a search trained at once (:func:`jaxmlp.sklearn.search.fit_population`): each
    fitted estimator's state by :func:`fit_identity`, ``data_shape`` that of the data it was trained
    on, ``rows_seen`` the training rows its members went through (rows x epochs, summed) and
    ``seconds`` its training time. A fit is matched by its parameters and its rows, not by the
    data's values: a search takes a population only with data of its ``data_shape``, and the data
    must be those it was trained on.

    ``MLPClassifier.fit(X, y, population=p, rows=r)`` (and ``MLPRegressor``'s) takes its fitted
    state from ``p`` when ``p`` holds a fit of its parameters on rows ``r`` and no ``sample_weight``
    is given, and trains as usual otherwise. The estimators request both by default under
    metadata routing, so a search passes them through a ``Pipeline`` and to every fit, in this
    process or in ``n_jobs`` others (it pickles)."""

    states: Mapping[tuple, dict]
    data_shape: tuple[int, ...] = ()  # (not "shape": scikit-learn would cut it as an array)
    rows_seen: int = 0
    seconds: float = 0.0

    def state_of(self, estimator, rows) -> dict | None:
        """A copy of the fitted state of ``estimator``'s fit on ``rows``, or None."""
        state = self.states.get(fit_identity(estimator, rows))
        return None if state is None else copy.deepcopy(state)
