"""Kernel status codes -> messages. Kernels cannot raise rich exceptions; they fill a status row
per trial: (code, step, owner index, detail, neuron index).

- ``NONFINITE``: owner = node index, detail = state variable index, neuron = the neuron.
- ``RLS_NONFINITE``: owner = edge index, detail = what failed (:data:`RLS_PARTS`), neuron 0.
- ``EDGE_NONFINITE``: owner = edge index, detail = state variable index of the edge template,
  neuron = the connection (in the edge's storage order).
"""

from __future__ import annotations

__all__ = [
    "OK",
    "NONFINITE",
    "RLS_NONFINITE",
    "EDGE_NONFINITE",
    "RLS_PARTS",
    "STATUS_FIELDS",
    "describe",
    "describe_rls",
]

OK = 0
NONFINITE = 1
RLS_NONFINITE = 2
EDGE_NONFINITE = 3
STATUS_FIELDS = 5

#: detail of an RLS_NONFINITE status: what the update found broken
RLS_PARTS = (
    "the inverse correlation matrix P became non-finite (NaN or inf)",
    "the weights W became non-finite (NaN or inf)",
    "the gain 1/(1 + x.P x/beta) left (0, inf): P is no longer positive definite",
)

_MESSAGES = {
    NONFINITE: "state variable {var!r} of node {node!r} became non-finite (NaN or inf) at step "
    "{step} (neuron {neuron}{trial})",
}


def describe(code: int, *, node: str, var: str, step: int, neuron: int, trial: int | None) -> str:
    """Message for a non-zero kernel status of a node.

    Parameters
    ----------
    code : int
        The status code.
    node, var : str
        Node label and state variable.
    step, neuron : int
        Where it happened.
    trial : int or None
        The trial of a batched run (None for one trial).

    Returns
    -------
    str
        The message.
    """
    t = "" if trial is None else f", trial {trial}"
    template = _MESSAGES.get(code, "kernel failed with status {code} at step {step}")
    return template.format(code=code, node=node, var=var, step=step, neuron=neuron, trial=t)


def describe_rls(detail: int, *, source: str, target: str, step: int) -> str:
    """Message for an RLS_NONFINITE status of the trained edge ``source -> target``.

    Parameters
    ----------
    detail : int
        Index into :data:`RLS_PARTS`.
    source, target : str
        The edge.
    step : int
        The step of the failing update (from the start of the call).

    Returns
    -------
    str
        The message.
    """
    what = RLS_PARTS[detail] if 0 <= detail < len(RLS_PARTS) else f"fault {detail}"
    return f"fit_rls: edge {source!r} -> {target!r}: {what} in the update at step {step}"
