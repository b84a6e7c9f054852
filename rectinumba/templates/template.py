"""Plain, frozen template data: what the YAML loader produces and the equation compiler consumes.

No sympy, no numba here. Templates are hashable so compiled models can be cached by template.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import TemplateError, short
from ..names import check_name, nfkc_form

__all__ = [
    "VARIABLE_KINDS",
    "Variable",
    "parse_number",
    "parse_value",
    "parse_variable",
    "COMPLEX_KEYWORD",
    "OperatorTemplate",
    "NodeTemplate",
    "EdgeTemplate",
    "CircuitEdge",
    "CircuitTemplate",
    "EQUATION_EDITS",
    "equation_names",
    "replace_term",
    "edit_equations",
    "apply_changes",
]

#: kinds a template variable can have; "parameter" is a plain number in YAML
VARIABLE_KINDS = ("input", "output", "variable", "parameter")

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_REAL = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
# a complex literal as Python writes it: "0.5+0.1j", "-0.6-0.8j", "1j", "+2.5e-3j" (no spaces)
_COMPLEX = re.compile(rf"^(?:(?P<re>[+-]?{_REAL})(?=[+-]))?(?P<im>[+-]?{_REAL})[jJ]$")
_KIND_CALL = re.compile(r"^(input|output|variable|state_var)\s*(\(\s*(?P<arg>[^()]*?)\s*\))?$")

#: the argument of ``variable(complex)``: a complex variable starting at 0
COMPLEX_KEYWORD = "complex"


def parse_number(value: Any, *, what: str = "value", **context) -> float:
    """Read a YAML scalar as a float; numeric strings such as ``"10e-3"`` are numbers.

    Only a plain decimal literal is accepted (checked with a regular expression, never evaluated).

    Parameters
    ----------
    value : Any
        The scalar (a number or a string).
    what : str
        What the value is, for messages.
    **context : str
        ``file``, ``template``... for messages.

    Returns
    -------
    float
        The number.
    """
    if isinstance(value, bool):
        raise TemplateError(f"{what} must be a number, got the boolean {short(value)}", **context)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.match(text):
            return float(text)
        if text.lower() in ("inf", "+inf", "-inf", "nan"):
            return float(text)
    if isinstance(value, complex) or (isinstance(value, str) and _COMPLEX.match(value.strip())):
        raise TemplateError(
            f"{what} must be a real number, got the complex number {short(value)}",
            hint="complex values are for variables: variable(0.5+0.1j), output(complex), or a "
            "complex parameter 0.0+1.0j",
            **context,
        )
    raise TemplateError(f"{what} must be a number, got {short(value)}", **context)


def parse_value(value: Any, *, what: str = "value", **context) -> float | complex:
    """Read a YAML scalar as a float, or as a complex number where it is written as one.

    Complex literals are written as Python writes them, without spaces: ``0.5+0.1j``,
    ``-0.6-0.8j``, ``1j`` (checked with a regular expression, then read by ``complex()``; never
    evaluated). A Python ``complex`` passes through. Everything else is :func:`parse_number`'s.

    Parameters
    ----------
    value : Any
        The scalar.
    what : str
        What the value is, for messages.
    **context : str
        ``file``, ``template``... for messages.

    Returns
    -------
    float or complex
        The value; a complex number only where one was written.
    """
    if isinstance(value, complex):
        result = value
    elif isinstance(value, str) and _COMPLEX.match(value.strip()):
        result = complex(value.strip())
    else:
        return parse_number(value, what=what, **context)
    if not (math.isfinite(result.real) and math.isfinite(result.imag)):
        raise TemplateError(f"{what} must be finite, got {short(value)}", **context)
    return result


@dataclass(frozen=True)
class Variable:
    """One declared variable of an operator template.

    Parameters
    ----------
    kind : {"input", "output", "variable", "parameter"}
        What the variable is: set from outside, the operator's output, another state or
        algebraic variable, or a constant.
    default : float or complex or str, default 0.0
        Initial value (states), default value (inputs, parameters); numeric strings such as
        ``"10e-3"`` and complex literals such as ``"0.5+0.1j"`` are read as numbers.
    is_complex : bool, default False
        The variable holds complex values (complex128; complex64 in float32 networks). Set by
        a complex default, or by ``variable(complex)`` (default 0). Part of equality: two
        templates that differ only in it are different models.
    """

    kind: str
    default: float | complex = 0.0
    is_complex: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in VARIABLE_KINDS:
            raise TemplateError(
                f"unknown variable kind {short(self.kind)}; expected one of {VARIABLE_KINDS}"
            )
        default = parse_value(self.default, what="variable default")
        is_complex = bool(self.is_complex) or isinstance(default, complex)
        object.__setattr__(self, "default", complex(default) if is_complex else default)
        object.__setattr__(self, "is_complex", is_complex)


def parse_variable(value: Any, **context) -> Variable:
    """Read a YAML variable declaration.

    ``input(0)``, ``output(1.5)``, ``variable(-60)`` (also bare ``input``), complex ones
    ``variable(-0.6-0.8j)``, ``output(complex)`` (complex, starting at 0), or a plain number
    (real or complex) for a parameter; older PyRates files write a mapping
    ``{default: output(0), description: ..., unit: ...}`` (``dtype: complex`` makes it complex).
    A :class:`Variable` passes through. Anything else is a :class:`TemplateError`.

    Parameters
    ----------
    value : Any
        The declaration as written.
    **context : str
        ``file``, ``template``, ``variable`` for messages.

    Returns
    -------
    Variable
        The variable.
    """
    if isinstance(value, Variable):
        return value
    if isinstance(value, Mapping):
        return _mapping_variable(value, **context)
    if isinstance(value, str):
        match = _KIND_CALL.match(value.strip())
        if match:
            kind = match.group(1)
            if kind == "state_var":
                kind = "variable"
            arg = match.group("arg")
            if arg == COMPLEX_KEYWORD:
                return Variable(kind, 0j, is_complex=True)
            default = parse_value(arg, what=f"default of {short(value)}", **context) if arg else 0.0
            return Variable(kind, default)
    try:
        return Variable("parameter", parse_value(value, what="variable value", **context))
    except TemplateError:
        raise TemplateError(
            f"cannot read variable declaration {short(value)}: expected input(v0), output(v0), "
            "variable(v0) (v0 real, complex as 0.5+0.1j, or the word complex) or a number",
            **context,
        ) from None


#: keys of the mapping form of a variable (older PyRates files); only ``default`` and ``dtype``
#: mean something here, the others are documentation
_MAPPING_KEYS = ("default", "dtype", "description", "unit", "label")


def _mapping_variable(value: Mapping, **context) -> Variable:
    unknown = sorted(str(k) for k in value if k not in _MAPPING_KEYS)
    if unknown or "default" not in value:
        raise TemplateError(
            f"cannot read variable declaration {short(value)}: a mapping needs 'default' and may "
            f"have {', '.join(_MAPPING_KEYS[1:])}"
            + (f"; unknown key(s) {unknown}" if unknown else ""),
            **context,
        )
    var = parse_variable(value["default"], **context)
    dtype = value.get("dtype")
    if dtype is None or (isinstance(dtype, str) and dtype.startswith("float")):
        return var
    if isinstance(dtype, str) and dtype.startswith("complex"):
        return Variable(var.kind, var.default, is_complex=True)
    raise TemplateError(
        f"variable dtype {short(dtype)} is not supported: values are float (the network's "
        "dtype) or complex",
        **context,
    )


def _as_equations(equations: str | Iterable[str], name: str) -> tuple[str, ...]:
    if isinstance(equations, str):
        return (equations,)
    result = tuple(equations)
    for eq in result:
        if not isinstance(eq, str):
            raise TemplateError(f"equations must be strings, got {short(eq)}", template=name)
    return result


#: keys of an ``equations:`` edit mapping (PyRates' update rules)
EQUATION_EDITS = ("add", "replace", "remove", "append", "prepend")

# an identifier token (Python's rules: Unicode letters too, e.g. a Greek tau); the
# look-behind keeps the exponent of "1e-3" from reading as a name "e"
_IDENT_TOKEN = re.compile(r"(?<![\w.])[^\W\d]\w*")
# characters that continue a term: a match of `old` must not be glued to one of these
_TERM_CHAR = r"\w."
_LHS_NAME = re.compile(r"^\s*(?:d\s*/\s*dt\s*\*\s*)?([^\W\d]\w*)\s*'?\s*=(?!=)")


def equation_names(equation: str) -> set[str]:
    """Identifier tokens of an equation string (a regex scan, nothing is parsed or evaluated).

    Parameters
    ----------
    equation : str
        An equation such as ``"v' = -v/tau + I_ext"``.

    Returns
    -------
    set of str
        The names in it (``{"v", "tau", "I_ext"}``); number exponents are not names.
    """
    return set(_IDENT_TOKEN.findall(equation))


def replace_term(equation: str, old: str, new: str) -> str:
    """Replace every whole-term occurrence of ``old`` by ``new`` (PyRates' ``replace`` rule).

    A match counts only where it is bounded by an operator, a bracket, a space, a prime or the
    string's ends: replacing ``v`` leaves ``v0``, ``tau_v`` and ``1.v`` alone. The replacement
    is inserted as written (no brackets added), on both sides of ``=``, and is not itself
    searched again.

    Parameters
    ----------
    equation : str
        The equation to edit.
    old : str
        The term to replace, matched character by character (spaces included).
    new : str
        Its replacement.

    Returns
    -------
    str
        The edited equation (unchanged when ``old`` does not occur as a whole term).

    Examples
    --------
    >>> replace_term("v' = -v/tau + k*r_in", "k*r_in", "k*s_in")
    "v' = -v/tau + k*s_in"
    >>> replace_term("x = v + v0", "v", "u")
    'x = u + v0'
    """
    return _term_pattern(old).sub(lambda _: new, equation)


def _term_pattern(old: str) -> re.Pattern[str]:
    """The regular expression of a whole-term occurrence of ``old`` (see :func:`replace_term`)."""
    if not old:
        raise TemplateError("cannot replace an empty term")
    pattern = re.escape(old)
    # only an edge that is itself a term character needs a boundary; "-s/tau" may follow "x"
    if re.match(f"[{_TERM_CHAR}]", old[0]):
        pattern = f"(?<![{_TERM_CHAR}])" + pattern
    if re.match(f"[{_TERM_CHAR}]", old[-1]):
        pattern = pattern + f"(?![{_TERM_CHAR}])"
    return re.compile(pattern)


def _require_term(equations: Sequence[str], term: str, edit: str, **context) -> None:
    # a term that matches nothing is a typo ("k * r_in" for "k*r_in", a misspelt name): PyRates
    # ignored it silently and the template then simulated the unedited equations
    if not any(_term_pattern(term).search(eq) for eq in equations):
        raise TemplateError(
            f"{edit}: the term {short(term)} occurs in no equation (as a whole term)",
            hint="terms match character by character, spaces included; the equations are: "
            + "; ".join(repr(eq) for eq in equations)
            + " (PyRates ignored an edit that matches nothing: if this one is a leftover, "
            "delete it)",
            **context,
        )


def _as_text(value: Any, what: str, **context) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TemplateError(f"{what} must be a string, got {short(value)}", **context)
    return value if isinstance(value, str) else repr(value)


def _text_list(value: Any, what: str, **context) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [_as_text(v, what, **context) for v in value]
    return [_as_text(value, what, **context)]


def _lhs_name(equation: str) -> str | None:
    match = _LHS_NAME.match(equation)
    return match.group(1) if match else None


def _affix(equations: list[str], affix: Any, key: str, **context) -> list[str]:
    """``append``/``prepend``: text added to every equation (PyRates), or per left-hand side."""
    if isinstance(affix, Mapping):
        targets = {_as_text(k, f"{key} target", **context): v for k, v in affix.items()}
    else:
        targets = {None: affix}
    result = list(equations)
    for target, text in targets.items():
        text = _as_text(text, f"{key} text", **context)
        hits = [i for i, eq in enumerate(result) if target is None or _lhs_name(eq) == target]
        if target is not None and not hits:
            raise TemplateError(
                f"{key}: no equation defines {short(target)}",
                hint="keys of a mapping-form "
                f"{key} name the left-hand side of the equation to edit",
                **context,
            )
        for i in hits:
            result[i] = f"{result[i]} {text}" if key == "append" else f"{text} {result[i]}"
    return result


def edit_equations(
    equations: Sequence[str], edits: str | Sequence[str] | Mapping[str, Any], **context
) -> tuple[str, ...]:
    """Apply a child template's ``equations:`` entry to its parent's equations.

    Parameters
    ----------
    equations : sequence of str
        The parent's equations.
    edits : str or sequence of str or mapping
        A string or a list of strings replaces the equations. A mapping applies PyRates' edits
        in this order: ``replace`` (``{old: new}``, whole terms, see :func:`replace_term`) on
        every equation; ``remove`` (a string or list): an entry equal to a whole equation deletes
        that equation, any other entry is a term removed (replaced by nothing) from every
        equation; ``append``/``prepend`` (a string added at the end/start of every equation, as in
        PyRates, or a mapping ``{lhs variable: text}`` that edits only the equation defining
        that variable); ``add`` (a string or list): new equations at the end. A replaced or
        removed term that occurs in no equation is an error (a typo would otherwise leave the
        equations unedited without a word).
    **context : str
        ``file``/``template`` for error messages.

    Returns
    -------
    tuple of str
        The edited equations (empty ones dropped).
    """
    if isinstance(edits, str) or isinstance(edits, (list, tuple)):
        return tuple(_text_list(edits, "an equation", **context))
    if not isinstance(edits, Mapping):
        raise TemplateError(
            f"equations must be a string, a list or a mapping of edits, got {short(edits)}",
            **context,
        )
    unknown = sorted(str(k) for k in edits if k not in EQUATION_EDITS)
    if unknown:
        misplaced = "variables" in unknown
        raise TemplateError(
            f"unknown equation edit(s) {unknown}; expected some of {list(EQUATION_EDITS)}",
            hint="'variables:' belongs beside 'equations:' in the template, not inside it"
            if misplaced
            else None,
            **context,
        )
    result = list(equations)
    replace = edits.get("replace") or {}
    if not isinstance(replace, Mapping):
        raise TemplateError(
            f"replace must be a mapping old -> new, got {short(replace)}", **context
        )
    for old, new in replace.items():
        old = _as_text(old, "a replaced term", **context)
        new = _as_text(new, "a replacement", **context)
        _require_term(result, old, "replace", **context)
        result = [replace_term(eq, old, new) for eq in result]
    if edits.get("remove") is not None:
        for term in _text_list(edits["remove"], "a removed term", **context):
            whole = [eq for eq in result if eq.strip() == term.strip()]
            if whole:
                result = [eq for eq in result if eq.strip() != term.strip()]
            else:
                _require_term(result, term, "remove", **context)
                result = [replace_term(eq, term, "") for eq in result]
    for key in ("append", "prepend"):
        if edits.get(key) is not None:
            result = _affix(result, edits[key], key, **context)
    if edits.get("add") is not None:
        result += _text_list(edits["add"], "an added equation", **context)
    return tuple(eq for eq in result if eq.strip())


def _check_name(name: Any, what: str, **context) -> str:
    # names end up in qualified "op/var" names, in messages and (repr'd) in generated comments:
    # one line of printable characters, no '/'; the error names the template it would have named
    context.setdefault("template", name if isinstance(name, str) else None)
    return check_name(name, what, TemplateError, allow_slash=False, **context)


def _check_variable_name(key: Any, **context) -> str:
    if not isinstance(key, str) or not key.isidentifier():
        raise TemplateError(
            f"variable name {short(key)} is not an identifier", variable=short(key), **context
        )
    folded = nfkc_form(key)
    if folded is not None:
        # Python's parser reads identifiers in NFKC form: in an equation this name would be
        # `folded`, silently another variable (or an undefined one)
        raise TemplateError(
            f"variable name {short(key)} is not in Unicode NFKC form: equations read it as "
            f"{short(folded)}",
            hint=f"write {short(folded)}",
            variable=key,
            **context,
        )
    return key


@dataclass(frozen=True, init=False)
class OperatorTemplate:
    """A set of equations with their declared variables (PyRates' OperatorTemplate).

    Parameters
    ----------
    name : str
        Template name, e.g. ``"li_op"``; qualified variable names are ``name/var``.
    equations : str or sequence of str
        One equation string or a sequence of them.
    variables : mapping or sequence of (str, object) pairs
        Variable name -> declaration (``"input(0)"``, ``"output(0)"``, ``"variable(-60)"``,
        a number for a parameter, or a :class:`Variable`). Variable names must be Python
        identifiers.
    path : str, optional
        Where the template came from (file path), for error messages.
    description : str, default ""
        Free text.

    See Also
    --------
    NodeTemplate : a neuron type made of operators.
    rectinumba.templates.load_template : load templates from YAML.

    Examples
    --------
    >>> li = OperatorTemplate("li_op", "v' = -v/tau + I_ext",
    ...                       {"v": "output(0)", "tau": 10.0, "I_ext": "input(0)"})
    >>> li.variable_dict["tau"]
    Variable(kind='parameter', default=10.0)
    >>> fast = li.update(name="fast_li_op", variables={"tau": 2.0})
    >>> fast.variable_dict["tau"].default
    2.0
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
        _check_name(name, "template name", file=path)
        if isinstance(variables, Mapping):
            items = list(variables.items())
        elif isinstance(variables, (list, tuple)):
            items = list(variables)
        else:
            raise TemplateError(
                f"variables must be a mapping name -> declaration, got {short(variables)}",
                template=name,
                file=path,
            )
        parsed = []
        for item in items:
            if not (isinstance(item, tuple) and len(item) == 2):
                raise TemplateError(
                    f"cannot read variable entry {short(item)}", template=name, file=path
                )
            key, value = item
            _check_variable_name(key, template=name, file=path)
            parsed.append((key, parse_variable(value, template=name, file=path, variable=key)))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "equations", _as_equations(equations, name))
        object.__setattr__(self, "variables", tuple(parsed))
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "description", description)

    @property
    def variable_dict(self) -> dict[str, Variable]:
        """The variables as a dict (name -> Variable), in declaration order."""
        return dict(self.variables)

    def update(
        self,
        *,
        name: str | None = None,
        equations: str | Sequence[str] | Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        path: str | None = None,
        description: str | None = None,
    ) -> OperatorTemplate:
        """A child of this template (PyRates' ``update_template``).

        Parameters
        ----------
        name : str, optional
            Name of the child; defaults to this template's.
        equations : str or sequence of str or mapping, optional
            New equations (string or list) or a mapping of edits, see :func:`edit_equations`.
        variables : mapping, optional
            Declarations that update this template's (new names are added, existing ones are
            replaced, possibly with another kind).
        path : str, optional
            Origin of the child, for error messages; defaults to this template's.
        description : str, optional
            Free text; defaults to this template's.

        Returns
        -------
        OperatorTemplate
            The child. Variables that no equation mentions any more are dropped.
        """
        name = self.name if name is None else name
        path = self.path if path is None else path
        context = {"template": name, "file": path}
        eqs = (
            self.equations
            if equations is None
            else edit_equations(self.equations, equations, **context)
        )
        merged: dict[str, Any] = dict(self.variables)
        if variables is not None:
            if not isinstance(variables, Mapping):
                raise TemplateError(
                    f"variables must be a mapping name -> declaration, got {short(variables)}",
                    **context,
                )
            merged.update(variables)
        mentioned = set().union(*(equation_names(eq) for eq in eqs)) if eqs else set()
        own = self.variable_dict
        stray = [str(k) for k in (variables or {}) if k not in own and k not in mentioned]
        if stray:
            # a new name that no equation uses would be dropped unseen: almost always a typo
            # ({tua: 5} for {tau: 5}); the parent's variables may still be dropped by edits
            raise TemplateError(
                f"variable(s) {stray} of operator {short(self.name)} are used by no equation",
                hint=f"its variables: {', '.join(sorted(mentioned & set(merged)))}",
                variable=stray[0],
                **context,
            )
        kept = {k: v for k, v in merged.items() if k in mentioned}
        return OperatorTemplate(
            name,
            eqs,
            kept,
            path=path,
            description=self.description if description is None else description,
        )

    @classmethod
    def from_yaml(cls, path: str) -> OperatorTemplate:
        """Load an operator template from a dot path or file path.

        Parameters
        ----------
        path : str
            A template path, see :func:`rectinumba.templates.load_template`.

        Returns
        -------
        OperatorTemplate
            The loaded template (a TemplateError if the path names another kind).
        """
        from .loader import load_template

        template = load_template(path)
        if not isinstance(template, cls):
            raise TemplateError(
                f"{short(path)} is a {type(template).__name__}, not an OperatorTemplate"
            )
        return template


