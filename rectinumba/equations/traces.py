"""Linear spike traces: when ``u = J @ s`` can be propagated by events instead of a matvec.

In most spiking templates the variable that couples neurons is a synaptic trace, a linear filter
of the neuron's own spikes (``s' = -s/tau_s + spike``; a bi-exponential synapse is a two-state
filter). Then ``u_i = sum_j J[i, j] s_j`` obeys the same linear equations driven by
``sum_j J[i, j] spike_j``: the compiler can keep ``u`` per target neuron, advance it with the
node's own update rule and add the columns of J of the neurons that spiked
(:mod:`rectinumba.codegen.events`), which costs O(N + spikes x fan-out) per step instead of
O(nnz), and differs from the matvec only by rounding.

:func:`linear_trace` decides this on the model's equations (sympy): the *trace* is the smallest
set of states that the coupled variable depends on, closed under the states their derivatives
read. It qualifies when

- the coupled variable is a linear combination of trace states (no constant term);
- every trace derivative is ``sum_n A[m, n] * trace_n + B[m] * spike + R[m]``, where A, B and the
  coupled variable's coefficients are made of parameters (and inputs the network does not drive)
  and numbers only: no time, no other state, no driven input, no population reduction;
- each term of the remainder R has a factor that is a parameter or undriven input whose value
  can be zero (the LIF template's ``s_ext``): it must be zero for the run;
- the network does not reset a trace state at spikes (the reset is not linear).

The values are checked per run (:func:`value_problem`): the names in A, B and the coefficients
must have one value for all neurons of a trial (per-trial values are fine: ``u`` is kept per
trial), and each remainder term must vanish.

The sympy analysis needs the model's expressions; :func:`trace_summary` returns what a run needs
without them (names only), cached on disk beside stored models so that a process whose kernels
are cached never imports sympy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["LinearTrace", "TraceSummary", "linear_trace", "trace_summary", "value_problem"]


@dataclass(frozen=True)
class TraceSummary:
    """What a run needs to know about a node's coupled trace (names only; JSON-serialisable).

    Parameters
    ----------
    reason : str
        Empty when the coupled variable is a linear trace; else why not (for error messages).
    states : tuple of str
        The trace states, in model order.
    uniform : tuple of str
        Parameters and undriven inputs that must have one value for all neurons of a trial.
    zero : tuple of tuple of str
        One entry per constant term of the trace equations: names of which one must be all zero.
    """

    reason: str = ""
    states: tuple[str, ...] = ()
    uniform: tuple[str, ...] = ()
    zero: tuple[tuple[str, ...], ...] = ()

    @property
    def linear(self) -> bool:
        """Whether the coupled variable is a linear trace of the spikes."""
        return not self.reason


@dataclass(frozen=True)
class LinearTrace:
    """A coupled variable that is a linear filter of the node's spikes (see module docstring).

    Parameters
    ----------
    summary : TraceSummary
        The names (states, uniform, zero).
    source : tuple of sympy.Expr
        Coefficient of each trace state in the coupled variable.
    A : tuple of tuple of sympy.Expr
        ``A[m][n]``: coefficient of trace state n in the derivative of trace state m.
    B : tuple of sympy.Expr
        ``B[m]``: coefficient of the spike input in the derivative of trace state m.
    """

    summary: TraceSummary
    source: tuple[Any, ...]
    A: tuple[tuple[Any, ...], ...]
    B: tuple[Any, ...]


def _expanded(model, expr, names: set[str]):
    """``expr`` with element-wise algebraic definitions substituted; None when it reads a
    population reduction."""
    alg = {d.name: d for d in model.algebraic}
    for _ in range(len(alg) + 1):
        found = [s for s in expr.free_symbols if s.name in alg]
        if not found:
            return expr
        if any(alg[s.name].reduce for s in found):
            return None
        expr = expr.xreplace({s: alg[s.name].expr for s in found})
        names.update(s.name for s in found)
    return expr  # pragma: no cover - definitions are acyclic


def _linear_parts(expr, symbols, constants: set[str]):
    """Coefficients of ``symbols`` in ``expr`` and the remainder's terms, or a reason string."""
    import sympy

    coeffs = [sympy.diff(expr, s) for s in symbols]
    for s, c in zip(symbols, coeffs, strict=True):
        bad = {x.name for x in c.free_symbols} - constants
        if bad:
            return f"it is not linear in {s.name} (its coefficient reads {sorted(bad)})"
    rest = sympy.expand(expr - sum(c * s for c, s in zip(coeffs, symbols, strict=True)))
    return coeffs, ([] if rest == 0 else list(sympy.Add.make_args(rest)))


