"""The Network: a graph of diff-eq populations and function layers joined by weighted edges.

Building a network is plain Python (no numba). Execution lives in :mod:`rectinumba.runner` (plan
cache, argument binding, chunked kernel calls, status mapping, rollback); training in the trainer
objects of :mod:`rectinumba.training`, to which ``fit_*``, ``test`` and ``bptt_*`` delegate.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .codegen.spec import METHODS
from .edges import Edge, orient_weights
from .errors import BackendError, NetworkError
from .nodes import DiffEqNode, FuncNode
from .recording import Recording
from .runner import CHUNK_STEPS, Runner
from .training.bptt import BPTTTrainer
from .training.readout import Evaluator, RidgeTrainer, RLSTrainer
from .validate import as_choice
from .weights import is_sparse

__all__ = ["Network", "CHUNK_STEPS"]

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


def _trainer(cls, method: str):
    """A Network method that hands its arguments to a trainer object (same signature and docs)."""
    target = getattr(cls, method)

    @functools.wraps(target)
    def call(self, *args, **kwargs):
        return getattr(cls(self, self._runner), method)(*args, **kwargs)

    return call


class Network:
    """A recurrent network of rate or spiking neuron populations and function layers.

    Parameters
    ----------
    dt : float
        Integration step, > 0.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    dtype : numpy dtype
        ``np.float64`` (default) or ``np.float32`` for states, weights, inputs and recordings.
    method : str
        Update rule: ``"euler"`` (default, explicit Euler), ``"heun"`` (RK2), ``"rk4"``
        (classic Runge-Kutta) or ``"exp_euler"`` (exponential Euler, for equations linear in
        their own state). See README "Step semantics" for how stages treat inputs and spikes.

    Examples
    --------
    >>> import numpy as np
    >>> from rectinumba import Network
    >>> net = Network(dt=1e-2, method="rk4")
    >>> net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op", N=3,
    ...                     input_var="I_ext", output_var="v")
    DiffEqNode('li', li_op, N=3, rate)
    >>> net.run(np.ones((100, 3)), verbose=False)["out"].shape
    (100, 3)
    """

    def __init__(
        self, dt: float, device: str = "cpu", dtype=np.float64, method: str = "euler"
    ) -> None:
        dt = self._check_dt(dt)
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise NetworkError(f"dtype must be float64 or float32, got {dtype}")
        method = as_choice(method, "method", METHODS)
        self.dtype = dtype
        self.device = device
        self._backend = self._make_backend(device)
        self._nodes: dict[str, DiffEqNode | FuncNode] = {}
        self._edges: dict[tuple[str, str], Edge] = {}
        self._runner = Runner(self._nodes, self._edges, self._backend, dt, dtype, method)

    @staticmethod
    def _check_dt(dt) -> float:
        try:
            dt = float(dt)
        except (TypeError, ValueError):
            raise NetworkError(f"dt must be a number, got {dt!r}") from None
        if not np.isfinite(dt) or dt <= 0:
            raise NetworkError(f"dt must be a positive, finite number, got {dt!r}")
        return dt

    @property
    def dt(self) -> float:
        """Integration step (> 0; may be changed between runs)."""
        return self._runner.dt

    @dt.setter
    def dt(self, value: float) -> None:
        self._runner.dt = self._check_dt(value)

    @property
    def method(self) -> str:
        """Update rule (see :class:`Network`; may be changed between runs)."""
        return self._runner.method

    @method.setter
    def method(self, value: str) -> None:
        self._runner.method = as_choice(value, "method", METHODS)
        self._changed()  # the rule is part of the generated kernels

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
        """A Network holding one diff-eq node (RectiPy's main entry point).

        The same as ``Network(dt, device)`` followed by ``add_diffeq_node(label, node, ...)``.

        Parameters
        ----------
        node : str or NodeTemplate or OperatorTemplate
            Template path or template.
        weights : array_like or scipy.sparse matrix, optional
            (N, N) coupling J.
        source_var, target_var : str, optional
            Variables coupled by J.
        input_var, output_var : str, optional
            Variable receiving the network input; variable that is the output.
        dt : float
            Integration step.
        device : str
            ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        label : str
            Label of the node.
        **kwargs
            ``dtype`` and ``method`` for the Network; everything else for
            :meth:`add_diffeq_node`.

        Returns
        -------
        Network
            The network.
        """
        dtype = kwargs.pop("dtype", np.float64)
        method = kwargs.pop("method", "euler")
        net = cls(dt, device=device, dtype=dtype, method=method)
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
        self._runner.changed()

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
        label : str
            Node label.
        node : str or NodeTemplate or OperatorTemplate
            Dot path (``"model_templates.rate_neurons.leaky_integrator.tanh"``), file path, or
            template.
        input_var : str, optional
            Variable receiving the node's input (edges, or the network input).
        output_var : str
            Variable that is the node's output (a state or an algebraic variable, taken from the
            state before the step's update).
        weights : array_like or scipy.sparse matrix, optional
            (N, N) coupling J: ``target_i = sum_j J[i, j] source_j``.
        source_var : str, optional
            Variable whose values J couples.
        target_var : str, optional
            Input variable receiving the coupling.
        spike_var : str, optional
            Input variable receiving spikes (1/dt where a neuron spiked); with ``spike_def`` it
            makes the node spiking.
        spike_def : str, optional
            State that defines spikes: ``spike_def >= spike_threshold``.
        spike_threshold : float
            Spike threshold (tested on the state before the step).
        spike_reset : float
            Value ``spike_def`` is reset to after the step where a neuron spiked.
        op : str, optional
            Operator whose variables bare names refer to.
        train_params : sequence of str, optional
            Parameters trained by fit_bptt (``"weights"`` means J).
        node_vars : dict, optional
            Parameter or initial-state values: scalar, (N,), (B, N) or (B, 1).
        record_vars : sequence of str, optional
            Variables this node offers for recording (validated here).
        N : int, optional
            Population size when no weights are given.
        **kwargs
            ``spike_slope`` (surrogate gradient slope), ``sparse`` (force CSR/dense coupling).

        Returns
        -------
        DiffEqNode
            The node.

        Examples
        --------
        >>> import numpy as np
        >>> from rectinumba import Network
        >>> net = Network(dt=1e-3)
        >>> J = np.random.default_rng(0).standard_normal((5, 5))
        >>> net.add_diffeq_node("lif", "model_templates.spiking_neurons.lif.lif", weights=J,
        ...                     source_var="s", target_var="s_in", input_var="I_ext",
        ...                     output_var="s", op="lif_op", spike_var="spike", spike_def="v")
        DiffEqNode('lif', lif, N=5, spiking)
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
        """Add a layer of ``n`` units applying ``activation_function`` to their summed input.

        Parameters
        ----------
        label : str
            Node label.
        n : int
            Number of units.
        activation_function : str
            One of identity, tanh, sigmoid, relu, softplus, softmax, softmin, log_softmax.

        Returns
        -------
        FuncNode
            The node.
        """
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

        Parameters
        ----------
        source : str
            Label of the source node.
        target : str
            Label of the target node.
        weights : array_like or scipy.sparse matrix, optional
            (n_target, n_source) (a non-square (n_source, n_target) array is transposed);
            default: standard normal draws from numpy's global generator.
        train : str, optional
            None (static), ``"gd"`` (trained by fit_bptt) or ``"rls"`` (trained by fit_rls).
        mask : array_like, optional
            Multiplies the weights element-wise.
        feedback : bool
            The edge delivers the source's output evaluated on its current state (the state
            after the previous step's update; see README "Step semantics"), and does not count
            for the evaluation order (it may close a cycle).
        **kwargs
            ``sparse`` (force CSR or dense), ``seed`` (for default weights).

        Returns
        -------
        Edge
            The edge.
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
        """(source, target) pairs of the edges in insertion order."""
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
        """The node labelled ``label``.

        Parameters
        ----------
        label : str
            Node label.

        Returns
        -------
        DiffEqNode or FuncNode
            The node (a NetworkError lists the labels when there is none).
        """
        try:
            return self._nodes[label]
        except (KeyError, TypeError):
            raise NetworkError(f"no node labelled {label!r} (nodes: {self.nodes})") from None

    def get_edge(self, source: str, target: str) -> Edge:
        """The edge from ``source`` to ``target``.

        Parameters
        ----------
        source : str
            Label of the source node.
        target : str
            Label of the target node.

        Returns
        -------
        Edge
            The edge (a NetworkError lists the edges when there is none).
        """
        try:
            return self._edges[(source, target)]
        except KeyError:
            raise NetworkError(f"no edge {source!r} -> {target!r} (edges: {self.edges})") from None

    def pop_node(self, label: str) -> DiffEqNode | FuncNode:
        """Remove a node and every edge touching it.

        Parameters
        ----------
        label : str
            Node label.

        Returns
        -------
        DiffEqNode or FuncNode
            The removed node.
        """
        node = self.get_node(label)
        for key in [k for k in self._edges if label in k]:
            del self._edges[key]
        del self._nodes[label]
        self._runner.forget(label)
        self._changed()
        return node

    def pop_edge(self, source: str, target: str) -> Edge:
        """Remove the edge from ``source`` to ``target``.

        Parameters
        ----------
        source : str
            Label of the source node.
        target : str
            Label of the target node.

        Returns
        -------
        Edge
            The removed edge.
        """
        edge = self.get_edge(source, target)
        del self._edges[(source, target)]
        self._changed()
        return edge

    def clear(self) -> None:
        """Remove all nodes and edges."""
        self._nodes.clear()
        self._edges.clear()
        self._runner.reset()
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
        """Value of a state, parameter or undriven input of a diff-eq node.

        Parameters
        ----------
        node : str
            Node label.
        var : str
            ``"var"``, ``"op/var"`` or ``"weights"`` (the coupling J).

        Returns
        -------
        numpy.ndarray or scipy.sparse matrix
            A copy: (N,), or (B, N) after a batched run; J as stored.
        """
        return self._diffeq(node).get(var)

    def set_var(self, node: str, var: str, value) -> None:
        """Set a state, parameter, undriven input, or ``"weights"`` (J) of a diff-eq node.

        Parameters
        ----------
        node : str
            Node label.
        var : str
            ``"var"``, ``"op/var"`` or ``"weights"``.
        value : float or array_like
            A scalar, (N,), (B, N) or (B, 1) values; for ``"weights"`` an (N, N) matrix.
        """
        n = self._diffeq(node)
        fmt = n.coupling
        n.set(var, value)
        if n.coupling != fmt:
            self._changed()

    def reset(self, state: dict[str, np.ndarray] | None = None) -> None:
        """Return to the templates' initial values and node_vars.

        Also forgets carried feedback values and restarts the time at 0.

        Parameters
        ----------
        state : dict, optional
            label -> flat state vector (as :attr:`state` gives it), set afterwards.
        """
        for node in self._nodes.values():
            if isinstance(node, DiffEqNode):
                node.reset()
        self._runner.reset()
        if state is not None:
            for label, flat in state.items():
                self._diffeq(label).load_flat_state(flat)

    # ---- compilation -------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        """Input dimension (size of the input node); valid before compile."""
        return self._nodes[self._runner.io_nodes()[0]].n_in

    @property
    def n_out(self) -> int:
        """Output dimension (size of the output node); valid before compile."""
        return self._nodes[self._runner.io_nodes()[1]].n_out

    def compile(self) -> Network:
        """Check the graph, render and compile its kernel (done by run/forward when needed).

        Returns
        -------
        Network
            The network itself.
        """
        self._runner.compiled({}, 1)
        return self

    # ---- running -----------------------------------------------------------------------------
    def run(
        self,
        inputs,
        sampling_steps: int = 1,
        cutoff: int = 0,
        verbose: bool = True,
        record_output: bool = True,
        record_vars: Sequence[tuple] | None = None,
        sampling_mode: str = "subsample",
        **kwargs,
    ):
        """Simulate ``T`` steps; returns an :class:`~rectinumba.observer.Observer`.

        Parameters
        ----------
        inputs : array_like
            (T, n_in), or (B, T, n_in) for B independent trials in one kernel call.
        sampling_steps : int
            Steps between two recordings.
        cutoff : int
            Steps simulated before recording starts; recordings are at steps
            ``cutoff, cutoff + sampling_steps, ...``.
        verbose : bool
            Progress display for long runs.
        record_output : bool
            Record the network output (``obs["out"]``).
        record_vars : sequence of tuple, optional
            ``(node, var)`` or ``(node, var, reduce)`` entries; ``reduce=True`` records the mean
            over neurons. States are recorded after the update; algebraic and input variables as
            computed during the step.
        sampling_mode : str
            ``"subsample"`` (default): the value at each recording step; ``"average"``: the mean
            over each window of ``sampling_steps`` steps (RectiPy 0.12.2), computed in the kernel.
        **kwargs
            None accepted (a NetworkError names unknown keywords).

        Returns
        -------
        Observer
            The recordings.

        Examples
        --------
        >>> import numpy as np
        >>> from rectinumba import Network
        >>> net = Network(dt=1e-2)
        >>> net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op",
        ...                     N=2, input_var="I_ext", output_var="v")
        DiffEqNode('li', li_op, N=2, rate)
        >>> obs = net.run(np.ones((100, 2)), sampling_steps=10, record_vars=[("li", "v", True)],
        ...               sampling_mode="average", verbose=False)
        >>> obs["out"].shape, obs[("li", "v")].shape
        ((10, 2), (10,))
        """
        if kwargs:
            raise NetworkError(f"run got unknown keyword argument(s) {sorted(kwargs)}")
        recording = Recording.make(
            sampling_steps, cutoff, record_output, record_vars, sampling_mode
        )
        x, batched = self._runner.as_inputs(inputs)
        res = self._runner.execute(x, recording, verbose=verbose)
        return recording.observer(self.dt, res.out, res.recs, res.keys, batched)

    def forward(self, x) -> np.ndarray:
        """One step.

        Parameters
        ----------
        x : array_like
            Input of shape (n_in,), or (B, n_in) for B trials.

        Returns
        -------
        numpy.ndarray
            The output of the step: (n_out,) or (B, n_out).
        """
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
        out = self._runner.execute(x3, Recording()).out
        return out[:, 0] if batched else out[0, 0]

    # ---- training (trainer objects in rectinumba.training; RectiPy's method names) ----------
    fit_ridge = _trainer(RidgeTrainer, "fit")
    fit_rls = _trainer(RLSTrainer, "fit")
    test = _trainer(Evaluator, "test")
    fit_bptt = _trainer(BPTTTrainer, "fit")
    bptt_gradients = _trainer(BPTTTrainer, "gradients")
    bptt_parameters = _trainer(BPTTTrainer, "parameters")

    def __repr__(self) -> str:
        return (
            f"Network(dt={self.dt}, device={self.device!r}, method={self.method!r}, "
            f"nodes={self.nodes}, edges={self.edges})"
        )
