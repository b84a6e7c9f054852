"""Build a Network from a PyRates CircuitTemplate: one diff-eq node per circuit node, one edge
per circuit edge (:meth:`rectinumba.Network.from_circuit`, :meth:`~rectinumba.Network.add_circuit`).

PyRates semantics (1.0), and what rectinumba does with them:

- **nodes**: a node of N units (``N=``, default 1: PyRates' one mean-field unit per node;
  more for populations of neurons) with the node template's equations; nested circuits are
  flattened with PyRates' names (``jrc1/pc``).
- **edges** ``[source/op/var, target/op/var, template, {weight, delay, spread, ...}]``: the
  target input variable receives ``weight * source_var`` (summed over every edge into it). Between
  populations of N units every target unit receives ``weight`` times the mean of the source
  units (weights ``weight / N_source`` all to all), which for N = 1 is PyRates' edge.
- **edge templates** (operators on the edge) run per connection
  (:mod:`rectinumba.edge_model`): the template's input receives the raw source variable, its
  output times the weight reaches the target; values of the edge dict name template variables
  (``op/var`` or ``template/op/var``) or bind further inputs (``"source"``, or a variable
  ``node/op/var`` of the edge's source or target node).
- **delay**: the target receives the source variable of ``round(delay / dt)`` steps before (0
  before the first step), as PyRates' fixed-step edge buffers (rectinumba delays by exactly that
  many steps also where PyRates drops delays of one step); needs ``Network.add_edge(delay=)``.
- **spread**: PyRates realises a distributed delay as a gamma kernel: a chain of
  ``n = round((delay / spread)**2)`` first-order ODEs with rate ``n / delay`` on the edge;
  rectinumba builds the same chain (as an edge template appended to the edge's own), so results
  agree with PyRates. Its actual standard deviation is ``delay / sqrt(n)``.
- **evaluation order**: PyRates evaluates every node on the same state. rectinumba runs nodes in
  an order in which each edge that a node's input depends on within the step comes first; an edge
  closing a cycle becomes a feedback edge, which reads its source on the current state, i.e. the
  same numbers. A cycle in which every variable depends on the step's inputs (an algebraic loop)
  is refused.

Refused with a clear message: extra edge sources from a third node, a discrete delay on an edge
with a template (PyRates delays the template's output), spreads whose gamma order rounds to 0,
duplicate edges between the same two variables with different delays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NetworkError, TemplateError
from .templates.flatten import FlatCircuit, FlatEdge, flatten_circuit, split_endpoint

__all__ = [
    "build_circuit", "load_circuit", "gamma_chain", "GAMMA_OPERATOR", "RESERVED_EDGE_VALUES"
]

#: edge values with a meaning of their own (everything else names a template variable)
RESERVED_EDGE_VALUES = ("weight", "delay", "spread")
#: the operator of a spread's gamma-kernel chain (its states are ``GAMMA_OPERATOR/g1``, ...)
GAMMA_OPERATOR = "gamma_delay_op"
#: highest order of a gamma-kernel delay (spread): its chain has one ODE per order and
#: connection, and the time to compile it grows faster than the order (100: ~20 s, 400: ~150 s)
MAX_GAMMA_ORDER = 1000


def load_circuit(circuit):
    """A CircuitTemplate from a template or a template path.

    Parameters
    ----------
    circuit : str or CircuitTemplate
        Dot path, file path or template.

    Returns
    -------
    CircuitTemplate
        The circuit (a NetworkError for anything else).
    """
    from .templates import CircuitTemplate

    if isinstance(circuit, str):
        from .templates.loader import load_template

        circuit = load_template(circuit)
    if not isinstance(circuit, CircuitTemplate):
        raise NetworkError(
            f"expected a CircuitTemplate or its path, got a {type(circuit).__name__}",
            hint="add a NodeTemplate with add_diffeq_node"
            if hasattr(circuit, "operators")
            else None,
        )
    return circuit


def gamma_chain(order: int, rate: float, input_name: str):
    """The operator of PyRates' gamma-kernel delay: ``order`` first-order ODEs in a chain.

    Parameters
    ----------
    order : int
        Number of ODEs (>= 1).
    rate : float
        Rate of each (``order / delay``).
    input_name : str
        Name of the chain's input (the output it delays).

    Returns
    -------
    OperatorTemplate
        ``g1' = k*(input - g1)``, ``g{i}' = k*(g{i-1} - g{i})``; the output is ``g{order}``.
    """
    from .templates import OperatorTemplate

    stem = "g" if not (input_name.startswith("g") and input_name[1:].isdigit()) else "h"
    names = [f"{stem}{i}" for i in range(1, order + 1)]
    k = "k" if input_name != "k" else "k_gamma"  # the rate must not take the input's name
    eqs = [f"{names[0]}' = {k}*({input_name} - {names[0]})"]
    eqs += [f"{names[i]}' = {k}*({names[i - 1]} - {names[i]})" for i in range(1, order)]
    variables: dict[str, Any] = {input_name: "input(0.0)", k: float(rate)}
    for i, name in enumerate(names):
        variables[name] = "output(0.0)" if i == order - 1 else "variable(0.0)"
    return OperatorTemplate(GAMMA_OPERATOR, eqs, variables)


def _per_node(value, labels: list[str], what: str) -> dict[str, Any]:
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(labels))
        if unknown:
            raise NetworkError(f"{what}: no circuit node {unknown} (nodes: {labels})")
        return dict(value)
    return {label: value for label in labels}


def _node_vars(node_vars, flat: FlatCircuit) -> dict[str, dict[str, Any]]:
    """PyRates' ``node_vars`` keys ``node/op/var`` (``all`` matches any node) per node."""
    out: dict[str, dict[str, Any]] = {label: {} for label in flat.nodes}
    for key, value in (node_vars or {}).items():
        parts = key.split("/") if isinstance(key, str) else []
        if len(parts) < 3:
            raise NetworkError(
                f"node_vars key {key!r} must be 'node/op/var' (or 'all/op/var' for every node "
                "with that variable)"
            )
        *path, op, var = parts
        hits = []
        for label, template in flat.nodes.items():
            lparts = label.split("/")
            same_depth = len(path) == len(lparts)
            if path == ["all"] or (
                same_depth and all(p in ("all", q) for p, q in zip(path, lparts, strict=True))
            ):
                ops = template.operator_dict
                if op in ops and var in ops[op].variable_dict:
                    hits.append(label)
        if not hits:
            raise NetworkError(
                f"node_vars: no circuit node has variable {op}/{var} at {'/'.join(path)!r} "
                f"(nodes: {sorted(flat.nodes)})"
            )
        for label in hits:
            out[label][f"{op}/{var}"] = value
    return out


