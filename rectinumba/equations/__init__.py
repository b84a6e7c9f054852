"""Equation compiler: template equations -> NodeModel (sympy; never eval/exec).

``NodeModel`` and ``Definition`` load without sympy; ``compile_node`` (and the parser) import
sympy on first access, so code that only handles compiled models stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from .model import Definition, NodeModel

__all__ = ["Definition", "NodeModel", "compile_node", "parse_expression", "split_equation"]

_LAZY = {
    "compile_node": "rectinumba.equations.compile",
    "parse_expression": "rectinumba.equations.parse",
    "split_equation": "rectinumba.equations.parse",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rectinumba.equations' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
