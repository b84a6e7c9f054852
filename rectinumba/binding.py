"""Kernel arguments from the plan's argument table: ONE role -> array table for every kernel.

Every kernel rectinumba generates (the CPU step kernel, the CUDA kernel, the BPTT forward and
backward kernels) takes the arguments of a :class:`~rectinumba.codegen.plan.NetworkPlan`, each
an :class:`~rectinumba.codegen.spec.ArgSpec` (name, role, owner, detail). :class:`Binding` turns
such a table into arrays: :data:`ROLES` maps each role to the method that supplies it. A run binds
states, constants, scratch, carried feedback values, weights, thresholds, recordings, training
hook arrays, history rings and delays (:mod:`rectinumba.history`) and noise keys
(:mod:`rectinumba.noise`); BPTT (:class:`rectinumba.training.bptt_engine.BPTTBinding`) adds
tapes and adjoint
arrays by implementing the remaining roles. Adding a role: a row in :data:`ROLES` and a method.

Value types: an array holding the values of a complex model variable (its state, parameter,
scratch values, recording, the node output) is complex (:meth:`Binding.value_dtype`), as is one
of a complex template-edge variable (its per-connection state, constant, recording); every
other array has the network's dtype.
"""

from __future__ import annotations

import numpy as np

from .errors import NetworkError
from .history import edge_ring_key, past_steps, ring_key, working_ring
from .nodes import DiffEqNode
from .weights import csc_parts, csc_structure, csr_parts, fingerprint, is_sparse

__all__ = ["Binding", "ROLES", "rows"]

#: role -> Binding method supplying the array of an argument with that role
ROLES = {
    "state": "_state",
    "const": "_const",
    "scratch": "_scratch",
    "carry": "_carry_array",
    "J": "_matrix",
    "W": "_matrix",
    "scalar": "_scalar",
    "rec": "_rec",
    "train": "_train",
    "estate": "_edge_state",
    "econst": "_edge_const",
    "erec": "_edge_rec",
    "ring": "_ring",
    "delay": "_delay",
    "edelay": "_edge_delay",
    "seed": "_seed",
    "rng": "_rng",
    "event": "_event",
    "tape": "_tape",
    "lam": "_lam",
    "gcarry": "_gcarry",
    "adj": "_adj",
    "grad": "_grad",
}

_PARTS = ("data", "indices", "indptr")
_CSC_PARTS = ("csc_data", "csc_indices", "csc_indptr")


def rows(arr: np.ndarray, B: int, what: str, label: str) -> np.ndarray:
    """``arr`` (1 or B rows) as B contiguous rows.

    Parameters
    ----------
    arr : numpy.ndarray
        Values with 1 or B rows.
    B : int
        Number of trials.
    what : str
        What the values are (for the message).
    label : str
        Node label (for the message).

    Returns
    -------
    numpy.ndarray
        (B, n) values (a NetworkError when the trial counts differ).
    """
    if arr.shape[0] == B:
        return np.ascontiguousarray(arr)
    if arr.shape[0] == 1:
        return np.repeat(arr, B, axis=0)
    raise NetworkError(
        f"{what} holds values for {arr.shape[0]} trials but the input has {B} trial(s)",
        node=label,
        hint="per-trial values (B, 1) or (B, N) need inputs with B trials; give a scalar or "
        "(N,) for all trials, or reset() after a batched run",
    )


def _variable_of(node: DiffEqNode, role: str, detail) -> str | None:
    """The model variable whose values an argument of a diff-eq node holds (None: real data)."""
    if role in ("state", "const"):
        return detail
    if role == "rec":
        return detail[0]
    if role not in ("scratch", "carry"):
        return None
    if isinstance(detail, str):
        return {
            "out": node.output_var,
            "fb": node.output_var,
            "in": node.input_var,
            "src": node.source_var,
        }.get(detail)
    kind = detail[0]
    if kind in ("in", "val", "fb"):  # an edge-driven input, a value edges read
        return detail[1]
    if kind == "keep":
        return {"tgt": node.target_var, "spk": None}.get(detail[1], detail[1])
    if kind == "stage":
        return detail[1]
    if kind == "k":
        return detail[2]
    return None


