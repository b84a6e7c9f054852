"""RectiPy keyword translation: what RectiPy 0.11 and 0.12 scripts pass, mapped onto rectinumba.

Every :class:`~rectinumba.Network` entry point that RectiPy scripts call hands the keywords it
does not know itself to one function here, in one line. Each function sorts them into

- *honoured*: translated into rectinumba's own arguments (``reset_var``/``reset``, template
  variable overrides such as ``v_reset=``, an edge's RLS ``beta``/``alpha``);
- *accepted and ignored*: keywords that steer torch or PyRates' code generation and mean nothing
  here (``enable_grad``, ``retain_graph``, ``clear``, ``file_name``, ...); the table below and the
  migration guide list them;
- *refused*: keywords that contradict the network (``float_precision="float32"`` on a float64
  network, a node ``device`` other than the network's) or ask for something rectinumba does not
  do (delayed edges, a torch ``closure``): a :class:`~rectinumba.errors.NetworkError` that names
  the keyword, the value and what to write instead.

Nothing here imports numba or sympy at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import NetworkError
from .propagation import check_mode

__all__ = [
    "RectiPyMethods",
    "as_float_dtype",
    "func_node_options",
    "diffeq_node_options",
    "edge_options",
    "run_options",
    "spread_input_columns",
    "NODE_IGNORED",
    "RUN_IGNORED",
]

#: add_diffeq_node keywords RectiPy forwarded to PyRates' code generation; they choose file names,
#: caches and code layout of PyRates' generated torch function and mean nothing here
NODE_IGNORED = {
    "clear": "PyRates: delete its generated files (rectinumba caches kernels by content hash)",
    "file_name": "PyRates: name of its generated file",
    "to_file": "PyRates: write its generated function to a file",
    "verbose": "PyRates: progress messages during code generation",
    "vectorize": "PyRates: vectorise equations (rectinumba always does)",
    "in_place": "PyRates: build the circuit in place",
}

#: run/test/fit keywords that only steer torch's autograd
RUN_IGNORED = {
    "enable_grad": "torch: build the autograd graph during the run",
    "retain_graph": "torch: keep the autograd graph after backward()",
    "truncate_steps": "torch: detach the state every n steps",
}

#: run/test/fit keywords that cannot be honoured, with what to do instead
_RUN_REFUSED = {
    "closure": "a torch optimizer closure; rectinumba's optimizers take no closure",
    "obs": "recording into a given Observer; use the Observer that run() returns",
    "device": "choose the device when building the network: Network(dt, device=...)",
}

_TRUE_FALSE = (True, False)


def _dtype_name(value: Any) -> str | None:
    """``"float32"``/``"float64"`` for numpy dtypes, their names, or objects printed as
    ``<module>.float32`` (torch dtypes), without importing torch; None for anything else."""
    try:
        name = np.dtype(value).name
    except TypeError:
        name = str(value).rsplit(".", 1)[-1]
    return name if name in ("float32", "float64") else None


def as_float_dtype(value: Any, what: str = "dtype") -> np.dtype:
    """The numpy float dtype ``value`` names.

    Parameters
    ----------
    value : Any
        ``np.float64``, ``np.float32``, ``"float64"``, ``"float32"``, a numpy dtype, or an object
        printed as ``torch.float64``/``torch.float32`` (RectiPy's dtypes; torch is not imported).
    what : str
        The keyword, for the error message.

    Returns
    -------
    numpy.dtype
        float64 or float32.

    Raises
    ------
    NetworkError
        For any other value.
    """
    name = _dtype_name(value)
    if name is None:
        raise NetworkError(f"{what} must be float64 or float32, got {value!r}")
    return np.dtype(name)


def _agree(what: str, given: Any, network: Any, where: str, node: str | None = None) -> None:
    if given != network:
        raise NetworkError(
            f"{what}={given!r} contradicts the network's {what} {network!r}",
            node=node,
            hint=f"a network has one {what} for all its nodes and edges: drop {what}= here or "
            f"build Network(..., {where})",
        )


def _bool(value: Any, what: str, node: str | None = None) -> bool:
    if value not in _TRUE_FALSE:
        raise NetworkError(f"{what} must be True or False, got {value!r}", node=node)
    return bool(value)


def _number(value: Any) -> float | None:
    """``float(value)``, or None for a value that is no number (the caller's checks report it)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _resolve(model: Any, name: str, op: str | None, what: str, label: str) -> str:
    """``model.resolve(name, op)``, with the keyword and the node in the error."""
    try:
        return model.resolve(name, op)
    except NetworkError as err:  # keep the class (VariableNotFoundError is also a KeyError)
        raise type(err)(f"{what}: {err.raw_message}", node=label, variable=name) from None


# ---- add_diffeq_node ------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeOptions:
    """add_diffeq_node arguments after translation (see :func:`diffeq_node_options`).

    Parameters
    ----------
    model : NodeModel or StoredModel
        The node's model (derived when a reset input is linked to the spike input).
    spike_def : str or None
        The state that defines spikes.
    reset : bool
        Whether the network resets ``spike_def`` after a spike.
    node_vars : dict or None
        ``node_vars`` with template variable overrides merged in.
    spike_slope : float or None
        Surrogate slope (None: the node's default).
    sparse : bool or None
        Coupling format override.
    propagation : str
        How the coupling propagates (:mod:`rectinumba.propagation`).
    """

    model: Any
    spike_def: str | None
    reset: bool
    node_vars: dict[str, Any] | None
    spike_slope: float | None
    sparse: bool | None
    propagation: str = "auto"


def diffeq_node_options(
    network: Any,
    label: str,
    model: Any,
    op: str | None,
    spike_var: str | None,
    spike_def: str | None,
    spike_threshold: float,
    spike_reset: float,
    node_vars: dict[str, Any] | None,
    kwargs: dict[str, Any],
) -> NodeOptions:
    """Translate RectiPy 0.11/0.12 keywords of ``add_diffeq_node``.

    Parameters
    ----------
    network : Network
        The network the node is added to (its dtype, device and dt are checked against).
    label : str
        Node label (for error messages).
    model : NodeModel or StoredModel
        The node's compiled model.
    op : str or None
        Operator that bare variable names refer to.
    spike_var, spike_def : str or None
        As given by the caller (RectiPy 0.11's names).
    spike_threshold, spike_reset : float
        As given (checked against ``v_peak``/``v_reset`` when those are not template variables).
    node_vars : dict or None
        As given; template variable overrides passed as keywords are merged into a copy.
    kwargs : dict
        Every other keyword. Understood: ``reset_var`` and ``reset`` (RectiPy 0.12),
        ``spike_slope``, ``sparse`` and ``propagation`` (rectinumba), ``dtype``,
        ``float_precision``, ``device``
        and ``dt`` (must agree with the network), ``spike_center`` (1 only), ``solver``
        ("euler" only), ``edge_attr`` (None only without ``edge_template``; see
        :func:`plastic_coupling_options`), the PyRates keywords of
        :data:`NODE_IGNORED`, and any name of a template parameter or state (an override, as
        ``node_vars``).

    Returns
    -------
    NodeOptions
        The model (a derived one when a reset input is linked to the spike input), the
        spike-defining state, whether the network resets it, the merged node_vars, the surrogate
        slope and the coupling format.

    Raises
    ------
    NetworkError
        Contradictions and unsupported requests, naming the keyword.
    """
    kw = dict(kwargs)
    reset_var = kw.pop("reset_var", None)
    reset = _bool(kw.pop("reset", True), "reset", label)
    spike_slope, sparse = kw.pop("spike_slope", None), kw.pop("sparse", None)
    propagation = check_mode(kw.pop("propagation", "auto"), f"node {label!r}")
    _check_node_passthrough(network, label, kw)
    for key in NODE_IGNORED:
        kw.pop(key, None)
    for name, value in (
        ("spike_var", spike_var),
        ("spike_def", spike_def),
        ("reset_var", reset_var),
    ):
        if isinstance(value, (list, tuple)):
            raise NetworkError(
                f"{name} lists several variables ({list(value)}); rectinumba supports one spiking "
                "variable per node (RectiPy's MultiSpikeNet is not available)",
                node=label,
                hint="split the neurons into one node per spiking variable",
            )
    spike_def, reset_input = _spike_definition(
        model, label, op, spike_var, spike_def, reset_var, reset
    )
    if reset_input is not None:
        model = link_reset_input(
            model, reset_input, _resolve(model, spike_var, op, "spike_var", label)
        )
    thr, rst = _number(spike_threshold), _number(spike_reset)
    if reset_var is not None and spike_slope is None and None not in (thr, rst) and thr != rst:
        # RectiPy 0.12 (the reset_var release) halved the default surrogate slope of 0.11
        spike_slope = 100.0 / abs(thr - rst)
    node_vars = _template_overrides(
        model, label, op, node_vars, kw, spike_var is not None, spike_threshold, spike_reset
    )
    return NodeOptions(model, spike_def, reset, node_vars, spike_slope, sparse, propagation)


def plastic_coupling_options(label: str, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """Pop RectiPy 0.12's ``edge_template`` (and its ``edge_attr``) from add_diffeq_node keywords.

    Parameters
    ----------
    label : str
        Node label (for messages).
    kwargs : dict
        add_diffeq_node's keywords; ``edge_template``, ``edge_attr``, ``edge_inputs`` and
        ``edge_vars`` are removed when ``edge_template`` is given.

    Returns
    -------
    dict or None
        None without an edge template; else add_edge keywords of the recurrent template edge:
        ``template``, ``edge_inputs`` and ``edge_vars`` (``edge_attr``: numbers and arrays set
        template variables, strings bind template inputs, as PyRates' edge attributes).
    """
    if kwargs.get("edge_template") is None:
        kwargs.pop("edge_template", None)
        if "edge_inputs" in kwargs or "edge_vars" in kwargs:
            raise NetworkError(
                "edge_inputs and edge_vars configure the template of the recurrent coupling; "
                "give edge_template= too",
                node=label,
            )
        return None
    template = kwargs.pop("edge_template")
    attrs = kwargs.pop("edge_attr", None) or {}
    if not isinstance(attrs, dict):
        raise NetworkError(f"edge_attr must be a dict, got {attrs!r}", node=label)
    inputs = dict(kwargs.pop("edge_inputs", None) or {})
    values = dict(kwargs.pop("edge_vars", None) or {})
    for key, value in attrs.items():
        if key in ("weight", "delay", "spread"):
            raise NetworkError(
                f"edge_attr[{key!r}]: the recurrent coupling's weights are weights=; delays of "
                "template edges are not supported",
                node=label,
            )
        name = "/".join(str(key).split("/")[-2:])
        (inputs if isinstance(value, str) else values)[name] = value
    return {"template": template, "edge_inputs": inputs or None, "edge_vars": values or None}


def _check_node_passthrough(network: Any, label: str, kw: dict[str, Any]) -> None:
    """Pop and check the keywords that must agree with the network or keep their default."""
    if "dtype" in kw:
        _agree("dtype", as_float_dtype(kw.pop("dtype")), network.dtype, "dtype=...", label)
    if "float_precision" in kw:
        fp = kw.pop("float_precision")
        _agree(
            "float_precision",
            as_float_dtype(fp, "float_precision"),
            network.dtype,
            "dtype=...",
            label,
        )
    if "device" in kw:
        _agree("device", kw.pop("device"), network.device, "device=...", label)
    if "dt" in kw:
        _agree("dt", _number(kw.pop("dt")), network.dt, "dt=...", label)
    fixed = {
        "spike_center": (1.0, "the heaviside value at v == threshold (a spike)"),
        "solver": ("euler", "the integration scheme"),
        "edge_attr": (
            None,
            "attributes of the recurrent edges; delays of the coupling: add the node without "
            "weights, then add_edge(label, label, weights, source_var=..., target_var=..., "
            "delay=D, feedback=True); spreads (gamma kernels per connection) are not supported",
        ),
    }
    for key, (default, meaning) in fixed.items():
        if key in kw and kw.pop(key) != default:
            raise NetworkError(
                f"{key} other than {default!r} is not supported ({meaning})", node=label
            )


def _spike_definition(
    model: Any,
    label: str,
    op: str | None,
    spike_var: str | None,
    spike_def: str | None,
    reset_var: str | None,
    reset: bool,
) -> tuple[str | None, str | None]:
    """(state that defines spikes, input that receives reset pulses or None).

    RectiPy 0.11: ``spike_def`` is the state that spikes and is reset. RectiPy 0.12:
    ``reset_var`` with ``reset=True`` is the same; with ``reset=False`` the template resets
    itself: ``reset_var`` names its reset input (which then receives the spike pulses) or the
    spiking state, and the network only detects spikes.
    """
    if spike_var is None:
        if spike_def is not None or reset_var is not None:
            given = "spike_def" if spike_def is not None else "reset_var"
            raise NetworkError(
                f"{given} was given without spike_var: a spiking node needs spike_var (the input "
                "that receives spikes) and spike_def or reset_var (the state that defines them)",
                node=label,
            )
        return None, None
    if spike_def is None and reset_var is None:
        raise NetworkError(
            "spike_var was given without spike_def (RectiPy 0.11) or reset_var (RectiPy 0.12): "
            "a spiking node needs the state variable that defines its spikes",
            node=label,
        )
    states = set(model.states)
    qualified = (
        _resolve(model, reset_var, op, "reset_var", label) if reset_var is not None else None
    )
    spike_def_q = _resolve(model, spike_def, op, "spike_def", label) if spike_def else None
    if reset:
        if spike_def is not None and qualified is not None:
            if spike_def_q != qualified:
                raise NetworkError(
                    f"spike_def={spike_def!r} and reset_var={reset_var!r} name different "
                    "variables; with reset=True both name the state that spikes and is reset",
                    node=label,
                )
        return (spike_def if spike_def is not None else reset_var), None
    if qualified is None or qualified in states:
        if spike_def is not None and qualified is not None and spike_def_q != qualified:
            raise NetworkError(
                f"spike_def={spike_def!r} and reset_var={reset_var!r} name different states",
                node=label,
            )
        return (spike_def if spike_def is not None else reset_var), None
    if qualified not in dict(model.inputs):
        raise NetworkError(
            f"reset_var={reset_var!r} is neither a state nor an input variable of the model; "
            "with reset=False it names the template's reset input (or the spiking state)",
            node=label,
            variable=reset_var,
        )
    if spike_def is None:
        spike_def = _state_driven_by(model, qualified, label, reset_var)
    return spike_def, qualified


def _state_driven_by(model: Any, name: str, label: str, reset_var: str) -> str:
    """The one state whose derivative contains input ``name`` (directly or through algebra)."""
    full = getattr(model, "full", model)
    depends = {name}
    for d in full.algebraic:
        if any(str(s) in depends for s in d.expr.free_symbols):
            depends.add(d.name)
    found = [s for s, rhs in full.derivatives if any(str(x) in depends for x in rhs.free_symbols)]
    if len(found) != 1:
        raise NetworkError(
            f"reset=False: cannot tell which state spikes: the reset input {reset_var!r} enters "
            f"the equations of {found or 'no state'}",
            node=label,
            hint="name the spiking state with spike_def=",
        )
    return found[0]


def link_reset_input(model: Any, reset_input: str, spike_input: str) -> Any:
    """A model whose input ``reset_input`` is replaced by ``spike_input``.

    With ``reset=False`` the template's reset input receives the same pulses as the spike input
    (1/dt where a neuron spiked), so it is the same variable; the derived model lists it as a link
    (``resolve(reset_input)`` gives ``spike_input``).

    Parameters
    ----------
    model : NodeModel or StoredModel
        The node's model (a StoredModel compiles its expressions here: sympy is imported).
    reset_input, spike_input : str
        Qualified input names.

    Returns
    -------
    NodeModel
        The derived model.
    """
    import dataclasses

    import sympy

    full = getattr(model, "full", model)
    old, new = sympy.Symbol(reset_input, real=True), sympy.Symbol(spike_input, real=True)
    swap = {old: new}
    return dataclasses.replace(
        full,
        inputs=tuple((n, v) for n, v in full.inputs if n != reset_input),
        algebraic=tuple(dataclasses.replace(d, expr=d.expr.xreplace(swap)) for d in full.algebraic),
        derivatives=tuple((s, rhs.xreplace(swap)) for s, rhs in full.derivatives),
        links=full.links + ((reset_input, spike_input),),
    )


def _template_overrides(
    model: Any,
    label: str,
    op: str | None,
    node_vars: dict[str, Any] | None,
    kw: dict[str, Any],
    spiking: bool,
    spike_threshold: float,
    spike_reset: float,
) -> dict[str, Any] | None:
    """node_vars with the remaining keywords that name template variables merged in."""
    if not kw:
        return node_vars
    merged = dict(node_vars or {})
    given = {}
    for key in merged:
        try:
            given[model.resolve(key, op)] = key
        except NetworkError:
            pass  # DiffEqNode reports bad node_vars keys with their context
    settable = set(model.states) | {n for n, _ in model.params} | {n for n, _ in model.inputs}
    unknown = []
    for key, value in kw.items():
        try:
            name = model.resolve(key, op)
        except NetworkError:
            name = None
        if name is not None and name not in settable:
            raise NetworkError(
                f"{key}= names {name!r}, which is algebraic (computed from the state); pass a "
                "parameter or an initial state",
                node=label,
            )
        if name is not None:
            if name in given and not np.array_equal(
                np.asarray(merged[given[name]]), np.asarray(value)
            ):
                raise NetworkError(
                    f"{key}={value!r} contradicts node_vars[{given[name]!r}]", node=label
                )
            merged[key] = value
        elif key in ("v_peak", "v_reset"):
            # not template variables: RectiPy passed them on to PyRates, which ignored them
            if spiking:
                used = spike_threshold if key == "v_peak" else spike_reset
                what = "spike_threshold" if key == "v_peak" else "spike_reset"
                if _number(used) is not None and _number(value) != _number(used):
                    raise NetworkError(
                        f"{key}={value!r} differs from {what}={used!r}: RectiPy ignored {key} "
                        f"(the model has no such variable) and used {what}",
                        node=label,
                        hint=f"pass {what}={value!r} to use that value",
                    )
        else:
            unknown.append(key)
    if unknown:
        raise NetworkError(
            f"add_diffeq_node got unknown keyword argument(s) {sorted(unknown)}: neither "
            "add_diffeq_node options nor variables of the model",
            node=label,
            hint="known variables: " + ", ".join(model.variable_names),
        )
    return merged


# ---- add_func_node -----------------------------------------------------------------------


def func_node_options(label: str, kwargs: dict[str, Any]) -> None:
    """Check the keywords RectiPy passed on to the torch activation of ``add_func_node``.

    Parameters
    ----------
    label : str
        Node label (for messages).
    kwargs : dict
        ``dim`` (0 or -1: a node's units form one vector, so both mean "over the units", which
        is how rectinumba applies softmax, softmin and log_softmax) and ``node_type`` (RectiPy's
        graph attribute; ignored). Anything else is refused.

    Raises
    ------
    NetworkError
        For another ``dim`` or an unknown keyword.
    """
    kw = dict(kwargs)
    kw.pop("node_type", None)
    if kw.pop("dim", 0) not in (0, -1):
        raise NetworkError(
            "add_func_node: dim must be 0 or -1 (the node's units form one vector)", node=label
        )
    if kw:
        raise NetworkError(
            f"add_func_node got unknown keyword argument(s) {sorted(kw)}", node=label
        )


# ---- add_edge -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgeOptions:
    """add_edge arguments after translation (see :func:`edge_options`).

    Parameters
    ----------
    sparse : bool or None
        Format override of the weights.
    seed : int, numpy.random.Generator or None
        Random source of default weights.
    rls_beta, rls_alpha : float or None
        RLS forgetting factor and ``P0 = alpha I`` for fit_rls (None: fit_rls's defaults).
    propagation : str
        How the edge propagates (:mod:`rectinumba.propagation`).
    """

    sparse: bool | None
    seed: Any
    rls_beta: float | None
    rls_alpha: float | None
    propagation: str = "auto"


def edge_options(network: Any, train: str | None, kwargs: dict[str, Any]) -> EdgeOptions:
    """Translate RectiPy keywords of ``add_edge``.

    Parameters
    ----------
    network : Network
        The network (its dtype is checked against ``dtype=``).
    train : str or None
        The edge's training mode; ``beta``/``alpha`` belong to ``"rls"`` edges.
    kwargs : dict
        Keywords beyond add_edge's own: ``sparse``, ``seed``, ``propagation`` (rectinumba),
        ``beta`` and ``alpha`` (RLS forgetting factor and ``P0 = alpha I``, used by fit_rls
        unless it is given its own),
        ``dtype`` (must equal the network's), ``edge_attrs`` (networkx attributes; ignored),
        ``train_params`` (``["weights"]`` only).

    Returns
    -------
    EdgeOptions
        The translated options.

    Raises
    ------
    NetworkError
        Unknown keywords, delays/filters (not supported), a dtype other than the network's, RLS
        options on an edge that is not trained by RLS, or out-of-range beta/alpha.
    """
    kw = dict(kwargs)
    if "dtype" in kw:
        _agree("dtype", as_float_dtype(kw.pop("dtype")), network.dtype, "dtype=...")
    attrs = kw.pop("edge_attrs", None)
    if attrs is not None and not isinstance(attrs, dict):
        raise NetworkError(f"edge_attrs must be a dict, got {attrs!r}")
    if kw.pop("train_params", ["weights"]) not in (["weights"], ("weights",)):
        raise NetworkError("train_params of an edge can only be ['weights'] (its one matrix)")
    for key in ("delays", "filter_weights"):
        if key in kw:
            raise NetworkError(
                f"add_edge: {key}= (RectiPy 0.12's delayed/filtered edges) is not supported",
                hint="add_edge(..., delay=...) delays an edge by a time (delay_steps=... by whole "
                "steps); past(x, d) delays a state in the model equations",
            )
    beta, alpha = kw.pop("beta", None), kw.pop("alpha", None)
    if (beta is not None or alpha is not None) and train != "rls":
        raise NetworkError(
            f"add_edge: beta/alpha configure recursive least squares, but train={train!r}",
            hint="add the edge with train='rls'",
        )
    if beta is not None and not 0.0 < float(beta) <= 1.0:
        raise NetworkError(
            f"add_edge: the RLS forgetting factor beta must be in (0, 1], got {beta!r}"
        )
    if alpha is not None and not (np.isfinite(float(alpha)) and float(alpha) > 0.0):
        raise NetworkError(f"add_edge: RLS alpha (P0 = alpha I) must be positive, got {alpha!r}")
    sparse, seed = kw.pop("sparse", None), kw.pop("seed", None)
    propagation = kw.pop("propagation", "auto")  # checked by add_edge (it names the edge)
    if kw:
        raise NetworkError(f"add_edge got unknown keyword argument(s) {sorted(kw)}")
    return EdgeOptions(
        sparse,
        seed,
        None if beta is None else float(beta),
        None if alpha is None else float(alpha),
        propagation,
    )


# ---- run / test / fit ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    """RectiPy keywords of run/test/fit after translation (see :func:`run_options`).

    Parameters
    ----------
    record_loss : bool or None
        RectiPy's ``record_loss`` where the method honours it, else None.
    """

    record_loss: bool | None


def run_options(method: str, kwargs: dict[str, Any], allowed: tuple[str, ...] = ()) -> RunOptions:
    """Accept the torch-only keywords RectiPy scripts pass to run, test and the fit methods.

    Parameters
    ----------
    method : str
        The method's name, for messages.
    kwargs : dict
        The keywords the method did not consume itself.
    allowed : tuple of str
        RectiPy observer keywords this method honours from ``kwargs`` (``"record_loss"``).

    Returns
    -------
    RunOptions
        ``record_loss`` when given and allowed (None otherwise).

    Raises
    ------
    NetworkError
        For refused keywords (``closure``, ``obs``, ``device``) and unknown ones.
    """
    kw = dict(kwargs)
    for key in RUN_IGNORED:
        kw.pop(key, None)
    record_loss = None
    if "record_loss" in kw:
        value = _bool(kw.pop("record_loss"), f"{method}: record_loss")
        record_loss = value if "record_loss" in allowed else None
    refused = sorted(set(kw) & set(_RUN_REFUSED))
    if refused:
        key = refused[0]
        raise NetworkError(f"{method}: {key}= is not supported: {_RUN_REFUSED[key]}")
    if kw:
        raise NetworkError(f"{method} got unknown keyword argument(s) {sorted(kw)}")
    return RunOptions(record_loss)


def spread_input_columns(x: np.ndarray, m: int) -> np.ndarray:
    """Inputs (B, T, 1) for an input node of m > 1 units: every unit gets the one column.

    RectiPy fed a (T, 1) input to all neurons of the input node (torch broadcasting); this is the
    same, as a zero-copy view. Other shapes are returned unchanged (and checked by the caller).

    Parameters
    ----------
    x : numpy.ndarray
        Inputs of shape (B, T, k).
    m : int
        Units of the input node.

    Returns
    -------
    numpy.ndarray
        ``x`` or a (B, T, m) broadcast view of it.
    """
    if x.ndim == 3 and x.shape[2] == 1 and m > 1:
        return np.broadcast_to(x, x.shape[:2] + (m,))
    return x


# ---- torch.nn.Module habits -----------------------------------------------------------------


class RectiPyMethods:
    """Methods RectiPy's ``Network`` had as a ``torch.nn.Module``, mixed into
    :class:`~rectinumba.Network`: calling the network is :meth:`forward`, iterating it yields
    the node entries, and ``detach`` (autograd bookkeeping) does nothing."""

    def __call__(self, x: Any) -> np.ndarray:
        """One step, as :meth:`Network.forward`.

        Parameters
        ----------
        x : array_like
            Input of shape (n_in,) or (B, n_in) (or one value for every input unit).

        Returns
        -------
        numpy.ndarray
            The network output.
        """
        return self.forward(x)

    def __iter__(self):
        """Yield ``net[label]`` for every node, in insertion order (RectiPy's iteration).

        Yields
        ------
        dict
            The node entry (``"node"``, ``"n_in"``, ``"n_out"``, ``"kind"``).
        """
        for label in self.nodes:
            yield self[label]

    def detach(self, requires_grad: bool = True, detach_params: bool = False) -> None:
        """Accepted for RectiPy scripts; there is no autograd graph to cut.

        Parameters
        ----------
        requires_grad : bool
            Ignored.
        detach_params : bool
            Ignored.
        """
