"""Render a NetworkSpec as the Python source of ONE persistent numba.cuda kernel (all T steps).

The kernel follows the CPU kernel of :mod:`rectinumba.codegen.step` step for step (same passes,
same expressions, same argument list plus a few device-only buffers), with every per-neuron loop
spread over threads and a barrier wherever a value written by one thread is read by another:

* ``mode="block"``: one thread block per trial (grid-stride over trials), threads stride over the
  neurons, barriers are ``cuda.syncthreads()``. For many trials or small populations.
* ``mode="grid"``: every thread of a cooperative grid strides over (trial, neuron) pairs, barriers
  are ``grid.sync()``. For few trials of large populations.

Matrix-vector products (recurrent coupling, edges; dense or CSR) give each row ``lanes`` threads
that read consecutive entries (coalesced) and sum their partials in shared memory; ``lanes`` is a
runtime argument (1 = one thread per row). Population reductions (mean/vsum), softmax and recorded
means accumulate per trial with atomics into device buffers double-buffered by step parity, so no
buffer needs clearing behind a barrier.

Non-finite states: each failing (step, node, neuron, state) writes an int64 key with ``atomic.min``
into ``z_fail``; the key orders failures like the CPU loop does, so the host decodes exactly the
status row the CPU kernel writes. In block mode a trial stops at the step after its first
failure; in grid mode the grid stops once every trial has failed.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache

from ..errors import BackendError, NetworkError
from .printer import ScalarPrinter
from .source import SourceWriter, free_names
from .spec import DiffEqSpec, FuncSpec, NetworkSpec
from .step import _ELEMENTWISE, ArgSpec, dependency_levels, render_network

__all__ = ["Buffer", "CudaKernelSource", "render_cuda", "MODES", "MAX_THREADS"]

MODES = ("block", "grid")
#: size of the shared-memory row reduction buffer = the largest block the backend launches
MAX_THREADS = 1024
#: initial value of the failure keys
_NO_FAILURE = 2**63 - 1


@dataclass(frozen=True)
class Buffer:
    """A device-only kernel argument.

    kind: ``"bn"`` (B, N of node ``owner``) float scratch; ``"red"`` (2, B, size) float zeros;
    ``"sm"`` (2, B, 2) float holding (-inf, 0) (softmax max and sum); ``"fail"`` (B,) int64
    holding the largest int64; ``"cnt"`` (3,) int64 zeros (failed trials per step, grid mode).
    """

    name: str
    kind: str
    owner: int = -1
    size: int = 0


@dataclass(frozen=True)
class CudaKernelSource:
    """Source of the module defining ``kernel`` and how to call it.

    The kernel's parameters are ``T, t0, s0, dt, cutoff, sampling, x, out_rec``, then the CPU
    arguments ``args[j]`` for j in ``used``, then ``buffers``, then ``lanes, NM, fstride``.
    ``n_states`` and ``n_nodes`` decode failure keys:
    key = ((step * n_nodes + node) * NM + neuron) * n_states + state.
    """

    source: str
    mode: str
    args: tuple[ArgSpec, ...]
    used: tuple[int, ...]
    buffers: tuple[Buffer, ...]
    n_nodes: int
    n_states: int


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
    """Mode-dependent loop headers and barriers, the argument name table, the buffers."""

    def __init__(self, spec: NetworkSpec, mode: str, args: tuple[ArgSpec, ...]) -> None:
        self.spec, self.mode = spec, mode
        self.names = {(a.role, a.owner, a.detail): a.name for a in args}
        self.buffers: list[Buffer] = []
        self.n_states = max(
            [1] + [len(n.model.states) for n in spec.nodes if isinstance(n, DiffEqSpec)]
        )

    def arg(self, role: str, owner: int, detail) -> str:
        try:
            return self.names[(role, owner, detail)]
        except KeyError:  # pragma: no cover - step.py and this renderer disagree
            raise BackendError(
                f"cuda codegen: the CPU kernel has no argument {role}/{owner}/{detail!r}"
            ) from None

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

    def rows(self, code: _Code, k: int, accumulate: list[str], write: str) -> None:
        """Row sums over node k's rows: the lines ``accumulate`` add this lane's terms of row
        (b, i) to ``acc`` (lane-strided loops); ``write.format(total=...)`` stores the row's sum."""
        code.synced = False
        with code.block("if lanes == 1:"):
            lp = self.ploop(code, k)
            with lp:
                code("acc = 0.0")
                for line in accumulate:
                    code(line)
                code(write.format(total="acc"))
        with code.block("else:"):
            code("rpb = nt // lanes")
            if self.mode == "block":
                head = f"for base in range(0, N{k}, rpb):"
                total = f"N{k}"
            else:
                head = f"for base in range(cuda.blockIdx.x * rpb, B * N{k}, cuda.gridDim.x * rpb):"
                total = f"B * N{k}"
            with code.block(head):
                code("row = base + tid // lanes")
                code("acc = 0.0")
                with code.block(f"if row < {total}:"):
                    self._row_index(code, k)
                    for line in accumulate:
                        code(line)
                code("sh[tid] = acc")
                code("cuda.syncthreads()")
                with code.block(f"if lane == 0 and row < {total}:"):
                    self._row_index(code, k)
                    code("tot = 0.0")
                    with code.block("for l in range(lanes):"):
                        code("tot += sh[tid + l]")
                    code(write.format(total="tot"))
                code("cuda.syncthreads()")
        code.synced = False

    def _row_index(self, code: _Code, k: int) -> None:
        if self.mode == "block":
            code("i = row")
        else:
            code(f"b = row // N{k}")
            code(f"i = row - b * N{k}")

    def fail(self, code: _Code, k: int, j: int) -> None:
        """Record a non-finite state j of node k at neuron i (see module docstring)."""
        K, S = len(self.spec.nodes), self.n_states
        code(f"key = ((step * {K} + {k}) * NM + i) * {S} + {j}")
        if self.mode == "block":
            code("cuda.atomic.min(z_fail, b, key)")
        else:
            # the grid runs on until every trial has failed (trials are independent, and the
            # status must name the failure the CPU kernel finds); count each trial's first one
            with code.block(f"if cuda.atomic.min(z_fail, b, key) == {_NO_FAILURE}:"):
                code("cuda.atomic.add(z_cnt, step % 3, 1)")


