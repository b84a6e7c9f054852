"""Edges between nodes: a weight matrix (n_target, n_source), dense or CSR, optionally delayed."""

from __future__ import annotations

import numpy as np

from .errors import NetworkError
from .nodes import not_an_input
from .propagation import check_mode
from .validate import real_array
from .weights import as_given, as_weight_matrix, is_sparse

__all__ = [
    "Edge",
    "TRAIN_MODES",
    "default_weights",
    "orient_weights",
    "resolve_endpoints",
    "check_delays",
]

TRAIN_MODES = (None, "gd", "rls")


def default_weights(n_target: int, n_source: int, train: str | None, seed=None) -> np.ndarray:
    """Weights of an edge added without any: standard normal, zeros for ``train="rls"``.

    Parameters
    ----------
    n_target, n_source : int
        Units of the target and the source node.
    train : str or None
        The edge's training mode; an RLS edge starts at zero (RectiPy).
    seed : int, numpy.random.Generator or None
        Random source; None draws from numpy's global generator, so ``np.random.seed`` makes a
        script repeatable.

    Returns
    -------
    numpy.ndarray
        (n_target, n_source) weights.
    """
    if train == "rls":
        return np.zeros((n_target, n_source))
    if seed is None:
        return np.random.standard_normal((n_target, n_source))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return rng.standard_normal((n_target, n_source))


def orient_weights(weights, n_source: int, n_target: int, *, source: str, target: str):
    """Return weights with shape (n_target, n_source).

    Used as given when already (n_target, n_source) (also when square); a non-square
    (n_source, n_target) array is transposed; anything else is an error naming both shapes.

    Parameters
    ----------
    weights : numpy.ndarray or scipy.sparse matrix
        The weights as the user gave them.
    n_source, n_target : int
        Output size of the source node, input size of the target node.
    source, target : str
        Node labels, for the error message (keyword only).

    Returns
    -------
    numpy.ndarray or scipy.sparse matrix
        ``weights`` or its transpose, of shape (n_target, n_source).
    """
    shape = tuple(weights.shape)
    if shape == (n_target, n_source):
        return weights
    if shape == (n_source, n_target):
        return weights.T
    raise NetworkError(
        f"edge {source!r} -> {target!r}: weights of shape {shape} fit neither "
        f"(n_target, n_source) = {(n_target, n_source)} nor (n_source, n_target) = "
        f"{(n_source, n_target)}"
    )


def resolve_endpoints(src, tgt, source_var, target_var) -> tuple[str | None, str | None]:
    """The qualified variables an edge reads and drives, validated (None: output / input_var).

    Parameters
    ----------
    src, tgt : DiffEqNode or FuncNode
        Source and target node.
    source_var : str or None
        Any variable of a diff-eq source (state, algebraic, input, parameter; ``"var"``,
        ``"op/var"``); None or ``"out"`` for a function node. None: the source's output.
    target_var : str or None
        An input variable of a diff-eq target that neither its coupling nor its spikes drive;
        None or ``"in"`` for a function node. None: the target's ``input_var``.

    Returns
    -------
    tuple of (str or None, str or None)
        The qualified names; None where they are the source's output / the target's input_var.
    """
    what = f"edge {src.label!r} -> {tgt.label!r}"
    if src.kind == "func":
        if source_var not in (None, "out"):
            raise NetworkError(
                f"{what}: source_var={source_var!r}, but a function node has one output ('out')",
                node=src.label,
            )
        source_var = None
    elif source_var is not None:
        source_var = src.resolve(source_var, "source_var")
        if source_var == src.output_var:
            source_var = None
    if tgt.kind == "func":
        if target_var not in (None, "in"):
            raise NetworkError(
                f"{what}: target_var={target_var!r}, but a function node has one input ('in')",
                node=tgt.label,
            )
        return source_var, None
    if target_var is None:
        if tgt.input_var is None:
            raise NetworkError(
                f"{what}: the target node has no input_var",
                node=tgt.label,
                hint="give the edge a target_var (an input variable of the target), or the "
                "node an input_var (add_diffeq_node(..., input_var=...))",
            )
        return source_var, None
    name = tgt.resolve(target_var, "target_var")
    inputs = [n for n, _ in tgt.model.inputs]
    if name not in inputs:
        raise NetworkError(
            f"{what}: target_var {name!r} is not an input variable of the target (inputs: "
            f"{inputs})",
            node=tgt.label,
            variable=target_var,
            hint=not_an_input(tgt.model, name)
            or "an edge sets an input variable; declare the variable input(...) in the template",
        )
    if name == tgt.input_var:
        return source_var, None
    if name in (tgt.target_var, tgt.spike_var):
        role = "recurrent coupling" if name == tgt.target_var else "spikes"
        raise NetworkError(
            f"{what}: target_var {name!r} is driven by the node's {role}",
            node=tgt.label,
            variable=target_var,
        )
    return source_var, name
