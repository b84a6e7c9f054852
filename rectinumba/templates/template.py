"""Plain, frozen template data: what the YAML loader produces and the equation compiler consumes.

No sympy, no numba here. Templates are hashable so compiled models can be cached by template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..errors import TemplateError

__all__ = [
    "VARIABLE_KINDS",
    "Variable",
    "parse_number",
    "parse_variable",
    "OperatorTemplate",
    "NodeTemplate",
]

#: kinds a template variable can have; "parameter" is a plain number in YAML
VARIABLE_KINDS = ("input", "output", "variable", "parameter")

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_KIND_CALL = re.compile(r"^(input|output|variable|state_var)\s*(\(\s*(?P<arg>[^()]*?)\s*\))?$")


def parse_number(value: Any, *, what: str = "value", **context) -> float:
    """Read a YAML scalar as a float; numeric strings such as ``"10e-3"`` are numbers.

    Only a plain decimal literal is accepted (checked with a regular expression, never evaluated).
    """
    if isinstance(value, bool):
        raise TemplateError(f"{what} must be a number, got the boolean {value!r}", **context)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.match(text):
            return float(text)
        if text.lower() in ("inf", "+inf", "-inf", "nan"):
            return float(text)
    raise TemplateError(f"{what} must be a number, got {value!r}", **context)


@dataclass(frozen=True)
class Variable:
    """One declared variable of an operator template.

    Attributes
    ----------
    kind
        ``"input"``, ``"output"``, ``"variable"`` or ``"parameter"``.
    default
        Initial value (states), default value (inputs, parameters).
    """

    kind: str
    default: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in VARIABLE_KINDS:
            raise TemplateError(f"unknown variable kind {self.kind!r}; expected one of {VARIABLE_KINDS}")
        object.__setattr__(self, "default", parse_number(self.default, what="variable default"))


def parse_variable(value: Any, **context) -> Variable:
    """Read a YAML variable declaration.

    ``input(0)``, ``output(1.5)``, ``variable(-60)`` (also bare ``input``), or a plain number for a
    parameter. A :class:`Variable` passes through. Anything else is a :class:`TemplateError`.
    """
    if isinstance(value, Variable):
        return value
    if isinstance(value, str):
        match = _KIND_CALL.match(value.strip())
        if match:
            kind = match.group(1)
            if kind == "state_var":
                kind = "variable"
            arg = match.group("arg")
            default = parse_number(arg, what=f"default of {value!r}", **context) if arg else 0.0
            return Variable(kind, default)
    try:
        return Variable("parameter", parse_number(value, what="variable value", **context))
    except TemplateError:
        raise TemplateError(
            f"cannot read variable declaration {value!r}: expected input(v0), output(v0), "
            "variable(v0) or a number",
            **context,
        ) from None


def _as_equations(equations: str | Iterable[str], name: str) -> tuple[str, ...]:
    if isinstance(equations, str):
        return (equations,)
    result = tuple(equations)
    for eq in result:
        if not isinstance(eq, str):
            raise TemplateError(f"equations must be strings, got {eq!r}", template=name)
    return result


@dataclass(frozen=True, init=False)
class OperatorTemplate:
    """A set of equations with their declared variables (PyRates' OperatorTemplate).

    Parameters
    ----------
    name
        Template name, e.g. ``"li_op"``; qualified variable names are ``name/var``.
    equations
        One equation string or a sequence of them.
    variables
        Mapping variable name -> declaration (``"input(0)"``, ``10.0``, :class:`Variable`).
    path
        Where the template came from (file path), for error messages.
    description
        Free text.
    """

    name: str
    equations: tuple[str, ...]
    variables: tuple[tuple[str, Variable], ...]
    path: str | None = field(default=None, compare=False)
    description: str = field(default="", compare=False)

    def __init__(
        self,
        name: str,
        equations: str | Iterable[str],
        variables: Mapping[str, Any] | Iterable[tuple[str, Any]],
        path: str | None = None,
        description: str = "",
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TemplateError(f"template name must be a non-empty string, got {name!r}")
        items = variables.items() if isinstance(variables, Mapping) else variables
        parsed = tuple(
            (str(k), parse_variable(v, template=name, file=path, variable=str(k))) for k, v in items
        )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "equations", _as_equations(equations, name))
        object.__setattr__(self, "variables", parsed)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "description", description)

    @property
    def variable_dict(self) -> dict[str, Variable]:
        """The variables as a dict (name -> Variable), in declaration order."""
        return dict(self.variables)

    @classmethod
    def from_yaml(cls, path: str) -> "OperatorTemplate":
        """Load an operator template from a dot path or file path (see the loader)."""
        from .loader import load_template

        template = load_template(path)
        if not isinstance(template, cls):
            raise TemplateError(f"{path!r} is a {type(template).__name__}, not an OperatorTemplate")
        return template


@dataclass(frozen=True, init=False)
class NodeTemplate:
    """A neuron type: an ordered set of operator templates (PyRates' NodeTemplate).

    Parameters
    ----------
    name
        Template name, e.g. ``"tanh"``.
    operators
        OperatorTemplates (already with any per-node changes applied).
    """

    name: str
    operators: tuple[OperatorTemplate, ...]
    path: str | None = field(default=None, compare=False)
    description: str = field(default="", compare=False)

    def __init__(
        self,
        name: str,
        operators: Iterable[OperatorTemplate],
        path: str | None = None,
        description: str = "",
    ) -> None:
        ops = tuple(operators)
        for op in ops:
            if not isinstance(op, OperatorTemplate):
                raise TemplateError(
                    f"operators of a NodeTemplate must be OperatorTemplates, got {op!r}",
                    template=name,
                    file=path,
                )
        names = [op.name for op in ops]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise TemplateError(f"operator(s) {dup} appear more than once", template=name, file=path)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "operators", ops)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "description", description)

    @classmethod
    def from_yaml(cls, path: str) -> "NodeTemplate":
        """Load a node template from a dot path or file path (see the loader)."""
        from .loader import load_template

        template = load_template(path)
        if not isinstance(template, cls):
            raise TemplateError(f"{path!r} is a {type(template).__name__}, not a NodeTemplate")
        return template
