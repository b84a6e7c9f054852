"""Printing a plan's statements: the part of a renderer that every backend shares.

:class:`StatementWriter` turns the statements of a :class:`~rectinumba.codegen.plan.Loop` into
source lines for one neuron ``i`` of trial ``b``. Renderers subclass it and supply what differs
between backends: how a population reduction is accumulated and read, how a recording is written,
and how a non-finite state is reported. Loops, barriers and storage are the renderers' own.
"""

from __future__ import annotations

import re

from .events import EventCoupling
from .plan import (
    Accumulate,
    Assign,
    Check,
    Draw,
    Loop,
    NetworkPlan,
    NodePlan,
    Record,
    Ref,
    Reset,
    SpikeTest,
    Stmt,
    Write,
)
from .printer import ScalarPrinter
from .rng import NORMALS_PER_CALL, draw_line
from .source import SourceWriter

__all__ = ["StatementWriter", "helpers", "ELEMENTWISE", "emit_activation"]


def helpers(decorator: str, names: set[str], dtype: str = "float64") -> list[str]:
    """Source lines of the helper functions the printed expressions call (``_phi1``, ...).

    Parameters
    ----------
    decorator : str
        Decorator line of each helper (``@njit(...)`` or ``@cuda.jit(device=True)``).
    names : set of str
        Helper names used by the module.
    dtype : str
        The kernel's value dtype (literals of a float32 kernel stay float32).

    Returns
    -------
    list of str
        Lines, each helper followed by two blank lines.
    """
    bodies = {
        # (exp(h) - 1)/h; Taylor series below |h| = 1e-5 (error < 5e-17), so h -> 0 is Euler
        "_phi1": [
            "def _phi1(h):",
            "    if abs(h) < 1e-5:",
            "        return 1.0 + h * (0.5 + h * (1.0 / 6.0))",
            "    return math.expm1(h) / h",
        ],
        # d/dh (exp(h) - 1)/h = (exp(h) - phi1(h))/h; series below |h| = 1e-2 (error < 2e-16)
        "_phi1p": [
            "def _phi1p(h):",
            "    if abs(h) < 1e-2:",
            "        return 0.5 + h * (1.0 / 3.0 + h * (0.125 + h * (1.0 / 30.0 + h * (1.0 / 144.0"
            " + h * (1.0 / 840.0)))))",
            "    return (math.exp(h) - math.expm1(h) / h) / h",
        ],
    }
    lines: list[str] = []
    for name in sorted(names):
        body = bodies[name]
        if dtype == "float32":  # our own text: its float literals become float32 literals
            body = [float32_literals(line) for line in body]
        lines += [decorator, *body, "", ""]
    return lines


#: a float literal in our own generated text (not part of a name or of another number)
_FLOAT_LITERAL = re.compile(r"(?<![\w.])(\d+\.\d*(?:e-?\d+)?|\d+e-?\d+)(?![\w.])")


def float32_literals(text: str) -> str:
    """Our own generated text with its float literals as ``np.float32(...)``.

    Parameters
    ----------
    text : str
        Source text written by rectinumba (never a user string).

    Returns
    -------
    str
        The text with float32 literals.
    """
    return _FLOAT_LITERAL.sub(r"np.float32(\1)", text)
#: index of an array element by role: per neuron ``i`` of trial ``b`` unless said otherwise
#: (tapes also by step; a template edge's states per connection ``jj``, its constants per edge,
#: the source values it reads per source neuron ``j``)
_INDEX = {"tape": "b, step, i", "esyn": "b, jj", "econst": "b, 0", "epre": "b, j"}