def _shown(names) -> str:
    """Names for a message (internal symbols of noises and delayed values in words)."""
    words = []
    for n in sorted(names):
        if n.startswith("@xi:"):
            n = f"the noise {n[4:]}"
        elif n.startswith("@past"):
            n = "a delayed value (past)"
        words.append(n)
    return ", ".join(dict.fromkeys(words))


def _zero_candidates(term, constants: set[str]) -> tuple[str, ...]:
    """Names of factors of ``term`` that make it vanish when they are zero."""
    names = []
    for factor in term.as_ordered_factors():
        base, exp = factor.as_base_exp()
        if base.is_Symbol and base.name in constants and exp.is_positive:
            names.append(base.name)
    return tuple(sorted(set(names)))


def linear_trace(
    model, source_var: str, spike_var: str | None, driven: tuple[str, ...] = (),
    reset: str | None = None,
) -> LinearTrace | TraceSummary:
    """The coupled variable ``source_var`` as a linear trace of the spikes, if it is one.

    Parameters
    ----------
    model : NodeModel
        The neuron model (a StoredModel compiles its expressions).
    source_var : str
        Qualified name of the coupled variable (the coupling's ``source_var``, an edge's source
        ``output_var``).
    spike_var : str or None
        Qualified name of the spike input (None: not a spiking node, never a trace).
    driven : tuple of str
        Inputs the network drives (edges, coupling); the spike input may be among them.
    reset : str or None
        The state the network resets at spikes (``spike_def``; None when the model resets).

    Returns
    -------
    LinearTrace or TraceSummary
        The trace; or a TraceSummary whose ``reason`` says why the variable is not one.
    """
    import sympy

    def no(reason: str) -> TraceSummary:
        return TraceSummary(reason=reason)

    if spike_var is None:
        return no("the node does not spike")
    states = list(model.states)
    derivs = dict(model.derivatives)
    consts = {n for n, _ in model.params} | {
        n for n, _ in model.inputs if n not in driven and n != spike_var
    }
    used: set[str] = set()
    src = _expanded(model, sympy.Symbol(source_var, real=True), used)
    if src is None:
        return no(f"{source_var} reads a population reduction (mean/vsum)")
    todo = [n for n in sorted(x.name for x in src.free_symbols) if n in derivs]
    if not todo:
        return no(f"{source_var} does not depend on a state variable")
    trace: set[str] = set()
    rhs: dict[str, Any] = {}
    while todo:
        m = todo.pop()
        if m in trace:
            continue
        trace.add(m)
        e = _expanded(model, derivs[m], used)
        if e is None:
            return no(f"d/dt {m} reads a population reduction (mean/vsum)")
        rhs[m] = e
        todo.extend(x.name for x in e.free_symbols if x.name in derivs)
    order = [s for s in states if s in trace]
    complex_vars = set(getattr(model, "complex_vars", ()))
    if complex_vars & (trace | {source_var}):
        return no(f"{source_var} is complex-valued (event-driven traces are real)")
    if reset is not None and reset in trace:
        return no(f"the network resets {reset} at spikes, and {source_var} depends on it")
    syms = [sympy.Symbol(s, real=True) for s in order]
    spike = sympy.Symbol(spike_var, real=True)
    allowed = set(order) | consts | {spike_var}
    uniform: set[str] = set()
    zero: list[tuple[str, ...]] = []
    A, B = [], []
    for m in order:
        bad = {x.name for x in rhs[m].free_symbols} - allowed
        if bad:
            return no(f"d/dt {m} reads {_shown(bad)}")
        parts = _linear_parts(rhs[m], syms + [spike], consts)
        if isinstance(parts, str):
            return no(f"d/dt {m}: {parts}")
        coeffs, rest = parts
        for term in rest:
            cands = _zero_candidates(term, consts)
            if not cands:
                return no(f"d/dt {m} has the constant drive {term}")
            zero.append(cands)
        for c in coeffs:
            uniform.update(x.name for x in c.free_symbols)
        A.append(tuple(coeffs[:-1]))
        B.append(coeffs[-1])
    bad = {x.name for x in src.free_symbols} - set(order) - consts
    if bad:
        return no(f"{source_var} reads {_shown(bad)}")
    parts = _linear_parts(src, syms, consts)
    if isinstance(parts, str) or parts[1]:
        return no(f"{source_var} is not a linear combination of {', '.join(order)}")
    for c in parts[0]:
        uniform.update(x.name for x in c.free_symbols)
    summary = TraceSummary("", tuple(order), tuple(sorted(uniform)), tuple(dict.fromkeys(zero)))
    return LinearTrace(summary, tuple(parts[0]), tuple(A), tuple(B))


