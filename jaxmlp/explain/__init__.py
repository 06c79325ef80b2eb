"""The derivation explained: the step-by-step trace (text, Markdown, JSON) and the HTML explainer page."""

__all__ = []