_CHANGE_KEYS = ("variables", "equations")


def apply_changes(
    op: OperatorTemplate, changes: Mapping[str, Any] | None, **context
) -> OperatorTemplate:
    """Apply a node's per-operator changes to an operator template.

    Parameters
    ----------
    op : OperatorTemplate
        The operator to change.
    changes : mapping, optional
        ``None`` (no change), ``{variables: {...}, equations: ...}`` (either key optional) or,
        when it has neither key, a plain mapping of variable overrides.
    **context : str
        ``file``/``template`` of the node that makes the changes, for error messages.

    Returns
    -------
    OperatorTemplate
        The changed operator, with the same name; unused variables are dropped as in
        :meth:`OperatorTemplate.update`.
    """
    if changes is None:
        return op
    if not isinstance(changes, Mapping):
        raise TemplateError(
            f"changes to operator {short(op.name)} must be a mapping, got {short(changes)}",
            **context,
        )
    if not changes:
        return op
    if not any(k in changes for k in _CHANGE_KEYS):
        changes = {"variables": changes}
    unknown = sorted(str(k) for k in changes if k not in _CHANGE_KEYS)
    if unknown:
        raise TemplateError(
            f"unknown key(s) {unknown} in the changes to operator {short(op.name)}",
            hint="use {variables: {...}, equations: {...}} or a plain mapping of variables",
            **context,
        )
    # the changed operator is defined where the changes are written: errors found now or when
    # the node compiles name that file (and, here, the node template), not the operator's origin
    where = {k: v for k, v in context.items() if v is not None}
    try:
        return op.update(
            variables=changes.get("variables"),
            equations=changes.get("equations"),
            path=where.get("file", op.path),
        )
    except TemplateError as exc:
        raise TemplateError(
            f"in the changes to operator {short(op.name)}: {exc.raw_message}",
            **{**exc.context, **where},
        ) from None


