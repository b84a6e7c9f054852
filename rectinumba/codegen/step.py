"""Render a NetworkSpec as the Python source of ONE numba kernel that runs all T steps.

Layout of the generated kernel::

    kernel(T, t0, s0, dt, cutoff, sampling, x, out_rec, status, *args)
      for b in (p)range(B):          # independent trials
        for step in range(T):        # no Python, no allocation inside
          node by node, in evaluation order:
            summed edge input  ->  node computation  ->  output buffer
          network output recording, feedback buffers, status check

A diff-eq node runs L+1 passes over its neurons, L being the number of population barriers in the
dependency chain of its right-hand side (recurrent coupling, mean/vsum reductions): pass m computes
what depends on barriers < m; the last pass evaluates the derivatives, takes the Euler step, applies
spike resets and records states. Values used in a later pass than the one computing them are kept
in per-trial scratch rows; the rest are locals.

The argument list is returned with the source (``RenderedKernel.args``): the backend allocates or
passes arrays in exactly that order.
"""

from __future__ import annotations

from functools import lru_cache

from ..errors import NetworkError
from .printer import print_expr
from .source import SourceWriter, free_names
from .spec import ArgSpec, DiffEqSpec, FuncSpec, NetworkSpec, RenderedKernel

__all__ = ["ArgSpec", "RenderedKernel", "render_network", "FASTMATH", "FIXED_ARGS"]

# Fast-math flags without nnan/ninf so that non-finite checks keep working. "nsz" is left out too:
# together with "reassoc" it lets LLVM (numba 0.68) fold away math.isfinite on an Euler update
# (measured: the overflow check of a blowing-up QIF neuron never fired).
FASTMATH = frozenset({"arcp", "contract", "reassoc"})

# CSR arrays in generated code: <name>d (data), <name>n (column indices), <name>i (indptr)
_CSR_SUFFIX = {"data": "d", "indices": "n", "indptr": "i"}

FIXED_ARGS = ("T", "t0", "s0", "dt", "cutoff", "sampling", "x", "out_rec", "status")


