"""White noise in equations: Brian2's ``xi`` (and ``xi_1``, ``xi_input``, ...).

``x' = f + g*xi`` is the Itô SDE ``dx = f dt + g dW`` with ``W`` a standard Wiener process
(``xi`` has units 1/sqrt(time), as in Brian2). A node's equations may use several noises: the
same name is the same noise wherever it appears in the node (two equations with ``xi`` are
driven by one Wiener process), different names (``xi_e``, ``xi_i``) are independent. Each neuron
and each trial has its own noises. Rules: noise names are undeclared names ``xi`` or
``xi_<suffix>`` (a declared variable of that name wins); they appear only in derivatives, linearly
(``g`` may depend on the state but not on a noise), never inside ``mean``/``vsum``.

Integration is Euler-Maruyama (:mod:`rectinumba.codegen.update`):
``x_{n+1} = x_n + dt*f + sqrt(dt)*sum_j g_j*N_j`` with standard normal ``N_j`` drawn from a
counter-based generator (:mod:`rectinumba.noise`).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "NOISE_PREFIX", "RANDOM_FUNCTIONS", "is_noise_name", "noise_symbol", "nonlinear_noise",
    "split_noise",
]  # fmt: skip

#: prefix of the symbols standing for noises (model names never start with "@")
NOISE_PREFIX = "@xi:"
#: random-number calls users write from habit (numpy, Brian2's randn(), PyRates' backends);
#: unknown functions whose message points at ``xi`` (lower-cased before the lookup)
RANDOM_FUNCTIONS = frozenset(
    {"randn", "rand", "random", "normal", "gauss", "gaussian", "noise", "wiener", "white_noise"}
)

_NAME = re.compile(r"xi(_\w+)?")


def is_noise_name(name: str) -> bool:
    """Whether ``name`` is a noise name (``xi`` or ``xi_<suffix>``).

    Parameters
    ----------
    name : str
        A bare name of an equation.

    Returns
    -------
    bool
        True for noise names.
    """
    return _NAME.fullmatch(name) is not None


def noise_symbol(name: str):
    """The sympy symbol of a noise.

    Parameters
    ----------
    name : str
        The noise name (``xi``, ``xi_1``, ...).

    Returns
    -------
    sympy.Symbol
        ``@xi:<name>``.
    """
    import sympy

    return sympy.Symbol(NOISE_PREFIX + name, real=True)


def nonlinear_noise(rhs: Any, noises: tuple[str, ...]) -> str | None:
    """The first noise that does not enter ``rhs`` linearly (with a noise-free factor), or None.

    Parameters
    ----------
    rhs : sympy.Expr
        A derivative's right-hand side.
    noises : tuple of str
        Noise names of the node.

    Returns
    -------
    str or None
        The offending noise name.
    """
    import sympy

    symbols = [noise_symbol(n) for n in noises]
    for name, sym in zip(noises, symbols, strict=True):
        if not rhs.has(sym):
            continue
        g = sympy.diff(rhs, sym)
        if any(g.has(s) for s in symbols) or g.has(sympy.Derivative):
            return name
    return None


def split_noise(rhs: Any, noises: tuple[str, ...]) -> tuple[Any, list[tuple[int, Any]]]:
    """``rhs = drift + sum_j g_j * xi_j``: the drift and the diffusion coefficients.

    Parameters
    ----------
    rhs : sympy.Expr
        A derivative's right-hand side (linear in the noises).
    noises : tuple of str
        Noise names of the node.

    Returns
    -------
    tuple
        ``(drift, [(j, g_j), ...])`` for the noises (index into ``noises``) that appear.
    """
    import sympy

    zero = {noise_symbol(n): sympy.S.Zero for n in noises}
    drift = rhs.xreplace(zero)
    terms = []
    for j, name in enumerate(noises):
        sym = noise_symbol(name)
        if rhs.has(sym):
            terms.append((j, sympy.diff(rhs, sym)))
    return drift, terms
