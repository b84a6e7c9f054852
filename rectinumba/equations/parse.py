"""Parse one equation string into sympy, safely.

The right-hand side is parsed with ``ast.parse(rhs, mode="eval")`` and rendered by a whitelist
visitor (one ``render_<NodeType>`` method per allowed node type, as Brian2 does). Anything without
a method is refused with an :class:`~rectinumba.errors.EquationError` whose caret points at the
offending token. No user text is ever passed to ``eval``, ``exec`` or ``sympify``.

Equation forms: ``x' = rhs`` and ``d/dt * x = rhs`` (a derivative), ``a = rhs`` (algebraic).
``^`` means power, exactly like ``**`` (also in precedence: ``v^2 + eta`` is ``v**2 + eta``).
Comparisons become ``Piecewise((1, rel), (0, True))`` (1.0 where true, else 0.0).

Operations whose operands are all numbers are folded in float64 arithmetic (Python floats), the
arithmetic the generated code does: sympy never evaluates a constant, so a hostile ``9**9**9``
or ``exp(exp(1e300))`` costs nothing, and a constant that overflows, divides by zero or leaves
the real domain (``log(-1)``) is refused at the token that makes it so. Constants with an
imaginary part (``1j``, ``I``) fold in complex128 arithmetic (``cmath``).

Complex numbers: ``1j`` literals, and ``I``, the imaginary unit, unless the template declares a
variable ``I`` (declared names always win); variables declared complex are
``sympy.Symbol(name, complex=True)``. Functions that need real arguments (``maxi``, ``sign``,
comparisons, ...) refuse complex ones at the token.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import operator
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sympy

from ..errors import EquationError, RectinumbaError
from ..names import nfkc_form
from .delays import HISTORY_FUNCTION
from .functions import FUNCTIONS, REDUCTIONS, is_complex_valued
from .model import TIME
from .noise import RANDOM_FUNCTIONS, is_noise_name

#: the imaginary unit's name (a declared variable of that name wins)
IMAGINARY_UNIT = "I"

__all__ = [
    "Equation",
    "Namespace",
    "Refusal",
    "split_equation",
    "parse_rhs",
    "parse_expression",
    "time_symbol",
]

_IDENT = r"[^\W\d]\w*"
# identifier tokens outside numbers (the look-behind keeps the "e3" of "1e3" from counting)
_IDENT_TOKEN = re.compile(rf"(?<![\w.]){_IDENT}")
_LHS_PRIME = re.compile(rf"^\s*(?P<name>{_IDENT})\s*'\s*$")
_LHS_DDT = re.compile(rf"^\s*d\s*/\s*dt\s*\*\s*(?P<name>{_IDENT})\s*$")
_LHS_ALG = re.compile(rf"^\s*(?P<name>{_IDENT})\s*$")

_FORMS = "x' = rhs, d/dt * x = rhs or a = rhs"


def time_symbol() -> sympy.Symbol:
    """The symbol of time ``t`` (step index times dt) used in compiled expressions."""
    return sympy.Symbol(TIME, real=True)


@dataclass(frozen=True)
class Equation:
    """One equation split into its parts (no sympy yet).

    Attributes
    ----------
    text
        The equation as written.
    kind
        ``"ode"`` for ``x' = ...`` / ``d/dt * x = ...``, ``"alg"`` for ``a = ...``.
    target
        The bare name on the left-hand side.
    target_col
        0-based column of ``target`` in ``text`` (for carets).
    rhs
        The right-hand side text, leading whitespace removed.
    rhs_col
        0-based column where ``rhs`` starts in ``text``.
    """

    text: str
    kind: str
    target: str
    target_col: int
    rhs: str
    rhs_col: int


class Refusal(Exception):
    """Raised by a :class:`Namespace` callback to refuse a construct; the parser turns it into
    an :class:`~rectinumba.errors.EquationError` with a caret under the construct.

    Parameters
    ----------
    message : str
        What is wrong, in the model's terms.
    hint : str, optional
        What to write instead.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