def check_delays(delay, delay_steps, shape: tuple[int, int], *, source: str, target: str):
    """Validated copies of an edge's delays: ``(kind, delay, delay_steps)``.

    Parameters
    ----------
    delay : float or array_like or None
        Delays in time units (rounded to steps when a run starts: ``round(delay / dt)``).
    delay_steps : int or array_like or None
        Delays in whole steps.
    shape : tuple of int
        (n_target, n_source).
    source, target : str
        Node labels, for messages.

    Returns
    -------
    tuple
        ``kind`` (None, ``"row"``: a scalar or one delay per target unit, ``"full"``: one per
        connection), and float64 / int64 arrays (None where not given).
    """
    what = f"edge {source!r} -> {target!r}"
    if delay is not None and delay_steps is not None:
        raise NetworkError(f"{what}: give delay (time) or delay_steps (steps), not both")
    given = delay if delay is not None else delay_steps
    if given is None:
        return None, None, None
    name = "delay" if delay is not None else "delay_steps"
    arr = real_array(given, np.float64, what=f"{what} {name}")
    if arr.shape not in ((), (shape[0],), shape):
        raise NetworkError(
            f"{what}: {name} of shape {arr.shape} fits neither a scalar, one per target unit "
            f"({shape[0]},) nor one per connection {shape} (n_target, n_source)"
        )
    if (arr < 0).any():
        raise NetworkError(f"{what}: {name} must not be negative, got {arr.min()!r}")
    kind = "full" if arr.ndim == 2 else "row"
    if delay is not None:
        return kind, arr, None
    if (arr != np.rint(arr)).any():
        raise NetworkError(
            f"{what}: delay_steps must be whole numbers of steps",
            hint="give delay= for delays in time units (rounded to steps)",
        )
    from .history import MAX_DELAY_STEPS

    if arr.size and arr.max() > MAX_DELAY_STEPS:  # checked before the cast can wrap around
        raise NetworkError(
            f"{what}: delay_steps of {arr.max():.0f} steps; at most {MAX_DELAY_STEPS} are kept"
        )
    return kind, None, arr.astype(np.int64)


