"""How each coupling of a network propagates in a run: a matvec every step, or by events.

A coupling ``u = W @ s`` (a spiking node's recurrent J, or an edge out of a spiking node) can be
*event-driven* when ``s`` is a linear trace of the source's spikes
(:mod:`rectinumba.equations.traces`): the kernel keeps ``u`` per target neuron and adds the
columns of W of the neurons that spiked (:mod:`rectinumba.codegen.events`), O(N + spikes x
fan-out) per step instead of O(nnz). Both paths compute the same numbers up to rounding.

Each node and edge has a ``propagation`` setting (``add_diffeq_node(..., propagation=...)``,
``add_edge(..., propagation=...)``, or the attribute):

``"auto"`` (default)
    event-driven where it is exact and pays off: the trace qualifies (structure), the values of
    this run allow it (the trace's coefficients equal for all neurons of a trial, its constant
    drives zero), the call runs at least :data:`EVENT_MIN_STEPS` steps (each call starts by
    computing ``U = W @ s`` and W's columns), and the weights have at least
    :data:`EVENT_MIN_FANIN` entries per target row on average (below that a matvec costs no
    more than the event bookkeeping). Otherwise the matvec.
``"event"``
    event-driven in every run (any length); a NetworkError naming the reason when the coupling
    does not qualify or this run's values do not allow it (raised before anything runs).
``"matvec"``
    always the matvec.

Delayed edges (``add_edge(..., delay=...)``) and template (plastic) edges take the matvec. Training
takes the matvec where it must: ``fit_bptt``/``bptt_gradients`` differentiate the matvec path, and
an edge trained by ``fit_rls`` changes inside the run.

The choice is made per call by :func:`choose` and is part of the runner's kernel cache key, so
changing a parameter value (a heterogeneous ``tau_s``) can never leave a stale event-driven
kernel in use.
"""

from __future__ import annotations

from typing import Any

from .errors import NetworkError
from .weights import is_sparse

__all__ = ["MODES", "EVENT_MIN_STEPS", "EVENT_MIN_FANIN", "check_mode", "choose"]

#: values of ``propagation``
MODES = ("auto", "event", "matvec")

#: "auto": shorter calls (``forward``) use the matvec; the event path's per-call set-up
#: (``U = W @ s`` and W by columns, a few matvecs' worth) would cost more than it saves
EVENT_MIN_STEPS = 16

#: "auto": fewer weights per target row than this on average keep the matvec. The measured
#: crossover is lower (8-16 weights per row, benchmarks/cpu_bench.py figure "events"), but a
#: small network gains microseconds at most, and this way the networks of earlier versions'
#: tests (up to 20 neurons) keep their numbers bit for bit (tests/test_euler_golden.py)
EVENT_MIN_FANIN = 32


def check_mode(value: Any, what: str) -> str:
    """Validate a ``propagation`` value.

    Parameters
    ----------
    value : object
        As given.
    what : str
        The node or edge it belongs to (for the message).

    Returns
    -------
    str
        One of :data:`MODES`.
    """
    if not isinstance(value, str) or value not in MODES:
        raise NetworkError(f"{what}: propagation must be one of {MODES}, got {value!r}")
    return value


def _fanin(w) -> float:
    """Average number of weights per target row."""
    return (w.nnz if is_sparse(w) else w.size) / max(1, w.shape[0])


def choose(runner, steps: int | None, train=None) -> frozenset:
    """The couplings that run event-driven in a call.

    Parameters
    ----------
    runner : Runner
        The network's runner (graph, node values).
    steps : int or None
        Steps of the call (None: a long run, as ``compile()`` assumes).
    train : object, optional
        The call's training hook (an RLS edge keeps the matvec).

    Returns
    -------
    frozenset
        ``("J", node label)`` and ``("W", (source, target))`` entries.
    """
    from .nodes import DiffEqNode

    nodes, edges = runner.nodes, runner.edges
    rls_edge = getattr(train, "edge", None)
    wanted: list[tuple[tuple, Any, DiffEqNode, str]] = []
    for label, node in nodes.items():
        if isinstance(node, DiffEqNode) and node.coupling is not None:
            if node.propagation != "matvec" and (node.spiking or node.propagation == "event"):
                wanted.append((("J", label), node, node, f"node {label!r}"))
    for e, (key, edge) in enumerate(edges.items()):
        src = nodes[edge.source]
        if edge.propagation == "matvec" or e == rls_edge:
            continue
        if getattr(edge, "dynamics", None) is not None and edge.propagation != "event":
            continue  # a template (plastic) edge: its weights change every step
        if edge.propagation == "event" or (isinstance(src, DiffEqNode) and src.spiking):
            wanted.append((("W", key), edge, src, f"edge {key[0]!r} -> {key[1]!r}"))
    if not wanted:
        return frozenset()
    short = steps is not None and steps < EVENT_MIN_STEPS
    if short and all(owner.propagation == "auto" for _, owner, _, _ in wanted):
        return frozenset()
    spec, order = runner.spec()
    specs = {label: spec.nodes[k] for k, label in enumerate(order)}
    chosen = set()
    for key, owner, src, what in wanted:
        forced = owner.propagation == "event"
        if key[0] == "W" and getattr(owner, "delay_kind", None) is not None:
            reason = "the edge has a delay (its ring buffer holds values, not events)"
        elif key[0] == "W" and getattr(owner, "dynamics", None) is not None:
            reason = "it is a template (plastic) edge: its weights change every step"
        else:
            var = getattr(owner, "source_var", None) if key[0] == "W" else None
            reason = _problem(key, src, specs.get(src.label), var)
        if not reason and not forced:
            w = owner._weights
            if short or _fanin(w) < EVENT_MIN_FANIN:
                continue
        if reason:
            if forced:
                raise NetworkError(
                    f"{what}: propagation='event' is not possible: {reason}",
                    hint="use propagation='auto' (the matvec where events do not apply)",
                )
            continue
        chosen.add(key)
    return frozenset(chosen)


def _problem(key: tuple, src, spec, var: str | None) -> str:
    """Why coupling ``key`` out of node ``src`` (reading ``var``; None: the coupling's source or
    the node's output) cannot be event-driven now ('' if it can)."""
    from .equations.traces import trace_summary, value_problem
    from .nodes import DiffEqNode

    if not isinstance(src, DiffEqNode) or not src.spiking:
        return f"its source {src.label!r} is not a spiking diff-eq node"
    if spec is None:  # pragma: no cover - every node of the graph is in the spec
        return "its source is not part of the network"
    if var is None:
        var = spec.source_var if key[0] == "J" else spec.output_var
    driven = tuple(sorted(n for n in spec.driven_inputs if n != spec.spike_var))
    summary = trace_summary(
        spec.model, var, spec.spike_var, driven, spec.spike_def if spec.resets else None
    )
    if not summary.linear:
        return f"{var} is not a linear trace of the spikes ({summary.reason})"
    bad = value_problem(summary, src.values)
    return f"in node {src.label!r}, {bad}" if bad else ""
