"""The function table of the equation language and the custom sympy functions it needs.

Equations may call only the names in :data:`FUNCTIONS` (plus the population reductions
:data:`REDUCTIONS`, which the compiler turns into separate definitions). Each entry maps the name
a template writes to its arity and a builder that returns a sympy expression.

Semantics worth knowing (they are what the generated code must reproduce):

- ``round(x)`` is :class:`Round`, round half to even like ``numpy.round`` (``round(2.5) == 2``);
  its derivative is 0 everywhere (the jumps are ignored, as torch does).
- ``heaviside(x)`` is ``sympy.Heaviside(x, 1)``: ``H(0) = 1`` (a neuron exactly at threshold is
  "on"), ``H(x) = 0`` for ``x < 0`` and ``1`` for ``x > 0``.
- ``sigmoid(x)`` is ``1/(1 + exp(-x))``; ``absv`` (and ``abs``) is ``Abs``; ``maxi``/``mini`` are
  the element-wise ``Max``/``Min`` of exactly two arguments; ``arcsin``... are ``asin``...
- complex numbers: ``conj`` (PyRates also writes ``conjugate``), ``real``, ``imag``, ``abs``
  (modulus) and ``angle`` (argument in (-pi, pi], ``numpy.angle``) are ``conjugate``, ``re``,
  ``im``, ``Abs`` and ``arg``; on a real argument they are the argument itself, the argument, 0,
  ``|x|`` and 0 or pi. The analytic functions (exp, log, sqrt, trigonometric and hyperbolic ones,
  sigmoid) take complex arguments too (principal branches, as ``cmath``); ``sign``, ``maxi``,
  ``mini``, ``round``, ``heaviside`` and comparisons need real arguments
  (:attr:`FunctionSpec.real_only`).
- :func:`is_complex_valued` tells, from the expression alone, whether a value is complex: it
  contains the imaginary unit or a complex symbol (complex variables are
  ``sympy.Symbol(name, complex=True)``, real ones ``real=True``) outside ``re``/``im``/``Abs``/
  ``arg``/:class:`RealPart`.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Callable
from fractions import Fraction

import sympy

__all__ = [
    "Round",
    "RealPart",
    "FUNCTIONS",
    "REDUCTIONS",
    "FunctionSpec",
    "is_complex_valued",
]


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


class RealPart(sympy.Function):
    """The real part of a complex expression that is real (its imaginary part is 0 exactly).

    Wraps the definition of a real variable whose expression involves complex values but whose
    imaginary part sympy proves to vanish (``(1-|z|^2)/(1+z+conj(z)+|z|^2)``): the generated code
    takes ``.real`` of the value. Unlike ``sympy.re`` it never rewrites its argument.
    """

    nargs = 1

    def _eval_is_real(self):
        return True

    def _numpycode(self, printer) -> str:
        return f"({printer._print(self.args[0])}).real"

    def _pythoncode(self, printer) -> str:
        return f"({printer._print(self.args[0])}).real"


#: functions whose value is real whatever their argument
_REAL_VALUED = (sympy.re, sympy.im, sympy.Abs, sympy.arg, RealPart)


def is_complex_valued(expr) -> bool:
    """Whether ``expr`` has complex values (structurally; see the module docstring).

    Parameters
    ----------
    expr : sympy.Expr
        An expression of the equation language.

    Returns
    -------
    bool
        True when it contains the imaginary unit or a complex symbol (``complex=True``, not
        real), outside functions whose value is real.
    """
    if expr is sympy.I:
        return True
    if isinstance(expr, sympy.Symbol):
        # complex variables are Symbol(name, complex=True); a symbol without assumptions (an
        # internal one of codegen) is not a complex variable
        return expr.is_complex is True and expr.is_real is not True
    if isinstance(expr, _REAL_VALUED) or isinstance(expr, sympy.logic.boolalg.Boolean):
        return False
    if isinstance(expr, sympy.Piecewise):
        return any(is_complex_valued(value) for value, _ in expr.args)
    return any(is_complex_valued(arg) for arg in expr.args)


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
    complex_numeric
        Arguments (Python complex numbers) -> number, as ``cmath`` computes it; None for a
        function that takes real arguments only.
    """

    __slots__ = ("name", "arity", "build", "numeric", "description", "complex_numeric")

    def __init__(
        self,
        name: str,
        arity: int,
        build: Callable[..., sympy.Expr],
        numeric: Callable[..., float],
        description: str,
        complex_numeric: Callable[..., complex | float] | None = None,
    ) -> None:
        self.name = name
        self.arity = arity
        self.build = build
        self.numeric = numeric
        self.description = description
        self.complex_numeric = complex_numeric

    @property
    def real_only(self) -> bool:
        """Whether the function takes real arguments only."""
        return self.complex_numeric is None

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


