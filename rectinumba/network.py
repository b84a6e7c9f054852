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

from . import compat
from .codegen.spec import METHODS
from .edge_model import attach_dynamics
from .edges import Edge, default_weights, orient_weights, resolve_endpoints
from .errors import BackendError, EdgeNotFoundError, NetworkError, NodeNotFoundError
from .history import HistoryMethods
from .locking import exclusive, new_lock
from .names import check_name
from .nodes import DiffEqNode, FuncNode, check_edge_values
from .propagation import check_mode
from .recording import Recording
from .runner import CHUNK_STEPS, Runner
from .training.bptt import BPTTTrainer
from .training.readout import Evaluator, RidgeTrainer, RLSTrainer
from .validate import MAX_UNITS, choice, integer, number, real_array
from .weights import is_sparse

__all__ = ["Network", "CHUNK_STEPS"]

def _node_template(node):
    """The template (or NodeModel) that ``node`` names; a circuit or edge template is refused
    with a message that says where it belongs."""
    from .equations import NodeModel
    from .templates import CircuitTemplate, EdgeTemplate, NodeTemplate, OperatorTemplate

    template = node
    if isinstance(node, str):
        from .templates.loader import load_template

        template = load_template(node)
    if isinstance(template, (NodeTemplate, OperatorTemplate, NodeModel)):
        return template
    if isinstance(template, CircuitTemplate):
        raise NetworkError(
            f"node {template.name!r} is a CircuitTemplate (a network of nodes and edges), not a "
            "node",
            hint="build it with Network.from_circuit(circuit, ...) or add it to a network with "
            "net.add_circuit(circuit, ...)",
        )
    if isinstance(template, EdgeTemplate):
        raise NetworkError(
            f"node {template.name!r} is an EdgeTemplate (equations on a connection), not a node",
            hint="give it to add_edge(..., template=...) or, for plastic recurrent coupling, to "
            "add_diffeq_node(..., weights=J, edge_template=...)",
        )
    raise NetworkError(
        f"node must be a template path, a NodeTemplate or an OperatorTemplate, got {node!r}"
    )


def _load_model(node):
    """NodeModel (or its StoredModel stand-in) for a template path, template or NodeModel."""
    from .equations import NodeModel
    from .equations.stored import load_model

    template = _node_template(node)
    return template if isinstance(template, NodeModel) else load_model(template)


def _is_circuit(node) -> bool:
    """Whether ``node`` is a CircuitTemplate or the path of one."""
    from .templates import CircuitTemplate

    if isinstance(node, str):
        from .templates.loader import load_template

        node = load_template(node)
    return isinstance(node, CircuitTemplate)


def _trainer(cls, method: str, name: str, lock: bool = True):
    """The Network method ``name`` that hands its arguments to a trainer object (same signature
    and docs); ``lock``: the call holds the network (one call at a time,
    :mod:`rectinumba.locking`)."""
    target = getattr(cls, method)

    @functools.wraps(target)
    def call(self, *args, **kwargs):
        return getattr(cls(self, self._runner), method)(*args, **kwargs)

    # the network's name for it (a busy network names the call that holds it: "fit_rls()")
    call.__name__, call.__qualname__ = name, f"Network.{name}"
    return exclusive(call) if lock else call


#: calls that update trained arrays in place while they run: a copy taken meanwhile from another
#: thread would hold part-trained weights
_UPDATES_IN_PLACE = ("fit_rls()", "fit_bptt()")


