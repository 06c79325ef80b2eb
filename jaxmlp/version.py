"""The version of jaxmlp, in one place: the package, its model files and its wheel read it here."""

__all__ = []

__version__ = "0.2.0"
