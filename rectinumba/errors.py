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
    **context : str or int
        Where, as for :class:`RectinumbaError`.
    """


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