def _operator_tuple(
    operators: Iterable[OperatorTemplate] | Mapping[OperatorTemplate, Any],
    name: str,
    path: str | None,
) -> tuple[OperatorTemplate, ...]:
    context = {"template": name, "file": path}
    if isinstance(operators, Mapping):
        pairs = list(operators.items())
    elif isinstance(operators, (str, bytes)):
        raise TemplateError(
            f"operators must be OperatorTemplates, got {short(operators)}", **context
        )
    else:
        pairs = [(op, None) for op in operators]
    ops = []
    for op, changes in pairs:
        if not isinstance(op, OperatorTemplate):
            raise TemplateError(f"operators must be OperatorTemplates, got {short(op)}", **context)
        ops.append(apply_changes(op, changes, **context))
    names = [op.name for op in ops]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise TemplateError(f"operator(s) {dup} appear more than once", **context)
    return tuple(ops)


@dataclass(frozen=True, init=False)
class _OperatorGraph:
    """Common base of NodeTemplate and EdgeTemplate: a named, ordered set of operators."""

    name: str
    operators: tuple[OperatorTemplate, ...]
    path: str | None = field(default=None, compare=False)
    description: str = field(default="", compare=False)

    def __init__(
        self,
        name: str,
        operators: Iterable[OperatorTemplate] | Mapping[OperatorTemplate, Any],
        path: str | None = None,
        description: str = "",
    ) -> None:
        _check_name(name, "template name", file=path)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "operators", _operator_tuple(operators, name, path))
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "description", description)

    @property
    def operator_dict(self) -> dict[str, OperatorTemplate]:
        """The operators as a dict (name -> OperatorTemplate), in order."""
        return {op.name: op for op in self.operators}

    @classmethod
    def from_yaml(cls, path: str):
        """Load a template of this class from a dot path or file path.

        Parameters
        ----------
        path : str
            A template path, see :func:`rectinumba.templates.load_template`.

        Returns
        -------
        NodeTemplate or EdgeTemplate
            The loaded template, of the class this is called on (a TemplateError if the path
            names another kind).
        """
        from .loader import load_template

        template = load_template(path)
        if not isinstance(template, cls):
            raise TemplateError(
                f"{short(path)} is a {type(template).__name__}, not a {cls.__name__}"
            )
        return template


