"""Network nodes: populations of diff-eq neurons and layers of function units.

Nodes hold values (parameters, initial and current states, coupling weights); the structure that
changes generated code is exported as a spec (:mod:`rectinumba.codegen.spec`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .codegen.spec import ACTIVATIONS
from .errors import NetworkError
from .propagation import check_mode
from .validate import MAX_UNITS, complex_dtype, integer, value_array
from .weights import as_given, as_weight_matrix, is_sparse

__all__ = [
    "DiffEqNode", "FuncNode", "ACTIVATIONS", "values_array", "check_edge_values", "not_an_input",
]  # fmt: skip


def values_array(value: Any, n: int, dtype, *, node: str, variable: str) -> np.ndarray:
    """Value for n units as a new (B, n) array: a scalar, (n,), (B, 1) or (B, n) for B trials.

    A 1-D array is always one value per unit, so a length other than ``n`` is an error (never
    read as one value per trial); per-trial values are (B, 1) (one per trial) or (B, n).

    Parameters
    ----------
    value : float or array_like
        The value as the user gave it.
    n : int
        Number of units.
    dtype : numpy dtype
        The dtype of the result (a complex dtype accepts complex values, a real one refuses them).
    node, variable : str
        Node label and variable name, for error messages (keyword only).

    Returns
    -------
    numpy.ndarray
        A new (B, n) array.
    """
    arr = value_array(value, dtype, what="values", node=node, variable=variable)
    if arr.ndim == 0:
        return np.full((1, n), arr, dtype=dtype)
    if arr.ndim == 1 and arr.shape[0] == n:
        return arr.reshape(1, n)
    if arr.ndim == 2 and arr.shape[1] in (1, n) and arr.shape[0] >= 1:
        return np.ascontiguousarray(np.broadcast_to(arr, (arr.shape[0], n)), dtype=dtype).copy()
    hint = (
        f"a 1-D value is one value per neuron and must have length {n}; give one value per "
        f"trial as a (B, 1) column, e.g. np.reshape(value, (-1, 1))"
        if arr.ndim == 1
        else None
    )
    raise NetworkError(
        f"value of shape {arr.shape} does not fit {n} units: expected a scalar, ({n},), "
        f"(B, 1) or (B, {n})",
        node=node,
        variable=variable,
        hint=hint,
    )


def not_an_input(model, name: str) -> str | None:
    """What ``name``, a variable of ``model`` that is no input, is instead (for messages).

    Parameters
    ----------
    model : NodeModel or StoredModel
        The node's model.
    name : str
        Qualified variable name (``op/var``).

    Returns
    -------
    str or None
        A hint for a state or a computed variable (its definition, e.g. the sum PyRates forms
        of the operator outputs that share an input's name); None for any other name.
    """
    if name in model.states:
        return f"{name!r} is a state (it has a derivative); drive one of the model's inputs"
    for definition in model.algebraic:
        if definition.name == name:
            return (
                f"{name!r} is computed by the model ({name} = {definition.expr}); drive one of "
                "the model's inputs"
            )
    return None


def _number(value: Any, what: str, node: str) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise NetworkError(f"{what} must be a number, got {value!r}", node=node) from None
    if not np.isfinite(result):
        raise NetworkError(f"{what} must be finite, got {value!r}", node=node)
    return result


class DiffEqNode:
    """A population of ``N`` neurons of one NodeModel with optional recurrent coupling J.

    Made by :meth:`rectinumba.Network.add_diffeq_node`, which documents the arguments; returned
    by it and by ``net[label]["node"]``.

    Parameters
    ----------
    label : str
        Node label.
    model : NodeModel
        The compiled neuron model.
    N : int
        Population size.
    input_var, output_var, source_var, target_var, spike_var, spike_def : str or None
        Variable names as the user wrote them (resolved to qualified names here).
    reset : bool
        Whether the network resets ``spike_def`` after a spike (False: the model's equations
        do, RectiPy 0.12's ``reset=False``).
    spike_threshold, spike_reset : float
        Spike condition ``spike_def >= spike_threshold`` and the value ``spike_def`` is reset to.
    spike_slope : float or None
        Slope of the surrogate spike derivative in BPTT (None: the default).
    weights : array_like or scipy.sparse matrix or None
        Coupling J (N, N).
    sparse : bool or None
        Force CSR (True) or dense (False) coupling; None chooses by density.
    propagation : str
        How the coupling propagates: ``"auto"``, ``"event"`` or ``"matvec"``
        (:mod:`rectinumba.propagation`).
    train_params : iterable of str
        Parameters trained by BPTT (``"weights"`` is J).
    node_vars : dict
        Initial values of parameters and states (scalar, (N,), (B, 1) or (B, N)).
    record_vars : iterable of str
        Variables offered for recording (validated here).
    op : str or None
        Operator that bare names belong to.
    dtype : numpy.dtype
        Float type of every array (the variables of ``model.complex_vars`` hold the matching
        complex type: complex128, complex64 for float32).

    Attributes
    ----------
    label, model, N
        Node label, compiled neuron model, population size.
    input_var, output_var, source_var, target_var, spike_var, spike_def
        Qualified variable names (None where unused).
    network_reset
        Whether the network resets ``spike_def`` after a spike (False: the model does).
    values
        Parameter / undriven input values, name -> (B or 1, N) array.
    initial
        Initial states, name -> (B or 1, N) array; ``reset`` returns to these.
    state
        Current states, name -> (B or 1, N) array.
    weights
        Coupling matrix J (N, N) or None, in the form it was given: a read-only view of a dense
        array (a new read-only array when it is stored as CSR for speed), or a copy of a scipy
        CSR matrix. Set it with :meth:`set_weights` (the network keeps its own copy).
    propagation
        ``"auto"``, ``"event"`` or ``"matvec"``; may be changed between runs.
    """

    kind = "diffeq"

    def __init__(
        self,
        label: str,
        model,
        N: int,
        *,
        input_var: str | None,
        output_var: str,
        source_var: str | None,
        target_var: str | None,
        spike_var: str | None,
        spike_def: str | None,
        reset: bool = True,
        spike_threshold: float,
        spike_reset: float,
        spike_slope: float | None,
        weights,
        sparse: bool | None,
        propagation: str = "auto",
        train_params: Iterable[str],
        node_vars: dict[str, Any],
        record_vars: Iterable[str],
        op: str | None,
        dtype,
    ) -> None:
        self.label, self.model, self.N, self.dtype, self.op = label, model, int(N), dtype, op
        self.complex_dtype = complex_dtype(dtype)
        self.network_reset = bool(reset)  # False: the model resets spike_def itself (RectiPy 0.12)
        resolve = self.resolve
        self.output_var = resolve(output_var, "output_var")
        self.input_var = resolve(input_var, "input_var") if input_var is not None else None
        self.spike_var = resolve(spike_var, "spike_var") if spike_var is not None else None
        self.spike_def = resolve(spike_def, "spike_def") if spike_def is not None else None
        self.source_var = resolve(source_var, "source_var") if source_var is not None else None
        self.target_var = resolve(target_var, "target_var") if target_var is not None else None
        inputs = {n for n, _ in model.inputs}
        for what, name in (
            ("input_var", self.input_var),
            ("target_var", self.target_var),
            ("spike_var", self.spike_var),
        ):
            if name is not None and name not in inputs:
                raise NetworkError(
                    f"{what} must be an input variable of the model; {name!r} is not "
                    f"(inputs: {sorted(inputs)})",
                    node=label,
                    variable=name,
                    hint=not_an_input(model, name),
                )
        if self.spike_var is not None and self.spike_var in (self.input_var, self.target_var):
            raise NetworkError(
                "spike_var must differ from input_var and target_var",
                node=label,
                variable=self.spike_var,
            )
        if (self.spike_var is None) != (self.spike_def is None):
            given = "spike_var" if self.spike_var is not None else "spike_def"
            missing = "spike_def" if self.spike_var is not None else "spike_var"
            raise NetworkError(
                f"{given} was given without {missing}: a spiking node needs both "
                "(spike_var: the input that receives spikes; "
                "spike_def: the state that defines them)",
                node=label,
            )
        if self.spike_def is not None and self.spike_def not in model.states:
            raise NetworkError(
                f"spike_def must be a state variable, {self.spike_def!r} is not "
                f"(states: {list(model.states)})",
                node=label,
                variable=self.spike_def,
            )
        if self.spike_def is not None and model.is_complex(self.spike_def):
            raise NetworkError(
                f"spike_def must be a real state; {self.spike_def!r} is complex",
                node=label,
                variable=self.spike_def,
                hint="define spikes on a real state (e.g. a phase angle(z) kept as a state)",
            )
        self.spike_threshold = _number(spike_threshold, "spike_threshold", label)
        self.spike_reset = _number(spike_reset, "spike_reset", label)
        if self.spiking and not self.spike_threshold > self.spike_reset:
            raise NetworkError(
                f"spike_threshold ({self.spike_threshold}) must be greater than spike_reset "
                f"({self.spike_reset})",
                node=label,
            )
        if spike_slope is None:
            spike_slope = (
                200.0 / abs(self.spike_threshold - self.spike_reset) if self.spiking else 0.0
            )
        self.spike_slope = _number(spike_slope, "spike_slope", label)

        # coupling: the node owns a copy of J (``_weights``; trained in place)
        self.propagation = propagation
        self.sparse_override = sparse
        self._weights = None
        self._weights_sparse_given = False
        self._trains_J = any(p == "weights" for p in train_params or ())
        if weights is not None:
            if self.source_var is None or self.target_var is None:
                raise NetworkError(
                    "recurrent weights need both source_var and target_var", node=label
                )
            self.set_weights(weights)
            if model.is_complex(self.source_var) and not model.is_complex(self.target_var):
                raise NetworkError(
                    f"the coupling carries complex values (source_var {self.source_var!r} is "
                    f"complex) into the real input {self.target_var!r}",
                    node=label,
                    variable=self.target_var,
                    hint="declare the target input complex (input(complex)), or couple a real "
                    "variable of the model, e.g. one defined as real(...) or abs(...)",
                )
        elif self.target_var is not None and self.source_var is not None:
            raise NetworkError("source_var/target_var given without weights", node=label)

        # values: parameters and inputs at their defaults, states at their initial values
        self.values = {
            n: np.full((1, self.N), v, dtype=self.value_dtype(n))
            for n, v in list(model.params) + list(model.inputs)
        }
        self.initial = {
            n: np.full((1, self.N), v, dtype=self.value_dtype(n)) for n, v in model.initial
        }
        for key, value in (node_vars or {}).items():
            self._set_default(key, value)
        self.state = {n: v.copy() for n, v in self.initial.items()}

        self.train_params = []
        for p in train_params or ():
            name = "weights" if p == "weights" else resolve(p, "train_params")
            if name == "weights" and self._weights is None:
                raise NetworkError(
                    "train_params names 'weights' but the node has no coupling", node=label
                )
            if name != "weights" and name not in dict(model.params):
                raise NetworkError(
                    f"train_params: {p!r} is not a parameter (parameters: {self.parameter_names})",
                    node=label,
                    variable=p,
                )
            self.train_params.append(name)
        self.record_vars = [resolve(v, "record_vars") for v in (record_vars or ())]

    # ---- names ---------------------------------------------------------------------------
    @property
    def spiking(self) -> bool:
        """Whether the node is spiking (``spike_var`` and ``spike_def`` given)."""
        return self.spike_var is not None

    def resolve(self, name: str, what: str = "variable") -> str:
        """Qualified name of a variable.

        Parameters
        ----------
        name : str
            ``"var"``, ``"op/var"`` or ``"all/op/var"``.
        what : str, default "variable"
            What the name is for, in error messages.

        Returns
        -------
        str
            The ``op/var`` name (a linked input resolves to the output it is linked to).
        """
        if not isinstance(name, str):
            raise NetworkError(f"{what} must be a variable name, got {name!r}", node=self.label)
        try:
            return self.model.resolve(name, self.op)
        except NetworkError as err:  # keep the class: VariableNotFoundError is also a KeyError
            raise type(err)(f"{what}: {err.raw_message}", node=self.label, variable=name) from None

    @property
    def parameter_names(self) -> list[str]:
        """Qualified parameter names, and ``"weights"`` when the node has a coupling J."""
        names = [n for n, _ in self.model.params]
        return names + (["weights"] if self._weights is not None else [])

    @property
    def variable_names(self) -> list[str]:
        """Every named variable: states, algebraic variables, inputs, parameters."""
        return list(self.model.variable_names)

    @property
    def state_names(self) -> list[str]:
        """Qualified names of the state variables, in the order of :meth:`flat_state`."""
        return list(self.model.states)

    def value_dtype(self, name: str | None) -> np.dtype:
        """The dtype of the values of variable ``name``.

        Parameters
        ----------
        name : str or None
            A qualified variable name (None: a real value such as a spike flag).

        Returns
        -------
        numpy.dtype
            The node's dtype, or its complex counterpart for a complex variable.
        """
        if name is not None and self.model.is_complex(name):
            return self.complex_dtype
        return np.dtype(self.dtype)

    @property
    def n_in(self) -> int:
        """Input size: ``N``, or 0 for a node without ``input_var`` (it takes no input)."""
        return 0 if self.input_var is None else self.N

    @property
    def input_is_complex(self) -> bool:
        """Whether the input variable holds complex values (edges may then carry complex ones)."""
        return self.input_var is not None and self.model.is_complex(self.input_var)

    @property
    def output_is_complex(self) -> bool:
        """Whether the output variable holds complex values."""
        return self.model.is_complex(self.output_var)

    @property
    def n_out(self) -> int:
        """Output size: ``N``."""
        return self.N

    @property
    def coupling(self) -> str | None:
        """How J runs: ``"dense"``, ``"csr"``, or None without coupling."""
        if self._weights is None:
            return None
        return "csr" if is_sparse(self._weights) else "dense"

    @property
    def propagation(self) -> str:
        """How the coupling propagates: ``"auto"``, ``"event"`` or ``"matvec"``."""
        return self._propagation

    @propagation.setter
    def propagation(self, value: str) -> None:
        self._propagation = check_mode(value, f"node {self.label!r}")

    @property
    def weights(self):
        """J in the form it was given (read-only dense view, or a CSR copy); None without J."""
        if self._weights is None:
            return None
        return as_given(self._weights, self._weights_sparse_given)

    # ---- values --------------------------------------------------------------------------
    def set_weights(self, weights) -> None:
        """Validate J and store a copy of it (a trainable dense J stays dense).

        Parameters
        ----------
        weights : array_like or scipy.sparse matrix
            (N, N) coupling matrix.
        """
        trainable = self._trains_J or "weights" in getattr(self, "train_params", ())
        self._weights = as_weight_matrix(
            weights,
            (self.N, self.N),
            self.dtype,
            sparse=self.sparse_override,
            what="weights",
            node=self.label,
            trainable=trainable,
        )
        self._weights_sparse_given = is_sparse(weights)

    def _set_default(self, key: str, value) -> None:
        name = self.resolve(key, "node_vars")
        arr = values_array(value, self.N, self.value_dtype(name), node=self.label, variable=key)
        if name in self.initial:
            self.initial[name] = arr
        elif name in self.values:
            if name in (self.input_var, self.target_var, self.spike_var):
                raise NetworkError(
                    "node_vars cannot set an input that the network drives",
                    node=self.label,
                    variable=key,
                )
            self.values[name] = arr
        else:
            raise NetworkError(
                f"node_vars: {key!r} is an algebraic variable (computed from the state); set a "
                "parameter or an initial state instead",
                node=self.label,
                variable=key,
            )

    def get(self, var: str) -> np.ndarray:
        """A copy of the current value of a state, parameter or input.

        Parameters
        ----------
        var : str
            Variable name (``"var"``, ``"op/var"``), or ``"weights"`` for J.

        Returns
        -------
        numpy.ndarray or scipy.sparse.csr_matrix
            (N,) or (B, N) for B > 1 trials; J as a copy in the form it was given.
        """
        if var == "weights":
            if self._weights is None:
                raise NetworkError("node has no coupling weights", node=self.label, variable=var)
            given = as_given(self._weights, self._weights_sparse_given)
            return given if is_sparse(given) else np.array(given)
        name = self.resolve(var, "get_var")
        if name in (self.input_var, self.target_var, self.spike_var):
            raise NetworkError(
                f"{var!r} is an input the network sets every step (edges, coupling or spikes); "
                "record it with run(record_vars=...) to read its values",
                node=self.label,
                variable=var,
            )
        src = self.state if name in self.state else self.values
        if name not in src:
            raise NetworkError(
                f"{var!r} is algebraic; record it with run(record_vars=...) to read its values",
                node=self.label,
                variable=var,
            )
        arr = src[name]
        return arr[0].copy() if arr.shape[0] == 1 else arr.copy()

    def set(self, var: str, value) -> None:
        """Set a state (current value), a parameter or an undriven input.

        Parameters
        ----------
        var : str
            Variable name (``"var"``, ``"op/var"``), or ``"weights"`` for J.
        value : float or array_like
            A scalar, (N,), (B, 1) or (B, N) (see :meth:`rectinumba.Network.set_var`).
        """
        if var == "weights":
            if self._weights is None:
                raise NetworkError("node has no coupling weights", node=self.label, variable=var)
            self.set_weights(value)
            return
        name = self.resolve(var, "set_var")
        arr = values_array(value, self.N, self.value_dtype(name), node=self.label, variable=var)
        if name in self.state:
            self.state[name] = arr
        elif name in self.values and name not in (self.input_var, self.target_var, self.spike_var):
            self.values[name] = arr
        else:
            raise NetworkError(
                f"{var!r} cannot be set: it is algebraic or driven by the network",
                node=self.label,
                variable=var,
            )

    def flat_state(self) -> np.ndarray:
        """The state as one vector.

        Returns
        -------
        numpy.ndarray
            Each state variable's N values in turn, (S*N,); (B, S*N) when there are B > 1
            trials. Complex when the model has a complex state (real states then have zero
            imaginary parts).
        """
        arrays = [self.state[s] for s in self.model.states]
        B = max(a.shape[0] for a in arrays) if arrays else 1
        flat = (
            np.concatenate([np.broadcast_to(a, (B, self.N)) for a in arrays], axis=1)
            if arrays
            else np.zeros((B, 0))
        )
        return flat[0] if B == 1 else flat

    def parse_flat_state(self, flat) -> dict[str, np.ndarray]:
        """Validated copies of the states in a flat state vector (see :meth:`flat_state`).

        Parameters
        ----------
        flat : array_like
            (S*N,) or (B, S*N) for S state variables.

        Returns
        -------
        dict
            State name -> new (1 or B, N) array; nothing on the node changes.
        """
        states = self.model.states
        complex_states = [x for x in states if self.model.is_complex(x)]
        dtype = self.complex_dtype if complex_states else self.dtype
        arr = value_array(flat, dtype, what="state vector", node=self.label)
        S = len(states)
        if arr.ndim not in (1, 2) or arr.shape[-1] != S * self.N or arr.size == 0:
            raise NetworkError(
                f"state vector of shape {arr.shape} does not fit {S} states x {self.N} neurons: "
                f"expected ({S * self.N},) or (B, {S * self.N})",
                node=self.label,
            )
        arr = arr.reshape(-1, S * self.N)
        out = {}
        for j, s in enumerate(states):
            part = arr[:, j * self.N : (j + 1) * self.N]
            if complex_states and s not in complex_states:
                if np.any(part.imag != 0):
                    raise NetworkError(
                        f"the state vector gives the real state {s!r} complex values",
                        node=self.label,
                        variable=s,
                    )
                part = part.real
            out[s] = np.array(part, dtype=self.value_dtype(s), copy=True)
        return out

    def load_flat_state(self, flat) -> None:
        """Set the states from a flat state vector (validated first; see
        :meth:`parse_flat_state`).

        Parameters
        ----------
        flat : array_like
            (S*N,) or (B, S*N).
        """
        self.state.update(self.parse_flat_state(flat))

    def reset(self) -> None:
        """Return the states to their initial values (template defaults and node_vars)."""
        self.state = {n: v.copy() for n, v in self.initial.items()}

    def __repr__(self) -> str:
        kind = "spiking" if self.spiking else "rate"
        return f"DiffEqNode({self.label!r}, {self.model.name}, N={self.N}, {kind})"


class FuncNode:
    """A layer of ``n`` units applying an activation function to the summed input.

    Parameters
    ----------
    label : str
        Node label.
    n : int
        Number of units.
    activation_function : str
        One of :data:`ACTIVATIONS`.
    """

    kind = "func"

    def __init__(self, label: str, n: int, activation_function: str) -> None:
        if activation_function not in ACTIVATIONS:
            raise NetworkError(
                f"unknown activation_function {activation_function!r}; choose one of {ACTIVATIONS}",
                node=label,
            )
        n = integer(n, "n (the number of units)", low=1, high=MAX_UNITS, node=label)
        self.label, self.n, self.activation = label, n, activation_function

    @property
    def n_in(self) -> int:
        """Input size: ``n``."""
        return self.n

    @property
    def n_out(self) -> int:
        """Output size: ``n``."""
        return self.n

    parameter_names: list[str] = []
    variable_names = ["in", "out"]
    train_params: list[str] = []

    def __repr__(self) -> str:
        return f"FuncNode({self.label!r}, n={self.n}, {self.activation})"


def check_edge_values(
    source: DiffEqNode | FuncNode,
    target: DiffEqNode | FuncNode,
    source_var: str | None = None,
    target_var: str | None = None,
    *,
    template: bool = False,
) -> None:
    """Refuse an edge that would carry complex values into a real input.

    Weights are real; a complex variable may feed a complex input variable only (function nodes
    compute in real numbers). Real values may feed any input. An edge with a template is checked
    by its edge model (:mod:`rectinumba.edge_model`): its inputs and output may be complex.

    Parameters
    ----------
    source : DiffEqNode or FuncNode
        The source node.
    target : DiffEqNode or FuncNode
        The target node.
    source_var : str, optional
        The source variable the edge reads (qualified; None: the source's output).
    target_var : str, optional
        The target input it drives (qualified; None: the target's input_var).
    template : bool
        The edge runs an edge template on the source value (checked with its model).
    """
    if template or not isinstance(source, DiffEqNode):
        return
    var = source.output_var if source_var is None else source_var
    if not source.model.is_complex(var):
        return
    into_var = None
    if isinstance(target, DiffEqNode):
        into_var = target.input_var if target_var is None else target_var
    if isinstance(target, DiffEqNode) and target.model.is_complex(into_var):
        return
    into = (
        f"the real input {into_var!r}"
        if isinstance(target, DiffEqNode)
        else "a function node (function nodes compute in real numbers)"
    )
    raise NetworkError(
        f"edge {source.label!r} -> {target.label!r} would carry the complex "
        f"{'output' if source_var is None else 'variable'} {var!r} into {into}",
        node=target.label,
        hint="read a real variable of the source (e.g. one defined as real(z), abs(z) or "
        "angle(z)), or give the target a complex input (input(complex))",
    )
