"""The Network: a graph of diff-eq populations and function layers joined by weighted edges.

Building a network is plain Python (no numba); ``compile`` renders the graph into one generated
kernel (see :mod:`rectinumba.codegen.step`) that ``run`` and ``forward`` call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .codegen.spec import ROW_PARALLEL_MIN, DiffEqSpec, EdgeSpec, FuncSpec, NetworkSpec
from .edges import Edge, orient_weights
from .errors import BackendError, NetworkError, SimulationError
from .nodes import DiffEqNode, FuncNode
from .training.bptt import BPTTMixin
from .training.readout import ReadoutTrainingMixin
from .weights import csr_parts, is_sparse

__all__ = ["Network"]

#: steps per kernel call in long runs (bounds input conversion memory, drives progress display)
CHUNK_STEPS = 200_000

_NODE_KWARGS = {"spike_slope", "sparse", "clear", "verbose"}


def _load_model(node):
    """NodeModel (or its StoredModel stand-in) for a template path, template or NodeModel."""
    from .equations import NodeModel
    from .equations.stored import load_model
    from .templates import NodeTemplate, OperatorTemplate

    if isinstance(node, (NodeTemplate, OperatorTemplate)):
        return load_model(node)
    if isinstance(node, str):
        from .templates.loader import load_template

        return load_model(load_template(node))
    if isinstance(node, NodeModel):
        return node
    raise NetworkError(
        f"node must be a template path, a NodeTemplate or an OperatorTemplate, got {node!r}"
    )


class Network(ReadoutTrainingMixin, BPTTMixin):
    """A recurrent network of rate or spiking neuron populations and function layers.

    Parameters
    ----------
    dt
        Integration step (explicit Euler), > 0.
    device
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    dtype
        ``np.float64`` (default) or ``np.float32`` for states, weights, inputs and recordings.
    """

    def __init__(self, dt: float, device: str = "cpu", dtype=np.float64) -> None:
        try:
            dt = float(dt)
        except (TypeError, ValueError):
            raise NetworkError(f"dt must be a number, got {dt!r}") from None
        if not np.isfinite(dt) or dt <= 0:
            raise NetworkError(f"dt must be a positive, finite number, got {dt!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise NetworkError(f"dtype must be float64 or float32, got {dtype}")
        self.dt, self.dtype = dt, dtype
        self.device = device
        self._backend = self._make_backend(device)
        self._nodes: dict[str, DiffEqNode | FuncNode] = {}
        self._edges: dict[tuple[str, str], Edge] = {}
        self._prev: dict[str, np.ndarray] = {}
        self._step = 0
        # (records, single trial, train hook) -> (spec, order, rendered kernel, kernel)
        self._plans: dict[tuple, tuple] = {}

    def __getstate__(self) -> dict:
        # compiled plans hold kernels (closures, numba dispatchers) that do not pickle; a copy
        # rebuilds them on first use from the process-wide kernel cache
        state = self.__dict__.copy()
        state["_plans"] = {}
        return state

    @staticmethod
    def _make_backend(device: str):
        if not isinstance(device, str):
            raise BackendError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
        if device == "cpu":
            from .backends.cpu import CPUBackend

            return CPUBackend()
        if device == "cuda" or device.startswith("cuda:"):
            from .backends.cuda import CUDABackend  # raises BackendError when CUDA is unusable

            return CUDABackend(device)
        raise BackendError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")

    @classmethod
    def from_yaml(
        cls,
        node,
        weights=None,
        source_var: str | None = None,
        target_var: str | None = None,
        input_var: str | None = None,
        output_var: str | None = None,
        dt: float = 1e-3,
        device: str = "cpu",
        label: str = "rnn",
        **kwargs,
    ) -> Network:
        """A Network holding one diff-eq node (RectiPy's main entry point)."""
        dtype = kwargs.pop("dtype", np.float64)
        net = cls(dt, device=device, dtype=dtype)
        net.add_diffeq_node(
            label,
            node,
            input_var=input_var,
            output_var=output_var,
            weights=weights,
            source_var=source_var,
            target_var=target_var,
            **kwargs,
        )
        return net

    # ---- building ------------------------------------------------------------------------
    def _check_label(self, label: str) -> None:
        if not isinstance(label, str) or not label:
            raise NetworkError(f"node label must be a non-empty string, got {label!r}")
        if label in self._nodes:
            raise NetworkError(
                f"a node labelled {label!r} exists already; pop_node it first", node=label
            )

    def _changed(self) -> None:
        """The graph changed: compiled plans are stale."""
        self._plans.clear()

    def add_diffeq_node(
        self,
        label: str,
        node,
        input_var: str | None = None,
        output_var: str | None = None,
        weights=None,
        source_var: str | None = None,
        target_var: str | None = None,
        spike_var: str | None = None,
        spike_def: str | None = None,
        spike_threshold: float = 100.0,
        spike_reset: float = -100.0,
        op: str | None = None,
        train_params: Sequence[str] | None = None,
        node_vars: dict[str, Any] | None = None,
        record_vars: Sequence[str] | None = None,
        N: int | None = None,
        **kwargs,
    ) -> DiffEqNode:
        """Add a population of neurons defined by a node template.

        Parameters
        ----------
        label
            Node label.
        node
            Dot path (``"model_templates.rate_neurons.leaky_integrator.tanh"``), file path, or
            NodeTemplate/OperatorTemplate.
        input_var, output_var
            Variable receiving the node's input; variable that is the node's output.
        weights
            (N, N) coupling J (numpy or scipy.sparse): ``target_i = sum_j J[i, j] source_j``.
        source_var, target_var
            Variables coupled by J.
        spike_var, spike_def, spike_threshold, spike_reset
            Make the node spiking: ``spike_def >= threshold`` emits a spike (``spike_var`` receives
            1/dt) and resets ``spike_def`` to ``spike_reset`` after the update.
        op
            Operator whose variables bare names refer to.
        train_params
            Parameters trained by fit_bptt (``"weights"`` means J).
        node_vars
            Parameter or initial-state values: scalar, (N,), (B, N) or (B,).
        record_vars
            Variables this node offers for recording (validated here).
        N
            Population size when no weights are given.
        **kwargs
            ``spike_slope`` (surrogate gradient slope), ``sparse`` (force CSR/dense coupling).
        """
        self._check_label(label)
        unknown = set(kwargs) - _NODE_KWARGS
        if unknown:
            raise NetworkError(
                f"add_diffeq_node got unknown keyword argument(s) {sorted(unknown)}", node=label
            )
        if output_var is None:
            raise NetworkError("add_diffeq_node needs output_var", node=label)
        if weights is not None:
            shape = tuple(getattr(weights, "shape", np.shape(weights)))
            if len(shape) != 2 or shape[0] != shape[1]:
                raise NetworkError(
                    f"weights must be a square (N, N) matrix, got shape {shape}", node=label
                )
            if N is not None and int(N) != shape[0]:
                raise NetworkError(f"N={N} disagrees with weights of shape {shape}", node=label)
            N = shape[0]
        if N is None:
            raise NetworkError("give either weights (N x N) or N", node=label)
        if int(N) != N or N < 1:
            raise NetworkError(f"N must be a positive integer, got {N!r}", node=label)
        model = _load_model(node)
        new = DiffEqNode(
            label,
            model,
            int(N),
            input_var=input_var,
            output_var=output_var,
            source_var=source_var,
            target_var=target_var,
            spike_var=spike_var,
            spike_def=spike_def,
            spike_threshold=spike_threshold,
            spike_reset=spike_reset,
            spike_slope=kwargs.get("spike_slope"),
            weights=weights,
            sparse=kwargs.get("sparse"),
            train_params=train_params,
            node_vars=node_vars,
            record_vars=record_vars,
            op=op,
            dtype=self.dtype,
        )
        self._nodes[label] = new
        self._changed()
        return new

    def add_func_node(self, label: str, n: int, activation_function: str = "identity") -> FuncNode:
        """Add a layer of ``n`` units applying ``activation_function`` to their summed input."""
        self._check_label(label)
        new = FuncNode(label, n, activation_function)
        self._nodes[label] = new
        self._changed()
        return new

    def add_edge(
        self,
        source: str,
        target: str,
        weights=None,
        train: str | None = None,
        mask=None,
        feedback: bool = False,
        **kwargs,
    ) -> Edge:
        """Connect ``source`` to ``target``: target input += weights @ source output.

        ``weights`` has shape (n_target, n_source) (a non-square (n_source, n_target) array is
        transposed); default standard normal. ``mask`` multiplies the weights element-wise.
        ``feedback=True`` reads the source's output of the previous step. kwargs: ``sparse``,
        ``seed`` (for default weights).
        """
        unknown = set(kwargs) - {"sparse", "seed"}
        if unknown:
            raise NetworkError(f"add_edge got unknown keyword argument(s) {sorted(unknown)}")
        for label in (source, target):
            if label not in self._nodes:
                raise NetworkError(f"add_edge: no node labelled {label!r} (nodes: {self.nodes})")
        if (source, target) in self._edges:
            raise NetworkError(
                f"an edge {source!r} -> {target!r} exists already; pop_edge it first"
            )
        src, tgt = self._nodes[source], self._nodes[target]
        if isinstance(tgt, DiffEqNode) and tgt.input_var is None:
            raise NetworkError(
                f"edge {source!r} -> {target!r}: the target node has no input_var", node=target
            )
        n_s, n_t = src.n_out, tgt.n_in
        if weights is None:
            # without a seed, numpy's global generator: np.random.seed makes scripts repeatable
            seed = kwargs.get("seed")
            draw = (
                np.random.standard_normal
                if seed is None
                else np.random.default_rng(seed).standard_normal
            )
            weights = draw((n_t, n_s))
        elif not is_sparse(weights):
            weights = np.asarray(weights)
        weights = orient_weights(weights, n_s, n_t, source=source, target=target)
        edge = Edge(
            source,
            target,
            weights,
            train=train,
            mask=mask,
            feedback=feedback,
            sparse=kwargs.get("sparse"),
            dtype=self.dtype,
        )
        self._edges[(source, target)] = edge
        self._changed()
        return edge

    # ---- graph access ----------------------------------------------------------------------
    @property
    def nodes(self) -> list[str]:
        """Node labels in insertion order."""
        return list(self._nodes)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return list(self._edges)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, label) -> bool:
        return label in self._nodes

    def __getitem__(self, key):
        if isinstance(key, tuple) and len(key) == 2:
            edge = self.get_edge(*key)
            return {
                "edge": edge,
                "weights": edge.weights,
                "train": edge.train,
                "feedback": edge.feedback,
            }
        node = self.get_node(key)
        return {"node": node, "n_in": node.n_in, "n_out": node.n_out, "kind": node.kind}

    def get_node(self, label: str) -> DiffEqNode | FuncNode:
        try:
            return self._nodes[label]
        except (KeyError, TypeError):
            raise NetworkError(f"no node labelled {label!r} (nodes: {self.nodes})") from None

    def get_edge(self, source: str, target: str) -> Edge:
        try:
            return self._edges[(source, target)]
        except KeyError:
            raise NetworkError(f"no edge {source!r} -> {target!r} (edges: {self.edges})") from None

    def pop_node(self, label: str) -> DiffEqNode | FuncNode:
        """Remove a node and every edge touching it; returns the node."""
        node = self.get_node(label)
        for key in [k for k in self._edges if label in k]:
            del self._edges[key]
        del self._nodes[label]
        self._prev.pop(label, None)
        self._changed()
        return node

    def pop_edge(self, source: str, target: str) -> Edge:
        edge = self.get_edge(source, target)
        del self._edges[(source, target)]
        self._changed()
        return edge

    def clear(self) -> None:
        """Remove all nodes and edges."""
        self._nodes.clear()
        self._edges.clear()
        self._prev.clear()
        self._step = 0
        self._changed()

    # ---- state -----------------------------------------------------------------------------
    @property
    def state(self) -> dict[str, np.ndarray]:
        """label -> flat state vector (each state variable's N values in turn)."""
        return {
            label: n.flat_state() for label, n in self._nodes.items() if isinstance(n, DiffEqNode)
        }

    def _diffeq(self, label: str) -> DiffEqNode:
        node = self.get_node(label)
        if not isinstance(node, DiffEqNode):
            raise NetworkError(
                f"node {label!r} is a function node; it has no variables", node=label
            )
        return node

    def get_var(self, node: str, var: str) -> np.ndarray:
        """Value of a state, parameter or input of a diff-eq node; ``"weights"`` is J."""
        return self._diffeq(node).get(var)

    def set_var(self, node: str, var: str, value) -> None:
        """Set a state, parameter, undriven input, or ``"weights"`` (J) of a diff-eq node."""
        n = self._diffeq(node)
        fmt = n.coupling
        n.set(var, value)
        if n.coupling != fmt:
            self._changed()

    def reset(self, state: dict[str, np.ndarray] | None = None) -> None:
        """Return to the templates' initial values and node_vars.

        ``state`` (label -> flat state vector) sets the states afterwards.
        """
        for node in self._nodes.values():
            if isinstance(node, DiffEqNode):
                node.reset()
        self._prev.clear()
        self._step = 0
        if state is not None:
            for label, flat in state.items():
                self._diffeq(label).load_flat_state(flat)

    @contextmanager
    def _transaction(self, *arrays: np.ndarray) -> Iterator[None]:
        """Undo everything a failing block did to states, feedback buffers, the step counter and
        ``arrays`` (restored in place: e.g. weights that a training kernel updates)."""
        states = {
            label: {k: v.copy() for k, v in node.state.items()}
            for label, node in self._nodes.items()
            if isinstance(node, DiffEqNode)
        }
        prev, step = {k: v.copy() for k, v in self._prev.items()}, self._step
        saved = [(a, a.copy()) for a in arrays]
        try:
            yield
        except BaseException:
            for label, state in states.items():
                self._nodes[label].state = state
            self._prev, self._step = prev, step
            for a, copy in saved:
                a[...] = copy
            raise

    # ---- compilation -------------------------------------------------------------------------
    def _io_candidates(self) -> tuple[list[str], list[str]]:
        has_in = {t for (s, t), e in self._edges.items() if not e.feedback}
        has_out = {s for (s, t), e in self._edges.items() if not e.feedback}
        inputs = [n for n in self._nodes if n not in has_in]
        outputs = [n for n in self._nodes if n not in has_out]
        return inputs, outputs

    def _io_nodes(self) -> tuple[str, str]:
        if not self._nodes:
            raise NetworkError("the network has no nodes")
        inputs, outputs = self._io_candidates()
        if len(inputs) != 1:
            raise NetworkError(
                f"the network needs exactly one input node (a node without incoming edges); "
                f"candidates: {inputs}"
            )
        if len(outputs) != 1:
            raise NetworkError(
                f"the network needs exactly one output node (a node without outgoing edges); "
                f"candidates: {outputs}"
            )
        return inputs[0], outputs[0]

    @property
    def n_in(self) -> int:
        """Input dimension (size of the input node); valid before compile."""
        return self._nodes[self._io_nodes()[0]].n_in

    @property
    def n_out(self) -> int:
        """Output dimension (size of the output node); valid before compile."""
        return self._nodes[self._io_nodes()[1]].n_out

    def _order(self, first: str) -> list[str]:
        """Topological order over non-feedback edges, starting from the input node."""
        preds = {n: set() for n in self._nodes}
        for (s, t), e in self._edges.items():
            if not e.feedback:
                preds[t].add(s)
        order, done = [], set()
        ready = [first]
        pending = [n for n in self._nodes if n != first]
        while ready:
            n = ready.pop(0)
            order.append(n)
            done.add(n)
            for m in list(pending):
                if preds[m] <= done:
                    pending.remove(m)
                    ready.append(m)
        if pending:
            raise NetworkError(
                f"the edges among {pending} form a cycle; mark one edge of it feedback=True "
                "(it then reads the previous step's output)"
            )
        return order

    def _spec(
        self, records: dict[str, tuple[tuple[str, bool], ...]] | None = None, B: int = 1, train=None
    ):
        inp, out = self._io_nodes()
        order = self._order(inp)
        index = {label: k for k, label in enumerate(order)}
        records = records or {}
        specs = []
        for label in order:
            node = self._nodes[label]
            rec = records.get(label, ())
            if isinstance(node, FuncNode):
                specs.append(FuncSpec(label, node.activation, rec))
                continue
            driven_by_edges = any(t == label for (s, t) in self._edges)
            if node.input_var is None and (label == inp):
                raise NetworkError(
                    "the input node needs input_var (the variable receiving the network input)",
                    node=label,
                )
            specs.append(
                DiffEqSpec(
                    label,
                    node.model,
                    node.input_var if (label == inp or driven_by_edges) else None,
                    node.output_var,
                    node.source_var if node.weights is not None else None,
                    node.target_var if node.weights is not None else None,
                    node.coupling,
                    node.spike_var,
                    node.spike_def,
                    rec,
                )
            )
        edges = tuple(
            EdgeSpec(index[s], index[t], e.fmt, e.feedback) for (s, t), e in self._edges.items()
        )
        row_par = B == 1 and any(
            isinstance(n, DiffEqNode) and n.coupling == "dense" and n.N >= ROW_PARALLEL_MIN
            for n in self._nodes.values()
        )
        spec = NetworkSpec(
            tuple(specs),
            edges,
            index[inp],
            index[out],
            parallel=B > 1,
            train=train,
            row_parallel=row_par,
        )
        return spec, order

    def _plan(self, records: dict, B: int, train=None) -> tuple:
        """(spec, order, rendered, kernel) for this graph, cached until the graph changes."""
        key = (tuple(sorted(records.items())), B == 1, train)
        plan = self._plans.get(key)
        if plan is None:
            spec, order = self._spec(records, B, train)
            rendered, kernel = self._backend.kernel(spec)
            plan = self._plans[key] = (spec, order, rendered, kernel)
        return plan

    def compile(self) -> Network:
        """Check the graph, render and compile its kernel (done by run/forward when needed)."""
        self._plan({}, 1)
        return self

    # ---- running -----------------------------------------------------------------------------
    def _rows(self, arr: np.ndarray, B: int, what: str, label: str) -> np.ndarray:
        if arr.shape[0] == B:
            return np.ascontiguousarray(arr)
        if arr.shape[0] == 1:
            return np.repeat(arr, B, axis=0)
        raise NetworkError(
            f"{what} holds values for {arr.shape[0]} trials but the input has {B} trial(s)",
            node=label,
            hint="a 1-D value of length != N is read as one value per trial (B,); give (N,) for "
            "per-neuron values, or reset() after a batched run",
        )

    def _as_inputs(self, inputs) -> tuple[np.ndarray, bool]:
        m = self.n_in
        try:
            x = np.asarray(inputs)
        except ValueError as err:  # ragged nested lists
            raise NetworkError(
                f"inputs must be an array of shape (T, {m}) or (B, T, {m}); got a "
                f"{type(inputs).__name__} that is not rectangular ({err})"
            ) from None
        if x.ndim == 1 and m == 1:
            x = x[:, None]
        if x.ndim == 2:
            x, batched = x[None], False
        elif x.ndim == 3:
            batched = True
        else:
            raise NetworkError(
                f"inputs must have shape (T, {m}) or (B, T, {m}); "
                f"got an array of shape {np.shape(inputs)}"
            )
        if x.shape[2] != m:
            raise NetworkError(
                f"inputs have {x.shape[2]} columns but the input node takes {m}: expected shape "
                f"(T, {m}) or (B, T, {m}), got {np.shape(inputs)}"
            )
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise NetworkError(f"inputs must be real numbers, got dtype {x.dtype}")
        return x, batched

    def _parse_record_vars(self, record_vars) -> tuple[dict, list]:
        per_node: dict[str, list[tuple[str, bool]]] = {}
        keys = []
        for entry in record_vars or ():
            if not isinstance(entry, (tuple, list)) or len(entry) not in (2, 3):
                raise NetworkError(
                    f"record_vars entries are (node, var) or (node, var, reduce); got {entry!r}"
                )
            label, var = entry[0], entry[1]
            reduce = bool(entry[2]) if len(entry) == 3 else False
            node = self.get_node(label)
            if isinstance(node, FuncNode):
                if var not in ("in", "out"):
                    raise NetworkError(
                        f"record_vars: function node variables are 'in' and 'out', got {var!r}",
                        node=label,
                    )
                name = var
            else:
                name = node.resolve(var, "record_vars")
            if any(k == (label, var) for k, _, _ in keys):
                raise NetworkError(
                    f"record_vars lists ({label!r}, {var!r}) twice; "
                    "each (node, var) may appear once",
                    node=label,
                )
            item = (name, reduce)
            lst = per_node.setdefault(label, [])
            if item not in lst:
                lst.append(item)
            keys.append(((label, var), label, item))
        return {k: tuple(v) for k, v in per_node.items()}, keys

    def _execute(
        self,
        x: np.ndarray,
        *,
        sampling: int,
        cutoff: int,
        record_output: bool,
        record_vars=None,
        verbose: bool = False,
        train=None,
        train_arrays=None,
    ):
        """Run the kernel over x (B, T, m); commit the new state only on success.

        ``train`` is a training hook object (NetworkSpec.train) and ``train_arrays`` maps the
        ``detail`` of each of its ArgSpec(role="train") arguments to the array to pass; arrays
        whose detail starts with "steps:" are per-step arrays (B, T, ...) sliced per chunk.
        """
        B, T, _ = x.shape
        records, keys = self._parse_record_vars(record_vars)
        spec, order, rendered, kernel = self._plan(records, B, train)
        n_rec = max(0, -(-(T - cutoff) // sampling)) if (record_output or keys) else 0
        eff_cutoff = cutoff if n_rec else T + 1
        nodes = [self._nodes[label] for label in order]
        edge_list = list(self._edges.values())
        new_state: list[tuple[DiffEqNode, str, np.ndarray]] = []
        new_prev: dict[str, np.ndarray] = {}
        rec_arrays = {}
        args = []
        dt = self.dtype.type
        for a in rendered.args:
            node = nodes[a.owner] if a.role != "W" else None
            if a.role == "state":
                arr = self._rows(node.state[a.detail], B, f"state {a.detail!r}", node.label).copy()
                new_state.append((node, a.detail, arr))
            elif a.role == "const":
                arr = self._rows(node.values[a.detail], B, f"value {a.detail!r}", node.label)
            elif a.role == "scratch":
                if a.detail == "prev":
                    prev = self._prev.get(node.label)
                    arr = (
                        np.zeros((B, node.n_out), self.dtype)
                        if prev is None
                        else self._rows(prev, B, "feedback buffer", node.label).copy()
                    )
                    new_prev[node.label] = arr
                else:
                    arr = np.zeros((B, node.n_out), self.dtype)
            elif a.role == "J":
                arr = (
                    node.weights
                    if a.detail == "dense"
                    else csr_parts(node.weights, self.dtype)[
                        ("data", "indices", "indptr").index(a.detail)
                    ]
                )
            elif a.role == "W":
                w = edge_list[a.owner].weights
                arr = (
                    w
                    if a.detail == "dense"
                    else csr_parts(w, self.dtype)[("data", "indices", "indptr").index(a.detail)]
                )
            elif a.role == "scalar":
                arr = dt(node.spike_threshold if a.detail == "threshold" else node.spike_reset)
            elif a.role == "train":
                arr = train_arrays[a.detail]
            elif a.role == "rec":
                width = 1 if a.detail[1] else node.n_out
                arr = np.zeros((B, n_rec, width), self.dtype)
                rec_arrays[(node.label, a.detail)] = arr
            else:  # pragma: no cover - renderer and runtime are written together
                raise AssertionError(a.role)
            args.append(arr)
        out_node = self._nodes[order[spec.output_node]]
        out_rec = np.zeros((B, n_rec if record_output or keys else 0, out_node.n_out), self.dtype)
        status = np.zeros((B, 5), np.int64)
        chunk = CHUNK_STEPS if T > CHUNK_STEPS else max(T, 1)
        from .progress import Progress

        with Progress(T, "simulating", verbose and T > chunk) as bar:
            per_step = [
                j
                for j, a in enumerate(rendered.args)
                if a.role == "train" and str(a.detail).startswith("steps:")
            ]
            for s0 in range(0, T, chunk):
                xc = np.ascontiguousarray(x[:, s0 : s0 + chunk], dtype=self.dtype)
                # a sum allocates nothing; only a non-finite sum (NaN, inf, or overflow) is searched
                bad = np.argwhere(~np.isfinite(xc)) if not np.isfinite(xc.sum()) else ()
                if len(bad):
                    b, t, j = bad[0]
                    raise NetworkError(
                        f"inputs contain a non-finite value ({xc[b, t, j]}) at step {s0 + t}, "
                        f"column {j}" + (f", trial {b}" if B > 1 else "")
                    )
                call = list(args)
                for j in per_step:
                    call[j] = np.ascontiguousarray(args[j][:, s0 : s0 + chunk])
                kernel(
                    xc.shape[1],
                    self._step + s0,
                    s0,
                    dt(self.dt),
                    eff_cutoff,
                    sampling,
                    xc,
                    out_rec,
                    status,
                    *call,
                )
                if status[:, 0].any():
                    self._raise_status(status, spec, order, self._step, B)
                bar.update(xc.shape[1])
        # success: commit
        for node, name, arr in new_state:
            node.state[name] = arr
        self._prev.update(new_prev)
        self._step += T
        return out_rec, rec_arrays, keys, args, rendered

    def _raise_status(self, status, spec, order, step0, B) -> None:
        from .backends.status import describe

        trials = {}
        for b in np.flatnonzero(status[:, 0]):
            code, step, k, j, neuron = (int(v) for v in status[b])
            node, var = order[k], spec.nodes[k].model.states[j]
            trials[int(b)] = {
                "code": code,
                "node": node,
                "variable": var,
                "step": step,
                "neuron": neuron,
                "message": describe(code, node=node, var=var, step=step, neuron=neuron, trial=None),
            }
        b = min(trials)
        first = trials[b]
        msg = describe(
            first["code"],
            node=first["node"],
            var=first["variable"],
            step=first["step"],
            neuron=first["neuron"],
            trial=b if B > 1 else None,
        )
        if len(trials) > 1:
            msg += f" and in {len(trials) - 1} other trial(s) (SimulationError.trials lists them)"
        raise SimulationError(
            msg + "; the network keeps the state it had before this run",
            trials=trials,
            node=first["node"],
            variable=first["variable"],
            hint="a smaller dt, other parameters or initial values may keep the state finite",
        )

    def run(
        self,
        inputs,
        sampling_steps: int = 1,
        cutoff: int = 0,
        verbose: bool = True,
        record_output: bool = True,
        record_vars: Sequence[tuple] | None = None,
        **kwargs,
    ):
        """Simulate ``T`` steps; returns an :class:`~rectinumba.observer.Observer`.

        Parameters
        ----------
        inputs
            (T, n_in), or (B, T, n_in) for B independent trials in one kernel call.
        sampling_steps
            Record every ``sampling_steps`` steps.
        cutoff
            Steps simulated before recording starts; recordings are at steps
            ``cutoff, cutoff + sampling_steps, ...``.
        verbose
            Progress display for long runs.
        record_output
            Record the network output (``obs["out"]``).
        record_vars
            ``(node, var)`` or ``(node, var, reduce)`` entries; ``reduce=True`` records the mean
            over neurons. States are recorded after the update; algebraic and input variables as
            computed during the step.
        """
        if kwargs:
            raise NetworkError(f"run got unknown keyword argument(s) {sorted(kwargs)}")
        sampling, cutoff = self._check_sampling(sampling_steps, cutoff)
        x, batched = self._as_inputs(inputs)
        out_rec, recs, keys, _, _ = self._execute(
            x,
            sampling=sampling,
            cutoff=cutoff,
            record_output=record_output,
            record_vars=record_vars,
            verbose=verbose,
        )
        return self._observer(out_rec, recs, keys, sampling, batched, record_output, record_vars)

    @staticmethod
    def _check_sampling(sampling_steps, cutoff) -> tuple[int, int]:
        def integer(value, low: int, what: str) -> int:
            try:
                ok = int(value) == value and value >= low
            except (TypeError, ValueError, OverflowError):
                ok = False
            if not ok or isinstance(value, bool):
                kind = "positive" if low == 1 else "non-negative"
                raise NetworkError(f"{what} must be a {kind} integer, got {value!r}")
            return int(value)

        return integer(sampling_steps, 1, "sampling_steps"), integer(cutoff, 0, "cutoff")

    def _observer(self, out_rec, recs, keys, sampling, batched, record_output, record_vars):
        from .observer import Observer

        obs = Observer(
            self.dt,
            record_output=record_output,
            record_loss=False,
            record_vars=[tuple(k) for k, _, _ in keys] or None,
            sampling_steps=sampling,
            n_trials=out_rec.shape[0] if batched else None,
        )
        pick = (lambda a: a) if batched else (lambda a: a[0])
        if record_output:
            obs.save("out", pick(out_rec))
        for key, label, item in keys:
            arr = recs[(label, item)]
            if item[1]:
                arr = arr[..., 0]
            obs.save(key, pick(arr))
        return obs

    def forward(self, x) -> np.ndarray:
        """One step with input ``x`` of shape (n_in,) (or (B, n_in)); returns the output."""
        arr = np.asarray(x)
        batched = arr.ndim == 2
        if arr.ndim == 0 and self.n_in == 1:
            arr = arr.reshape(1)
        if arr.ndim not in (1, 2) or arr.shape[-1] != self.n_in:
            raise NetworkError(
                f"forward takes an input of shape ({self.n_in},) or (B, {self.n_in}); "
                f"got {np.shape(x)}"
            )
        x3 = arr[:, None, :] if batched else arr[None, None, :]
        out_rec, *_ = self._execute(x3, sampling=1, cutoff=0, record_output=True)
        return out_rec[:, 0] if batched else out_rec[0, 0]

    def __repr__(self) -> str:
        return (
            f"Network(dt={self.dt}, device={self.device!r}, nodes={self.nodes}, edges={self.edges})"
        )
