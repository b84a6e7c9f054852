"""Execution of a Network: compiled plans, argument binding, chunked kernel calls, status, rollback.

The :class:`Runner` belongs to one :class:`~rectinumba.network.Network` and shares its node and
edge dictionaries (the graph). It

- turns the graph into a :class:`~rectinumba.codegen.spec.NetworkSpec` (evaluation order, input
  and output node) and caches the backend's compiled kernel per (recordings, single trial,
  training hook, sampling mode, event-driven couplings of the call: :mod:`rectinumba.propagation`)
  until the graph changes;
- binds the kernel's argument table through :class:`~rectinumba.binding.Binding` (the one role ->
  array table);
- runs long inputs in chunks of :data:`CHUNK_STEPS` steps, checks inputs for non-finite values
  chunk by chunk, maps a kernel's status row to a :class:`~rectinumba.errors.SimulationError`,
  and commits the new state only when every chunk succeeded;
- keeps what carries over from run to run besides the node states: the step counter, the
  carried feedback values, the history rings of delays (:mod:`rectinumba.history`) and the
  noise stream (:mod:`rectinumba.noise`);
- offers :meth:`Runner.transaction` to trainers: a failing block leaves states, carried values,
  the step counter and given arrays as they were.

Trainers (:mod:`rectinumba.training`) use this class; they never touch the Network's privates.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .binding import Binding
from .codegen.spec import (
    ROW_PARALLEL_MIN,
    DiffEqSpec,
    EdgeModelSpec,
    EdgeSpec,
    FuncSpec,
    NetworkSpec,
)
from .errors import NetworkError, SimulationError
from .nodes import DiffEqNode, FuncNode
from .progress import Progress
from .propagation import choose as choose_events
from .recording import Recording

__all__ = ["Runner", "RunResult", "CHUNK_STEPS"]

#: steps per kernel call in long runs (bounds input conversion memory, drives progress display)
CHUNK_STEPS = 200_000


@dataclass
class RunResult:
    """What one execution recorded.

    Parameters
    ----------
    out : numpy.ndarray
        Output recordings (B, R, n_out).
    recs : dict
        ``(label, (var, reduce)) -> (B, R, width)`` recordings of variables.
    keys : list
        ``((label, var), label, (name, reduce))`` per record_vars entry.
    """

    out: np.ndarray
    recs: dict
    keys: list


def _edge_model_spec(edge, record) -> EdgeModelSpec | None:
    """The codegen view of a template edge's model (None for a plain edge)."""
    dyn = edge.dynamics
    if dyn is None:
        return None
    return EdgeModelSpec(dyn.model, dyn.output, dyn.source_input, dyn.bindings, tuple(record))


