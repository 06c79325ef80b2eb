"""``TabularClassifier`` and ``TabularRegressor``: the data-file recipe of ``jaxmlp train`` for
scikit-learn users, on DataFrames.

They take a pandas DataFrame (or an array) with numeric and text columns and missing values as
they come, and train exactly as ``jaxmlp train FILE --target COL`` does with no other flag
(:data:`jaxmlp.io.file_dataset.RECIPE`: columns left out, gaps imputed with indicators, an
ensemble of 32 averaged into one network, within a time budget): the rows are handed to the same
reader (as a Parquet file in a temporary directory), the same training run and the same model.
``model_`` is the :class:`jaxmlp.io.modelfile.Model` (``jaxmlp.io.modelfile.save`` writes it
for ``jaxmlp predict`` and ONNX). ``MLPClassifier``/``MLPRegressor`` stay scikit-learn's exact
algorithm; these are the defaults that do well on tables.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

__all__ = ["TabularClassifier", "TabularRegressor"]

TARGET = "__jaxmlp_target__"
# the keywords that are `jaxmlp train`'s options of the same names (RunConfig's fields)
TRAINING = (
    "ensemble", "bag", "epochs", "time_budget", "validation_fraction", "patience",
    "label_smoothing", "learning_rate", "batch_size", "weight_decay", "schedule", "warmup_steps",
    "clip_norm", "devices",
)  # fmt: skip


class _Tabular(BaseEstimator):
    """The shared fit and encoding of the two estimators. Every keyword but ``missing``,
    ``scaling`` and ``random_state`` (the seed) is ``jaxmlp train``'s option of the same name
    (``--ensemble``, ..., ``--clip-norm``, ``--devices``), None leaving the recipe's choice, and
    means what it means there: ``learning_rate`` trains with no schedule or weight decay unless
    they are given too, ``epochs`` one network that long unless ``ensemble`` is given. ``devices``
    counts the devices JAX has: in a Python process the CPU is one device unless it was split
    before JAX started (``jax.config.update("jax_num_cpu_devices", N)``), which the command
    line does for its ``--devices``."""

    _task = ""

    def __init__(
        self,
        *,
        ensemble: int | None = None,
        bag: float | None = None,
        epochs: float | None = None,
        time_budget: float | None = None,
        missing: str = "impute",
        scaling: str = "standard",
        validation_fraction: float | None = None,
        patience: int | None = None,
        label_smoothing: float | None = None,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        weight_decay: float | None = None,
        schedule: str | None = None,
        warmup_steps: int | None = None,
        clip_norm: float | None = None,
        devices: int | None = None,
        random_state: int = 0,
    ):
        self.ensemble = ensemble
        self.bag = bag
        self.epochs = epochs
        self.time_budget = time_budget
        self.missing = missing
        self.scaling = scaling
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.label_smoothing = label_smoothing
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.warmup_steps = warmup_steps
        self.clip_norm = clip_norm
        self.devices = devices
        self.random_state = random_state

    def _table(self, X, y=None):
        """``X`` (and ``y``, as the target column) as a ``pyarrow.Table`` with named columns."""
        import pyarrow as pa

        if hasattr(X, "columns"):  # a DataFrame
            names = [str(c) for c in X.columns]
            table = pa.Table.from_pandas(X, preserve_index=False).rename_columns(names)
        else:
            a = np.asarray(X)
            if a.ndim != 2:
                raise ValueError(f"X must be 2-D (rows, columns), got shape {a.shape}")
            names = [f"x{j}" for j in range(a.shape[1])]
            table = pa.table({n: a[:, j] for j, n in enumerate(names)})
        if TARGET in names:
            raise ValueError(f"X has a column named {TARGET!r}, which these estimators use")
        if y is not None:
            if len(y) != table.num_rows:
                raise ValueError(f"X has {table.num_rows} rows but y has {len(y)}")
            table = table.append_column(TARGET, pa.array(y))
        return table

    def _fit(self, X, y):
        import pyarrow.parquet as pq

        from jaxmlp.cli import run
        from jaxmlp.cli.run_config import RunConfig
        from jaxmlp.io import prediction
        from jaxmlp.io.file_dataset import read_table

        with tempfile.TemporaryDirectory() as work:
            path = Path(work) / "rows.parquet"
            pq.write_table(self._table(X, y), path)
            ds = read_table(path, TARGET, self._task, missing=self.missing, scaling=self.scaling)
        cfg = RunConfig(
            **{name: getattr(self, name) for name in TRAINING},
            seed=self.random_state,
        )
        out = run.train(ds, cfg)
        self.model_ = prediction.model_from_run(ds, out.net, out.result.params, out.summary)
        self.summary_ = out.summary
        self.left_out_ = list(ds.preprocessing["left_out"]) if ds.preprocessing else []
        self.feature_names_in_ = np.asarray(
            [str(c) for c in X.columns] if hasattr(X, "columns") else [], dtype=object
        )
        self.n_features_in_ = int(np.shape(X)[1])
        return self

    def _outputs(self, X) -> np.ndarray:
        from jaxmlp.io import prediction

        table = self._table(X)
        return prediction.outputs(self.model_, prediction.inputs(self.model_, table, "X"))


class TabularClassifier(ClassifierMixin, _Tabular):
    """Classes from a table, by the data-file recipe of ``jaxmlp train`` (module docstring).

    ``classes_``: the sorted distinct labels of ``y``; ``predict_proba`` their probabilities."""

    _task = "classification"

    def fit(self, X, y):
        """Train on ``X`` (a DataFrame or an array) and labels ``y``."""
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"y needs at least 2 classes, got {len(self.classes_)}")
        return self._fit(X, np.searchsorted(self.classes_, y).astype(np.int64))

    def predict_proba(self, X) -> np.ndarray:
        """``(n, classes)``: the ensemble's probabilities."""
        out = self._outputs(X)
        return np.column_stack([1 - out[:, 0], out[:, 0]]) if out.shape[1] == 1 else out

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class TabularRegressor(RegressorMixin, _Tabular):
    """Numbers from a table, by the data-file recipe of ``jaxmlp train`` (module docstring)."""

    _task = "regression"

    def fit(self, X, y):
        """Train on ``X`` (a DataFrame or an array) and targets ``y`` ``(n,)``."""
        y = np.asarray(y, np.float64)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D, got shape {y.shape}")
        return self._fit(X, y)

    def predict(self, X) -> np.ndarray:
        """The ensemble's prediction for each row, on the target's scale."""
        return self._outputs(X)[:, 0]
