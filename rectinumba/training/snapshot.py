"""Snapshots of a network's state: what a failed call rolls back to, and what every epoch of a
list of epochs starts from (RectiPy's ``y0 = net.state``)."""

from __future__ import annotations

from typing import Any

__all__ = ["restore_state", "snapshot_state"]


def snapshot_state(net: Any) -> tuple[dict, dict, int]:
    """Copies of every diff-eq node's states, the feedback buffers and the step counter.

    Parameters
    ----------
    net : Network
        The network.

    Returns
    -------
    tuple
        What :func:`restore_state` needs.
    """
    from ..nodes import DiffEqNode

    states = {
        label: {k: v.copy() for k, v in node.state.items()}
        for label, node in net._nodes.items()
        if isinstance(node, DiffEqNode)
    }
    return states, {k: v.copy() for k, v in net._prev.items()}, net._step


def restore_state(net: Any, snapshot: tuple[dict, dict, int]) -> None:
    """Put the network back into a state taken by :func:`snapshot_state` (copies again, so the
    snapshot can be restored any number of times).

    Parameters
    ----------
    net : Network
        The network the snapshot was taken of.
    snapshot : tuple
        From :func:`snapshot_state`.
    """
    states, prev, step = snapshot
    for label, state in states.items():
        net._nodes[label].state = {k: v.copy() for k, v in state.items()}
    net._prev = {k: v.copy() for k, v in prev.items()}
    net._step = step