@lru_cache(maxsize=512)
def trace_summary(
    model, source_var: str, spike_var: str | None, driven: tuple[str, ...] = (),
    reset: str | None = None,
) -> TraceSummary:
    """:func:`linear_trace`'s names, without sympy when the model's summary is cached on disk.

    Parameters
    ----------
    model : NodeModel or StoredModel
        The neuron model.
    source_var, spike_var, driven, reset
        As for :func:`linear_trace`.

    Returns
    -------
    TraceSummary
        Whether the variable is a linear trace (``reason``), and the names a run checks.
    """
    if spike_var is None:  # no sympy (and no disk) for the common non-spiking case
        return TraceSummary(reason="the node does not spike")
    key = getattr(model, "key", None)
    relative = None
    if key is not None:  # a StoredModel: look on disk first
        from ..codegen.cache import read_entry

        args = json.dumps([source_var, spike_var, sorted(driven), reset])
        digest = hashlib.sha256(args.encode()).hexdigest()[:16]
        relative = f"models/{key}-trace-{digest}.json"
        entry = read_entry(relative, check=lambda e: e.get("args") == args)
        if entry is not None:
            return TraceSummary(
                entry["reason"],
                tuple(entry["states"]),
                tuple(entry["uniform"]),
                tuple(tuple(z) for z in entry["zero"]),
            )
    found = linear_trace(model, source_var, spike_var, tuple(sorted(driven)), reset)
    summary = found if isinstance(found, TraceSummary) else found.summary
    if relative is not None:
        from ..codegen.cache import write_entry

        write_entry(relative, {
            "args": args, "reason": summary.reason, "states": list(summary.states),
            "uniform": list(summary.uniform), "zero": [list(z) for z in summary.zero],
        })
    return summary


def value_problem(summary: TraceSummary, values: Mapping[str, np.ndarray]) -> str:
    """Why the node's current values keep its trace from being propagated by events.

    Parameters
    ----------
    summary : TraceSummary
        The trace (``summary.linear`` must be True).
    values : mapping
        Parameter and undriven input name -> (1 or B, N) values.

    Returns
    -------
    str
        Empty when the values allow event-driven propagation.
    """
    for name in summary.uniform:
        arr = values[name]
        if arr.shape[1] > 1 and not np.all(arr == arr[:, :1]):
            return f"{name} differs between neurons (the trace's coefficients must not)"
    for names in summary.zero:
        if not any(np.all(values[n] == 0) for n in names):
            which = " or ".join(names)
            return f"{which} is not zero (a constant drive of the trace)"
    return ""