@dataclass(frozen=True, init=False)
class NodeTemplate(_OperatorGraph):
    """A neuron type: an ordered set of operator templates (PyRates' NodeTemplate).

    Parameters
    ----------
    name : str
        Template name, e.g. ``"tanh"``.
    operators : sequence of OperatorTemplate or mapping
        OperatorTemplates, or a mapping OperatorTemplate -> changes (see :func:`apply_changes`),
        e.g. ``{li_op: {"tau": 5.0}}``.
    path : str, optional
        Origin, for error messages.
    description : str, default ""
        Free text.

    Examples
    --------
    >>> node = NodeTemplate.from_yaml("model_templates.rate_neurons.leaky_integrator.tanh")
    >>> [op.name for op in node.operators]
    ['li_op', 'tanh_op']
    >>> slow = NodeTemplate("slow_tanh", {node.operator_dict["li_op"]: {"tau": 50.0},
    ...                                   node.operator_dict["tanh_op"]: None})
    >>> slow.operator_dict["li_op"].variable_dict["tau"].default
    50.0
    """

    def __init__(
        self,
        name: str,
        operators: Iterable[OperatorTemplate] | Mapping[OperatorTemplate, Any],
        path: str | None = None,
        description: str = "",
    ) -> None:
        super().__init__(name, operators, path, description)
        if not self.operators:
            raise TemplateError(
                "a NodeTemplate needs at least one operator", template=name, file=path
            )