class Runner:
    """Compiles and runs the graph of one Network.

    Parameters
    ----------
    nodes : dict
        label -> DiffEqNode or FuncNode (the Network's own dictionary).
    edges : dict
        (source, target) -> Edge (the Network's own dictionary).
    backend : object
        A backend (``kernel(spec)``, capabilities ``supports_*``).
    dt : float
        Integration step.
    dtype : numpy.dtype
        Value dtype.
    method : str
        Update rule name.
    noise : NoiseStream, optional
        The noise stream (a new one, seeded from the operating system, by default).
    """

    def __init__(
        self, nodes: dict, edges: dict, backend, dt: float, dtype, method: str, noise=None
    ) -> None:
        from .noise import NoiseStream

        self.nodes, self.edges, self.backend = nodes, edges, backend
        self.dt, self.dtype, self.method = float(dt), np.dtype(dtype), method
        #: seed and draw step of the noise of noisy models
        self.noise = noise if noise is not None else NoiseStream()
        #: steps run since the last reset (time of the next step = step * dt)
        self.step = 0
        #: (label, detail) -> carried values: feedback values (a function node's previous output,
        #: a probed node's previous input) and history rings (rectinumba.history)
        self.carry: dict[tuple, np.ndarray] = {}
        self._compiled: dict[tuple, tuple] = {}
        #: column structures of weights of event-driven couplings (Binding ``columns``)
        self._columns: dict[tuple, tuple] = {}
        #: input and output node chosen by the user (None: found from the graph)
        self.chosen_io: list[str | None] = [None, None]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        # compiled kernels (closures, numba dispatchers) do not pickle; a copy rebuilds them on
        # first use from the process-wide kernel cache
        state["_compiled"] = {}
        state["_columns"] = {}  # rebuilt on first use
        return state

    # ---- the graph --------------------------------------------------------------------------
    def changed(self) -> None:
        """The graph changed: compiled plans are stale."""
        self._compiled.clear()
        self._columns.clear()

    def forget(self, label: str) -> None:
        """Drop what is carried for a removed node.

        Parameters
        ----------
        label : str
            The node's label.
        """
        for key in [
            k for k in self.carry if k[0] == label or k[1][:2] == ("edge-ring", label)
        ]:
            del self.carry[key]
        self.chosen_io = [None if c == label else c for c in self.chosen_io]

    def forget_edge(self, source: str, target: str, index: int = 0) -> None:
        """Drop the history of a removed edge.

        Parameters
        ----------
        source, target : str
            Node labels of the edge.
        index : int
            Which edge between the two nodes (see :meth:`rectinumba.Network.get_edge`).
        """
        from .history import edge_ring_key

        self.carry.pop(edge_ring_key(source, target, index), None)

    def io_candidates(self) -> tuple[list[str], list[str]]:
        """Nodes without incoming / without outgoing (non-feedback) edges.

        Returns
        -------
        tuple of (list, list)
            Input candidates, output candidates.
        """
        has_in = {e.target for e in self.edges.values() if not e.feedback}
        has_out = {e.source for e in self.edges.values() if not e.feedback}
        inputs = [n for n in self.nodes if n not in has_in]
        outputs = [n for n in self.nodes if n not in has_out]
        return inputs, outputs

    def io_nodes(self) -> tuple[str, str]:
        """The input and the output node.

        Returns
        -------
        tuple of (str, str)
            Their labels (a NetworkError listing the candidates when either is not unique).
        """
        if not self.nodes:
            raise NetworkError("the network has no nodes")
        inputs, outputs = self.io_candidates()
        chosen_in, chosen_out = self.chosen_io
        if chosen_in is None and len(inputs) != 1:
            raise NetworkError(
                f"the network needs exactly one input node (a node without incoming edges); "
                f"candidates: {inputs}",
                hint="or choose it: net.input_node = label",
            )
        if chosen_out is None and len(outputs) != 1:
            raise NetworkError(
                f"the network needs exactly one output node (a node without outgoing edges); "
                f"candidates: {outputs}",
                hint="or choose it: net.output_node = label",
            )
        return chosen_in or inputs[0], chosen_out or outputs[0]

    def order(self, first: str) -> list[str]:
        """Topological order over non-feedback edges, starting from the input node.

        Parameters
        ----------
        first : str
            The input node.

        Returns
        -------
        list of str
            Labels in evaluation order (a NetworkError names a cycle).
        """
        preds = {n: set() for n in self.nodes}
        for e in self.edges.values():
            if not e.feedback:
                preds[e.target].add(e.source)
        order, done = [], set()
        # the input node first when nothing feeds it; then every node whose sources are done
        # (nodes that nothing feeds, e.g. of a circuit without input, in insertion order)
        ready = [first] if not preds[first] else []
        ready += [n for n in self.nodes if n != first and not preds[n]]
        pending = [n for n in self.nodes if n not in ready]
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
                "(it then reads the source's output on its current state)"
            )
        return order

    def _refuse_template_edges_with_other_rules(self) -> None:
        """Template edges take explicit Euler steps only: another method is refused, naming the
        edges (a circuit edge with a spread is one too: PyRates' gamma-kernel chain)."""
        dynamic = [e for e in self.edges.values() if e.dynamics is not None]
        if not dynamic or self.method == "euler":
            return
        from .circuits import GAMMA_OPERATOR

        names = ", ".join(e.label for e in dynamic[:3]) + (", ..." if len(dynamic) > 3 else "")
        spread = any(
            s.startswith(f"{GAMMA_OPERATOR}/") for e in dynamic for s in e.dynamics.model.states
        )
        raise NetworkError(
            f"the network has template edges ({names}), which take explicit Euler steps, but it "
            f"integrates with method={self.method!r}",
            hint="use Network(dt, method='euler') with template (plastic) edges"
            + (
                "; a circuit edge with a spread is one: PyRates' gamma-kernel delay, a chain of "
                "ODEs per connection"
                if spread
                else ""
            ),
        )

    def spec(
        self,
        records: dict | None = None,
        B: int = 1,
        train=None,
        mode: str = "subsample",
        events: frozenset = frozenset(),
    ) -> tuple[NetworkSpec, list[str]]:
        """The structure of the graph for a run.

        Parameters
        ----------
        records : dict, optional
            label -> ``((name, reduce), ...)`` recorded variables.
        B : int
            Number of trials.
        train : object, optional
            Training hook (``NetworkSpec.train``).
        mode : str
            Sampling mode.
        events : frozenset
            Event-driven couplings (:func:`rectinumba.propagation.choose`); none by default
            (the matvec path, which BPTT differentiates).

        Returns
        -------
        tuple of (NetworkSpec, list of str)
            The spec and the node labels in evaluation order.
        """
        inp, out = self.io_nodes()
        order = self.order(inp)
        index = {label: k for k, label in enumerate(order)}
        records = records or {}
        self._refuse_template_edges_with_other_rules()
        specs = []
        for label in order:
            node = self.nodes[label]
            rec = records.get(label, ())
            if isinstance(node, FuncNode):
                specs.append(FuncSpec(label, node.activation, rec))
                continue
            into = [e for e in self.edges.values() if e.target == label]
            driven_by_edges = any(e.target_var is None for e in into)
            coupled = node.coupling is not None
            specs.append(
                DiffEqSpec(
                    label,
                    node.model,
                    node.input_var if (label == inp or driven_by_edges) else None,
                    node.output_var,
                    node.source_var if coupled else None,
                    node.target_var if coupled else None,
                    node.coupling,
                    node.spike_var,
                    node.spike_def,
                    rec,
                    node.network_reset,
                    tuple(dict.fromkeys(e.target_var for e in into if e.target_var is not None)),
                    event=("J", label) in events,
                )
            )
        edges = tuple(
            EdgeSpec(
                index[e.source],
                index[e.target],
                e.fmt,
                e.feedback,
                e.source_var,
                e.target_var,
                _edge_model_spec(e, records.get(e.key, ())),
                e.delay_kind,
                event=("W", e.key) in events,
            )
            for e in self.edges.values()
        )
        row_par = B == 1 and any(
            isinstance(n, DiffEqNode)
            and n.coupling == "dense"
            and n.N >= ROW_PARALLEL_MIN
            and ("J", label) not in events
            for label, n in self.nodes.items()
        )
        spec = NetworkSpec(
            tuple(specs),
            edges,
            index[inp],
            index[out],
            parallel=B > 1,
            train=train,
            row_parallel=row_par,
            method=self.method,
            record_mode=mode,
            dtype=self.dtype.name,
        )
        return spec, order

    def compiled(
        self, records: dict, B: int, train=None, mode: str = "subsample", steps: int | None = None
    ) -> tuple:
        """The backend's kernel for a call, cached until the graph changes.

        Parameters
        ----------
        records : dict
            label -> ``((name, reduce), ...)`` recorded variables.
        B : int
            Number of trials.
        train : object, optional
            Training hook.
        mode : str
            Sampling mode.
        steps : int, optional
            Steps of the call (None: a long run); chooses event-driven couplings with the
            values of this call (:func:`rectinumba.propagation.choose`).

        Returns
        -------
        tuple
            (spec, order, rendered kernel, kernel).
        """
        events = choose_events(self, steps, train)
        key = (tuple(sorted(records.items(), key=repr)), B == 1, train, mode, events)
        found = self._compiled.get(key)
        if found is None:
            spec, order = self.spec(records, B, train, mode, events)
            rendered, kernel = self.backend.kernel(spec)
            found = self._compiled[key] = (spec, order, rendered, kernel)
        return found

    # ---- inputs and recordings ----------------------------------------------------------------
    def as_inputs(
        self, inputs, steps: int | None = None, trials: int | None = None
    ) -> tuple[np.ndarray, bool]:
        """Inputs as (B, T, n_in) and whether they were batched.

        Parameters
        ----------
        inputs : array_like or None
            (T, n_in), (B, T, n_in), or (T,) for one input; None for a network without input
            (``n_in == 0``), which then needs ``steps``.
        steps : int, optional
            Number of steps T: required without inputs, checked against them otherwise.
        trials : int, optional
            Number of trials B (batched results even for 1): without inputs, the default is
            one unbatched trial; checked against batched inputs otherwise.

        Returns
        -------
        tuple of (numpy.ndarray, bool)
            The inputs and whether they were batched (a NetworkError for anything else).
        """
        from .validate import integer

        m = self.nodes[self.io_nodes()[0]].n_in
        if steps is not None:
            steps = integer(steps, "steps", low=0)
        if trials is not None:
            trials = integer(trials, "trials", low=1)
        if inputs is None:
            if m:
                raise NetworkError(
                    f"the network takes inputs: give inputs of shape (T, {m}) or (B, T, {m})",
                    hint="steps= (and trials=) alone run networks whose input node takes no "
                    "input (n_in == 0)",
                )
            if steps is None:
                raise NetworkError(
                    "without inputs the number of steps is unknown: run(steps=T), or inputs of "
                    "shape (T, 0), or (B, T, 0) for B trials (the network takes no input, "
                    "n_in == 0)"
                )
            shape = (trials or 1, steps, 0)
            if shape[0] * shape[1] * self.dtype.itemsize >= 2**63:  # numpy's largest array
                raise NetworkError(f"steps={steps} with trials={trials or 1} is too many steps")
            return np.zeros(shape, self.dtype), trials is not None
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
        from . import compat

        x = compat.spread_input_columns(x, m)  # (T, 1): every input unit gets the column
        if x.shape[2] != m:
            hint = None
            if m == 0:
                hint = "the input node takes no input (n_in == 0): run(steps=T), or inputs of "
                hint += "shape (T, 0)"
            raise NetworkError(
                f"inputs have {x.shape[2]} columns but the input node takes {m}: expected shape "
                f"(T, {m}) or (B, T, {m}), got {np.shape(inputs)}",
                hint=hint,
            )
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            if x.size or np.iscomplexobj(x) or x.dtype == object:
                raise NetworkError(
                    f"inputs must be real numbers, got dtype {x.dtype}",
                    hint="the network input is real (a complex input variable takes it with a "
                    "zero imaginary part); set complex values with node_vars or set_var"
                    if np.iscomplexobj(x)
                    else None,
                )
            x = x.astype(self.dtype)  # an empty (T, 0) array of any number type
        if x.shape[0] == 0:
            # refused here, before anything runs: an empty batch would replace every state by
            # a (0, N) array
            raise NetworkError(f"inputs of shape {np.shape(inputs)} hold no trial (B = 0)")
        if steps is not None and steps != x.shape[1]:
            raise NetworkError(f"steps={steps} disagrees with inputs of {x.shape[1]} steps")
        if trials is not None and (not batched or trials != x.shape[0]):
            have = f"{x.shape[0]} trials" if batched else "unbatched inputs (T, n_in)"
            raise NetworkError(f"trials={trials} disagrees with {have}")
        return x, batched

    def resolve(self, recording: Recording) -> tuple[dict, list]:
        """Resolve a Recording's variables against the graph.

        Parameters
        ----------
        recording : Recording
            The settings.

        Returns
        -------
        tuple of (dict, list)
            ``{label: ((name, reduce), ...)}`` and ``((label, var), label, (name, reduce))`` per
            entry.
        """
        per_node: dict[str, list[tuple[str, bool]]] = {}
        keys = []
        for label, var, reduce in recording.vars:
            if isinstance(label, tuple):  # a template edge's variable, per connection
                edge = self.edges.get(label)
                if edge is None or edge.dynamics is None:
                    raise NetworkError(
                        f"record_vars: {label!r} is not a template edge (template edges: "
                        f"{[k for k, e in self.edges.items() if e.dynamics is not None]})"
                    )
                name = edge.dynamics.resolve(var, "record_vars")
                if name in edge.dynamics.values:
                    raise NetworkError(
                        f"record_vars: {var!r} of edge {edge.label} is one constant value per "
                        "edge; read it with get_edge(...).get_var(var)"
                    )
                item = (name, reduce)
                lst = per_node.setdefault(label, [])
                if item not in lst:
                    lst.append(item)
                keys.append(((label, var), label, item))
                continue
            node = self.nodes.get(label) if isinstance(label, str) else None
            if node is None:
                raise NetworkError(f"no node labelled {label!r} (nodes: {list(self.nodes)})")
            if isinstance(node, FuncNode):
                if var not in ("in", "out"):
                    raise NetworkError(
                        f"record_vars: function node variables are 'in' and 'out', got {var!r}",
                        node=label,
                    )
                name = var
            else:
                name = node.resolve(var, "record_vars")
            item = (name, reduce)
            lst = per_node.setdefault(label, [])
            if item not in lst:
                lst.append(item)
            keys.append(((label, var), label, item))
        return {k: tuple(v) for k, v in per_node.items()}, keys

    # ---- running ------------------------------------------------------------------------------
    def execute(
        self,
        x: np.ndarray,
        recording: Recording,
        *,
        verbose: bool = False,
        train=None,
        train_arrays=None,
        seed=None,
    ) -> RunResult:
        """Run the kernel over x (B, T, m); commit the new state only on success.

        Parameters
        ----------
        x : numpy.ndarray
            Inputs (B, T, m).
        recording : Recording
            What to record.
        verbose : bool
            Progress display for long runs.
        train : object, optional
            A training hook (NetworkSpec.train).
        train_arrays : dict, optional
            The ``detail`` of each hook argument -> array; details starting with ``"steps:"``
            are per-step arrays (B, T, ...) sliced per chunk.
        seed : int or sequence of int, optional
            Reseed the noise stream first (undone when the run fails).

        Returns
        -------
        RunResult
            The recordings.
        """
        if seed is None:
            return self._execute(x, recording, verbose, train, train_arrays)
        before = self.noise.copy()
        self.noise.reseed(seed)
        try:
            return self._execute(x, recording, verbose, train, train_arrays)
        except BaseException:
            self.noise = before
            raise

    def _execute(self, x, recording, verbose, train, train_arrays) -> RunResult:
        B, T, _ = x.shape
        records, keys = self.resolve(recording)
        spec, order, rendered, kernel = self.compiled(records, B, train, recording.mode, T)
        n_rec = recording.count(T)
        cutoff = recording.cutoff if n_rec else T + 1
        nodes = [self.nodes[label] for label in order]
        out_node = nodes[spec.output_node]
        out_dtype = (
            out_node.value_dtype(out_node.output_var)
            if isinstance(out_node, DiffEqNode)
            else self.dtype
        )
        try:  # working copies and recordings; nothing of the network has changed yet
            binding = Binding(
                nodes, list(self.edges.values()), B, self.dtype, self.carry, n_rec, train_arrays,
                dt=self.dt, step=self.step, noise=self.noise, columns=self._columns,
            )
            args = binding.bind(rendered.args)
            out_rec = np.zeros((B, n_rec, out_node.n_out), out_dtype)
        except (MemoryError, ValueError) as err:
            if not isinstance(err, MemoryError) and "too big" not in str(err):
                raise  # numpy says "array is too big" for shapes beyond its largest size
            raise NetworkError(
                f"a run of {T} steps and {B} trial(s) with {n_rec} recorded steps does not fit in "
                f"memory ({err})",
                hint="record less (sampling_steps=, record_output=False, fewer record_vars), "
                "fewer trials, or run in shorter segments",
            ) from None
        status = np.zeros((B, 5), np.int64)
        chunk = CHUNK_STEPS if T > CHUNK_STEPS else max(T, 1)
        per_step = [
            j
            for j, a in enumerate(rendered.args)
            if a.role == "train" and str(a.detail).startswith("steps:")
        ] if train is not None else ()
        dt = self.dtype.type(self.dt)
        with Progress(T, "simulating", verbose and T > chunk) as bar:
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
                    self.step + s0,
                    s0,
                    dt,
                    cutoff,
                    recording.sampling,
                    xc,
                    out_rec,
                    status,
                    *call,
                )
                if status[:, 0].any():
                    self.raise_status(status, spec, order, B)
                bar.update(xc.shape[1])
        recording.finish([out_rec, *binding.recs.values()], T)
        binding.commit(self.carry)
        self.step += T
        self.noise.step += T
        return RunResult(out_rec, binding.recs, keys)

    def raise_status(self, status, spec: NetworkSpec, order: list[str], B: int) -> None:
        """Raise the SimulationError a kernel's status rows describe (the first failed trial).

        Parameters
        ----------
        status : numpy.ndarray
            (B, 5) rows (code, step, node, state, neuron).
        spec : NetworkSpec
            The network.
        order : list of str
            Node labels in evaluation order.
        B : int
            Number of trials.
        """
        from .backends.status import EDGE_NONFINITE, RLS_NONFINITE, describe, describe_rls

        b = int(np.flatnonzero(status[:, 0])[0])
        code, step, k, j, neuron = (int(v) for v in status[b])
        if code == EDGE_NONFINITE:
            edge = list(self.edges.values())[k]
            dyn = edge.dynamics
            var = dyn.model.states[j]
            row, col = int(dyn.rows[neuron]), int(dyn.cols[neuron])
            trial = f", trial {b}" if B > 1 else ""
            raise SimulationError(
                f"state variable {var!r} of edge {edge.label} became non-finite (NaN or inf) at "
                f"step {step} (connection from source neuron {col} to target neuron {row}"
                f"{trial}); the network keeps the state it had before this run",
                variable=var,
                hint="a smaller dt, other edge parameters or initial values may keep it finite",
            )
        if code == RLS_NONFINITE:
            edge = list(self.edges.values())[k]
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
            if code in (RLS_NONFINITE, EDGE_NONFINITE):
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

    # ---- state --------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget carried values and histories and restart the step counter (node states are the
        nodes'; the noise stream continues, see :mod:`rectinumba.noise`)."""
        self.carry.clear()
        self.step = 0

    @contextmanager
    def transaction(self, *arrays: np.ndarray) -> Iterator[None]:
        """Undo everything a failing block did to states, carried values and the step counter.

        Parameters
        ----------
        *arrays : numpy.ndarray
            Arrays restored in place too (e.g. weights that a training kernel updates).

        Yields
        ------
        None
            Control to the block.
        """
        from .training.snapshot import restore_state, snapshot_state

        start = snapshot_state(self)
        saved = [(a, a.copy()) for a in arrays]
        try:
            yield
        except BaseException:
            restore_state(self, start)
            for a, copy in saved:
                a[...] = copy
            raise
        finally:
            if arrays:  # weights changed in place: their cached column forms are stale
                self._columns.clear()
