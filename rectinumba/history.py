"""Histories of delayed values: the ring buffers behind ``past(x, d)`` and delayed edges.

A **ring** of a value (a state read by ``past()``, or the output of an edge's source) is a
(B, L, n) array kept between runs (in the runner's carried values, so ``reset()`` forgets it and
a failed run leaves it as it was). Before step ``n`` (the network's step counter) slot
``(n - j) % L`` holds the value ``j`` steps back, ``j = 1 .. L``; the kernel writes step n's value
into slot ``n % L`` first and reads delays of ``k <= L - 1`` steps at slot ``(n - k) % L``.

``L`` is one more than the longest delay in steps when a run starts (delays are values, not
structure: changing them needs no new kernel). A ring too short for new delays is lengthened, the
missing older values repeating the oldest one kept. A ring that starts (first run, after
``reset()``) holds a constant history: the state's value at the first step for ``past()``, zero for
an edge (PyRates' edge buffers: nothing arrives before the source has been computed). A given
history (:meth:`HistoryMethods.set_history`) replaces it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NetworkError
from .locking import exclusive

__all__ = [
    "HistoryMethods",
    "delay_steps",
    "past_steps",
    "ring_key",
    "edge_ring_key",
    "working_ring",
    "MAX_DELAY_STEPS",
    "MAX_RING_BYTES",
]

#: longest delay in steps
MAX_DELAY_STEPS = 2**26
#: largest ring (bytes) a run allocates
MAX_RING_BYTES = 2**32


def ring_key(label: str, state: str) -> tuple:
    """Carried-value key of the ring of ``state`` in node ``label``.

    Parameters
    ----------
    label : str
        Node label.
    state : str
        Qualified state name.

    Returns
    -------
    tuple
        The key.
    """
    return (label, ("ring", state))


def edge_ring_key(source: str, target: str, index: int = 0) -> tuple:
    """Carried-value key of the ring of the edge ``source -> target``.

    Parameters
    ----------
    source, target : str
        Node labels.
    index : int
        Which edge between the two nodes (the n of a key ``(source, target, n)``).

    Returns
    -------
    tuple
        The key (filed under the target node).
    """
    return (target, ("edge-ring", source) + ((index,) if index else ()))


def delay_steps(delay, dt: float, *, what: str, node: str | None = None) -> np.ndarray:
    """Delays (time) in whole steps: ``round(delay / dt)``, halves to even.

    Parameters
    ----------
    delay : numpy.ndarray
        Delays in time units (any shape).
    dt : float
        The integration step.
    what : str
        What the delays are, for messages.
    node : str, optional
        Node label, for messages.

    Returns
    -------
    numpy.ndarray
        int64 steps of the same shape.
    """
    d = np.asarray(delay, dtype=np.float64)
    bad = ~(np.isfinite(d) & (d >= 0.0))
    if bad.any():
        at = tuple(int(v) for v in np.argwhere(bad)[0])
        raise NetworkError(
            f"{what} must be finite and non-negative; got {d[at]!r}"
            + (f" at index {at}" if at else ""),
            node=node,
        )
    with np.errstate(over="ignore"):
        steps = np.rint(d / dt)
    if steps.size and steps.max() > MAX_DELAY_STEPS:
        raise NetworkError(
            f"{what}: a delay of {d.max()!r} is {steps.max():.0f} steps of dt={dt!r}; at most "
            f"{MAX_DELAY_STEPS} steps are kept",
            node=node,
        )
    return steps.astype(np.int64)


def past_steps(node, state: str, scale: float, param: str | None, dt: float) -> np.ndarray:
    """The steps of the delayed read ``past(state, scale * param)`` of a diff-eq node.

    Parameters
    ----------
    node : DiffEqNode
        The node (its parameter values: (1 or B, N)).
    state : str
        The delayed state.
    scale : float
        Scale of the delay.
    param : str or None
        The delay's parameter (None: the delay is the number ``scale``).
    dt : float
        The integration step.

    Returns
    -------
    numpy.ndarray
        int64 steps, shape () for a number, (1 or B, N) for a parameter.
    """
    values = np.float64(scale) if param is None else scale * node.values[param]
    what = f"the delay of past({state}, {param or repr(scale)})"
    return delay_steps(values, dt, what=what, node=node.label)


def _rows(arr: np.ndarray, B: int, what: str, label: str) -> np.ndarray:
    if arr.shape[0] == B:
        return arr
    if arr.shape[0] == 1:
        return np.repeat(arr, B, axis=0)
    raise NetworkError(
        f"{what} holds values for {arr.shape[0]} trials but the input has {B} trial(s)",
        node=label,
        hint="reset() forgets histories; set_history gives one for all trials",
    )


def relayout(ring: np.ndarray, step: int, length: int) -> np.ndarray:
    """``ring`` as a ring of ``length`` slots before step ``step`` (older values repeat).

    Parameters
    ----------
    ring : numpy.ndarray
        (B, L, n) ring before step ``step``.
    step : int
        The next step.
    length : int
        The new number of slots.

    Returns
    -------
    numpy.ndarray
        (B, length, n): the value j steps back at slot ``(step - j) % length`` for
        ``j = 1 .. length``; steps beyond the old ring repeat its oldest value.
    """
    old = ring.shape[1]
    lags = np.arange(1, length + 1)
    out = np.empty((ring.shape[0], length, ring.shape[2]), ring.dtype)
    out[:, (step - lags) % length] = ring[:, (step - np.minimum(lags, old)) % old]
    return out


def working_ring(
    carry: dict, key: tuple, B: int, length: int, n: int, step: int, start, dtype, label: str
) -> np.ndarray:
    """A working copy of a carried ring for a run, at least ``length`` slots long.

    Parameters
    ----------
    carry : dict
        The runner's carried values.
    key : tuple
        The ring's key.
    B : int
        Trials of the run.
    length : int
        Slots the run needs (longest delay in steps + 1).
    n : int
        Values per trial (neurons, or source units).
    step : int
        The network's step counter (the run's first step).
    start : numpy.ndarray
        (1 or B, n) constant history of a ring that starts now.
    dtype : numpy.dtype
        Value dtype.
    label : str
        Node label, for messages.

    Returns
    -------
    numpy.ndarray
        (B, L, n) ring, L >= ``length``.
    """
    prev = carry.get(key)
    if prev is None:
        if B * length * n * np.dtype(dtype).itemsize > MAX_RING_BYTES:
            raise NetworkError(
                f"delays of up to {length - 1} steps need a history of "
                f"{B * length * n * np.dtype(dtype).itemsize / 2**30:.1f} GiB; at most "
                f"{MAX_RING_BYTES / 2**30:.0f} GiB",
                node=label,
                hint="use a larger dt or shorter delays",
            )
        ring = np.empty((B, length, n), dtype)
        ring[...] = _rows(np.asarray(start, dtype), B, "history", label)[:, None, :]
        return ring
    ring = _rows(prev, B, "the history", label)
    if ring.shape[1] < length:
        return relayout(ring, step, length)
    return np.array(ring, dtype=dtype, copy=True)


def _series(ring: np.ndarray, step: int) -> np.ndarray:
    """A ring as a time series, oldest first: (B, L, n), row -1 one step back."""
    L = ring.shape[1]
    return ring[:, (step - np.arange(L, 0, -1)) % L]


class HistoryMethods:
    """Network methods that read and set histories (mixed into :class:`rectinumba.Network`)."""

    def _ring_target(self, node: str, var: str) -> tuple[Any, str, int]:
        """The diff-eq node, the delayed state's qualified name, and its longest delay (steps)."""
        n = self._diffeq(node)
        state = n.resolve(var, "history")
        reads = [d for d in n.model.delays if d[1] == state]
        if not reads:
            delayed = sorted({d[1] for d in n.model.delays})
            raise NetworkError(
                f"no past() of the node reads {var!r}, so it has no history; delayed states: "
                f"{delayed or 'none'}",
                node=node,
                variable=var,
            )
        longest = max(int(past_steps(n, *d[1:], self.dt).max(initial=0)) for d in reads)
        return n, state, longest

    def _kept(self, key: tuple, start: np.ndarray, longest: int) -> np.ndarray:
        """A copy of the history kept under ``key``, or the constant ``start`` (1 or B, n)."""
        ring = self._runner.carry.get(key)
        if ring is None:
            out = np.repeat(start[:, None, :], max(longest, 1), axis=1)
        else:
            out = _series(ring, self._runner.step)
        return out[0].copy() if out.shape[0] == 1 else out.copy()

    def get_history(self, node: str, var: str) -> np.ndarray:
        """The history that ``past()`` reads of a state, oldest first.

        Parameters
        ----------
        node : str
            Node label.
        var : str
            A state read by ``past(var, d)`` / ``var(t - d)``.

        Returns
        -------
        numpy.ndarray
            A copy, (H, N), or (B, H, N) after a batched run: row ``-1`` is the value one step
            before the next step, row ``-j`` the value j steps before it. H is at least the
            longest delay in steps (a network that has not run yet, or was reset, returns its
            constant starting history).
        """
        n, state, longest = self._ring_target(node, var)
        return self._kept(ring_key(node, state), n.state[state], longest)

    @exclusive
    def set_history(self, node: str, var: str, values) -> None:
        """Give the history that ``past()`` reads of a state (replacing the kept one).

        Parameters
        ----------
        node : str
            Node label.
        var : str
            A state read by ``past(var, d)`` / ``var(t - d)``.
        values : float or array_like
            A scalar or (N,) (a constant history), (H, N) (a time series, oldest first: row -1
            is the value one step before the next step), or (B, H, N) per trial. Delays longer
            than H steps read the oldest row. Copied; ``reset()`` forgets it.
        """
        n, state, _ = self._ring_target(node, var)
        ring = self._history_ring(
            values, n.N, what=f"history of {var!r}", node=node, dtype=n.value_dtype(state)
        )
        self._runner.carry[ring_key(node, state)] = ring

    def get_edge_history(self, source: str, target: str) -> np.ndarray:
        """The history of the source values that a delayed edge reads, oldest first.

        Parameters
        ----------
        source, target : str
            Node labels of the edge.

        Returns
        -------
        numpy.ndarray
            A copy, (H, n_source) or (B, H, n_source); zeros before the first run.
        """
        edge = self._delayed_edge(source, target)
        start = np.zeros((1, edge.shape[1]), self._edge_dtype(source))
        longest = int(edge.steps(self.dt).max(initial=0))
        return self._kept(edge_ring_key(source, target), start, longest)

    @exclusive
    def set_edge_history(self, source: str, target: str, values) -> None:
        """Give the history of the source values that a delayed edge reads.

        Parameters
        ----------
        source, target : str
            Node labels of the edge.
        values : float or array_like
            A scalar or (n_source,) (constant), (H, n_source) oldest first, or
            (B, H, n_source) per trial (see :meth:`set_history`).
        """
        edge = self._delayed_edge(source, target)
        ring = self._history_ring(
            values, edge.shape[1], what=f"history of edge {source!r} -> {target!r}", node=target,
            dtype=self._edge_dtype(source),
        )
        self._runner.carry[edge_ring_key(source, target)] = ring

    def _delayed_edge(self, source: str, target: str):
        edge = self.get_edge(source, target)
        if edge.delay_kind is None:
            raise NetworkError(
                f"edge {source!r} -> {target!r} has no delay, so it keeps no history",
                hint="add_edge(..., delay=...) or delay_steps=...",
            )
        return edge

    def _edge_dtype(self, source: str) -> np.dtype:
        """The dtype of a source's output values (complex for a complex output variable)."""
        node = self.get_node(source)
        if getattr(node, "model", None) is None:
            return np.dtype(self.dtype)
        return node.value_dtype(node.output_var)

    def _history_ring(self, values, n: int, *, what: str, node: str, dtype) -> np.ndarray:
        """A ring (B, H, n) before the next step from a history given oldest first."""
        from .validate import value_array

        arr = value_array(values, dtype, what=what, node=node)
        if arr.ndim == 0:
            arr = np.full((1, 1, n), arr, dtype)
        elif arr.ndim == 1 and arr.shape[0] == n:
            arr = arr.reshape(1, 1, n)
        elif arr.ndim == 2 and arr.shape[1] == n and arr.shape[0] >= 1:
            arr = arr[None]
        elif arr.ndim == 3 and arr.shape[2] == n and arr.shape[0] >= 1 and arr.shape[1] >= 1:
            pass
        else:
            raise NetworkError(
                f"{what}: values of shape {arr.shape} fit neither a scalar, ({n},), (H, {n}) "
                f"nor (B, H, {n})",
                node=node,
            )
        H, step = arr.shape[1], self._runner.step
        ring = np.empty(arr.shape, dtype)
        ring[:, (step - np.arange(H, 0, -1)) % H] = arr
        return ring
