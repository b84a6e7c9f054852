"""Template loading: YAML files, paths, inheritance, edits (no sympy, no numba)."""

from .loader import builtin_dir, clear_cache, load_template, template_names
from .template import (
    CircuitEdge,
    CircuitTemplate,
    EdgeTemplate,
    NodeTemplate,
    OperatorTemplate,
    Variable,
    apply_changes,
    edit_equations,
    equation_names,
    replace_term,
)

__all__ = [
    "CircuitEdge",
    "CircuitTemplate",
    "EdgeTemplate",
    "NodeTemplate",
    "OperatorTemplate",
    "Variable",
    "apply_changes",
    "builtin_dir",
    "clear_cache",
    "edit_equations",
    "equation_names",
    "load_template",
    "replace_term",
    "template_names",
]
