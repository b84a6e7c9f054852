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

Literals: in a float64 kernel a number prints as a Python float (numba types it float64). In a
float32 kernel (``dtype="float32"``) every number prints as ``np.float32(...)``: a bare Python
float would turn each expression it touches into float64 arithmetic (numba follows numpy's
promotion of a float32 array value with a float64 scalar), so float32 kernels would compute in
float64 and convert on every store. :meth:`ScalarPrinter.literal` is the one place of this rule.
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


def _as_literal(method):
    """A printing method whose result is a number literal in the printer's dtype."""

    def printed(self, expr) -> str:
        return self.literal(method(self, expr))

    return printed


class ScalarPrinter(PythonCodePrinter):
    """Print scalar expressions for numba: ``math.*`` functions, mapped symbol names."""

    def __init__(self, names: Mapping[str, str], dtype: str = "float64") -> None:
        super().__init__({"fully_qualified_modules": True, "standard": "python3"})
        self._names = names
        self._float32 = dtype == "float32"

    def literal(self, text: str) -> str:
        """A number literal (the source text of a float) in the kernel's dtype.

        Parameters
        ----------
        text : str
            A Python float literal (``"0.5"``) or a float-valued constant (``"math.pi"``).

        Returns
        -------
        str
            ``text`` in a float64 kernel, ``np.float32(text)`` in a float32 kernel.
        """
        return f"np.float32({text})" if self._float32 else text

    def _print_Float(self, expr) -> str:  # noqa: N802 (sympy's naming)
        return self.literal(super()._print_Float(expr))

    # math.pi, math.e, math.inf, -math.inf: float64 constants
    _print_Pi = _as_literal(PythonCodePrinter._print_Pi)
    _print_Exp1 = _as_literal(PythonCodePrinter._print_Exp1)
    _print_Infinity = _as_literal(PythonCodePrinter._print_Infinity)
    _print_NegativeInfinity = _as_literal(PythonCodePrinter._print_NegativeInfinity)

    def _print_Symbol(self, expr: sympy.Symbol) -> str:  # noqa: N802 (sympy's naming)
        try:
            return self._names[expr.name]
        except KeyError:
            raise KeyError(f"codegen: no storage for symbol {expr.name!r}") from None

    def _print_Heaviside(self, expr) -> str:  # noqa: N802
        arg = self._print(expr.args[0])
        one, zero = self.literal("1.0"), self.literal("0.0")
        h0 = self._print(expr.args[1]) if len(expr.args) > 1 else one
        return f"({one} if ({arg}) > 0 else ({h0} if ({arg}) == 0 else {zero}))"

    def _print_sign(self, expr) -> str:
        arg = self._print(expr.args[0])
        one, zero = self.literal("1.0"), self.literal("0.0")
        return f"({one} if ({arg}) > 0 else ({self.literal('-1.0')} if ({arg}) < 0 else {zero}))"

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
        result = self.literal("0.0")
        for value, cond in reversed(expr.args):
            v = self._print(value)
            if cond == sympy.true:
                result = f"({v})"
            else:
                result = f"(({v}) if ({self._print(cond)}) else {result})"
        return result

    def _print_Integer(self, expr) -> str:  # noqa: N802
        # floats avoid integer overflow/division surprises and keep the arithmetic in floating point
        return self.literal(f"{float(expr.p)!r}")

    def _print_Rational(self, expr) -> str:  # noqa: N802
        return self.literal(repr(float(expr.p) / float(expr.q)))

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
        return f"math.atan2({self.literal('0.0')}, {self._print(arg)})"

    def _print_ImaginaryUnit(self, expr) -> str:  # noqa: N802
        return "np.complex64(1j)" if self._float32 else "1j"  # the kernel's dtype, as literal()

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
            one = self.literal("1.0")
            if n == 0:
                return one
            prod = "*".join([b] * n)
            return f"({one}/({prod}))" if exp < 0 else f"({prod})"
        if exp == sympy.Rational(1, 2):
            return f"math.sqrt({self._print(base)})"
        return super()._print_Pow(expr, rational=rational)


for _name in _CMATH:
    setattr(ScalarPrinter, f"_print_{_name}", _analytic(_name))


def print_expr(expr, names: Mapping[str, str], dtype: str = "float64") -> str:
    """Render ``expr`` as scalar source with symbols replaced via ``names``.

    Parameters
    ----------
    expr : sympy.Expr
        The expression.
    names : mapping
        Symbol name -> source text of its value.
    dtype : str
        ``"float64"`` or ``"float32"`` (the kernel's literals).

    Returns
    -------
    str
        Source text.
    """
    return ScalarPrinter(names, dtype).doprint(expr)