@dataclass(frozen=True, init=False)
class EdgeTemplate(_OperatorGraph):
    """Operators on a connection (PyRates' EdgeTemplate); loaded and validated, may be empty.

    Parameters
    ----------
    name : str
        Template name.
    operators : sequence of OperatorTemplate or mapping
        As for :class:`NodeTemplate`.
    path : str, optional
        Origin, for error messages.
    description : str, default ""
        Free text.
    """


def _freeze_value(value: Any, **context) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze_value(v, **context) for v in value)
    if isinstance(value, str):
        try:
            return parse_number(value)
        except TemplateError:
            return value
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    raise TemplateError(f"cannot read edge value {short(value)}", **context)


@dataclass(frozen=True, init=False)
class CircuitEdge:
    """One edge of a circuit.

    Parameters
    ----------
    source, target : str
        Endpoints as ``node/op/var``.
    template : EdgeTemplate, optional
        Operators on the edge.
    values : mapping, optional
        Values such as ``weight`` and ``delay`` (numeric strings are read as numbers).
    context : mapping, optional
        ``file``/``template`` of the circuit, for error messages (keyword only).
    """

    source: str
    target: str
    template: EdgeTemplate | None
    values: tuple[tuple[str, Any], ...]

    def __init__(
        self,
        source: str,
        target: str,
        template: EdgeTemplate | None = None,
        values: Mapping[str, Any] | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        context = dict(context or {})  # file/template of the circuit, for error messages
        for end in (source, target):
            if not isinstance(end, str) or not end.strip():
                raise TemplateError(
                    f"edge endpoints must be 'node/op/var' strings, got {short(end)}", **context
                )
        if template is not None and not isinstance(template, EdgeTemplate):
            raise TemplateError(
                f"edge template must be an EdgeTemplate, got {short(template)}", **context
            )
        values = {} if values is None else values
        if not isinstance(values, Mapping):
            raise TemplateError(f"edge values must be a mapping, got {short(values)}", **context)
        frozen = tuple((str(k), _freeze_value(v, **context)) for k, v in values.items())
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "template", template)
        object.__setattr__(self, "values", frozen)

    @property
    def value_dict(self) -> dict[str, Any]:
        """The edge values as a dict."""
        return dict(self.values)


