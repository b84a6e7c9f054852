"""Event-driven coupling: ``u = W @ s`` kept per target neuron and advanced by spikes.

When the coupled variable ``s`` of a spiking node is a linear trace of its spikes
(:func:`rectinumba.equations.traces.linear_trace`), a coupling ``u = W @ s`` (the node's own J,
or an edge into another node) obeys the trace's equations with the spike input replaced by
``W @ spike``. The kernel then keeps one array ``U_m = W @ trace_m`` (B, n_target) per trace
state m instead of computing the product every step:

1. before the source node's loops, a pass over its neurons tests the spike condition on the
   state before the step (the same test as the node's own) and adds column j of W to ``G``
   (B, n_target) for each neuron j that spiked (W^T for a dense W, CSC parts for a sparse one);
2. wherever the target reads the coupled value it reads ``value(U)`` (and, at a later stage of
   a multi-stage rule, the trace's stage value, with the spike input held at ``G / dt`` for the
   whole step as the node's own spike input is);
3. once per step every target neuron advances ``U`` with the node's own update rule applied to
   the trace equations (spike input ``G / dt``) and clears ``G``.

In exact arithmetic this is the matvec path; in floating point it differs by rounding
(tests/test_events.py derives and checks the bound). The expressions below are closed forms
over the symbols ``@u<m>`` (``U_m`` before the step), ``@g`` (the spike input ``G / dt``), the
source node's parameters and ``@dt``: the trace subsystem is tiny, so each stage is printed as
one expression, without locals of its own.

The matvec path stays the reference: the runner (:mod:`rectinumba.propagation`) decides per run
which couplings run event-driven; BPTT always takes the matvec path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..equations.traces import LinearTrace, linear_trace
from ..errors import NetworkError
from .spec import DiffEqSpec
from .update import get_rule, parse_stage_symbol

__all__ = ["EventCoupling", "Shadow", "shadow", "node_trace", "U_PREFIX", "G_SYMBOL"]

#: prefix of the symbol of ``U_m`` before the step (``@u0``, ``@u1``, ...)
U_PREFIX = "@u"
#: symbol of the spike input of the coupled values (``G / dt``)
G_SYMBOL = "@g"


@dataclass(frozen=True)
class Shadow:
    """The trace equations applied to ``U``: values at each stage and one step's update.

    Parameters
    ----------
    states : tuple of str
        The trace states (``U`` arrays in this order).
    values : tuple of sympy.Expr
        The coupled value at stage s = 0 .. S-1 (stage 0: ``sum_m c_m @u<m>``).
    new : tuple of sympy.Expr
        ``U_m`` after the step, per trace state.
    """

    states: tuple[str, ...]
    values: tuple[Any, ...]
    new: tuple[Any, ...]


@lru_cache(maxsize=256)
def node_trace(spec: DiffEqSpec, source_var: str) -> LinearTrace:
    """The linear trace of ``source_var`` in node ``spec`` (a NetworkError when it is none).

    Parameters
    ----------
    spec : DiffEqSpec
        The source node.
    source_var : str
        The coupled variable (the node's ``source_var`` or, for an edge, its ``output_var``).

    Returns
    -------
    LinearTrace
        The trace.
    """
    driven = tuple(n for n in spec.driven_inputs if n != spec.spike_var)
    reset = spec.spike_def if spec.resets else None
    found = linear_trace(spec.model, source_var, spec.spike_var, driven, reset)
    if not isinstance(found, LinearTrace):
        raise NetworkError(
            f"codegen: {source_var} cannot be propagated by events: {found.reason}",
            node=spec.label,
        )
    return found


@lru_cache(maxsize=256)
def shadow(trace: LinearTrace, method: str) -> Shadow:
    """Closed forms of the coupled value at every stage and of ``U`` after one step.

    Parameters
    ----------
    trace : LinearTrace
        The source node's trace.
    method : str
        The update rule (:data:`rectinumba.codegen.update.RULES`).

    Returns
    -------
    Shadow
        Expressions over ``@u<m>``, ``@g``, the source's parameters and ``@dt``.
    """
    import sympy

    rule = get_rule(method)
    n = len(trace.summary.states)
    names = [f"{U_PREFIX}{m}" for m in range(n)]
    u = [sympy.Symbol(name, real=True) for name in names]
    g = sympy.Symbol(G_SYMBOL, real=True)

    def rhs(y):
        return [sum((trace.A[m][q] * y[q] for q in range(n)), trace.B[m] * g) for m in range(n)]

    def closed(expr, k):
        """``expr`` with every stage symbol replaced by the closed form of that stage."""
        subs = {}
        for s in expr.free_symbols:
            parsed = parse_stage_symbol(s.name)
            if parsed is not None:
                subs[s] = k[parsed[0]][names.index(parsed[1])]
        return expr.xreplace(subs)

    k: list[list[Any]] = []
    values = []
    for s in range(rule.stages):
        y = u if s == 0 else [closed(rule.stage_state(s, names[m]), k) for m in range(n)]
        values.append(sum(c * y[m] for m, c in enumerate(trace.source)))
        k.append(rhs(y))
    f = rhs(u)
    new = [closed(rule.new_value(names[m], lambda m=m: f[m]), k) for m in range(n)]
    return Shadow(trace.summary.states, tuple(values), tuple(new))


@dataclass(frozen=True)
class EventCoupling:
    """One event-driven coupling in a plan (see module docstring).

    Parameters
    ----------
    kind : str
        ``"J"`` (the recurrent coupling of node ``owner``) or ``"W"`` (edge ``owner``).
    owner : int
        Node or edge index (the owner of its arguments).
    source : int
        Source node (whose spikes drive it).
    target : int
        Target node.
    fmt : str
        ``"dense"`` (columns from W^T) or ``"csr"`` (CSC parts).
    columns : tuple of str
        ``(W^T,)`` or the CSC (data, indices, indptr) argument names.
    u : tuple of str
        ``U`` argument per trace state.
    g : str
        ``G`` argument (the spikes' column sums of this step).
    shadow : Shadow
        The expressions.
    consts : tuple of (str, str)
        ``(parameter, argument)`` of the source node's constants the expressions read.
    advance_in_target : bool
        ``U`` advances where the target reads it (the source ran earlier in the step); else in
        a loop of its own right after the source's spike pass (a feedback edge to an earlier
        node).
    """

    kind: str
    owner: int
    source: int
    target: int
    fmt: str
    columns: tuple[str, ...]
    u: tuple[str, ...]
    g: str
    shadow: Shadow
    consts: tuple[tuple[str, str], ...]
    advance_in_target: bool

    def symbols(self) -> dict[str, tuple]:
        """How each free symbol of the expressions resolves.

        Returns
        -------
        dict
            Symbol name -> ``("u", argument)``, ``("g", argument)``, ``("const", argument)``
            or ``("dt",)``.
        """
        out: dict[str, tuple] = {f"{U_PREFIX}{m}": ("u", a) for m, a in enumerate(self.u)}
        out[G_SYMBOL] = ("g", self.g)
        out["@dt"] = ("dt",)
        out.update({p: ("const", a) for p, a in self.consts})
        return out
