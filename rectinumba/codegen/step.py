"""Render a network's step plan as the Python source of ONE numba kernel that runs all T steps.

Layout of the generated kernel::

    kernel(T, t0, s0, dt, cutoff, sampling, x, out_rec, status, *args)
      for b in (p)range(B):          # independent trials
        for step in range(T):        # no Python, no allocation inside
          feedback probes; node by node in evaluation order: summed edge input -> the node's
          loops (codegen.plan) -> output buffer; network output recording, training hook,
          carried outputs, status check

This module prints the loops of :mod:`rectinumba.codegen.plan` for the CPU: serial loops over the
neurons of a trial, the coupling row gathered inside the loop (or, for large dense J with one
trial, by a row-parallel helper before it), reductions in local accumulators, failures in the
trial's status row. The argument list comes with the source (``RenderedKernel.args``).
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache

from ..backends.status import EDGE_NONFINITE
from .edgeplan import EdgePlan
from .emit import StatementWriter, emit_activation, helpers
from .plan import (
    CPU,
    FIXED_ARGS,
    Check,
    EdgeIn,
    Loop,
    NetworkPlan,
    NodePlan,
    Record,
    Ref,
    Target,
    build_plan,
)
from .rng import rng_helpers
from .source import SourceWriter
from .spec import ArgSpec, NetworkSpec, RenderedKernel

__all__ = ["ArgSpec", "RenderedKernel", "render_network", "FASTMATH", "FIXED_ARGS", "CPUWriter"]

# Fast-math flags without nnan/ninf so that non-finite checks keep working. "nsz" is left out too:
# together with "reassoc" it lets LLVM (numba 0.68) fold away math.isfinite on an Euler update
# (measured: the overflow check of a blowing-up QIF neuron never fired).
FASTMATH = frozenset({"arcp", "contract", "reassoc"})


def decorator(parallel: bool) -> str:
    """The njit decorator of generated kernels (the one decorator policy).

    Parameters
    ----------
    parallel : bool
        Trials in parallel threads (prange).

    Returns
    -------
    str
        The decorator line.
    """
    flags = "{" + ", ".join(repr(f) for f in sorted(FASTMATH)) + "}"
    return (
        f"@njit(cache=True, error_model='numpy', fastmath={flags}, parallel={parallel}, "
        "nogil=True)"
    )


# Dense J @ src[b] with rows split over numba's threads, for NetworkSpec.row_parallel (one trial at
# a time, N >= spec.ROW_PARALLEL_MIN: a step costs far more than the parallel region's ~10-50 us).
# Only there: the threading layer adds ~25 MB and compile time to every kernel that contains it.
_DENSE_MV_PAR = """\
@njit(cache=True, error_model='numpy', fastmath={flags}, parallel=True, nogil=True)
def _dense_mv_par(J, src, b, dst):
    for i in prange(J.shape[0]):
        acc = {zero}
        for j in range(J.shape[1]):
            acc += J[i, j] * src[b, j]
        dst[b, i] = acc"""

# One CSR row times a source row (benchmarks/csr_gather_bench.py measures the variants). The
# position jj runs as uint64 and the column indices are uint32 (weights.index_dtype): numba
# tests a signed index for a negative value (wrap-around) before every load, which made this
# loop 1.7x slower than scipy's; without the tests it is as fast (0.96-0.98x, N=10^4, p=0.02).
# One accumulator, WITHOUT fastmath: the sums stay the sequential ones (scipy's order, and this
# project's numbers of earlier versions), bit for bit. Four accumulators reorder them for no
# gain (0.93x); with "reassoc" LLVM vectorises the loop into AVX gathers, 0.78x scipy on the
# reference machine but with reordered sums.
# ``fastmath=False`` must be explicit: numba makes a callee that leaves fastmath unset inherit
# the caller's flags. Fast-math flags are per instruction, so inlining keeps them apart.
_CSR_DOT = """\
@njit(cache=True, error_model='numpy', fastmath=False, nogil=True)
def _csr_dot(data, indices, start, stop, src, b):
    acc = {zero}
    for jj in range(np.uint64(start), np.uint64(stop)):
        acc += data[jj] * src[b, indices[jj]]
    return acc"""


class CPUWriter(StatementWriter):
    """Statements and loops of a plan for the CPU kernel (also the BPTT forward kernel).

    Parameters
    ----------
    plan : NetworkPlan
        The plan printed.
    """

    def __init__(self, plan: NetworkPlan) -> None:
        super().__init__(plan)
        self.average = plan.spec.record_mode == "average"
        self.uses_csr = False
        self.uses_row_parallel = False

    # ---- statement hooks -----------------------------------------------------------------------
    def reduction(self, node: NodePlan, ref: Ref) -> str:
        return f"n{node.k}_red{ref.name}"

    def accumulate(self, code, node, loop, key, text) -> None:
        code(f"acc{node.k}_{node.alg_index[key[1]]} += {text}")

    def record(self, code, node, stmt: Record, text: str) -> None:
        if stmt.mean:
            code(f"racc_{stmt.dest} += {text}")
        else:
            index = "jj" if isinstance(node, EdgePlan) else "i"
            with code.block("if rec_now:"):
                code(f"{stmt.dest}[b, r, {index}] {'+=' if self.average else '='} {text}")

    def fail(self, code, node, state: int, local: str) -> None:
        edge = isinstance(node, EdgePlan)
        finite = self.finite(local, self.state_is_complex(node, state))
        if not edge:
            # a flag, not a branch that writes the status: the loop stays vectorisable (measured
            # 1.5x faster for LIF neurons); the status is written by the scan after the loop
            code(f"bad{node.k} |= not {finite}")
            return
        with code.block(f"if not {finite} and status[b, 0] == 0:"):
            code(f"status[b, 0] = {EDGE_NONFINITE}")
            code("status[b, 1] = gs")
            code(f"status[b, 2] = {node.e}")
            code(f"status[b, 3] = {state}")
            code("status[b, 4] = jj")

    def scan_failures(self, code: SourceWriter, node: NodePlan) -> None:
        """After a loop that flagged a non-finite new state: the status row of the first one
        (neuron by neuron, states in order), found in the state arrays the loop wrote.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        node : NodePlan
            The node.
        """
        k = node.k
        with code.block(f"if bad{k} and status[b, 0] == 0:"):
            with code.block(f"for i in range(N{k}):"):
                for j, state in enumerate(node.states):
                    y = f"{node.arg('state', state)}[b, i]"
                    finite = self.finite(y, self.state_is_complex(node, j))
                    with code.block(f"if not {finite} and status[b, 0] == 0:"):
                        code("status[b, 0] = 1")
                        code("status[b, 1] = gs")
                        code(f"status[b, 2] = {k}")
                        code(f"status[b, 3] = {j}")
                        code("status[b, 4] = i")
                with code.block("if status[b, 0] != 0:"):
                    code("break")

    # ---- loops ---------------------------------------------------------------------------------
    def loops(self, code: SourceWriter, node: NodePlan, loops: list[Loop]) -> None:
        """Print the loops of a diff-eq node (its main loops or its feedback probe).

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        node : NodePlan
            The node.
        loops : list of Loop
            The loops.
        """
        k = node.k
        self.ring_positions(code, [node.arg("ring", ("past", s)) for s in node.rings])
        for loop in loops:
            for key, _ in loop.reductions:
                code(f"acc{k}_{node.alg_index[key[1]]} = {self.lit('0.0')}")
            for dest in loop.rec_means:
                code(f"racc_{dest} = {self.lit('0.0')}")
            if loop.coupling and node.row_parallel:
                self.uses_row_parallel = True
                J, src = node.arg("J", "dense"), node.arg("scratch", "src")
                code(f"_dense_mv_par({J}, {src}, b, {node.arg('scratch', ('keep', 'tgt'))})")
            elif loop.coupling and node.coupling_outside:
                with code.block(f"for i in range(N{k}):"):
                    self.coupling_row(code, node, loop)
            checks = any(isinstance(stmt, Check) for stmt in loop.body)
            if checks:
                code(f"bad{k} = False")
            with code.block(f"for i in range(N{k}):"):
                if loop.coupling and not node.coupling_outside:
                    self.coupling_row(code, node, loop)
                before = len(code.lines)
                self.statements(code, node, loop)
                if len(code.lines) == before:
                    code("pass")  # a writer may print nothing of a loop (BPTT recompute)
            if checks:
                self.scan_failures(code, node)
            for key, kind in loop.reductions:
                j = node.alg_index[key[1]]
                mean = "" if kind == "vsum" else f" / {self.count(k)}"
                code(f"n{k}_red{j} = acc{k}_{j}{mean}")
            for dest in loop.rec_means:
                with code.block("if rec_now:"):
                    code(f"{dest}[b, r, 0] {'+=' if self.average else '='} racc_{dest} / N{k}")

    def coupling_row(self, code: SourceWriter, node: NodePlan, loop: Loop) -> None:
        """``c_tgt`` = row i of J times the source row (stored when another loop reads it).

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        node : NodePlan
            The node.
        loop : Loop
            The loop computing the coupling.
        """
        k, src = node.k, node.arg("scratch", "src")
        if node.spec.coupling == "dense":
            code(f"c_tgt = {self.lit('0.0')}")
            with code.block(f"for j in range(N{k}):"):
                code(f"c_tgt += {node.arg('J', 'dense')}[i, j] * {src}[b, j]")
        else:
            self.uses_csr = True
            d, n, p = (node.arg("J", part) for part in ("data", "indices", "indptr"))
            code(f"c_tgt = _csr_dot({d}, {n}, {p}[i], {p}[i + 1], {src}, b)")
        key = ("tgt", loop.stage)
        name = node.stores(key) if not node.coupling_outside else node.stored(key)
        if name is not None:
            code(f"{name}[b, i] = c_tgt")

    def edges(self, code: SourceWriter, k: int) -> None:
        """Summed input of node k; the input node also adds the network input x.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        k : int
            Node index.
        """
        plan = self.plan
        for name, incoming, with_x in plan.input_groups(k):
            dest = plan.input_array(k, name)
            for edge in incoming:
                if edge.delay is not None:
                    self.push_edge(code, edge)
            with code.block(f"for i in range(N{k}):"):
                code("acc = x[b, step, i]" if with_x else f"acc = {self.lit('0.0')}")
                for edge in incoming:
                    if edge.event is not None:
                        names = self.event_names(edge.event)
                        code(f"acc += {self.doprint(edge.event.shadow.values[0], names)}")
                    elif edge.edge in plan.edge_plans:
                        ep = plan.edge_plans[edge.edge]
                        with self.connections(code, edge) as weight:
                            self.statements(code, ep, ep.out_loop)
                            code(f"acc += {weight} * {self.value(ep, ep.out_key, ep.out_loop)}")
                    elif edge.delay is not None:
                        self.delayed_edge_row(code, edge)
                    elif edge.fmt == "dense":
                        (W,) = edge.weights
                        with code.block(f"for j in range({W}.shape[1]):"):
                            code(f"acc += {W}[i, j] * {edge.src}[b, j]")
                    else:
                        self.uses_csr = True
                        d, n, p = edge.weights
                        code(f"acc += _csr_dot({d}, {n}, {p}[i], {p}[i + 1], {edge.src}, b)")
                code(f"{dest}[b, i] = acc")
                tape = plan.find("tape", k, "in") if name is None else None
                if tape is not None and k not in plan.nodes:
                    code(f"{tape}[b, step, i] = acc")
                for edge in incoming:
                    if edge.event is not None and edge.event.advance_in_target:
                        self.event_advance(code, edge.event)

    @contextmanager
    def connections(self, code: SourceWriter, edge: EdgeIn):
        """Loop over the connections of row i of a template edge (``j``: source neuron, ``jj``:
        connection); yields the source text of the connection's weight.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        edge : EdgeIn
            The edge.

        Yields
        ------
        str
            The weight of connection jj.
        """
        if edge.fmt == "dense":
            (W,) = edge.weights
            with code.block(f"for j in range({W}.shape[1]):"):
                code(f"jj = i * {W}.shape[1] + j")
                yield f"{W}[i, j]"
        else:
            d, n, p = edge.weights
            with code.block(f"for jj in range({p}[i], {p}[i + 1]):"):
                code(f"j = {n}[jj]")
                yield f"{d}[jj]"

    def edge_update(self, code: SourceWriter, e: int) -> None:
        """The update of template edge e's connections (after its target node's loops).

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        e : int
            Edge index.
        """
        ep = self.plan.edge_plans[e]
        edge, t = ep.edge_in, ep.k
        if not ep.update_loop.body:  # no states, nothing recorded
            return
        code(f"# ---- template edge {e}: {ep.label!r}, update of its connections")
        for dest in ep.update_loop.rec_means:
            code(f"racc_{dest} = 0.0")
        with code.block(f"for i in range(N{t}):"):
            with self.connections(code, edge):
                self.statements(code, ep, ep.update_loop)
        n_syn = f"{edge.weights[0]}.size" if edge.fmt == "dense" else f"{edge.weights[0]}.shape[0]"
        for dest in ep.update_loop.rec_means:
            with code.block("if rec_now:"):
                code(f"{dest}[b, r, 0] {'+=' if self.average else '='} racc_{dest} / {n_syn}")

    def spikes(self, code: SourceWriter, node: NodePlan) -> None:
        """The spike pass of an event source: columns of the neurons that spike this step are
        added to the ``G`` of each of its event couplings; then ``U`` of event edges to earlier
        nodes advances (their target read it before this node ran).

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        node : NodePlan
            The source node.
        """
        if not node.scatters:
            return
        k, spec = node.k, node.spec
        v, thr = node.arg("state", spec.spike_def), node.arg("scalar", "threshold")
        code(f"# ---- spikes of node {k} (the test of its loop): columns into event couplings")
        with code.block(f"for j in range(N{k}):"):
            with code.block(f"if {v}[b, j] >= {thr}:"):
                for ev in node.scatters:
                    if ev.fmt == "dense":
                        (wt,) = ev.columns
                        with code.block(f"for i in range({wt}.shape[1]):"):
                            code(f"{ev.g}[b, i] += {wt}[j, i]")
                    else:
                        d, n, p = ev.columns  # unsigned positions: no wrap-around tests
                        span = f"np.uint64({p}[j]), np.uint64({p}[j + 1])"
                        with code.block(f"for jj in range({span}):"):
                            code(f"{ev.g}[b, {n}[jj]] += {d}[jj]")
        for ev in node.scatters:
            if ev.kind == "W" and not ev.advance_in_target:
                with code.block(f"for i in range(N{ev.target}):"):
                    self.event_advance(code, ev)

    def push_edge(self, code: SourceWriter, edge: EdgeIn) -> None:
        """Write the source values of this step into a delayed edge's ring.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        edge : EdgeIn
            The delayed edge.
        """
        self.ring_positions(code, [edge.ring])
        with code.block(f"for j in range({edge.ring}.shape[2]):"):
            code(f"{edge.ring}[b, rp_{edge.ring}, j] = {edge.src}[b, j]")

    def delayed_edge_row(self, code: SourceWriter, edge: EdgeIn) -> None:
        """``acc +=`` row i of a delayed edge: weights times the ring at each delay.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        edge : EdgeIn
            The delayed edge.
        """
        R, D = edge.ring, edge.steps
        if edge.delay == "row":
            code(f"sl = {self.past_slot(R, f'{D}[i]')}")
        if edge.fmt == "dense":
            (W,) = edge.weights
            with code.block(f"for j in range({W}.shape[1]):"):
                if edge.delay == "full":
                    code(f"sl = {self.past_slot(R, f'{D}[i, j]')}")
                code(f"acc += {W}[i, j] * {R}[b, sl, j]")
        else:
            d, n, p = edge.weights
            with code.block(f"for jj in range({p}[i], {p}[i + 1]):"):
                if edge.delay == "full":
                    code(f"sl = {self.past_slot(R, f'{D}[jj]')}")
                code(f"acc += {d}[jj] * {R}[b, sl, {n}[jj]]")

    def func(self, code: SourceWriter, k: int) -> None:
        """A function node: activation of its input, then its recordings.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        k : int
            Node index.
        """
        plan = self.plan
        spec = plan.spec.nodes[k]
        inp = "x[b, step, i]" if plan.reads_x[k] else f"{plan.arg('scratch', k, 'in')}[b, i]"
        out = f"{plan.arg('scratch', k, 'out')}[b, i]"
        code(f"# ---- function node {k}: {spec.label!r} ({spec.activation})")
        emit_activation(code, k, spec.activation, inp, out, self.dtype)
        op = "+=" if self.average else "="
        for var, reduce in spec.record:
            dest = plan.find("rec", k, (var, reduce))
            if dest is None:
                continue
            src = out if var == "out" else inp
            with code.block("if rec_now:"):
                if reduce:
                    code(f"ra = {self.lit('0.0')}")
                    with code.block(f"for i in range(N{k}):"):
                        code(f"ra += {src}")
                    code(f"{dest}[b, r, 0] {op} ra / N{k}")
                else:
                    with code.block(f"for i in range(N{k}):"):
                        code(f"{dest}[b, r, i] {op} {src}")

    def step_body(self, code: SourceWriter) -> None:
        """Everything one step does, for trial b.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        """
        plan, spec = self.plan, self.plan.spec
        for k in plan.carried:
            tape = plan.find("tape", k, "prev")
            if tape is not None:
                with code.block(f"for i in range(N{k}):"):
                    code(f"{tape}[b, step, i] = {plan.arg('carry', k, 'prev')}[b, i]")
        for k in plan.probed:
            node = plan.nodes[k]
            code(f"# ---- feedback value of node {k}: {node.spec.label!r}, on its current state")
            self.loops(code, node, node.probe_loops)
        for k, node_spec in enumerate(spec.nodes):
            self.edges(code, k)
            if k in plan.nodes:
                model = node_spec.model.name
                code(f"# ---- diff-eq node {k}: {node_spec.label!r} (model {model!r})")
                self.spikes(code, plan.nodes[k])
                self.loops(code, plan.nodes[k], plan.nodes[k].loops)
            else:
                self.func(code, k)
            for e in plan.edge_updates[k]:
                self.edge_update(code, e)
        o = spec.output_node
        with code.block("if rec_now:"):
            with code.block(f"for i in range(N{o}):"):
                op = "+=" if self.average else "="
                code(f"out_rec[b, r, i] {op} {plan.arg('scratch', o, 'out')}[b, i]")
        if spec.train is not None:
            # training hooks see b, step, gs, rec_now, r, x and the plan's arrays; they add
            # arguments of role "train" that the caller supplies by ``detail``
            spec.train.emit(code, plan)
        for k in plan.carried:
            with code.block(f"for i in range(N{k}):"):
                prev, out = plan.arg("carry", k, "prev"), plan.arg("scratch", k, "out")
                code(f"{prev}[b, i] = {out}[b, i]")
        with code.block("if status[b, 0] != 0:"):
            code("break")

    def kernel(self, name: str = "kernel") -> list[str]:
        """Lines of the step kernel function.

        Parameters
        ----------
        name : str
            Function name.

        Returns
        -------
        list of str
            The lines.
        """
        spec = self.plan.spec
        body = SourceWriter(3)
        self.step_body(body)  # first: training hooks add arguments
        head = kernel_head(self.plan, name, list(FIXED_ARGS), "range(T)")
        with head.indent(), head.indent(), head.indent():
            head("gs = s0 + step")
            if spec.record_mode == "average":
                head("rec_now = gs >= cutoff")
            else:
                head("rec_now = gs >= cutoff and (gs - cutoff) % sampling == 0")
            head("r = (gs - cutoff) // sampling")
        return head.lines + body.lines

    def prelude(self) -> list[str]:
        """Helper functions the kernel calls (after :meth:`kernel`).

        Returns
        -------
        list of str
            The lines.
        """
        lines: list[str] = []
        zero = self.lit("0.0")
        if self.uses_csr:
            lines += _CSR_DOT.format(zero=zero).splitlines() + ["", ""]
        if self.uses_row_parallel:
            flags = "{" + ", ".join(repr(f) for f in sorted(FASTMATH)) + "}"
            lines += _DENSE_MV_PAR.format(flags=flags, zero=zero).splitlines() + ["", ""]
        lines += helpers(decorator(False), self.used_helpers, self.dtype)
        if self.uses_rng:
            # no fast-math: every kernel that draws computes the same normals, bit for bit
            plain = "@njit(cache=True, error_model='numpy', fastmath=False, nogil=True)"
            lines += rng_helpers(plain)
        return lines

    def count(self, k: int) -> str:
        """Node k's number of neurons as a divisor in the kernel's dtype (an int64 divisor makes
        a float32 quotient float64).

        Parameters
        ----------
        k : int
            Node index.

        Returns
        -------
        str
            Source text.
        """
        return f"np.float32(N{k})" if self.dtype == "float32" else f"N{k}"


def kernel_head(plan: NetworkPlan, name: str, fixed: list[str], steps: str) -> SourceWriter:
    """Decorator, signature (``fixed`` then the plan's arguments), sizes and the trial and step
    loops of a kernel over ``plan``; the caller continues at the depth of the step loop's body.

    Parameters
    ----------
    plan : NetworkPlan
        The plan whose argument table the kernel takes.
    name : str
        Function name.
    fixed : list of str
        Leading parameters.
    steps : str
        Iterable of the step loop (``"range(T)"``, or backwards for the adjoint).

    Returns
    -------
    SourceWriter
        The lines so far.
    """
    spec = plan.spec
    head = SourceWriter()
    head(decorator(spec.parallel))
    with head.block(f"def {name}({', '.join(fixed + [a.name for a in plan.args])}):"):
        head("B = x.shape[0]")
        f32 = spec.dtype == "float32"
        head("inv_dt = np.float32(1.0) / dt" if f32 else "inv_dt = 1.0 / dt")
        for k in range(len(spec.nodes)):
            head(f"N{k} = {plan.arg('scratch', k, 'out')}.shape[1]")
        with head.block(f"for b in {'prange' if spec.parallel else 'range'}(B):"):
            with head.block(f"for step in {steps}:"):
                # float32: the time in float64, rounded once (an int64 step makes it float64)
                if f32:
                    head("t = np.float32((t0 + step) * np.float64(dt))")
                else:
                    head("t = (t0 + step) * dt")
    return head


HEADER = ["import math", "", "import numpy as np", "from numba import njit, prange", "", ""]


def header(uses_cmath: bool) -> list[str]:
    """The import lines of a generated CPU module (``cmath`` only where complex values need it).

    Parameters
    ----------
    uses_cmath : bool
        The module calls cmath.

    Returns
    -------
    list of str
        The lines.
    """
    return (["import cmath"] if uses_cmath else []) + HEADER


def render_step(spec: NetworkSpec, target: Target = CPU) -> tuple[NetworkPlan, CPUWriter, list]:
    """The step kernel of ``spec`` for ``target``.

    Parameters
    ----------
    spec : NetworkSpec
        The network.
    target : Target
        Plan target (CPU, or the BPTT tape).

    Returns
    -------
    tuple
        (plan, writer, kernel lines).
    """
    plan = build_plan(spec, target)
    writer = CPUWriter(plan)
    return plan, writer, writer.kernel()


@lru_cache(maxsize=256)
def render_network(spec: NetworkSpec) -> RenderedKernel:
    """Generate the kernel source for ``spec`` and its argument list.

    Parameters
    ----------
    spec : NetworkSpec
        The network.

    Returns
    -------
    RenderedKernel
        Source and argument table.
    """
    plan, writer, lines = render_step(spec)
    head = ["# Generated by rectinumba.codegen.step; do not edit. One kernel runs all T steps."]
    source = "\n".join(head + header(writer.uses_cmath) + writer.prelude() + lines) + "\n"
    return RenderedKernel(source, tuple(plan.args))
