"""Validation of the numbers and arrays users pass (scikit-learn's ``check_array`` is the model).

One place checks kind (real numbers only: no strings, objects or complex values), shape is the
caller's business, finiteness, and makes the copy that the network then owns. Nothing downstream
re-checks or mutates a caller's array, and a refused value is reported before any state changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NetworkError, RectinumbaError, short

__all__ = ["real_array", "first_nonfinite", "integer", "MAX_INT", "MAX_UNITS"]

#: largest integer argument (step counts, sampling intervals): kernels count steps in int64
MAX_INT = 2**62
#: most units of one node (a population of more is a typo, not a model that fits in memory)
MAX_UNITS = 2**31 - 1


def _kind_problem(arr: np.ndarray) -> str | None:
    if np.iscomplexobj(arr):
        return f"must be real numbers, got complex values (dtype {arr.dtype})"
    if not (
        np.issubdtype(arr.dtype, np.floating)
        or np.issubdtype(arr.dtype, np.integer)
        or arr.dtype == np.bool_
    ):
        return f"must be numbers, got dtype {arr.dtype}"
    return None


def first_nonfinite(arr: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first NaN or infinite entry of ``arr``, or None when all are finite.

    Parameters
    ----------
    arr : numpy.ndarray
        A real array.

    Returns
    -------
    tuple of int or None
        The index (``()`` for a 0-d array) or None.
    """
    # a sum allocates nothing; only a non-finite sum (NaN, inf or overflow) is searched
    with np.errstate(over="ignore", invalid="ignore"):
        if arr.size == 0 or np.isfinite(arr.sum()):
            return None
    bad = np.argwhere(~np.isfinite(arr))
    return tuple(int(i) for i in bad[0]) if len(bad) else None


def real_array(
    value: Any,
    dtype,
    *,
    what: str,
    error: type[RectinumbaError] = NetworkError,
    finite: bool = True,
    **context: Any,
) -> np.ndarray:
    """A C-contiguous copy of ``value`` as real numbers of ``dtype``, or a rectinumba error.

    Parameters
    ----------
    value : Any
        A scalar, a nested sequence or an array (not a scipy.sparse matrix).
    dtype : numpy dtype
        The dtype of the result.
    what : str
        What the value is, for messages (``"weights"``, ``"value"``).
    error : type of RectinumbaError
        The class raised.
    finite : bool
        Refuse NaN and infinite entries.
    **context : Any
        ``node``, ``variable``... for messages.

    Returns
    -------
    numpy.ndarray
        A new array that the caller owns (never a view of ``value``).
    """
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise error(f"{what} must be numbers, got {short(value)} ({exc})", **context) from None
    problem = _kind_problem(arr)
    if problem is not None:
        raise error(f"{what} {problem}", **context)
    try:
        out = np.array(arr, dtype=dtype, order="C", copy=True)
    except OverflowError:
        raise error(f"{what} do not fit {np.dtype(dtype)}: {short(value)}", **context) from None
    if finite:
        where = first_nonfinite(out)
        if where is not None:
            at = f" at index {where}" if where else ""
            raise error(
                f"{what} must be finite, got {out[where]}{at}"
                + (
                    f" (converting to {np.dtype(dtype)} overflowed)"
                    if np.isfinite(arr[where])
                    else ""
                ),
                **context,
            )
    return out


def integer(
    value: Any,
    what: str,
    *,
    low: int = 0,
    high: int = MAX_INT,
    error: type[RectinumbaError] = NetworkError,
    **context: Any,
) -> int:
    """``value`` as a Python int in ``[low, high]``, or a rectinumba error naming ``what``.

    Parameters
    ----------
    value : Any
        An integer (a float with an integral value is accepted, a bool is not).
    what : str
        The argument's name, for the message.
    low, high : int
        Inclusive bounds (the default upper bound keeps step arithmetic inside int64).
    error : type of RectinumbaError
        The class raised.
    **context : Any
        ``node``... for the message.

    Returns
    -------
    int
        The value.
    """
    kind = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
    try:
        ok = not isinstance(value, (bool, np.bool_)) and int(value) == value and value >= low
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise error(f"{what} must be {kind}, got {short(value)}", **context)
    number = int(value)
    if number > high:
        limit = {MAX_INT: "2**62", MAX_UNITS: "2**31 - 1"}.get(high, str(high))
        raise error(f"{what} must be at most {limit}, got {short(value)}", **context)
    return number
