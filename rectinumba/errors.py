"""Exception hierarchy of rectinumba.

Every error is a :class:`RectinumbaError`, itself a ``ValueError`` so that code written against
RectiPy's ``ValueError``/``KeyError`` habits still catches it. Messages name what the user wrote:
the file, the template, the equation (with a caret under the offending column), the variable.
"""

from __future__ import annotations

__all__ = [
    "RectinumbaError",
    "TemplateError",
    "EquationError",
    "NetworkError",
    "SimulationError",
    "BackendError",
    "format_context",
]


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
    lines = [message]
    where = []
    if file:
        where.append(f"file {file!r}")
    if template:
        where.append(f"template {template!r}")
    if node:
        where.append(f"node {node!r}")
    if variable:
        where.append(f"variable {variable!r}")
    if where:
        lines.append("  in " + ", ".join(where))
    if equation is not None:
        lines.append(f"    {equation}")
        if column is not None and 0 <= column <= len(equation):
            lines.append("    " + " " * column + "^")
    if hint:
        lines.append(f"  hint: {hint}")
    return "\n".join(lines)


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
