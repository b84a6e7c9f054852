"""sympy expression -> numba-compatible scalar Python source.

Symbols are looked up in a mapping from qualified variable name to the source text that holds its
value at the point of use (an array element, a local, a literal). Everything printed is made of
our own symbols and sympy's functions: user text never reaches the generated code unparsed.

Complex values (:func:`rectinumba.equations.functions.is_complex_valued`: complex symbols, the
imaginary unit) change only what needs to change, so a real expression prints exactly as before:
analytic functions of a complex argument call ``cmath`` (which numba supports on the CPU and in
CUDA device code), ``re``/``im``/``conjugate`` become ``.real``/``.imag``/``.conjugate()``,
``arg`` becomes ``cmath.phase`` (``math.atan2(0.0, x)`` for a real x, numpy.angle's value), a
non-integer power of a complex value ``cmath.exp(p * cmath.log(z))``; ``I`` prints as ``1j``.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy
from sympy.printing.pycode import PythonCodePrinter

from ..equations.functions import is_complex_valued

__all__ = ["ScalarPrinter", "print_expr"]

#: sympy functions printed from ``cmath`` when their argument is complex (same names there)
_CMATH = ("exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin", "acos", "atan")


def _analytic(name: str):
    """``_print_<name>``: ``cmath.<name>`` for a complex argument, else sympy's ``math.<name>``."""
    real_printer = getattr(PythonCodePrinter, f"_print_{name}")

    def print_function(self, expr) -> str:
        if any(is_complex_valued(a) for a in expr.args):
            args = ", ".join(self._print(a) for a in expr.args)
            return f"cmath.{name}({args})"
        return real_printer(self, expr)

    print_function.__name__ = f"_print_{name}"
    return print_function


class ScalarPrinter(PythonCodePrinter):
    """Print scalar expressions for numba: ``math.*`` functions, mapped symbol names."""

    def __init__(self, names: Mapping[str, str]) -> None:
        super().__init__({"fully_qualified_modules": True, "standard": "python3"})
        self._names = names

    def _print_Symbol(self, expr: sympy.Symbol) -> str:  # noqa: N802 (sympy's naming)
        try:
            return self._names[expr.name]
        except KeyError:
            raise KeyError(f"codegen: no storage for symbol {expr.name!r}") from None

    def _print_Heaviside(self, expr) -> str:  # noqa: N802
        arg = self._print(expr.args[0])
        h0 = self._print(expr.args[1]) if len(expr.args) > 1 else "1.0"
        return f"(1.0 if ({arg}) > 0 else ({h0} if ({arg}) == 0 else 0.0))"

    def _print_sign(self, expr) -> str:
        arg = self._print(expr.args[0])
        return f"(1.0 if ({arg}) > 0 else (-1.0 if ({arg}) < 0 else 0.0))"

    def _print_Round(self, expr) -> str:  # noqa: N802 (rectinumba's round: half to even)
        return f"np.rint({self._print(expr.args[0])})"

    # exponential Euler's (exp(h) - 1)/h and its derivative: helpers of the generated module
    # (codegen.emit.HELPERS), which switch to a Taylor series near h = 0
    def _print_phi1(self, expr) -> str:
        return f"_phi1({self._print(expr.args[0])})"

    def _print_phi1_prime(self, expr) -> str:
        return f"_phi1p({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr) -> str:  # noqa: N802
        # nested conditional expressions; always ends with a default branch
        result = "0.0"
        for value, cond in reversed(expr.args):
            v = self._print(value)
            if cond == sympy.true:
                result = f"({v})"
            else:
                result = f"(({v}) if ({self._print(cond)}) else {result})"
        return result

    def _print_Integer(self, expr) -> str:  # noqa: N802
        # floats avoid integer overflow/division surprises and keep the arithmetic in floating point
        return f"{float(expr.p)!r}"

    def _print_Rational(self, expr) -> str:  # noqa: N802
        return repr(float(expr.p) / float(expr.q))

    # ---- complex values (see the module docstring) -------------------------------------------
    def _print_re(self, expr) -> str:
        return f"({self._print(expr.args[0])}).real"

    def _print_im(self, expr) -> str:
        return f"({self._print(expr.args[0])}).imag"

    def _print_RealPart(self, expr) -> str:  # noqa: N802
        return f"({self._print(expr.args[0])}).real"

    def _print_conjugate(self, expr) -> str:
        return f"({self._print(expr.args[0])}).conjugate()"

    def _print_arg(self, expr) -> str:
        arg = expr.args[0]
        if is_complex_valued(arg):
            return f"cmath.phase({self._print(arg)})"
        return f"math.atan2(0.0, {self._print(arg)})"

    def _print_ImaginaryUnit(self, expr) -> str:  # noqa: N802
        return "1j"

    def _print_Pow(self, expr, rational=False) -> str:  # noqa: N802
        base, exp = expr.args
        if (is_complex_valued(base) or is_complex_valued(exp)) and not (
            exp.is_Integer and abs(int(exp)) <= 4
        ):
            if exp == sympy.Rational(1, 2):
                return f"cmath.sqrt({self._print(base)})"
            return f"cmath.exp(({self._print(exp)}) * cmath.log({self._print(base)}))"
        if exp.is_Integer and abs(int(exp)) <= 4:
            b = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Pow"])
            n = abs(int(exp))
            if n == 0:
                return "1.0"
            prod = "*".join([b] * n)
            return f"(1.0/({prod}))" if exp < 0 else f"({prod})"
        if exp == sympy.Rational(1, 2):
            return f"math.sqrt({self._print(base)})"
        return super()._print_Pow(expr, rational=rational)


for _name in _CMATH:
    setattr(ScalarPrinter, f"_print_{_name}", _analytic(_name))


def print_expr(expr, names: Mapping[str, str]) -> str:
    """Render ``expr`` as scalar source with symbols replaced via ``names``."""
    return ScalarPrinter(names).doprint(expr)
