"""Template edges: an edge whose connections follow equations of their own (PyRates' EdgeTemplate).

An edge added with ``template=`` runs one instance of the template's model per connection
(every entry of a dense weight matrix, every stored entry of a CSR one). Its semantics are
PyRates' (1.0) edges with operators:

- the template's *source input* receives the edge's source variable of the presynaptic neuron j
  (raw: the weight does not scale it); further template inputs may read other variables of the
  presynaptic neuron (``"source/var"``) or of the postsynaptic neuron i (``"target/var"``);
  inputs left unbound are constants at their defaults;
- the template's *output* (the output variable of its last operator) times the weight is what
  the connection delivers: ``target_var[i] += sum_j W[i, j] * out[i, j]``;
- its states (e.g. a plastic weight, pre- and postsynaptic traces) are per connection and take
  an explicit Euler step together with the nodes; its parameters are one value per edge (per
  trial).
- its variables may be complex (declared so, or made so by their equations, as for nodes):
  their values are complex arrays (:meth:`EdgeDynamics.value_dtype`). A complex node value may
  feed only a complex template input, and a complex output only a complex target input
  (refused at add_edge); real values may feed complex inputs. PyRates' Kuramoto ``kmo_edge``
  binds two inputs to the source value: every input after the first bound to ``"source"`` reads
  the edge's source variable as a further source binding.

:class:`EdgeDynamics` holds what such an edge adds to :class:`~rectinumba.edges.Edge`: the
compiled model, how its inputs are bound, and its values (parameters, initial and current
states). The step order is documented in ``docs/guide/step_semantics.rst``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NetworkError
from .validate import complex_dtype, value_array

__all__ = ["EdgeDynamics", "load_edge_model", "SIDES"]

#: where a bound edge input reads its value: the presynaptic or the postsynaptic neuron
SIDES = ("source", "target")


def load_edge_model(template):
    """The compiled model of an edge template (an EdgeTemplate, its path, or an operator).

    Parameters
    ----------
    template : str or EdgeTemplate or OperatorTemplate
        A template path, an EdgeTemplate, or one OperatorTemplate (an edge of that operator).

    Returns
    -------
    StoredModel or None
        The model; None for an EdgeTemplate without operators (PyRates: a plain edge).
    """
    from .equations.stored import load_model
    from .templates import EdgeTemplate, NodeTemplate, OperatorTemplate

    if isinstance(template, str):
        from .templates.loader import load_template

        template = load_template(template)
    if isinstance(template, OperatorTemplate):
        return load_model(template)
    if not isinstance(template, EdgeTemplate):
        kind = type(template).__name__
        raise NetworkError(
            f"template must be an EdgeTemplate (or its path, or an OperatorTemplate), got a {kind}",
            hint="a NodeTemplate is a neuron type: add it with add_diffeq_node"
            if kind == "NodeTemplate"
            else None,
        )
    if not template.operators:
        return None
    return load_model(NodeTemplate(template.name, template.operators, path=template.path))


def _output(model) -> str:
    """The edge's output: the output variable of the one operator whose output no other reads."""
    linked = {out for _, out in model.links}
    sinks = [o for o in model.outputs if o not in linked]
    if len(sinks) != 1:
        raise NetworkError(
            f"edge template {model.name!r} needs exactly one output variable that no other "
            f"operator reads (the connection's output), found {sinks or 'none'}",
            template=model.name,
            hint="declare the variable the edge delivers as output(...) in its last operator",
        )
    return sinks[0]