def _csigmoid(z: complex) -> complex:
    return 1.0 / (1.0 + cmath.exp(-z))


def _angle(x: float) -> float:
    return math.atan2(0.0, x)  # numpy.angle of a real number: 0, or pi for negative numbers


def _spec(name, arity, build, numeric, description, complex_numeric=None):
    return name, FunctionSpec(name, arity, build, numeric, description, complex_numeric)


#: name in the equation -> FunctionSpec (element-wise functions)
FUNCTIONS: dict[str, FunctionSpec] = dict(
    [
        _spec("sin", 1, sympy.sin, math.sin, "sine", cmath.sin),
        _spec("cos", 1, sympy.cos, math.cos, "cosine", cmath.cos),
        _spec("tan", 1, sympy.tan, math.tan, "tangent", cmath.tan),
        _spec("sinh", 1, sympy.sinh, math.sinh, "hyperbolic sine", cmath.sinh),
        _spec("cosh", 1, sympy.cosh, math.cosh, "hyperbolic cosine", cmath.cosh),
        _spec("tanh", 1, sympy.tanh, math.tanh, "hyperbolic tangent", cmath.tanh),
        _spec("arcsin", 1, sympy.asin, math.asin, "inverse sine", cmath.asin),
        _spec("arccos", 1, sympy.acos, math.acos, "inverse cosine", cmath.acos),
        _spec("arctan", 1, sympy.atan, math.atan, "inverse tangent", cmath.atan),
        _spec("exp", 1, sympy.exp, math.exp, "exponential", cmath.exp),
        _spec("log", 1, sympy.log, math.log, "natural logarithm", cmath.log),
        _spec("sqrt", 1, sympy.sqrt, math.sqrt, "square root", cmath.sqrt),
        _spec("absv", 1, sympy.Abs, abs, "absolute value (modulus)", abs),
        _spec("abs", 1, sympy.Abs, abs, "absolute value (modulus)", abs),
        _spec("sign", 1, sympy.sign, _sign, "sign (-1, 0, 1)"),
        _spec(
            "sigmoid",
            1,
            lambda x: 1 / (1 + sympy.exp(-x)),
            _sigmoid,
            "logistic 1/(1+exp(-x))",
            _csigmoid,
        ),
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
        # complex numbers (real arguments pass through: conj(x) = real(x) = x, imag(x) = 0)
        _spec("conj", 1, sympy.conjugate, lambda x: x, "complex conjugate", complex.conjugate),
        _spec("conjugate", 1, sympy.conjugate, lambda x: x, "complex conjugate", complex.conjugate),
        _spec("real", 1, sympy.re, lambda x: x, "real part", lambda z: z.real),
        _spec("imag", 1, sympy.im, lambda x: 0.0, "imaginary part", lambda z: z.imag),
        _spec("angle", 1, sympy.arg, _angle, "argument (phase) in (-pi, pi]", cmath.phase),
    ]
)

#: population reductions over the neurons of a node (one argument each)
REDUCTIONS: tuple[str, ...] = ("mean", "vsum")
