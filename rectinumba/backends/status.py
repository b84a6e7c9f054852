"""Kernel status codes -> messages. Kernels cannot raise rich exceptions; they fill a status row
per trial: (code, step, node index, variable index, neuron index)."""

from __future__ import annotations

__all__ = ["OK", "NONFINITE", "STATUS_FIELDS", "describe"]

OK = 0
NONFINITE = 1
STATUS_FIELDS = 5

_MESSAGES = {
    NONFINITE: "state variable {var!r} of node {node!r} became non-finite (NaN or inf) at step "
    "{step} (neuron {neuron}{trial})",
}


def describe(code: int, *, node: str, var: str, step: int, neuron: int, trial: int | None) -> str:
    """Message for a non-zero kernel status."""
    t = "" if trial is None else f", trial {trial}"
    template = _MESSAGES.get(code, "kernel failed with status {code} at step {step}")
    return template.format(code=code, node=node, var=var, step=step, neuron=neuron, trial=t)
