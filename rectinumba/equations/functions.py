"""The function table of the equation language and the custom sympy functions it needs.

Equations may call only the names in :data:`FUNCTIONS` (plus the population reductions
:data:`REDUCTIONS`, which the compiler turns into separate definitions). Each entry maps the name
a template writes to its arity and a builder that returns a sympy expression.

Semantics worth knowing (they are what the generated code must reproduce):

- ``round(x)`` is :class:`Round`, round half to even like ``numpy.round`` (``round(2.5) == 2``);
  its derivative is 0 everywhere (the jumps are ignored, as torch does).
- ``heaviside(x)`` is ``sympy.Heaviside(x, 1)``: ``H(0) = 1`` (a neuron exactly at threshold is
  "on"), ``H(x) = 0`` for ``x < 0`` and ``1`` for ``x > 0``.
- ``sigmoid(x)`` is ``1/(1 + exp(-x))``; ``absv`` is ``Abs``; ``maxi``/``mini`` are the
  element-wise ``Max``/``Min`` of exactly two arguments; ``arcsin``... are ``asin``...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import sympy

__all__ = ["Round", "FUNCTIONS", "REDUCTIONS", "FunctionSpec"]


class Round(sympy.Function):
    """Round to the nearest integer, halves to even (``numpy.round`` / Python ``round``).

    Numbers are evaluated at construction (``Round(5/2) == 2``, ``Round(7/2) == 4``); symbolic
    arguments stay unevaluated. The derivative is 0: the function is piecewise constant, and
    gradient-based training treats the jumps as absent.
    """

    nargs = 1

    @classmethod
    def eval(cls, arg):  # noqa: D102 - sympy hook
        if arg.is_Integer:
            return arg
        if arg.is_Rational:
            # Fraction's round() is exact round-half-to-even, no float error on x.5
            return sympy.Integer(round(Fraction(int(arg.p), int(arg.q))))
        if arg.is_Float and arg.is_finite:
            return sympy.Float(round(float(arg)))
        return None

    def _eval_derivative(self, s):  # noqa: D401 - sympy hook
        # piecewise constant: zero almost everywhere
        return sympy.S.Zero

    def fdiff(self, argindex=1):
        return sympy.S.Zero

    def _eval_is_real(self):
        return self.args[0].is_real

    def _numpycode(self, printer) -> str:
        return f"{printer._module_format('numpy.round')}({printer._print(self.args[0])})"

    def _pythoncode(self, printer) -> str:
        return f"round({printer._print(self.args[0])})"


class FunctionSpec:
    """One function of the equation language.

    Attributes
    ----------
    name
        The name templates call.
    arity
        Number of arguments.
    build
        Arguments (sympy) -> sympy expression.
    numeric
        Arguments (Python floats) -> float, with float64 semantics: used to fold constant
        arguments (``exp(2)``) into a number without asking sympy to evaluate anything.
    description
        One line for error hints and docs.
    """

    __slots__ = ("name", "arity", "build", "numeric", "description")

    def __init__(
        self,
        name: str,
        arity: int,
        build: Callable[..., sympy.Expr],
        numeric: Callable[..., float],
        description: str,
    ) -> None:
        self.name = name
        self.arity = arity
        self.build = build
        self.numeric = numeric
        self.description = description

    def __repr__(self) -> str:
        return f"FunctionSpec({self.name!r}, arity={self.arity})"


def _sigmoid(x: float) -> float:
    # the two branches keep exp() from overflowing for large |x|
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _sign(x: float) -> float:
    return float((x > 0) - (x < 0))


def _spec(name, arity, build, numeric, description):
    return name, FunctionSpec(name, arity, build, numeric, description)


#: name in the equation -> FunctionSpec (element-wise functions)
FUNCTIONS: dict[str, FunctionSpec] = dict(
    [
        _spec("sin", 1, sympy.sin, math.sin, "sine"),
        _spec("cos", 1, sympy.cos, math.cos, "cosine"),
        _spec("tan", 1, sympy.tan, math.tan, "tangent"),
        _spec("sinh", 1, sympy.sinh, math.sinh, "hyperbolic sine"),
        _spec("cosh", 1, sympy.cosh, math.cosh, "hyperbolic cosine"),
        _spec("tanh", 1, sympy.tanh, math.tanh, "hyperbolic tangent"),
        _spec("arcsin", 1, sympy.asin, math.asin, "inverse sine"),
        _spec("arccos", 1, sympy.acos, math.acos, "inverse cosine"),
        _spec("arctan", 1, sympy.atan, math.atan, "inverse tangent"),
        _spec("exp", 1, sympy.exp, math.exp, "exponential"),
        _spec("log", 1, sympy.log, math.log, "natural logarithm"),
        _spec("sqrt", 1, sympy.sqrt, math.sqrt, "square root"),
        _spec("absv", 1, sympy.Abs, abs, "absolute value"),
        _spec("sign", 1, sympy.sign, _sign, "sign (-1, 0, 1)"),
        _spec("sigmoid", 1, lambda x: 1 / (1 + sympy.exp(-x)), _sigmoid, "logistic 1/(1+exp(-x))"),
        _spec("maxi", 2, sympy.Max, max, "element-wise maximum of two arguments"),
        _spec("mini", 2, sympy.Min, min, "element-wise minimum of two arguments"),
        # Python's round() on floats is half to even, like numpy
        _spec("round", 1, Round, lambda x: float(round(x)), "round half to even"),
        _spec(
            "heaviside",
            1,
            lambda x: sympy.Heaviside(x, 1),
            lambda x: float(x >= 0),
            "step function, H(0) = 1",
        ),
    ]
)

#: population reductions over the neurons of a node (one argument each)
REDUCTIONS: tuple[str, ...] = ("mean", "vsum")