class Namespace:
    """What names mean while rendering one right-hand side.

    Parameters
    ----------
    symbols
        Bare name -> sympy expression for every declared variable (declared names win over the
        constants ``t``, ``pi``, ``E``, ``I`` and the noise names ``xi``, ``xi_*``).
    reduce
        Called as ``reduce(kind, expr, text)`` for ``mean(...)``/``vsum(...)``; returns the
        expression standing for the reduction. None: reductions are refused.
    past
        Called as ``past(name, variable, delay)`` for ``past(x, d)`` and ``x(t - d)`` (bare name
        and expression of the variable, rendered delay); returns the expression standing for the
        delayed value or raises :class:`Refusal`. None: delays are refused.
    noise
        Called as ``noise(name)`` for an undeclared noise name (``xi``, ``xi_1``, ...); returns its
        symbol or raises :class:`Refusal`. None: noise names are undefined names.
    """

    def __init__(
        self,
        symbols: Mapping[str, Any],
        reduce: Callable[[str, Any, str], Any] | None = None,
        past: Callable[[str, Any, Any], Any] | None = None,
        noise: Callable[[str], Any] | None = None,
    ) -> None:
        self.symbols = dict(symbols)
        self.reduce = reduce
        self.past = past
        self.noise = noise

    def lookup(self, name: str) -> Any | None:
        """The expression for a bare name, or None when the name is undefined."""
        if name in self.symbols:
            return self.symbols[name]
        if name == TIME:
            return time_symbol()
        if name == "pi":
            return sympy.pi
        if name == "E":
            return sympy.E
        if name == IMAGINARY_UNIT:
            return sympy.I
        return None


def _find_assignment(text: str) -> int:
    """Index of the ``=`` that separates the sides (not part of ``==``, ``<=``, ``>=``, ``!=``,
    ``:=``), or -1."""
    for i, char in enumerate(text):
        if char != "=":
            continue
        if i > 0 and text[i - 1] in "<>!=:":
            continue
        if i + 1 < len(text) and text[i + 1] == "=":
            continue
        return i
    return -1


def _one_line(text: str) -> str:
    """``text`` with line breaks and tabs as spaces: YAML block scalars (``|``, ``>``) leave line
    breaks in equations, which would put an error's caret on the wrong line. Every column stays
    where it was, and in an expression a break means a space anyway."""
    return text.translate(_BLANKS)


_BLANKS = str.maketrans({"\r": " ", "\n": " ", "\t": " ", "\f": " ", "\v": " "})


def split_equation(text: str, **context: Any) -> Equation:
    """Split an equation into left-hand side target and right-hand side text.

    Parameters
    ----------
    text : str
        ``x' = rhs``, ``d/dt * x = rhs`` (spaces optional) or ``a = rhs``.
    **context : str
        ``file``, ``template``... for error messages.

    Returns
    -------
    Equation
        Its kind (``"ode"`` or ``"alg"``), the target name, the right-hand side text and their
        columns in ``text``.

    Raises
    ------
    EquationError
        When the text has no ``=`` or the left-hand side is none of the three forms.
    """
    if not isinstance(text, str):
        raise EquationError(f"an equation must be a string, got {text!r}", **context)
    text = _one_line(text)
    pos = _find_assignment(text)
    if pos < 0:
        raise EquationError(
            f"an equation needs '=' between its sides ({_FORMS})",
            equation=text,
            column=len(text),
            **context,
        )
    lhs = text[:pos]
    kind = "ode"
    match = _LHS_PRIME.match(lhs) or _LHS_DDT.match(lhs)
    if match is None:
        kind = "alg"
        match = _LHS_ALG.match(lhs)
    if match is None:
        stripped = len(lhs) - len(lhs.lstrip())
        raise EquationError(
            f"cannot read the left-hand side {lhs.strip()!r}; expected {_FORMS}",
            equation=text,
            column=stripped if lhs.strip() else pos,
            **context,
        )
    name = match.group("name")
    col = match.start("name")
    folded = nfkc_form(name)
    if folded is not None:
        raise EquationError(
            f"the name {name!r} is not in Unicode NFKC form; Python reads it as {folded!r}",
            equation=text,
            column=col,
            hint=f"write {folded!r}",
            **context,
        )
    if keyword.iskeyword(name):
        raise EquationError(
            f"{name!r} is a reserved word and cannot name a variable",
            equation=text,
            column=col,
            hint="rename the variable",
            **context,
        )
    rest = text[pos + 1 :]
    rhs = rest.lstrip()
    rhs_col = pos + 1 + (len(rest) - len(rhs))
    if not rhs.strip():
        raise EquationError(
            "the right-hand side is empty",
            equation=text,
            column=len(text),
            variable=name,
            **context,
        )
    return Equation(text, kind, name, col, rhs, rhs_col)


