"""The Network: a graph of diff-eq populations and function layers joined by weighted edges.

Building a network is plain Python (no numba); ``compile`` renders the graph into one generated
kernel (see :mod:`rectinumba.codegen.step`) that ``run`` and ``forward`` call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import compat
from .codegen.spec import ROW_PARALLEL_MIN, DiffEqSpec, EdgeSpec, FuncSpec, NetworkSpec
from .edges import Edge, default_weights, orient_weights
from .errors import (
    BackendError,
    EdgeNotFoundError,
    NetworkError,
    NodeNotFoundError,
    SimulationError,
)
from .locking import exclusive, new_lock
from .names import check_name
from .nodes import DiffEqNode, FuncNode
from .training.bptt import BPTTMixin
from .training.readout import ReadoutTrainingMixin
from .training.snapshot import restore_state, snapshot_state
from .validate import MAX_UNITS, integer, real_array
from .weights import csr_parts, is_sparse

__all__ = ["Network"]

#: steps per kernel call in long runs (bounds input conversion memory, drives progress display)
CHUNK_STEPS = 200_000

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


class Network(ReadoutTrainingMixin, BPTTMixin, compat.RectiPyMethods):
    """A recurrent network of rate or spiking neuron populations and function layers.

    Parameters
    ----------
    dt
        Integration step (explicit Euler), > 0.
    device
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    dtype
        ``np.float64`` (default) or ``np.float32`` for states, weights, inputs and recordings.

    Notes
    -----
    Ownership: every array passed in (weights, edge weights, masks, ``node_vars``, ``set_var``
    values, ``reset(state)``, inputs, targets) is copied or only read; training never changes a
    caller's array, and two networks built from one array are independent. Getters return
    copies (``get_var``, ``state``, ``bptt_parameters``) or read-only views (the ``weights`` of
    nodes and edges, when dense).

    Threads: a network runs one call at a time. While a call that runs kernels or changes the
    network (``run``, ``forward``, the ``fit_*`` methods, ``test``, ``reset``, ``set_var``, adding
    or removing nodes and edges, ...) is in progress, the same call from another thread raises a
    NetworkError at once rather than waiting (sharing one network between threads would mix their
    states). Give each thread its own network (``copy.deepcopy(net)``); kernels release the GIL,
    so networks in several threads run in parallel.
    """

    def __init__(self, dt: float, device: str = "cpu", dtype=np.float64) -> None:
        try:
            dt = float(dt)
        except (TypeError, ValueError):
            raise NetworkError(f"dt must be a number, got {dt!r}") from None
        if not np.isfinite(dt) or dt <= 0:
            raise NetworkError(f"dt must be a positive, finite number, got {dt!r}")
        dtype = compat.as_float_dtype(dtype)
        self.dt, self.dtype = dt, dtype
        self.device = device
        self._backend = self._make_backend(device)
        self._nodes: dict[str, DiffEqNode | FuncNode] = {}
        self._edges: dict[tuple[str, str], Edge] = {}
        self._prev: dict[str, np.ndarray] = {}
        self._step = 0
        # (records, single trial, train hook) -> (spec, order, rendered kernel, kernel)
        self._plans: dict[tuple, tuple] = {}
        self._call_lock = new_lock()  # one call at a time (rectinumba.locking)
        self._busy_with: str | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_call_lock", None)  # a lock cannot be pickled; a copy gets its own
        state["_busy_with"] = None
        # compiled plans hold kernels (closures, numba dispatchers) that do not pickle; a copy
        # rebuilds them on first use from the process-wide kernel cache
        state["_plans"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._call_lock = new_lock()

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
        dtype = kwargs.pop("dtype", kwargs.get("float_precision", np.float64))
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
        check_name(label, "node label", NetworkError)
        if label in self._nodes:
            raise NetworkError(
                f"a node labelled {label!r} exists already; pop_node it first", node=label
            )

    def _changed(self) -> None:
        """The graph changed: compiled plans are stale."""
        self._plans.clear()

    @exclusive
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
            (N, N) coupling J (numpy or scipy.sparse, copied): ``target_i = sum_j J[i, j]
            source_j``. ``get_var(label, "weights")`` returns J in the form given.
        source_var, target_var
            Variables coupled by J.
        spike_var, spike_def, spike_threshold, spike_reset
            Make the node spiking: ``spike_def >= threshold`` emits a spike (``spike_var`` receives
            1/dt) and resets ``spike_def`` to ``spike_reset`` after the update. RectiPy 0.12's
            ``reset_var`` (= ``spike_def``) and ``reset=False`` (the template resets itself) are
            accepted too, see :func:`rectinumba.compat.diffeq_node_options`.
        op
            Operator whose variables bare names refer to.
        train_params
            Parameters trained by fit_bptt (``"weights"`` means J).
        node_vars
            Parameter or initial-state values (copied): a scalar, (N,) per neuron (a 1-D array
            is always per neuron), or per trial (B, 1) or (B, N).
        record_vars
            Variables this node offers for recording (validated here).
        N
            Population size when no weights are given.
        **kwargs
            ``spike_slope`` (surrogate gradient slope), ``sparse`` (force CSR or dense
            coupling), template variable overrides (``tau=2.0``), and RectiPy's keywords
            (:mod:`rectinumba.compat`). Without ``sparse``, a J in ``train_params`` keeps the form
            it was given: a dense array stays dense and all N x N entries are trained; a
            scipy.sparse matrix keeps its sparsity structure (only its stored entries are trained,
            zeros elsewhere stay zero). A static dense J of at least 100 x 100 with under 20 %
            non-zeros is stored as CSR for speed.
        """
        self._check_label(label)
        if output_var is None:
            raise NetworkError("add_diffeq_node needs output_var", node=label)
        if weights is not None:
            try:
                shape = tuple(getattr(weights, "shape", None) or np.shape(weights))
            except ValueError:  # ragged nested lists
                raise NetworkError(
                    "weights must be a square (N, N) matrix of numbers, got a ragged "
                    f"{type(weights).__name__}",
                    node=label,
                ) from None
            if len(shape) != 2 or shape[0] != shape[1]:
                raise NetworkError(
                    f"weights must be a square (N, N) matrix, got shape {shape}", node=label
                )
            if N is not None and integer(N, "N", low=1, node=label) != shape[0]:
                raise NetworkError(f"N={N} disagrees with weights of shape {shape}", node=label)
            N = shape[0]
        if N is None:
            raise NetworkError("give either weights (N x N) or N", node=label)
        N = integer(N, "N", low=1, high=MAX_UNITS, node=label)
        model = _load_model(node)
        spiking = (spike_var, spike_def, spike_threshold, spike_reset)
        opts = compat.diffeq_node_options(self, label, model, op, *spiking, node_vars, kwargs)
        new = DiffEqNode(
            label,
            opts.model,
            int(N),
            input_var=input_var,
            output_var=output_var,
            source_var=source_var,
            target_var=target_var,
            spike_var=spike_var,
            spike_def=opts.spike_def,
            reset=opts.reset,
            spike_threshold=spike_threshold,
            spike_reset=spike_reset,
            spike_slope=opts.spike_slope,
            weights=weights,
            sparse=opts.sparse,
            train_params=train_params,
            node_vars=opts.node_vars,
            record_vars=record_vars,
            op=op,
            dtype=self.dtype,
        )
        self._nodes[label] = new
        self._changed()
        return new

    @exclusive
    def add_func_node(
        self, label: str, n: int, activation_function: str = "identity", **kwargs
    ) -> FuncNode:
        """Add ``n`` units applying ``activation_function`` to their summed input."""
        self._check_label(label)
        compat.func_node_options(label, kwargs)
        new = FuncNode(label, n, activation_function)
        self._nodes[label] = new
        self._changed()
        return new

    @exclusive
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
        transposed); default standard normal (zeros for ``train="rls"``, as RectiPy). ``mask``
        multiplies the weights element-wise. ``feedback=True`` reads the source's output of the
        previous step. Weights and mask are copied; trained weights keep the form given (see
        ``add_diffeq_node``). kwargs: ``sparse``, ``seed`` (for default weights), ``beta``/``alpha``
        (RLS, used by fit_rls), RectiPy's ``dtype``/``edge_attrs`` (:mod:`rectinumba.compat`).
        """
        opts = compat.edge_options(self, train, kwargs)
        for label in (source, target):
            if label not in self._nodes:
                raise NodeNotFoundError(f"add_edge: no node {label!r} (nodes: {self.nodes})")
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
            weights = default_weights(n_t, n_s, train, opts.seed)
        elif not is_sparse(weights):
            weights = real_array(weights, self.dtype, what=f"edge {source!r} -> {target!r} weights")
        weights = orient_weights(weights, n_s, n_t, source=source, target=target)
        edge = Edge(
            source,
            target,
            weights,
            train=train,
            mask=mask,
            feedback=feedback,
            sparse=opts.sparse,
            dtype=self.dtype,
            rls=(opts.rls_beta, opts.rls_alpha),
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
                "weights": edge.weights,  # read-only view or copy, in the form given
                "train": edge.train,
                "feedback": edge.feedback,
            }
        node = self.get_node(key)
        return {"node": node, "n_in": node.n_in, "n_out": node.n_out, "kind": node.kind}

    def get_node(self, label: str) -> DiffEqNode | FuncNode:
        try:
            return self._nodes[label]
        except (KeyError, TypeError):
            raise NodeNotFoundError(f"no node labelled {label!r} (nodes: {self.nodes})") from None

    def get_edge(self, source: str, target: str) -> Edge:
        try:
            return self._edges[(source, target)]
        except KeyError:
            msg = f"no edge {source!r} -> {target!r} (edges: {self.edges})"
            raise EdgeNotFoundError(msg) from None

    @exclusive
    def pop_node(self, label: str) -> DiffEqNode | FuncNode:
        """Remove a node and every edge touching it; returns the node."""
        node = self.get_node(label)
        for key in [k for k in self._edges if label in k]:
            del self._edges[key]
        del self._nodes[label]
        self._prev.pop(label, None)
        self._changed()
        return node

    @exclusive
    def pop_edge(self, source: str, target: str) -> Edge:
        edge = self.get_edge(source, target)
        del self._edges[(source, target)]
        self._changed()
        return edge

    @exclusive
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

    @exclusive
    def set_var(self, node: str, var: str, value) -> None:
        """Set a state, parameter, undriven input, or ``"weights"`` (J) of a diff-eq node."""
        n = self._diffeq(node)
        fmt = n.coupling
        n.set(var, value)
        if n.coupling != fmt:
            self._changed()

    @exclusive
    def reset(self, state: dict[str, np.ndarray] | None = None) -> None:
        """Return to the templates' initial values and node_vars.

        Parameters
        ----------
        state : dict, optional
            Node label -> flat state vector ((S*N,) or (B, S*N)), set afterwards. Every entry
            is validated (and copied) before anything is reset.
        """
        # validated (and copied) before anything is reset: a bad entry changes nothing
        if state is not None and not isinstance(state, dict):
            raise NetworkError(
                f"reset(state=...) takes a dict node label -> flat state vector, got "
                f"{type(state).__name__}"
            )
        loaded = {
            label: self._diffeq(label).parse_flat_state(flat)
            for label, flat in (state or {}).items()
        }
        for node in self._nodes.values():
            if isinstance(node, DiffEqNode):
                node.reset()
        self._prev.clear()
        self._step = 0
        for label, states in loaded.items():
            self._nodes[label].state.update(states)

    @contextmanager
    def _transaction(self, *arrays: np.ndarray) -> Iterator[None]:
        """Undo everything a failing block did to states, feedback buffers, the step counter and
        ``arrays`` (restored in place: e.g. weights that a training kernel updates)."""
        start = snapshot_state(self)
        saved = [(a, a.copy()) for a in arrays]
        try:
            yield
        except BaseException:
            restore_state(self, start)
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
                    node.source_var if node.coupling is not None else None,
                    node.target_var if node.coupling is not None else None,
                    node.coupling,
                    node.spike_var,
                    node.spike_def,
                    rec,
                    node.network_reset,
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

    @exclusive
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
            hint="per-trial values (B, 1) or (B, N) need inputs with B trials; give a scalar or "
            "(N,) for all trials, or reset() after a batched run",
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
        x = compat.spread_input_columns(x, m)  # (T, 1): every input unit gets the column
        if x.shape[2] != m:
            raise NetworkError(
                f"inputs have {x.shape[2]} columns but the input node takes {m}: expected shape "
                f"(T, {m}) or (B, T, {m}), got {np.shape(inputs)}"
            )
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise NetworkError(f"inputs must be real numbers, got dtype {x.dtype}")
        if x.shape[0] == 0:
            # refused here, before anything runs: an empty batch would replace every state by
            # a (0, N) array
            raise NetworkError(f"inputs of shape {np.shape(inputs)} hold no trial (B = 0)")
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
                    node._weights
                    if a.detail == "dense"
                    else csr_parts(node._weights, self.dtype)[
                        ("data", "indices", "indptr").index(a.detail)
                    ]
                )
            elif a.role == "W":
                w = edge_list[a.owner]._weights
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
        from .backends.status import RLS_NONFINITE, describe, describe_rls

        b = int(np.flatnonzero(status[:, 0])[0])
        code, step, k, j, neuron = (int(v) for v in status[b])
        if code == RLS_NONFINITE:
            edge = list(self._edges.values())[k]
            raise SimulationError(
                describe_rls(j, source=edge.source, target=edge.target, step=step)
                + "; the weights, P and the network state are as they were before this call",
                hint="with beta < 1, P grows like beta**-t along directions the inputs do not "
                "excite until it overflows (RLS windup): use beta = 1 (or closer to 1), "
                "reset_P=True between calls, or inputs that excite every direction (e.g. with "
                "some noise)",
            )
        # every failed trial (a batched kernel runs the others to the end)
        trials = {}
        for t in np.flatnonzero(status[:, 0]):
            code, step, k, j, neuron = (int(v) for v in status[t])
            if code == RLS_NONFINITE:
                continue
            node, var = order[k], spec.nodes[k].model.states[j]
            trials[int(t)] = {
                "code": code,
                "node": node,
                "variable": var,
                "step": step,
                "neuron": neuron,
                "message": describe(code, node=node, var=var, step=step, neuron=neuron, trial=None),
            }
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

    @exclusive
    def run(
        self,
        inputs,
        sampling_steps: int = 1,
        cutoff: int = 0,
        verbose: bool = True,
        *,
        record_output: bool = True,
        record_vars: Sequence[tuple] | None = None,
        **kwargs,
    ):
        """Simulate ``T`` steps; returns an :class:`~rectinumba.observer.Observer`.

        RectiPy's ``enable_grad``, ``truncate_steps`` and ``record_loss`` (a run has no loss) are
        accepted and have no effect.

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
        compat.run_options("run", kwargs)
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
        return integer(sampling_steps, "sampling_steps", low=1), integer(cutoff, "cutoff")

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

    @exclusive
    def forward(self, x) -> np.ndarray:
        """One step with input ``x`` of shape (n_in,) (or (B, n_in)); returns the output."""
        arr = np.asarray(x)
        batched = arr.ndim == 2
        arr = arr.reshape(1) if arr.ndim == 0 else arr  # one value (RectiPy: for every unit)
        x3 = arr[:, None, :] if batched else arr[None, None, :] if arr.ndim == 1 else arr
        x3 = compat.spread_input_columns(x3, self.n_in)
        if x3.ndim != 3 or x3.shape[-1] != self.n_in:
            raise NetworkError(
                f"forward takes an input of shape ({self.n_in},) or (B, {self.n_in}); "
                f"got {np.shape(x)}"
            )
        if x3.shape[0] == 0:
            raise NetworkError(f"forward: an input of shape {np.shape(x)} holds no trial (B = 0)")
        if not (np.issubdtype(x3.dtype, np.integer) or np.issubdtype(x3.dtype, np.floating)):
            raise NetworkError(f"forward: the input must be real numbers, got dtype {x3.dtype}")
        out_rec, *_ = self._execute(x3, sampling=1, cutoff=0, record_output=True)
        return out_rec[:, 0] if batched else out_rec[0, 0]

    def __repr__(self) -> str:
        return (
            f"Network(dt={self.dt}, device={self.device!r}, nodes={self.nodes}, edges={self.edges})"
        )
