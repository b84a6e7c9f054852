"""Render a network's step plan as the Python source of ONE persistent numba.cuda kernel.

The kernel prints the loops and statements of :mod:`rectinumba.codegen.plan` (the same plan the
CPU kernel prints, built for :data:`~rectinumba.codegen.plan.CUDA`: the coupling target always
lives in an array) with every per-neuron loop spread over threads and a barrier wherever a value
written by one thread is read by another:

* ``mode="block"``: one thread block per trial (grid-stride over trials), threads stride over the
  neurons, barriers are ``cuda.syncthreads()``. For many trials or small populations.
* ``mode="grid"``: every thread of a cooperative grid strides over (trial, neuron) pairs, barriers
  are ``grid.sync()``. For few trials of large populations.

Matrix-vector products (recurrent coupling, edges; dense or CSR) give each row ``lanes`` threads
that read consecutive entries (coalesced) and sum their partials in shared memory; ``lanes`` is a
runtime argument (1 = one thread per row).

Event-driven couplings (:mod:`rectinumba.codegen.events`) scatter: each column of a spiking
source gets ``lanes`` threads that read it coalesced (CSC parts, or a row of W^T) and add its
entries to ``G`` with atomics. The alternative, a gather in which every target row scans the list
of spiking sources, reads O(N x spikes) entries (for a sparse W it must search each row for
the spiking columns) and needs the list compacted first; the scatter reads only the
O(spikes x fan-out) entries that change something, and its atomics rarely collide (they go to
different targets). The price is the order of the sums: it varies between runs, as it does
for the atomics of population means. Population reductions (mean/vsum; one slot per stage
of the update rule and one for the feedback probe) and softmax accumulate per trial with atomics
into device buffers double-buffered by step parity, so no buffer needs clearing behind a barrier;
recorded means add atomically into the recording.

Complex values (complex states or algebraic values, see :mod:`rectinumba.equations.functions`):
atomics take real numbers, so a complex reduction occupies two slots (real, imaginary part) of
its buffer, and a complex recorded mean is accumulated into the (B, R, 2) float view of its
(B, R, 1) complex recording (the launcher passes the view); lane row sums of complex rows use a
complex shared array. Everything else is numba's complex arithmetic and ``cmath``, which CUDA
device code supports (numba-cuda's list of supported cmath functions covers every function the
printer emits: exp, log, sqrt, phase, isfinite and the trigonometric and hyperbolic ones).

Non-finite states: each failing (step, node, neuron, state) writes an int64 key with ``atomic.min``
into ``z_fail``; the key orders failures like the CPU loop does, so the host decodes exactly the
status row the CPU kernel writes. In block mode a trial stops at the step after its first
failure; in grid mode the grid stops once every trial has failed.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache

from ..errors import BackendError
from .edgeplan import EdgePlan
from .emit import ELEMENTWISE, StatementWriter, helpers
from .plan import CUDA, EdgeIn, NetworkPlan, NodePlan, Record, Ref, build_plan
from .printer import ScalarPrinter
from .rng import rng_helpers
from .source import SourceWriter
from .spec import ArgSpec, DiffEqSpec, NetworkSpec

__all__ = ["Buffer", "CudaKernelSource", "render_cuda", "MODES", "MAX_THREADS"]

MODES = ("block", "grid")
#: size of the shared-memory row reduction buffer = the largest block the backend launches
MAX_THREADS = 1024
#: initial value of the failure keys
_NO_FAILURE = 2**63 - 1


@dataclass(frozen=True)
class Buffer:
    """A device-only kernel argument (backend mechanics, not part of the plan).

    Parameters
    ----------
    name : str
        Identifier.
    kind : str
        ``"red"`` (2, B, size) float zeros (population reductions, double-buffered by step
        parity); ``"sm"`` (2, B, 2) float holding (-inf, 0) (softmax max and sum); ``"fail"``
        (B,) int64 holding the largest int64; ``"cnt"`` (3,) int64 zeros (failed trials per
        step, grid mode).
    owner : int
        Node index (-1: none).
    size : int
        Slots of a ``"red"`` buffer.
    """

    name: str
    kind: str
    owner: int = -1
    size: int = 0


@dataclass(frozen=True)
class CudaKernelSource:
    """Source of the module defining ``kernel`` and how to call it.

    The kernel's parameters are ``T, t0, s0, dt, cutoff, sampling, x, out_rec``, then the plan's
    arguments ``args`` (the same table the CPU kernel has, for the CUDA plan), then ``buffers``,
    then ``lanes, NM, fstride``.

    Parameters
    ----------
    source : str
        Module source.
    mode : str
        ``"block"`` or ``"grid"``.
    args : tuple of ArgSpec
        The plan's arguments.
    buffers : tuple of Buffer
        Device-only buffers.
    n_nodes : int
        Number of units (failure keys: ((step * n_nodes + unit) * NM + index) * n_states +
        state): the nodes, and the updates of template edges after their target, in the order a
        step runs them.
    n_states : int
        Largest number of states of a node or template edge.
    units : tuple
        ``("node", k)`` or ``("edge", e)`` per unit (index = the unit of a failure key).
    """

    source: str
    mode: str
    args: tuple[ArgSpec, ...]
    buffers: tuple[Buffer, ...]
    n_nodes: int
    n_states: int
    units: tuple = ()


class _CudaPrinter(ScalarPrinter):
    """The CPU printer, with round() as a device function (numpy ufuncs are not device code)."""

    def _print_Round(self, expr) -> str:  # noqa: N802 (sympy's naming)
        return f"_rint({self._print(expr.args[0])})"


class _Code(SourceWriter):
    """A source writer that also tracks whether a barrier follows the last cross-thread write."""

    def __init__(self, depth: int = 0) -> None:
        super().__init__(depth)
        self.synced = True  # a barrier separates us from every earlier write


class _Ctx:
    """Mode-dependent loop headers and barriers, failure keys, the device-only buffers."""

    def __init__(self, spec: NetworkSpec, mode: str, plan: NetworkPlan) -> None:
        self.spec, self.mode = spec, mode
        self.buffers: list[Buffer] = []
        #: a complex row sum needs the complex shared array ``shc``
        self.uses_shc = False
        self.n_states = max(
            [1]
            + [len(n.model.states) for n in spec.nodes if isinstance(n, DiffEqSpec)]
            + [len(e.model.model.states) for e in spec.edges if e.model is not None]
        )
        #: failure units in the order a step runs them: node k, then template edges into k
        self.units: list[tuple[str, int]] = []
        for k in range(len(spec.nodes)):
            self.units.append(("node", k))
            self.units += [("edge", e) for e in plan.edge_updates[k]]

    def buffer(self, name: str, kind: str, owner: int = -1, size: int = 0) -> str:
        self.buffers.append(Buffer(name, kind, owner, size))
        return name

    def barrier(self, code: _Code) -> None:
        if not code.synced:
            code("cuda.syncthreads()" if self.mode == "block" else "grid.sync()")
            code.synced = True

    def ploop(self, code: _Code, k: int) -> AbstractContextManager[None]:
        """Loop over the neurons of node k (and over trials in grid mode); defines b and i."""
        code.synced = False
        if self.mode == "block":
            return code.block(f"for i in range(tid, N{k}, nt):")
        blk = code.block(f"for q in range(gt, B * N{k}, gn):")
        with code.indent():
            code(f"b = q // N{k}")
            code(f"i = q - b * N{k}")
        return blk

    def rows(
        self,
        code: _Code,
        k: int,
        accumulate: list[str],
        write: str | list[str],
        complex_rows: bool = False,
    ) -> None:
        """Row sums over node k's rows: the lines ``accumulate`` add this lane's terms of row
        (b, i) to ``acc`` (lane-strided loops); the lines ``write`` (``.format(total=...)``)
        store the row's sum (one thread per row runs them). ``complex_rows``: the terms are
        complex (partial sums go through ``shc``)."""
        writes = [write] if isinstance(write, str) else list(write)
        code.synced = False
        shared = "shc" if complex_rows else "sh"
        self.uses_shc = self.uses_shc or complex_rows
        with code.block("if lanes == 1:"):
            lp = self.ploop(code, k)
            with lp:
                code("acc = 0.0")
                for line in accumulate:
                    code(line)
                for line in writes:
                    code(line.format(total="acc"))
        with code.block("else:"):
            code("rpb = nt // lanes")
            head, total = self._groups(k)
            with code.block(head):
                code("row = base + tid // lanes")
                code("acc = 0.0")
                with code.block(f"if row < {total}:"):
                    self._row_index(code, k)
                    for line in accumulate:
                        code(line)
                code(f"{shared}[tid] = acc")
                code("cuda.syncthreads()")
                with code.block(f"if lane == 0 and row < {total}:"):
                    self._row_index(code, k)
                    code("tot = 0.0")
                    with code.block("for l in range(lanes):"):
                        code(f"tot += {shared}[tid + l]")
                    for line in writes:
                        code(line.format(total="tot"))
                code("cuda.syncthreads()")
        code.synced = False

    def scatter(self, code: _Code, k: int, test: str, lines: list[str]) -> None:
        """For every neuron ``j`` of node k (and trial b) that passes ``test``, run ``lines``
        (lane-strided loops over its column) with ``lanes`` threads."""
        code.synced = False
        with code.block("if lanes == 1:"):
            if self.mode == "block":
                head = f"for j in range(tid, N{k}, nt):"
            else:
                head = f"for q in range(gt, B * N{k}, gn):"
            with code.block(head):
                if self.mode == "grid":
                    code(f"b = q // N{k}")
                    code(f"j = q - b * N{k}")
                with code.block(f"if {test}:"):
                    for line in lines:
                        code(line)
        with code.block("else:"):
            code("rpb = nt // lanes")
            head, total = self._groups(k)
            with code.block(head):
                code("col = base + tid // lanes")
                # threads past rpb * lanes would take the next base's first column twice
                with code.block(f"if tid < rpb * lanes and col < {total}:"):
                    if self.mode == "block":
                        code("j = col")
                    else:
                        code(f"b = col // N{k}")
                        code(f"j = col - b * N{k}")
                    with code.block(f"if {test}:"):
                        for line in lines:
                            code(line)
        code.synced = False

    def _groups(self, k: int) -> tuple[str, str]:
        """Loop over groups of ``lanes`` threads (``rpb`` rows or columns of node k per block at
        a time) and the number of rows or columns."""
        if self.mode == "block":
            return f"for base in range(0, N{k}, rpb):", f"N{k}"
        return (
            f"for base in range(cuda.blockIdx.x * rpb, B * N{k}, cuda.gridDim.x * rpb):",
            f"B * N{k}",
        )

    def _row_index(self, code: _Code, k: int) -> None:
        if self.mode == "block":
            code("i = row")
        else:
            code(f"b = row // N{k}")
            code(f"i = row - b * N{k}")

    def fail(self, code: _Code, unit: tuple[str, int], j: int) -> None:
        """Record a non-finite state j of a unit (node k at neuron i, or template edge e at
        connection jj; see module docstring)."""
        K, S = len(self.units), self.n_states
        u, index = self.units.index(unit), "i" if unit[0] == "node" else "jj"
        code(f"key = ((step * {K} + {u}) * NM + {index}) * {S} + {j}")
        if self.mode == "block":
            code("cuda.atomic.min(z_fail, b, key)")
        else:
            # the grid runs on until every trial has failed (trials are independent, and the
            # status must name the failure the CPU kernel finds); count each trial's first one
            with code.block(f"if cuda.atomic.min(z_fail, b, key) == {_NO_FAILURE}:"):
                code("cuda.atomic.add(z_cnt, step % 3, 1)")


def _delayed_lane_matvec(edge: EdgeIn) -> list[str]:
    """Lane-strided partial row product of a delayed edge: weights times its ring."""
    R, D = edge.ring, edge.steps
    slot = StatementWriter.past_slot
    lines = [f"sl = {slot(R, f'{D}[i]')}"] if edge.delay == "row" else []
    full = edge.delay == "full"
    if edge.fmt == "dense":
        (W,) = edge.weights
        lines.append(f"for j in range(lane, {W}.shape[1], lanes):")
        lines += [f"    sl = {slot(R, f'{D}[i, j]')}"] if full else []
        return lines + [f"    acc += {W}[i, j] * {R}[b, sl, j]"]
    d, n, p = edge.weights
    lines.append(f"for jj in range({p}[i] + lane, {p}[i + 1], lanes):")
    lines += [f"    sl = {slot(R, f'{D}[jj]')}"] if full else []
    return lines + [f"    acc += {d}[jj] * {R}[b, sl, {n}[jj]]"]


def _lane_matvec(name: str, fmt: str, src: str, ncols: str) -> list[str]:
    """Lane-strided partial row product of matrix ``name`` (CPU argument naming) with src."""
    if fmt == "dense":
        return [f"for j in range(lane, {ncols}, lanes):", f"    acc += {name}[i, j] * {src}[b, j]"]
    d, n, p = name
    return [
        f"for jj in range({p}[i] + lane, {p}[i + 1], lanes):",
        f"    acc += {d}[jj] * {src}[b, {n}[jj]]",
    ]


class _Writer(StatementWriter):
    """Plan statements and loops for the CUDA kernel (threads stride over the neurons)."""

    printer = _CudaPrinter

    def __init__(self, plan: NetworkPlan, ctx: _Ctx) -> None:
        super().__init__(plan)
        self.ctx = ctx
        self.average = plan.spec.record_mode == "average"
        #: reduction slots per node: stage s (-1: the feedback probe) uses slots
        #: (s + 1) * n_red ... (s + 2) * n_red - 1 of z_red<k>
        self.red_buffers: dict[int, str] = {}
        #: node -> (slots per stage, reduction name -> first slot within a stage); a complex
        #: reduction takes two slots (real and imaginary part)
        self.red_slots: dict[int, tuple[int, dict[str, int]]] = {}
        for k, node in plan.nodes.items():
            if node.n_reductions:
                offsets, width = {}, 0
                for d in node.reductions:
                    offsets[d.name] = width
                    width += 2 if d.name in node.complex else 1
                self.red_slots[k] = (width, offsets)
                slots = (node.S + 1) * width
                self.red_buffers[k] = ctx.buffer(f"z_red{k}", "red", k, slots)

    def _slot(self, node: NodePlan, key: tuple) -> int:
        width, offsets = self.red_slots[node.k]
        return (key[2] + 1) * width + offsets[key[1]]

    def reduction(self, node: NodePlan, ref: Ref) -> str:
        k, buf, slot = node.k, self.red_buffers[node.k], self._slot(node, ref.key)
        total = f"{buf}[par, b, {slot}]"
        if ref.key[1] in node.complex:
            total = f"complex({total}, {buf}[par, b, {slot + 1}])"
        kind = node.alg[ref.key[1]].reduce
        count = f"np.float32(N{k})" if self.dtype == "float32" else f"N{k}"
        return total if kind == "vsum" else f"({total} / {count})"

    def accumulate(self, code, node, loop, key, text) -> None:
        slot, buf = self._slot(node, key), self.red_buffers[node.k]
        if key[1] in node.complex:
            code(f"zt = {text}")
            code(f"cuda.atomic.add({buf}, (par, b, {slot}), zt.real)")
            code(f"cuda.atomic.add({buf}, (par, b, {slot + 1}), zt.imag)")
            return
        code(f"cuda.atomic.add({buf}, (par, b, {slot}), {text})")

    def record(self, code, node, stmt: Record, text: str) -> None:
        edge = isinstance(node, EdgePlan)
        with code.block("if rec_now:"):
            count = f"n_syn{node.e}" if edge else f"N{node.k}"
            if stmt.mean and node.is_complex(stmt.key):
                # the launcher passes the (B, R, 2) float view of the complex recording
                code(f"zt = ({text}) / {count}")
                code(f"cuda.atomic.add({stmt.dest}, (b, r, 0), zt.real)")
                code(f"cuda.atomic.add({stmt.dest}, (b, r, 1), zt.imag)")
            elif stmt.mean:
                code(f"cuda.atomic.add({stmt.dest}, (b, r, 0), ({text}) / {count})")
            else:
                index = "jj" if edge else "i"
                code(f"{stmt.dest}[b, r, {index}] {'+=' if self.average else '='} {text}")

    def fail(self, code, node, state: int, local: str) -> None:
        unit = ("edge", node.e) if isinstance(node, EdgePlan) else ("node", node.k)
        with code.block(f"if not {self.finite(local, self.state_is_complex(node, state))}:"):
            self.ctx.fail(code, unit, state)

    # ---- loops ---------------------------------------------------------------------------------
    def loops(self, code: _Code, node: NodePlan, loops: list, first: bool) -> None:
        """Print a node's loops with a barrier between them; ``first``: the node's first loops
        of the step (they clear next step's reduction slots)."""
        k, ctx = node.k, self.ctx
        self.ring_positions(code, [node.arg("ring", ("past", s)) for s in node.rings])
        for q, loop in enumerate(loops):
            if q > 0:
                ctx.barrier(code)
            if loop.coupling:
                self.coupling(code, node)
                ctx.barrier(code)
            with ctx.ploop(code, k):
                if first and q == 0 and k in self.red_buffers:
                    # clear next step's reduction sums (last read in the previous step)
                    with code.block("if i == 0:"):
                        with code.block(f"for sl in range({self.red_buffers[k]}.shape[2]):"):
                            code(f"{self.red_buffers[k]}[1 - par, b, sl] = 0.0")
                self.statements(code, node, loop)

    def coupling(self, code: _Code, node: NodePlan) -> None:
        k, spec = node.k, node.spec
        src = node.arg("scratch", "src")
        if spec.coupling == "dense":
            name = node.arg("J", "dense")
        else:
            name = tuple(node.arg("J", p) for p in ("data", "indices", "indptr"))
        lines = _lane_matvec(name, spec.coupling, src, f"N{k}")
        code(f"# recurrent coupling of node {k}")
        dest = node.arg("scratch", ("keep", "tgt"))
        self.ctx.rows(code, k, lines, f"{dest}[b, i] = {{total}}", node.is_complex(("src",)))

    def connection_lines(self, edge, lanes: bool) -> list[str]:
        """Lines over the connections of row i of a template edge: the output loop (``lanes``:
        lane-strided, adding ``W * out`` to ``acc``) or the update loop (all of the row).

        Parameters
        ----------
        edge : EdgeIn
            The edge.
        lanes : bool
            The output loop (else the update loop).

        Returns
        -------
        list of str
            Lines relative to the row's indentation.
        """
        ep = self.plan.edge_plans[edge.edge]
        start, step = ("lane", "lanes") if lanes else ("0", "1")
        body = _Code(depth=1)
        if edge.fmt == "dense":
            (W,) = edge.weights
            head = f"for j in range({start}, {W}.shape[1], {step}):"
            body(f"jj = i * {W}.shape[1] + j")
            weight = f"{W}[i, j]"
        else:
            d, n, p = edge.weights
            head = f"for jj in range({p}[i] + {start}, {p}[i + 1], {step}):"
            body(f"j = {n}[jj]")
            weight = f"{d}[jj]"
        loop = ep.out_loop if lanes else ep.update_loop
        self.statements(body, ep, loop)
        if lanes:
            body(f"acc += {weight} * {self.value(ep, ep.out_key, loop)}")
        return [head] + body.lines

    def edge_update(self, code: _Code, e: int) -> None:
        """The update of template edge e's connections, threads over the target's rows."""
        ep = self.plan.edge_plans[e]
        if not ep.update_loop.body:  # no states, nothing recorded
            return
        code(f"# ---- template edge {e}: update of its connections")
        self.ctx.barrier(code)  # the target's kept values were written by other threads
        with self.ctx.ploop(code, ep.k):
            for line in self.connection_lines(ep.edge_in, lanes=False):
                code(line)

    def func(self, code: _Code, k: int) -> None:
        """A function node: activation of its input (max/sum by atomics), then recordings."""
        plan, ctx = self.plan, self.ctx
        spec = plan.spec.nodes[k]
        inp = "x[b, step, i]" if plan.reads_x[k] else f"{plan.arg('scratch', k, 'in')}[b, i]"
        out = f"{plan.arg('scratch', k, 'out')}[b, i]"
        act = spec.activation
        code(f"# ---- function node {k}: {spec.label!r} ({act})")
        op = "+=" if self.average else "="

        def records(c: _Code) -> None:
            if not spec.record:
                return
            with c.block("if rec_now:"):
                for var, reduce in spec.record:
                    rec = plan.arg("rec", k, (var, reduce))
                    src = out if var == "out" else inp
                    if reduce:
                        c(f"cuda.atomic.add({rec}, (b, r, 0), {src} / N{k})")
                    else:
                        c(f"{rec}[b, r, i] {op} {src}")

        if act in ELEMENTWISE:
            with ctx.ploop(code, k):
                code(f"{out} = {ELEMENTWISE[act].format(v=inp)}")
                records(code)
            return
        sm = ctx.buffer(f"z_sm{k}", "sm", k)
        sgn = "-" if act == "softmin" else ""
        with ctx.ploop(code, k):
            with code.block("if i == 0:"):  # reset next step's max and sum
                code(f"{sm}[1 - par, b, 0] = -math.inf")
                code(f"{sm}[1 - par, b, 1] = 0.0")
            code(f"cuda.atomic.max({sm}, (par, b, 0), {sgn}{inp})")
        ctx.barrier(code)
        with ctx.ploop(code, k):
            code(f"cuda.atomic.add({sm}, (par, b, 1), math.exp({sgn}{inp} - {sm}[par, b, 0]))")
        ctx.barrier(code)
        with ctx.ploop(code, k):
            code(f"mx = {sm}[par, b, 0]")
            code(f"tot = {sm}[par, b, 1]")
            if act == "log_softmax":
                code(f"{out} = {inp} - mx - math.log(tot)")
            else:
                code(f"{out} = math.exp({sgn}{inp} - mx) / tot")
            records(code)

    def spikes(self, code: _Code, node: NodePlan) -> None:
        """The spike pass of an event source (see module docstring), then the advance of ``U``
        of its event edges to earlier nodes."""
        if not node.scatters:
            return
        k, spec, ctx = node.k, node.spec, self.ctx
        v, thr = node.arg("state", spec.spike_def), node.arg("scalar", "threshold")
        lines: list[str] = []
        for ev in node.scatters:
            if ev.fmt == "dense":
                (wt,) = ev.columns
                lines += [f"for i2 in range(lane, {wt}.shape[1], lanes):",
                          f"    cuda.atomic.add({ev.g}, (b, i2), {wt}[j, i2])"]
            else:
                d, n, p = ev.columns
                lines += [f"for jj in range({p}[j] + lane, {p}[j + 1], lanes):",
                          f"    cuda.atomic.add({ev.g}, (b, {n}[jj]), {d}[jj])"]
        code(f"# ---- spikes of node {k}: columns into its event couplings (atomics)")
        ctx.scatter(code, k, f"{v}[b, j] >= {thr}", lines)
        ctx.barrier(code)
        for ev in node.scatters:
            if ev.kind == "W" and not ev.advance_in_target:
                with ctx.ploop(code, ev.target):
                    lines = _Code()
                    self.event_advance(lines, ev)
                    for line in lines.lines:
                        code(line)

    def edges(self, code: _Code, k: int) -> None:
        """Summed edge input of node k (plus x for the input node) into its "in" array."""
        plan = self.plan
        groups = plan.input_groups(k)
        if not groups:
            return
        code(f"# ---- edges into node {k}")
        self.ctx.barrier(code)  # sources were written by other threads
        for name, incoming, with_x in groups:
            lines: list[str] = []
            extra, advance = "", _Code()
            for edge in incoming:
                if edge.event is not None:
                    names = self.event_names(edge.event)
                    extra += f" + {self.doprint(edge.event.shadow.values[0], names)}"
                    if edge.event.advance_in_target:
                        self.event_advance(advance, edge.event)
                elif edge.edge in plan.edge_plans:
                    lines += self.connection_lines(edge, lanes=True)
                elif edge.delay is not None:
                    lines += _delayed_lane_matvec(edge)
                elif edge.fmt == "dense":
                    (W,) = edge.weights
                    lines += _lane_matvec(W, "dense", edge.src, f"{W}.shape[1]")
                else:
                    lines += _lane_matvec(edge.weights, "csr", edge.src, "")
            for edge in incoming:
                if edge.delay is not None:  # this step's source values into the edge's ring
                    self.ring_positions(code, [edge.ring])
                    with self.ctx.ploop(code, edge.source):
                        code(f"{edge.ring}[b, rp_{edge.ring}, i] = {edge.src}[b, i]")
                    self.ctx.barrier(code)
            dest = plan.input_array(k, name)
            plus_x = " + x[b, step, i]" if with_x else ""
            detail = ("in",) if name is None else ("in", name)
            complex_rows = k in plan.nodes and plan.nodes[k].is_complex(detail)
            # braces of the printed expressions must survive the write lines' .format
            braced = extra.replace("{", "{{").replace("}", "}}")
            writes = [f"{dest}[b, i] = {{total}}{plus_x}{braced}"]
            writes += [line.replace("{", "{{").replace("}", "}}") for line in advance.lines]
            self.ctx.rows(code, k, lines, writes, complex_rows)
        self.ctx.barrier(code)


_HEADER = '''\
# Generated by rectinumba.codegen.cuda_step; do not edit. One CUDA kernel runs all T steps.
{cmath_import}import math

import numpy as np
from numba import cuda, float64{complex_import}


@cuda.jit(device=True)
def _rint(v):
    # round half to even (numpy.rint) without numpy ufuncs or int conversion in device code
    if not math.isfinite(v):
        return v
    rem = math.fmod(v, 1.0)  # sign of v
    f = v - rem
    if rem < 0.0:
        f -= 1.0
        rem += 1.0
    if rem > 0.5 or (rem == 0.5 and math.fmod(f, 2.0) != 0.0):
        return f + 1.0
    return f


'''


@lru_cache(maxsize=256)
def render_cuda(spec: NetworkSpec, mode: str) -> CudaKernelSource:
    """Source of the CUDA kernel for ``spec``.

    Parameters
    ----------
    spec : NetworkSpec
        The network.
    mode : str
        ``"block"`` or ``"grid"``.

    Returns
    -------
    CudaKernelSource
        Source, arguments and buffers.
    """
    if mode not in MODES:
        raise BackendError(f"cuda kernel mode must be one of {MODES}, got {mode!r}")
    if spec.train is not None:
        raise BackendError(
            "training hooks (fit_rls, fit_ridge accumulation) do not run on the CUDA backend yet; "
            "use device='cpu' for training"
        )
    plan = build_plan(spec, CUDA)
    ctx = _Ctx(spec, mode, plan)
    writer = _Writer(plan, ctx)
    body = _Code(depth=3 if mode == "block" else 2)
    for k in plan.probed:
        node = plan.nodes[k]
        body(f"# ---- feedback value of node {k}: {node.spec.label!r}, on its current state")
        writer.loops(body, node, node.probe_loops, first=True)
        ctx.barrier(body)
    for k, node_spec in enumerate(spec.nodes):
        writer.edges(body, k)
        if k in plan.nodes:
            body(f"# ---- diff-eq node {k}: {node_spec.label!r} (model {node_spec.model.name!r})")
            writer.spikes(body, plan.nodes[k])
            writer.loops(body, plan.nodes[k], plan.nodes[k].loops, first=k not in plan.probed)
        else:
            writer.func(body, k)
        for e in plan.edge_updates[k]:
            writer.edge_update(body, e)
    o = spec.output_node
    out_o = plan.arg("scratch", o, "out")
    # the output node's values were written by this same thread mapping: no barrier needed
    with body.block("if rec_now:"):
        with ctx.ploop(body, o):
            body(f"out_rec[b, r, i] {'+=' if writer.average else '='} {out_o}[b, i]")
    if plan.carried:
        ctx.barrier(body)  # every edge has read the previous step's outputs
        for k in plan.carried:
            with ctx.ploop(body, k):
                prev, out = plan.arg("carry", k, "prev"), plan.arg("scratch", k, "out")
                body(f"{prev}[b, i] = {out}[b, i]")
    body.synced = False
    ctx.barrier(body)  # end of step
    buffers = tuple(ctx.buffers) + (Buffer("z_fail", "fail"),)
    if mode == "grid":
        buffers += (Buffer("z_cnt", "cnt"),)
    params = ["T", "t0", "s0", "dt", "cutoff", "sampling", "x", "out_rec"]
    params += [a.name for a in plan.args] + [bf.name for bf in buffers]
    params += ["lanes", "NM", "fstride"]

    head = _Code()
    # CUDA kernels that use grid.sync() are not cached: numba 0.59+ failed to load such kernels
    # from its cache (numba issue 9432; fixed in numba-cuda); block kernels are.
    head(f"@cuda.jit(cache={'True' if mode == 'block' else 'False'})")
    with head.block(f"def kernel({', '.join(params)}):"):
        head("B = x.shape[0]")
        head(f"inv_dt = {writer.lit('1.0')} / dt")
        for k in range(len(spec.nodes)):
            head(f"N{k} = {plan.arg('scratch', k, 'out')}.shape[1]")
        for e, ep in plan.edge_plans.items():
            head(f"n_syn{e} = {ep.edge_in.weights[0]}.size")
        head("tid = cuda.threadIdx.x")
        head("nt = cuda.blockDim.x")
        head("lane = tid % lanes")
        head(f"sh = cuda.shared.array({MAX_THREADS}, float64)")
        if ctx.uses_shc:
            head(f"shc = cuda.shared.array({MAX_THREADS}, complex128)")
        if mode == "block":
            with head.block("for b in range(cuda.blockIdx.x, B, cuda.gridDim.x):"):
                _step_head(head, "z_fail[b]", spec.record_mode, spec.dtype)
        else:
            head("grid = cuda.cg.this_grid()")
            head("gt = cuda.grid(1)")
            head("gn = cuda.gridsize(1)")
            head("nf = 0")
            _step_head(head, None, spec.record_mode, spec.dtype)
    extra = helpers("@cuda.jit(device=True)", writer.used_helpers, spec.dtype)
    if writer.uses_rng:
        extra += rng_helpers("@cuda.jit(device=True)")
    top = _HEADER.format(
        cmath_import="import cmath\n" if writer.uses_cmath else "",
        complex_import=", complex128" if ctx.uses_shc else "",
    )
    source = top + "\n".join(extra + head.lines + body.lines) + "\n"
    return CudaKernelSource(
        source, mode, tuple(plan.args), buffers, len(ctx.units), ctx.n_states, tuple(ctx.units)
    )


def _step_head(head: _Code, flag: str | None, record_mode: str, dtype: str) -> None:
    """Start of a step. Every thread must take the same branch at the break, so it only reads
    what was written before the previous step's final barrier: a failure key < step * fstride
    (block mode), or the count of trials that failed in the previous step (grid mode; counts
    go round three slots: slot s-1 is read here, slot s+1 = s-2 was read by everyone in step
    s-1 and is cleared for the next step)."""
    with head.block("for step in range(T):"):
        if flag is None:
            head("nf += z_cnt[(step + 2) % 3]")
            with head.block("if gt == 0:"):
                head("z_cnt[(step + 1) % 3] = 0")
            with head.block("if nf >= B:"):
                head("break")
        else:
            with head.block(f"if {flag} < step * fstride:"):
                head("break")
        if dtype == "float32":  # the time in float64, rounded once
            head("t = np.float32((t0 + step) * np.float64(dt))")
        else:
            head("t = (t0 + step) * dt")
        head("gs = s0 + step")
        if record_mode == "average":
            head("rec_now = gs >= cutoff")
        else:
            head("rec_now = gs >= cutoff and (gs - cutoff) % sampling == 0")
        head("r = (gs - cutoff) // sampling")
        head("par = step % 2")
