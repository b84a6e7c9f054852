"""Template loading: YAML files, paths, inheritance, edits (no sympy, no numba)."""

from .template import NodeTemplate, OperatorTemplate, Variable

__all__ = ["NodeTemplate", "OperatorTemplate", "Variable"]