def _to_python(rhs: str) -> tuple[str, list[int]]:
    """Python source for ``rhs`` (``^`` -> ``**``, line breaks -> spaces) and, for each of its
    characters, the column in ``rhs`` it came from (so carets stay exact)."""
    out: list[str] = []
    cols: list[int] = []
    for i, char in enumerate(rhs):
        if char == "^":
            out.append("**")
            cols.extend((i, i))
        elif char in "\r\n":
            # YAML folded strings may span lines; in an expression a break is a space
            out.append(" ")
            cols.append(i)
        else:
            out.append(char)
            cols.append(i)
    cols.append(len(rhs))  # one past the end, for end-of-input errors
    return "".join(out), cols


class _Refused(Exception):
    """Internal: a node was refused; carries the message, the AST node or column, and a hint."""

    def __init__(self, message: str, where: ast.AST | int | None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint


_BINOPS: dict[type, str] = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
}

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: sympy.Lt,
    ast.LtE: sympy.Le,
    ast.Gt: sympy.Gt,
    ast.GtE: sympy.Ge,
    ast.Eq: sympy.Eq,
    ast.NotEq: sympy.Ne,
}

_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.BitXor: operator.pow,  # only if a caller parses '^' without rewriting it
}

_FLOAT_COMPARE: dict[type, Callable[[float, float], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}

_FLOAT_MAX = 1.7976931348623157e308

# phrases for node types that are refused, in the model's terms
_REFUSED: dict[str, tuple[str, str | None]] = {
    "Attribute": ("attribute access (.name) is not allowed in equations", None),
    "Subscript": ("indexing with [...] is not supported in equations", None),
    "Lambda": ("lambda expressions are not allowed in equations", None),
    "ListComp": ("comprehensions are not allowed in equations", None),
    "SetComp": ("comprehensions are not allowed in equations", None),
    "DictComp": ("comprehensions are not allowed in equations", None),
    "GeneratorExp": ("comprehensions are not allowed in equations", None),
    "Starred": ("starred arguments (*x) are not allowed in equations", None),
    "JoinedStr": ("f-strings are not allowed in equations", None),
    "FormattedValue": ("f-strings are not allowed in equations", None),
    "NamedExpr": ("assignment expressions (:=) are not allowed in equations", None),
    "IfExp": (
        "conditional expressions (a if c else b) are not supported",
        "use comparisons, e.g. (c > 0)*a + (c <= 0)*b",
    ),
    "BoolOp": ("'and'/'or' are not supported", "multiply comparisons: (a > 0)*(b > 0)"),
    "List": ("lists are not allowed in equations", None),
    "Tuple": ("tuples are not allowed in equations", None),
    "Set": ("sets are not allowed in equations", None),
    "Dict": ("dicts are not allowed in equations", None),
    "Slice": ("slices are not allowed in equations", None),
    "Await": ("'await' is not allowed in equations", None),
    "Yield": ("'yield' is not allowed in equations", None),
    "YieldFrom": ("'yield' is not allowed in equations", None),
}


def complex_constant(value: complex) -> Any:
    """A Python complex number as a sympy number ``a + b*I`` (``a`` alone when ``b`` is 0).

    Parameters
    ----------
    value : complex
        The number.

    Returns
    -------
    sympy.Expr
        The sympy number.
    """
    imag = sympy.Float(value.imag) * sympy.I
    if value.imag == 0.0:
        return sympy.Float(value.real)
    if value.real == 0.0:
        return imag
    return sympy.Add(sympy.Float(value.real), imag)


#: undefined names that are spellings of something the language has, and what to write instead
_SPELLINGS = {
    "pi": "write pi (lower case) for the constant 3.14159...",
    "e": "write E for Euler's number 2.71828... (or exp(x))",
    "i": "for the imaginary unit write I or 1j, or declare it as PyRates does, i: 0.0+1.0j",
    "j": "for the imaginary unit write I or 1j",
    "inf": "infinite numbers are not allowed in equations",
    "nan": "NaN is not allowed in equations",
    "true": "equations hold numbers: write 1.0 (or a comparison such as x > 0)",
    "false": "equations hold numbers: write 0.0",
}


def _name_hint(name: str) -> str:
    """A hint (ending in "; ") for an undefined name that means something else, or ""."""
    hint = _SPELLINGS.get(name.lower())
    return f"{hint}; " if hint else ""


class _Renderer:
    """Render an ``ast`` expression into sympy through ``render_<NodeType>`` methods."""

    def __init__(self, source: str, namespace: Namespace) -> None:
        self.source = source
        self.ns = namespace
        self.in_reduction = False
        # byte offsets (ast) -> character offsets; identical for ASCII
        self._ascii = source.isascii()

    # ---- helpers ---------------------------------------------------------------------------
    def char_col(self, byte_col: int) -> int:
        """Character column of an ast byte column in the source line."""
        if self._ascii:
            return byte_col
        return len(self.source.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def col(self, node: ast.AST) -> int:
        return self.char_col(getattr(node, "col_offset", 0))

    def end_col(self, node: ast.AST) -> int:
        return self.char_col(getattr(node, "end_col_offset", 0) or 0)

    def segment(self, node: ast.AST) -> str:
        return self.source[self.col(node) : self.end_col(node)]

    def sympy_op(self, node: ast.AST, build: Callable[[], Any]) -> Any:
        """Build a sympy object; sympy's own failures (degenerate numbers) become refusals."""
        try:
            return build()
        except (RectinumbaError, _Refused):
            raise
        except RecursionError:
            raise _Refused("the expression is nested too deeply", node) from None
        except Exception as exc:  # sympy raises TypeError, ValueError, ... on odd numbers
            raise _Refused(f"cannot build this expression: {exc}", node) from None

    def fold(
        self,
        node: ast.AST,
        values: list[Any],
        fn: Callable[..., Any],
        complex_fn: Callable[..., Any] | None = None,
        what: str = "this operation",
    ) -> Any | None:
        """``fn`` applied in float64 when every value is a number (no symbols), else None.

        When a value has an imaginary part, ``complex_fn`` (default ``fn``) is applied in
        complex128 instead; ``complex_fn=False`` refuses complex values (``what`` needs real
        numbers).
        """
        if not all(getattr(v, "is_number", False) for v in values):
            return None
        try:
            numbers = [float(v) if v.is_real else complex(v) for v in values]
        except (TypeError, ValueError):
            raise _Refused("the constant is undefined (not a number)", node) from None
        has_complex = any(isinstance(v, complex) for v in numbers)
        if has_complex and complex_fn is False:
            raise _Refused(f"{what} needs real numbers, got a complex constant", node)
        call = (complex_fn or fn) if has_complex else fn
        try:
            result = call(*numbers)
        except ZeroDivisionError:
            raise _Refused("division by zero in a constant expression", node) from None
        except OverflowError:
            raise _Refused("the constant overflows double precision", node) from None
        except (ValueError, TypeError):
            raise _Refused(
                "the constant is undefined (outside the function's domain)", node
            ) from None
        if isinstance(result, complex):
            if not has_complex:
                raise _Refused(
                    "the constant is a complex number (a real operation left the real domain)",
                    node,
                    "write complex constants explicitly, e.g. 1j or I",
                )
            return self._number(node, result)
        return self._number(node, float(result))

    def _number(self, node: ast.AST, value: float | complex) -> Any:
        """A finite float or complex constant as a sympy number (refused otherwise)."""
        parts = (value.real, value.imag) if isinstance(value, complex) else (value,)
        if any(math.isnan(p) for p in parts):
            raise _Refused("the constant is undefined (not a number)", node)
        if any(math.isinf(p) for p in parts):
            raise _Refused("the constant overflows double precision", node)
        if not isinstance(value, complex):
            return sympy.Float(value)
        return complex_constant(value)

    # ---- dispatch --------------------------------------------------------------------------
    def render(self, node: ast.AST) -> Any:
        kind = type(node).__name__
        method = getattr(self, f"render_{kind}", None)
        if method is None:
            message, hint = _REFUSED.get(
                kind, (f"{kind} expressions are not allowed in equations", None)
            )
            raise _Refused(message, self._refusal_where(node), hint)
        return method(node)

    def _refusal_where(self, node: ast.AST) -> ast.AST | int:
        """Point carets at the token that makes the node what it is (the dot, the bracket)."""
        if isinstance(node, ast.Attribute):
            # in a chain a.b.c the first offending dot is the innermost one
            while isinstance(node.value, ast.Attribute):
                node = node.value
            start = self.end_col(node.value)
            dot = self.source.find(".", start)
            return dot if dot >= 0 else node
        if isinstance(node, ast.Subscript):
            start = self.end_col(node.value)
            bracket = self.source.find("[", start)
            return bracket if bracket >= 0 else node
        return node

    # ---- allowed nodes ---------------------------------------------------------------------
    def render_Expression(self, node: ast.Expression) -> Any:
        return self.render(node.body)

    def render_Constant(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise _Refused(f"{value!r} is not a number; equations only hold numbers", node)
        if isinstance(value, int):
            if abs(value) > _FLOAT_MAX:
                raise _Refused("the number is too large for double precision", node)
            return sympy.Integer(value)
        if isinstance(value, float):
            if math.isinf(value):
                raise _Refused("the number is too large for double precision", node)
            return sympy.Float(value)
        if isinstance(value, complex):
            return self._number(node, value)
        if isinstance(value, (str, bytes)):
            raise _Refused("strings are not allowed in equations", node)
        raise _Refused(f"the constant {value!r} is not allowed in equations", node)

    def render_Name(self, node: ast.Name) -> Any:
        value = self.ns.lookup(node.id)
        if value is None and self.ns.noise is not None and is_noise_name(node.id):
            return self._noise(node)
        if value is None:
            if node.id in FUNCTIONS or node.id in REDUCTIONS:
                raise _Refused(
                    f"{node.id!r} is a function; call it with an argument, e.g. {node.id}(x)",
                    node,
                )
            known = sorted(self.ns.symbols)
            raise _Refused(
                f"undefined variable {node.id!r}",
                node,
                _name_hint(node.id)
                + f"declared variables: {', '.join(known) if known else '(none)'}; "
                "declare it under 'variables:'",
            )
        return value

    def render_UnaryOp(self, node: ast.UnaryOp) -> Any:
        if isinstance(node.op, ast.USub):
            operand = self.render(node.operand)
            folded = self.fold(node, [operand], operator.neg)
            return folded if folded is not None else self.sympy_op(node, lambda: -operand)
        if isinstance(node.op, ast.UAdd):
            return self.render(node.operand)
        symbol = {ast.Not: "not", ast.Invert: "~"}.get(type(node.op), type(node.op).__name__)
        raise _Refused(f"the operator {symbol!r} is not supported in equations", node)

    def render_BinOp(self, node: ast.BinOp) -> Any:
        op = node.op
        if type(op) in _BINOPS:
            where = self._operator_col(node)
            raise _Refused(
                f"the operator {_BINOPS[type(op)]!r} is not supported in equations", where
            )
        arithmetic = _ARITHMETIC.get(type(op))
        if arithmetic is None:
            raise _Refused(f"the operator {type(op).__name__} is not supported in equations", node)
        left = self.render(node.left)
        right = self.render(node.right)
        folded = self.fold(node, [left, right], arithmetic)
        if folded is not None:
            return folded
        return self.sympy_op(node, lambda: arithmetic(left, right))

    def _operator_col(self, node: ast.BinOp) -> int:
        """Column of the binary operator token between the operands."""
        start = self.end_col(node.left)
        i = start
        while i < len(self.source) and self.source[i] in " \t)":
            i += 1
        return i

    def render_Compare(self, node: ast.Compare) -> Any:
        names = {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise _Refused(
                    f"the comparison {names.get(type(op), type(op).__name__)!r} is not supported",
                    node,
                    "use < <= > >= == !=",
                )
        operands = [self.render(node.left)] + [self.render(c) for c in node.comparators]
        pairs = list(zip(node.ops, operands[:-1], operands[1:], strict=True))

        def numeric(*xs: float) -> float:
            ops = zip(node.ops, xs[:-1], xs[1:], strict=True)
            return float(all(_FLOAT_COMPARE[type(op)](a, b) for op, a, b in ops))

        folded = self.fold(node, operands, numeric, False, "a comparison")
        for operand, sub in zip(operands, [node.left, *node.comparators], strict=True):
            if is_complex_valued(operand):
                raise _Refused(
                    "comparisons need real values; this operand is complex",
                    sub,
                    "compare real(...), imag(...) or abs(...) of it",
                )
        if folded is not None:
            return folded
        relations = [
            self.sympy_op(node, lambda op=op, a=a, b=b: _COMPARE[type(op)](a, b))
            for op, a, b in pairs
        ]
        condition = self.sympy_op(node, lambda: sympy.And(*relations))
        return self.sympy_op(
            node, lambda: sympy.Piecewise((sympy.S.One, condition), (sympy.S.Zero, True))
        )

    def render_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise _Refused(_REFUSED["Attribute"][0], self._refusal_where(node.func))
            raise _Refused(
                "only functions called by name are allowed (e.g. exp(x))",
                self.end_col(node.func),
            )
        name = node.func.id
        if node.keywords:
            raise _Refused(
                f"keyword arguments are not allowed in equations (in the call of {name!r})",
                self.col(node.keywords[0]),
            )
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _Refused(_REFUSED["Starred"][0], arg)
        if name in REDUCTIONS:
            return self._reduction(node, name)
        if name == HISTORY_FUNCTION and name not in self.ns.symbols:
            return self._past_call(node)
        spec = FUNCTIONS.get(name)
        if spec is None:
            if name in self.ns.symbols and self.ns.past is not None and len(node.args) == 1:
                return self._delayed_call(node, name)
            if name in self.ns.symbols:
                raise _Refused(f"{name!r} is a variable, not a function", node.func)
            if name.lower() in RANDOM_FUNCTIONS:  # numpy's, Brian2's and PyRates users' habits
                raise _Refused(
                    f"unknown function {name!r}",
                    node.func,
                    "white noise is the variable xi (Brian2's name; xi_1, xi_e, ... are "
                    "independent): write x' = f + g*xi, integrated by Euler-Maruyama; "
                    "Network(dt, seed=...) makes it reproducible",
                )
            close = difflib.get_close_matches(name, [*FUNCTIONS, *REDUCTIONS], n=1)
            raise _Refused(
                f"unknown function {name!r}",
                node.func,
                (f"did you mean {close[0]}()? " if close else "")
                + "available functions: "
                + ", ".join(sorted((*FUNCTIONS, *REDUCTIONS, HISTORY_FUNCTION))),
            )
        if len(node.args) != spec.arity:
            raise _Refused(
                f"function {name!r} takes exactly {spec.arity} argument"
                f"{'s' if spec.arity != 1 else ''}, got {len(node.args)}",
                node,
            )
        args = [self.render(arg) for arg in node.args]
        complex_fn = spec.complex_numeric if spec.complex_numeric is not None else False
        folded = self.fold(node, args, spec.numeric, complex_fn, f"{name}()")
        if folded is not None:
            return folded
        if spec.real_only:
            for arg, sub in zip(args, node.args, strict=True):
                if is_complex_valued(arg):
                    raise _Refused(
                        f"{name}() takes real arguments; this argument is complex",
                        sub,
                        "take real(...), imag(...), abs(...) or angle(...) of it first",
                    )
        return self.sympy_op(node, lambda: spec.build(*args))

    # ---- delays and noise (rectinumba.equations.delays / .noise) ---------------------------
    def _past_call(self, node: ast.Call) -> Any:
        """``past(x, d)``: the value of variable x a time d ago."""
        if self.ns.past is None:
            raise _Refused("delays (past(x, d)) are not available here", node.func)
        if len(node.args) != 2:
            raise _Refused(
                f"past takes exactly 2 arguments (a variable and a delay), got {len(node.args)}",
                node,
                "write past(x, d): the value of x a time d ago",
            )
        target = node.args[0]
        if not isinstance(target, ast.Name) or target.id not in self.ns.symbols:
            raise _Refused(
                "the first argument of past() must be a declared variable",
                target,
                "write past(x, d) with x a state variable of the operator",
            )
        delay = self.render(node.args[1])
        return self._history(node, target.id, delay)

    def _delayed_call(self, node: ast.Call, name: str) -> Any:
        """``x(t - d)`` (PyRates' notation for ``past(x, d)``); ``x(t)`` is ``x``."""
        arg = node.args[0]
        time_free = TIME not in self.ns.symbols
        if isinstance(arg, ast.Name) and arg.id == TIME and time_free:
            return self.ns.symbols[name]
        is_delay = (
            isinstance(arg, ast.BinOp)
            and isinstance(arg.op, ast.Sub)
            and isinstance(arg.left, ast.Name)
            and arg.left.id == TIME
        )
        if not is_delay or not time_free:
            raise _Refused(
                f"{name!r} is a variable: call it only with a delayed time, {name}(t - d)",
                arg,
                f"write {name}(t - d) or past({name}, d) for the value a time d ago",
            )
        delay = self.render(arg.right)
        return self._history(node, name, delay)

    def _history(self, node: ast.Call, name: str, delay: Any) -> Any:
        try:
            return self.ns.past(name, self.ns.symbols[name], delay)
        except Refusal as exc:
            raise _Refused(exc.message, node, exc.hint) from None

    def _noise(self, node: ast.Name) -> Any:
        """A white-noise name (``xi``, ``xi_1``, ...) that the template does not declare."""
        if self.in_reduction:
            raise _Refused(
                f"white noise {node.id!r} cannot be averaged over the population (mean/vsum)",
                node,
                f"add the noise term outside the reduction, e.g. ... + sigma*{node.id}",
            )
        try:
            return self.ns.noise(node.id)
        except Refusal as exc:
            raise _Refused(exc.message, node, exc.hint) from None

    def _reduction(self, node: ast.Call, name: str) -> Any:
        if len(node.args) != 1:
            raise _Refused(
                f"the population reduction {name!r} takes exactly 1 argument, got {len(node.args)}",
                node,
            )
        if self.ns.reduce is None:
            raise _Refused(f"population reductions ({name}) are not available here", node.func)
        if self.in_reduction:
            raise _Refused(
                f"nested population reductions ({name} inside mean/vsum) are not supported",
                node.func,
                "define the inner reduction as its own variable is not possible either: "
                "compute it in a separate node or rewrite the expression",
            )
        self.in_reduction = True
        try:
            inner = self.render(node.args[0])
        finally:
            self.in_reduction = False
        text = re.sub(r"\s+", "", self.segment(node.args[0]).replace("**", "^"))
        return self.ns.reduce(name, inner, text)


def _bad_constants(expr: Any) -> str | None:
    """Why a rendered expression cannot be simulated (complex or undefined constants), or None."""
    if expr.has(sympy.zoo) or expr.has(sympy.nan):
        return "the expression contains an undefined number (e.g. a division by zero)"
    if expr.has(sympy.oo) or expr.has(-sympy.oo):
        return "the expression contains an infinite number"
    if any(abs(f) > _FLOAT_MAX for f in expr.atoms(sympy.Float)):
        # sympy combines coefficients exactly (1e308*x*10 -> 1e309*x); float64 cannot hold them
        return "the expression contains a number beyond double precision"
    return None


def parse_rhs(equation: Equation, namespace: Namespace, **context: Any) -> Any:
    """Render the right-hand side of a split equation into a sympy expression.

    Parameters
    ----------
    equation
        From :func:`split_equation`.
    namespace
        What names mean (declared variables, reductions).
    **context
        ``file``, ``template`` for error messages.

    Raises
    ------
    EquationError
        For syntax errors and everything outside the whitelist, with a caret at the token.
    """
    return _render_text(
        equation.rhs,
        equation.rhs_col,
        namespace,
        equation=equation.text,
        variable=equation.target,
        **context,
    )


def _check_text(rhs: str, offset: int, *, equation: str, **context: Any) -> None:
    """Refuse what Python would read differently from how it is written: a ``#`` (Python drops
    the rest of the line as a comment) and identifiers that are not in NFKC form (Python folds
    them, so ``ﬁ`` would silently be the variable ``fi``)."""
    hash_col = rhs.find("#")
    if hash_col >= 0:
        raise EquationError(
            "'#' is not allowed in equations (it would silently drop the rest of the equation "
            "as a comment)",
            equation=equation,
            column=offset + hash_col,
            hint="remove the '#' and what follows, or write the note in the template's description",
            **context,
        )
    for match in _IDENT_TOKEN.finditer(rhs):
        folded = nfkc_form(match.group())
        if folded is not None:
            raise EquationError(
                f"the name {match.group()!r} is not in Unicode NFKC form; Python reads it as "
                f"{folded!r}",
                equation=equation,
                column=offset + match.start(),
                hint=f"write {folded!r}",
                **context,
            )


def _render_text(
    rhs: str, offset: int, namespace: Namespace, *, equation: str, **context: Any
) -> Any:
    _check_text(rhs, offset, equation=equation, **context)
    source, cols = _to_python(rhs)

    def caret(char_col: int) -> int:
        return offset + cols[max(0, min(char_col, len(cols) - 1))]

    try:
        with warnings.catch_warnings():
            # "1and x", "'\d'": Python warns before it refuses; the error below says it all
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        # offset 0/None: Python could not place it, which happens at an unexpected end
        column = exc.offset - 1 if exc.offset and exc.lineno in (None, 1) else len(source)
        reason = exc.msg or "invalid syntax"
        raise EquationError(
            f"syntax error: {reason}", equation=equation, column=caret(column), **context
        ) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        # e.g. null bytes, integer literals beyond Python's digit limit, absurd nesting
        raise EquationError(
            f"cannot parse the expression: {exc}", equation=equation, column=caret(0), **context
        ) from None
    renderer = _Renderer(source, namespace)
    try:
        expr = renderer.render(tree)
        problem = _bad_constants(expr)
    except _Refused as exc:
        where = exc.where
        column = where if isinstance(where, int) else renderer.col(where) if where else 0
        raise EquationError(
            exc.message, equation=equation, column=caret(column), hint=exc.hint, **context
        ) from None
    except RecursionError:
        raise EquationError(
            "the expression is nested too deeply", equation=equation, column=caret(0), **context
        ) from None
    if problem:
        raise EquationError(problem, equation=equation, column=caret(0), **context)
    return expr


def parse_expression(
    text: str,
    symbols: Mapping[str, Any] | None = None,
    reduce: Callable[[str, Any, str], Any] | None = None,
    **context: Any,
) -> Any:
    """Render a bare expression (no ``=``) into sympy; a convenience for tests and tools.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"v^2 + eta"``.
    symbols : mapping of str to sympy.Expr, optional
        Bare name -> sympy expression. Undeclared names are errors (``t``, ``pi``, ``E`` aside).
    reduce : callable, optional
        Called as ``reduce(kind, expr, text)`` for ``mean(...)``/``vsum(...)``; returns the
        expression standing for the reduction. ``None``: reductions are refused.
    **context : str
        ``file``, ``template``... for error messages.

    Returns
    -------
    sympy.Expr
        The expression.

    Raises
    ------
    EquationError
        Syntax errors, unknown names or functions, refused constructs, with a caret under the
        offending token.

    Examples
    --------
    >>> import sympy
    >>> v = sympy.Symbol("v", real=True)
    >>> parse_expression("v^2 + 1", {"v": v}) == v**2 + 1
    True
    """
    text = _one_line(text)
    stripped = text.lstrip()
    return _render_text(
        stripped,
        len(text) - len(stripped),
        Namespace(symbols or {}, reduce),
        equation=text,
        **context,
    )