class EdgeDynamics:
    """The per-connection model of a template edge and its values.

    Parameters
    ----------
    model : StoredModel
        The compiled edge template.
    what : str
        ``"edge 'a' -> 'b'"``, for messages.
    n_syn : int
        Number of connections (stored weight entries).
    shape : tuple of int
        (n_target, n_source).
    rows, cols : numpy.ndarray
        Target and source index of every connection, in storage order.
    edge_inputs : dict or None
        Edge input -> ``"source"`` (the edge's source variable), ``"source/var"`` or
        ``"target/var"``; None binds the template's one input to the source variable.
    source, target : DiffEqNode or FuncNode
        The nodes (their variables are resolved here).
    source_var : str or None
        The edge's source variable (None: the source's output).
    dtype : numpy.dtype
        Value dtype.

    Attributes
    ----------
    model
        The compiled template.
    output : str
        The output variable (qualified).
    source_input : str or None
        The template input fed by the edge's source variable.
    bindings : tuple
        ``(edge input, side, node variable)`` for the other bound inputs (side ``"source"`` or
        ``"target"``; qualified names).
    values : dict
        Parameter and unbound input -> (B or 1, 1) values (one per edge and trial).
    initial, state : dict
        State -> (B or 1, n_syn) values per connection, in storage order (initial: what
        :meth:`reset` returns to).
    """

    def __init__(
        self,
        model,
        what: str,
        n_syn: int,
        shape: tuple[int, int],
        rows: np.ndarray,
        cols: np.ndarray,
        edge_inputs: dict | None,
        source,
        target,
        source_var: str | None,
        dtype,
    ) -> None:
        self.model, self.what, self.n_syn, self.shape, self.dtype = model, what, n_syn, shape, dtype
        self.rows, self.cols = rows, cols
        unsupported = [
            (getattr(model, "delays", ()), "past() / x(t - d)", "delay the edge's source instead: "
             "a plain edge with delay=, or a spread in a circuit"),
            (getattr(model, "noises", ()), "white noise (xi)", "put the noise into a node's "
             "equations"),
        ]  # fmt: skip
        for present, feature, hint in unsupported:
            if present:
                raise NetworkError(
                    f"{what}: the edge template {model.name!r} uses {feature}; edge equations "
                    "take neither delays nor noise",
                    template=model.name,
                    hint=hint,
                )
        self.output = _output(model)
        self.source_input, self.bindings = self._bind(edge_inputs, source, target, source_var)
        bound = {self.source_input, *(b[0] for b in self.bindings)}
        self.values = {
            n: np.full((1, 1), v, self.value_dtype(n))
            for n, v in list(model.params) + [(n, v) for n, v in model.inputs if n not in bound]
        }
        self.initial = {n: np.full((1, n_syn), v, self.value_dtype(n)) for n, v in model.initial}
        self.state = {n: v.copy() for n, v in self.initial.items()}

    # ---- names ---------------------------------------------------------------------------
    def value_dtype(self, name: str) -> np.dtype:
        """The dtype of the values of edge variable ``name`` (complex for a complex variable).

        Parameters
        ----------
        name : str
            A qualified variable name of the edge model.

        Returns
        -------
        numpy.dtype
            The network's dtype, or its complex counterpart (complex128; complex64 for float32).
        """
        if self.model.is_complex(name):
            return complex_dtype(self.dtype)
        return np.dtype(self.dtype)

    def resolve(self, name: str, what: str = "variable") -> str:
        """Qualified name of a variable of the edge model.

        Parameters
        ----------
        name : str
            ``"var"`` or ``"op/var"``.
        what : str
            What the name is for, in messages.

        Returns
        -------
        str
            The qualified name.
        """
        if not isinstance(name, str):
            raise NetworkError(f"{self.what}: {what} must be a variable name, got {name!r}")
        try:
            return self.model.resolve(name)
        except NetworkError as err:
            raise type(err)(f"{self.what}: {what}: {err.raw_message}", variable=name) from None

    def _bind(self, edge_inputs, source, target, source_var) -> tuple[str | None, tuple]:
        inputs = [n for n, _ in self.model.inputs]
        if edge_inputs is None:
            if len(inputs) != 1:
                raise NetworkError(
                    f"{self.what}: the edge template {self.model.name!r} has "
                    f"{len(inputs)} input variables ({inputs}); say which receives what with "
                    "edge_inputs={input: 'source' | 'source/var' | 'target/var'}",
                )
            return inputs[0], ()
        if not isinstance(edge_inputs, dict):
            raise NetworkError(f"{self.what}: edge_inputs must be a dict, got {edge_inputs!r}")
        source_input, bindings, seen = None, [], set()
        for key, value in edge_inputs.items():
            name = self.resolve(key, "edge_inputs")
            if name not in inputs:
                raise NetworkError(
                    f"{self.what}: edge_inputs: {name!r} is not an input variable of the edge "
                    f"template (inputs: {inputs})",
                    variable=key,
                )
            if name in seen:
                raise NetworkError(f"{self.what}: edge_inputs binds {name!r} twice", variable=key)
            seen.add(name)
            side, _, var = value.partition("/") if isinstance(value, str) else ("", "", "")
            if side not in SIDES or (side == "target" and not var):
                raise NetworkError(
                    f"{self.what}: edge_inputs[{key!r}] must be 'source', 'source/var' or "
                    f"'target/var', got {value!r}",
                    variable=key,
                )
            node = source if side == "source" else target
            if node.kind != "diffeq":
                raise NetworkError(
                    f"{self.what}: edge_inputs[{key!r}] reads the {side} node {node.label!r}, "
                    "a function node; template edges read diff-eq nodes",
                    variable=key,
                )
            if side == "source" and not var:
                if source_input is None:
                    source_input = name
                    continue
                # a further input of the source value (PyRates' kmo_mf binds r_s and r_t to it)
                var = source_var or source.output_var
                bindings.append((name, side, var))
                continue
            bindings.append((name, side, node.resolve(var, f"edge_inputs[{key!r}]")))
        return source_input, tuple(bindings)

    # ---- values --------------------------------------------------------------------------
    def set_value(self, var: str, value, *, initial: bool) -> None:
        """Set a parameter, an unbound input or a state (initial or current value).

        Parameters
        ----------
        var : str
            Variable name.
        value : float or array_like
            A constant: a scalar or (B, 1) per trial. A state: a scalar, (n_target, n_source)
            per connection, (B, n_target, n_source), or (n_syn,) / (B, n_syn) in storage order.
        initial : bool
            Set the initial value (``edge_vars``) as well as the current one.
        """
        name = self.resolve(var, "edge variable")
        if name in self.values:
            arr = value_array(value, self.value_dtype(name), what=f"{self.what} value",
                              variable=var)  # fmt: skip
            if arr.ndim == 0 or (arr.ndim == 2 and arr.shape[1] == 1 and arr.shape[0] >= 1):
                self.values[name] = arr.reshape(-1, 1)
                return
            raise NetworkError(
                f"{self.what}: {var!r} is one value per edge: give a scalar or (B, 1) per trial, "
                f"got shape {arr.shape}",
                variable=var,
            )
        if name not in self.state:
            raise NetworkError(
                f"{self.what}: {var!r} cannot be set: it is algebraic or bound to a node "
                f"(states: {list(self.state)}, constants: {list(self.values)})",
                variable=var,
            )
        arr = self._per_connection(value, var, self.value_dtype(name))
        if initial:
            self.initial[name] = arr
        self.state[name] = arr.copy()

    def _per_connection(self, value, var: str, dtype) -> np.ndarray:
        arr = value_array(value, dtype, what=f"{self.what} value", variable=var)
        n, shape = self.n_syn, self.shape
        if arr.ndim == 0:
            return np.full((1, n), arr, dtype)
        if arr.shape == shape:
            return np.ascontiguousarray(arr[self.rows, self.cols], dtype)[None]
        if arr.ndim == 3 and arr.shape[1:] == shape:
            return np.ascontiguousarray(arr[:, self.rows, self.cols], dtype)
        if arr.shape == (n,):
            return arr.reshape(1, n).astype(dtype, copy=True)
        if arr.ndim == 2 and arr.shape[1] == n and shape != (arr.shape[0], n):
            return arr.astype(dtype, copy=True)
        raise NetworkError(
            f"{self.what}: a value of shape {arr.shape} does not fit the state {var!r}: give a "
            f"scalar, {shape} (n_target, n_source), (B, *{shape}), or ({n},) / (B, {n}) in "
            "storage order",
            variable=var,
        )

    def get(self, var: str) -> Any:
        """The current value of a state (per connection) or a constant.

        Parameters
        ----------
        var : str
            Variable name.

        Returns
        -------
        numpy.ndarray or float or complex
            A state: (n_target, n_source) (zeros where a CSR edge stores no connection), or
            (B, n_target, n_source) after a batched run; a constant: a float (a complex for a
            complex variable), or (B,) values.
        """
        name = self.resolve(var, "get_var")
        if name in self.values:
            arr = self.values[name][:, 0]
            return arr[0].item() if arr.shape[0] == 1 else arr.copy()
        if name not in self.state:
            raise NetworkError(
                f"{self.what}: {var!r} is algebraic or bound to a node; record it with "
                "run(record_vars=[((source, target), var)])",
                variable=var,
            )
        arr = self.state[name]
        full = np.zeros((arr.shape[0],) + self.shape, arr.dtype)
        full[:, self.rows, self.cols] = arr
        return full[0] if arr.shape[0] == 1 else full

    def reset(self) -> None:
        """Return the states to their initial values."""
        self.state = {n: v.copy() for n, v in self.initial.items()}


