"""Names users write (template, operator, node and variable names, node labels): what is allowed.

A name is one line of printable characters: no line break (``\\n``, ``\\r``, ``\\u2028``...), no
NUL or other control character, no leading or trailing blank. Names reach error messages and
(through ``repr()`` only) comments of generated kernels; refusing everything else up front keeps
both readable and keeps any name from ever being read as code.

Variable names must also be in Unicode NFKC normal form: Python's parser folds identifiers to
NFKC (``ﬁ`` reads as ``fi``), so a name that is not would silently alias another one inside an
equation.

Standard library only: the template layer imports this module, and ``import rectinumba`` stays
light.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from .errors import RectinumbaError, short

__all__ = ["name_problem", "check_name", "nfkc_form"]

#: longest name accepted (names appear in every error message that concerns them)
MAX_NAME_LENGTH = 256


def name_problem(name: Any, *, allow_slash: bool = True) -> str | None:
    """Why ``name`` cannot be a name, or None when it can.

    Parameters
    ----------
    name : Any
        The candidate (anything a user passed).
    allow_slash : bool
        Whether ``/`` may appear (template names may not contain it: it separates ``op/var``).

    Returns
    -------
    str or None
        A phrase such as ``"contains a line break"``; None for a valid name.
    """
    if not isinstance(name, str):
        return f"must be a string, not {type(name).__name__}"
    if not name:
        return "is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    for char in name:
        if char in "\r\n\u2028\u2029\x85\x0b\x0c":
            return "contains a line break (a name is one line)"
        if not char.isprintable() and char != " ":
            return f"contains the non-printable character {char!r}"
    if name.strip() != name:
        return "starts or ends with blanks"
    if not allow_slash and "/" in name:
        return "contains '/' (it separates operator and variable in 'op/var')"
    return None


def check_name(
    name: Any,
    what: str,
    error: type[RectinumbaError],
    *,
    allow_slash: bool = True,
    **context: Any,
) -> str:
    """Return ``name`` when it is a valid name, else raise ``error`` naming it.

    Parameters
    ----------
    name : Any
        The name to check.
    what : str
        What it names, for the message (``"template name"``, ``"node label"``).
    error : type of RectinumbaError
        The class raised (TemplateError for templates, NetworkError for node labels).
    allow_slash : bool
        Whether ``/`` may appear.
    **context : Any
        ``file``, ``template``, ``node``... for the message.

    Returns
    -------
    str
        ``name`` itself.
    """
    problem = name_problem(name, allow_slash=allow_slash)
    if problem is not None:
        raise error(
            f"{what} {short(name)} {problem}",
            hint="names are one line of printable characters",
            **context,
        )
    return name


def nfkc_form(name: str) -> str | None:
    """The NFKC form of ``name`` when it differs (Python would read ``name`` as it), else None.

    Parameters
    ----------
    name : str
        An identifier.

    Returns
    -------
    str or None
        ``unicodedata.normalize("NFKC", name)`` if that differs from ``name``.
    """
    folded = unicodedata.normalize("NFKC", name)
    return folded if folded != name else None
