"""Files and data: data sets and tabular readers, checkpoints, model files, trace weight files, atomic writes."""

__all__ = []
