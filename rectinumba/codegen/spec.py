"""Structural description of a compiled network: everything that changes the generated source.

Values (weights, parameters, states, dt, thresholds, N) are never part of a spec: they are kernel
arguments, so networks that differ only in values share one compiled kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ArgSpec",
    "RenderedKernel",
    "DiffEqSpec",
    "FuncSpec",
    "EdgeSpec",
    "EdgeModelSpec",
    "NetworkSpec",
    "ACTIVATIONS",
    "ROW_PARALLEL_MIN",
    "METHODS",
    "RECORD_MODES",
]

#: update rules (names registered in rectinumba.codegen.update.RULES)
METHODS = ("euler", "heun", "rk4", "exp_euler")

#: how recordings sample the steps of a window of ``sampling`` steps
RECORD_MODES = ("subsample", "average")

#: dense coupling of at least this many neurons runs its J rows in parallel threads when one
#: trial runs at a time (a parallel region costs ~10-50 us; N=2000 dense steps take ~1 ms)
ROW_PARALLEL_MIN = 512

#: activation functions of function nodes
ACTIVATIONS = (
    "identity",
    "tanh",
    "sigmoid",
    "relu",
    "softplus",
    "softmax",
    "softmin",
    "log_softmax",
)


@dataclass(frozen=True)
class DiffEqSpec:
    """A population of N neurons of one NodeModel.

    ``coupling`` is None, ``"dense"`` or ``"csr"``; ``record`` lists ``(var, reduce)`` pairs.
    ``reset=False`` (RectiPy 0.12's ``reset=False``): spikes are detected on ``spike_def`` but the
    network does not reset it; the model's equations do (an intrinsic reset). ``event``: the
    coupling is propagated by the node's spikes (:mod:`rectinumba.codegen.events`), J stored by
    columns.
    """

    label: str
    model: object  # NodeModel
    input_var: str | None
    output_var: str
    source_var: str | None = None
    target_var: str | None = None
    coupling: str | None = None
    spike_var: str | None = None
    spike_def: str | None = None
    record: tuple[tuple[str, bool], ...] = ()
    reset: bool = True
    #: input variables other than ``input_var`` that edges drive (``add_edge(target_var=...)``)
    edge_inputs: tuple[str, ...] = ()
    event: bool = False

    kind = "diffeq"

    @property
    def spiking(self) -> bool:
        return self.spike_var is not None

    @property
    def resets(self) -> bool:
        """Whether the network sets ``spike_def`` to the reset value where a neuron spiked."""
        return self.spiking and self.reset

    @property
    def driven_inputs(self) -> tuple[str, ...]:
        """Input variables whose value the network provides (edges, coupling, spikes)."""
        names = [self.input_var, *self.edge_inputs, self.target_var, self.spike_var]
        return tuple(dict.fromkeys(n for n in names if n is not None))

    @property
    def constants(self) -> tuple[str, ...]:
        """Parameters and undriven inputs, in a fixed order (kernel array arguments)."""
        driven = set(self.driven_inputs)
        params = [n for n, _ in self.model.params]
        inputs = [n for n, _ in self.model.inputs if n not in driven]
        return tuple(params + inputs)


@dataclass(frozen=True)
class FuncSpec:
    """A layer of units applying an activation function to their summed input."""

    label: str
    activation: str
    record: tuple[tuple[str, bool], ...] = ()

    kind = "func"


@dataclass(frozen=True)
class EdgeModelSpec:
    """The per-connection model of a template edge (see :mod:`rectinumba.edge_model`).

    ``output``: the model variable that the weight multiplies; ``source_input``: the model input
    fed by the edge's source variable (or None); ``bind``: ``(input, side, node variable)`` for
    inputs reading a variable of the presynaptic (``"source"``) or postsynaptic (``"target"``)
    neuron; ``record``: ``(var, reduce)`` recorded per connection (or their mean).
    """

    model: object  # NodeModel / StoredModel
    output: str
    source_input: str | None
    bind: tuple[tuple[str, str, str], ...] = ()
    record: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True)
class EdgeSpec:
    """Weights from node ``source`` to node ``target`` (indices into NetworkSpec.nodes).

    ``source_var``: the source's variable the edge reads (None: its output); ``target_var``: the
    target's input variable it drives (None: the target's ``input_var``). ``model`` (an
    :class:`EdgeModelSpec`) makes the edge a template edge: per connection, the edge model's
    equations turn the source value into what the weight multiplies. ``delay``: None, ``"row"``
    (one delay per target unit, a scalar included) or ``"full"`` (one delay per connection); the
    delays in steps are a kernel argument. ``event``: propagated by the source's spikes
    (:mod:`rectinumba.codegen.events`; never with a delay or an edge model).
    """

    source: int
    target: int
    fmt: str = "dense"  # "dense" | "csr"
    feedback: bool = False
    source_var: str | None = None
    target_var: str | None = None
    model: object = None  # EdgeModelSpec
    delay: str | None = None
    event: bool = False


@dataclass(frozen=True)
class NetworkSpec:
    """Nodes in evaluation order, edges, and the input and output node indices."""

    nodes: tuple[DiffEqSpec | FuncSpec, ...]
    edges: tuple[EdgeSpec, ...]
    input_node: int
    output_node: int
    parallel: bool = False
    #: dense recurrent J products split over threads by rows (one trial at a time, large N; see
    #: codegen.step._DENSE_MV_PAR); set for B == 1 and a dense-coupled node of >= ROW_PARALLEL_MIN
    row_parallel: bool = False
    #: online learning / accumulation emitted at the end of each step (see codegen.train);
    #: a hashable object with an ``emit(code, plan)`` method, or None
    train: object = None
    #: update rule (codegen.update.RULES)
    method: str = "euler"
    #: "subsample": record every ``sampling``-th step; "average": the mean over each window
    record_mode: str = "subsample"
    #: value dtype the kernel's literals are printed in (codegen.printer): "float32" kernels keep
    #: float32 arithmetic; float64 literals in float32 kernels would promote every expression
    dtype: str = "float64"


@dataclass(frozen=True)
class ArgSpec:
    """One kernel argument after the fixed ones.

    Parameters
    ----------
    name : str
        Identifier in the generated source.
    role : str
        "state" | "const" | "scratch" (zeros per call) | "carry" (kept between calls: feedback
        values) | "J" | "W" | "scalar" | "rec" | "train" | "ring" (history buffers, kept between
        calls) | "delay" / "edelay" (delays in steps) | "seed" (per-trial noise keys) | "rng"
        (noise draw-step offset) | "event" (event-driven coupling: ``U = W @ trace`` from the
        state, and the spikes' column sums), and for BPTT "tape" | "lam" | "gcarry" | "grad" |
        "adj".
    owner : int
        Node index (edge index for role "W" and edge gradients).
    detail : object
        The item: state name, scratch kind, matrix part, scalar name, the (var, reduce) record
        key, ...
    """

    name: str
    role: str
    owner: int
    detail: object


@dataclass(frozen=True)
class RenderedKernel:
    """A kernel module's source and its argument table.

    Parameters
    ----------
    source : str
        Python source defining ``kernel``.
    args : tuple of ArgSpec
        Arguments after the fixed ones, in order.
    """

    source: str
    args: tuple[ArgSpec, ...]
