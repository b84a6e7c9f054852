"""Snapshots of a network's state: what a failed call rolls back to, and what every epoch of a
list of epochs starts from (RectiPy's ``y0 = net.state``)."""

from __future__ import annotations

from typing import Any

__all__ = ["restore_state", "snapshot_state"]


def snapshot_state(runner: Any) -> tuple:
    """Copies of every diff-eq node's and template edge's states, the carried values (feedback
    values, histories), the step counter and the noise stream.

    Parameters
    ----------
    runner : Runner
        The network's runner.

    Returns
    -------
    tuple
        What :func:`restore_state` needs.
    """
    from ..nodes import DiffEqNode

    states = {
        label: {k: v.copy() for k, v in node.state.items()}
        for label, node in runner.nodes.items()
        if isinstance(node, DiffEqNode)
    }
    for key, edge in runner.edges.items():  # template edges' states, keyed ("edge", key)
        if edge.dynamics is not None:
            states[("edge", key)] = {k: v.copy() for k, v in edge.dynamics.state.items()}
    carry = {k: v.copy() for k, v in runner.carry.items()}
    return states, carry, runner.step, runner.noise.copy()


def restore_state(runner: Any, snapshot: tuple) -> None:
    """Put the network back into a state taken by :func:`snapshot_state` (copies again, so the
    snapshot can be restored any number of times).

    Parameters
    ----------
    runner : Runner
        The runner the snapshot was taken of.
    snapshot : tuple
        From :func:`snapshot_state`.
    """
    states, carry, step, noise = snapshot
    for label, state in states.items():
        owner = runner.edges[label[1]].dynamics if isinstance(label, tuple) else runner.nodes[label]
        owner.state = {k: v.copy() for k, v in state.items()}
    runner.carry = {k: v.copy() for k, v in carry.items()}
    runner.step = step
    runner.noise = noise.copy()