def attach_dynamics(edge, template, edge_inputs, edge_vars, source, target) -> None:
    """Give ``edge`` the per-connection model of ``template`` (validated before it changes).

    Parameters
    ----------
    edge : Edge
        A new edge (not yet in a network).
    template : str or EdgeTemplate or OperatorTemplate
        The edge template.
    edge_inputs : dict or None
        How the template's inputs are bound (see :class:`EdgeDynamics`).
    edge_vars : dict or None
        Initial values of its states and values of its constants.
    source, target : DiffEqNode or FuncNode
        The nodes the edge connects.
    """
    model = load_edge_model(template)
    if model is None:
        if edge_inputs or edge_vars:
            raise NetworkError(
                f"edge {edge.label}: the edge template has no operators; edge_inputs and "
                "edge_vars need one"
            )
        return
    if edge.train is not None:
        raise NetworkError(
            f"edge {edge.label}: a template edge cannot be trained (train={edge.train!r})",
            hint="its connections follow the template's equations",
        )
    if edge.delay_kind is not None:
        raise NetworkError(
            f"edge {edge.label}: a template edge takes no delay (its equations run on the "
            "source values of the step)",
            hint="model a distributed delay in the template (e.g. a chain of linear ODEs, as "
            "PyRates' spread), or delay a plain edge",
        )
    rows, cols = edge.connections()
    dyn = EdgeDynamics(
        model,
        f"edge {edge.label}",
        len(rows),
        edge.shape,
        rows,
        cols,
        edge_inputs,
        source,
        target,
        edge.source_var,
        edge.dtype,
    )
    _check_output_reads(dyn, target)
    _check_complex_flow(dyn, source, target, edge.source_var, edge.target_var)
    if edge_vars is not None and not isinstance(edge_vars, dict):
        raise NetworkError(f"edge {edge.label}: edge_vars must be a dict, got {edge_vars!r}")
    for var, value in (edge_vars or {}).items():
        dyn.set_value(var, value, initial=True)
    edge.dynamics = dyn