class _Builder:
    """Validates a flattened circuit against the network options, then builds it."""

    def __init__(self, flat: FlatCircuit, N, input_var, output_var, node_vars, node_kwargs,
                 prefix) -> None:  # fmt: skip
        self.flat, self.prefix = flat, prefix
        labels = list(flat.nodes)
        self.N = _per_node(N, labels, "N")
        self.kwargs = _per_node(node_kwargs or {}, labels, "node_kwargs") if node_kwargs else {}
        for label, kw in self.kwargs.items():
            bad = sorted(set(kw) & {"input_var", "N", "weights", "node_vars", "source_var",
                                    "target_var"})  # fmt: skip
            if bad:
                raise NetworkError(
                    f"node_kwargs[{label!r}] sets {bad}; the circuit builder sets those "
                    "(input_var=, N=, node_vars= of from_circuit)"
                )
        self.values = _node_vars(node_vars, flat)
        self.input = self._io(input_var, "input_var") if input_var is not None else None
        self.output = self._io(output_var, "output_var") if output_var is not None else None

    def label(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def _io(self, endpoint, what: str) -> tuple[str, str]:
        if not isinstance(endpoint, str):
            raise NetworkError(f"{what} must be 'node/op/var', got {endpoint!r}")
        try:
            return split_endpoint(endpoint, self.flat.nodes, what=what, where=self.flat.name)
        except TemplateError as err:
            raise NetworkError(err.raw_message) from None

    # ---- nodes -------------------------------------------------------------------------------
    def add_nodes(self, scratch) -> None:
        for path, template in self.flat.nodes.items():
            kw = dict(self.kwargs.get(path, {}))
            out = kw.pop("output_var", None)
            if self.output is not None and self.output[0] == path:
                out = self.output[1]
            if out is None:
                out = _default_output(template)
            inp = self.input[1] if self.input is not None and self.input[0] == path else None
            scratch.add_diffeq_node(
                self.label(path),
                template,
                input_var=inp,
                output_var=out,
                N=self.N[path],
                node_vars=self.values[path],
                **kw,
            )

    # ---- edges -------------------------------------------------------------------------------
    def edge_options(self, edge: FlatEdge, scratch) -> dict[str, Any]:
        """add_edge arguments of one circuit edge."""
        src = scratch.get_node(self.label(edge.source))
        tgt = scratch.get_node(self.label(edge.target))
        what = (
            f"circuit {edge.where!r}: edge {edge.source}/{edge.source_var} -> "
            f"{edge.target}/{edge.target_var}"
        )
        values = dict(edge.values)
        weight = values.pop("weight", 1.0)
        delay, spread = values.pop("delay", None), values.pop("spread", None)
        for name, v in (("weight", weight), ("delay", delay), ("spread", spread)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not np.isfinite(v)):  # fmt: skip
                raise NetworkError(f"{what}: {name} must be a finite number, got {v!r}")
        if delay is not None and delay < 0:
            raise NetworkError(f"{what}: delay must not be negative, got {delay!r}")
        opts: dict[str, Any] = {
            "weights": np.full((tgt.N, src.N), float(weight) / src.N, dtype=scratch.dtype),
            "source_var": edge.source_var,
            "target_var": edge.target_var,
        }
        template = edge.template
        if template is not None and not template.operators:
            template = None
        edge_vars, edge_inputs = {}, {}
        for key, value in values.items():
            if key in ("source_idx", "target_idx"):
                raise NetworkError(
                    f"{what}: {key} (PyRates' vectorisation indices) is not supported"
                )
            if template is None:
                raise NetworkError(
                    f"{what}: value {key!r} names a template variable, but the edge has no "
                    f"template (edge values: weight, delay, spread)"
                )
            var = "/".join(key.split("/")[-2:])
            if isinstance(value, str):
                edge_inputs[var] = self._edge_source(value, edge, what)
            else:
                edge_vars[var] = value
        if spread:
            if not delay:
                raise NetworkError(f"{what}: spread={spread!r} needs a delay (the kernel's mean)")
            if spread < 0:
                raise NetworkError(f"{what}: spread must not be negative, got {spread!r}")
            ratio = delay / spread
            if ratio > np.sqrt(MAX_GAMMA_ORDER + 0.5):  # checked before the square can overflow
                raise NetworkError(
                    f"{what}: delay={delay!r} with spread={spread!r} makes a gamma kernel of "
                    f"order round((delay/spread)**2) = round({ratio:.4g}**2): one ODE per order "
                    f"and connection; at most {MAX_GAMMA_ORDER} are built",
                    hint="a larger spread (closer to the delay), or a discrete delay without "
                    "spread",
                )
            order = int(np.round(ratio**2))
            if order < 1:
                raise NetworkError(
                    f"{what}: delay={delay!r} with spread={spread!r} makes a gamma kernel of order "
                    f"round((delay/spread)**2) = 0, which PyRates runs as no delay at all",
                    hint="use a spread below delay / sqrt(0.5), or no spread",
                )
            template = _with_chain(template, order, order / delay, what)
        elif delay:
            if template is not None:
                raise NetworkError(
                    f"{what}: a discrete delay on an edge with a template is not supported "
                    "(PyRates delays the template's output; rectinumba's edge delays delay the "
                    "source value)",
                    hint="give the edge a spread (a gamma-distributed delay), or no delay",
                )
            opts["delay"] = float(delay)
        if template is not None:
            opts["template"] = template
            if edge_inputs:
                opts["edge_inputs"] = edge_inputs
            if edge_vars:
                opts["edge_vars"] = edge_vars
        return opts

    def _edge_source(self, value: str, edge: FlatEdge, what: str) -> str:
        """PyRates' extra edge source: ``"source"`` or a variable of the source/target node."""
        if value == "source":
            return "source"
        try:
            path, var = split_endpoint(
                edge.prefix + value, self.flat.nodes, what="edge source", where=edge.where
            )
        except TemplateError as err:
            raise NetworkError(f"{what}: {err.raw_message}") from None
        if path == edge.source:
            return f"source/{var}"
        if path == edge.target:
            return f"target/{var}"
        raise NetworkError(
            f"{what}: an edge input reads {value!r}, a node that is neither the edge's source nor "
            "its target; rectinumba's template edges read their two end nodes only"
        )


def _default_output(template) -> str:
    """The node's output for edges and recordings when none is given: its first declared output
    (else its first variable)."""
    for op in template.operators:
        for name, var in op.variables:
            if var.kind == "output":
                return f"{op.name}/{name}"
    op = template.operators[0]
    return f"{op.name}/{op.variables[0][0]}"


def _with_chain(template, order: int, rate: float, what: str):
    """``template``'s operators followed by PyRates' gamma-kernel chain on its output (or the
    chain alone: its input receives the source value)."""
    from .edge_model import _output
    from .equations.stored import load_model
    from .templates import EdgeTemplate, NodeTemplate

    if template is None:
        return EdgeTemplate("gamma_delay_edge", [gamma_chain(order, rate, "x")])
    model = load_model(NodeTemplate(template.name, template.operators, path=template.path))
    try:
        out = _output(model)
    except NetworkError as err:
        raise NetworkError(f"{what}: {err.raw_message}") from None
    chain = gamma_chain(order, rate, out.split("/", 1)[1])
    return EdgeTemplate(template.name, list(template.operators) + [chain], path=template.path)


def _depends(model, name: str, driven: set[str]) -> bool:
    """Whether variable ``name`` of ``model`` depends, within a step, on an input in ``driven``."""
    from .equations.model import first_dependency

    return first_dependency(model, name, driven) is not None


def _feedback_flags(scratch, edges: list[tuple[str, str, dict]]) -> list[bool]:
    """Which edges close a cycle and read their source on the current state (see module doc).

    An edge *depends on the step* when what it delivers is computed from its source node's
    inputs of the same step; such edges must run forward. Nodes are ordered by those edges
    (ties: circuit order); every other edge into an earlier node or itself is a feedback edge.
    """
    nodes = scratch.nodes
    driven: dict[str, set[str]] = {label: set() for label in nodes}
    for _, t, opts in edges:
        node = scratch.get_node(t)
        driven[t].add(node.resolve(opts["target_var"], "target_var"))
    for label in nodes:
        node = scratch.get_node(label)
        if node.input_var is not None:
            driven[label].add(node.input_var)
    dependent = []
    for s, _, opts in edges:
        node = scratch.get_node(s)
        var = node.resolve(opts["source_var"], "source_var")
        dep = _depends(node.model, var, driven[s])
        if dep and "template" in opts:
            from .edge_model import load_edge_model

            emodel = load_edge_model(opts["template"])
            out = _template_output(emodel)
            dep = out not in emodel.states and _depends(emodel, out, {n for n, _ in emodel.inputs})
        dependent.append(dep)
    # Kahn's order over the dependent edges, ties in circuit order
    preds = {label: set() for label in nodes}
    for (s, t, _), dep in zip(edges, dependent, strict=True):
        if dep:
            if s == t:
                raise NetworkError(
                    f"circuit edge {s} -> {t} feeds back into its own source within a step (an "
                    "algebraic loop); PyRates cannot order it either"
                )
            preds[t].add(s)
    order: list[str] = []
    pending = list(nodes)
    while pending:
        ready = [n for n in pending if preds[n] <= set(order)]
        if not ready:
            raise NetworkError(
                f"the circuit nodes {pending} form an algebraic loop: each depends on another's "
                "value of the same step through edges whose source variables depend on the "
                "step's inputs",
                hint="make one of those source variables a state (give it a derivative)",
            )
        order.append(ready[0])
        pending.remove(ready[0])
    rank = {n: i for i, n in enumerate(order)}
    return [rank[s] >= rank[t] for s, t, _ in edges]


def _template_output(model) -> str:
    from .edge_model import _output

    return _output(model)


def build_circuit(net, circuit, *, N=1, input_var=None, output_var=None, node_vars=None,
                  node_kwargs=None, prefix=None) -> list[str]:  # fmt: skip
    """Add the nodes and edges of a circuit to ``net`` (see the module docstring).

    Everything is built and checked on a scratch network first, so an error leaves ``net`` as
    it was.

    Parameters
    ----------
    net : Network
        The network.
    circuit : str or CircuitTemplate
        The circuit or its path.
    N : int or dict
        Units per node (one value, or node path -> value); 1 is PyRates' mean-field unit.
    input_var : str, optional
        ``node/op/var``: the input variable that receives the network input (that node becomes
        the input node).
    output_var : str, optional
        ``node/op/var``: the variable that is the network output (that node becomes the output
        node).
    node_vars : dict, optional
        PyRates' ``node/op/var`` (``all/op/var``) -> value.
    node_kwargs : dict, optional
        Node path -> further keyword arguments of :meth:`~rectinumba.Network.add_diffeq_node`
        (``spike_var``, ``spike_def``, ``spike_threshold``, ``output_var``, ...).
    prefix : str, optional
        Prefix of the node labels (``prefix/node``).

    Returns
    -------
    list of str
        The labels of the added nodes.
    """
    from .network import Network

    flat = flatten_circuit(load_circuit(circuit))
    builder = _Builder(flat, N, input_var, output_var, node_vars, node_kwargs, prefix)
    clash = sorted({builder.label(p) for p in flat.nodes} & set(net.nodes))
    if clash:
        raise NetworkError(f"add_circuit: the network has nodes labelled {clash} already")
    scratch = Network(net.dt, dtype=net.dtype, method=net.method)
    builder.add_nodes(scratch)
    edges = []
    seen: dict[tuple, FlatEdge] = {}
    for edge in flat.edges:
        key = (edge.source, edge.target, edge.source_var, edge.target_var)
        if key in seen:
            raise NetworkError(
                f"circuit {edge.where!r}: two edges from {edge.source}/{edge.source_var} to "
                f"{edge.target}/{edge.target_var}; give them as one edge (weights add up)"
            )
        seen[key] = edge
        opts = builder.edge_options(edge, scratch)
        edges.append((builder.label(edge.source), builder.label(edge.target), opts))
    flags = _feedback_flags(scratch, edges)
    for (s, t, opts), feedback in zip(edges, flags, strict=True):
        scratch.add_edge(s, t, feedback=feedback, **opts)
    net._adopt(scratch)
    if builder.input is not None:
        net.input_node = builder.label(builder.input[0])
    if builder.output is not None:
        net.output_node = builder.label(builder.output[0])
    return list(scratch.nodes)
