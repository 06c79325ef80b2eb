"""The training wing: ``fit`` and what it is made of (arguments, the compiled loop, batching,
optimizers, early stopping), populations (``sweep``), several devices and hosts, hypergradients,
curvature, and scikit-learn's solvers (``objective``, ``stochastic``, ``lbfgs``)."""

__all__ = []