def _lane_matvec(name: str, fmt: str, src: str, ncols: str) -> list[str]:
    """Lane-strided partial row product of matrix ``name`` (CPU argument naming) with src."""
    if fmt == "dense":
        return [f"for j in range(lane, {ncols}, lanes):", f"    acc += {name}[i, j] * {src}[b, j]"]
    d, n, p = name
    return [
        f"for jj in range({p}[i] + lane, {p}[i + 1], lanes):",
        f"    acc += {d}[jj] * {src}[b, {n}[jj]]",
    ]


class _DiffEq:
    """One diff-eq node: dependency levels as in the CPU renderer, then passes over neurons."""

    def __init__(self, ctx: _Ctx, k: int, spec: DiffEqSpec, reads_x: bool) -> None:
        self.ctx, self.k, self.spec, self.reads_x = ctx, k, spec, reads_x
        m = spec.model
        self.states = list(m.states)
        self.consts = list(spec.constants)
        self.alg = {d.name: d for d in m.algebraic}
        self.alg_index = {d.name: j for j, d in enumerate(m.algebraic)}
        self.derivs = dict(m.derivatives)
        self.coupled = spec.coupling is not None
        self.levels, self.L = dependency_levels(spec)
        self.reductions = [(j, d) for j, d in enumerate(m.algebraic) if d.reduce]
        self.rec_means = [(q, key) for q, key in enumerate(spec.record) if key[1]]
        self._storage()
        self.printer_names: dict[str, str] = {}

    def _storage(self) -> None:
        """Element-wise algebraic values read in a pass other than the one computing them live
        in (B, N) device buffers; everything else is a thread-local."""
        uses: dict[str, set[int]] = {}
        for name, d in self.alg.items():
            for n in free_names(d.expr):
                uses.setdefault(n, set()).add(self.levels[name] - (1 if d.reduce else 0))
        for expr in self.derivs.values():
            for n in free_names(expr):
                uses.setdefault(n, set()).add(self.L)
        spec = self.spec
        extra = [spec.output_var] + [v for v, _ in spec.record if v not in self.states]
        if self.coupled:
            extra.append(spec.source_var)
        for n in extra:
            uses.setdefault(n, set()).add(self.levels[n])
        for v, _ in spec.record:
            if v in self.states:
                uses.setdefault(v, set()).add(self.L)
        self.stored = {
            n for n, passes in uses.items()
            if n in self.alg
            and self.alg[n].reduce is None
            and any(p != self.levels[n] for p in passes)
        }
        k, ctx = self.k, self.ctx
        for n in sorted(self.stored, key=lambda s: self.alg_index[s]):
            ctx.buffer(f"z_a{k}_{self.alg_index[n]}", "bn", k)
        if self.coupled:
            ctx.buffer(f"z_tgt{k}", "bn", k)
        if spec.spiking and self.L > 0:
            ctx.buffer(f"z_spk{k}", "bn", k)
        n_red = len(self.reductions) + len(self.rec_means)
        if n_red:
            ctx.buffer(f"z_red{k}", "red", k, n_red)
        self.red_slot = {j: s for s, (j, _) in enumerate(self.reductions)}
        self.rec_slot = {q: len(self.reductions) + s for s, (q, _) in enumerate(self.rec_means)}

    # ---- value of a symbol inside pass m --------------------------------------------------
    def value(self, name: str, m: int) -> str:
        k, spec, ctx = self.k, self.spec, self.ctx
        if name == "t":
            return "t"
        if name in self.states:
            return f"{ctx.arg('state', k, name)}[b, i]"
        if name in self.consts:
            return f"{ctx.arg('const', k, name)}[b, i]"
        if spec.spiking and name == spec.spike_var:
            flag = "spk" if m == 0 else f"z_spk{k}[b, i]"
            return f"({flag} * inv_dt)"
        parts = []
        if self.coupled and name == spec.target_var:
            parts.append(f"z_tgt{k}[b, i]")
        if name == spec.input_var:
            inp = "x[b, step, i]" if self.reads_x else f"{ctx.arg('scratch', k, 'in')}[b, i]"
            parts.append(inp)
        if parts:
            return "(" + " + ".join(parts) + ")"
        if name in self.alg:
            d = self.alg[name]
            j = self.alg_index[name]
            if d.reduce:
                total = f"z_red{k}[par, b, {self.red_slot[j]}]"
                return total if d.reduce == "vsum" else f"({total} / N{k})"
            return f"a{k}_{j}" if m == self.levels[name] else f"z_a{k}_{j}[b, i]"
        raise NetworkError(f"cuda codegen: no value for {name!r}", node=spec.label)

    def expr(self, expr, m: int) -> str:
        return _CudaPrinter({n: self.value(n, m) for n in free_names(expr)}).doprint(expr)

    # ---- emission --------------------------------------------------------------------------
    def emit(self, code: _Code) -> None:
        k, spec, ctx = self.k, self.spec, self.ctx
        code(f"# ---- diff-eq node {spec.label!r} ({spec.model.name!r})")
        for m in range(self.L + 1):
            if m > 0:
                ctx.barrier(code)
            if self.coupled and self.levels[spec.target_var] == m:
                self._emit_coupling(code)
                ctx.barrier(code)
            with ctx.ploop(code, k):
                self._emit_pass(code, m)

    def _emit_coupling(self, code: _Code) -> None:
        k, spec, ctx = self.k, self.spec, self.ctx
        src = ctx.arg("scratch", k, "src")
        if spec.coupling == "dense":
            name = ctx.arg("J", k, "dense")
        else:
            name = tuple(ctx.arg("J", k, p) for p in ("data", "indices", "indptr"))
        lines = _lane_matvec(name, spec.coupling, src, f"N{k}")
        code(f"# recurrent coupling of node {spec.label!r} ({spec.coupling})")
        ctx.rows(code, k, lines, f"z_tgt{k}[b, i] = {{total}}")

    def _record(self, code: _Code, q: int, key, value: str) -> None:
        rec = self.ctx.arg("rec", self.k, key)
        with code.block("if rec_now:"):
            if key[1]:
                code(f"cuda.atomic.add({rec}, (b, r, 0), ({value}) / N{self.k})")
            else:
                code(f"{rec}[b, r, i] = {value}")

    def _emit_pass(self, code: _Code, m: int) -> None:
        k, spec, ctx = self.k, self.spec, self.ctx
        if m == 0:
            if spec.spiking:
                thr = ctx.arg("scalar", k, "threshold")
                code(f"spk = 1.0 if {self.value(spec.spike_def, 0)} >= {thr} else 0.0")
                if self.L > 0:
                    code(f"z_spk{k}[b, i] = spk")
            if self.reductions:
                # clear next step's reduction sums (last read in the previous step)
                with code.block("if i == 0:"):
                    for j, _ in self.reductions:
                        code(f"z_red{k}[1 - par, b, {self.red_slot[j]}] = 0.0")
        for name, d in self.alg.items():
            if d.reduce is None and self.levels[name] == m:
                j = self.alg_index[name]
                code(f"a{k}_{j} = {self.expr(d.expr, m)}")
                if name in self.stored:
                    code(f"z_a{k}_{j}[b, i] = a{k}_{j}")
        for j, d in self.reductions:
            if self.levels[d.name] == m + 1:
                slot = self.red_slot[j]
                code(f"cuda.atomic.add(z_red{k}, (par, b, {slot}), {self.expr(d.expr, m)})")
        if self.coupled and self.levels[spec.source_var] == m:
            code(f"{ctx.arg('scratch', k, 'src')}[b, i] = {self.value(spec.source_var, m)}")
        if self.levels[spec.output_var] == m:
            code(f"{ctx.arg('scratch', k, 'out')}[b, i] = {self.value(spec.output_var, m)}")
        for q, key in enumerate(spec.record):
            if key[0] not in self.states and self.levels[key[0]] == m:
                self._record(code, q, key, self.value(key[0], m))
        if m == self.L:
            self._emit_update(code)

    def _emit_update(self, code: _Code) -> None:
        k, spec, ctx, L = self.k, self.spec, self.ctx, self.L
        for j, s in enumerate(self.states):
            code(f"d{j} = {self.expr(self.derivs[s], L)}")
        for j, s in enumerate(self.states):
            arr = ctx.arg("state", k, s)
            code(f"y{j} = {arr}[b, i] + dt * d{j}")
            if spec.resets and s == spec.spike_def:
                flag = "spk" if L == 0 else f"z_spk{k}[b, i]"
                with code.block(f"if {flag} != 0.0:"):
                    code(f"y{j} = {ctx.arg('scalar', k, 'reset')}")
            with code.block(f"if not math.isfinite(y{j}):"):
                ctx.fail(code, k, j)
            code(f"{arr}[b, i] = y{j}")
        for q, key in enumerate(spec.record):
            if key[0] in self.states:
                self._record(code, q, key, f"y{self.states.index(key[0])}")


