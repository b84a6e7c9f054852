"""Equation compiler: template equations -> NodeModel (sympy; never eval/exec)."""

from .model import Definition, NodeModel

__all__ = ["Definition", "NodeModel"]