@dataclass(frozen=True, init=False)
class CircuitTemplate:
    """A network of nodes (and sub-circuits) with edges (PyRates' CircuitTemplate).

    Parameters
    ----------
    name : str
        Template name.
    nodes : mapping of str to NodeTemplate
        Node label -> NodeTemplate.
    edges : sequence of CircuitEdge or sequence, default ()
        CircuitEdges, or ``(source, target, template_or_None, values)`` sequences. The first
        ``/``-separated part of each endpoint must be a node or sub-circuit label.
    circuits : mapping of str to CircuitTemplate, optional
        Label -> CircuitTemplate (sub-circuits).
    path : str, optional
        Origin, for error messages.
    description : str, default ""
        Free text.
    """

    name: str
    nodes: tuple[tuple[str, NodeTemplate], ...]
    edges: tuple[CircuitEdge, ...]
    circuits: tuple[tuple[str, CircuitTemplate], ...] = ()
    path: str | None = field(default=None, compare=False)
    description: str = field(default="", compare=False)

    def __init__(
        self,
        name: str,
        nodes: Mapping[str, NodeTemplate],
        edges: Iterable[CircuitEdge | Sequence[Any]] = (),
        circuits: Mapping[str, CircuitTemplate] | None = None,
        path: str | None = None,
        description: str = "",
    ) -> None:
        context = {"template": _check_name(name, "template name", file=path), "file": path}
        circuits = {} if circuits is None else circuits
        for what, mapping, cls in (
            ("nodes", nodes, NodeTemplate),
            ("circuits", circuits, CircuitTemplate),
        ):
            if not isinstance(mapping, Mapping):
                raise TemplateError(f"{what} must be a mapping label -> template", **context)
            for label, tmpl in mapping.items():
                _check_name(label, f"{what[:-1]} label", **context)
                if not isinstance(tmpl, cls):
                    raise TemplateError(
                        f"{what[:-1]} {short(label)} must be a {cls.__name__}, "
                        f"got {type(tmpl).__name__}",
                        **context,
                    )
        labels = set(nodes) | set(circuits)
        if len(labels) < len(nodes) + len(circuits):
            raise TemplateError("a label names both a node and a sub-circuit", **context)
        parsed = []
        for edge in edges:
            if not isinstance(edge, CircuitEdge):
                if (
                    isinstance(edge, (str, bytes))
                    or not isinstance(edge, Sequence)
                    or not (2 <= len(edge) <= 4)
                ):
                    raise TemplateError(
                        "an edge must be [source, target, template_or_null, values], got "
                        f"{short(edge)}",
                        **context,
                    )
                edge = CircuitEdge(*edge, context=context)
            for end in (edge.source, edge.target):
                if end.split("/", 1)[0] not in labels:
                    raise TemplateError(
                        f"edge endpoint {short(end)} names no node of the circuit; "
                        f"nodes: {sorted(labels)}",
                        **context,
                    )
            parsed.append(edge)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "nodes", tuple(nodes.items()))
        object.__setattr__(self, "edges", tuple(parsed))
        object.__setattr__(self, "circuits", tuple(circuits.items()))
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "description", description)

    @property
    def node_dict(self) -> dict[str, NodeTemplate]:
        """The nodes as a dict (label -> NodeTemplate)."""
        return dict(self.nodes)

    @classmethod
    def from_yaml(cls, path: str) -> CircuitTemplate:
        """Load a circuit template from a dot path or file path.

        Parameters
        ----------
        path : str
            A template path, see :func:`rectinumba.templates.load_template`.

        Returns
        -------
        CircuitTemplate
            The loaded template (a TemplateError if the path names another kind).
        """
        from .loader import load_template

        template = load_template(path)
        if not isinstance(template, cls):
            raise TemplateError(
                f"{short(path)} is a {type(template).__name__}, not a CircuitTemplate"
            )
        return template
