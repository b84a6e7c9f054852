"""The points of a sweep: a grid or a table of values, each key resolved against the network.

Keys (as the user writes them, and as results are labelled):

- ``"node/op/var"`` or ``"node/var"``: a parameter, an undriven input or the initial value of a
  state variable of a diff-eq node; with a single diff-eq node the node may be left out
  (``"eta"``). A table column may hold one value per point, shape (P,), or one per point and
  neuron, shape (P, N).
- ``"node/weights"``: a factor on the node's coupling J (the point runs with ``s * J``).
- ``"source->target"``: a factor on the weights of that edge (``Edge.scale_weights``).
- ``"inputs"``: a factor on the input array.

J and edge weights are shared by the trials of a batched kernel, so points are grouped by the
factors of those two kinds and each group runs in its own batched calls (results stay exact: every
point runs with exactly the matrix ``set_var(node, "weights", s * J)`` or
``get_edge(source, target).scale_weights(s)`` gives it).

``"seed"``: the noise seed of each point of a noisy model (integers ``0 <= seed < 2**63``). It
travels with the point rows like any other column and becomes the per-trial seed of the batched
run (``net.seed = seeds``, which restarts the noise stream): a point's noise depends on its seed
alone, not on the chunk, the worker or the executor it lands on, and equals a run of the point
alone with ``run(..., seed=seed)``. Without a seed column, point ``p`` of a noisy model takes the
seed :func:`point_seed` ``(net.seed, p)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NetworkError

__all__ = ["Target", "ParamTable", "INPUT_SCALE", "SEED", "point_seed", "is_noisy"]

#: key of the factor on the input array
INPUT_SCALE = "inputs"
#: key of the per-point seeds of noisy models
SEED = "seed"


def is_noisy(net) -> bool:
    """Whether a network's models draw white noise.

    Parameters
    ----------
    net : Network
        The network.

    Returns
    -------
    bool
        True when a diff-eq node's model has a noise (``xi``).
    """
    return any(
        net[label]["kind"] == "diffeq" and net.get_node(label).model.noises for label in net.nodes
    )


def point_seed(seed, p: int) -> int:
    """The seed of point ``p`` of a sweep of a noisy network without a ``"seed"`` column.

    Parameters
    ----------
    seed : int
        The network's seed (``net.seed``).
    p : int
        Point index (in the parameter table's order).

    Returns
    -------
    int
        ``rectinumba.noise.trial_key(seed, p)``: independent of chunks and executors.
    """
    from ..noise import trial_key

    if isinstance(seed, tuple):
        raise NetworkError(
            "the network has one seed per trial; a sweep of a noisy network needs one integer "
            "seed (net.seed = s) or a 'seed' column"
        )
    return trial_key(seed, int(p))


@dataclass(frozen=True)
class Target:
    """What one parameter key sets.

    Parameters
    ----------
    key : str
        The key as the user wrote it.
    kind : str
        ``"var"`` (node variable), ``"weights"`` (factor on J), ``"edge"`` (factor on an edge's
        weights) or ``"inputs"`` (factor on the input array).
    node : str or None
        Node label (``"var"``, ``"weights"``).
    var : str or None
        Variable name as given after the node label (``"var"``).
    edge : tuple of str or None
        (source, target) labels (``"edge"``).
    size : int
        Neurons of the node (``"var"``): a column may give one value per neuron.
    """

    key: str
    kind: str
    node: str | None = None
    var: str | None = None
    edge: tuple[str, str] | None = None
    size: int = 1

    @property
    def shared(self) -> bool:
        """Whether all trials of one batched call must share the value (J and edge weights)."""
        return self.kind in ("weights", "edge")


def _resolve(net, key: Any) -> tuple[Target, tuple]:
    """The target of ``key`` and an identity that two keys for the same thing share."""
    if not isinstance(key, str) or not key:
        raise NetworkError(f"sweep parameter keys must be non-empty strings, got {key!r}")
    if key == SEED:
        if not is_noisy(net):
            raise NetworkError(
                "sweep parameter 'seed' gives each point its noise seed, but no model of the "
                "network has noise (xi)"
            )
        return Target(key, "seed"), ("seed",)
    if key == INPUT_SCALE:
        return Target(key, "inputs"), ("inputs",)
    if "->" in key:
        source, _, target = (part.strip() for part in key.partition("->"))
        net.get_edge(source, target)  # NetworkError listing the edges
        return Target(key, "edge", edge=(source, target)), ("edge", source, target)
    # labels may hold "/" themselves (circuit nodes: "jrc1/pc"): the longest label that the key
    # starts with wins ("a/b/eta" is node "a/b" before node "a" with variable "b/eta")
    heads = sorted((lb for lb in net.nodes if key.startswith(lb + "/")), key=len, reverse=True)
    if heads:
        label, var = heads[0], key[len(heads[0]) + 1 :]
    else:
        diffeq = [label for label in net.nodes if net[label]["kind"] == "diffeq"]
        if len(diffeq) != 1:
            raise NetworkError(
                f"sweep parameter {key!r} names no node: write 'node/var' "
                f"(nodes: {net.nodes}), 'node/weights', 'source->target' or 'inputs'"
            )
        label, var = diffeq[0], key
    node = net.get_node(label)
    if node.kind != "diffeq":
        raise NetworkError(
            f"sweep parameter {key!r}: node {label!r} is a function node; it has no parameters",
            node=label,
        )
    try:
        net.get_var(label, var)  # refuses unknown, algebraic and driven variables
        name = "weights" if var == "weights" else node.resolve(var)
    except NetworkError as err:
        raise NetworkError(
            f"sweep parameter {key!r}: {err.raw_message}", node=label, variable=var
        ) from None
    if name == "weights":
        return Target(key, "weights", node=label), ("weights", label)
    return Target(key, "var", node=label, var=var, size=node.N), ("var", label, name)


def _seed_column(value: Any) -> np.ndarray:
    """Seeds as a read-only int64 array (integers 0 <= seed < 2**63)."""
    arr = np.asarray(value)
    integral = np.issubdtype(arr.dtype, np.integer) or (
        np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr) & (arr == np.rint(arr)))
    )
    if arr.ndim != 1 or arr.size == 0 or not integral or (arr < 0).any() or (arr >= 2**63).any():
        raise NetworkError(
            f"sweep parameter 'seed': expected one integer 0 <= seed < 2**63 per point, got "
            f"{value!r}"
        )
    seeds = arr.astype(np.int64)
    seeds.flags.writeable = False
    return seeds


def _column(key: str, value: Any, *, grid: bool, target: Target) -> np.ndarray:
    """``value`` as a float64 array of one (or, in a table, one per neuron) value per point."""
    if target.kind == "seed":
        return _seed_column(value)
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise NetworkError(
            f"sweep parameter {key!r}: values must be real numbers, got {value!r}"
        ) from None
    if np.iscomplexobj(np.asarray(value)):
        raise NetworkError(f"sweep parameter {key!r}: values must be real numbers, not complex")
    per_neuron = not grid and target.kind == "var" and arr.ndim == 2 and arr.shape[1] == target.size
    if arr.ndim != 1 and not per_neuron:
        expected = (
            "a 1-D array of values (one grid axis)"
            if grid
            else "one value per point (P,)"
            + (f" or one per point and neuron (P, {target.size})" if target.kind == "var" else "")
        )
        raise NetworkError(
            f"sweep parameter {key!r}: expected {expected}, got an array of shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise NetworkError(f"sweep parameter {key!r} has no values")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1))[0])
        raise NetworkError(
            f"sweep parameter {key!r}: values must be finite; entry {bad} is {arr[bad]!r}"
        )
    arr.flags.writeable = False
    return arr


class ParamTable:
    """The points of a sweep, one row per point, with the network target of every column.

    Parameters
    ----------
    net : Network
        The network the keys refer to (read only).
    params : Mapping or pandas.DataFrame
        Key -> values. A mapping is a grid by default; a DataFrame is always a table.
    product : bool or None
        ``True``: the Cartesian product of the value arrays (grid; the first key varies slowest);
        ``False``: a table of equal-length columns, one row per point. ``None`` (default): a grid
        for a mapping, a table for a DataFrame.

    Attributes
    ----------
    columns : dict
        Key -> read-only float64 array, (P,) or (P, N).
    targets : dict
        Key -> :class:`Target`.
    axes : dict or None
        Grid axes (key -> values) in order, ``None`` for a table.
    shape : tuple of int
        The grid shape, or ``(P,)`` for a table.
    """

    def __init__(self, net, params: Any, product: bool | None = None) -> None:
        frame = hasattr(params, "columns") and hasattr(params, "to_numpy")  # pandas.DataFrame
        if frame:
            if product:
                raise NetworkError("a DataFrame is a table of points: pass product=False or None")
            params = {c: params[c].to_numpy() for c in params.columns}
            product = False
        if not isinstance(params, Mapping):
            raise NetworkError(
                "sweep params must be a mapping of parameter keys to values (or a pandas "
                f"DataFrame), got {type(params).__name__}"
            )
        if not params:
            raise NetworkError("sweep params is empty: give at least one parameter")
        grid = True if product is None else bool(product)
        self.targets: dict[str, Target] = {}
        seen: dict[tuple, str] = {}
        raw: dict[str, np.ndarray] = {}
        for key, value in params.items():
            target, identity = _resolve(net, key)
            if identity in seen:
                raise NetworkError(
                    f"sweep parameters {seen[identity]!r} and {key!r} set the same thing"
                )
            seen[identity] = key
            self.targets[key] = target
            raw[key] = _column(key, value, grid=grid, target=target)
        if grid:
            self.axes: dict[str, np.ndarray] | None = raw
            self.shape = tuple(len(v) for v in raw.values())
            mesh = np.meshgrid(*raw.values(), indexing="ij")
            self.columns = {k: m.reshape(-1) for k, m in zip(raw, mesh, strict=True)}
            for arr in self.columns.values():
                arr.flags.writeable = False
        else:
            lengths = {k: len(v) for k, v in raw.items()}
            if len(set(lengths.values())) != 1:
                raise NetworkError(
                    f"the columns of a sweep table must have one value per point; lengths: "
                    f"{lengths} (pass product=True for a grid)"
                )
            self.axes = None
            self.shape = (next(iter(lengths.values())),)
            self.columns = raw
        self.n_points = math.prod(self.shape)

    @property
    def shared_keys(self) -> list[str]:
        """Keys whose value all trials of one batched call share (J and edge factors)."""
        return [k for k, t in self.targets.items() if t.shared]

    def chunks(self, batch_size: int) -> list[np.ndarray]:
        """Point indices of each batched call, in point order.

        Points with equal shared factors form a group; each group is split into pieces of at most
        ``batch_size`` points, as equal in size as possible.

        Parameters
        ----------
        batch_size : int
            Points per batched call at most.

        Returns
        -------
        list of numpy.ndarray
            Point indices of each call.
        """
        shared = self.shared_keys
        if shared:
            rows = np.stack([self.columns[k] for k in shared], axis=1)
            _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
            groups = [np.flatnonzero(inverse == g) for g in np.argsort(first)]
        else:
            groups = [np.arange(self.n_points)]
        pieces = []
        for idx in groups:
            pieces.extend(np.array_split(idx, -(-len(idx) // batch_size)))
        return pieces

    def rows(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """The columns restricted to some points.

        Parameters
        ----------
        index : numpy.ndarray
            Point indices.

        Returns
        -------
        dict
            Key -> the values of those points.
        """
        return {k: np.ascontiguousarray(v[index]) for k, v in self.columns.items()}

    def point(self, i: int) -> dict[str, Any]:
        """The values of one point.

        Parameters
        ----------
        i : int
            Point index.

        Returns
        -------
        dict
            Key -> value (a float, or an (N,) array for per-neuron columns).
        """
        return {k: point_value(v, i) for k, v in self.columns.items()}


def point_value(column: np.ndarray, i: int) -> Any:
    """Value of one point in a column: an int (seeds), a float, or an (N,) array.

    Parameters
    ----------
    column : numpy.ndarray
        A column of a parameter table.
    i : int
        Row.

    Returns
    -------
    int or float or numpy.ndarray
        The value.
    """
    if column.ndim > 1:
        return column[i].copy()
    return int(column[i]) if column.dtype == np.int64 else float(column[i])
