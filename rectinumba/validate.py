"""Validation of the numbers and arrays users pass (scikit-learn's ``check_array`` is the model).

One place checks kind (real numbers only: no strings, objects or complex values; complex values
only where :func:`value_array` is given a complex dtype, for complex model variables), shape is
the caller's business, finiteness (of both parts of a complex number), and makes the copy that the
network then owns. Nothing downstream
re-checks or mutates a caller's array, and a refused value is reported before any state changes.
Scalars: :func:`integer` (counts, steps), :func:`number` (rates, penalties), :func:`choice`
(names from a fixed set): "must be a positive integer, got 'a'" is written once, here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NetworkError, RectinumbaError, short

__all__ = [
    "real_array",
    "value_array",
    "complex_dtype",
    "first_nonfinite",
    "integer",
    "number",
    "choice",
    "MAX_INT",
    "MAX_UNITS",
]

#: largest integer argument (step counts, sampling intervals): kernels count steps in int64
MAX_INT = 2**62
#: most units of one node (a population of more is a typo, not a model that fits in memory)
MAX_UNITS = 2**31 - 1


def complex_dtype(dtype) -> np.dtype:
    """The complex dtype of complex values in a network of real dtype ``dtype``.

    Parameters
    ----------
    dtype : numpy dtype
        ``float64`` or ``float32``.

    Returns
    -------
    numpy.dtype
        ``complex128``, or ``complex64`` for ``float32``.
    """
    return np.dtype(np.complex64 if np.dtype(dtype) == np.float32 else np.complex128)


def _kind_problem(arr: np.ndarray, complex_ok: bool = False) -> str | None:
    if np.iscomplexobj(arr) and not complex_ok:
        return f"must be real numbers, got complex values (dtype {arr.dtype})"
    if complex_ok and np.iscomplexobj(arr):
        return None
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
    return _checked_array(value, dtype, False, what, error, finite, context)


def value_array(
    value: Any,
    dtype,
    *,
    what: str,
    error: type[RectinumbaError] = NetworkError,
    finite: bool = True,
    **context: Any,
) -> np.ndarray:
    """:func:`real_array`, except that a complex ``dtype`` accepts complex (and real) values.

    For the values of model variables: a complex variable takes complex numbers, a real one
    refuses them (naming the variable through ``context``).

    Parameters
    ----------
    value : Any
        A scalar, a nested sequence or an array.
    dtype : numpy dtype
        The dtype of the result (real or complex).
    what : str
        What the value is, for messages.
    error : type of RectinumbaError
        The class raised.
    finite : bool
        Refuse NaN and infinite entries (in either part).
    **context : Any
        ``node``, ``variable``... for messages.

    Returns
    -------
    numpy.ndarray
        A new array that the caller owns.
    """
    complex_ok = np.dtype(dtype).kind == "c"
    return _checked_array(value, dtype, complex_ok, what, error, finite, context)


def _checked_array(value, dtype, complex_ok, what, error, finite, context) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise error(f"{what} must be numbers, got {short(value)} ({exc})", **context) from None
    problem = _kind_problem(arr, complex_ok)
    if problem is not None:
        hint = None
        if np.iscomplexobj(arr) and context.get("variable") is not None:
            hint = "the variable is real; only variables declared complex take complex values"
        raise error(f"{what} {problem}", **{"hint": hint, **context})
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


def number(
    value: Any,
    what: str,
    *,
    error: type[RectinumbaError] = NetworkError,
    **context: Any,
) -> float:
    """``value`` as a float, or a rectinumba error naming ``what``.

    Range checks (positive, finite, ...) are the caller's; this refuses what is no number at all
    (a string, None, a bool), which ``float()`` would report as a bare ValueError/TypeError.

    Parameters
    ----------
    value : Any
        What the user passed.
    what : str
        The argument's name, for the message (``"fit_rls: beta"``).
    error : type of RectinumbaError
        The class raised.
    **context : Any
        ``node``... for the message.

    Returns
    -------
    float
        The number.
    """
    try:
        # float() would read "0.1" and True: neither is a number a user meant to pass
        if isinstance(value, (bool, np.bool_, str, bytes)):
            raise TypeError
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise error(f"{what} must be a number, got {short(value)}", **context) from None


def choice(
    value: Any,
    what: str,
    choices: tuple[str, ...],
    *,
    error: type[RectinumbaError] = NetworkError,
) -> str:
    """``value`` if it is one of ``choices``, else a rectinumba error listing them.

    Parameters
    ----------
    value : Any
        What the user passed.
    what : str
        The argument's name, for the message.
    choices : tuple of str
        The allowed values.
    error : type of RectinumbaError
        The class raised.

    Returns
    -------
    str
        The value.
    """
    if not isinstance(value, str) or value not in choices:
        raise error(f"{what} must be one of {tuple(choices)}, got {short(value)}")
    return value