def _check_output_reads(dyn: EdgeDynamics, target) -> None:
    """The output is formed before the target's update: it may read the target's states, never
    a value the target computes from its input in the same step (refused here, at add_edge)."""
    binds = {name: var for name, side, var in dyn.bindings if side == "target"}
    if not binds:
        return
    alg = {d.name: d for d in dyn.model.algebraic}
    todo, seen = [dyn.output], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in alg:
            todo.extend(s.name for s in alg[name].expr.free_symbols)
        elif name in binds and binds[name] not in target.model.states:
            raise NetworkError(
                f"{dyn.what}: the edge output reads the target's {binds[name]!r} (through input "
                f"{name!r}), which the target computes after its input is formed",
                template=dyn.model.name,
                hint="the output may read the target's state variables; other target values "
                "may enter the edge's derivatives only",
            )


def _is_complex(node, var: str | None) -> bool:
    """Whether ``var`` of ``node`` holds complex values (function nodes compute in real numbers)."""
    return node.kind == "diffeq" and var is not None and node.model.is_complex(var)


def _check_complex_flow(dyn: EdgeDynamics, source, target, source_var, target_var) -> None:
    """Complex values go only where complex values may be: a complex node value into a complex
    edge input, a complex edge output into a complex target input (real values go anywhere)."""
    reads = [(dyn.source_input, "source", source_var or getattr(source, "output_var", None))]
    reads += list(dyn.bindings)
    for name, side, var in reads:
        node = source if side == "source" else target
        if name is not None and _is_complex(node, var) and not dyn.model.is_complex(name):
            raise NetworkError(
                f"{dyn.what} would carry the complex variable {var!r} of the {side} node "
                f"{node.label!r} into the real input {name!r} of the edge template "
                f"{dyn.model.name!r}",
                template=dyn.model.name,
                hint="declare that edge input complex (input(complex)), or read a real variable "
                "of the node (e.g. one defined as real(z), abs(z) or angle(z))",
            )
    if not dyn.model.is_complex(dyn.output):
        return
    into = target.input_var if target_var is None and target.kind == "diffeq" else target_var
    if not _is_complex(target, into):
        where = (
            f"the real input {into!r} of node {target.label!r}"
            if target.kind == "diffeq"
            else f"the function node {target.label!r} (function nodes compute in real numbers)"
        )
        raise NetworkError(
            f"{dyn.what}: the edge template {dyn.model.name!r} delivers complex values (its "
            f"output {dyn.output!r} is complex) into {where}",
            template=dyn.model.name,
            hint="give the target a complex input (input(complex)), or make the edge's output "
            "real (e.g. real(...) or abs(...) of the complex value)",
        )