class Network(compat.RectiPyMethods, HistoryMethods):
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
        Models with white noise (``xi``) integrate by Euler-Maruyama (``"euler"`` only).
    seed : int or sequence of int, optional
        Seed of the noise of noisy models (:attr:`seed`); None draws one from the operating
        system's entropy.

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
        self, dt: float, device: str = "cpu", dtype=np.float64, method: str = "euler", seed=None
    ) -> None:
        from .noise import NoiseStream

        dt = self._check_dt(dt)
        dtype = compat.as_float_dtype(dtype)
        method = choice(method, "method", METHODS)
        noise = NoiseStream(seed)
        self.dtype = dtype
        self.device = device
        self._nodes: dict[str, DiffEqNode | FuncNode] = {}
        self._edges: dict[tuple[str, str], Edge] = {}
        backend = self._make_backend(device)
        self._runner = Runner(self._nodes, self._edges, backend, dt, dtype, method, noise)
        self._call_lock = new_lock()  # one call at a time (rectinumba.locking)
        self._busy_with: str | None = None

    def __getstate__(self) -> dict:
        # copies of a busy network are allowed (each thread its own network: rectinumba.locking),
        # except while a training call of another thread updates the weights in place
        if self._call_lock.acquire(blocking=False):
            self._call_lock.release()
        elif self._busy_with in _UPDATES_IN_PLACE:
            raise NetworkError(
                f"cannot copy or pickle the network while {self._busy_with} in another thread "
                "updates its weights in place: the copy would hold part-trained weights",
                hint="copy it before or after the training call",
            )
        state = dict(self.__dict__)
        state.pop("_call_lock", None)  # a lock cannot be pickled; a copy gets its own
        state["_busy_with"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._call_lock = new_lock()

    @staticmethod
    def _check_dt(dt) -> float:
        dt = number(dt, "dt")
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
    def seed(self):
        """Seed of the noise of noisy models: an int, or one int per trial.

        Trial ``b`` of a run draws its noise from :func:`rectinumba.noise.trial_key`
        ``(seed, b)`` (one seed per trial: from its own seed alone). Setting it (here, or with
        ``run(..., seed=...)``) restarts the noise stream; runs without a seed continue it, so two
        runs of T steps equal one of 2T; ``reset()`` leaves it alone. See :mod:`rectinumba.noise`.
        """
        return self._runner.noise.seed

    @seed.setter
    def seed(self, value) -> None:
        self._runner.noise.reseed(value)

    @property
    def method(self) -> str:
        """Update rule (see :class:`Network`; may be changed between runs)."""
        return self._runner.method

    @method.setter
    def method(self, value: str) -> None:
        self._runner.method = choice(value, "method", METHODS)
        self._changed()  # the rule is part of the generated kernels

    @property
    def _backend(self):
        """The backend (held by the runner, which runs its kernels: one place, never two)."""
        return self._runner.backend

    @_backend.setter
    def _backend(self, backend) -> None:
        self._runner.backend = backend
        self._runner.changed()

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

        Examples
        --------
        RectiPy's first lines, with only the import changed (``"rnn"`` is the node's label):

        >>> import numpy as np
        >>> from rectinumba import Network
        >>> J = np.random.default_rng(0).standard_normal((5, 5))
        >>> net = Network.from_yaml(
        ...     "neuron_model_templates.rate_neurons.leaky_integrator.tanh", weights=J,
        ...     source_var="tanh_op/r", target_var="li_op/r_in", input_var="li_op/I_ext",
        ...     output_var="li_op/v", dt=1e-2, node_vars={"li_op/tau": 2.0})
        >>> net.nodes, net.n_in, net.n_out
        (['rnn'], 5, 5)
        >>> net.get_var("rnn", "li_op/tau")
        array([2., 2., 2., 2., 2.])
        """
        dtype = kwargs.pop("dtype", kwargs.get("float_precision", np.float64))
        method = kwargs.pop("method", "euler")
        if _is_circuit(node):
            if weights is not None or source_var is not None or target_var is not None:
                raise NetworkError(
                    "from_yaml got a CircuitTemplate: its edges are its coupling; weights, "
                    "source_var and target_var belong to a single node"
                )
            return cls.from_circuit(
                node, dt=dt, device=device, dtype=dtype, method=method, input_var=input_var,
                output_var=output_var, **kwargs,
            )  # fmt: skip
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

    @classmethod
    def from_circuit(
        cls,
        circuit,
        dt: float = 1e-3,
        N=1,
        input_var: str | None = None,
        output_var: str | None = None,
        node_vars: dict[str, Any] | None = None,
        device: str = "cpu",
        dtype=np.float64,
        method: str = "euler",
        **kwargs,
    ) -> Network:
        """A Network of a PyRates circuit: one diff-eq node per circuit node, one edge per edge.

        See :mod:`rectinumba.circuits` for the semantics (PyRates' edges, weights, delays,
        gamma-kernel spreads, edge templates, nested circuits, evaluation order) and what is
        refused.

        Parameters
        ----------
        circuit : str or CircuitTemplate
            The circuit (``"model_templates.neural_mass_models.jansenrit.JRC"``) or template.
        dt : float
            Integration step.
        N : int or dict
            Units per node: one value for all, or node path -> value (1: PyRates' mean-field
            unit). Edges between populations deliver ``weight`` times the source's mean.
        input_var : str, optional
            ``node/op/var`` receiving the network input (``inputs`` of ``run`` have N columns
            of that node); its node becomes :attr:`input_node`. Without it the network takes
            no input: ``run(steps=T)``.
        output_var : str, optional
            ``node/op/var`` whose values are the network output (:attr:`output_node`); default:
            the first declared output of the first node.
        node_vars : dict, optional
            PyRates' ``node/op/var`` or ``all/op/var`` -> value (scalar, or one per unit).
        device : str
            ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        dtype : numpy dtype
            ``np.float64`` or ``np.float32``.
        method : str
            Update rule (``"euler"`` when the circuit has edge templates or spreads).
        **kwargs
            ``node_kwargs`` (node path -> further add_diffeq_node keywords, e.g. spike_var and
            spike_def for spiking populations); see :meth:`add_circuit`.

        Returns
        -------
        Network
            The network.

        Examples
        --------
        >>> from rectinumba import Network
        >>> net = Network.from_circuit("model_templates.neural_mass_models.qif.qif_ei",
        ...                            dt=1e-3, input_var="e/qif_op/I_ext",
        ...                            output_var="e/qif_op/r")
        >>> net.nodes, net.input_node, net.output_node
        (['e', 'i'], 'e', 'e')
        """
        net = cls(dt, device=device, dtype=dtype, method=method)
        labels = net.add_circuit(circuit, N=N, input_var=input_var, output_var=output_var,
                                 node_vars=node_vars, **kwargs)  # fmt: skip
        # without input_var the first node is the input node (it takes none: n_in is 0); without
        # output_var the first node's output is the network output
        if input_var is None:
            net.input_node = labels[0]
        if output_var is None:
            net.output_node = labels[0]
        return net

    @exclusive
    def add_circuit(
        self,
        circuit,
        N=1,
        input_var: str | None = None,
        output_var: str | None = None,
        node_vars: dict[str, Any] | None = None,
        node_kwargs: dict[str, dict] | None = None,
        prefix: str | None = None,
    ) -> list[str]:
        """Add the nodes and edges of a circuit (see :meth:`from_circuit`).

        Parameters
        ----------
        circuit : str or CircuitTemplate
            The circuit or its path.
        N : int or dict
            Units per node (or node path -> units).
        input_var, output_var : str, optional
            ``node/op/var`` of the network input and output (they choose :attr:`input_node`
            and :attr:`output_node`).
        node_vars : dict, optional
            ``node/op/var`` (``all/op/var``) -> value.
        node_kwargs : dict, optional
            Node path -> further :meth:`add_diffeq_node` keywords.
        prefix : str, optional
            Label prefix: node ``pc`` becomes ``prefix/pc``.

        Returns
        -------
        list of str
            The labels of the new nodes.
        """
        from .circuits import build_circuit

        return build_circuit(
            self, circuit, N=N, input_var=input_var, output_var=output_var, node_vars=node_vars,
            node_kwargs=node_kwargs, prefix=prefix,
        )  # fmt: skip

    def _adopt(self, other: Network) -> None:
        """Move the nodes and edges of a scratch network (built by the circuit builder) here."""
        self._nodes.update(other._nodes)
        self._edges.update(other._edges)
        self._changed()

    # ---- building ------------------------------------------------------------------------
    def _check_label(self, label: str) -> None:
        check_name(label, "node label", NetworkError)
        if label in self._nodes:
            raise NetworkError(
                f"a node labelled {label!r} exists already; pop_node it first", node=label
            )

    def _changed(self) -> None:
        """The graph changed: compiled plans are stale."""
        self._runner.changed()

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
            (N, N) coupling J (copied): ``target_i = sum_j J[i, j] source_j``.
            ``get_var(label, "weights")`` returns J in the form given.
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
            Value ``spike_def`` is reset to after the step where a neuron spiked. RectiPy 0.12's
            ``reset_var`` (= ``spike_def``) and ``reset=False`` (the template resets itself) are
            accepted too, see :func:`rectinumba.compat.diffeq_node_options`.
        op : str, optional
            Operator whose variables bare names refer to.
        train_params : sequence of str, optional
            Parameters trained by fit_bptt (``"weights"`` means J).
        node_vars : dict, optional
            Parameter or initial-state values (copied): a scalar, (N,) per neuron (a 1-D array
            is always per neuron), or per trial (B, 1) or (B, N).
        record_vars : sequence of str, optional
            Variables this node offers for recording (validated here).
        N : int, optional
            Population size when no weights are given.
        **kwargs
            ``spike_slope`` (surrogate gradient slope), ``sparse`` (force CSR or dense
            coupling), ``propagation`` (``"auto"``, ``"event"``: spikes add columns of J to a
            coupling kept per neuron, or ``"matvec"``; see :doc:`/guide/performance`),
            template variable overrides (``tau=2.0``), and RectiPy's keywords
            (:mod:`rectinumba.compat`). Without ``sparse``, a J in ``train_params`` keeps the form
            it was given: a dense array stays dense and all N x N entries are trained; a
            scipy.sparse matrix keeps its sparsity structure (only its stored entries are trained,
            zeros elsewhere stay zero). A static dense J of at least 100 x 100 with under 20 %
            non-zeros is stored as CSR for speed.

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
        # what the node is comes first: a circuit or edge template would otherwise be told
        # about node arguments (output_var, N) that do not apply to it
        node = _node_template(node)
        if output_var is None:
            raise NetworkError("add_diffeq_node needs output_var", node=label)
        plastic = compat.plastic_coupling_options(label, kwargs)
        if plastic is not None:  # RectiPy 0.12's edge_template: J becomes a template self-edge
            return self._add_plastic_node(
                label, node, weights, source_var, target_var, train_params, plastic,
                input_var=input_var, output_var=output_var, spike_var=spike_var,
                spike_def=spike_def, spike_threshold=spike_threshold, spike_reset=spike_reset,
                op=op, node_vars=node_vars, record_vars=record_vars, N=N, **kwargs,
            )  # fmt: skip
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
            propagation=opts.propagation,
            train_params=train_params,
            node_vars=opts.node_vars,
            record_vars=record_vars,
            op=op,
            dtype=self.dtype,
        )
        self._nodes[label] = new
        self._changed()
        return new

    def _add_plastic_node(self, label, node, weights, source_var, target_var, train_params,
                          plastic, **kwargs) -> DiffEqNode:  # fmt: skip
        """A node whose recurrent coupling is a template edge onto itself (feedback: it reads
        ``source_var`` on the current state, as the coupling does)."""
        if weights is None or source_var is None or target_var is None:
            raise NetworkError(
                "edge_template makes the recurrent coupling plastic: give weights, source_var "
                "and target_var too",
                node=label,
            )
        if "weights" in (train_params or ()):
            raise NetworkError(
                "train_params names 'weights', but a coupling with an edge_template follows "
                "its template's equations",
                node=label,
            )
        shape = tuple(getattr(weights, "shape", None) or np.shape(weights))
        if kwargs.get("N") is None and len(shape) == 2:
            kwargs["N"] = shape[0]
        sparse = kwargs.get("sparse")
        new = self.add_diffeq_node(label, node, train_params=train_params, **kwargs)
        try:
            self.add_edge(
                label, label, weights, feedback=True, sparse=sparse,
                source_var=new.resolve(source_var, "source_var"),
                target_var=new.resolve(target_var, "target_var"), **plastic,
            )  # fmt: skip
        except BaseException:
            del self._nodes[label]
            self._changed()
            raise
        return new

    @exclusive
    def add_func_node(
        self, label: str, n: int, activation_function: str = "identity", **kwargs
    ) -> FuncNode:
        """Add a layer of ``n`` units applying ``activation_function`` to their summed input.

        Parameters
        ----------
        label : str
            Node label.
        n : int
            Number of units.
        activation_function : str
            One of identity, tanh, sigmoid, relu, softplus, softmax, softmin, log_softmax.
        **kwargs
            RectiPy's ``dim``/``node_type`` (:func:`rectinumba.compat.func_node_options`).

        Returns
        -------
        FuncNode
            The node.

        Examples
        --------
        A softmax readout of three diff-eq neurons (see :meth:`add_edge`):

        >>> import numpy as np
        >>> from rectinumba import Network
        >>> net = Network(dt=1e-2)
        >>> net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op",
        ...                     N=3, input_var="I_ext", output_var="v")
        DiffEqNode('li', li_op, N=3, rate)
        >>> net.add_func_node("out", 2, activation_function="softmax")
        FuncNode('out', n=2, softmax)
        >>> net.add_edge("li", "out", weights=np.ones((2, 3)))
        Edge('li' -> 'out', (2, 3), train=None)
        >>> net.output_node, net.n_out
        ('out', 2)
        """
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
        delay=None,
        delay_steps=None,
        *,
        source_var: str | None = None,
        target_var: str | None = None,
        template=None,
        edge_inputs: dict[str, str] | None = None,
        edge_vars: dict[str, Any] | None = None,
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
            (n_target, n_source) (a non-square (n_source, n_target) array is transposed;
            copied); default: standard normal draws from numpy's global generator (zeros for
            ``train="rls"``, as RectiPy). Trained weights keep the form given (see
            :meth:`add_diffeq_node`).
        train : str, optional
            None (static), ``"gd"`` (trained by fit_bptt) or ``"rls"`` (trained by fit_rls).
        mask : array_like, optional
            Multiplies the weights element-wise.
        feedback : bool
            The edge delivers the source's output evaluated on its current state (the state
            after the previous step's update; see README "Step semantics"), and does not count
            for the evaluation order (it may close a cycle).
        delay : float or array_like, optional
            Transmission delay in time units (as dt): a scalar, one per target unit
            (n_target,), or one per connection (n_target, n_source). Rounded to whole steps when
            a run starts, ``k = round(delay / dt)`` (halves to even): the target receives the
            source's output of k steps before (nothing, 0, before the first step); 0 steps is
            no delay. Delayed edges are static (not trained).
        delay_steps : int or array_like, optional
            The same in whole steps (give one of ``delay`` and ``delay_steps``).
        source_var : str, optional
            The source's variable the edge reads (any variable of a diff-eq source: state,
            algebraic, input (its spike input: the spikes), parameter; ``"var"`` or
            ``"op/var"``), taken like the output (from the state before the step's update).
            Default: the source's output.
        target_var : str, optional
            The target's input variable the edge drives (summed with every other edge into
            it). Default: the target's ``input_var``.
        template : str or EdgeTemplate, optional
            Equations per connection (PyRates' edge operators; a plastic or short-term
            plastic synapse): connection (i, j) runs the template's model with its source input
            fed by ``source_var`` of neuron j, and delivers ``weights[i, j] * output`` to
            ``target_var`` of neuron i. Its states (per connection) take an Euler step with the
            nodes; see :mod:`rectinumba.edge_model` and the guide's step semantics. A dense
            ``weights`` makes every entry a connection; a scipy.sparse one its stored entries.
            A template edge takes no delay.
        edge_inputs : dict, optional
            For a template with several inputs: input -> ``"source"`` (``source_var``),
            ``"source/var"`` (a variable of presynaptic neuron j) or ``"target/var"`` (of
            postsynaptic neuron i, e.g. its spikes).
        edge_vars : dict, optional
            Template variable -> value: states a scalar, (n_target, n_source) or
            (B, n_target, n_source) per connection; parameters a scalar (or (B, 1) per trial).
        **kwargs
            ``sparse`` (force CSR or dense), ``propagation`` (``"auto"``, ``"event"`` or
            ``"matvec"``, as for :meth:`add_diffeq_node`), ``seed`` (for default weights),
            ``beta``/``alpha``
            (RLS, used by fit_rls), RectiPy's ``dtype``/``edge_attrs``
            (:mod:`rectinumba.compat`).

        Returns
        -------
        Edge
            The edge. A further edge between the same two nodes (with other variables) gets the
            key ``(source, target, n)``; see :meth:`get_edge`.

        Examples
        --------
        An input layer of 2 units into 3 neurons and a trained readout; weights are
        (n_target, n_source), and the caller's arrays are copied:

        >>> import numpy as np
        >>> from rectinumba import Network
        >>> net = Network(dt=1e-2)
        >>> net.add_func_node("inp", 2)
        FuncNode('inp', n=2, identity)
        >>> net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op",
        ...                     N=3, input_var="I_ext", output_var="v")
        DiffEqNode('li', li_op, N=3, rate)
        >>> W_in = np.arange(6.0).reshape(3, 2)
        >>> net.add_edge("inp", "li", weights=W_in)
        Edge('inp' -> 'li', (3, 2), train=None)
        >>> net.add_func_node("out", 1)
        FuncNode('out', n=1, identity)
        >>> net.add_edge("li", "out", train="rls")  # no weights: zeros, as in RectiPy
        Edge('li' -> 'out', (1, 3), train='rls')
        >>> W_in[:] = 0.0  # the network holds its own copy
        >>> net.get_edge("inp", "li").weights[2]
        array([4., 5.])
        >>> net.n_in, net.n_out
        (2, 1)
        """
        opts = compat.edge_options(self, train, kwargs)
        check_mode(opts.propagation, f"edge {source!r} -> {target!r}")
        for label in (source, target):
            if label not in self._nodes:
                raise NodeNotFoundError(f"add_edge: no node {label!r} (nodes: {self.nodes})")
        src, tgt = self._nodes[source], self._nodes[target]
        source_var, target_var = resolve_endpoints(src, tgt, source_var, target_var)
        check_edge_values(src, tgt, source_var, target_var, template=template is not None)
        key = self._new_edge_key(source, target, source_var, target_var)
        n_s, n_t = src.n_out, tgt.n_out  # units (a target without input_var has n_in 0)
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
            propagation=opts.propagation,
            source_var=source_var,
            target_var=target_var,
            key=key,
            template=template is not None,
            delay=delay,
            delay_steps=delay_steps,
        )
        if template is not None:
            attach_dynamics(edge, template, edge_inputs, edge_vars, src, tgt)
        elif edge_inputs is not None or edge_vars is not None:
            raise NetworkError(
                f"edge {edge.label}: edge_inputs and edge_vars belong to a template edge "
                "(template=...)"
            )
        self._edges[key] = edge
        self._changed()
        return edge

    def _new_edge_key(self, source: str, target: str, source_var, target_var) -> tuple:
        """``(source, target)``, or ``(source, target, n)`` for a further edge between them."""
        same = [e for e in self._edges.values() if (e.source, e.target) == (source, target)]
        if not same:
            return (source, target)
        for e in same:
            if (e.source_var, e.target_var) == (source_var, target_var):
                raise NetworkError(
                    f"an edge {e.label} from {source_var or 'the output'} to "
                    f"{target_var or 'the input'} exists already; pop_edge it first",
                    hint="a further edge between the same nodes needs another source_var or "
                    "target_var",
                )
        used = {e.key[2] if len(e.key) > 2 else 0 for e in same}
        return (source, target, min(set(range(1, len(used) + 1)) - used))

    # ---- graph access ----------------------------------------------------------------------
    @property
    def nodes(self) -> list[str]:
        """Node labels in insertion order."""
        return list(self._nodes)

    @property
    def edges(self) -> list[tuple]:
        """Edge keys in insertion order: ``(source, target)``, and ``(source, target, n)`` for
        the n-th further edge between the same two nodes."""
        return list(self._edges)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, label) -> bool:
        return label in self._nodes

    def __getitem__(self, key):
        if isinstance(key, tuple) and len(key) in (2, 3):
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
            raise NodeNotFoundError(f"no node labelled {label!r} (nodes: {self.nodes})") from None

    def get_edge(self, source: str, target: str, index: int = 0) -> Edge:
        """The edge from ``source`` to ``target``.

        Parameters
        ----------
        source : str
            Label of the source node.
        target : str
            Label of the target node.
        index : int
            0 for the first edge between the two nodes, n for the edge keyed
            ``(source, target, n)`` (further edges with other variables).

        Returns
        -------
        Edge
            The edge (a NetworkError lists the edges when there is none).
        """
        key = (source, target) if index == 0 else (source, target, index)
        try:
            return self._edges[key]
        except (KeyError, TypeError):
            extra = f" #{index}" if index else ""
            msg = f"no edge {source!r} -> {target!r}{extra} (edges: {self.edges})"
            raise EdgeNotFoundError(msg) from None

    @exclusive
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
        for key in [k for k, e in self._edges.items() if label in (e.source, e.target)]:
            del self._edges[key]
        del self._nodes[label]
        self._runner.forget(label)
        self._changed()
        return node

    @exclusive
    def pop_edge(self, source: str, target: str, index: int = 0) -> Edge:
        """Remove the edge from ``source`` to ``target``.

        Parameters
        ----------
        source : str
            Label of the source node.
        target : str
            Label of the target node.
        index : int
            Which edge between the two nodes (see :meth:`get_edge`).

        Returns
        -------
        Edge
            The removed edge.
        """
        edge = self.get_edge(source, target, index)
        del self._edges[edge.key]
        self._runner.forget_edge(*edge.key)
        self._changed()
        return edge

    @exclusive
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

    def get_var(self, node: str | tuple, var: str) -> np.ndarray:
        """Value of a state, parameter or undriven input of a diff-eq node.

        Parameters
        ----------
        node : str or tuple
            Node label, or the key ``(source, target)`` of a template edge.
        var : str
            ``"var"``, ``"op/var"`` or ``"weights"`` (the coupling J); of a template edge, a
            variable of its template (:meth:`rectinumba.edges.Edge.get_var`).

        Returns
        -------
        numpy.ndarray or scipy.sparse matrix
            A copy: (N,), or (B, N) after a batched run; J as stored; a template edge's state
            (n_target, n_source).

        Examples
        --------
        >>> from rectinumba import Network
        >>> net = Network(dt=1e-2)
        >>> net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op",
        ...                     N=3, input_var="I_ext", output_var="v")
        DiffEqNode('li', li_op, N=3, rate)
        >>> net.set_var("li", "tau", [1.0, 2.0, 4.0])
        >>> tau = net.get_var("li", "li_op/tau")
        >>> tau[:] = 0.0  # a copy: the network keeps its values
        >>> net.get_var("li", "tau")
        array([1., 2., 4.])
        """
        if isinstance(node, tuple):
            return self.get_edge(*node).get_var(var)
        return self._diffeq(node).get(var)

    @exclusive
    def set_var(self, node: str | tuple, var: str, value) -> None:
        """Set a state, parameter, undriven input, or ``"weights"`` (J) of a diff-eq node.

        Parameters
        ----------
        node : str or tuple
            Node label, or the key ``(source, target)`` of a template edge.
        var : str
            ``"var"``, ``"op/var"`` or ``"weights"``; of a template edge, a template variable.
        value : float or array_like
            A scalar, (N,), (B, N) or (B, 1) values; for ``"weights"`` an (N, N) matrix.
        """
        if isinstance(node, tuple):
            self.get_edge(*node).set_var(var, value)
            return
        n = self._diffeq(node)
        fmt = n.coupling
        n.set(var, value)
        if n.coupling != fmt:
            self._changed()

    @exclusive
    def reset(self, state: dict[str, np.ndarray] | None = None) -> None:
        """Return to the templates' initial values and node_vars.

        Also forgets carried feedback values and restarts the time at 0.

        Parameters
        ----------
        state : dict, optional
            Node label -> flat state vector ((S*N,) or (B, S*N), as :attr:`state` gives it),
            set afterwards. Every entry is validated (and copied) before anything is reset.
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
        for edge in self._edges.values():
            if edge.dynamics is not None:
                edge.dynamics.reset()
        self._runner.reset()
        for label, states in loaded.items():
            self._nodes[label].state.update(states)

    # ---- compilation -------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        """Input dimension (size of the input node); valid before compile."""
        return self._nodes[self._runner.io_nodes()[0]].n_in

    @property
    def n_out(self) -> int:
        """Output dimension (size of the output node); valid before compile."""
        return self._nodes[self._runner.io_nodes()[1]].n_out

    @property
    def input_node(self) -> str:
        """The node that receives the network input (its ``input_var``).

        Found from the graph (the one node without incoming edges) unless chosen: set a label,
        or None to find it again. A circuit's nodes may all have incoming edges, so
        :meth:`from_circuit` chooses it.
        """
        return self._runner.io_nodes()[0]

    @input_node.setter
    def input_node(self, label: str | None) -> None:
        self._choose_io(0, label)

    @property
    def output_node(self) -> str:
        """The node whose output is the network output (see :attr:`input_node`)."""
        return self._runner.io_nodes()[1]

    @output_node.setter
    def output_node(self, label: str | None) -> None:
        self._choose_io(1, label)

    @exclusive
    def _choose_io(self, which: int, label: str | None) -> None:
        if label is not None:
            self.get_node(label)  # a NodeNotFoundError lists the labels
        self._runner.chosen_io[which] = label
        self._changed()

    @exclusive
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
    @exclusive
    def run(
        self,
        inputs=None,
        sampling_steps: int = 1,
        cutoff: int = 0,
        verbose: bool = True,
        *,
        record_output: bool = True,
        record_vars: Sequence[tuple] | None = None,
        sampling_mode: str = "subsample",
        steps: int | None = None,
        trials: int | None = None,
        seed=None,
        **kwargs,
    ):
        """Simulate ``T`` steps; returns an :class:`~rectinumba.observer.Observer`.

        RectiPy's ``enable_grad``, ``truncate_steps`` and ``record_loss`` (a run has no loss) are
        accepted and have no effect.

        Parameters
        ----------
        inputs : array_like, optional
            (T, n_in), or (B, T, n_in) for B independent trials in one kernel call. A network
            whose input node takes no input (``n_in == 0``) runs without: ``run(steps=T)``, or
            inputs of shape (T, 0) or (B, T, 0).
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
        steps : int, optional
            Number of steps T of a network without input (``inputs=None``); checked against
            ``inputs`` when both are given.
        trials : int, optional
            Number of independent trials B of a network without input: the recordings then have
            a leading trial axis (also for ``trials=1``), and ``node_vars`` of shape (B, N) or
            (B, 1) give each trial its own values. Without it, one unbatched trial.
        seed : int or sequence of int, optional
            Sets :attr:`seed` (restarting the noise stream) for this run and the next; None
            continues the stream. A run that fails leaves seed and stream as they were.
        **kwargs
            RectiPy's keywords (:func:`rectinumba.compat.run_options`); others are refused.

        Returns
        -------
        Observer
            The recordings (complex arrays for complex variables and a complex output).

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
        compat.run_options("run", kwargs)
        recording = Recording.make(
            sampling_steps, cutoff, record_output, record_vars, sampling_mode
        )
        x, batched = self._runner.as_inputs(inputs, steps, trials)
        res = self._runner.execute(x, recording, verbose=verbose, seed=seed)
        return recording.observer(self.dt, res.out, res.recs, res.keys, batched)

    @exclusive
    def forward(self, x=None) -> np.ndarray:
        """One step.

        Parameters
        ----------
        x : array_like, optional
            Input of shape (n_in,), or (B, n_in) for B trials (one value: for every input
            unit, as RectiPy). A network without input (``n_in == 0``) steps with ``forward()``.

        Returns
        -------
        numpy.ndarray
            The output of the step: (n_out,) or (B, n_out).

        Examples
        --------
        The output is the value before the step's update (``v`` starts at 0); a one-value
        input reaches every input unit, as in RectiPy:

        >>> import numpy as np
        >>> from rectinumba import Network
        >>> net = Network(dt=1e-2, method="rk4")
        >>> net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op", N=3,
        ...                     input_var="I_ext", output_var="v")
        DiffEqNode('li', li_op, N=3, rate)
        >>> net.forward(np.ones(3))
        array([0., 0., 0.])
        >>> bool(np.all(net.forward(1.0) > 0))
        True
        """
        if x is None:
            if self.n_in:
                raise NetworkError(f"forward needs an input of shape ({self.n_in},) or (B, "
                                   f"{self.n_in})")
            x = np.zeros(0, self.dtype)
        arr = np.asarray(x)
        batched = arr.ndim == 2
        arr = arr.reshape(1) if arr.ndim == 0 else arr  # one value (RectiPy: for every unit)
        x3 = arr[:, None, :] if batched else arr[None, None, :] if arr.ndim == 1 else arr
        n_in = self.n_in
        x3 = compat.spread_input_columns(x3, n_in)
        if x3.ndim != 3 or x3.shape[-1] != n_in:
            raise NetworkError(
                f"forward takes an input of shape ({n_in},) or (B, {n_in}); got {np.shape(x)}"
            )
        if x3.shape[0] == 0:
            raise NetworkError(f"forward: an input of shape {np.shape(x)} holds no trial (B = 0)")
        if not (np.issubdtype(x3.dtype, np.integer) or np.issubdtype(x3.dtype, np.floating)):
            if x3.size or np.iscomplexobj(x3) or x3.dtype == object:
                raise NetworkError(f"forward: the input must be real numbers, got dtype {x3.dtype}")
            x3 = x3.astype(self.dtype)
        out = self._runner.execute(x3, Recording()).out
        return out[:, 0] if batched else out[0, 0]

    # ---- training (trainer objects in rectinumba.training; RectiPy's method names) ----------
    fit_ridge = _trainer(RidgeTrainer, "fit", "fit_ridge")
    fit_rls = _trainer(RLSTrainer, "fit", "fit_rls")
    test = _trainer(Evaluator, "test", "test")
    fit_bptt = _trainer(BPTTTrainer, "fit", "fit_bptt")
    bptt_gradients = _trainer(BPTTTrainer, "gradients", "bptt_gradients")
    bptt_parameters = _trainer(BPTTTrainer, "parameters", "bptt_parameters", lock=False)
    _trainable_arrays = _trainer(BPTTTrainer, "live_parameters", "_trainable_arrays", lock=False)

    def __repr__(self) -> str:
        return (
            f"Network(dt={self.dt}, device={self.device!r}, method={self.method!r}, "
            f"nodes={self.nodes}, edges={self.edges})"
        )


def __getattr__(name: str) -> Any:
    # RectiPy defines FeedbackNetwork in rectipy/network.py: `from rectinumba.network import
    # FeedbackNetwork` works too (imported lazily: feedback_network.py imports this module)
    if name == "FeedbackNetwork":
        from .feedback_network import FeedbackNetwork

        return FeedbackNetwork
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