class StatementWriter:
    """Prints plan statements for neuron ``i`` of trial ``b``.

    Subclasses implement :meth:`reduction`, :meth:`accumulate`, :meth:`record` and
    :meth:`fail`; :meth:`element` may be overridden for another array layout.

    Parameters
    ----------
    plan : NetworkPlan
        The plan printed.
    """

    printer = ScalarPrinter

    def __init__(self, plan: NetworkPlan) -> None:
        self.plan = plan
        self.used_helpers: set[str] = set()
        #: the printed code calls cmath (complex values): the module imports it
        self.uses_cmath = False
        #: a statement draws normals (the module needs the generator, codegen.rng)
        self.uses_rng = False
        self.dtype = plan.spec.dtype

    def lit(self, text: str) -> str:
        """A number literal in the kernel's dtype (:meth:`ScalarPrinter.literal`).

        Parameters
        ----------
        text : str
            A Python float literal.

        Returns
        -------
        str
            Source text.
        """
        return self.printer({}, self.dtype).literal(text)

    # ---- values ---------------------------------------------------------------------------
    def element(self, name: str, role: str) -> str:
        """Element of array argument ``name`` for this neuron (tapes also index the step).

        Parameters
        ----------
        name : str
            Argument name.
        role : str
            Its role.

        Returns
        -------
        str
            Source text.
        """
        if role == "ring":  # this step's slot of a history ring (see ring_positions)
            return f"{name}[b, rp_{name}, i]"
        return f"{name}[{_INDEX.get(role, 'b, i')}]"

    @staticmethod
    def ring_positions(code: SourceWriter, rings) -> None:
        """``rp_<ring>``: the slot of this step in each ring, ``L_<ring>``: its length.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        rings : iterable of str
            Ring argument names.
        """
        for ring in rings:
            code(f"L_{ring} = {ring}.shape[1]")
            code(f"rp_{ring} = (t0 + step) % L_{ring}")

    @staticmethod
    def past_slot(ring: str, steps: str) -> str:
        """The slot of ring ``ring`` ``steps`` steps before this step (``steps <= L - 1``).

        Parameters
        ----------
        ring : str
            Ring argument name.
        steps : str
            Source text of the delay in steps.

        Returns
        -------
        str
            Source text of the slot index.
        """
        return f"rp_{ring} - {steps} + (L_{ring} if {steps} > rp_{ring} else 0)"

    def text(self, node: NodePlan, ref: Ref) -> str:
        """Source text of the value ``ref``.

        Parameters
        ----------
        node : NodePlan
            The node.
        ref : Ref
            Where the value lives.

        Returns
        -------
        str
            Source text.
        """
        where = ref.where
        if where == "local":
            return ref.name
        if where == "arr":
            return self.element(ref.name, ref.role)
        if where == "x":
            return "x[b, step, i]"
        if where == "t":
            return "t"
        if where == "spike":
            return f"({self.text(node, ref.parts[0])} * inv_dt)"
        if where == "sum":
            return "(" + " + ".join(self.text(node, p) for p in ref.parts) + ")"
        if where == "red":
            return self.reduction(node, ref)
        if where == "past":
            return f"{ref.name}[b, {self.past_slot(ref.name, f'{ref.role}[b, i]')}, i]"
        raise AssertionError(where)  # pragma: no cover - plan and writer are written together

    def value(self, node: NodePlan, key: tuple, loop: Loop) -> str:
        """Source text of value ``key`` read in ``loop``.

        Parameters
        ----------
        node : NodePlan
            The node.
        key : tuple
            Value key.
        loop : Loop
            The loop reading it.

        Returns
        -------
        str
            Source text.
        """
        return self.text(node, node.ref(key, loop))

    def expr(self, node: NodePlan, expr, keys, loop: Loop) -> str:
        """Source text of a statement's sympy expression.

        Parameters
        ----------
        node : NodePlan
            The node.
        expr : sympy.Expr
            The expression.
        keys : tuple
            ``(symbol name, value key)`` of its free symbols.
        loop : Loop
            The loop.

        Returns
        -------
        str
            Source text.
        """
        names = {name: self.text(node, ref) for name, ref in node.names(keys, loop).items()}
        return self.doprint(expr, names)

    def doprint(self, expr, names: dict[str, str]) -> str:
        """Source text of ``expr`` with its symbols replaced by ``names`` (helpers noted).

        Parameters
        ----------
        expr : sympy.Expr
            The expression.
        names : dict
            Symbol name -> source text of its value.

        Returns
        -------
        str
            Source text.
        """
        text = self.printer(names, self.dtype).doprint(expr)
        if "cmath." in text:
            self.uses_cmath = True
        for helper in ("_phi1p", "_phi1"):
            if helper + "(" in text:
                self.used_helpers.add(helper)
        return text

    # ---- event-driven edges -------------------------------------------------------------------
    def event_names(self, ev: EventCoupling) -> dict[str, str]:
        """Source text of the symbols of an event edge's expressions, for target neuron ``i``.

        The source's parameters are read at neuron 0 of the trial: the runner propagates by
        events only when they are equal for all of its neurons.

        Parameters
        ----------
        ev : EventCoupling
            The coupling.

        Returns
        -------
        dict
            Symbol name -> source text.
        """
        out = {}
        for name, how in ev.symbols().items():
            if how[0] == "u":
                out[name] = f"{how[1]}[b, i]"
            elif how[0] == "g":
                out[name] = f"({how[1]}[b, i] * inv_dt)"
            elif how[0] == "const":
                out[name] = f"{how[1]}[b, 0]"
            else:
                out[name] = "dt"
        return out

    def event_advance(self, code: SourceWriter, ev: EventCoupling) -> None:
        """``U`` of target neuron ``i`` after the step, and its ``G`` cleared.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        ev : EventCoupling
            The coupling.
        """
        names = self.event_names(ev)
        for j, expr in enumerate(ev.shadow.new):
            code(f"ev{j} = {self.doprint(expr, names)}")
        for j, u in enumerate(ev.u):
            code(f"{u}[b, i] = ev{j}")
        code(f"{ev.g}[b, i] = 0.0")

    # ---- statements ---------------------------------------------------------------------------
    def statements(self, code: SourceWriter, node: NodePlan, loop: Loop) -> None:
        """Every statement of ``loop`` for one neuron.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        node : NodePlan
            The node.
        loop : Loop
            The loop.
        """
        for stmt in loop.body:
            self.statement(code, node, loop, stmt)

    def statement(self, code: SourceWriter, node: NodePlan, loop: Loop, stmt: Stmt) -> None:
        """One statement.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        node : NodePlan
            The node.
        loop : Loop
            The loop.
        stmt : Stmt
            The statement.
        """
        if isinstance(stmt, Assign):
            local = node.local_name(stmt.key)
            code(f"{local} = {self.expr(node, stmt.expr, stmt.keys, loop)}")
            self._store(code, node, stmt.key, local)
        elif isinstance(stmt, SpikeTest):
            v = self.value(node, stmt.v, loop)
            code(f"spk = {self.lit('1.0')} if {v} >= {stmt.threshold} else {self.lit('0.0')}")
            self._store(code, node, stmt.flag, "spk")
        elif isinstance(stmt, Write):
            code(f"{self.element(stmt.dest, stmt.role)} = {self.value(node, stmt.key, loop)}")
        elif isinstance(stmt, Accumulate):
            self.accumulate(code, node, loop, stmt.key, self.expr(node, stmt.expr, stmt.keys, loop))
        elif isinstance(stmt, Record):
            self.record(code, node, stmt, self.value(node, stmt.key, loop))
        elif isinstance(stmt, Reset):
            with code.block(f"if {self.value(node, stmt.flag, loop)} != 0.0:"):
                code(f"{node.local_name(stmt.key)} = {stmt.value}")
        elif isinstance(stmt, Check):
            local = node.local_name(stmt.key)
            self.fail(code, node, stmt.state, local)
        elif isinstance(stmt, Draw):
            self.uses_rng = True
            first = stmt.block * NORMALS_PER_CALL
            names = [node.local_name(("noise", first + q)) for q in range(NORMALS_PER_CALL)]
            seeds, offset = self.plan.arg("seed", -1, "keys"), self.plan.arg("rng", -1, "offset")
            if self.dtype == "float32":  # the generator's float64 normals, once rounded
                code(draw_line(node.k, stmt.block, [f"{n}_64" for n in names], seeds, offset))
                for n in names:
                    code(f"{n} = np.float32({n}_64)")
            else:
                code(draw_line(node.k, stmt.block, names, seeds, offset))
        else:  # pragma: no cover - plan and writer are written together
            raise AssertionError(stmt)

    def _store(self, code: SourceWriter, node: NodePlan, key: tuple, local: str) -> None:
        name = node.stores(key)
        if name is not None:
            code(f"{self.element(name, 'scratch')} = {local}")

    def finite(self, local: str, complex_value: bool = False) -> str:
        """Test that a new state value is finite (both parts of a complex one).

        Parameters
        ----------
        local : str
            The local holding the value.
        complex_value : bool
            The value is complex.

        Returns
        -------
        str
            A boolean expression.
        """
        if complex_value:
            self.uses_cmath = True
            return f"cmath.isfinite({local})"
        return f"math.isfinite({local})"

    @staticmethod
    def state_is_complex(node: NodePlan, state: int) -> bool:
        """Whether state ``state`` (index) of ``node`` is complex.

        Parameters
        ----------
        node : NodePlan
            The node.
        state : int
            State index.

        Returns
        -------
        bool
            True for a complex state.
        """
        return node.states[state] in node.complex

    # ---- backend hooks ----------------------------------------------------------------------
    def reduction(self, node: NodePlan, ref: Ref) -> str:
        """Source text of a population reduction's value.

        Parameters
        ----------
        node : NodePlan
            The node.
        ref : Ref
            The reduction.

        Returns
        -------
        str
            Source text.
        """
        raise NotImplementedError

    def accumulate(self, code: SourceWriter, node: NodePlan, loop: Loop, key: tuple, text: str):
        """Add this neuron's term ``text`` to reduction ``key``.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        node : NodePlan
            The node.
        loop : Loop
            The loop.
        key : tuple
            The reduction's key.
        text : str
            This neuron's term.
        """
        raise NotImplementedError

    def record(self, code: SourceWriter, node: NodePlan, stmt: Record, text: str) -> None:
        """Record ``text`` (this neuron's value) for recording ``stmt.dest``.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        node : NodePlan
            The node.
        stmt : Record
            The statement.
        text : str
            This neuron's value.
        """
        raise NotImplementedError

    def fail(self, code: SourceWriter, node: NodePlan, state: int, local: str) -> None:
        """Report a non-finite new value ``local`` of state index ``state``.

        Parameters
        ----------
        code : SourceWriter
            Where the lines go.
        node : NodePlan
            The node.
        state : int
            State index.
        local : str
            The local holding the new value.
        """
        raise NotImplementedError


