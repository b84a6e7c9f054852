"""Compile a NodeTemplate (or a lone OperatorTemplate) into a :class:`NodeModel`.

What happens, per node:

1. every equation is split into target and right-hand side and checked against the declared
   variables (no derivative of an input or an undeclared name, no variable defined twice);
2. operators are linked: an ``input`` of operator B named like an ``output`` of another operator A
   *is* that output (``tanh_op/v`` reads ``li_op/v``); an input named like the outputs of several
   operators receives their sum (PyRates: Jansen-Rit's ``pro/V`` is ``rpo_e_in/V + rpo_i/V``),
   an algebraic definition ``pro/V = rpo_e_in/V + rpo_i/V`` that the rest of the compiler and
   codegen treat like any other;
3. each right-hand side is parsed (:mod:`.parse`) with the operator's variables as
   ``sympy.Symbol("op/var", real=True)`` (``complex=True`` for complex ones, see below);
   ``mean(...)``/``vsum(...)`` become population definitions named ``op/mean(<text>)``;
4. algebraic definitions are ordered topologically (an algebraic cycle is an error naming it);
5. value types: states, parameters and inputs are complex when declared so (a complex default,
   ``variable(complex)``); an algebraic variable has the type of its expression, except that
   one whose imaginary part sympy proves to be 0 is real (its definition is wrapped in
   :class:`~.functions.RealPart`). The derivative of a real state must be real (or provably
   real). Types of algebraic variables propagate through later definitions, so steps 3-5 repeat
   until they are stable (a model without complex values parses once);
6. variables are classified: states (have a derivative; initial value = default), algebraic,
   inputs (``input`` without a link), parameters (plain numbers, and ``variable``/``output``
   without an equation, constant at their default).

Delayed reads ``past(x, d)`` / ``x(t - d)`` become symbols ``@past<j>`` listed in
``NodeModel.delays`` (:mod:`.delays`); white noises ``xi``, ``xi_*`` become symbols ``@xi:<name>``
listed in ``NodeModel.noises`` (:mod:`.noise`).
"""

from __future__ import annotations

import heapq
import keyword
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sympy

from ..errors import EquationError, TemplateError
from ..templates.template import NodeTemplate, OperatorTemplate, Variable
from .delays import delay_spec, past_symbol_name
from .functions import RealPart, is_complex_valued
from .model import Definition, NodeModel
from .noise import noise_symbol, nonlinear_noise
from .parse import Equation, Namespace, Refusal, parse_rhs, split_equation

__all__ = ["compile_node"]

_KEYWORDS = frozenset(keyword.kwlist)


def compile_node(template: NodeTemplate | OperatorTemplate) -> NodeModel:
    """Compile a node template into its NodeModel (cached per template).

    Parameters
    ----------
    template : NodeTemplate or OperatorTemplate
        A :class:`NodeTemplate`, or an :class:`OperatorTemplate`, which becomes a node of that
        one operator named after it.

    Returns
    -------
    NodeModel
        States with initial values, parameters with defaults, inputs, outputs, ordered algebraic
        definitions (reductions included), derivatives and operator links, all with ``op/var``
        names. Equal templates give equal (and the same cached) models.

    Raises
    ------
    EquationError
        Syntax errors, hostile or unknown constructs, undefined variables, derivatives of inputs
        or undeclared variables, duplicate definitions, algebraic cycles, ambiguous links.
    TemplateError
        When ``template`` is not a template.

    Examples
    --------
    >>> from rectinumba.templates import load_template
    >>> model = compile_node(load_template("model_templates.spiking_neurons.lif.lif"))
    >>> model.states
    ('lif_op/v', 'lif_op/s')
    >>> model.resolve("tau_s")
    'lif_op/tau_s'
    >>> model.derivative_map["lif_op/s"]
    -lif_op/s/lif_op/tau_s + lif_op/s_ext + lif_op/spike
    """
    if isinstance(template, OperatorTemplate):
        template = NodeTemplate(template.name, (template,), path=template.path)
    if not isinstance(template, NodeTemplate):
        raise TemplateError(
            f"compile_node expects a NodeTemplate or an OperatorTemplate, got "
            f"{type(template).__name__}"
        )
    return _compile_cached(template)


