"""The results of a sweep, labelled by parameter values: numpy arrays + the parameter table, and
their xarray form."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NetworkError
from .params import ParamTable
from .worker import ChunkResult

__all__ = ["SweepResult", "Assembler"]


class SweepResult:
    """Outputs of every point of a sweep, in point order (not completion order).

    Made by :func:`~rectinumba.sweeps.sweep` (``output="numpy"``).

    Parameters
    ----------
    table : ParamTable
        The points.
    data : dict
        Output name -> (P, ...) array.
    dims : dict
        Output name -> dimension names after the point axis.
    errors : numpy.ndarray
        (P,) reasons, ``""`` for points that ran to the end.
    coords : dict
        Dimension name -> coordinate values.
    attrs : dict
        Run settings.

    Attributes
    ----------
    params : dict
        Key -> the value of every point, (P,) or (P, N) (read-only arrays).
    axes : dict or None
        Grid axes (key -> values), ``None`` for a table of points.
    shape : tuple of int
        The grid shape, or ``(P,)`` for a table.
    data : dict
        Output name -> array with one row per point, (P, ...); NaN rows for failed points.
    dims : dict
        Output name -> names of the dimensions after the point axis (``"time"``, ``"stat"``,
        ``"<node>/neuron"``, ``"out/unit"``, ...).
    errors : numpy.ndarray
        (P,) strings: the reason a point failed, ``""`` where it ran to the end.
    coords : dict
        Dimension name -> coordinate values (``"time"``: recording times in model units, the
        first recording at 0 as in :class:`~rectinumba.Observer`; ``"stat"``: statistic names).
    attrs : dict
        Run settings (dt, steps, sampling_steps, cutoff, reduce, batch_size, chunks) and
        ``chunk_seconds``, the wall time of all chunks on their workers added up.
    """

    def __init__(
        self,
        table: ParamTable,
        data: dict[str, np.ndarray],
        dims: dict[str, tuple[str, ...]],
        errors: np.ndarray,
        coords: dict[str, np.ndarray],
        attrs: dict[str, Any],
    ) -> None:
        self.params = dict(table.columns)
        self.axes = None if table.axes is None else dict(table.axes)
        self.shape = table.shape
        self.data, self.dims, self.errors = data, dims, errors
        self.coords, self.attrs = coords, attrs
        self._per_neuron = {
            k: f"{t.node}/neuron" for k, t in table.targets.items() if table.columns[k].ndim == 2
        }

    @property
    def ok(self) -> np.ndarray:
        """(P,) booleans: whether each point ran to the end."""
        return self.errors == ""

    def __getitem__(self, name: str) -> np.ndarray:
        """Output ``name`` shaped like the grid: ``shape + dims`` (a view of :attr:`data`)."""
        try:
            arr = self.data[name]
        except KeyError:
            raise KeyError(f"no sweep output {name!r}; outputs: {sorted(self.data)}") from None
        return arr.reshape(self.shape + arr.shape[1:])

    def __repr__(self) -> str:
        kind = "grid" if self.axes is not None else "table"
        failed = int((~self.ok).sum())
        return (
            f"SweepResult({kind} {self.shape}, outputs={sorted(self.data)}, "
            f"{failed} failed point(s))"
        )

    def to_xarray(self) -> Any:
        """The results as an :class:`xarray.Dataset` (needs the ``xarray`` extra).

        A grid has one dimension per parameter (named by its key, with the parameter values as
        coordinate); a table has a ``"point"`` dimension with the parameter columns as
        coordinates along it. Data variables: the outputs, ``"error"`` (reason or ``""``) and
        ``"ok"``.

        Returns
        -------
        xarray.Dataset
            Outputs and errors labelled by parameter values.
        """
        try:
            import xarray as xr
        except ImportError as err:
            raise ImportError(
                "SweepResult.to_xarray needs the optional dependency 'xarray': "
                "pip install rectinumba[xarray]"
            ) from err
        if self.axes is not None:
            point_dims = tuple(self.axes)
            coords: dict[str, Any] = {k: (k, np.asarray(v)) for k, v in self.axes.items()}
        else:
            point_dims = ("point",)
            coords = {"point": np.arange(self.shape[0])}
            for k, v in self.params.items():
                coords[k] = (("point", self._per_neuron[k]) if v.ndim == 2 else ("point",), v)
        variables = {}
        for name, arr in self.data.items():
            dims = point_dims + self.dims[name]
            variables[name] = (dims, arr.reshape(self.shape + arr.shape[1:]))
        variables["error"] = (point_dims, self.errors.astype(str).reshape(self.shape))
        variables["ok"] = (point_dims, self.ok.reshape(self.shape))
        used = {d for dims, _ in variables.values() for d in dims}
        for dim, values in self.coords.items():
            if dim in used:
                coords[dim] = (dim, values)
        return xr.Dataset(variables, coords=coords, attrs=dict(self.attrs))


class Assembler:
    """Collects chunk results into point-ordered arrays, allocated when first seen.

    Parameters
    ----------
    n_points : int
        Points in the sweep.
    unit_dims : dict
        Recording key -> name of its unit axis (``"<node>/neuron"``).
    reduction : Reduction
        Names the dimensions of the outputs.
    """

    def __init__(self, n_points: int, unit_dims: dict[Any, str], reduction) -> None:
        self.n_points = n_points
        self.unit_dims, self.reduction = unit_dims, reduction
        self.data: dict[str, np.ndarray] = {}
        self.dims: dict[str, tuple[str, ...]] = {}
        self.errors = np.full(n_points, "", dtype=object)
        self.seconds = 0.0

    def add(self, result: ChunkResult) -> None:
        """Write one chunk's outputs and errors at their points.

        Parameters
        ----------
        result : ChunkResult
            A finished chunk.
        """
        self.seconds += result.seconds
        for pos, reason in result.errors.items():
            self.errors[result.index[pos]] = reason
        rows = result.index[result.ok]
        for name, arr in result.outputs.items():
            store = self.data.get(name)
            if store is None:
                store = self._allocate(name, arr, result.sources.get(name))
            elif store.shape[1:] != arr.shape[1:]:
                raise NetworkError(
                    f"sweep output {name!r} has shape {arr.shape[1:]} per point in one chunk and "
                    f"{store.shape[1:]} in another; a reduce function must return the same shape "
                    "for every chunk"
                )
            store[rows] = arr

    def _allocate(self, name: str, arr: np.ndarray, key: Any) -> np.ndarray:
        # integers and booleans cannot hold NaN for failed points: stored as float64
        dtype = arr.dtype if arr.dtype.kind in "fc" else np.float64
        store = np.full((self.n_points,) + arr.shape[1:], np.nan, dtype=dtype)
        if name.startswith("final:"):
            dims = (f"{name[6:].partition('/')[0]}/neuron",)
        else:
            unit = self.unit_dims.get(key, "unit")
            dims = self.reduction.trailing_dims(name, key, arr.ndim - 1, unit)
        self.data[name], self.dims[name] = store, dims
        return store