class Binding:
    """The arrays of one kernel call (or of a series of calls sharing state).

    Parameters
    ----------
    nodes : list
        Nodes in the plan's order (index = owner of node arguments).
    edges : list
        Edges in the spec's order (index = owner of edge arguments).
    B : int
        Number of trials.
    dtype : numpy.dtype
        Value dtype of the network.
    carry : dict
        ``(label, detail) -> (B or 1, n)`` arrays carried between runs (feedback values).
    n_rec : int
        Recordings per record argument.
    train_arrays : dict, optional
        Training hook arrays by ``detail``.
    dt : float
        Integration step (delays in time become steps).
    step : int
        The network's step counter at the first step (history rings are positioned by it).
    noise : NoiseStream, optional
        The network's noise stream (keys and draw step of noisy kernels).
    columns : dict, optional
        The runner's cache of weights stored by columns (event-driven coupling),
        ``(role, owner, detail) -> (matrix, fingerprint, arrays)``: used while the matrix is the
        same object with the same :func:`~rectinumba.weights.fingerprint` (the runner also drops
        it after a training transaction), so repeated calls do not convert the weights again.

    Attributes
    ----------
    states : dict
        ``(owner, state) -> working copy`` of every bound state (commit them on success).
    carried : dict
        ``(label, detail) -> working copy`` of every bound carried array.
    recs : dict
        ``(label, (var, reduce)) -> recording buffer``.
    """

    def __init__(
        self, nodes, edges, B: int, dtype, carry: dict, n_rec: int = 0, train_arrays=None, *,
        dt: float = 1.0, step: int = 0, noise=None, columns: dict | None = None,
    ) -> None:
        self.nodes, self.edges, self.B, self.dtype = nodes, edges, int(B), np.dtype(dtype)
        self._carry, self.n_rec, self.train_arrays = carry, n_rec, train_arrays or {}
        self.dt, self.step, self.noise = float(dt), int(step), noise
        self.columns = {} if columns is None else columns
        self.states: dict[tuple[int, str], np.ndarray] = {}
        self.carried: dict[tuple[str, object], np.ndarray] = {}
        self.recs: dict[tuple[str, tuple], np.ndarray] = {}
        self._csr: dict[tuple, tuple] = {}

    def value_dtype(self, a) -> np.dtype:
        """The dtype of the array of argument ``a``: complex for a complex model variable.

        Parameters
        ----------
        a : ArgSpec
            The argument.

        Returns
        -------
        numpy.dtype
            The dtype.
        """
        node = self.nodes[a.owner] if a.role not in ("W",) else None
        if not isinstance(node, DiffEqNode):
            return self.dtype
        return node.value_dtype(_variable_of(node, a.role, a.detail))

    def bind(self, args) -> list:
        """Arrays for an argument table, in its order.

        Parameters
        ----------
        args : sequence of ArgSpec
            The table.

        Returns
        -------
        list
            One array (or scalar) per argument.
        """
        return [getattr(self, ROLES[a.role])(a) for a in args]

    # ---- roles ----------------------------------------------------------------------------
    def _state(self, a) -> np.ndarray:
        """A working copy of a state (B rows), shared by every kernel of this binding."""
        key = (a.owner, a.detail)
        if key not in self.states:
            node = self.nodes[a.owner]
            arr = rows(node.state[a.detail], self.B, f"state {a.detail!r}", node.label)
            self.states[key] = np.array(arr, dtype=self.value_dtype(a), copy=True)
        return self.states[key]

    def _const(self, a) -> np.ndarray:
        """A parameter or undriven input (B rows, not copied: kernels only read it)."""
        node = self.nodes[a.owner]
        v = node.values[a.detail]
        return v if v.shape[0] == self.B else rows(v, self.B, f"value {a.detail!r}", node.label)

    def _scratch(self, a) -> np.ndarray:
        """Zeros (B, n) for per-step values between loops."""
        return np.zeros((self.B, self.nodes[a.owner].n_out), self.value_dtype(a))

    def _carry_array(self, a) -> np.ndarray:
        """A working copy of a value carried from the previous run (zeros after a reset)."""
        node = self.nodes[a.owner]
        key = (node.label, a.detail)
        if key not in self.carried:
            prev = self._carry.get(key)
            arr = (
                np.zeros((self.B, node.n_out), self.value_dtype(a))
                if prev is None
                else rows(prev, self.B, "feedback buffer", node.label).copy()
            )
            self.carried[key] = arr
        return self.carried[key]

    def _matrix(self, a):
        """A coupling J (role "J") or edge weights (role "W"): dense, one CSR part, or (event
        coupling) its transpose or one CSC part (converted once per binding)."""
        m = self.nodes[a.owner]._weights if a.role == "J" else self.edges[a.owner]._weights
        if a.detail == "dense":
            return m
        if a.detail == "dense_t" or a.detail in _CSC_PARTS:
            return self._by_columns(a, m)
        return self._csr_of(m)[_PARTS.index(a.detail)]

    def _by_columns(self, a, m) -> np.ndarray:
        """W^T (dense) or a CSC part of W, from the runner's cache when W is unchanged."""
        dense = a.detail == "dense_t"
        key = (a.role, a.owner, "t" if dense else "csc")
        kept = self.columns.get(key)
        if (id(m), "cols") not in self._csr:  # checked once per binding
            values = fingerprint(m)  # O(nnz): taken once
            if kept is None or kept[0] is not m or kept[1] != values:
                if dense:
                    arrays = (np.ascontiguousarray(m.T, dtype=self.dtype),)
                else:
                    arrays = csc_parts(m, self.dtype, csc_structure(m))
                kept = self.columns[key] = (m, values, arrays)
            self._csr[(id(m), "cols")] = kept[2]
        return self._csr[(id(m), "cols")][0 if dense else _CSC_PARTS.index(a.detail)]

    def _event(self, a) -> np.ndarray:
        """Event-driven coupling: ``U = W @ trace`` of the source's current state (B, n_target),
        or zeros for ``G`` (the spikes' column sums of a step)."""
        kind, what = a.detail[0], a.detail[1]
        if kind == "J":
            m, source = self.nodes[a.owner]._weights, self.nodes[a.owner]
        else:
            edge = self.edges[a.owner]
            m = edge._weights
            source = next(n for n in self.nodes if n.label == edge.source)
        if what == "g":
            return np.zeros((self.B, m.shape[0]), self.dtype)
        s = rows(source.state[a.detail[2]], self.B, f"state {a.detail[2]!r}", source.label)
        u = (m @ s.T).T if is_sparse(m) else s @ m.T
        return np.ascontiguousarray(u, dtype=self.dtype)

    def _scalar(self, a):
        """A spiking node's threshold, reset value or surrogate slope."""
        node = self.nodes[a.owner]
        value = {
            "threshold": node.spike_threshold,
            "reset": node.spike_reset,
            "slope": node.spike_slope,
        }[a.detail]
        return self.dtype.type(value)

    def _rec(self, a) -> np.ndarray:
        """A recording buffer (B, recordings, width)."""
        node = self.nodes[a.owner]
        width = 1 if a.detail[1] else node.n_out
        arr = np.zeros((self.B, self.n_rec, width), self.value_dtype(a))
        self.recs[(node.label, a.detail)] = arr
        return arr

    def _train(self, a):
        """A training hook array (see rectinumba.codegen.train), by detail."""
        return self.train_arrays[a.detail]

    def _edge_state(self, a) -> np.ndarray:
        """A working copy of a template edge's state (B rows x connections)."""
        key = ("edge", a.owner, a.detail)
        if key not in self.states:
            edge = self.edges[a.owner]
            arr = rows(edge.dynamics.state[a.detail], self.B, f"state {a.detail!r}", edge.label)
            dtype = edge.dynamics.value_dtype(a.detail)
            self.states[key] = np.array(arr, dtype=dtype, copy=True)
        return self.states[key]

    def _edge_const(self, a) -> np.ndarray:
        """A template edge's parameter or unbound input (B rows x 1; kernels only read it)."""
        edge = self.edges[a.owner]
        return rows(edge.dynamics.values[a.detail], self.B, f"value {a.detail!r}", edge.label)

    def _edge_rec(self, a) -> np.ndarray:
        """A recording of a template edge variable (B, recordings, connections or 1)."""
        edge = self.edges[a.owner]
        width = 1 if a.detail[1] else edge.dynamics.n_syn
        arr = np.zeros((self.B, self.n_rec, width), edge.dynamics.value_dtype(a.detail[0]))
        self.recs[(edge.key, a.detail)] = arr
        return arr
    # ---- histories and noise ------------------------------------------------------------
    def _steps(self, owner: int, detail) -> np.ndarray:
        """Delays in steps: (B, N) for a past() read ``(state, scale, param)`` of node
        ``owner``; for edge ``owner`` (detail ``"row"``/``"full"``) the edge's steps."""
        key = ("steps", owner, detail)
        if key not in self._csr:
            if isinstance(detail, str):
                edge = self.edges[owner]
                self._csr[key] = edge.steps(self.dt)
            else:
                node = self.nodes[owner]
                steps = past_steps(node, *detail, self.dt)
                steps = np.broadcast_to(steps, (max(np.shape(steps)[:1] or (1,)), node.N))
                what = f"the delay of past({detail[0]})"
                self._csr[key] = rows(np.ascontiguousarray(steps), self.B, what, node.label)
        return self._csr[key]

    def _ring(self, a) -> np.ndarray:
        """A working copy of a history ring, long enough for the longest delay of this run."""
        if a.detail == "edge":
            edge = self.edges[a.owner]
            key = edge_ring_key(*edge.key)
            longest = int(self._steps(a.owner, edge.delay_kind).max(initial=0))
            n, start, label = edge.shape[1], np.zeros((1, edge.shape[1])), edge.target
            source = next(node for node in self.nodes if node.label == edge.source)
            dtype = (  # the values the edge reads: complex for a complex source variable
                source.value_dtype(edge.source_var or source.output_var)
                if isinstance(source, DiffEqNode)
                else self.dtype
            )
        else:
            node = self.nodes[a.owner]
            state = a.detail[1]
            key = ring_key(node.label, state)
            reads = [d[1:] for d in node.model.delays if d[1] == state]
            longest = max(int(self._steps(a.owner, tuple(r)).max(initial=0)) for r in reads)
            n, label, dtype = node.N, node.label, node.value_dtype(state)
            start = self._state(type(a)(a.name, "state", a.owner, state))
        if key not in self.carried:
            self.carried[key] = working_ring(
                self._carry, key, self.B, longest + 1, n, self.step, start, dtype, label
            )
        return self.carried[key]

    def _delay(self, a) -> np.ndarray:
        """The delay of a past() read in steps, (B, N) int64."""
        return self._steps(a.owner, tuple(a.detail))

    def _edge_delay(self, a) -> np.ndarray:
        """An edge's delays in steps: (n_target,), (n_target, n_source) or one per CSR entry."""
        edge = self.edges[a.owner]
        steps = self._steps(a.owner, a.detail)
        if a.detail == "row":
            return np.ascontiguousarray(np.broadcast_to(steps, (edge.shape[0],)))
        if edge.fmt == "dense":
            return np.ascontiguousarray(np.broadcast_to(steps, edge.shape))
        _, indices, indptr = self._csr_of(edge._weights)
        rows_of = np.repeat(np.arange(edge.shape[0]), np.diff(indptr))
        return np.ascontiguousarray(np.broadcast_to(steps, edge.shape)[rows_of, indices])

    def _csr_of(self, m):
        if id(m) not in self._csr:
            self._csr[id(m)] = csr_parts(m, self.dtype)
        return self._csr[id(m)]

    def _seed(self, a) -> np.ndarray:
        """The per-trial generator keys of the network's noise stream."""
        return self.noise.keys(self.B)

    def _rng(self, a) -> np.int64:
        """Offset of the draw step: draw step = step counter + offset."""
        return np.int64(self.noise.step - self.step)

    def _bptt_only(self, a):
        raise NetworkError(f"codegen: argument {a.name!r} (role {a.role!r}) needs a BPTT binding")

    _tape = _lam = _gcarry = _adj = _grad = _bptt_only

    # ---- results --------------------------------------------------------------------------
    def commit(self, carry: dict) -> None:
        """Write the working states into the nodes and the carried arrays into ``carry``.

        Parameters
        ----------
        carry : dict
            The runner's carried values.
        """
        for key, arr in self.states.items():
            if key[0] == "edge":
                self.edges[key[1]].dynamics.state[key[2]] = arr
                continue
            k, name = key
            node = self.nodes[k]
            if isinstance(node, DiffEqNode):
                node.state[name] = arr
        carry.update(self.carried)