@lru_cache(maxsize=256)
def _compile_cached(template: NodeTemplate) -> NodeModel:
    return _Compiler(template).run()


def _symbol(name: str, is_complex: bool = False) -> sympy.Symbol:
    if is_complex:
        return sympy.Symbol(name, complex=True)
    return sympy.Symbol(name, real=True)


@dataclass
class _Op:
    """Working data of one operator while its node compiles."""

    template: OperatorTemplate
    variables: dict[str, Variable]
    equations: dict[str, Equation] = field(default_factory=dict)  # target -> equation
    symbols: dict[str, sympy.Symbol] = field(default_factory=dict)  # bare name -> symbol

    @property
    def name(self) -> str:
        return self.template.name

    def context(self, file: str | None) -> dict[str, Any]:
        return {"file": self.template.path or file, "template": self.name}


@dataclass
class _Def:
    """An algebraic definition before ordering; ``key`` keeps source order among equals."""

    name: str
    expr: Any
    reduce: str | None
    key: int
    op: _Op
    equation: Equation | None


class _Compiler:
    def __init__(self, node: NodeTemplate) -> None:
        self.node = node
        self.file = node.path
        self.ops = [_Op(op, op.variable_dict) for op in node.operators]
        self.links: dict[str, str] = {}
        #: summed inputs: qualified input -> the outputs it sums, in operator order
        self.sums: dict[str, list[tuple[_Op, str]]] = {}
        self.defs: dict[str, _Def] = {}
        self.reductions: dict[tuple[str, Any], str] = {}
        self.counter = 0
        #: qualified names of complex-valued variables (declared, then inferred)
        self.complex: set[str] = set()
        #: (state, scale, parameter) -> symbol name of each delayed read, in order of appearance
        self.delays: dict[tuple[str, float, str | None], str] = {}
        #: noise names in order of appearance
        self.noises: list[str] = []

    # ---- steps -----------------------------------------------------------------------------
    def run(self) -> NodeModel:
        for op in self.ops:
            self._check_names(op)
            self._split(op)
        self._link()
        self.complex = self._declared_complex()
        while True:
            derivatives, ordered = self._parse_all()
            found = self._infer_complex(ordered)
            if found == self.complex:
                break
            self.complex = found  # grows only: an algebraic variable turned complex
        derivatives = self._check_real_states(derivatives)
        ordered = [self._real_part(d) for d in ordered]
        return self._assemble(derivatives, ordered)

    def _parse_all(self) -> tuple[dict[str, Any], list[_Def]]:
        """Parse every equation with the current value types; ordered definitions."""
        self.defs, self.reductions, self.counter = {}, {}, 0
        self.delays, self.noises = {}, []
        for op in self.ops:
            self._make_symbols(op)
        self.state_names = {
            f"{op.name}/{n}"
            for op in self.ops
            for n, eq in op.equations.items()
            if eq.kind == "ode"
        }
        self.param_names = {
            f"{op.name}/{n}"
            for op in self.ops
            for n, v in op.variables.items()
            if v.kind != "input" and n not in op.equations
        }
        derivatives: dict[str, Any] = {}
        for op in self.ops:
            self._parse(op, derivatives)
        self._add_sums()
        return derivatives, self._order()

    # ---- value types ---------------------------------------------------------------------
    def _declared_complex(self) -> set[str]:
        names = set()
        for op in self.ops:
            for name, var in op.variables.items():
                qualified = f"{op.name}/{name}"
                if var.is_complex and qualified not in self.links:
                    names.add(qualified)
        return names

    def _infer_complex(self, ordered: list[_Def]) -> set[str]:
        """Declared complex variables plus the algebraic definitions with complex values."""
        names = self._declared_complex()
        for d in ordered:
            if d.name in names:
                continue
            if is_complex_valued(d.expr) and not (d.reduce is None and _provably_real(d.expr)):
                names.add(d.name)
        return names

    def _real_part(self, d: _Def) -> _Def:
        """A real definition whose expression has complex parts: wrapped in RealPart."""
        if d.name in self.complex or not is_complex_valued(d.expr):
            return d
        return _Def(d.name, RealPart(d.expr), d.reduce, d.key, d.op, d.equation)

    def _check_real_states(self, derivatives: dict[str, Any]) -> dict[str, Any]:
        """The derivative of a real state must be real: provably real ones take RealPart."""
        out = {}
        for name, rhs in derivatives.items():
            if name not in self.complex and is_complex_valued(rhs):
                if not _provably_real(rhs):
                    op_name, var = name.split("/", 1)
                    op = next(o for o in self.ops if o.name == op_name)
                    eq = op.equations[var]
                    raise EquationError(
                        f"the derivative of the real state {var!r} has complex values",
                        hint=f"declare it complex, e.g. {var}: variable(complex) or a complex "
                        f"initial value such as variable(0.5+0.1j); or take real(...) of the "
                        "right-hand side",
                        equation=eq.text,
                        column=eq.rhs_col,
                        variable=var,
                        **op.context(self.file),
                    )
                rhs = RealPart(rhs)
            out[name] = rhs
        return out

    def _check_names(self, op: _Op) -> None:
        if "/" in op.name:
            raise TemplateError(
                f"operator name {op.name!r} must not contain '/' (it separates operator and "
                "variable in qualified names)",
                file=op.template.path or self.file,
                template=op.name,
            )
        for name in op.variables:
            if not name.isidentifier() or name in _KEYWORDS:
                raise EquationError(
                    f"variable name {name!r} is not a valid identifier",
                    hint="use letters, digits and '_' (not starting with a digit), and no "
                    "Python keyword",
                    variable=name,
                    **op.context(self.file),
                )

    def _split(self, op: _Op) -> None:
        ctx = op.context(self.file)
        for text in op.template.equations:
            eq = split_equation(text, **ctx)
            name = eq.target
            where = {"equation": eq.text, "column": eq.target_col, "variable": name, **ctx}
            declared = op.variables.get(name)
            what = "derivative of" if eq.kind == "ode" else "equation for"
            if declared is None:
                raise EquationError(
                    f"{what} undeclared variable {name!r}",
                    hint=f"declare it under 'variables:', e.g. {name}: variable(0)",
                    **where,
                )
            if declared.kind == "input":
                raise EquationError(
                    f"{what} input variable {name!r}: inputs are set from outside (edges, "
                    "coupling, spikes) and cannot have an equation",
                    hint=f"declare it as variable({declared.default:g}) or output(...) instead",
                    **where,
                )
            if declared.kind == "parameter":
                raise EquationError(
                    f"{what} the constant {name!r} (declared as a plain number)",
                    hint=f"declare it as variable({declared.default:g}) to give it an equation",
                    **where,
                )
            first = op.equations.get(name)
            if first is not None:
                raise EquationError(
                    f"duplicate definition of variable {name!r}",
                    hint=f"it is already defined by {first.text!r}",
                    **where,
                )
            op.equations[name] = eq

    def _link(self) -> None:
        for op in self.ops:
            for name, var in op.variables.items():
                if var.kind != "input":
                    continue
                sources = [
                    other
                    for other in self.ops
                    if other is not op
                    and other.variables.get(name, Variable("parameter")).kind == "output"
                ]
                if len(sources) > 1:
                    # PyRates: an input fed by several operator outputs receives their sum
                    self.sums[f"{op.name}/{name}"] = [(s, f"{s.name}/{name}") for s in sources]
                elif sources:
                    self.links[f"{op.name}/{name}"] = f"{sources[0].name}/{name}"

    def _make_symbols(self, op: _Op) -> None:
        for name in op.variables:
            qualified = self.links.get(f"{op.name}/{name}", f"{op.name}/{name}")
            op.symbols[name] = _symbol(qualified, qualified in self.complex)

    def _add_sums(self) -> None:
        """The definitions of summed inputs: ``op/in = src1/in + src2/in + ...``."""
        for qualified, sources in self.sums.items():
            op_name, name = qualified.split("/", 1)
            op = next(o for o in self.ops if o.name == op_name)
            terms = [src.symbols[name] for src, _ in sources]
            expr = sympy.Add(*terms)
            self.defs[qualified] = _Def(qualified, expr, None, self._next(), op, None)

    def _parse(self, op: _Op, derivatives: dict[str, Any]) -> None:
        ctx = op.context(self.file)

        def reduce(kind: str, expr: Any, text: str) -> Any:
            key = (kind, expr)
            name = self.reductions.get(key)
            if name is None:
                name = f"{op.name}/{kind}({text})"
                base, n = name, 1
                while name in self.defs:  # same text, different meaning: keep names unique
                    n += 1
                    name = f"{base}#{n}"
                self.reductions[key] = name
                self.defs[name] = _Def(name, expr, kind, self._next(), op, None)
            return _symbol(name, is_complex_valued(expr))

        kind = {"eq": "ode"}  # the kind of the equation being parsed (noise is for derivatives)

        def noise(name: str) -> Any:
            if kind["eq"] != "ode":
                raise Refusal(
                    f"white noise {name!r} may only appear in differential equations "
                    "(x' = f + g*xi), not in algebraic definitions",
                    f"add g*{name} to the derivative that the definition feeds",
                )
            if name not in self.noises:
                self.noises.append(name)
            return noise_symbol(name)

        namespace = Namespace(op.symbols, reduce, self._past, noise)
        for name, eq in op.equations.items():
            kind["eq"] = eq.kind
            rhs = parse_rhs(eq, namespace, **ctx)
            qualified = f"{op.name}/{name}"
            if eq.kind == "ode":
                bad = nonlinear_noise(rhs, tuple(self.noises))
                if bad is not None:
                    raise EquationError(
                        f"white noise {bad!r} must enter the derivative linearly: "
                        f"{name}' = f + g*{bad}, with g free of noise",
                        equation=eq.text,
                        column=eq.rhs_col,
                        variable=name,
                        hint="Euler-Maruyama integrates f dt + g dW; products or functions of "
                        "noises have no meaning there",
                        **ctx,
                    )
                derivatives[qualified] = rhs
            else:
                self.defs[qualified] = _Def(qualified, rhs, None, self._next(), op, eq)

    def _past(self, name: str, variable: Any, delay: Any) -> Any:
        """The symbol of the delayed read ``past(variable, delay)`` (see :mod:`.delays`)."""
        state = getattr(variable, "name", None)
        if state not in self.state_names:
            raise Refusal(
                f"past() reads the history of a state variable (one with a derivative); "
                f"{name!r} is not one",
                "delay a state, e.g. past(v, d) where v' = ... is an equation of the node",
            )
        key = (state, *delay_spec(delay, self.param_names))
        if key[2] in self.complex:
            raise Refusal(f"a delay must be real; the parameter {key[2]!r} is complex")
        symbol = self.delays.get(key)
        if symbol is None:
            symbol = self.delays[key] = past_symbol_name(len(self.delays))
        return _symbol(symbol, state in self.complex)  # a complex state's past is complex

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _order(self) -> list[_Def]:
        """Definitions in dependency order (Kahn's algorithm; ties keep source order)."""
        deps = {
            name: {s.name for s in d.expr.free_symbols if s.name in self.defs}
            for name, d in self.defs.items()
        }
        users: dict[str, list[str]] = {name: [] for name in self.defs}
        for name, needed in deps.items():
            for dep in needed:
                users[dep].append(name)
        missing = {name: len(needed) for name, needed in deps.items()}
        ready = [(self.defs[n].key, n) for n, count in missing.items() if count == 0]
        heapq.heapify(ready)
        ordered: list[_Def] = []
        while ready:
            _, name = heapq.heappop(ready)
            ordered.append(self.defs[name])
            for user in users[name]:
                missing[user] -= 1
                if missing[user] == 0:
                    heapq.heappush(ready, (self.defs[user].key, user))
        if len(ordered) < len(self.defs):
            self._raise_cycle({n for n, count in missing.items() if count > 0}, deps)
        return ordered

    def _raise_cycle(self, remaining: set[str], deps: dict[str, set[str]]) -> None:
        # every remaining definition waits on another remaining one: walk until a name repeats
        start = min(remaining, key=lambda n: self.defs[n].key)
        path = [start]
        while True:
            nxt = min((d for d in deps[path[-1]] if d in remaining), key=lambda n: self.defs[n].key)
            if nxt in path:
                loop = path[path.index(nxt) :]
                break
            path.append(nxt)
        # start the report at a variable the user wrote an equation for (not a reduction)
        at = next((i for i, n in enumerate(loop) if self.defs[n].equation), 0)
        loop = loop[at:] + loop[:at]
        cycle = loop + [loop[0]]
        first = self.defs[cycle[0]]
        eq = first.equation
        raise EquationError(
            "algebraic cycle: " + " -> ".join(cycle) + " (each needs the next)",
            hint="break the cycle, e.g. make one of them a state with a derivative",
            equation=eq.text if eq else None,
            column=eq.rhs_col if eq else None,
            variable=first.name.split("/", 1)[1],
            **first.op.context(self.file),
        )

    def _assemble(self, derivatives: dict[str, Any], ordered: list[_Def]) -> NodeModel:
        states: list[str] = []
        initial: list[tuple[str, float]] = []
        params: list[tuple[str, float]] = []
        inputs: list[tuple[str, float]] = []
        outputs: list[str] = []
        for op in self.ops:
            for name, var in op.variables.items():
                qualified = f"{op.name}/{name}"
                eq = op.equations.get(name)
                if var.kind == "output":
                    outputs.append(qualified)
                if eq is not None and eq.kind == "ode":
                    states.append(qualified)
                    initial.append((qualified, var.default))
                elif eq is not None:
                    continue  # algebraic: in `ordered`
                elif var.kind == "input":
                    if qualified not in self.links and qualified not in self.sums:
                        inputs.append((qualified, var.default))
                else:
                    # plain numbers, and variables/outputs that no equation defines
                    params.append((qualified, var.default))
        return NodeModel(
            name=self.node.name,
            operators=tuple(op.name for op in self.ops),
            states=tuple(states),
            initial=tuple(initial),
            params=tuple(params),
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            algebraic=tuple(Definition(d.name, d.expr, d.reduce) for d in ordered),
            derivatives=tuple((s, derivatives[s]) for s in states),
            links=tuple(self.links.items()),
            complex_vars=tuple(sorted(self.complex)),
            delays=tuple((sym, *key) for key, sym in self.delays.items()),
            noises=tuple(self.noises),
        )


def _provably_real(expr: Any) -> bool:
    """Whether sympy proves that ``expr``'s imaginary part is 0 (``z + conj(z)``).

    Numbers are taken as exact rationals for the proof (the parser folds ``-I`` into
    ``-1.0*I``, and ``sin(v) - sin(1.0*v)`` would not cancel); only the proof sees them.
    """
    try:
        imaginary = sympy.nsimplify(sympy.im(expr), rational=True)
        return bool(sympy.simplify(imaginary) == 0)
    except Exception:  # sympy may fail on unusual expressions: then it is not proven
        return False
