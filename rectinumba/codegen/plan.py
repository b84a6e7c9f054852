"""The step plan: what one step of a network computes, shared by every renderer.

A :class:`NetworkPlan` is built once per (NetworkSpec, :class:`Target`) from the models' sympy
expressions and the update rule (:mod:`rectinumba.codegen.update`). It holds

- the **argument table** (:class:`~rectinumba.codegen.spec.ArgSpec` keyed by (role, owner,
  detail)): every array a kernel takes, named after the model through mangled identifiers
  (``n0_s0_li_op_v``: node 0, state 0, ``li_op/v``; only ``[A-Za-z0-9_]``, a positional prefix
  keeps names unique), so that one binding table (:mod:`rectinumba.binding`) serves every kernel;
- per diff-eq node (:class:`NodePlan`): the dependency level of every name (ONE self-dependency
  check, :func:`dependency_levels`), and the **loops** of a step: a node whose right-hand side has
  L population barriers (recurrent coupling, mean/vsum) runs L+1 passes over its neurons per
  stage of the update rule; each :class:`Loop` lists its per-neuron statements (:class:`Stmt`)
  as sympy expressions over *value keys*; which value lives in a per-neuron local and which in a
  (B, N) array between loops is decided here, once (:meth:`NodePlan.ref`);
- per node, its incoming edges (:class:`EdgeIn`) and whether it reads the network input directly;
- the feedback **probes**: a diff-eq node feeding a ``feedback=True`` edge evaluates its output
  on its current state at the start of the step (loops of their own); a function node's feedback
  value is its output of the previous step (a carried array).

Renderers (:mod:`.step` CPU, :mod:`.cuda_step` CUDA, :mod:`.adjoint` BPTT) print these loops and
statements with their own loop headers, barriers, reductions and failure recording; nothing else
about a step is written in them.

Step semantics (also in README "Step semantics"):

1. feedback probes (see above); 2. node by node in evaluation order: summed edge input (the input
node adds the network input), then the node; 3. network output recording; 4. function nodes that
feed feedback edges copy their output for the next step.

A diff-eq node: spikes are detected on the state before the step (``v >= threshold``; the spike
input is 1/dt where a neuron spiked); stage 0 evaluates algebraic variables, recurrent coupling,
population reductions and derivatives on that state, writes the node output (from the pre-update
state) and the recordings of non-state variables; later stages of a multi-stage rule re-evaluate
the right-hand side (algebraic variables, coupling, reductions) at their stage state, with the
edge/network input and the spike input held (zero-order hold); the rule's new value is taken,
spiking neurons are reset (threshold before / reset after, per whole step), states are checked
for non-finite values, written and recorded.

Where the next features go (each is one addition here plus one print rule per renderer):

- **no input** (``n_in == 0``): a node without ``input_var`` has no ``("in",)`` key; the runner
  passes x of shape (B, T, 0); :attr:`NetworkPlan.reads_x` is False everywhere.
- **summed operator outputs**: an equations-layer change (the input becomes an algebraic sum);
  the plan sees an ordinary algebraic definition.
- **complex values** (done): ``model.complex_vars`` names the complex variables
  (:meth:`NodePlan.is_complex` of a value key); the binder allocates complex arrays for them
  (:meth:`rectinumba.binding.Binding.value_dtype`), locals are complex, :class:`Check` prints
  the non-finite test on both parts (``cmath.isfinite``), the printer calls ``cmath`` where an
  argument is complex; the CUDA renderer splits complex reductions and recorded means into real
  parts (atomics are real). Template edges the same way: :meth:`EdgePlan.is_complex
  <rectinumba.codegen.edgeplan.EdgePlan.is_complex>` of a value key, complex edge arrays from
  the binder (:meth:`rectinumba.edge_model.EdgeDynamics.value_dtype`).
- **delays** (done): ``past(x, d)`` is the key ``("past", j)`` (j indexes ``model.delays``), a
  read of the ring buffer of state x (argument role ``"ring"``, (B, L, N), carried between runs)
  at ``K[b, i]`` steps back (role ``"delay"``, (B, N) int64 steps, from the delay's values and
  dt when a run starts). The first loop of a step (and of a feedback probe) writes the state
  before the update into slot ``(t0 + step) % L`` (a :class:`Write` of role ``"ring"``), so a
  delay of 0 steps reads the current value. Edge delays: :class:`EdgeIn` ``delay`` ("row": one
  delay per target unit, "full": one per connection), a ring of the source's output (role
  ``"ring"``, detail ``"edge"``) and the steps (role ``"edelay"``).
- **noise** (done): each derivative is split into drift and diffusion
  (:func:`rectinumba.equations.noise.split_noise`); the update rule adds
  :meth:`~rectinumba.codegen.update.UpdateRule.noise_term` (Euler-Maruyama:
  ``sqrt(dt) * g_j * N_j``); the normals ``("noise", j)`` are locals of the update loop, drawn
  by :class:`Draw` statements from the per-trial keys (role ``"seed"``) at draw step
  ``t0 + step + offset`` (role ``"rng"``), see :mod:`rectinumba.codegen.rng`.
- **edges between any variables** (done): :class:`EdgeIn` ``key`` (the source variable; None:
  the output) and ``dest`` (the target input; None: ``input_var``). A source keeps every
  variable that forward edges read in a ``("val", var)`` scratch array written in stage 0 (the
  output stays ``"out"``), its probe every variable feedback edges read in ``("fb", var)``; a
  target has one summed-input array ``("in", name)`` per further edge-driven input (key
  ``("in", name)``), carried when its probe depends on it (:attr:`NetworkPlan.carry_extra`);
  :meth:`NetworkPlan.input_groups` lists the sums a renderer prints.
- **template (plastic) edges** (done): :class:`~rectinumba.codegen.edgeplan.EdgePlan` holds two
  per-connection loops printed by the same statement writers (roles ``"estate"`` (B, nnz),
  ``"econst"`` (B, 1), ``"erec"``): the output loop inside the target's input sum, the update
  loop after the target's loops (:attr:`NetworkPlan.edge_updates`); failures report status
  ``EDGE_NONFINITE`` (the CUDA failure keys order nodes and edge updates as a step runs them).
- **event-driven coupling** (:mod:`.events`): a node whose ``spec.event`` is set reads its
  coupling target from ``U`` (role ``"event"``) at level 0 (an :class:`Assign` of the trace's
  stage value per stage), advances ``U`` at the end of its last loop and clears ``G``; an edge
  with ``event`` set carries an :class:`~.events.EventCoupling` on its :class:`EdgeIn`; every
  event coupling is listed on its source's :attr:`NodePlan.scatters` (the spike pass before the
  source's loops that adds the columns of spiking neurons to ``G``).
- **float32 literals**: the printer takes the node's dtype and prints ``np.float32`` literals.

Extending:

- a new **update rule**: an :class:`~rectinumba.codegen.update.UpdateRule` subclass (or an
  :class:`~rectinumba.codegen.update.ExplicitRK` tableau) registered in
  :data:`~rectinumba.codegen.update.RULES` and named in
  :data:`~rectinumba.codegen.spec.METHODS`; the plan builds its stages, every renderer prints
  them, the adjoint differentiates single-stage rules; add its order to tests/test_methods.py.
- a new **backend**: a :class:`~rectinumba.codegen.emit.StatementWriter` subclass (four hooks:
  reduction value, accumulation, recording, failure) with its loop headers, barriers, matvecs
  and kernel header, printing ``build_plan(spec, Target(...))``; a class in
  :mod:`rectinumba.backends` whose ``kernel(spec)`` returns the plan's argument table and a
  callable with the CPU kernel's signature, with capability flags (``supports_train_hooks``,
  ``supports_rls``, ``supports_bptt``); a device name in ``Network._make_backend``. The runner
  and the binding table need no change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..equations.delays import PAST_PREFIX
from ..errors import EquationError, NetworkError
from .events import G_SYMBOL, U_PREFIX, EventCoupling, node_trace, shadow
from .rng import NORMALS_PER_CALL
from .source import free_names
from .spec import ArgSpec, DiffEqSpec, FuncSpec, NetworkSpec
from .update import dt_symbol, get_rule, parse_normal_symbol, parse_stage_symbol

__all__ = [
    "FIXED_ARGS",
    "ComplexValues",
    "CSR_PARTS",
    "Target",
    "Ref",
    "Stmt",
    "SpikeTest",
    "Assign",
    "Accumulate",
    "Write",
    "Record",
    "Reset",
    "Check",
    "Draw",
    "Loop",
    "EdgeIn",
    "NodePlan",
    "NetworkPlan",
    "build_plan",
    "dependency_levels",
    "mangle",
]

#: leading arguments of every step kernel (the runner passes them; plan arguments follow)
FIXED_ARGS = ("T", "t0", "s0", "dt", "cutoff", "sampling", "x", "out_rec", "status")

#: parts of a CSR matrix argument and the suffix of their names (data, column indices, indptr)
CSR_PARTS = {"data": "d", "indices": "n", "indptr": "i"}
#: parts of a matrix stored by columns for event-driven coupling (CSC; a dense matrix: W^T)
CSC_PARTS = {"csc_data": "d", "csc_indices": "n", "csc_indptr": "i"}

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def mangle(name: str, limit: int = 24) -> str:
    """An identifier fragment for a model name: only ``[A-Za-z0-9_]``, at most ``limit`` chars.

    Never unique on its own (``a/b`` and ``a_b`` mangle alike): generated names put a positional
    prefix before it.

    Parameters
    ----------
    name : str
        A model name (any text).
    limit : int
        Longest fragment.

    Returns
    -------
    str
        The fragment (``"v"`` when nothing of ``name`` is ASCII).
    """
    text = _UNSAFE.sub("_", name.encode("ascii", "replace").decode("ascii"))
    return text[:limit].strip("_") or "v"


# ---- targets ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """What a renderer needs from the plan.

    Parameters
    ----------
    coupling_outside : bool
        The recurrent coupling is computed before the loop over neurons (CUDA row sums), so the
        coupling target always lives in an array (CPU row-parallel nodes do so by themselves).
    keep_all : bool
        Store every element-wise algebraic value in a (B, N) array (BPTT recompute).
    tape : bool
        Write the BPTT tape (pre-update states, inputs, coupling, spike flags) every step.
    from_tape : bool
        Read states, inputs, coupling and spike flags from the tape (BPTT backward).
    """

    coupling_outside: bool = False
    keep_all: bool = False
    tape: bool = False
    from_tape: bool = False


CPU = Target()
CUDA = Target(coupling_outside=True)


# ---- value references -----------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """Where a value lives at the point of use.

    Parameters
    ----------
    key : tuple
        The value key (what the value *is*; see :class:`NodePlan`), used by the adjoint.
    where : str
        ``"local"`` (a per-neuron local called ``name``), ``"arr"`` (element ``[b, i]`` of
        argument ``name``; ``[b, step, i]`` for role ``"tape"``), ``"x"`` (the network input),
        ``"t"`` (time), ``"spike"`` (``flag * inv_dt``), ``"sum"`` (sum of ``parts``), ``"red"``
        (a population reduction), ``"past"`` (a read of ring ``name`` at the delay in steps
        ``role``, see :mod:`rectinumba.equations.delays`).
    name : str
        Local or argument name; a reduction's index; the ring argument (``"past"``).
    role : str
        Role of the argument (``"arr"``); the delay-steps argument (``"past"``).
    parts : tuple of Ref
        Summands (``"sum"``) or the spike flag (``"spike"``).
    stage : int
        Stage of a reduction.
    """

    key: tuple
    where: str
    name: str = ""
    role: str = ""
    parts: tuple = ()
    stage: int = 0


# ---- statements ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stmt:
    """A per-neuron statement of a loop (base class)."""


@dataclass(frozen=True)
class SpikeTest(Stmt):
    """``value(flag) = 1.0 if value(v) >= threshold else 0.0``.

    Parameters
    ----------
    v : tuple
        Key of the state that defines spikes.
    threshold : str
        Name of the threshold argument.
    flag : tuple
        Key of the flag.
    """

    v: tuple
    threshold: str
    flag: tuple


@dataclass(frozen=True)
class Assign(Stmt):
    """``value(key) = expr`` (a local; also stored when the plan keeps the value).

    Parameters
    ----------
    key : tuple
        Key of the value assigned.
    expr : sympy.Expr
        Its expression.
    keys : tuple
        ``(symbol name, value key)`` of every free symbol of ``expr``.
    """

    key: tuple
    expr: Any
    keys: tuple[tuple[str, tuple], ...]  # (symbol name, value key) of every free symbol


@dataclass(frozen=True)
class Accumulate(Stmt):
    """Add ``expr`` of this neuron to the population reduction ``key``.

    Parameters
    ----------
    key : tuple
        Key of the reduction.
    expr : sympy.Expr
        The per-neuron term.
    keys : tuple
        ``(symbol name, value key)`` of every free symbol of ``expr``.
    """

    key: tuple
    expr: Any
    keys: tuple[tuple[str, tuple], ...]


@dataclass(frozen=True)
class Write(Stmt):
    """``dest[b, i] = value(key)``: node output, coupling source, feedback value, state, tape.

    Parameters
    ----------
    dest : str
        Argument written.
    role : str
        Its role.
    key : tuple
        Key of the value written.
    """

    dest: str
    role: str
    key: tuple


@dataclass(frozen=True)
class Record(Stmt):
    """Record ``value(key)`` into record argument ``dest``.

    Parameters
    ----------
    dest : str
        Record argument.
    key : tuple
        Key of the value recorded.
    mean : bool
        Record the mean over the neurons.
    """

    dest: str
    key: tuple
    mean: bool


@dataclass(frozen=True)
class Reset(Stmt):
    """Where the neuron spiked this step (``flag``), the new value ``key`` becomes ``value``.

    Parameters
    ----------
    key : tuple
        Key of the new value of the spiking state.
    value : str
        Name of the reset argument.
    flag : tuple
        Key of the spike flag.
    """

    key: tuple
    value: str
    flag: tuple


@dataclass(frozen=True)
class Check(Stmt):
    """Record a failure when the new value ``key`` is not finite.

    Parameters
    ----------
    key : tuple
        Key of the new value.
    state : int
        Index of the state (in the failure record).
    """

    key: tuple
    state: int


@dataclass(frozen=True)
class Draw(Stmt):
    """Draw block ``block`` of the node's standard normals for this neuron and step.

    Parameters
    ----------
    block : int
        Normals ``2*block``, ``2*block + 1`` (:data:`~rectinumba.codegen.rng.NORMALS_PER_CALL`).
    keys : tuple
        Keys ``("noise", j)`` of the normals this block provides.
    """

    block: int
    keys: tuple


# ---- loops ----------------------------------------------------------------------------------
@dataclass
class Loop:
    """One pass over the neurons of a node.

    Parameters
    ----------
    stage : int
        Stage of the update rule (-1: the feedback probe).
    pass_ : int
        Pass within the stage (0 .. L).
    probe : bool
        Part of the feedback probe.
    coupling : bool
        The coupling target of this stage (key ``("tgt", stage)``) is computed at the start of
        this loop.
    reductions : list
        ``(key, kind)`` of the population reductions accumulated here, final after the loop
        (kind ``"mean"`` or ``"vsum"``).
    rec_means : list of str
        Record arguments of means accumulated here.
    body : list of Stmt
        The per-neuron statements, in order.
    index : int
        Position among the node's loops (probe loops count from 1000).
    """

    stage: int
    pass_: int
    probe: bool = False
    coupling: bool = False
    reductions: list[tuple[tuple, str]] = field(default_factory=list)
    rec_means: list[str] = field(default_factory=list)
    body: list[Stmt] = field(default_factory=list)
    index: int = 0


@dataclass(frozen=True)
class EdgeIn:
    """An edge into a node: weights argument(s), format, and the array it reads.

    Parameters
    ----------
    edge : int
        Edge index.
    source : int
        Source node index.
    fmt : str
        ``"dense"`` or ``"csr"``.
    weights : tuple of str
        ``(W,)`` or the CSR parts (data, indices, indptr).
    src : str
        The source's out, fb (diff-eq feedback) or prev (function feedback) array, or the array
        keeping the source variable ``key`` (``("val", key)``, ``("fb", key)``).
    key : str or None
        The source variable the edge reads (None: the source's output).
    dest : str or None
        The target's input variable the edge drives (None: its ``input_var``).
    delay : str or None
        None, ``"row"`` (one delay in steps per target unit) or ``"full"`` (one per connection:
        (n_target, n_source) dense, or aligned with the CSR data).
    ring : str
        The ring buffer of the source values (delayed edges).
    steps : str
        The delays in steps (delayed edges).
    event : EventCoupling or None
        Set when the edge is propagated by the source's spikes (``weights`` are its columns;
        ``src`` is unused).
    """

    edge: int
    source: int
    fmt: str
    weights: tuple[str, ...]  # ("e0_W",) or the CSR parts (data, indices, indptr)
    src: str  # the source's out, fb (diff-eq feedback) or prev (function feedback) array
    key: str | None = None  # the source variable read (None: the source's output)
    dest: str | None = None  # the target input driven (None: the target's input_var)
    delay: str | None = None
    ring: str = ""
    steps: str = ""
    event: EventCoupling | None = None


def dependency_levels(spec: DiffEqSpec) -> tuple[dict[str, int], int]:
    """Pass of each name a diff-eq node reads and the last pass L.

    States, constants, inputs and ``t`` are at pass 0; an algebraic definition is at the pass of
    its latest input, one more behind a population reduction; the coupling target is one pass
    after its source. The one check that the coupling does not depend on itself lives here.

    Parameters
    ----------
    spec : DiffEqSpec
        The node.

    Returns
    -------
    tuple of (dict, int)
        ``{name: pass}`` and L, the pass that takes the update.
    """
    model = spec.model
    alg = {d.name: d for d in model.algebraic}
    coupled = spec.coupling is not None
    levels: dict[str, int] = {}

    def level(name: str, stack: tuple[str, ...] = ()) -> int:
        if name in levels:
            return levels[name]
        if name in stack:
            chain = " -> ".join(stack + (name,))
            raise NetworkError(
                f"recurrent coupling depends on itself: {chain}",
                node=spec.label,
                hint="source_var must not depend on target_var",
            )
        stack = stack + (name,)
        if coupled and name == spec.target_var:
            # event-driven: read from U (kept per target neuron), no pass over the sources
            lvl = 0 if spec.event else level(spec.source_var, stack) + 1
        elif name in alg:
            d = alg[name]
            lvl = max([0] + [level(x, stack) for x in free_names(d.expr)])
            lvl += 1 if d.reduce else 0
        else:
            lvl = 0  # t, states, constants, driven inputs, spikes
        levels[name] = lvl
        return lvl

    for name in list(alg) + list(model.states):
        level(name)
    deriv_levels = [max([0] + [level(d) for d in free_names(e)]) for _, e in model.derivatives]
    level(spec.output_var)
    for var, _ in spec.record:
        level(var)
    return levels, max([0] + list(levels.values()) + deriv_levels)


# ---- one diff-eq node ---------------------------------------------------------------------------
class ComplexValues:
    """Mixin of the plans of a node and of a template edge: which value keys are complex.

    Subclasses set ``complex`` (the names of the model's complex variables) and implement
    ``value_name(key)`` (the variable a value key holds, or None).
    """

    complex: frozenset = frozenset()

    def is_complex(self, key: tuple) -> bool:
        """Whether value ``key`` is complex.

        Parameters
        ----------
        key : tuple
            A value key.

        Returns
        -------
        bool
            True for a complex value.
        """
        name = self.value_name(key)
        return name is not None and name in self.complex


class NodePlan(ComplexValues):
    """The loops of one diff-eq node per step, and where each of its values lives.

    Value keys (tuples): ``("t", stage)``, ``("x",)`` (network input), ``("in",)`` (summed edge
    input of ``input_var``), ``("in", name)`` (of another edge-driven input), ``("state", name,
    stage)``, ``("const", name)``, ``("past", j)`` (delayed read j of ``model.delays``),
    ``("noise", j)`` (this step's normal of noise j), ``("spk", s)`` (spike flag; s = 0, or -1
    in the probe), ``("spike", s)`` (spike input, flag/dt), ``("tgt", stage)`` (coupling),
    ``("alg", name, stage)``, ``("red", name, stage)``, ``("k", stage, state)`` (right-hand side
    at a stage), ``("new", state)`` (the state's new value), ``("driven", name, stage)`` (an
    input the network drives: coupling and/or edge input). Stage ``-1`` marks the feedback probe.

    Parameters
    ----------
    plan : NetworkPlan
        The network's plan (argument table).
    k : int
        Node index.
    spec : DiffEqSpec
        The node.
    reads_x : bool
        The node reads the network input directly.
    """

    def __init__(self, plan: NetworkPlan, k: int, spec: DiffEqSpec, reads_x: bool) -> None:
        self.plan, self.k, self.spec, self.reads_x = plan, k, spec, reads_x
        target = plan.target
        model = spec.model
        self.states = list(model.states)
        self.consts = list(spec.constants)
        self.alg = {d.name: d for d in model.algebraic}
        self.alg_index = {d.name: j for j, d in enumerate(model.algebraic)}
        self.reductions = [d for d in model.algebraic if d.reduce]
        self.derivs = dict(model.derivatives)
        self.coupled = spec.coupling is not None
        #: the coupling is event-driven (codegen.events): target read from U, no matvec
        self.event = self.coupled and spec.event
        if self.event and (target.tape or target.from_tape):
            raise NetworkError("codegen: BPTT takes the matvec path", node=spec.label)
        #: event couplings whose spikes come from this node (see NetworkPlan.scatters)
        self.scatters: list[EventCoupling] = []
        self.ev: EventCoupling | None = None
        self.levels, self.L = dependency_levels(spec)
        self.rule = get_rule(plan.spec.method)
        self.S = self.rule.stages
        #: names of the model's complex-valued variables
        self.complex = frozenset(model.complex_vars)
        complex_states = [x for x in self.states if x in self.complex]
        if complex_states and plan.spec.method == "exp_euler":
            raise NetworkError(
                f"method='exp_euler' is not available for complex states ({complex_states[0]!r})",
                node=spec.label,
                hint="use method='euler', 'heun' or 'rk4' for models with complex states",
            )
        #: delayed reads (symbol, state, scale, parameter) and the states they read (one ring each)
        self.delays = tuple(tuple(d) for d in model.delays)
        self.rings = list(dict.fromkeys(d[1] for d in self.delays))
        self.noises = tuple(model.noises)
        #: state -> [(noise index, diffusion coefficient)]; derivs then hold the drifts
        self.diffusion: dict[str, list] = {}
        if self.noises:
            self._split_noise()
        row_par = plan.spec.row_parallel and not plan.spec.parallel and spec.coupling == "dense"
        #: CPU only: dense J rows in parallel threads before the loop (one trial at a time)
        self.row_parallel = (
            row_par and not target.coupling_outside and not target.tape and not self.event
        )
        self.coupling_outside = (
            self.coupled and not self.event and (target.coupling_outside or self.row_parallel)
        )
        self.fused = self.L == 0  # every stage of a step in one loop over the neurons
        self.loops: list[Loop] = []
        self.probe_loops: list[Loop] = []
        self._producer: dict[tuple, int] = {}
        self._reads: dict[tuple, set[int]] = {}
        self._declare()
        self._build()
        self._decide_storage()

    # ---- argument names ------------------------------------------------------------------
    def arg(self, role: str, detail) -> str:
        """Name of this node's argument (role, detail).

        Parameters
        ----------
        role : str
            Argument role.
        detail : object
            Argument detail.

        Returns
        -------
        str
            The name.
        """
        return self.plan.arg(role, self.k, detail)

    def _split_noise(self) -> None:
        from ..equations.noise import split_noise

        if not self.rule.stochastic:
            raise EquationError(
                f"the model has white noise ({', '.join(self.noises)}): it integrates with "
                f"Euler-Maruyama, method='euler'; method={self.rule.name!r} has no SDE scheme here",
                node=self.spec.label,
                hint="build the network with Network(dt, method='euler')",
            )
        if len(self.noises) > 512:  # the generator's counter holds 256 blocks of two
            raise EquationError(
                f"the model has {len(self.noises)} white noises; at most 512 per node",
                node=self.spec.label,
            )
        for state in self.states:
            drift, terms = split_noise(self.derivs[state], self.noises)
            self.derivs[state] = drift
            if terms:
                self.diffusion[state] = terms

    def _declare(self) -> None:
        """Declare the node's fixed arguments in a stable order (states, constants, buffers)."""
        k, spec, t = self.k, self.spec, self.plan.target
        for j, s in enumerate(self.states):
            self.plan.declare(ArgSpec(f"n{k}_s{j}_{mangle(s)}", "state", k, s))
        for j, c in enumerate(self.consts):
            self.plan.declare(ArgSpec(f"n{k}_p{j}_{mangle(c)}", "const", k, c))
        self.plan.declare(ArgSpec(f"n{k}_out", "scratch", k, "out"))
        if spec.input_var is not None and not self.reads_x and not t.from_tape:
            role = "carry" if self.k in self.plan.carry_in else "scratch"
            self.plan.declare(ArgSpec(f"n{k}_in", role, k, "in"))
        for q, name in enumerate(spec.edge_inputs):
            role = "carry" if (self.k, name) in self.plan.carry_extra else "scratch"
            self.plan.declare(ArgSpec(f"n{k}_in{q}_{mangle(name)}", role, k, ("in", name)))
        for q, var in enumerate(self.plan.edge_vals[k]):
            self.plan.declare(ArgSpec(f"n{k}_v{q}_{mangle(var)}", "scratch", k, ("val", var)))
        for q, var in enumerate(self.plan.edge_fbs[k]):
            self.plan.declare(ArgSpec(f"n{k}_fb{q}_{mangle(var)}", "scratch", k, ("fb", var)))
        if self.event:
            self.ev = self.plan.event_coupling("J", k, k, k, spec.coupling, spec.source_var, True)
            self.scatters.append(self.ev)
        elif self.coupled:
            self.plan.declare(ArgSpec(f"n{k}_src", "scratch", k, "src"))
            if spec.coupling == "dense":
                self.plan.declare(ArgSpec(f"n{k}_J", "J", k, "dense"))
            else:
                for part, suffix in CSR_PARTS.items():
                    self.plan.declare(ArgSpec(f"n{k}_J{suffix}", "J", k, part))
        if spec.spiking:
            self.plan.declare(ArgSpec(f"n{k}_thr", "scalar", k, "threshold"))
            self.plan.declare(ArgSpec(f"n{k}_rst", "scalar", k, "reset"))
        if self.plan.fb_out[k]:
            self.plan.declare(ArgSpec(f"n{k}_fb", "scratch", k, "fb"))
        for r, state in enumerate(self.rings):
            self.plan.declare(ArgSpec(f"n{k}_h{r}_{mangle(state)}", "ring", k, ("past", state)))
        for j, (_, state, scale, param) in enumerate(self.delays):
            self.plan.declare(ArgSpec(f"n{k}_d{j}", "delay", k, (state, scale, param)))
        if self.diffusion:
            self.plan.declare(ArgSpec("rng_keys", "seed", -1, "keys"))
            self.plan.declare(ArgSpec("rng_off", "rng", -1, "offset"))
        if t.tape or t.from_tape:
            for j, s in enumerate(self.states):
                self.plan.declare(ArgSpec(f"n{k}_ty{j}_{mangle(s)}", "tape", k, ("y", s)))
            if spec.input_var is not None and not self.reads_x:
                self.plan.declare(ArgSpec(f"n{k}_tin", "tape", k, "in"))
            if self.coupled:
                self.plan.declare(ArgSpec(f"n{k}_ttg", "tape", k, "tgt"))
            if spec.spiking:
                self.plan.declare(ArgSpec(f"n{k}_tsp", "tape", k, "spk"))
            if self.k in self.plan.carry_in:
                self.plan.declare(ArgSpec(f"n{k}_thi", "tape", k, "hold_in"))

    # ---- building ------------------------------------------------------------------------
    def _loop(self, loops: list[Loop], stage: int, pass_: int, probe: bool = False) -> Loop:
        offset = 0 if not probe else 1000  # probe loops get their own index space
        loop = Loop(stage, pass_, probe=probe, index=offset + len(loops))
        loops.append(loop)
        return loop

    def _key(self, name: str, stage: int) -> tuple:
        """Value key of a model name read at ``stage``."""
        spec = self.spec
        if name == "t":
            return ("t", stage if stage > 0 else 0)
        if name in self.states:
            return ("state", name, stage if stage > 0 else 0)
        if name in self.consts:
            return ("const", name)
        if name.startswith(PAST_PREFIX):
            return ("past", int(name[len(PAST_PREFIX) :]))
        if spec.spiking and name == spec.spike_var:
            return ("spike", -1 if stage < 0 else 0)
        if (
            (self.coupled and name == spec.target_var)
            or name == spec.input_var
            or name in spec.edge_inputs
        ):
            return ("driven", name, stage)
        if name in self.alg:
            return ("red" if self.alg[name].reduce else "alg", name, stage)
        raise NetworkError(f"codegen: no value for {name!r}", node=spec.label)

    def _keys(self, expr, stage: int, loop: Loop) -> tuple[tuple[str, tuple], ...]:
        keys = tuple((n, self._key(n, stage)) for n in sorted(free_names(expr)))
        for _, key in keys:
            self._read(key, loop)
        return keys

    def _read(self, key: tuple, loop: Loop) -> None:
        if key[0] == "driven":
            for part in self._driven_parts(key):
                self._read(part, loop)
            return
        if key[0] == "spike":
            key = ("spk", key[1])
        self._reads.setdefault(key, set()).add(loop.index)

    def _driven_parts(self, key: tuple) -> list[tuple]:
        _, name, stage = key
        spec = self.spec
        parts = []
        if self.coupled and name == spec.target_var:
            parts.append(("tgt", stage))
        if name == spec.input_var:
            parts.append(("x",) if self.reads_x else ("in",))
        elif name in spec.edge_inputs:
            parts.append(("in", name))
        return parts

    def _needed(self, roots: set[str]) -> set[str]:
        """Algebraic names (and the coupling source) that ``roots`` depend on, transitively."""
        out: set[str] = set()
        todo = list(roots)
        while todo:
            name = todo.pop()
            if name in out:
                continue
            out.add(name)
            if name in self.alg:
                todo.extend(free_names(self.alg[name].expr))
            elif self.coupled and not self.event and name == self.spec.target_var:
                todo.append(self.spec.source_var)
        return out

    def _build(self) -> None:
        spec, L, S = self.spec, self.L, self.S
        deriv_names = set().union(*[free_names(e) for e in self.derivs.values()])
        later_needed = self._needed(deriv_names)
        # stage 0 evaluates every definition (as the node's output and recordings may read any)
        first = set(self.alg) | deriv_names | {spec.output_var} | {v for v, _ in spec.record}
        first |= set(self.plan.edge_vals[self.k])
        if self.coupled:
            first.add(spec.target_var)
        first_needed = self._needed(first)
        for s in range(S):
            needed = first_needed if s == 0 else later_needed
            for m in range(L + 1):
                if self.fused and s > 0:
                    loop = self.loops[0]
                else:
                    loop = self._loop(self.loops, s, m)
                self._emit_pass(loop, s, m, needed, probe=False)
        if self.k in self.plan.probed:
            needed = self._needed(set(self.plan.probe_values(self.k)))
            last = max(self.levels.get(n, 0) for n in needed)
            for m in range(last + 1):
                loop = self._loop(self.probe_loops, -1, m, probe=True)
                self._emit_pass(loop, -1, m, needed, probe=True)

    def _emit_pass(self, loop: Loop, s: int, m: int, needed: set[str], probe: bool) -> None:
        """Statements of pass m of stage s (s = -1: the feedback probe) into ``loop``."""
        spec, L, t = self.spec, self.L, self.plan.target
        body = loop.body
        if m == 0 and s in (0, -1):
            # the delayed states' values of this step enter their rings first: a delay of 0 steps
            # reads the current value (the probe writes the same values: the state is unchanged)
            for state in self.rings:
                key = ("state", state, 0)
                body.append(Write(self.arg("ring", ("past", state)), "ring", key))
                self._read(key, loop)
        if m == 0 and spec.spiking and (s == 0 or (s < 0 and spec.spike_var in needed)):
            v = self._key(spec.spike_def, 0)
            self._read(v, loop)
            flag = ("spk", s)
            body.append(SpikeTest(v, self.arg("scalar", "threshold"), flag))
            self._produce(flag, loop)
            if t.tape and s == 0:
                body.append(Write(self.arg("tape", "spk"), "tape", flag))
                self._read(flag, loop)
        if s == 0 and m == 0 and t.tape:
            if spec.input_var is not None and not self.reads_x:
                body.append(Write(self.arg("tape", "in"), "tape", ("in",)))
                self._read(("in",), loop)
        if s == -1 and m == 0 and t.tape and self.k in self.plan.carry_in:  # held input
            body.append(Write(self.arg("tape", "hold_in"), "tape", ("in",)))
            self._read(("in",), loop)
        if self.event and m == 0 and spec.target_var in needed:
            # the trace's value at this stage (stage 0 and the probe: value(U))
            expr = self.ev.shadow.values[max(s, 0)]
            body.append(Assign(("tgt", s), expr, self._event_keys(expr, loop)))
            self._produce(("tgt", s), loop)
        elif self.coupled and self.levels[spec.target_var] == m and spec.target_var in needed:
            # the BPTT backward reads the step's coupling from the tape (probes recompute it)
            loop.coupling = not (t.from_tape and s == 0)
            self._produce(("tgt", s), loop)
            self._read(("src",), loop)
            if t.tape and s == 0:
                body.append(Write(self.arg("tape", "tgt"), "tape", ("tgt", 0)))
                self._read(("tgt", 0), loop)
        for name, d in self.alg.items():
            if d.reduce is None and self.levels[name] == m and name in needed:
                key = ("alg", name, s)
                body.append(Assign(key, d.expr, self._keys(d.expr, s, loop)))
                self._produce(key, loop)
        for d in self.reductions:
            if self.levels[d.name] == m + 1 and d.name in needed:
                key = ("red", d.name, s)
                body.append(Accumulate(key, d.expr, self._keys(d.expr, s, loop)))
                loop.reductions.append((key, d.reduce))
        if (
            self.coupled
            and not self.event
            and self.levels[spec.source_var] == m
            and spec.target_var in needed
        ):
            src = self._key(spec.source_var, s)
            self._read(src, loop)
            body.append(Write(self.arg("scratch", "src"), "scratch", src))
            self._produce(("src",), loop)
        if s == 0 and self.levels[spec.output_var] == m:
            out = self._key(spec.output_var, 0)
            self._read(out, loop)
            body.append(Write(self.arg("scratch", "out"), "scratch", out))
        if s == -1 and self.plan.fb_out[self.k] and self.levels[spec.output_var] == m:
            out = self._key(spec.output_var, -1)
            self._read(out, loop)
            body.append(Write(self.arg("scratch", "fb"), "scratch", out))
        # values that edges read (besides the output): pre-update values, or the probe's
        kept = (("val", self.plan.edge_vals[self.k], 0), ("fb", self.plan.edge_fbs[self.k], -1))
        for detail, names, stage in kept:
            if s != stage:
                continue
            for var in names:
                if self.levels.get(var, 0) == m:
                    value = self._key(var, stage)
                    self._read(value, loop)
                    body.append(Write(self.arg("scratch", (detail, var)), "scratch", value))
        if s == 0 and not t.tape and not t.from_tape:
            for q, (var, mean) in enumerate(spec.record):
                if var not in self.states and self.levels[var] == m:
                    value = self._key(var, 0)
                    self._read(value, loop)
                    self._record(loop, q, var, mean, value)
        if m == L and s >= 0:
            self._emit_update(loop, s)

    def _record(self, loop: Loop, q: int, var: str, mean: bool, value: tuple) -> None:
        name = f"n{self.k}_r{q}_{mangle(var)}"
        dest = self.plan.declare(ArgSpec(name, "rec", self.k, (var, mean)))
        loop.body.append(Record(dest, value, mean))
        if mean:
            loop.rec_means.append(dest)

    def _emit_update(self, loop: Loop, s: int) -> None:
        """Right-hand sides of stage s; then the next stage's states, or the new values."""
        spec, rule, body = self.spec, self.rule, loop.body
        for state in self.states:
            key = ("k", s, state)
            body.append(Assign(key, self.derivs[state], self._keys(self.derivs[state], s, loop)))
            self._produce(key, loop)
        if s < self.S - 1:
            for state in self.states:
                expr = rule.stage_state(s + 1, state)
                key = ("state", state, s + 1)
                body.append(Assign(key, expr, self._rule_keys(expr, loop)))
                self._produce(key, loop)
            return
        t = self.plan.target
        if self.diffusion:
            n = len(self.noises)
            for q in range(-(-n // NORMALS_PER_CALL)):
                first = q * NORMALS_PER_CALL
                keys = tuple(("noise", j) for j in range(first, min(n, first + NORMALS_PER_CALL)))
                body.append(Draw(q, keys))
                for key in keys:
                    self._produce(key, loop)
        for j, state in enumerate(self.states):
            if t.tape:
                body.append(Write(self.arg("tape", ("y", state)), "tape", ("state", state, 0)))
                self._read(("state", state, 0), loop)
            try:
                expr = rule.new_value(state, lambda st=state: self._expanded(self.derivs[st]))
                if state in self.diffusion:
                    expr = expr + rule.noise_term(self.diffusion[state])
            except EquationError as err:
                raise EquationError(
                    err.raw_message, node=spec.label, variable=state, hint=err.context.get("hint")
                ) from None
            key = ("new", state)
            body.append(Assign(key, expr, self._rule_keys(expr, loop)))
            self._produce(key, loop)
            if spec.resets and state == spec.spike_def:
                body.append(Reset(key, self.arg("scalar", "reset"), ("spk", 0)))
                self._read(("spk", 0), loop)
            body.append(Check(key, j))
            body.append(Write(self.arg("state", state), "state", key))
        if not t.tape and not t.from_tape:
            for q, (var, mean) in enumerate(spec.record):
                if var in self.states:
                    self._record(loop, q, var, mean, ("new", var))
        if self.event:
            self._emit_advance(loop)

    def _emit_advance(self, loop: Loop) -> None:
        """``U`` after the step (every stage has read it) and ``G`` cleared for the next."""
        ev = self.ev
        for j, expr in enumerate(ev.shadow.new):
            key = ("evnew", j)
            loop.body.append(Assign(key, expr, self._event_keys(expr, loop)))
            self._produce(key, loop)
            loop.body.append(Write(ev.u[j], "event", key))
            self._read(key, loop)
        loop.body.append(Write(ev.g, "event", ("zero",)))

    def _event_keys(self, expr, loop: Loop) -> tuple[tuple[str, tuple], ...]:
        """Keys of an event expression's symbols: ``U`` and ``G`` elements, dt, constants."""
        keys = []
        for name in sorted(free_names(expr)):
            if name.startswith(U_PREFIX):
                key = ("evu", int(name[len(U_PREFIX):]))
            elif name == G_SYMBOL:
                key = ("evg",)
            elif name == dt_symbol().name:
                key = ("dt",)
            else:
                key = ("const", name)
            keys.append((name, key))
            self._read(key, loop)
        return tuple(keys)

    def _rule_keys(self, expr, loop: Loop) -> tuple[tuple[str, tuple], ...]:
        """Keys of an update-rule expression: stage symbols, dt, and model names (stage 0)."""
        keys = []
        for name in sorted(free_names(expr)):
            stage = parse_stage_symbol(name)
            noise = parse_normal_symbol(name)
            if stage is not None:
                key = ("k", stage[0], stage[1])
            elif noise is not None:
                key = ("noise", noise)
            elif name == dt_symbol().name:
                key = ("dt",)
            else:
                key = self._key(name, 0)
            keys.append((name, key))
            self._read(key, loop)
        return tuple(keys)

    def _expanded(self, expr):
        """``expr`` with element-wise algebraic definitions substituted (recursively)."""
        for _ in range(len(self.alg) + 1):
            names = [n for n in free_names(expr) if n in self.alg and not self.alg[n].reduce]
            if not names:
                return expr
            # by name: a complex definition's symbol is not Symbol(name, real=True)
            expr = expr.xreplace(
                {x: self.alg[x.name].expr for x in expr.free_symbols if x.name in names}
            )
        return expr  # pragma: no cover - definitions are acyclic

    def _produce(self, key: tuple, loop: Loop) -> None:
        self._producer.setdefault(key, loop.index)

    # ---- storage ----------------------------------------------------------------------------
    def _decide_storage(self) -> None:
        """Which values live in (B, N) arrays: those read in a loop other than the producer's."""
        t = self.plan.target
        kept_alg, kept_stage, kept_k = set(), set(), set()
        self.keep_tgt = self.coupled and self.coupling_outside
        self.keep_spk = False
        for key, reads in self._reads.items():
            prod = self._producer.get(key)
            elsewhere = prod is not None and bool(reads - {prod})
            if key[0] == "alg" and (elsewhere or t.keep_all):
                kept_alg.add(key[1])
            elif key[0] == "tgt" and elsewhere:
                self.keep_tgt = True
            elif key[0] == "spk" and elsewhere and not (t.from_tape and key[1] == 0):
                self.keep_spk = True
            elif key[0] == "state" and key[2] > 0 and elsewhere:
                kept_stage.add(key[1])
            elif key[0] == "k" and elsewhere:
                kept_k.add((key[1], key[2]))
        if t.keep_all and self.coupled:
            self.keep_tgt = True
        self.kept_alg = kept_alg
        k = self.k
        for name in sorted(kept_alg, key=lambda n: (self.levels.get(n, 0), n)):
            j = self.alg_index[name]
            self.plan.declare(ArgSpec(f"n{k}_a{j}_{mangle(name)}", "scratch", k, ("keep", name)))
        if self.keep_tgt:
            self.plan.declare(ArgSpec(f"n{k}_tgt", "scratch", k, ("keep", "tgt")))
        if self.keep_spk:
            self.plan.declare(ArgSpec(f"n{k}_spk", "scratch", k, ("keep", "spk")))
        for state in sorted(kept_stage, key=self.states.index):
            j = self.states.index(state)
            name = f"n{k}_ys{j}_{mangle(state)}"
            self.plan.declare(ArgSpec(name, "scratch", k, ("stage", state)))
        for s, state in sorted(kept_k, key=lambda p: (p[0], self.states.index(p[1]))):
            j = self.states.index(state)
            name = f"n{k}_k{s}_{j}_{mangle(state)}"
            self.plan.declare(ArgSpec(name, "scratch", k, ("k", s, state)))

    def stored(self, key: tuple) -> str | None:
        """Name of the array that keeps value ``key`` between loops.

        Parameters
        ----------
        key : tuple
            A value key.

        Returns
        -------
        str or None
            The argument name; None for a value that only lives in a local.
        """
        kind = key[0]
        if kind == "alg" and key[1] in self.kept_alg:
            return self.arg("scratch", ("keep", key[1]))
        if kind == "tgt" and self.keep_tgt:
            return self.arg("scratch", ("keep", "tgt"))
        if kind == "spk" and self.keep_spk:
            return self.arg("scratch", ("keep", "spk"))
        if kind == "state" and key[2] > 0:
            return self.plan.find("scratch", self.k, ("stage", key[1]))
        if kind == "k":
            return self.plan.find("scratch", self.k, ("k", key[1], key[2]))
        return None

    def ref(self, key: tuple, loop: Loop) -> Ref:
        """Where value ``key`` lives when read in ``loop``.

        Parameters
        ----------
        key : tuple
            A value key.
        loop : Loop
            The loop reading it.

        Returns
        -------
        Ref
            A local, an array element, a sum, ...
        """
        kind, t = key[0], self.plan.target
        if kind == "t":
            c = self.rule.stage_time(key[1]) if key[1] > 0 else 0.0
            if self.plan.spec.dtype == "float32":
                return Ref(key, "local", f"(t + np.float32({c!r}) * dt)") if c else Ref(key, "t")
            return Ref(key, "local", f"(t + {c!r} * dt)") if c else Ref(key, "t")
        if kind == "dt":
            return Ref(key, "local", "dt")
        if kind == "x":
            return Ref(key, "x")
        if kind == "const":
            return Ref(key, "arr", self.arg("const", key[1]), "const")
        if kind == "past":
            _, state, scale, param = self.delays[key[1]]
            ring = self.arg("ring", ("past", state))
            return Ref(key, "past", ring, self.arg("delay", (state, scale, param)))
        if kind == "noise":
            return Ref(key, "local", self.local_name(key))
        if kind == "state" and key[2] == 0:
            if t.from_tape:
                return Ref(key, "arr", self.arg("tape", ("y", key[1])), "tape")
            return Ref(key, "arr", self.arg("state", key[1]), "state")
        if kind == "in" and len(key) == 2:
            detail = ("in", key[1])
            role = "carry" if (self.k, key[1]) in self.plan.carry_extra else "scratch"
            return Ref(key, "arr", self.arg(role, detail), role)
        if kind == "in":
            if t.from_tape:
                if loop.probe:
                    return Ref(key, "arr", self.arg("tape", "hold_in"), "tape")
                return Ref(key, "arr", self.arg("tape", "in"), "tape")
            return Ref(key, "arr", self.arg(self._in_role(), "in"), self._in_role())
        if kind == "driven":
            parts = tuple(self.ref(p, loop) for p in self._driven_parts(key))
            return Ref(key, "sum", parts=parts)
        if kind == "spike":
            return Ref(key, "spike", parts=(self.ref(("spk", key[1]), loop),))
        if kind == "spk":
            if t.from_tape and key[1] == 0:
                return Ref(key, "arr", self.arg("tape", "spk"), "tape")
            if self._producer.get(key) == loop.index or not self.keep_spk:
                return Ref(key, "local", "spk")
            return Ref(key, "arr", self.stored(key), "scratch")
        if kind == "red":
            j = self.alg_index[key[1]]
            return Ref(key, "red", str(j), stage=key[2])
        if kind == "src":
            return Ref(key, "arr", self.arg("scratch", "src"), "scratch")
        if kind == "evu":
            return Ref(key, "arr", self.ev.u[key[1]], "event")
        if kind == "evg":  # the spike input of the trace: G / dt
            return Ref(key, "spike", parts=(Ref(("evg",), "arr", self.ev.g, "event"),))
        if kind == "zero":
            return Ref(key, "local", "0.0")
        if kind == "tgt" and t.from_tape and key[1] == 0:
            return Ref(key, "arr", self.arg("tape", "tgt"), "tape")
        local = self.local_name(key)
        if self._producer.get(key) == loop.index and not (kind == "tgt" and self.coupling_outside):
            return Ref(key, "local", local)
        name = self.stored(key)
        if name is None:  # pragma: no cover - the storage analysis covers every read
            raise NetworkError(f"codegen: {key!r} is read outside its loop", node=self.spec.label)
        return Ref(key, "arr", name, "scratch")

    def _in_role(self) -> str:
        return "carry" if self.k in self.plan.carry_in else "scratch"

    def value_name(self, key: tuple) -> str | None:
        """The model variable whose value ``key`` is (None for time, spikes, the network input).

        Parameters
        ----------
        key : tuple
            A value key.

        Returns
        -------
        str or None
            The qualified name.
        """
        kind, spec = key[0], self.spec
        if kind in ("state", "const", "alg", "red", "driven"):
            return key[1]
        if kind == "past":
            return self.delays[key[1]][1]  # the delayed state
        if kind in ("k",):
            return key[2]
        if kind == "new":
            return key[1]
        if kind == "tgt":
            return spec.target_var
        if kind == "src":
            return spec.source_var
        if kind == "in":
            return key[1] if len(key) > 1 else spec.input_var
        return None

    def local_name(self, key: tuple) -> str:
        """Name of the per-neuron local holding value ``key``.

        Parameters
        ----------
        key : tuple
            A value key (algebraic, coupling, stage derivative, new value, stage state, spike).

        Returns
        -------
        str
            The local's name.
        """
        k, kind = self.k, key[0]
        if kind == "alg":
            return f"a{k}_{self.alg_index[key[1]]}"
        if kind == "tgt":
            return "c_tgt"
        if kind == "k":
            j = self.states.index(key[2])
            return f"d{j}" if key[1] == 0 else f"d{j}_{key[1]}"
        if kind == "new":
            return f"y{self.states.index(key[1])}"
        if kind == "state":
            return f"ys{self.states.index(key[1])}"
        if kind == "spk":
            return "spk"
        if kind == "evnew":
            return f"ev{key[1]}"
        if kind == "noise":
            return f"xi{k}_{key[1]}"
        raise NetworkError(f"codegen: no local for {key!r}", node=self.spec.label)

    def names(self, keys, loop: Loop) -> dict[str, Ref]:
        """Where the free symbols of a statement live.

        Parameters
        ----------
        keys : tuple
            ``(symbol name, value key)`` pairs of the statement.
        loop : Loop
            The loop reading them.

        Returns
        -------
        dict
            Symbol name -> Ref.
        """
        return {name: self.ref(key, loop) for name, key in keys}

    def stores(self, key: tuple) -> str | None:
        """Array a producer writes besides its local.

        Parameters
        ----------
        key : tuple
            Key of the produced value.

        Returns
        -------
        str or None
            The argument name; None when nothing is stored.
        """
        kind = key[0]
        if kind in ("alg", "state", "k") or (kind == "tgt" and not self.coupling_outside):
            if kind == "state" and key[2] == 0:
                return None
            return self.stored(key)
        if kind == "spk" and self.keep_spk and not (self.plan.target.from_tape and key[1] == 0):
            return self.stored(key)
        return None

    @property
    def n_reductions(self) -> int:
        """Number of population reductions of the model."""
        return len(self.reductions)


# ---- the network ----------------------------------------------------------------------------
class NetworkPlan:
    """Everything one step of a network computes, in renderer-neutral form.

    Parameters
    ----------
    spec : NetworkSpec
        The network.
    target : Target
        What the renderer needs (see :class:`Target`).

    Attributes
    ----------
    args : list of ArgSpec
        The argument table, in kernel order.
    nodes : dict
        Node index -> :class:`NodePlan` (diff-eq nodes).
    reads_x : dict
        Node index -> whether it reads the network input directly (the input node without
        incoming edges).
    incoming : dict
        Node index -> list of :class:`EdgeIn`.
    probed : list of int
        Diff-eq nodes evaluated at the start of the step for their feedback edges.
    carried : list of int
        Function nodes whose output of the previous step feeds feedback edges.
    """

    def __init__(self, spec: NetworkSpec, target: Target) -> None:
        self.spec, self.target = spec, target
        self.args: list[ArgSpec] = []
        self._names: dict[tuple, str] = {}
        n = len(spec.nodes)
        # an event-driven feedback edge reads U, not the source's output on its current state
        fb_sources = sorted({e.source for e in spec.edges if e.feedback and not e.event})
        self.probed = [k for k in fb_sources if isinstance(spec.nodes[k], DiffEqSpec)]
        self.carried = [k for k in fb_sources if isinstance(spec.nodes[k], FuncSpec)]
        #: diff-eq node -> variables other than its output that edges read: forward edges from
        #: arrays ("val", var) written in stage 0, feedback edges from ("fb", var) of the probe
        self.edge_vals: dict[int, list[str]] = {k: [] for k in range(n)}
        self.edge_fbs: dict[int, list[str]] = {k: [] for k in range(n)}
        #: diff-eq node -> whether a feedback edge reads its output
        self.fb_out: dict[int, bool] = {k: False for k in range(n)}
        for edge in spec.edges:
            if edge.event:  # reads U, kept by the target: no value of the source
                continue
            reads = [(edge.source, edge.source_var, edge.feedback)]
            if edge.model is not None:  # template edges read bound variables of both ends
                for _, side, var in edge.model.bind:
                    if side == "source":
                        reads.append((edge.source, var, edge.feedback))
                    else:
                        reads.append((edge.target, var, False))
            for k, var, feedback in reads:
                node = spec.nodes[k]
                if not isinstance(node, DiffEqSpec):
                    continue
                if var is None or var == node.output_var:
                    if feedback:
                        self.fb_out[k] = True
                    continue
                dest = self.edge_fbs if feedback else self.edge_vals
                if var not in dest[k]:
                    dest[k].append(var)
        #: probed nodes whose probe depends on their input_var: that input is carried between
        #: steps (the probe reads the previous step's value); carry_extra: the same for the other
        #: edge-driven inputs, (node, input) pairs
        self.carry_in: set[int] = set()
        self.carry_extra: set[tuple[int, str]] = set()
        for k in self.probed:
            node = spec.nodes[k]
            probed = self.probe_values(k)
            if node.input_var is not None and any(
                _depends_on(node, v, node.input_var) for v in probed
            ):
                self.carry_in.add(k)
            for name in node.edge_inputs:
                if any(_depends_on(node, v, name) for v in probed):
                    self.carry_extra.add((k, name))
        self.incoming = {k: [] for k in range(n)}
        for e, edge in enumerate(spec.edges):
            self.incoming[edge.target].append((e, edge))
        self.reads_x = {
            k: k == spec.input_node
            and not any(edge.target_var is None for _, edge in self.incoming[k])
            and k not in self.carry_in
            and (isinstance(spec.nodes[k], FuncSpec) or spec.nodes[k].input_var is not None)
            for k in range(n)
        }
        self.nodes: dict[int, NodePlan] = {}
        for k, node in enumerate(spec.nodes):
            if isinstance(node, DiffEqSpec):
                self.nodes[k] = NodePlan(self, k, node, self.reads_x[k])
                continue
            self.declare(ArgSpec(f"n{k}_out", "scratch", k, "out"))
            if not self.reads_x[k]:
                if target.tape or target.from_tape:
                    self.declare(ArgSpec(f"n{k}_tin", "tape", k, "in"))
                if not target.from_tape:
                    self.declare(ArgSpec(f"n{k}_in", "scratch", k, "in"))
            if not (target.tape or target.from_tape):
                for q, key in enumerate(node.record):
                    self.declare(ArgSpec(f"n{k}_r{q}_{mangle(key[0])}", "rec", k, key))
        for k in self.carried:
            self.declare(ArgSpec(f"n{k}_prev", "carry", k, "prev"))
            if target.tape or target.from_tape:
                self.declare(ArgSpec(f"n{k}_tpv", "tape", k, "prev"))
        self.edges_in: dict[int, list[EdgeIn]] = {}
        for k in range(n):
            ins = []
            for e, edge in self.incoming[k]:
                if edge.event:
                    s = edge.source
                    var = edge.source_var or spec.nodes[s].output_var
                    ev = self.event_coupling("W", e, s, k, edge.fmt, var, k > s)
                    self.nodes[s].scatters.append(ev)
                    ins.append(
                        EdgeIn(e, s, edge.fmt, ev.columns, "", dest=edge.target_var, event=ev)
                    )
                    continue
                if edge.fmt == "dense":
                    w = (self.declare(ArgSpec(f"e{e}_W", "W", e, "dense")),)
                else:
                    w = tuple(
                        self.declare(ArgSpec(f"e{e}_W{sfx}", "W", e, part))
                        for part, sfx in CSR_PARTS.items()
                    )
                s = edge.source
                var = edge.source_var
                if s in self.nodes and var == spec.nodes[s].output_var:
                    var = None
                src = self.source_array(s, var, edge.feedback)
                ring = steps = ""
                if edge.delay is not None:
                    ring = self.declare(ArgSpec(f"e{e}_H", "ring", e, "edge"))
                    steps = self.declare(ArgSpec(f"e{e}_D", "edelay", e, edge.delay))
                ins.append(
                    EdgeIn(e, s, edge.fmt, w, src, var, edge.target_var, edge.delay, ring, steps)
                )
            self.edges_in[k] = ins
        #: template edges: edge index -> EdgePlan (their loops), and per target node the
        #: template edges whose update follows its loops
        self.edge_plans: dict = {}
        self.edge_updates: dict[int, list[int]] = {k: [] for k in range(n)}
        if any(edge.model is not None for edge in spec.edges):
            from .edgeplan import EdgePlan

            for k in range(n):
                for edge_in in self.edges_in[k]:
                    edge = spec.edges[edge_in.edge]
                    if edge.model is not None:
                        self.edge_plans[edge_in.edge] = EdgePlan(self, edge_in.edge, edge, edge_in)
                        self.edge_updates[k].append(edge_in.edge)
        self._reorder()

    def _reorder(self) -> None:
        """Arguments grouped by node (in node order), then edges, then carried outputs."""

        def rank(a: ArgSpec) -> tuple:
            if a.role in ("W", "edelay", "estate", "econst", "erec") or (
                a.role == "ring" and a.detail == "edge"
            ) or (a.role == "event" and a.detail[0] == "W"):
                return (1, a.owner)
            if a.detail == "prev":
                return (2, a.owner)
            return (0, a.owner)

        self.args.sort(key=rank)  # stable: declaration order within a group

    def event_coupling(
        self, kind: str, owner: int, source: int, target: int, fmt: str, var: str,
        advance_in_target: bool,
    ) -> EventCoupling:
        """Declare the arguments of an event-driven coupling and describe it.

        Parameters
        ----------
        kind : str
            ``"J"`` (node ``owner``'s coupling) or ``"W"`` (edge ``owner``).
        owner : int
            Node or edge index.
        source, target : int
            Source and target node.
        fmt : str
            ``"dense"`` or ``"csr"``.
        var : str
            The source's coupled variable (a linear trace of its spikes).
        advance_in_target : bool
            ``U`` advances where the target reads it (the source runs earlier in the step).

        Returns
        -------
        EventCoupling
            Names, expressions and placement.
        """
        src = self.spec.nodes[source]
        trace = node_trace(src, var)
        sh = shadow(trace, self.spec.method)
        role = "J" if kind == "J" else "W"
        p = f"n{owner}_J" if kind == "J" else f"e{owner}_W"
        if fmt == "dense":
            columns = (self.declare(ArgSpec(f"{p}t", role, owner, "dense_t")),)
        else:
            columns = tuple(
                self.declare(ArgSpec(f"{p}c{sfx}", role, owner, part))
                for part, sfx in CSC_PARTS.items()
            )
        u = tuple(
            self.declare(ArgSpec(f"{p}u{j}_{mangle(st)}", "event", owner, (kind, "u", st)))
            for j, st in enumerate(sh.states)
        )
        g = self.declare(ArgSpec(f"{p}g", "event", owner, (kind, "g")))
        names = set().union(*[free_names(e) for e in sh.values + sh.new])
        consts = tuple(
            (c, self.arg("const", source, c)) for c in src.constants if c in names
        )
        return EventCoupling(
            kind, owner, source, target, fmt, columns, u, g, sh, consts, advance_in_target
        )

    # ---- the argument table ----------------------------------------------------------------------
    def declare(self, arg: ArgSpec) -> str:
        """Add ``arg`` to the table (once per (role, owner, detail)).

        Parameters
        ----------
        arg : ArgSpec
            The argument.

        Returns
        -------
        str
            Its name (the first declared one for a repeated key).
        """
        key = (arg.role, arg.owner, arg.detail)
        if key not in self._names:
            self._names[key] = arg.name
            self.args.append(arg)
        return self._names[key]

    def arg(self, role: str, owner: int, detail) -> str:
        """Name of the argument (role, owner, detail).

        Parameters
        ----------
        role : str
            Argument role.
        owner : int
            Node (or edge) index.
        detail : object
            Argument detail.

        Returns
        -------
        str
            The name (a NetworkError when there is none).
        """
        try:
            return self._names[(role, owner, detail)]
        except KeyError:
            raise NetworkError(f"codegen: no argument {role}/{owner}/{detail!r}") from None

    def find(self, role: str, owner: int, detail) -> str | None:
        """Name of the argument (role, owner, detail), None when absent.

        Parameters
        ----------
        role : str
            Argument role.
        owner : int
            Node (or edge) index.
        detail : object
            Argument detail.

        Returns
        -------
        str or None
            The name.
        """
        return self._names.get((role, owner, detail))

    def input_array(self, k: int, name: str | None = None) -> str:
        """Name of node k's summed-input array (per-step scratch, or carried for a probe).

        Parameters
        ----------
        k : int
            Node index.
        name : str, optional
            An edge-driven input other than the node's ``input_var`` (None: ``input_var``).

        Returns
        -------
        str
            The argument name.
        """
        detail = "in" if name is None else ("in", name)
        return self.find("scratch", k, detail) or self.arg("carry", k, detail)

    def input_groups(self, k: int) -> list[tuple[str | None, list[EdgeIn], bool]]:
        """Node k's summed inputs: ``(input name, edges, adds x)`` per driven input array.

        The input node's ``input_var`` adds the network input x to its edges (and is summed
        into its array even without edges when the probe carries it); every other input is the
        sum of the edges that target it.

        Parameters
        ----------
        k : int
            Node index.

        Returns
        -------
        list of tuple
            ``(None for input_var or the input's name, incoming EdgeIns, whether x is added)``.
        """
        spec = self.spec
        groups: dict[str | None, list[EdgeIn]] = {}
        for edge in self.edges_in[k]:
            groups.setdefault(edge.dest, []).append(edge)
        node = spec.nodes[k]
        takes_x = isinstance(node, FuncSpec) or node.input_var is not None
        with_x = k == spec.input_node and not self.reads_x[k] and takes_x
        if with_x and None not in groups:
            groups = {None: [], **groups}
        return [(name, edges, with_x and name is None) for name, edges in groups.items()]

    def source_array(self, k: int, var: str | None, feedback: bool) -> str:
        """The array holding variable ``var`` of node k as edges read it.

        Parameters
        ----------
        k : int
            Node index.
        var : str or None
            A variable of the node (None: its output).
        feedback : bool
            Read by a feedback edge (the probe's value on the current state).

        Returns
        -------
        str
            The argument name.
        """
        node = self.spec.nodes[k]
        if k in self.nodes and var == node.output_var:
            var = None
        if var is not None:
            return self.arg("scratch", k, ("fb" if feedback else "val", var))
        if not feedback:
            return self.arg("scratch", k, "out")
        return self.arg("scratch", k, "fb") if k in self.nodes else self.arg("carry", k, "prev")

    def probe_values(self, k: int) -> list[str]:
        """Variables of diff-eq node k that its feedback probe evaluates.

        Parameters
        ----------
        k : int
            Node index.

        Returns
        -------
        list of str
            The output variable (when a feedback edge reads it) and the other variables
            feedback edges read.
        """
        node = self.spec.nodes[k]
        return ([node.output_var] if self.fb_out[k] else []) + self.edge_fbs[k]

    def add_train_arg(self, key: str) -> str:
        """Declare a training hook argument (role ``"train"``).

        Parameters
        ----------
        key : str
            Its detail (``"steps:"`` prefix: sliced per kernel call).

        Returns
        -------
        str
            Its name, ``tr_<key>``.
        """
        name = f"tr_{key.removeprefix('steps:')}"
        return self.declare(ArgSpec(name, "train", -1, key))



def _depends_on(node: DiffEqSpec, name: str, target: str) -> bool:
    """Whether ``name`` depends on ``target`` through algebraic definitions (coupling too)."""
    alg = {d.name: d for d in node.model.algebraic}
    seen: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n == target:
            return True
        if n in seen:
            continue
        seen.add(n)
        if n in alg:
            todo.extend(free_names(alg[n].expr))
        elif node.coupling is not None and n == node.target_var:
            todo.append(node.source_var)
    return False


@lru_cache(maxsize=256)
def build_plan(spec: NetworkSpec, target: Target = CPU) -> NetworkPlan:
    """The plan of ``spec`` for ``target`` (cached).

    Parameters
    ----------
    spec : NetworkSpec
        The network structure.
    target : Target
        The renderer's needs.

    Returns
    -------
    NetworkPlan
        Arguments, loops and statements of one step.
    """
    return NetworkPlan(spec, target)
