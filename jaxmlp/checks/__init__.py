"""The handwritten derivatives checked against autodiff: ``gradient_check`` (the delta rule
against ``jax.grad``) and ``hvp_check`` (the R-operator against ``jax.jvp(jax.grad)``)."""

__all__ = []