def _emit_func(code: _Code, ctx: _Ctx, k: int, spec: FuncSpec, reads_x: bool) -> None:
    inp = "x[b, step, i]" if reads_x else f"{ctx.arg('scratch', k, 'in')}[b, i]"
    out = f"{ctx.arg('scratch', k, 'out')}[b, i]"
    act = spec.activation
    code(f"# ---- function node {spec.label!r} ({act})")

    def records(c: _Code) -> None:
        if not spec.record:
            return
        with c.block("if rec_now:"):
            for var, reduce in spec.record:
                rec = ctx.arg("rec", k, (var, reduce))
                src = out if var == "out" else inp
                if reduce:
                    c(f"cuda.atomic.add({rec}, (b, r, 0), {src} / N{k})")
                else:
                    c(f"{rec}[b, r, i] = {src}")

    if act in _ELEMENTWISE:
        with ctx.ploop(code, k):
            code(f"{out} = {_ELEMENTWISE[act].format(v=inp)}")
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


def _incoming(spec: NetworkSpec, k: int) -> list:
    return [(e, edge) for e, edge in enumerate(spec.edges) if edge.target == k]


def _emit_edges(code: _Code, ctx: _Ctx, k: int) -> None:
    """Summed edge input of node k (plus x for the input node) into its "in" buffer."""
    spec = ctx.spec
    incoming = _incoming(spec, k)
    if not incoming:
        return
    lines: list[str] = []
    for e, edge in incoming:
        src = ctx.arg("scratch", edge.source, "prev" if edge.feedback else "out")
        if edge.fmt == "dense":
            name = ctx.arg("W", e, "dense")
            lines += _lane_matvec(name, "dense", src, f"{name}.shape[1]")
        else:
            parts = tuple(ctx.arg("W", e, p) for p in ("data", "indices", "indptr"))
            lines += _lane_matvec(parts, "csr", src, "")
    dest = ctx.arg("scratch", k, "in")
    plus_x = " + x[b, step, i]" if k == spec.input_node else ""
    code(f"# ---- edges into node {spec.nodes[k].label!r}")
    ctx.barrier(code)  # sources were written by other threads
    ctx.rows(code, k, lines, f"{dest}[b, i] = {{total}}{plus_x}")
    ctx.barrier(code)


