"""Exception hierarchy of rectinumba.

Every error is a :class:`RectinumbaError`, itself a ``ValueError`` so that code written against
RectiPy's ``ValueError`` habits still catches it. Where RectiPy (through PyRates or networkx) raised
another builtin, the rectinumba error is that builtin too, so that a RectiPy script's ``except``
clause still catches it:

================================  =======================  ======================================
rectinumba error                  also a                   raised for
================================  =======================  ======================================
:class:`TemplateNotFoundError`    ``FileNotFoundError``    a template file or package not found
:class:`TemplateNameError`        ``AttributeError``       a template name missing from its file
:class:`TemplateKeyError`         ``KeyError``             a template without a ``base:`` key
:class:`NodeNotFoundError`        ``KeyError``             an unknown node label
:class:`EdgeNotFoundError`        ``KeyError``             an unknown edge
:class:`VariableNotFoundError`    ``KeyError``             an unknown variable name
================================  =======================  ======================================

Messages name what the user wrote: the file, the template, the equation (with a caret under the
offending column), the variable.
"""

from __future__ import annotations

__all__ = [
    "RectinumbaError",
    "TemplateError",
    "TemplateNotFoundError",
    "TemplateNameError",
    "TemplateKeyError",
    "EquationError",
    "NetworkError",
    "NodeNotFoundError",
    "EdgeNotFoundError",
    "VariableNotFoundError",
    "SimulationError",
    "BackendError",
    "format_context",
    "short",
]

#: characters of an equation shown around the caret (an error message stays readable and bounded)
_EQUATION_WINDOW = 160

#: longest message or hint text kept whole; longer ones (a 10^5-character name pasted into them)
#: keep their head and tail
_MESSAGE_LIMIT = 4000


def _capped(text: str) -> str:
    """``text``, or its head and tail with the number of characters cut between them."""
    if len(text) <= _MESSAGE_LIMIT:
        return text
    keep = _MESSAGE_LIMIT // 2
    return f"{text[:keep]} ...[{len(text) - 2 * keep} characters cut]... {text[-keep:]}"


def short(value: object, limit: int = 120) -> str:
    """``repr(value)`` capped in length and depth (``reprlib``), for error messages.

    A value pasted into a message may be huge (a YAML alias bomb, a 10^6-element list); its repr
    is cut with ``...`` instead of growing the message without bound.

    Parameters
    ----------
    value : object
        What the user wrote.
    limit : int
        Longest string shown (and about the longest result).

    Returns
    -------
    str
        The capped representation.
    """
    import reprlib

    r = reprlib.Repr()
    r.maxstring = r.maxother = r.maxlong = limit
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = r.maxdeque = 8
    r.maxarray = 8
    r.maxlevel = 3
    text = r.repr(value)
    return text if len(text) <= 2 * limit else text[: 2 * limit] + "..."


def format_context(
    message: str,
    *,
    file: str | None = None,
    template: str | None = None,
    equation: str | None = None,
    column: int | None = None,
    variable: str | None = None,
    node: str | None = None,
    hint: str | None = None,
) -> str:
    """Compose an error message with the places it refers to.

    Parameters
    ----------
    message : str
        What went wrong.
    file, template, node, variable : str, optional
        Where: listed on a line ``in file ..., template ..., node ..., variable ...``.
    equation : str, optional
        The equation text, shown on its own line.
    column : int, optional
        0-based column into ``equation``; a caret is drawn beneath it.
    hint : str, optional
        What to do instead, shown last.

    Returns
    -------
    str
        The message, one line per part.
    """
    lines = [_capped(str(message))]
    where = []
    if file:
        where.append(f"file {short(file, 300)}")
    if template:
        where.append(f"template {short(template)}")
    if node:
        where.append(f"node {short(node)}")
    if variable:
        where.append(f"variable {short(variable)}")
    if where:
        lines.append("  in " + ", ".join(where))
    if equation is not None:
        equation, column = _equation_window(str(equation), column)
        lines.append(f"    {equation}")
        if column is not None and 0 <= column <= len(equation):
            lines.append("    " + " " * column + "^")
    if hint:
        lines.append(f"  hint: {_capped(str(hint))}")
    return "\n".join(lines)


def _equation_window(equation: str, column: int | None) -> tuple[str, int | None]:
    """At most about _EQUATION_WINDOW characters of ``equation`` around ``column``."""
    if len(equation) <= _EQUATION_WINDOW:
        return equation, column
    half = _EQUATION_WINDOW // 2
    start = 0 if column is None else max(0, min(column - half, len(equation) - _EQUATION_WINDOW))
    stop = start + _EQUATION_WINDOW
    head = "..." if start > 0 else ""
    tail = "..." if stop < len(equation) else ""
    shown = head + equation[start:stop] + tail
    return shown, None if column is None else column - start + len(head)


