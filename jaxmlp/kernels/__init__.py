"""Fast kernels, each checked against the reference core: the population-last \"lanes\" layout, small products."""

__all__ = []
