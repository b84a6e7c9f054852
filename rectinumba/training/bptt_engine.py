"""Runtime of backpropagation through time: binds a Network to the generated BPTT kernels.

One :class:`BPTTEngine` serves one training call: it renders and loads the forward (taping) and
backward kernels of :mod:`rectinumba.codegen.adjoint`, keeps working copies of the network state
(B trials), and computes the loss and the gradients of one window of steps with
:meth:`BPTTEngine.window`. With ``checkpoint=K`` the forward pass keeps only the state at the start
of every K-step segment; the backward pass recomputes each segment's tape from its checkpoint just
before running back through it, so memory is O(T/K) states + O(K) tape instead of O(T) tape.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import NetworkError
from ..nodes import DiffEqNode
from ..weights import csr_parts, is_sparse

__all__ = ["BPTTEngine", "trainable_parameters", "PARALLEL_MIN_WORK"]

#: trials x largest node size from which the kernels loop over trials with prange
PARALLEL_MIN_WORK = 1024


def trainable_parameters(net) -> dict[str, tuple]:
    """name -> (kind, owner object, detail) for everything fit_bptt trains.

    Names: ``"<node>/<op/param>"`` for node parameters in ``train_params``, ``"<node>/weights"`` for
    a trained coupling J, ``"<source>-><target>"`` for edges added with ``train="gd"``.
    """
    out: dict[str, tuple] = {}
    for label, node in net._nodes.items():
        if isinstance(node, DiffEqNode):
            for p in node.train_params:
                if p == "weights":
                    out[f"{label}/weights"] = ("J", node, None)
                else:
                    out[f"{label}/{p}"] = ("const", node, p)
    for (s, t), edge in net._edges.items():
        if edge.train == "gd":
            out[f"{s}->{t}"] = ("W", edge, None)
    return out


def live_array(kind: str, owner, detail) -> np.ndarray:
    """The array an optimizer updates in place for one trainable parameter."""
    if kind == "const":
        return owner.values[detail]
    w = owner._weights
    return w.data if is_sparse(w) else w


class BPTTEngine:
    """Forward/backward kernels of one network structure for B trials.

    Parameters
    ----------
    net
        The Network (read for structure, values and state; state is written by :meth:`commit`).
    B
        Number of trials per window.
    """

    def __init__(self, net, B: int) -> None:
        from ..codegen.adjoint import BPTTSpec, render_bptt
        from ..codegen.cache import load_source

        self.net, self.B = net, int(B)
        spec, order = net._spec(None, self.B)
        # trials run in parallel threads only when there is enough work per step to pay for the
        # threads (and for the much longer compilation of the parallel kernels)
        work = self.B * max(n.n_out for n in net._nodes.values())
        spec = dataclasses.replace(spec, parallel=self.B > 1 and work >= PARALLEL_MIN_WORK)
        self.spec, self.order = spec, order
        self.nodes = [net._nodes[label] for label in order]
        self.edges = list(net._edges.values())
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
        self.sizes = np.array([n.n_out for n in self.nodes], np.int64)
        self.index = {label: k for k, label in enumerate(order)}
        self.params = {
            name: (kind, owner, detail)
            for name, (kind, owner, detail) in trainable_parameters(net).items()
        }
        self._tapes: dict[tuple[str, int], np.ndarray] = {}
        self.load()

    # ---- state -------------------------------------------------------------------------------
    def _rows(self, arr: np.ndarray, what: str, label: str) -> np.ndarray:
        B = self.B
        if arr.shape[0] == B:
            return np.array(arr, dtype=self.net.dtype, order="C", copy=True)
        if arr.shape[0] == 1:
            return np.repeat(arr, B, axis=0).astype(self.net.dtype, copy=False)
        raise NetworkError(
            f"{what} holds values for {arr.shape[0]} trials but the input has {B} trial(s)",
            node=label,
        )

    def load(self) -> None:
        """Working copies of the network's current state and feedback buffers."""
        # error messages count steps from here (the start of the epoch or bptt_gradients call)
        self.origin = self.net._step
        self.state: dict[tuple[int, str], np.ndarray] = {}
        self.prev: dict[int, np.ndarray] = {}
        for a in self.rendered.args:
            node = self.nodes[a.owner] if a.role in ("state", "prev") else None
            if a.role == "state":
                self.state[(a.owner, a.detail)] = self._rows(
                    node.state[a.detail], f"state {a.detail!r}", node.label
                )
            elif a.role == "prev":
                prev = self.net._prev.get(node.label)
                self.prev[a.owner] = (
                    np.zeros((self.B, node.n_out), self.net.dtype)
                    if prev is None
                    else self._rows(prev, "feedback buffer", node.label)
                )

    def snapshot(self) -> tuple[dict, dict]:
        return (
            {k: v.copy() for k, v in self.state.items()},
            {k: v.copy() for k, v in self.prev.items()},
        )

    def restore(self, snap) -> None:
        state, prev = snap
        for key, arr in state.items():
            self.state[key][...] = arr
        for key, arr in prev.items():
            self.prev[key][...] = arr

    def commit(self, steps: int) -> None:
        """Write the working state back into the network (after a successful window)."""
        for (k, name), arr in self.state.items():
            self.nodes[k].state[name] = arr.copy()
        for k, arr in self.prev.items():
            self.net._prev[self.nodes[k].label] = arr.copy()
        self.net._step += int(steps)

    # ---- kernel arguments ------------------------------------------------------------------------
    def _tape(self, name: str, owner: int, T: int) -> np.ndarray:
        key = (name, T)
        arr = self._tapes.get(key)
        if arr is None:
            arr = np.zeros((self.B, T, int(self.sizes[owner])), self.net.dtype)
            self._tapes[key] = arr
        return arr

    def free_tapes(self) -> None:
        self._tapes.clear()

    def _args(self, T_tape: int, lam=None, gfb=None, grads=None) -> list:
        dt = self.net.dtype.type
        out = []
        csr_cache: dict[int, tuple] = {}

        def parts(obj_id, m):
            if obj_id not in csr_cache:
                csr_cache[obj_id] = csr_parts(m, self.net.dtype)
            return csr_cache[obj_id]

        for a in self.rendered.args:
            role = a.role
            if role == "state":
                arr = self.state[(a.owner, a.detail)]
            elif role == "const":
                node = self.nodes[a.owner]
                v = node.values[a.detail]
                arr = (
                    v if v.shape[0] == self.B else self._rows(v, f"value {a.detail!r}", node.label)
                )
            elif role in ("J", "W"):
                m = self.nodes[a.owner]._weights if role == "J" else self.edges[a.owner]._weights
                if a.detail == "dense":
                    arr = m
                else:
                    arr = parts(id(m), m)[("data", "indices", "indptr").index(a.detail)]
            elif role == "scalar":
                node = self.nodes[a.owner]
                val = {
                    "threshold": node.spike_threshold,
                    "reset": node.spike_reset,
                    "slope": node.spike_slope,
                }[a.detail]
                arr = dt(val)
            elif role == "prev":
                arr = self.prev[a.owner]
            elif role == "tape":
                arr = self._tape(a.name, a.owner, T_tape)
            elif role in ("lam", "gfb"):
                # the forward kernel ignores adjoints: empty arrays of the right rank
                src = lam if role == "lam" else gfb
                arr = src[a.name] if src is not None else np.zeros((0, 0))
            elif role == "grad":
                if grads is not None:
                    arr = grads[a.name]
                else:
                    ndim = 3 if a.detail[1] == "dense" else 2
                    arr = np.zeros((0,) * ndim)
            else:  # pragma: no cover - renderer and runtime are written together
                raise AssertionError(role)
            out.append(arr)
        return out

    def _adjoint_buffers(self) -> tuple[dict, dict, dict]:
        lam, gfb, grads = {}, {}, {}
        for a in self.rendered.args:
            if a.role == "lam":
                lam[a.name] = np.zeros((self.B, int(self.sizes[a.owner])))
            elif a.role == "gfb":
                gfb[a.name] = np.zeros((self.B, int(self.sizes[a.owner])))
            elif a.role == "grad":
                kind, part = a.detail[0], a.detail[1]
                if kind == "const":
                    shape = (int(self.sizes[a.owner]),)
                else:
                    m = (
                        self.nodes[a.owner]._weights
                        if kind == "J"
                        else self.edges[a.owner]._weights
                    )
                    shape = (m.nnz,) if part == "data" else tuple(m.shape)
                grads[a.name] = np.zeros((self.B,) + shape)
        return lam, gfb, grads

    # ---- passes ------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, t0: int, out: np.ndarray, T_tape: int) -> None:
        """Run x (B, T, m) from the working state; outputs into ``out`` (B, T, n_out)."""
        T = x.shape[1]
        status = np.zeros((self.B, 5), np.int64)
        self._forward(
            T, t0, self.net.dtype.type(self.net.dt), x, self.sizes, out, status, *self._args(T_tape)
        )
        if status[:, 0].any():
            # the kernel counts steps from t0 (a window or checkpoint segment): report them from
            # the start of the epoch, as run() reports steps from the start of the run
            status[:, 1] += t0 - self.origin
            self.net._raise_status(status, self.spec, self.order, t0, self.B)

    def state_tape(self, k: int, j: int, T_tape: int) -> np.ndarray:
        return self._tape(f"n{k}_ty{j}", k, T_tape)

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
        """Loss and gradients of one window x (B, T, m) started from the working state.

        ``target`` is compared with the outputs (T, n) (or (B, T, n) when ``batched``) by
        ``loss_fn``. The working state ends at the window's end (not committed). ``on_segment(s,
        T_seg, T_tape)`` is called after each forward segment (for recordings from the tape).

        Returns
        -------
        (loss, grads, out)
            Loss value, parameter name -> gradient (shape of the trained array, summed over the
            trials: the loss already averages over them), outputs (B, T, n_out).
        """
        B, T, _ = x.shape
        dtype = self.net.dtype
        x = np.ascontiguousarray(x, dtype=dtype)
        t_start = self.net._step
        K = T if not checkpoint or checkpoint >= T else int(checkpoint)
        out = np.zeros((B, T, int(self.sizes[self.spec.output_node])), dtype)
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
        lam, gfb, grads = self._adjoint_buffers()
        final = self.snapshot() if len(segments) > 1 else None
        for q in reversed(range(len(segments))):
            s = segments[q]
            seg = slice(s, min(s + K, T))
            if len(segments) > 1:
                self.restore(snaps[q])
                self.forward(x[:, seg], t_start + s, np.zeros_like(out[:, seg]), K)
            self._backward(
                seg.stop - s,
                t_start + s,
                dtype.type(self.net.dt),
                x[:, seg],
                self.sizes,
                gout[:, seg],
                *self._args(K, lam, gfb, grads),
            )
        if final is not None:
            self.restore(final)
        return float(value), self._collect(grads), out

    def _collect(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Kernel gradient buffers -> parameter name -> gradient shaped like the live array."""
        by_key = {}
        for a in self.rendered.args:
            if a.role == "grad":
                by_key[(a.owner, a.detail)] = grads[a.name]
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