def dependency_levels(spec: DiffEqSpec) -> tuple[dict[str, int], int]:
    """Pass of each name a diff-eq node reads (0 for states, constants, inputs, ...; one more
    than its inputs behind a population barrier), and the last pass L (the Euler update).

    Shared by the CPU and CUDA renderers, which split a node's work into the same passes.
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
            lvl = level(spec.source_var, stack) + 1
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


class _DiffEqRenderer:
    """Emit the per-step code of one diff-eq node (index k)."""

    def __init__(self, k: int, spec: DiffEqSpec, is_input: bool, args: list[ArgSpec],
                 row_parallel: bool = False) -> None:
        self.k, self.spec, self.is_input, self.args = k, spec, is_input, args
        # dense J rows in parallel threads (never inside a kernel parallel over trials: numba's
        # workqueue layer refuses nested parallel regions)
        self.row_parallel = row_parallel and spec.coupling == "dense"
        m = spec.model
        self.states = list(m.states)
        self.consts = list(spec.constants)
        self.alg = {d.name: d for d in m.algebraic}
        self.alg_index = {d.name: j for j, d in enumerate(m.algebraic)}
        self.derivs = dict(m.derivatives)
        self.coupled = spec.coupling is not None
        self.levels, self.L = dependency_levels(spec)
        self._compute_storage()

    def _compute_storage(self) -> None:
        uses: dict[str, set[int]] = {}

        def use(names, m):
            for n in names:
                uses.setdefault(n, set()).add(m)

        for name, d in self.alg.items():
            use(free_names(d.expr), self.levels[name] - (1 if d.reduce else 0))
        for expr in self.derivs.values():
            use(free_names(expr), self.L)
        spec = self.spec
        if self.coupled:
            use([spec.source_var], self.levels[spec.source_var])
        use([spec.output_var], self.levels[spec.output_var])
        for var, _ in spec.record:
            use([var], self.L if var in self.states else self.levels[var])
        if spec.spiking:
            use([spec.spike_var], self.L)  # the reset reads the spike flags in the last pass
        self.stored = {
            n
            for n, loops in uses.items()
            if (n in self.alg and self.alg[n].reduce is None)
            or (self.coupled and n == spec.target_var)
            or n == spec.spike_var
            if any(m != self.levels.get(n, 0) for m in loops)
        }
        if spec.spiking:
            self.stored.add(spec.spike_var)

    # ---- argument names ---------------------------------------------------------------
    def arg(self, role: str, detail, name: str) -> str:
        self.args.append(ArgSpec(name, role, self.k, detail))
        return name

    def declare_args(self) -> None:
        k, spec = self.k, self.spec
        for j, s in enumerate(self.states):
            self.arg("state", s, f"n{k}_s{j}")
        for j, c in enumerate(self.consts):
            self.arg("const", c, f"n{k}_p{j}")
        self.arg("scratch", "out", f"n{k}_out")
        if spec.input_var is not None and not self.is_input:
            self.arg("scratch", "in", f"n{k}_in")
        if self.coupled:
            self.arg("scratch", "src", f"n{k}_src")
            if spec.coupling == "dense":
                self.arg("J", "dense", f"n{k}_J")
            else:
                for part in ("data", "indices", "indptr"):
                    self.arg("J", part, f"n{k}_J{_CSR_SUFFIX[part]}")
        if spec.spiking:
            self.arg("scalar", "threshold", f"n{k}_thr")
            self.arg("scalar", "reset", f"n{k}_rst")
        for name in sorted(self.stored, key=self._order):
            self.arg("scratch", ("keep", name), self._stored_name(name))
        if self.row_parallel and spec.target_var not in self.stored:
            self.arg("scratch", ("keep", spec.target_var), f"n{k}_tgt")
        for q, key in enumerate(spec.record):
            self.arg("rec", key, f"n{k}_r{q}")

    def _order(self, name: str) -> tuple[int, str]:
        return (self.levels.get(name, 0), name)

    def _stored_name(self, name: str) -> str:
        k = self.k
        if name == self.spec.spike_var:
            return f"n{k}_spk"
        if self.coupled and name == self.spec.target_var:
            return f"n{k}_tgt"
        return f"n{k}_a{self.alg_index[name]}"

    # ---- value of a symbol inside pass m ----------------------------------------------
    def value(self, name: str, m: int) -> str:
        k, spec = self.k, self.spec
        if name == "t":
            return "t"
        if name in self.states:
            return f"n{k}_s{self.states.index(name)}[b, i]"
        if name in self.consts:
            return f"n{k}_p{self.consts.index(name)}[b, i]"
        if spec.spiking and name == spec.spike_var:
            flag = "spk" if m == 0 else f"n{k}_spk[b, i]"
            return f"({flag} * inv_dt)"
        parts = []
        if self.coupled and name == spec.target_var:
            parts.append("c_tgt" if m == self.levels[name] else f"n{k}_tgt[b, i]")
        if name == spec.input_var:
            parts.append("x[b, step, i]" if self.is_input else f"n{k}_in[b, i]")
        if parts:
            return "(" + " + ".join(parts) + ")"
        if name in self.alg:
            d = self.alg[name]
            j = self.alg_index[name]
            if d.reduce:
                return f"n{k}_red{j}"
            return f"a{k}_{j}" if m == self.levels[name] else f"n{k}_a{j}[b, i]"
        raise NetworkError(f"codegen: no value for {name!r}", node=spec.label)

    def expr(self, expr, m: int) -> str:
        return print_expr(expr, {n: self.value(n, m) for n in free_names(expr)})

    # ---- emission -----------------------------------------------------------------------
    def emit(self, code: SourceWriter) -> None:
        k, spec = self.k, self.spec
        code(f"# ---- diff-eq node {spec.label!r} ({spec.model.name!r})")
        reductions = [(j, d) for j, d in enumerate(self.spec.model.algebraic) if d.reduce]
        for m in range(self.L + 1):
            closing = [(j, d) for j, d in reductions if self.levels[d.name] == m + 1]
            for j, _ in closing:
                code(f"acc{k}_{j} = 0.0")
            rec_red = [
                (q, key)
                for q, key in enumerate(spec.record)
                if key[1] and self._rec_loop(key[0]) == m
            ]
            for q, _ in rec_red:
                code(f"racc{k}_{q} = 0.0")
            if self.row_parallel and self.levels[self.spec.target_var] == m:
                code(f"_dense_mv_par(n{k}_J, n{k}_src, b, n{k}_tgt)")
            with code.block(f"for i in range(N{k}):"):
                self._emit_pass(code, m, closing)
            for j, d in closing:
                total = f"acc{k}_{j}" if d.reduce == "vsum" else f"acc{k}_{j} / N{k}"
                code(f"n{k}_red{j} = {total}")
            for q, _ in rec_red:
                with code.block("if rec_now:"):
                    code(f"n{k}_r{q}[b, r, 0] = racc{k}_{q} / N{k}")

    def _rec_loop(self, var: str) -> int:
        return self.L if var in self.states else self.levels[var]

    def _emit_record(self, code: SourceWriter, q: int, key, value: str) -> None:
        k = self.k
        if key[1]:
            code(f"racc{k}_{q} += {value}")
        else:
            with code.block("if rec_now:"):
                code(f"n{k}_r{q}[b, r, i] = {value}")

    def _emit_pass(self, code: SourceWriter, m: int, closing) -> None:
        k, spec = self.k, self.spec
        if m == 0 and spec.spiking:
            v = self.value(spec.spike_def, 0)
            code(f"spk = 1.0 if {v} >= n{k}_thr else 0.0")
            code(f"n{k}_spk[b, i] = spk")
        if self.coupled and self.levels[spec.target_var] == m:
            if self.row_parallel:
                code(f"c_tgt = n{k}_tgt[b, i]")
            elif spec.coupling == "dense":
                code("c_tgt = 0.0")
                with code.block(f"for j in range(N{k}):"):
                    code(f"c_tgt += n{k}_J[i, j] * n{k}_src[b, j]")
            else:
                code(f"c_tgt = _csr_dot(n{k}_Jd, n{k}_Jn, n{k}_Ji[i], n{k}_Ji[i + 1], n{k}_src, b)")
            if spec.target_var in self.stored and not self.row_parallel:
                code(f"n{k}_tgt[b, i] = c_tgt")
        for name, d in self.alg.items():
            if d.reduce is None and self.levels[name] == m:
                j = self.alg_index[name]
                code(f"a{k}_{j} = {self.expr(d.expr, m)}")
                if name in self.stored:
                    code(f"n{k}_a{j}[b, i] = a{k}_{j}")
        for j, d in closing:
            code(f"acc{k}_{j} += {self.expr(d.expr, m)}")
        if self.coupled and self.levels[spec.source_var] == m:
            code(f"n{k}_src[b, i] = {self.value(spec.source_var, m)}")
        if self.levels[spec.output_var] == m:
            code(f"n{k}_out[b, i] = {self.value(spec.output_var, m)}")
        for q, key in enumerate(spec.record):
            if key[0] not in self.states and self.levels[key[0]] == m:
                self._emit_record(code, q, key, self.value(key[0], m))
        if m == self.L:
            self._emit_update(code)

    def _emit_update(self, code: SourceWriter) -> None:
        k, spec, L = self.k, self.spec, self.L
        for j, s in enumerate(self.states):
            code(f"d{j} = {self.expr(self.derivs[s], L)}")
        for j, s in enumerate(self.states):
            code(f"y{j} = n{k}_s{j}[b, i] + dt * d{j}")
            if spec.resets and s == spec.spike_def:
                with code.block(f"if {'spk' if L == 0 else f'n{k}_spk[b, i]'} != 0.0:"):
                    code(f"y{j} = n{k}_rst")
            with code.block(f"if not math.isfinite(y{j}) and status[b, 0] == 0:"):
                code("status[b, 0] = 1")
                code("status[b, 1] = gs")
                code(f"status[b, 2] = {k}")
                code(f"status[b, 3] = {j}")
                code("status[b, 4] = i")
            code(f"n{k}_s{j}[b, i] = y{j}")
        for q, key in enumerate(spec.record):
            if key[0] in self.states:
                self._emit_record(code, q, key, f"y{self.states.index(key[0])}")


_ELEMENTWISE = {
    "identity": "{v}",
    "tanh": "math.tanh({v})",
    "sigmoid": "1.0 / (1.0 + math.exp(-({v})))",
    "relu": "max({v}, 0.0)",
    # torch.nn.Softplus(beta=1, threshold=20): linear above the threshold
    "softplus": "({v}) if ({v}) > 20.0 else math.log1p(math.exp({v}))",
}


def _emit_activation(code: SourceWriter, k: int, act: str, inp: str, out: str) -> None:
    """``out = act(inp)`` for the N{k} neurons ``i`` of a function node (also used by the
    BPTT kernels); softmax and friends take a max, a sum and a normalising pass."""
    if act in _ELEMENTWISE:
        with code.block(f"for i in range(N{k}):"):
            code(f"{out} = {_ELEMENTWISE[act].format(v=inp)}")
        return
    sgn = "-" if act == "softmin" else ""
    code("mx = -math.inf")
    with code.block(f"for i in range(N{k}):"):
        code(f"mx = max(mx, {sgn}{inp})")
    code("tot = 0.0")
    with code.block(f"for i in range(N{k}):"):
        code(f"tot += math.exp({sgn}{inp} - mx)")
    with code.block(f"for i in range(N{k}):"):
        if act == "log_softmax":
            code(f"{out} = {inp} - mx - math.log(tot)")
        else:
            code(f"{out} = math.exp({sgn}{inp} - mx) / tot")


def _emit_func(
    code: SourceWriter, k: int, spec: FuncSpec, is_input: bool, args: list[ArgSpec]
) -> None:
    args.append(ArgSpec(f"n{k}_out", "scratch", k, "out"))
    if not is_input:
        args.append(ArgSpec(f"n{k}_in", "scratch", k, "in"))
    for q, key in enumerate(spec.record):
        args.append(ArgSpec(f"n{k}_r{q}", "rec", k, key))
    inp = "x[b, step, i]" if is_input else f"n{k}_in[b, i]"
    out = f"n{k}_out[b, i]"
    code(f"# ---- function node {spec.label!r} ({spec.activation})")
    _emit_activation(code, k, spec.activation, inp, out)
    for q, (var, reduce) in enumerate(spec.record):
        src = out if var == "out" else inp
        with code.block("if rec_now:"):
            if reduce:
                code("ra = 0.0")
                with code.block(f"for i in range(N{k}):"):
                    code(f"ra += {src}")
                code(f"n{k}_r{q}[b, r, 0] = ra / N{k}")
            else:
                with code.block(f"for i in range(N{k}):"):
                    code(f"n{k}_r{q}[b, r, i] = {src}")


def _incoming(spec: NetworkSpec, k: int) -> list:
    return [(e, edge) for e, edge in enumerate(spec.edges) if edge.target == k]


def _emit_edges(code: SourceWriter, k: int, spec: NetworkSpec, args: list[ArgSpec]) -> None:
    """Summed input of node k; the input node also adds the network input x."""
    incoming = _incoming(spec, k)
    if not incoming:
        return
    with code.block(f"for i in range(N{k}):"):
        code("acc = x[b, step, i]" if k == spec.input_node else "acc = 0.0")
        for e, edge in incoming:
            src = f"n{edge.source}_prev" if edge.feedback else f"n{edge.source}_out"
            if edge.fmt == "dense":
                args.append(ArgSpec(f"e{e}_W", "W", e, "dense"))
                with code.block(f"for j in range(e{e}_W.shape[1]):"):
                    code(f"acc += e{e}_W[i, j] * {src}[b, j]")
            else:
                for part in ("data", "indices", "indptr"):
                    args.append(ArgSpec(f"e{e}_W{_CSR_SUFFIX[part]}", "W", e, part))
                code(f"acc += _csr_dot(e{e}_Wd, e{e}_Wn, e{e}_Wi[i], e{e}_Wi[i + 1], {src}, b)")
        code(f"n{k}_in[b, i] = acc")


# Dense J @ src[b] with rows split over numba's threads, for NetworkSpec.row_parallel (one trial at
# a time, N >= spec.ROW_PARALLEL_MIN: a step costs far more than the parallel region's ~10-50 us).
# Only there: the threading layer adds ~25 MB and compile time to every kernel that contains it.
_DENSE_MV_PAR = """\
@njit(cache=True, error_model='numpy', fastmath={flags}, parallel=True, nogil=True)
def _dense_mv_par(J, src, b, dst):
    for i in prange(J.shape[0]):
        acc = 0.0
        for j in range(J.shape[1]):
            acc += J[i, j] * src[b, j]
        dst[b, i] = acc"""

# One CSR row times a source row. Compiled WITHOUT fastmath: with "reassoc" LLVM vectorises the
# gather loop into AVX gathers, measured 2.1-2.7x slower than this scalar loop (N=10^4, p=0.02,
# 2M nnz). ``fastmath=False`` must be explicit: numba makes a callee that leaves fastmath unset
# inherit the caller's flags. Fast-math flags are per instruction, so inlining keeps them apart.
_CSR_DOT = """\
@njit(cache=True, error_model='numpy', fastmath=False, nogil=True)
def _csr_dot(data, indices, start, stop, src, b):
    acc = 0.0
    for jj in range(start, stop):
        acc += data[jj] * src[b, indices[jj]]
    return acc"""


def _uses_csr(spec: NetworkSpec) -> bool:
    nodes = any(isinstance(n, DiffEqSpec) and n.coupling == "csr" for n in spec.nodes)
    return nodes or any(e.fmt == "csr" for e in spec.edges)


@lru_cache(maxsize=256)
def render_network(spec: NetworkSpec) -> RenderedKernel:
    """Generate the kernel source for ``spec`` and its argument list."""
    args: list[ArgSpec] = []
    body = SourceWriter()
    body.depth = 3
    feedback_sources = sorted({e.source for e in spec.edges if e.feedback})
    renderers = {}
    # only an input node without incoming (feedback) edges reads x directly
    reads_x = {k: k == spec.input_node and not _incoming(spec, k) for k in range(len(spec.nodes))}
    for k, node in enumerate(spec.nodes):
        if isinstance(node, DiffEqSpec):
            row_par = getattr(spec, "row_parallel", False) and not spec.parallel
            r = _DiffEqRenderer(k, node, reads_x[k], args, row_parallel=row_par)
            r.declare_args()
            renderers[k] = r
    for k in feedback_sources:
        args.append(ArgSpec(f"n{k}_prev", "scratch", k, "prev"))
    # the per-step body
    for k, node in enumerate(spec.nodes):
        _emit_edges(body, k, spec, args)
        if isinstance(node, DiffEqSpec):
            renderers[k].emit(body)
        else:
            _emit_func(body, k, node, reads_x[k], args)
    o = spec.output_node
    with body.block("if rec_now:"):
        with body.block(f"for i in range(N{o}):"):
            body(f"out_rec[b, r, i] = n{o}_out[b, i]")
    if spec.train is not None:
        # training hooks see: b, step, gs, rec_now, r, x, n<k>_out, e<e>_W..., and add
        # ArgSpec(role="train") arguments that the caller supplies by ``detail``
        spec.train.emit(body, spec, args)
    for k in feedback_sources:
        with body.block(f"for i in range(N{k}):"):
            body(f"n{k}_prev[b, i] = n{k}_out[b, i]")
    with body.block("if status[b, 0] != 0:"):
        body("break")

    names = list(FIXED_ARGS) + [a.name for a in args]
    head = SourceWriter()
    head("# Generated by rectinumba.codegen.step; do not edit. One kernel runs all T steps.")
    head("import math")
    head("")
    head("import numpy as np")
    head("from numba import njit, prange")
    head("")
    head("")
    flags = "{" + ", ".join(repr(f) for f in sorted(FASTMATH)) + "}"
    par = "True" if spec.parallel else "False"
    if _uses_csr(spec):
        head.lines.extend(_CSR_DOT.splitlines() + ["", ""])
    if any(r.row_parallel for r in renderers.values()):
        head.lines.extend(_DENSE_MV_PAR.format(flags=flags).splitlines() + ["", ""])
    head(f"@njit(cache=True, error_model='numpy', fastmath={flags}, parallel={par}, nogil=True)")
    with head.block(f"def kernel({', '.join(names)}):"):
        head("B = x.shape[0]")
        head("inv_dt = 1.0 / dt")
        for k in range(len(spec.nodes)):
            head(f"N{k} = n{k}_out.shape[1]")
        loop = "prange" if spec.parallel else "range"
        with head.block(f"for b in {loop}(B):"):
            with head.block("for step in range(T):"):
                head("t = (t0 + step) * dt")
                head("gs = s0 + step")
                head("rec_now = gs >= cutoff and (gs - cutoff) % sampling == 0")
                head("r = (gs - cutoff) // sampling")
    source = "\n".join(head.lines + body.lines) + "\n"
    return RenderedKernel(source, tuple(args))