class Edge:
    """Weights from ``source`` to ``target``; the target's input is ``weights @ out_source``.

    Made by :meth:`rectinumba.Network.add_edge`, which documents the arguments. The edge keeps
    its own copy of the weights (training updates that copy in place); nothing a caller holds is
    shared with it.

    Parameters
    ----------
    source, target : str
        Node labels.
    weights : numpy.ndarray or scipy.sparse matrix
        (n_target, n_source) weights (see :func:`orient_weights`).
    train : {None, "gd", "rls"}
        How the edge is trained (keyword only, like all that follow).
    mask : array_like or None
        Multiplies the weights element-wise.
    feedback : bool
        Whether the edge is a feedback edge.
    sparse : bool or None
        Force CSR (True) or dense (False); None chooses by density.
    dtype : numpy.dtype
        Float type of the weights.
    rls : tuple of (float or None, float or None)
        RLS forgetting factor ``beta`` and ``P0 = alpha I`` given to ``add_edge`` (RectiPy's RLS
        edge options), used by fit_rls unless it is given its own.
    source_var, target_var : str or None
        Qualified variable of the source the edge reads and input of the target it drives (None:
        the source's output, the target's ``input_var``).
    key : tuple or None
        The edge's key in the network (None: ``(source, target)``).
    template : bool
        Whether a template will run per connection (the weights then keep the form given).
    delay : float or array_like or None
        Delays in time units (see :meth:`rectinumba.Network.add_edge`).
    delay_steps : int or array_like or None
        Delays in whole steps.
    propagation : str
        ``"auto"``, ``"event"`` or ``"matvec"`` (:mod:`rectinumba.propagation`).

    Attributes
    ----------
    weights
        (n_target, n_source) weights (mask applied) in the form they were given: a read-only
        view of a dense array (a new read-only array when stored as CSR for speed), or a copy of
        a scipy CSR matrix.
    train
        None (static), "gd" (fit_bptt) or "rls" (fit_rls).
    feedback
        Reads its source before the source is updated in the step (a diff-eq source on its
        current state, a function node's output of the previous step).
    rls_P
        Inverse-correlation matrix of recursive least squares (fit_rls), carried between calls;
        None until the edge is first trained.
    rls_beta, rls_alpha
        Forgetting factor and ``P0 = alpha I`` given to add_edge (RectiPy's RLS edge options);
        fit_rls uses them unless it is given its own. None when not given.
    source_var, target_var
        The source's variable the edge reads and the target's input it drives (qualified
        ``op/var`` names); None: the source's output and the target's ``input_var``.
    key
        The edge's key in the network: ``(source, target)``, or ``(source, target, n)`` for the
        n-th further edge between the same two nodes.
    delay_kind
        None (no delay), ``"row"`` (a scalar or one delay per target unit) or ``"full"`` (one
        per connection).
    propagation
        ``"auto"``, ``"event"`` or ``"matvec"``; may be changed between runs.
    """

    def __init__(
        self,
        source: str,
        target: str,
        weights,
        *,
        train,
        mask,
        feedback: bool,
        sparse,
        dtype,
        rls: tuple[float | None, float | None] = (None, None),
        source_var: str | None = None,
        target_var: str | None = None,
        key: tuple | None = None,
        template: bool = False,
        delay=None,
        delay_steps=None,
        propagation: str = "auto",
    ) -> None:
        if train not in TRAIN_MODES:
            raise NetworkError(
                f"edge {source!r} -> {target!r}: train must be one of {TRAIN_MODES}, got {train!r}"
            )
        self.delay_kind, self._delay, self._delay_steps = check_delays(
            delay, delay_steps, tuple(weights.shape), source=source, target=target
        )
        if self.delay_kind is not None and train is not None:
            raise NetworkError(
                f"edge {source!r} -> {target!r}: a delayed edge cannot be trained "
                f"(train={train!r})",
                hint="train an undelayed edge, or keep the delayed one static",
            )
        self.source, self.target, self.train, self.feedback = source, target, train, bool(feedback)
        self.source_var, self.target_var = source_var, target_var
        self.key = (source, target) if key is None else tuple(key)
        #: the per-connection model of a template edge (rectinumba.edge_model.EdgeDynamics)
        self.dynamics = None
        self.sparse_override, self.dtype = sparse, dtype
        self.propagation = propagation
        what = f"edge {source!r} -> {target!r} weights"
        shape = weights.shape
        sparse_given = is_sparse(weights)
        if mask is not None:
            mask_arr = real_array(
                mask.toarray() if is_sparse(mask) else mask,
                np.float64,
                what=f"edge {source!r} -> {target!r} mask",
            )
            if mask_arr.shape != shape:
                if mask_arr.shape == shape[::-1] and shape[0] != shape[1]:
                    mask_arr = mask_arr.T
                else:
                    raise NetworkError(
                        f"edge {source!r} -> {target!r}: mask of shape {mask_arr.shape} does not "
                        f"match weights of shape {shape}"
                    )
            if sparse_given:
                weights = weights.multiply(mask_arr)
            else:
                weights = real_array(weights, dtype, what=what) * mask_arr
            self.mask = mask_arr
        else:
            self.mask = None
        self.rls_P = None
        self.rls_beta, self.rls_alpha = rls
        self._weights = as_weight_matrix(
            weights,
            shape,
            dtype,
            sparse=sparse,
            what=what,
            # template edges keep the form given: their connections are its entries
            trainable=train is not None or template,
        )
        self._weights_sparse_given = sparse_given

    @property
    def propagation(self) -> str:
        """How the edge propagates: ``"auto"``, ``"event"`` or ``"matvec"``."""
        return self._propagation

    @propagation.setter
    def propagation(self, value: str) -> None:
        self._propagation = check_mode(value, f"edge {self.source!r} -> {self.target!r}")

    @property
    def weights(self):
        """The weights in the form they were given (read-only dense view, or a CSR copy)."""
        return as_given(self._weights, self._weights_sparse_given)

    def scale_weights(self, factor: float) -> None:
        """Multiply the weights by ``factor`` (in the network's dtype), keeping their storage.

        Dense weights stay dense and CSR weights keep their sparsity structure (a factor of 0
        leaves explicit zeros), so a compiled kernel of the network stays valid. The mask of
        ``add_edge`` needs no second application: it was applied to the stored weights.

        Parameters
        ----------
        factor : float
            A finite real number.
        """
        try:
            ok = np.isfinite(float(factor))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise NetworkError(
                f"edge {self.source!r} -> {self.target!r}: scale_weights needs a finite number, "
                f"got {factor!r}"
            )
        s = np.dtype(self.dtype).type(factor)
        if is_sparse(self._weights):
            scaled = self._weights.copy()
            scaled.data = scaled.data * s
        else:
            scaled = self._weights * s
        self._weights = scaled

    def connections(self) -> tuple[np.ndarray, np.ndarray]:
        """Target and source index of every stored weight, in storage order.

        Returns
        -------
        tuple of numpy.ndarray
            ``(rows, cols)``: every entry of a dense matrix row by row, or the stored entries of
            a CSR matrix in its data order.
        """
        w = self._weights
        if is_sparse(w):
            rows = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
            return rows, np.asarray(w.indices, dtype=np.int64)
        n_t, n_s = w.shape
        return np.repeat(np.arange(n_t), n_s), np.tile(np.arange(n_s), n_t)

    def get_var(self, var: str):
        """A state (per connection) or a parameter of a template edge.

        Parameters
        ----------
        var : str
            A variable of the edge template (``"var"`` or ``"op/var"``).

        Returns
        -------
        numpy.ndarray or float
            See :meth:`rectinumba.edge_model.EdgeDynamics.get`.
        """
        return self._template_model("get_var").get(var)

    def set_var(self, var: str, value) -> None:
        """Set the current value of a template edge's state or parameter.

        Parameters
        ----------
        var : str
            A variable of the edge template.
        value : float or array_like
            See :meth:`rectinumba.edge_model.EdgeDynamics.set_value` (the initial value that
            ``reset`` returns to stays).
        """
        self._template_model("set_var").set_value(var, value, initial=False)

    def _template_model(self, what: str):
        if self.dynamics is None:
            raise NetworkError(
                f"edge {self.label}: {what} reads variables of a template edge; this edge has "
                "no template (its weights: edge.weights)"
            )
        return self.dynamics
    def steps(self, dt: float) -> np.ndarray:
        """The delays in whole steps for integration step ``dt``.

        Parameters
        ----------
        dt : float
            The integration step.

        Returns
        -------
        numpy.ndarray
            int64 steps: shape (), (n_target,) or (n_target, n_source); ``round(delay / dt)``
            (halves to even) for delays in time units.
        """
        if self.delay_kind is None:
            return np.zeros((), np.int64)
        if self._delay_steps is not None:
            return self._delay_steps.copy()
        from .history import delay_steps

        return delay_steps(self._delay, dt, what=f"edge {self.source!r} -> {self.target!r} delay")

    @property
    def fmt(self) -> str:
        """How the weights run: ``"dense"`` or ``"csr"``."""
        return "csr" if is_sparse(self._weights) else "dense"

    @property
    def shape(self) -> tuple[int, int]:
        """(n_target, n_source)."""
        return tuple(self._weights.shape)

    @property
    def label(self) -> str:
        """``"source -> target"`` (with ``#n`` for a further edge between the same nodes)."""
        extra = f" #{self.key[2]}" if len(self.key) > 2 else ""
        return f"{self.source!r} -> {self.target!r}{extra}"

    def __repr__(self) -> str:
        fb = ", feedback" if self.feedback else ""
        vars_ = ""
        if self.source_var is not None or self.target_var is not None:
            vars_ = f", {self.source_var or 'output'} -> {self.target_var or 'input'}"
        delayed = ", delayed" if self.delay_kind else ""
        return (
            f"Edge({self.label}, {self.shape}, train={self.train!r}{fb}{vars_}{delayed})"
        )
