"""Runtime of backpropagation through time: binds a network to the generated BPTT kernels.

One :class:`BPTTEngine` serves one training call: it renders and loads the forward (taping) and
backward kernels of :mod:`rectinumba.codegen.adjoint`, keeps working copies of the network state
(B trials) in a :class:`BPTTBinding` (the run binding plus tapes and adjoints: one role -> array
table, :mod:`rectinumba.binding`), and computes the loss and the gradients of one window of steps
with :meth:`BPTTEngine.window`. With ``checkpoint=K`` the forward pass keeps only the state at the
start of every K-step segment; the backward pass recomputes each segment's tape from its checkpoint
just before running back through it, so memory is O(T/K) states + O(K) tape instead of O(T) tape.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..binding import Binding
from ..nodes import DiffEqNode
from ..weights import is_sparse

__all__ = ["BPTTEngine", "BPTTBinding", "trainable_parameters", "PARALLEL_MIN_WORK"]

#: trials x largest node size from which the kernels loop over trials with prange
PARALLEL_MIN_WORK = 1024


def trainable_parameters(runner) -> dict[str, tuple]:
    """Everything fit_bptt trains.

    Parameters
    ----------
    runner : Runner
        The network's runner (its nodes and edges).

    Returns
    -------
    dict
        name -> (kind, owner object, detail). Names: ``"<node>/<op/param>"`` for node
        parameters in ``train_params``, ``"<node>/weights"`` for a trained coupling J,
        ``"<source>-><target>"`` for edges added with ``train="gd"``.
    """
    out: dict[str, tuple] = {}
    for label, node in runner.nodes.items():
        if isinstance(node, DiffEqNode):
            for p in node.train_params:
                if p == "weights":
                    out[f"{label}/weights"] = ("J", node, None)
                else:
                    out[f"{label}/{p}"] = ("const", node, p)
    for edge in runner.edges.values():
        if edge.train == "gd":
            extra = f"#{edge.key[2]}" if len(edge.key) > 2 else ""
            out[f"{edge.source}->{edge.target}{extra}"] = ("W", edge, None)
    return out


def live_array(kind: str, owner, detail) -> np.ndarray:
    """The array an optimizer updates in place for one trainable parameter."""
    if kind == "const":
        return owner.values[detail]
    w = owner._weights
    return w.data if is_sparse(w) else w


class BPTTBinding(Binding):
    """The run binding plus the BPTT roles: tapes, state and carried adjoints, gradients.

    Tapes (B, T_tape, n) are kept per (owner, detail) and reused across windows of one length;
    the forward kernel sees empty adjoint arrays.

    Parameters
    ----------
    nodes : list
        Nodes in evaluation order.
    edges : list
        Edges in the spec's order.
    B : int
        Number of trials.
    dtype : numpy.dtype
        Value dtype.
    carry : dict
        The runner's carried values (copied).
    **clock
        ``dt``, ``step`` and ``noise`` (see :class:`~rectinumba.binding.Binding`).
    """

    def __init__(self, nodes, edges, B: int, dtype, carry: dict, **clock) -> None:
        super().__init__(nodes, edges, B, dtype, carry, **clock)
        self.T_tape = 1
        self._tapes: dict[tuple, np.ndarray] = {}
        self.adjoints: dict[tuple, np.ndarray] | None = None

    def _tape(self, a) -> np.ndarray:
        key = (a.owner, a.detail, self.T_tape)
        if key not in self._tapes:
            n = self.nodes[a.owner].n_out
            self._tapes[key] = np.zeros((self.B, self.T_tape, n), self.dtype)
        return self._tapes[key]

    def free_tapes(self) -> None:
        """Release the tapes (between epochs)."""
        self._tapes.clear()

    def _adjoint(self, a, shape) -> np.ndarray:
        if self.adjoints is None:  # the forward kernel ignores adjoints: empty, right rank
            return np.zeros((0,) * len(shape))
        key = (a.role, a.owner, a.detail)
        if key not in self.adjoints:
            self.adjoints[key] = np.zeros(shape)
        return self.adjoints[key]

    def _lam(self, a) -> np.ndarray:
        return self._adjoint(a, (self.B, self.nodes[a.owner].n_out))

    _gcarry = _adj = _lam

    def _grad(self, a) -> np.ndarray:
        kind, part = a.detail
        if kind == "const":
            shape = (self.nodes[a.owner].n_out,)
        else:
            m = self.nodes[a.owner]._weights if kind == "J" else self.edges[a.owner]._weights
            shape = (m.nnz,) if part == "data" else tuple(m.shape)
        return self._adjoint(a, (self.B,) + shape)


class BPTTEngine:
    """Forward/backward kernels of one network structure for B trials.

    Parameters
    ----------
    runner : Runner
        The network's runner (structure, values, state; state is written by :meth:`commit`).
    B : int
        Number of trials per window.
    """

    def __init__(self, runner, B: int) -> None:
        from ..codegen.adjoint import BPTTSpec, render_bptt
        from ..codegen.cache import load_source

        self.runner, self.B = runner, int(B)
        spec, order = runner.spec(None, self.B)
        # trials run in parallel threads only when there is enough work per step to pay for the
        # threads (and for the much longer compilation of the parallel kernels)
        work = self.B * max(n.n_out for n in runner.nodes.values())
        # the adjoint is printed with float64 literals (its adjoint arrays are float64)
        spec = dataclasses.replace(
            spec,
            parallel=self.B > 1 and work >= PARALLEL_MIN_WORK,
            row_parallel=False,
            dtype="float64",
        )
        self.spec, self.order = spec, order
        self.nodes = [runner.nodes[label] for label in order]
        self.edges = list(runner.edges.values())
        train_consts, train_J = [], []
        for node in self.nodes:
            if isinstance(node, DiffEqNode):
                train_consts.append(tuple(p for p in node.train_params if p != "weights"))
                train_J.append("weights" in node.train_params and node.coupling is not None)
            else:
                train_consts.append(())
                train_J.append(False)
        train_W = tuple(e.train == "gd" for e in self.edges)
        self.bspec = BPTTSpec(spec, tuple(train_consts), tuple(train_J), train_W)
        self.rendered = render_bptt(self.bspec)
        module = load_source(self.rendered.source, options="bptt-cpu")
        self._forward, self._backward = module.forward, module.backward
        self.index = {label: k for k, label in enumerate(order)}
        self.params = dict(trainable_parameters(runner))
        self.binding: BPTTBinding
        self.load()

    # ---- state -------------------------------------------------------------------------------
    def load(self) -> None:
        """Working copies of the network's current state and carried values."""
        # error messages count steps from here (the start of the epoch or bptt_gradients call)
        self.origin = self.runner.step
        r = self.runner
        self.binding = BPTTBinding(
            self.nodes, self.edges, self.B, r.dtype, r.carry, dt=r.dt, step=r.step, noise=r.noise
        )
        self.binding.bind(self.rendered.forward_args)  # creates the working copies

    def snapshot(self) -> tuple[dict, dict]:
        """Copies of the working states and carried values.

        Returns
        -------
        tuple of (dict, dict)
            States and carried values.
        """
        b = self.binding
        return (
            {k: v.copy() for k, v in b.states.items()},
            {k: v.copy() for k, v in b.carried.items()},
        )

    def restore(self, snap) -> None:
        """Back to a :meth:`snapshot` (in place: the kernels' arrays stay the same objects).

        Parameters
        ----------
        snap : tuple
            What :meth:`snapshot` returned.
        """
        states, carried = snap
        for key, arr in states.items():
            self.binding.states[key][...] = arr
        for key, arr in carried.items():
            self.binding.carried[key][...] = arr

    def commit(self, steps: int) -> None:
        """Write the working state back into the network (after a successful window).

        Parameters
        ----------
        steps : int
            Steps the window ran.
        """
        for (k, name), arr in self.binding.states.items():
            self.nodes[k].state[name] = arr.copy()
        for key, arr in self.binding.carried.items():
            self.runner.carry[key] = arr.copy()
        self.runner.step += int(steps)
        self.runner.noise.step += int(steps)  # noisy models: the noise was drawn for these steps

    @property
    def state(self) -> dict:
        """(node index, state name) -> working copy."""
        return self.binding.states

    def free_tapes(self) -> None:
        """Release the tapes (between epochs)."""
        self.binding.free_tapes()

    # ---- passes ------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, t0: int, out: np.ndarray, T_tape: int) -> None:
        """Run x from the working state, writing the tape.

        Parameters
        ----------
        x : numpy.ndarray
            Inputs (B, T, m).
        t0 : int
            Step counter at the first step (time t0 * dt).
        out : numpy.ndarray
            Receives the outputs (B, T, n_out).
        T_tape : int
            Length of the tape arrays.
        """
        T = x.shape[1]
        status = np.zeros((self.B, 5), np.int64)
        b = self.binding
        b.T_tape, b.adjoints = T_tape, None
        dt = self.runner.dtype.type(self.runner.dt)
        args = b.bind(self.rendered.forward_args)
        self._forward(T, t0, 0, dt, 0, 1, x, out, status, *args)
        if status[:, 0].any():
            # the kernel counts steps from t0 (a window or checkpoint segment): report them from
            # the start of the epoch, as run() reports steps from the start of the run
            status[:, 1] += t0 - self.origin
            self.runner.raise_status(status, self.spec, self.order, self.B)

    def state_tape(self, k: int, j: int, T_tape: int) -> np.ndarray:
        """The tape of the pre-update values of state j of node k.

        Parameters
        ----------
        k : int
            Node index.
        j : int
            State index.
        T_tape : int
            Tape length.

        Returns
        -------
        numpy.ndarray
            (B, T_tape, N).
        """
        detail = ("y", self.nodes[k].model.states[j])
        a = next(
            a
            for a in self.rendered.forward_args
            if a.role == "tape" and a.owner == k and a.detail == detail
        )
        self.binding.T_tape = T_tape
        return self.binding._tape(a)

    def window(
        self,
        x: np.ndarray,
        loss_fn,
        target,
        *,
        batched: bool,
        checkpoint: int | None,
        on_segment=None,
    ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Loss and gradients of one window started from the working state.

        The working state ends at the window's end (not committed).

        Parameters
        ----------
        x : numpy.ndarray
            Inputs (B, T, m).
        loss_fn : Loss
            The loss.
        target : numpy.ndarray
            Compared with the outputs (T, n), or (B, T, n) when ``batched``.
        batched : bool
            Whether the loss sees the trial axis.
        checkpoint : int or None
            Segment length (None: one segment).
        on_segment : callable, optional
            ``on_segment(s, T_seg, T_tape)`` after each forward segment (recordings from the
            tape).

        Returns
        -------
        (loss, grads, out)
            Loss value, parameter name -> gradient (shape of the trained array, summed over the
            trials: the loss already averages over them), outputs (B, T, n_out).
        """
        B, T, _ = x.shape
        dtype = self.runner.dtype
        x = np.ascontiguousarray(x, dtype=dtype)
        t_start = self.runner.step
        K = T if not checkpoint or checkpoint >= T else int(checkpoint)
        out = np.zeros((B, T, self.nodes[self.spec.output_node].n_out), dtype)
        segments = list(range(0, T, K))
        snaps = []
        for s in segments:
            if len(segments) > 1:
                snaps.append(self.snapshot())
            seg = slice(s, min(s + K, T))
            self.forward(x[:, seg], t_start + s, out[:, seg], K)
            if on_segment is not None:
                on_segment(s, seg.stop - s, K)
        pred = out.astype(np.float64) if batched else out[0].astype(np.float64)
        value, g = loss_fn.value_and_grad(pred, target)
        gout = np.ascontiguousarray(np.asarray(g, np.float64).reshape(out.shape))
        adjoints: dict = {}
        final = self.snapshot() if len(segments) > 1 else None
        for q in reversed(range(len(segments))):
            s = segments[q]
            seg = slice(s, min(s + K, T))
            if len(segments) > 1:
                self.restore(snaps[q])
                self.forward(x[:, seg], t_start + s, np.zeros_like(out[:, seg]), K)
            b = self.binding
            b.T_tape, b.adjoints = K, adjoints
            self._backward(
                seg.stop - s,
                t_start + s,
                0,
                dtype.type(self.runner.dt),
                x[:, seg],
                gout[:, seg],
                *b.bind(self.rendered.backward_args),
            )
        if final is not None:
            self.restore(final)
        return float(value), self._collect(adjoints), out

    def _collect(self, adjoints: dict) -> dict[str, np.ndarray]:
        """Kernel gradient buffers -> parameter name -> gradient shaped like the live array."""
        by_key = {(o, d): arr for (role, o, d), arr in adjoints.items() if role == "grad"}
        result = {}
        for name, (kind, owner, detail) in self.params.items():
            if kind == "W":
                e = self.edges.index(owner)
                part = "dense" if owner.fmt == "dense" else "data"
                g = by_key[(e, ("W", part))].sum(axis=0)
                if owner.mask is not None and part == "dense":
                    g = g * _mask_array(owner)
            else:
                k = self.index[owner.label]
                if kind == "J":
                    part = "dense" if owner.coupling == "dense" else "data"
                    g = by_key[(k, ("J", part))].sum(axis=0)
                else:
                    g = by_key[(k, ("const", detail))]
                    rows = owner.values[detail].shape[0]
                    g = g.sum(axis=0, keepdims=True) if rows == 1 else g
            result[name] = g
        return result


def _mask_array(edge) -> np.ndarray:
    """The edge's mask oriented like its weights (masked weights stay zero during training)."""
    m = edge.mask
    arr = m.toarray() if is_sparse(m) else np.asarray(m)
    if arr.shape != edge.shape:
        arr = arr.T
    return arr
