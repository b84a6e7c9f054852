"""Flatten a (nested) CircuitTemplate into its nodes and edges, with PyRates' node naming.

A circuit's node ``pc`` of a sub-circuit ``jrc1`` is the node ``jrc1/pc``; an edge endpoint
``jrc1/pc/pro/m`` written in the outer circuit is variable ``pro/m`` of that node, and the
sub-circuit's own edges get its prefix (PyRates' ``CircuitTemplate.collect_edges``). Everything
here is plain template data: no equations are compiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import TemplateError
from .template import CircuitTemplate, EdgeTemplate, NodeTemplate

__all__ = ["FlatCircuit", "FlatEdge", "flatten_circuit", "split_endpoint"]


@dataclass(frozen=True)
class FlatEdge:
    """One edge of a flattened circuit.

    Parameters
    ----------
    source, target : str
        Node paths (``"jrc1/pc"``).
    source_var, target_var : str
        ``op/var`` on those nodes.
    template : EdgeTemplate or None
        Operators on the edge.
    values : dict
        The edge's values (``weight``, ``delay``, ``spread``, template variables, extra sources),
        as written.
    where : str
        The circuit that defines it (for messages).
    prefix : str
        Path of that circuit (``"jrc1/"``; ``""`` at the top): node paths among the edge's
        values (PyRates' extra edge sources) are relative to it.
    """

    source: str
    target: str
    source_var: str
    target_var: str
    template: EdgeTemplate | None
    values: dict
    where: str
    prefix: str = ""


@dataclass(frozen=True)
class FlatCircuit:
    """A circuit's nodes (path -> NodeTemplate, in definition order) and edges.

    Parameters
    ----------
    name : str
        The circuit's name.
    nodes : dict
        Node path -> NodeTemplate.
    edges : list of FlatEdge
        Every edge, sub-circuits' first.
    """

    name: str
    nodes: dict
    edges: list


def split_endpoint(endpoint: str, nodes: dict, *, what: str, where: str) -> tuple[str, str]:
    """``(node path, "op/var")`` of an endpoint ``node_path/op/var`` among flattened nodes.

    Parameters
    ----------
    endpoint : str
        E.g. ``"jrc1/pc/pro/m"``.
    nodes : dict
        Node path -> template.
    what : str
        What the endpoint is (``"edge source"``), for messages.
    where : str
        The circuit that names it, for messages.

    Returns
    -------
    tuple of (str, str)
        The node path and the qualified variable.
    """
    parts = endpoint.split("/")
    path = "/".join(parts[:-2])
    if len(parts) < 3 or path not in nodes:
        raise TemplateError(
            f"{what} {endpoint!r} must be 'node/op/var' naming a node of the circuit "
            f"(nodes: {sorted(nodes)})",
            template=where,
        )
    return path, "/".join(parts[-2:])


def _collect(circuit: CircuitTemplate, prefix: str, nodes: dict, edges: list, stack: tuple) -> None:
    if circuit.name in stack:  # pragma: no cover - the loader refuses cyclic references
        raise TemplateError(f"circuit {circuit.name!r} contains itself", template=circuit.name)
    stack = stack + (circuit.name,)
    for label, sub in circuit.circuits:
        _collect(sub, f"{prefix}{label}/", nodes, edges, stack)
    for label, node in circuit.nodes:
        if not isinstance(node, NodeTemplate):  # pragma: no cover - CircuitTemplate checks
            raise TemplateError(f"node {label!r} is not a NodeTemplate", template=circuit.name)
        nodes[f"{prefix}{label}"] = node
    for edge in circuit.edges:
        s, sv = split_endpoint(prefix + edge.source, nodes, what="edge source", where=circuit.name)
        t, tv = split_endpoint(prefix + edge.target, nodes, what="edge target", where=circuit.name)
        edges.append(FlatEdge(s, t, sv, tv, edge.template, edge.value_dict, circuit.name, prefix))


def flatten_circuit(circuit: CircuitTemplate) -> FlatCircuit:
    """Every node and edge of ``circuit`` and its sub-circuits, with path names.

    Parameters
    ----------
    circuit : CircuitTemplate
        The circuit.

    Returns
    -------
    FlatCircuit
        Nodes named by their path (``"jrc1/pc"``) and edges between them.
    """
    if not isinstance(circuit, CircuitTemplate):
        raise TemplateError(f"expected a CircuitTemplate, got {type(circuit).__name__}")
    nodes: dict[str, Any] = {}
    edges: list[FlatEdge] = []
    _collect(circuit, "", nodes, edges, ())
    if not nodes:
        raise TemplateError("the circuit has no nodes", template=circuit.name)
    return FlatCircuit(circuit.name, nodes, edges)