_HEADER = '''\
# Generated by rectinumba.codegen.cuda_step; do not edit. One CUDA kernel runs all T steps.
import math

from numba import cuda, float64


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
    """Source of the CUDA kernel for ``spec`` in ``mode`` ("block" or "grid")."""
    if mode not in MODES:
        raise BackendError(f"cuda kernel mode must be one of {MODES}, got {mode!r}")
    if spec.train is not None:
        raise BackendError(
            "training hooks (fit_rls, fit_ridge accumulation) do not run on the CUDA backend yet; "
            "use device='cpu' for training"
        )
    rendered = render_network(spec)
    ctx = _Ctx(spec, mode, rendered.args)
    body = _Code(depth=3 if mode == "block" else 2)
    reads_x = {k: k == spec.input_node and not _incoming(spec, k) for k in range(len(spec.nodes))}
    renderers = {
        k: _DiffEq(ctx, k, node, reads_x[k])
        for k, node in enumerate(spec.nodes)
        if isinstance(node, DiffEqSpec)
    }
    for k, node in enumerate(spec.nodes):
        _emit_edges(body, ctx, k)
        if k in renderers:
            renderers[k].emit(body)
        else:
            _emit_func(body, ctx, k, node, reads_x[k])
    o = spec.output_node
    out_o = ctx.arg("scratch", o, "out")
    # the output node's values were written by this same thread mapping: no barrier needed
    with body.block("if rec_now:"):
        with ctx.ploop(body, o):
            body(f"out_rec[b, r, i] = {out_o}[b, i]")
    feedback_sources = sorted({e.source for e in spec.edges if e.feedback})
    if feedback_sources:
        ctx.barrier(body)  # every edge has read the previous step's outputs
        for k in feedback_sources:
            with ctx.ploop(body, k):
                prev, out = ctx.arg("scratch", k, "prev"), ctx.arg("scratch", k, "out")
                body(f"{prev}[b, i] = {out}[b, i]")
    body.synced = False
    ctx.barrier(body)  # end of step
    text = "\n".join(body.lines)
    used = tuple(j for j, a in enumerate(rendered.args) if _mentions(text, a.name))
    buffers = tuple(ctx.buffers) + (Buffer("z_fail", "fail"),)
    if mode == "grid":
        buffers += (Buffer("z_cnt", "cnt"),)
    params = ["T", "t0", "s0", "dt", "cutoff", "sampling", "x", "out_rec"]
    params += [rendered.args[j].name for j in used] + [bf.name for bf in buffers]
    params += ["lanes", "NM", "fstride"]

    head = _Code()
    # CUDA kernels that use grid.sync() are not cached: numba 0.59+ failed to load such kernels
    # from its cache (numba issue 9432; fixed in numba-cuda); block kernels are.
    head(f"@cuda.jit(cache={'True' if mode == 'block' else 'False'})")
    with head.block(f"def kernel({', '.join(params)}):"):
        head("B = x.shape[0]")
        head("inv_dt = 1.0 / dt")
        for k in range(len(spec.nodes)):
            head(f"N{k} = {ctx.arg('scratch', k, 'out')}.shape[1]")
        head("tid = cuda.threadIdx.x")
        head("nt = cuda.blockDim.x")
        head("lane = tid % lanes")
        head(f"sh = cuda.shared.array({MAX_THREADS}, float64)")
        if mode == "block":
            with head.block("for b in range(cuda.blockIdx.x, B, cuda.gridDim.x):"):
                _step_head(head, "z_fail[b]")
        else:
            head("grid = cuda.cg.this_grid()")
            head("gt = cuda.grid(1)")
            head("gn = cuda.gridsize(1)")
            head("nf = 0")
            _step_head(head, None)
    source = _HEADER + "\n".join(head.lines + body.lines) + "\n"
    return CudaKernelSource(
        source, mode, rendered.args, used, buffers, len(spec.nodes), ctx.n_states
    )


def _step_head(head: _Code, flag: str | None) -> None:
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
        head("t = (t0 + step) * dt")
        head("gs = s0 + step")
        head("rec_now = gs >= cutoff and (gs - cutoff) % sampling == 0")
        head("r = (gs - cutoff) // sampling")
        head("par = step % 2")


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", text) is not None

