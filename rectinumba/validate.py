"""Checks of the numbers users pass: one place for "must be a positive integer, got 'a'".

Every public method validates its numeric arguments with these helpers before anything changes,
so a wrong value is a :class:`~rectinumba.errors.NetworkError` that names the argument and what
was given, never a bare ``ValueError``/``TypeError`` from ``int()`` or ``float()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .errors import NetworkError

__all__ = ["as_number", "as_count", "as_choice"]


def as_number(value, what: str, *, integer: bool = False, finite: bool = False) -> float | int:
    """``value`` as a float (or an int when ``integer``), or a NetworkError naming it.

    Parameters
    ----------
    value : object
        What the user passed.
    what : str
        Its name in messages (``"fit_rls: beta"``).
    integer : bool
        Require an integral value and return an int.
    finite : bool
        Refuse NaN and infinities.

    Returns
    -------
    float or int
        The number. Range checks are the caller's; this refuses what is no number at all.
    """
    if isinstance(value, bool):
        kind = "an integer" if integer else "a number"
        raise NetworkError(f"{what} must be {kind}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        kind = "an integer" if integer else "a number"
        raise NetworkError(f"{what} must be {kind}, got {value!r}") from None
    if integer:
        if not math.isfinite(number) or number != int(number):
            raise NetworkError(f"{what} must be an integer, got {value!r}")
        return int(number)
    if finite and not math.isfinite(number):
        raise NetworkError(f"{what} must be a finite number, got {value!r}")
    return number


def as_count(value, what: str, low: int = 1) -> int:
    """A whole number >= ``low`` (1: "positive", 0: "non-negative"), or a NetworkError.

    Parameters
    ----------
    value : object
        What the user passed.
    what : str
        Its name in messages.
    low : int
        Smallest allowed value (0 or 1).

    Returns
    -------
    int
        The count.
    """
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= low
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        kind = "positive" if low == 1 else "non-negative"
        raise NetworkError(f"{what} must be a {kind} integer, got {value!r}")
    return int(value)


def as_choice(value, what: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a NetworkError listing them.

    Parameters
    ----------
    value : object
        What the user passed.
    what : str
        Its name in messages.
    choices : sequence of str
        The allowed values.

    Returns
    -------
    str
        The value.
    """
    if not isinstance(value, str) or value not in choices:
        raise NetworkError(f"{what} must be one of {tuple(choices)}, got {value!r}")
    return value
