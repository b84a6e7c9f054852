"""Render the forward ("taping") and backward (adjoint) kernels of backpropagation through time.

Both kernels are printed from the step plan (:mod:`rectinumba.codegen.plan`):

``forward(T, t0, s0, dt, cutoff, sampling, x, out_rec, status, *fwd_args)``
    the CPU step kernel of the plan built for :data:`TAPE` (:mod:`rectinumba.codegen.step`
    prints it): the same loops and numbers as a simulation, plus a *tape* per step: the
    pre-update states, the summed edge input, the coupling input, the spike flags, the carried
    feedback values. Algebraic variables are not taped: the backward kernel recomputes them.

``backward(T, t0, s0, dt, x, gout, *bwd_args)``
    runs the adjoint recursion from step T-1 down to 0. ``gout[b, t]`` is d loss / d output at
    step t. Per step it recomputes every node's values from the tape (the plan built for
    :data:`RECOMPUTE`, printed by the CPU writer without the state update), then walks the nodes
    in reverse order and, inside a node, its loops and statements in reverse: each statement's
    adjoint is the vector-Jacobian product of its sympy expression (sympy differentiates; one
    fused, common-subexpression-eliminated block per statement group); the update's adjoint
    differentiates the update rule's new value (:mod:`rectinumba.codegen.update`), so Euler and
    exponential Euler need no hand-written adjoint. The coupling's adjoint follows its loop
    (``dJ[i, j] += u_i src_j`` only on stored entries), edges follow their target node, and the
    feedback probes come last (they ran first). State adjoints (``lam``) and the adjoints of
    carried values (``gcarry``) live in arguments, so a long window runs in checkpointed
    segments.

Spikes: the spike input holds ``spk / dt`` with ``spk = [v >= threshold]``; its adjoint reaches
``v`` through the surrogate ``d spk / d v = 1 / (1 + slope |v - threshold|)^2``. Where a neuron
spiked, ``v_{t+1}`` is the reset value, so ``v_{t+1}`` passes no gradient back.

Multi-stage update rules (Heun, RK4) are refused: :func:`render_bptt` raises a NetworkError naming
the method. White noise is held fixed: the backward kernel draws the same normals as the forward
one (the counter-based generator of :mod:`rectinumba.codegen.rng`, same keys and draw steps), so
the gradients are those of the loss of that noise realisation (pathwise gradients; multiplicative
noise contributes through ``d g / d y``). Delays (``past()``, delayed edges) are refused.
Gradients are accumulated per trial (leading axis B of every ``grad`` argument) so that
trials run in parallel without races; the caller sums them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy

from ..errors import EquationError, NetworkError
from .emit import emit_activation
from .plan import (
    Accumulate,
    Assign,
    Check,
    Loop,
    NetworkPlan,
    NodePlan,
    Record,
    Reset,
    SpikeTest,
    Stmt,
    Target,
    Write,
    build_plan,
)
from .printer import print_expr
from .source import SourceWriter, free_names
from .spec import ArgSpec, FuncSpec, NetworkSpec
from .step import HEADER, CPUWriter, kernel_head, render_step
from .update import get_rule

__all__ = ["BPTTSpec", "RenderedBPTT", "render_bptt", "diff_model", "TAPE", "RECOMPUTE"]

#: plan target of the forward kernel and of the backward kernel's recomputation
TAPE = Target(tape=True)
RECOMPUTE = Target(keep_all=True, from_tape=True, coupling_outside=True)

# Adjoint argument roles (besides the plan's): "lam" (B, N) state adjoints, detail the state;
# "gcarry" (B, n) adjoints of carried values ("prev": a function node's output, "in": a probed
# node's held input), kept between segments; "adj" (B, n) per-step adjoint rows ("go" output,
# "gi" input, "gt" coupling, "gs" spike input, "gsrc" coupling source, "gfb" feedback value,
# ("ga", name) algebraic); "grad" (B, ...) gradients: ("const", name) | ("J", part) | ("W", part).


@dataclass(frozen=True)
class BPTTSpec:
    """What changes the generated BPTT source.

    Parameters
    ----------
    net : NetworkSpec
        The network.
    train_consts : tuple
        ``train_consts[k]``: names of the constants (parameters) of node k with a gradient.
    train_J : tuple of bool
        Whether node k's coupling J gets a gradient.
    train_W : tuple of bool
        Whether edge e's weights get one.
    """

    net: NetworkSpec
    train_consts: tuple[tuple[str, ...], ...]
    train_J: tuple[bool, ...]
    train_W: tuple[bool, ...]


@dataclass(frozen=True)
class RenderedBPTT:
    """Source of the module with ``forward`` and ``backward``, and their argument tables.

    Parameters
    ----------
    source : str
        Module source.
    forward_args : tuple of ArgSpec
        Arguments of ``forward`` (after the step kernel's fixed ones).
    backward_args : tuple of ArgSpec
        Arguments of ``backward`` (after ``T, t0, s0, dt, x, gout``).
    """

    source: str
    forward_args: tuple[ArgSpec, ...]
    backward_args: tuple[ArgSpec, ...]


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

    Parameters
    ----------
    model : NodeModel
        The model.

    Returns
    -------
    dict
        ``{expression name: {symbol: d expr / d symbol}}`` for each algebraic definition (keyed
        by its name) and each derivative (keyed ``"d/dt " + state``), over all free symbols
        except time. Zero partials are omitted.
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


class _Recompute(CPUWriter):
    """The CPU writer printing a node's values from the tape, without the state update."""

    #: inside an adjoint loop: re-evaluate the neuron's locals (derivatives too), no reductions
    in_adjoint = False

    def statement(self, code, node, loop, stmt: Stmt) -> None:
        if isinstance(stmt, (Reset, Check, Record)):
            return
        if isinstance(stmt, Assign) and stmt.key[0] == "new":
            return
        if isinstance(stmt, Assign) and stmt.key[0] == "k" and not self.in_adjoint:
            return
        if isinstance(stmt, Accumulate) and self.in_adjoint:
            return
        if isinstance(stmt, Write) and stmt.role in ("state", "tape"):
            return
        super().statement(code, node, loop, stmt)


class _Adjoint:
    """Adjoint code of one BPTT module (names from the recompute plan's argument table)."""

    def __init__(self, bspec: BPTTSpec, plan: NetworkPlan) -> None:
        self.bspec, self.plan, self.net = bspec, plan, bspec.net
        self.writer = _Recompute(plan)
        self._declare()

    # ---- arguments -------------------------------------------------------------------------
    def _declare(self) -> None:
        plan, bspec = self.plan, self.bspec
        for k, spec in enumerate(self.net.nodes):
            plan.declare(ArgSpec(f"n{k}_go", "adj", k, "go"))
            if not plan.reads_x[k]:
                plan.declare(ArgSpec(f"n{k}_gi", "adj", k, "gi"))
            if k not in plan.nodes:
                continue
            node = plan.nodes[k]
            for j, s in enumerate(node.states):
                plan.declare(ArgSpec(f"n{k}_l{j}", "lam", k, s))
            for j, c in enumerate(node.consts):
                if c in bspec.train_consts[k]:
                    plan.declare(ArgSpec(f"n{k}_gp{j}", "grad", k, ("const", c)))
            for name in sorted(node.kept_alg, key=node.alg_index.get):
                plan.declare(ArgSpec(f"n{k}_ga{node.alg_index[name]}", "adj", k, ("ga", name)))
            if node.coupled:
                plan.declare(ArgSpec(f"n{k}_gt", "adj", k, "gt"))
                plan.declare(ArgSpec(f"n{k}_gsrc", "adj", k, "gsrc"))
                if bspec.train_J[k]:
                    part = "dense" if spec.coupling == "dense" else "data"
                    plan.declare(ArgSpec(f"n{k}_gJ", "grad", k, ("J", part)))
            if spec.spiking:
                plan.declare(ArgSpec(f"n{k}_gs", "adj", k, "gs"))
                plan.declare(ArgSpec(f"n{k}_slp", "scalar", k, "slope"))
            if k in plan.probed:
                plan.declare(ArgSpec(f"n{k}_gfb", "adj", k, "gfb"))
            if k in plan.carry_in:
                plan.declare(ArgSpec(f"n{k}_gci", "gcarry", k, "in"))
        for k in plan.carried:
            plan.declare(ArgSpec(f"n{k}_gcp", "gcarry", k, "prev"))
        for e, edge in enumerate(self.net.edges):
            if bspec.train_W[e]:
                part = "dense" if edge.fmt == "dense" else "data"
                plan.declare(ArgSpec(f"e{e}_gW", "grad", e, ("W", part)))

    # ---- adjoint targets ---------------------------------------------------------------------
    def targets(self, node: NodePlan, key: tuple, loop: Loop, update: bool = False) -> list[str]:
        """Where d loss / d value(key) accumulates (empty: nothing upstream needs it)."""
        plan, k, kind = self.plan, node.k, key[0]
        if kind in ("t", "dt", "x", "noise"):
            return []  # noise is held fixed: the same draws as the forward pass
        if kind == "state":
            j = node.states.index(key[1])
            return [f"nl{j}"] if update else [f"{plan.arg('lam', k, key[1])}[b, i]"]
        if kind == "const":
            name = plan.find("grad", k, ("const", key[1]))
            return [f"{name}[b, i]"] if name else []
        if kind == "alg":
            return [f"{plan.arg('adj', k, ('ga', key[1]))}[b, i]"]
        if kind == "red":
            return [f"gr{k}_{node.alg_index[key[1]]}"]
        if kind == "spike":
            return [f"{plan.arg('adj', k, 'gs')}[b, i]"]
        if kind == "k":
            return [f"wd{node.states.index(key[2])}"]
        if kind == "driven":
            out = []
            for part in node._driven_parts(key):
                if part[0] == "tgt":
                    out.append(f"{plan.arg('adj', k, 'gt')}[b, i]")
                elif part[0] == "in":
                    role, detail = ("gcarry", "in") if loop.probe else ("adj", "gi")
                    out.append(f"{plan.arg(role, k, detail)}[b, i]")
            return out
        raise NetworkError(f"codegen: no adjoint for {key!r}", node=node.spec.label)

    def vjp(self, code: SourceWriter, node: NodePlan, loop: Loop, pairs, tag: str,
            update: bool = False) -> None:
        """``target += sum_w w * d expr / d symbol`` for (weight text, expr, keys) triples."""
        k = node.k
        totals: dict[str, object] = {}
        names: dict[str, str] = {}
        for q, (weight, expr, keys) in enumerate(pairs):
            w = sympy.Symbol(f"__w{q}")
            names[w.name] = weight
            for name, key in keys:
                for tgt in self.targets(node, key, loop, update):
                    d = _partial(expr, name)
                    if d != 0:
                        totals[tgt] = totals.get(tgt, sympy.S.Zero) + w * d
            for name, ref in node.names(keys, loop).items():
                names.setdefault(name, self.writer.text(node, ref))
        if not totals:
            return
        order = list(totals)
        repl, reduced = sympy.cse(
            [totals[t] for t in order],
            symbols=sympy.numbered_symbols(f"__c{tag}_"),
            optimizations="basic",
        )
        for sym, sub in repl:
            local = f"c{k}{tag}_{sym.name.rsplit('_', 1)[1]}"
            code(f"{local} = {self._print(sub, names)}")
            names[sym.name] = local
        for tgt, expr in zip(order, reduced, strict=True):
            code(f"{tgt} += {self._print(expr, names)}")

    def _print(self, expr, names) -> str:
        text = print_expr(expr, names)
        for helper in ("_phi1p", "_phi1"):
            if helper + "(" in text:
                self.writer.used_helpers.add(helper)
        return text

    # ---- one diff-eq node ----------------------------------------------------------------------
    def zero(self, code: SourceWriter, node: NodePlan, probe: bool) -> None:
        """Clear the node's per-step adjoints (the input adjoint starts at its carried part)."""
        plan, k = self.plan, node.k
        rows = [plan.find("adj", k, d) for d in ("gt", "gs", "gsrc")]
        rows += [plan.arg("adj", k, ("ga", n)) for n in sorted(node.kept_alg)]
        with code.block(f"for i in range(N{k}):"):
            if not probe and plan.find("adj", k, "gi"):
                gi = plan.arg("adj", k, "gi")
                gci = plan.find("gcarry", k, "in")
                code(f"{gi}[b, i] = {gci}[b, i]" if gci else f"{gi}[b, i] = 0.0")
                if gci:
                    code(f"{gci}[b, i] = 0.0")
            for row in rows:
                if row is not None:
                    code(f"{row}[b, i] = 0.0")
            code("pass")
        for d in node.reductions:
            code(f"gr{k}_{node.alg_index[d.name]} = 0.0")

    def node(self, code: SourceWriter, node: NodePlan, loops: list[Loop], probe: bool) -> None:
        """Adjoint of a node's loops (main loops, or its feedback probe)."""
        plan, k = self.plan, node.k
        self.zero(code, node, probe)
        out_adj = plan.arg("adj", k, "gfb" if probe else "go")
        tgt_pass = node.levels.get(node.spec.target_var) if node.coupled else None
        for loop in reversed(loops):
            with code.block(f"for i in range(N{k}):"):
                # this neuron's locals of the loop, then the adjoints of its statements
                self.writer.in_adjoint = True
                self.writer.statements(code, node, loop)
                self.writer.in_adjoint = False
                self.loop_body(code, node, loop, out_adj)
                code("pass")
            if loop.pass_ == tgt_pass:
                self.coupling(code, node)

    def loop_body(self, code: SourceWriter, node: NodePlan, loop: Loop, out_adj: str) -> None:
        """Adjoints of one loop's statements for neuron i, last statement first."""
        plan, k = self.plan, node.k
        body = loop.body
        update = [s for s in body if isinstance(s, Assign) and s.key[0] in ("k", "new")]
        if update:
            self.update(code, node, loop, update)
        rows = {
            plan.arg("scratch", k, "out"): out_adj,
            plan.find("scratch", k, "fb"): out_adj,
            plan.find("scratch", k, "src"): plan.find("adj", k, "gsrc"),
        }
        for stmt in reversed(body):
            if isinstance(stmt, Write) and stmt.role == "scratch":
                grad_row = rows.get(stmt.dest)
                if grad_row is None:
                    continue
                for tgt in self.targets(node, stmt.key, loop):
                    code(f"{tgt} += {grad_row}[b, i]")
            elif isinstance(stmt, Assign) and stmt.key[0] == "alg":
                if stmt.key[1] not in node.kept_alg:
                    continue  # read nowhere: no adjoint
                ga = plan.arg("adj", k, ("ga", stmt.key[1]))
                j = node.alg_index[stmt.key[1]]
                code(f"w_a = {ga}[b, i]")
                self.vjp(code, node, loop, [("w_a", stmt.expr, stmt.keys)], f"a{j}")
            elif isinstance(stmt, Accumulate):
                j = node.alg_index[stmt.key[1]]
                kind = node.alg[stmt.key[1]].reduce
                w = f"gr{k}_{j}" if kind == "vsum" else f"(gr{k}_{j} / N{k})"
                self.vjp(code, node, loop, [(w, stmt.expr, stmt.keys)], f"r{j}")
            elif isinstance(stmt, SpikeTest):
                self.surrogate(code, node, loop, stmt)

    def update(self, code: SourceWriter, node: NodePlan, loop: Loop, update) -> None:
        """Adjoint of the state update: the new values' partials, then the derivatives'."""
        plan, k, spec = self.plan, node.k, node.spec
        derivs = [s for s in update if s.key[0] == "k"]
        news = [s for s in update if s.key[0] == "new"]
        for j, _ in enumerate(node.states):
            code(f"nl{j} = 0.0")
            code(f"wd{j} = 0.0")
        pairs = []
        for stmt in news:
            state = stmt.key[1]
            j = node.states.index(state)
            lam = f"{plan.arg('lam', k, state)}[b, i]"
            if spec.resets and state == spec.spike_def:
                flag = self.writer.value(node, ("spk", 0), loop)
                code(f"w{j} = 0.0 if {flag} != 0.0 else {lam}")
            else:
                code(f"w{j} = {lam}")
            pairs.append((f"w{j}", stmt.expr, stmt.keys))
        self.vjp(code, node, loop, pairs, "n", update=True)
        pairs = [
            (f"wd{node.states.index(s.key[2])}", s.expr, s.keys) for s in derivs
        ]
        self.vjp(code, node, loop, pairs, "d", update=True)
        for j, state in enumerate(node.states):
            code(f"{plan.arg('lam', k, state)}[b, i] = nl{j}")

    def surrogate(self, code: SourceWriter, node: NodePlan, loop: Loop, stmt: SpikeTest) -> None:
        """spike input = spk / dt; d spk / d v = 1 / (1 + slope |v - thr|)^2 (surrogate)."""
        plan, k = self.plan, node.k
        v = self.writer.value(node, stmt.v, loop)
        gs, slope = plan.arg("adj", k, "gs"), plan.arg("scalar", k, "slope")
        lam = plan.arg("lam", k, stmt.v[1])
        code(f"sg = 1.0 + {slope} * abs({v} - {stmt.threshold})")
        code(f"{lam}[b, i] += {gs}[b, i] * inv_dt / (sg * sg)")

    def coupling(self, code: SourceWriter, node: NodePlan) -> None:
        """Adjoint of the coupling ``tgt = J src``: ``gsrc = J^T gt``, ``dJ += gt src^T``."""
        plan, k, spec = self.plan, node.k, node.spec
        gt, gsrc = plan.arg("adj", k, "gt"), plan.arg("adj", k, "gsrc")
        src = plan.arg("scratch", k, "src")
        gJ = plan.find("grad", k, ("J", "dense" if spec.coupling == "dense" else "data"))
        with code.block(f"for j in range(N{k}):"):
            code(f"{gsrc}[b, j] = 0.0")
        with code.block(f"for i in range(N{k}):"):
            code(f"u = {gt}[b, i]")
            with code.block("if u != 0.0:"):
                if spec.coupling == "dense":
                    J = plan.arg("J", k, "dense")
                    with code.block(f"for j in range(N{k}):"):
                        if gJ:
                            code(f"{gJ}[b, i, j] += u * {src}[b, j]")
                        code(f"{gsrc}[b, j] += {J}[i, j] * u")
                else:
                    d, n, p = (plan.arg("J", k, part) for part in ("data", "indices", "indptr"))
                    with code.block(f"for jj in range({p}[i], {p}[i + 1]):"):
                        code(f"j = {n}[jj]")
                        if gJ:
                            code(f"{gJ}[b, jj] += u * {src}[b, j]")
                        code(f"{gsrc}[b, j] += {d}[jj] * u")

    # ---- function nodes and edges ------------------------------------------------------------
    def func(self, code: SourceWriter, k: int) -> None:
        """Adjoint of a function node: input adjoint from its output adjoint."""
        plan = self.plan
        if plan.reads_x[k]:
            return  # nothing upstream of the network input
        act = self.net.nodes[k].activation
        go, gi = plan.arg("adj", k, "go"), plan.arg("adj", k, "gi")
        g, o = f"{go}[b, i]", f"{plan.arg('scratch', k, 'out')}[b, i]"
        v = f"{plan.arg('tape', k, 'in')}[b, step, i]"
        code(f"# ---- adjoint of function node {k} ({act})")
        if act in _ELEMENTWISE_GRAD:
            with code.block(f"for i in range(N{k}):"):
                code(f"{gi}[b, i] = {_ELEMENTWISE_GRAD[act].format(g=g, o=o, v=v)}")
            return
        code("dot = 0.0")
        with code.block(f"for i in range(N{k}):"):
            code(f"dot += {g}" if act == "log_softmax" else f"dot += {g} * {o}")
        with code.block(f"for i in range(N{k}):"):
            if act == "softmax":
                code(f"{gi}[b, i] = {o} * ({g} - dot)")
            elif act == "softmin":
                code(f"{gi}[b, i] = -{o} * ({g} - dot)")
            else:  # log_softmax: softmax = exp(out)
                code(f"{gi}[b, i] = {g} - math.exp({o}) * dot")

    def edges(self, code: SourceWriter, k: int) -> None:
        """Adjoints of the edges into node k: weights and the sources' output adjoints."""
        plan, net = self.plan, self.net
        gi = plan.find("adj", k, "gi")
        if gi is None:
            return
        for edge in plan.edges_in[k]:
            s, e = edge.source, edge.edge
            feedback = net.edges[e].feedback
            if not feedback:
                src, gsrc = f"{edge.src}[b, j]", plan.find("adj", s, "go")
                if isinstance(net.nodes[s], FuncSpec) and plan.reads_x[s]:
                    gsrc = None  # the network input needs no adjoint
            elif s in plan.nodes:
                src, gsrc = f"{edge.src}[b, j]", plan.arg("adj", s, "gfb")
            else:
                src, gsrc = f"{plan.arg('tape', s, 'prev')}[b, step, j]", plan.arg(
                    "gcarry", s, "prev"
                )
            gW = plan.find("grad", e, ("W", "dense" if edge.fmt == "dense" else "data"))
            if gW is None and gsrc is None:
                continue
            code(f"# adjoint of edge {s} -> {k}")
            with code.block(f"for i in range(N{k}):"):
                code(f"u = {gi}[b, i]")
                with code.block("if u != 0.0:"):
                    if edge.fmt == "dense":
                        (W,) = edge.weights
                        with code.block(f"for j in range({W}.shape[1]):"):
                            if gW:
                                code(f"{gW}[b, i, j] += u * {src}")
                            if gsrc:
                                code(f"{gsrc}[b, j] += {W}[i, j] * u")
                    else:
                        d, n, p = edge.weights
                        with code.block(f"for jj in range({p}[i], {p}[i + 1]):"):
                            code(f"j = {n}[jj]")
                            if gW:
                                code(f"{gW}[b, jj] += u * {src}")
                            if gsrc:
                                code(f"{gsrc}[b, j] += {d}[jj] * u")

    # ---- the backward step --------------------------------------------------------------------
    def step(self, code: SourceWriter) -> None:
        """Everything one backward step does, for trial b."""
        plan, net, w = self.plan, self.net, self.writer
        code("# recompute this step's values from the tape")
        for k in plan.probed:
            w.loops(code, plan.nodes[k], plan.nodes[k].probe_loops)
        for k in range(len(net.nodes)):
            if k in plan.nodes:
                w.loops(code, plan.nodes[k], plan.nodes[k].loops)
            else:
                spec = net.nodes[k]
                inp = (
                    "x[b, step, i]"
                    if plan.reads_x[k]
                    else f"{plan.arg('tape', k, 'in')}[b, step, i]"
                )
                out = f"{plan.arg('scratch', k, 'out')}[b, i]"
                emit_activation(code, k, spec.activation, inp, out)
        code("# output adjoints: the loss gradient, and consumers of carried outputs")
        for k in range(len(net.nodes)):
            go = plan.arg("adj", k, "go")
            gfb = plan.find("adj", k, "gfb")
            with code.block(f"for i in range(N{k}):"):
                if k in plan.carried:
                    gcp = plan.arg("gcarry", k, "prev")
                    code(f"{go}[b, i] = {gcp}[b, i]")
                    code(f"{gcp}[b, i] = 0.0")
                else:
                    code(f"{go}[b, i] = 0.0")
                if gfb:
                    code(f"{gfb}[b, i] = 0.0")
        o = net.output_node
        with code.block(f"for i in range(N{o}):"):
            code(f"{plan.arg('adj', o, 'go')}[b, i] += gout[b, step, i]")
        for k in reversed(range(len(net.nodes))):
            if k in plan.nodes:
                code(f"# ---- adjoint of diff-eq node {k}")
                self.node(code, plan.nodes[k], plan.nodes[k].loops, probe=False)
            else:
                self.func(code, k)
            self.edges(code, k)
        for k in reversed(plan.probed):
            node = plan.nodes[k]
            code(f"# ---- adjoint of the feedback value of node {k} (recomputed first)")
            w.loops(code, node, node.probe_loops)
            self.node(code, node, node.probe_loops, probe=True)


# d out / d in times the output adjoint g (element-wise activations), torch's conventions:
# relu'(0) = 0, softplus is linear above the threshold 20
_ELEMENTWISE_GRAD = {
    "identity": "{g}",
    "tanh": "{g} * (1.0 - {o} * {o})",
    "sigmoid": "{g} * {o} * (1.0 - {o})",
    "relu": "{g} if {v} > 0.0 else 0.0",
    "softplus": "{g} if {v} > 20.0 else {g} / (1.0 + math.exp(-({v})))",
}


def check_method(spec: NetworkSpec) -> None:
    """Refuse what the adjoint cannot differentiate: multi-stage rules, delays, edges between
    other variables than a node's output and input, template (plastic) edges."""
    for node in spec.nodes:
        if getattr(node, "kind", "") == "diffeq" and node.model.delays:
            raise NetworkError(
                "fit_bptt and bptt_gradients do not differentiate through delays: the model of "
                f"node {node.label!r} reads past values (past() / x(t - d))",
                node=node.label,
                hint="train a model without delays, or fit a readout (fit_ridge, fit_rls)",
            )
    for edge in spec.edges:
        what = f"edge {spec.nodes[edge.source].label!r} -> {spec.nodes[edge.target].label!r}"
        if edge.model is not None:
            raise NetworkError(
                f"fit_bptt and bptt_gradients cannot differentiate through the template "
                f"(plastic) {what}",
                hint="simulate networks with template edges; train networks without them",
            )
        if edge.source_var is not None or edge.target_var is not None:
            raise NetworkError(
                f"fit_bptt and bptt_gradients support edges from a node's output to its "
                f"input_var; {what} reads {edge.source_var or 'the output'} and drives "
                f"{edge.target_var or 'input_var'}",
                hint="train a network whose edges connect outputs to input_vars",
            )
        if edge.delay is not None:
            label = spec.nodes[edge.target].label
            raise NetworkError(
                "fit_bptt and bptt_gradients do not differentiate through delayed edges (edge "
                f"{spec.nodes[edge.source].label!r} -> {label!r})",
                node=label,
                hint="train a network without edge delays, or fit a readout (fit_ridge, fit_rls)",
            )
    rule = get_rule(spec.method)
    if not rule.differentiable:
        raise NetworkError(
            f"fit_bptt and bptt_gradients support the update rules 'euler' and 'exp_euler'; this "
            f"network integrates with method={spec.method!r} ({rule.stages} stages per step)",
            hint="build the network with Network(dt, method='euler') (or 'exp_euler') to train "
            "it by BPTT; simulate it with any method",
        )


@lru_cache(maxsize=128)
def render_bptt(bspec: BPTTSpec) -> RenderedBPTT:
    """Generate the forward/backward kernel module for ``bspec``.

    Parameters
    ----------
    bspec : BPTTSpec
        The network and what is trained.

    Returns
    -------
    RenderedBPTT
        Source and the argument tables of both kernels.
    """
    net = bspec.net
    check_method(net)
    fwd_plan, fwd_writer, fwd_lines = render_step(net, TAPE)
    fwd_lines = [line.replace("def kernel(", "def forward(", 1) for line in fwd_lines]
    plan = build_plan(net, RECOMPUTE)
    adjoint = _Adjoint(bspec, plan)
    body = SourceWriter(3)
    adjoint.step(body)
    fixed = ["T", "t0", "s0", "dt", "x", "gout"]
    head = kernel_head(plan, "backward", fixed, "range(T - 1, -1, -1)")
    used = fwd_writer.used_helpers | adjoint.writer.used_helpers
    fwd_writer.used_helpers = used
    lines = ["# Generated by rectinumba.codegen.adjoint; do not edit. BPTT forward and backward."]
    lines += HEADER + fwd_writer.prelude() + fwd_lines + ["", ""] + head.lines + body.lines
    return RenderedBPTT("\n".join(lines) + "\n", tuple(fwd_plan.args), tuple(plan.args))
