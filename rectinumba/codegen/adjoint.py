"""Render the forward ("taping") and backward (adjoint) kernels of backpropagation through time.

For a :class:`BPTTSpec` (a NetworkSpec plus which parameters are trained) this module generates ONE
Python module with two numba kernels that share one argument list (:class:`ArgSpec`):

``forward(T, t0, dt, x, sizes, out_rec, status, *args)``
    runs T Euler steps exactly as the simulation kernel does (spikes on the pre-update state,
    spike input 1/dt, reset after the update, node output from the pre-update state) and writes a
    *tape*: per step the pre-update states, the summed edge input, the coupling input, the spike
    flags and the feedback values each node read. Algebraic variables are not taped: the backward
    kernel recomputes them from the tape (cheaper in memory, same values).

``backward(T, t0, dt, x, sizes, gout, *args)``
    runs the adjoint recursion from step T-1 down to 0. ``gout[b, t]`` is d loss / d output at step
    t (from :mod:`rectinumba.training.losses`). Per step it first recomputes every node's
    algebraic variables and outputs from the tape (forward order), then walks the nodes in reverse
    order: the output adjoint of a node becomes adjoints of its algebraic variables, states,
    driven inputs and parameters through sympy-derived partial derivatives (vector-Jacobian
    products, one fused loop per block with common subexpressions shared), through the recurrent
    coupling (dense or CSR: ``dJ[i, j] += u_i src_j`` only on stored entries) and through the
    edges into the node. State adjoints (``lam``) and adjoints of feedback buffers (``gfb``) are
    carried in arguments so that a long window can be processed in checkpointed segments.

Spikes: the spike input variable holds ``spk / dt`` with ``spk = [v >= threshold]``; its adjoint
reaches ``v`` through the surrogate ``d spk / d v = 1 / (1 + slope |v - threshold|)^2``. Where a
neuron spiked, ``v_{t+1}`` is set to the reset value, so ``v_{t+1}`` passes no gradient back.

Gradients are accumulated per trial (leading axis B of every ``grad`` argument) so that trials
run in parallel without races; the caller sums them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy

from ..errors import EquationError, NetworkError
from .printer import print_expr
from .source import SourceWriter, free_names
from .spec import DiffEqSpec, FuncSpec, NetworkSpec
from .step import FASTMATH, ArgSpec, _emit_activation

__all__ = ["BPTTSpec", "ArgSpec", "RenderedBPTT", "render_bptt", "diff_model", "TGT"]

# Kernel arguments are step.ArgSpec with the BPTT roles: "state" (B, N) | "const" (B, N) | "J" | "W"
# | "scalar" | "prev" (B, n) | "tape" (B, T, n) | "lam" (B, N) | "gfb" (B, n) | "grad" (B, ...).
# ``owner``: node index (edge index for "W" and edge grads). ``detail``: state/const name, matrix
# part ("dense" | "data" | "indices" | "indptr"), scalar name ("threshold" | "reset" | "slope"),
# tape kind (("y", j) | "in" | "tgt" | "spk" | "prev"), or for grads ("const", name) | ("J", part)
# | ("W", part).

#: item name of the recurrent coupling in a node's evaluation order
TGT = "<coupling>"

_CSR_SUFFIX = {"data": "d", "indices": "n", "indptr": "i"}


@dataclass(frozen=True)
class BPTTSpec:
    """What changes the generated BPTT source.

    ``train_consts[k]``: names of the constants (parameters) of node k that get a gradient;
    ``train_J[k]``: whether node k's coupling J gets one; ``train_W[e]``: same for edge e.
    """

    net: NetworkSpec
    train_consts: tuple[tuple[str, ...], ...]
    train_J: tuple[bool, ...]
    train_W: tuple[bool, ...]


@dataclass(frozen=True)
class RenderedBPTT:
    source: str
    args: tuple[ArgSpec, ...]


def _sym(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


@lru_cache(maxsize=4096)
def _partial(expr, name: str):
    """d expr / d name with distributions dropped (Heaviside' = 0: piecewise-constant parts)."""
    d = sympy.diff(expr, _sym(name))
    d = d.replace(lambda e: isinstance(e, sympy.DiracDelta), lambda e: sympy.S.Zero)
    if d.has(sympy.Derivative) or d.has(sympy.Subs):
        raise EquationError(
            f"cannot differentiate {expr} with respect to {name!r} for BPTT",
            variable=name,
            hint="use functions with known derivatives",
        )
    return d


def diff_model(model) -> dict[str, dict[str, object]]:
    """Partial derivatives of every right-hand side of a NodeModel.

    Returns ``{expression name: {symbol: d expr / d symbol}}`` for each algebraic definition
    (keyed by its name) and each derivative (keyed ``"d/dt " + state``), over all free symbols
    except time. Zero partials are omitted. Used by the renderer and handy for inspection.
    """
    out: dict[str, dict[str, object]] = {}
    items = [(d.name, d.expr) for d in model.algebraic]
    items += [("d/dt " + s, e) for s, e in model.derivatives]
    for key, expr in items:
        parts = {}
        for name in sorted(free_names(expr)):
            if name == "t":
                continue
            d = _partial(expr, name)
            if d != 0:
                parts[name] = d
        out[key] = parts
    return out


class _Node:
    """Names and code of one diff-eq node k in both kernels."""

    def __init__(
        self, k: int, spec: DiffEqSpec, reads_x: bool, trained: tuple[str, ...], train_J: bool
    ) -> None:
        self.k, self.spec, self.reads_x, self.train_J = k, spec, reads_x, train_J
        m = spec.model
        self.states = list(m.states)
        self.consts = list(spec.constants)
        self.trained = set(trained)
        self.alg = {d.name: d for d in m.algebraic}
        self.alg_index = {d.name: j for j, d in enumerate(m.algebraic)}
        self.derivs = dict(m.derivatives)
        self.coupled = spec.coupling is not None
        self.items = self._topo()

    # ---- evaluation order of algebraic definitions and the coupling ------------------------
    def _topo(self) -> list[str]:
        spec = self.spec
        deps: dict[str, set[str]] = {}
        for name, d in self.alg.items():
            ds = set()
            for s in free_names(d.expr):
                if s in self.alg:
                    ds.add(s)
                if self.coupled and s == spec.target_var:
                    ds.add(TGT)
            deps[name] = ds
        if self.coupled:
            deps[TGT] = {spec.source_var} & set(self.alg)
            if spec.source_var == spec.target_var:
                deps[TGT] = {TGT}
        order: list[str] = []
        pending = list(deps)
        while pending:
            ready = [n for n in pending if deps[n] <= set(order)]
            if not ready:
                raise NetworkError(
                    "recurrent coupling depends on itself: " + ", ".join(pending),
                    node=spec.label,
                    hint="source_var must not depend on target_var",
                )
            order.append(ready[0])
            pending.remove(ready[0])
        return order

    # ---- names -----------------------------------------------------------------------------
    def driven_parts(self, name: str) -> list[str]:
        spec = self.spec
        parts = []
        if self.coupled and name == spec.target_var:
            parts.append("tgt")
        if name == spec.input_var:
            parts.append("in")
        if spec.spiking and name == spec.spike_var:
            parts.append("spk")
        return parts

    def value(self, name: str, mode: str) -> str:
        """Source text of the value of ``name`` for neuron ``i`` at step ``step``."""
        k = self.k
        if name == "t":
            return "t"
        if name in self.states:
            j = self.states.index(name)
            return f"n{k}_s{j}[b, i]" if mode == "fwd" else f"n{k}_ty{j}[b, step, i]"
        if name in self.consts:
            return f"n{k}_p{self.consts.index(name)}[b, i]"
        parts = self.driven_parts(name)
        if parts:
            txt = []
            for p in parts:
                if p == "tgt":
                    txt.append(f"n{k}_tgt[i]" if mode == "fwd" else f"n{k}_ttg[b, step, i]")
                elif p == "in":
                    if self.reads_x:
                        txt.append("x[b, step, i]")
                    else:
                        txt.append(f"n{k}_in[i]" if mode == "fwd" else f"n{k}_tin[b, step, i]")
                else:
                    flag = f"n{k}_spk[i]" if mode == "fwd" else f"n{k}_tsp[b, step, i]"
                    txt.append(f"({flag} * inv_dt)")
            return "(" + " + ".join(txt) + ")"
        if name in self.alg:
            j = self.alg_index[name]
            return f"n{k}_red{j}" if self.alg[name].reduce else f"n{k}_a{j}[i]"
        raise NetworkError(f"codegen: no value for {name!r}", node=self.spec.label)

    def names(self, expr, mode: str) -> dict[str, str]:
        return {n: self.value(n, mode) for n in free_names(expr)}

    def adjoint_targets(self, name: str, new_lam: bool = False) -> list[str]:
        """Where d loss / d ``name`` accumulates (empty: not needed)."""
        k = self.k
        if name == "t":
            return []
        if name in self.states:
            j = self.states.index(name)
            return [f"nl{j}"] if new_lam else [f"n{k}_l{j}[b, i]"]
        if name in self.consts:
            if name in self.trained:
                return [f"n{k}_gp{self.consts.index(name)}[b, i]"]
            return []
        parts = self.driven_parts(name)
        if parts:
            out = []
            for p in parts:
                if p == "tgt":
                    out.append(f"n{k}_gt[i]")
                elif p == "in":
                    if not self.reads_x:
                        out.append(f"n{k}_gi[i]")
                else:
                    out.append(f"n{k}_gs[i]")
            return out
        if name in self.alg:
            j = self.alg_index[name]
            return [f"n{k}_gr{j}"] if self.alg[name].reduce else [f"n{k}_ga{j}[i]"]
        raise NetworkError(f"codegen: no adjoint for {name!r}", node=self.spec.label)

    # ---- arguments ---------------------------------------------------------------------------
    def declare(self, args: list[ArgSpec]) -> None:
        k, spec = self.k, self.spec

        def arg(role, detail, name):
            args.append(ArgSpec(name, role, k, detail))

        for j, s in enumerate(self.states):
            arg("state", s, f"n{k}_s{j}")
        for j, c in enumerate(self.consts):
            arg("const", c, f"n{k}_p{j}")
        if self.coupled:
            if spec.coupling == "dense":
                arg("J", "dense", f"n{k}_J")
            else:
                for part in ("data", "indices", "indptr"):
                    arg("J", part, f"n{k}_J{_CSR_SUFFIX[part]}")
        if spec.spiking:
            arg("scalar", "threshold", f"n{k}_thr")
            arg("scalar", "reset", f"n{k}_rst")
            arg("scalar", "slope", f"n{k}_slp")
        for j, _ in enumerate(self.states):
            arg("tape", ("y", j), f"n{k}_ty{j}")
        if spec.input_var is not None and not self.reads_x:
            arg("tape", "in", f"n{k}_tin")
        if self.coupled:
            arg("tape", "tgt", f"n{k}_ttg")
        if spec.spiking:
            arg("tape", "spk", f"n{k}_tsp")
        for j, _ in enumerate(self.states):
            arg("lam", j, f"n{k}_l{j}")
        for j, c in enumerate(self.consts):
            if c in self.trained:
                arg("grad", ("const", c), f"n{k}_gp{j}")
        if self.coupled and self.train_J:
            if spec.coupling == "dense":
                arg("grad", ("J", "dense"), f"n{k}_gJ")
            else:
                arg("grad", ("J", "data"), f"n{k}_gJd")

    def rows(self, code: SourceWriter, backward: bool) -> None:
        """Per-trial work rows (allocated once per trial, outside the step loop)."""
        k = self.k
        vec = f"np.zeros(N{k})"
        # (forward row, its adjoint row, initial value); the input adjoint exists even where the
        # node reads x directly (then it has no forward row)
        rows = [("out", "go", vec), (None if self.reads_x else "in", "gi", vec)]
        if self.coupled:
            rows += [("tgt", "gt", vec), ("src", "gsrc", vec)]
        if self.spec.spiking:
            rows.append(("spk", "gs", vec))
        for name, d in self.alg.items():
            j = self.alg_index[name]
            rows.append((f"red{j}", f"gr{j}", "0.0") if d.reduce else (f"a{j}", f"ga{j}", vec))
        for side in (0, 1) if backward else (0,):
            for row in rows:
                if row[side] is not None:
                    code(f"n{k}_{row[side]} = {row[2]}")

    # ---- forward ------------------------------------------------------------------------------
    def emit_items(self, code: SourceWriter, mode: str) -> None:
        """Algebraic definitions and the coupling in evaluation order (both kernels)."""
        k, spec = self.k, self.spec
        for item in self.items:
            if item == TGT:
                if mode == "bwd" and not self.train_J:
                    continue  # the coupling input is on the tape; src only feeds dJ
                with code.block(f"for i in range(N{k}):"):
                    code(f"n{k}_src[i] = {self.value(spec.source_var, mode)}")
                if mode == "bwd":
                    continue
                with code.block(f"for i in range(N{k}):"):
                    code("acc = 0.0")
                    if spec.coupling == "dense":
                        with code.block(f"for j in range(N{k}):"):
                            code(f"acc += n{k}_J[i, j] * n{k}_src[j]")
                    else:
                        with code.block(f"for jj in range(n{k}_Ji[i], n{k}_Ji[i + 1]):"):
                            code(f"acc += n{k}_Jd[jj] * n{k}_src[n{k}_Jn[jj]]")
                    code(f"n{k}_tgt[i] = acc")
                    code(f"n{k}_ttg[b, step, i] = acc")
                continue
            d = self.alg[item]
            j = self.alg_index[item]
            rhs = print_expr(d.expr, self.names(d.expr, mode))
            if d.reduce:
                code("acc = 0.0")
                with code.block(f"for i in range(N{k}):"):
                    code(f"acc += {rhs}")
                code(f"n{k}_red{j} = acc" if d.reduce == "vsum" else f"n{k}_red{j} = acc / N{k}")
            else:
                with code.block(f"for i in range(N{k}):"):
                    code(f"n{k}_a{j}[i] = {rhs}")

    def emit_forward(self, code: SourceWriter) -> None:
        k, spec = self.k, self.spec
        code(f"# ---- diff-eq node {spec.label!r} ({spec.model.name!r})")
        if spec.spiking:
            v = self.value(spec.spike_def, "fwd")
            with code.block(f"for i in range(N{k}):"):
                code(f"sp = 1.0 if {v} >= n{k}_thr else 0.0")
                code(f"n{k}_spk[i] = sp")
                code(f"n{k}_tsp[b, step, i] = sp")
        if spec.input_var is not None and not self.reads_x:
            with code.block(f"for i in range(N{k}):"):
                code(f"n{k}_tin[b, step, i] = n{k}_in[i]")
        self.emit_items(code, "fwd")
        with code.block(f"for i in range(N{k}):"):
            code(f"n{k}_out[i] = {self.value(spec.output_var, 'fwd')}")
            for j, s in enumerate(self.states):
                code(f"d{j} = {print_expr(self.derivs[s], self.names(self.derivs[s], 'fwd'))}")
            for j, s in enumerate(self.states):
                code(f"n{k}_ty{j}[b, step, i] = n{k}_s{j}[b, i]")
                code(f"y{j} = n{k}_s{j}[b, i] + dt * d{j}")
                if spec.resets and s == spec.spike_def:
                    with code.block(f"if n{k}_spk[i] != 0.0:"):
                        code(f"y{j} = n{k}_rst")
                with code.block(f"if not math.isfinite(y{j}) and status[b, 0] == 0:"):
                    code("status[b, 0] = 1")
                    code("status[b, 1] = step")
                    code(f"status[b, 2] = {k}")
                    code(f"status[b, 3] = {j}")
                    code("status[b, 4] = i")
                code(f"n{k}_s{j}[b, i] = y{j}")

    def emit_recompute(self, code: SourceWriter) -> None:
        """Backward kernel: algebraic values and the output at this step, from the tape."""
        k, spec = self.k, self.spec
        self.emit_items(code, "bwd")
        with code.block(f"for i in range(N{k}):"):
            code(f"n{k}_out[i] = {self.value(spec.output_var, 'bwd')}")

    # ---- backward ------------------------------------------------------------------------------
    def _vjp(
        self, code: SourceWriter, pairs: list[tuple[str, object]], new_lam: bool, tag: str
    ) -> list[str]:
        """Emit ``target += sum_w w * d expr / d symbol`` for (weight source, expr) pairs.

        Returns the lines that must run after the accumulation when ``new_lam`` (none else).
        """
        k = self.k
        totals: dict[str, object] = {}
        weights = {}
        for q, (wsrc, expr) in enumerate(pairs):
            w = sympy.Symbol(f"__w{q}")
            weights[w.name] = wsrc
            for name in sorted(free_names(expr)):
                targets = self.adjoint_targets(name, new_lam=new_lam)
                if not targets:
                    continue
                d = _partial(expr, name)
                if d == 0:
                    continue
                for tgt in targets:
                    totals[tgt] = totals.get(tgt, sympy.S.Zero) + w * d
        if not totals:
            return []
        keys = list(totals)
        repl, reduced = sympy.cse(
            [totals[t] for t in keys],
            symbols=sympy.numbered_symbols(f"__c{tag}_"),
            optimizations="basic",
        )
        names = dict(weights)
        for expr_ in [totals[t] for t in keys]:
            for s in expr_.free_symbols:
                if s.name not in names:
                    names[s.name] = self.value(s.name, "bwd")
        for sym, sub in repl:
            local = f"c{k}{tag}_{sym.name.rsplit('_', 1)[1]}"
            code(f"{local} = {print_expr(sub, names)}")
            names[sym.name] = local
        for tgt, expr_ in zip(keys, reduced, strict=True):
            code(f"{tgt} += {print_expr(expr_, names)}")
        return []

    def emit_backward(self, code: SourceWriter) -> None:
        k, spec = self.k, self.spec
        code(f"# ---- adjoint of diff-eq node {spec.label!r}")
        with code.block(f"for i in range(N{k}):"):
            if not self.reads_x:
                code(f"n{k}_gi[i] = 0.0")
            if self.coupled:
                code(f"n{k}_gt[i] = 0.0")
            if spec.spiking:
                code(f"n{k}_gs[i] = 0.0")
            for name, d in self.alg.items():
                if not d.reduce:
                    code(f"n{k}_ga{self.alg_index[name]}[i] = 0.0")
            code("pass")
        for name, d in self.alg.items():
            if d.reduce:
                code(f"n{k}_gr{self.alg_index[name]} = 0.0")
        # Euler step y' = y + dt f(y): adjoint of f is dt * lam; reset neurons pass nothing
        with code.block(f"for i in range(N{k}):"):
            pairs = []
            for j, s in enumerate(self.states):
                code(f"nl{j} = n{k}_l{j}[b, i]")
                code(f"f{j} = nl{j} * dt")
                if spec.resets and s == spec.spike_def:
                    with code.block(f"if n{k}_tsp[b, step, i] != 0.0:"):
                        code(f"nl{j} = 0.0")
                        code(f"f{j} = 0.0")
                pairs.append((f"f{j}", self.derivs[s]))
            self._vjp(code, pairs, True, "d")
            for j, _ in enumerate(self.states):
                code(f"n{k}_l{j}[b, i] = nl{j}")
        # the node's output (pre-update value of output_var)
        with code.block(f"for i in range(N{k}):"):
            for tgt in self.adjoint_targets(spec.output_var):
                code(f"{tgt} += n{k}_go[i]")
            code("pass")
        for item in reversed(self.items):
            if item == TGT:
                self._emit_coupling_adjoint(code)
                continue
            d = self.alg[item]
            j = self.alg_index[item]
            if d.reduce:
                scale = f"n{k}_gr{j}" if d.reduce == "vsum" else f"(n{k}_gr{j} / N{k})"
                code(f"w_red = {scale}")
                with code.block(f"for i in range(N{k}):"):
                    self._vjp(code, [("w_red", d.expr)], False, f"r{j}")
                    code("pass")
            else:
                with code.block(f"for i in range(N{k}):"):
                    code(f"w_a = n{k}_ga{j}[i]")
                    self._vjp(code, [("w_a", d.expr)], False, f"a{j}")
        if spec.spiking:
            # spike input = spk / dt; d spk / d v = 1 / (1 + slope |v - thr|)^2 (surrogate)
            jv = self.states.index(spec.spike_def)
            with code.block(f"for i in range(N{k}):"):
                code(f"sg = 1.0 + n{k}_slp * abs(n{k}_ty{jv}[b, step, i] - n{k}_thr)")
                code(f"n{k}_l{jv}[b, i] += n{k}_gs[i] * inv_dt / (sg * sg)")

    def _emit_coupling_adjoint(self, code: SourceWriter) -> None:
        k, spec = self.k, self.spec
        with code.block(f"for j in range(N{k}):"):
            code(f"n{k}_gsrc[j] = 0.0")
        with code.block(f"for i in range(N{k}):"):
            code(f"u = n{k}_gt[i]")
            with code.block("if u != 0.0:"):
                if spec.coupling == "dense":
                    with code.block(f"for j in range(N{k}):"):
                        if self.train_J:
                            code(f"n{k}_gJ[b, i, j] += u * n{k}_src[j]")
                        code(f"n{k}_gsrc[j] += n{k}_J[i, j] * u")
                else:
                    with code.block(f"for jj in range(n{k}_Ji[i], n{k}_Ji[i + 1]):"):
                        code(f"j = n{k}_Jn[jj]")
                        if self.train_J:
                            code(f"n{k}_gJd[b, jj] += u * n{k}_src[j]")
                        code(f"n{k}_gsrc[j] += n{k}_Jd[jj] * u")
        targets = self.adjoint_targets(spec.source_var)
        if targets:
            with code.block(f"for i in range(N{k}):"):
                for tgt in targets:
                    code(f"{tgt} += n{k}_gsrc[i]")


# ---- function nodes ------------------------------------------------------------------------------
# d out / d in times the output adjoint g (element-wise activations), torch's conventions:
# relu'(0) = 0, softplus is linear above the threshold 20
_ELEMENTWISE_GRAD = {
    "identity": "{g}",
    "tanh": "{g} * (1.0 - {o} * {o})",
    "sigmoid": "{g} * {o} * (1.0 - {o})",
    "relu": "{g} if {v} > 0.0 else 0.0",
    "softplus": "{g} if {v} > 20.0 else {g} / (1.0 + math.exp(-({v})))",
}


def _func_input(k: int, reads_x: bool, mode: str) -> str:
    if reads_x:
        return "x[b, step, i]"
    return f"n{k}_in[i]" if mode == "fwd" else f"n{k}_tin[b, step, i]"


def _emit_func_backward(code: SourceWriter, k: int, act: str, reads_x: bool) -> None:
    if reads_x:
        return  # nothing upstream of the network input
    code(f"# ---- adjoint of function node {k} ({act})")
    g, o, v = f"n{k}_go[i]", f"n{k}_out[i]", f"n{k}_tin[b, step, i]"
    if act in _ELEMENTWISE_GRAD:
        with code.block(f"for i in range(N{k}):"):
            code(f"n{k}_gi[i] = {_ELEMENTWISE_GRAD[act].format(g=g, o=o, v=v)}")
        return
    code("dot = 0.0")
    with code.block(f"for i in range(N{k}):"):
        code(f"dot += {g}" if act == "log_softmax" else f"dot += {g} * {o}")
    with code.block(f"for i in range(N{k}):"):
        if act == "softmax":
            code(f"n{k}_gi[i] = {o} * ({g} - dot)")
        elif act == "softmin":
            code(f"n{k}_gi[i] = -{o} * ({g} - dot)")
        else:  # log_softmax: softmax = exp(out)
            code(f"n{k}_gi[i] = {g} - math.exp({o}) * dot")


# ---- edges --------------------------------------------------------------------------------------
def _incoming(net: NetworkSpec, k: int) -> list:
    return [(e, edge) for e, edge in enumerate(net.edges) if edge.target == k]


def _emit_edges_forward(code: SourceWriter, k: int, net: NetworkSpec) -> None:
    incoming = _incoming(net, k)
    if not incoming:
        return
    with code.block(f"for i in range(N{k}):"):
        code("acc = x[b, step, i]" if k == net.input_node else "acc = 0.0")
        for e, edge in incoming:
            src = f"n{edge.source}_prev[b, j]" if edge.feedback else f"n{edge.source}_out[j]"
            if edge.fmt == "dense":
                with code.block(f"for j in range(e{e}_W.shape[1]):"):
                    code(f"acc += e{e}_W[i, j] * {src}")
            else:
                with code.block(f"for jj in range(e{e}_Wi[i], e{e}_Wi[i + 1]):"):
                    code(f"j = e{e}_Wn[jj]")
                    code(f"acc += e{e}_Wd[jj] * {src}")
        code(f"n{k}_in[i] = acc")


def _emit_edges_backward(
    code: SourceWriter, k: int, net: NetworkSpec, train_W, skip_src: set[int]
) -> None:
    for e, edge in _incoming(net, k):
        s = edge.source
        src = f"n{s}_tpv[b, step, j]" if edge.feedback else f"n{s}_out[j]"
        gsrc = None if s in skip_src else (f"n{s}_gfb[b, j]" if edge.feedback else f"n{s}_go[j]")
        if not train_W[e] and gsrc is None:
            continue
        code(f"# adjoint of edge {s} -> {k}")
        with code.block(f"for i in range(N{k}):"):
            code(f"u = n{k}_gi[i]")
            with code.block("if u != 0.0:"):
                if edge.fmt == "dense":
                    with code.block(f"for j in range(e{e}_W.shape[1]):"):
                        if train_W[e]:
                            code(f"e{e}_gW[b, i, j] += u * {src}")
                        if gsrc:
                            code(f"{gsrc} += e{e}_W[i, j] * u")
                else:
                    with code.block(f"for jj in range(e{e}_Wi[i], e{e}_Wi[i + 1]):"):
                        code(f"j = e{e}_Wn[jj]")
                        if train_W[e]:
                            code(f"e{e}_gWd[b, jj] += u * {src}")
                        if gsrc:
                            code(f"{gsrc} += e{e}_Wd[jj] * u")


# ---- the module ---------------------------------------------------------------------------------
@lru_cache(maxsize=128)
def render_bptt(bspec: BPTTSpec) -> RenderedBPTT:
    """Generate the source of the forward/backward kernel module for ``bspec``."""
    net = bspec.net
    n_nodes = len(net.nodes)
    reads_x = {k: k == net.input_node and not _incoming(net, k) for k in range(n_nodes)}
    args: list[ArgSpec] = []
    nodes: dict[int, _Node] = {}
    for k, node in enumerate(net.nodes):
        if isinstance(node, DiffEqSpec):
            r = _Node(k, node, reads_x[k], bspec.train_consts[k], bspec.train_J[k])
            r.declare(args)
            nodes[k] = r
        elif not reads_x[k]:
            args.append(ArgSpec(f"n{k}_tin", "tape", k, "in"))
    for e, edge in enumerate(net.edges):
        if edge.fmt == "dense":
            args.append(ArgSpec(f"e{e}_W", "W", e, "dense"))
        else:
            for part in ("data", "indices", "indptr"):
                args.append(ArgSpec(f"e{e}_W{_CSR_SUFFIX[part]}", "W", e, part))
        if bspec.train_W[e]:
            part = "dense" if edge.fmt == "dense" else "data"
            name = f"e{e}_gW" if edge.fmt == "dense" else f"e{e}_gWd"
            args.append(ArgSpec(name, "grad", e, ("W", part)))
    fb_sources = sorted({e.source for e in net.edges if e.feedback})
    for k in fb_sources:
        args.append(ArgSpec(f"n{k}_prev", "prev", k, "prev"))
        args.append(ArgSpec(f"n{k}_tpv", "tape", k, "prev"))
        args.append(ArgSpec(f"n{k}_gfb", "gfb", k, "gfb"))
    # input nodes that are function nodes need no adjoint
    skip_src = {k for k in range(n_nodes) if isinstance(net.nodes[k], FuncSpec) and reads_x[k]}

    def rows(code: SourceWriter, backward: bool) -> None:
        for k in range(n_nodes):
            code(f"N{k} = sizes[{k}]")
        for k in range(n_nodes):
            if k in nodes:
                nodes[k].rows(code, backward)
            else:
                code(f"n{k}_out = np.zeros(N{k})")
                if not reads_x[k]:
                    code(f"n{k}_in = np.zeros(N{k})")
                if backward:
                    code(f"n{k}_go = np.zeros(N{k})")
                    code(f"n{k}_gi = np.zeros(N{k})")

    # forward
    fwd = SourceWriter(3)
    for k in fb_sources:
        with fwd.block(f"for i in range(N{k}):"):
            fwd(f"n{k}_tpv[b, step, i] = n{k}_prev[b, i]")
    for k, node in enumerate(net.nodes):
        _emit_edges_forward(fwd, k, net)
        if k in nodes:
            nodes[k].emit_forward(fwd)
        else:
            if not reads_x[k]:
                with fwd.block(f"for i in range(N{k}):"):
                    fwd(f"n{k}_tin[b, step, i] = n{k}_in[i]")
            fwd(f"# ---- function node {node.label!r} ({node.activation})")
            inp = _func_input(k, reads_x[k], "fwd")
            _emit_activation(fwd, k, node.activation, inp, f"n{k}_out[i]")
    o = net.output_node
    with fwd.block(f"for i in range(N{o}):"):
        fwd(f"out_rec[b, step, i] = n{o}_out[i]")
    for k in fb_sources:
        with fwd.block(f"for i in range(N{k}):"):
            fwd(f"n{k}_prev[b, i] = n{k}_out[i]")
    with fwd.block("if status[b, 0] != 0:"):
        fwd("break")

    # backward
    bwd = SourceWriter(3)
    bwd("# recompute this step's algebraic values and outputs from the tape")
    for k, node in enumerate(net.nodes):
        if k in nodes:
            nodes[k].emit_recompute(bwd)
        else:
            inp = _func_input(k, reads_x[k], "bwd")
            _emit_activation(bwd, k, node.activation, inp, f"n{k}_out[i]")
    bwd("# output adjoints: loss gradient, and feedback consumers of the next step")
    for k in range(n_nodes):
        with bwd.block(f"for i in range(N{k}):"):
            if k in fb_sources:
                bwd(f"n{k}_go[i] = n{k}_gfb[b, i]")
                bwd(f"n{k}_gfb[b, i] = 0.0")
            else:
                bwd(f"n{k}_go[i] = 0.0")
    with bwd.block(f"for i in range(N{o}):"):
        bwd(f"n{o}_go[i] += gout[b, step, i]")
    for k in reversed(range(n_nodes)):
        if k in nodes:
            nodes[k].emit_backward(bwd)
        else:
            _emit_func_backward(bwd, k, net.nodes[k].activation, reads_x[k])
        _emit_edges_backward(bwd, k, net, bspec.train_W, skip_src)

    names = ", ".join(a.name for a in args)
    flags = "{" + ", ".join(repr(f) for f in sorted(FASTMATH)) + "}"
    loop = "prange" if net.parallel else "range"
    deco = (
        f"@njit(cache=True, error_model='numpy', fastmath={flags}, parallel={net.parallel}, "
        "nogil=True)"
    )
    head = SourceWriter()
    head(
        "# Generated by rectinumba.codegen.adjoint; do not edit. BPTT forward (tape) and backward."
    )
    head("import math")
    head("")
    head("import numpy as np")
    head("from numba import njit, prange")
    kernels = (
        ("forward", "out_rec, status", False, "range(T)", fwd),
        ("backward", "gout", True, "range(T - 1, -1, -1)", bwd),
    )
    for kernel, params, backward, steps, body in kernels:
        head("")
        head("")
        head(deco)
        with head.block(f"def {kernel}(T, t0, dt, x, sizes, {params}, {names}):"):
            head("B = x.shape[0]")
            head("inv_dt = 1.0 / dt")
            with head.block(f"for b in {loop}(B):"):
                rows(head, backward)
                with head.block(f"for step in {steps}:"):
                    head("t = (t0 + step) * dt")
                    head.lines.extend(body.lines)
    return RenderedBPTT("\n".join(head.lines) + "\n", tuple(args))
