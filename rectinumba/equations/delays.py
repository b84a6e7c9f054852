"""Delayed values in equations: ``past(x, d)`` and PyRates' ``x(t - d)``.

A delayed read is the value of a **state variable** ``x`` a time ``d`` before the current step.
The delay ``d`` is a non-negative number, a parameter of the node (one value per neuron, and per
trial in batches) or a number times a parameter (``0.5*tau``, ``tau/2``). It is rounded to whole
steps when a run starts: ``k = round(d / dt)``, halves to even (numpy's and PyRates' rounding of
edge delays), so ``d < dt/2`` reads the current value. At step n the read gives ``x`` at step
``n - k``; before the first step (and after ``reset()``) the history is constant, equal to x's
value at the first step, unless a history was given (``Network.set_history``).

The compiler (:mod:`.compile`) stands each distinct read (state, delay) for a symbol
``@past<j>`` and lists it in ``NodeModel.delays`` as ``(symbol, state, scale, param)``: the delay
is ``scale * param`` (``param`` None: the number ``scale``). Codegen reads a per-neuron ring
buffer of x there (:mod:`rectinumba.codegen.plan`); :mod:`rectinumba.history` keeps the buffers.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HISTORY_FUNCTION", "PAST_PREFIX", "past_symbol_name", "delay_spec", "describe"]

#: the function templates call for a delayed value
HISTORY_FUNCTION = "past"
#: prefix of the symbols standing for delayed reads (model names never start with "@")
PAST_PREFIX = "@past"

_RULE = (
    "a delay is a non-negative number, a parameter of the operator, or a number times a "
    "parameter (0.5*tau, tau/2)"
)


def past_symbol_name(j: int) -> str:
    """Name of the symbol of a node's j-th delayed read.

    Parameters
    ----------
    j : int
        Index into ``NodeModel.delays``.

    Returns
    -------
    str
        ``"@past<j>"``.
    """
    return f"{PAST_PREFIX}{j}"


def delay_spec(expr: Any, params: set[str]) -> tuple[float, str | None]:
    """The delay of ``past(x, d)`` as ``(scale, parameter)``: ``d = scale * parameter``.

    Parameters
    ----------
    expr : sympy.Expr
        The rendered delay.
    params : set of str
        Qualified names of the node's parameters.

    Returns
    -------
    tuple of (float, str or None)
        The scale and the parameter's qualified name (None: the delay is the number ``scale``).

    Raises
    ------
    rectinumba.equations.parse.Refusal
        For anything else, or a negative number.
    """
    from .parse import Refusal

    if expr.is_number:
        value = float(expr)
        if not value >= 0.0:
            raise Refusal(f"a delay must not be negative, got {value!r}", _RULE)
        return value, None
    scale, rest = expr.as_coeff_Mul()
    if rest.is_Symbol and rest.name in params and scale.is_number and float(scale) > 0.0:
        return float(scale), rest.name
    names = sorted(s.name for s in expr.free_symbols)
    raise Refusal(
        f"the delay {expr} is not a number or a parameter (it uses {', '.join(names)})", _RULE
    )


def describe(state: str, scale: float, param: str | None) -> str:
    """``past(x, d)`` as text for messages.

    Parameters
    ----------
    state : str
        Qualified state name.
    scale : float
        Scale of the delay.
    param : str or None
        Parameter of the delay.

    Returns
    -------
    str
        E.g. ``"past(op/x, 0.5*op/tau)"``.
    """
    if param is None:
        return f"past({state}, {scale!r})"
    return f"past({state}, {param})" if scale == 1.0 else f"past({state}, {scale!r}*{param})"