# ---- function nodes ---------------------------------------------------------------------------
#: element-wise activations: ``{v}`` is the input
ELEMENTWISE = {
    "identity": "{v}",
    "tanh": "math.tanh({v})",
    "sigmoid": "1.0 / (1.0 + math.exp(-({v})))",
    "relu": "max({v}, 0.0)",
    # torch.nn.Softplus(beta=1, threshold=20): linear above the threshold
    "softplus": "({v}) if ({v}) > 20.0 else math.log1p(math.exp({v}))",
}


def emit_activation(
    code: SourceWriter, k: int, act: str, inp: str, out: str, dtype: str = "float64"
) -> None:
    """``out = act(inp)`` for the N{k} units ``i`` of a function node (serial loops; softmax and
    friends take a max, a sum and a normalising pass).

    Parameters
    ----------
    code : SourceWriter
        Where the lines go.
    k : int
        Node index.
    act : str
        Activation.
    inp : str
        Source text of unit i's input.
    out : str
        Source text of unit i's output.
    dtype : str
        The kernel's value dtype (a float32 kernel's literals stay float32).
    """
    if act in ELEMENTWISE:
        text = ELEMENTWISE[act].format(v=inp)
        with code.block(f"for i in range(N{k}):"):
            code(f"{out} = {float32_literals(text) if dtype == 'float32' else text}")
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