#: the Parameters section of every error class without its own (numpydoc form)
_SHARED_PARAMETERS = """
    Parameters
    ----------
    message : str
        What went wrong.
    **context : str or int
        Where, as for :class:`RectinumbaError`.
"""


class RectinumbaError(ValueError):
    """Base class of all errors raised by rectinumba.

    Parameters
    ----------
    message : str
        What went wrong.
    **context : str or int
        ``file``, ``template``, ``equation``, ``column``, ``variable``, ``node``, ``hint``: the
        places the message refers to, formatted by :func:`format_context` and kept in
        :attr:`context`.

    Attributes
    ----------
    context : dict
        The non-empty ``context`` keywords.
    raw_message : str
        ``message`` without the context lines.
    """

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        doc = cls.__doc__ or ""
        if doc and "Parameters" not in doc:  # the constructor every error shares, documented once
            cls.__doc__ = doc.rstrip() + "\n" + _SHARED_PARAMETERS

    def __init__(self, message: str, **context) -> None:
        self.context = {k: v for k, v in context.items() if v is not None}
        self.raw_message = message
        super().__init__(format_context(message, **context))

    def __reduce__(self):
        # the keyword-only context is not in ``args``: rebuild from the parts, so that an error
        # raised in a worker process reaches the client with its message and attributes intact
        return _rebuild_error, (type(self), self.raw_message, self.context), self.__dict__


def _rebuild_error(cls: type, message: str, context: dict) -> RectinumbaError:
    return cls(message, **context)


class TemplateError(RectinumbaError):
    """A YAML template or template path is invalid (missing, cyclic, malformed, hostile).

    Parameters
    ----------
    message : str
        What went wrong.
    **context : str or int
        Where, as for :class:`RectinumbaError`.
    """


class EquationError(RectinumbaError):
    """An equation string cannot be compiled (syntax, unknown name or function, cycles...).

    Parameters
    ----------
    message : str
        What went wrong.
    **context : str or int
        Where, as for :class:`RectinumbaError`.
    """


class NetworkError(RectinumbaError):
    """The network graph or an argument to a Network method is invalid.

    Parameters
    ----------
    message : str
        What went wrong.
    **context : str or int
        Where, as for :class:`RectinumbaError`.
    """


class SimulationError(RectinumbaError):
    """A simulation failed at run time (e.g. a state became non-finite).

    Parameters
    ----------
    message : str
        What went wrong.
    trials : dict or None
        Details of each failed trial (see ``trials`` below).
    **context : str or int
        Where, as for :class:`RectinumbaError`.

    Attributes
    ----------
    trials : dict
        Trial index -> details of each trial that failed (keys ``code``, ``node``, ``variable``,
        ``step``, ``neuron``, ``message``); a batched run reports every trial that failed, the
        others ran to the end. ``step`` counts from the start of the failing call.
    """

    def __init__(self, message: str, *, trials: dict[int, dict] | None = None, **context) -> None:
        super().__init__(message, **context)
        self.trials = dict(trials or {})


class BackendError(RectinumbaError):
    """A compute backend is unavailable or was asked for something it cannot do.

    Parameters
    ----------
    message : str
        What went wrong.
    **context : str or int
        Where, as for :class:`RectinumbaError`.
    """


class _PlainKeyMessage:
    """Mixin for errors that are also ``KeyError``: print the message, not its ``repr``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TemplateNotFoundError(TemplateError, FileNotFoundError):
    """A template file (or the package of a dot path) does not exist (PyRates:
    ``FileNotFoundError``)."""


class TemplateNameError(TemplateError, AttributeError):
    """A template name is not defined in its YAML file (PyRates: ``AttributeError``)."""


class TemplateKeyError(_PlainKeyMessage, TemplateError, KeyError):
    """A template lacks a required key such as ``base`` (PyRates: ``KeyError``)."""


class NodeNotFoundError(_PlainKeyMessage, NetworkError, KeyError):
    """No node has this label (RectiPy, through networkx: ``KeyError``)."""


class EdgeNotFoundError(_PlainKeyMessage, NetworkError, KeyError):
    """No edge joins these nodes (RectiPy, through networkx: ``KeyError``)."""


class VariableNotFoundError(_PlainKeyMessage, NetworkError, KeyError):
    """A variable name matches no variable of the node's model (RectiPy: ``KeyError``)."""
