"""A population search in a child process, for :mod:`tests.test_search`'s two-process test: one
process of a two-process ``jax.distributed`` run over loopback (the population's cohorts split
over both processes' devices), or the one-process search it is compared with.

``python -c "from tests.search_hosts import child; child()" PORT PROCESS DTYPE`` prints one JSON
line: every split's test score, the best parameters and the refit network's first weights.
``PROCESS`` is 0 or 1, or ``single``; ``DTYPE`` ``float64`` or ``float32`` (the data's).
"""

import json
import sys


def child():
    port, process, dtype = sys.argv[1:4]
    from jaxmlp.training import parallel

    if process != "single":
        parallel.initialize(f"127.0.0.1:{port}", 2, int(process))
    import warnings

    import jax
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from jaxmlp.sklearn import GridSearchCV, MLPClassifier

    warnings.simplefilter("ignore")  # the short runs do not converge
    x, y = load_iris(return_X_y=True)
    grid = {
        "mlpclassifier__alpha": [1e-4, 1e-2],
        "mlpclassifier__learning_rate_init": [1e-3, 1e-2],
        "mlpclassifier__random_state": [0, 1, 2],
    }
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, batch_size=32)
    )
    devices = None if process == "single" else 2
    search = GridSearchCV(pipe, grid, cv=3, devices=devices)
    population = search.population(x.astype(dtype), y)
    search.fit(x.astype(dtype), y, population=population)
    splits = [search.cv_results_[f"split{k}_test_score"].tolist() for k in range(3)]
    print(json.dumps({
        "splits": splits,
        "best": {k: float(v) for k, v in search.best_params_.items()},
        "coefs": np.asarray(search.best_estimator_[-1].coefs_[0], np.float64).ravel().tolist(),
        "trained": population.rows_seen,
        "devices": [jax.device_count(), jax.local_device_count()],
    }))  # fmt: skip
