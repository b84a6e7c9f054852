"""Recordings of a simulation or training run, kept as numpy arrays.

An :class:`Observer` is what ``Network.run``, ``Network.test`` and the ``fit_*`` methods return.
It is a small dictionary of numpy arrays with a time axis attached:

- ``obs["out"]``: the network output, shape ``(recordings, n_out)``;
- ``obs[(node, var)]``: a variable requested with ``record_vars=[(node, var, reduce)]``, shape
  ``(recordings, N)`` (``(recordings,)`` when ``reduce`` is true: the mean over neurons);
- anything else the run stored with :meth:`Observer.save` (``"loss"``, ``"epoch_loss"``,
  ``"w_out"``, ``"y"``, ...).

Batched runs (inputs of shape ``(B, T, m)``) put a leading trial axis on the recordings:
``(B, recordings, ...)``; :attr:`Observer.n_trials` is then ``B`` (``None`` for unbatched runs).

Time axis: recording ``k`` lies ``k * sampling_steps * dt`` (model time units) after the first
recording, which is RectiPy's convention; steps discarded by ``cutoff`` are not on the axis.

pandas (``to_dataframe``) and matplotlib (``plot``, ``matshow``) are optional extras, imported
only when those methods are called.
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable, Iterable, Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from .errors import RectinumbaError
from .validate import number

__all__ = ["Observer"]

Key = Hashable  # "out", "loss", ... or a (node, var) tuple


class _MissingKey(KeyError):
    """A ``KeyError`` whose message reads as text (``KeyError`` quotes its message otherwise)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _require(module: str, extra: str, what: str) -> ModuleType:
    """Import an optional dependency or raise an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{what} needs the optional dependency {module.split('.')[0]!r}: "
            f"pip install rectinumba[{extra}]"
        ) from err


def _label(key: Key) -> str:
    """Axis/legend text for a key: ``"out"`` or ``"lif: v"`` for ``("lif", "v")``."""
    if isinstance(key, tuple) and len(key) == 2:
        return f"{key[0]}: {key[1]}"
    return str(key)


def _rows(arr: np.ndarray) -> np.ndarray:
    """View ``arr`` as (rows, columns): a scalar is 1x1, a vector one column, trailing axes flat."""
    if arr.ndim == 0:
        return arr.reshape(1, 1)
    return arr.reshape(arr.shape[0], int(np.prod(arr.shape[1:], dtype=np.int64)))


def _normalise_record_vars(
    record_vars: Iterable[Sequence[Any]] | None,
) -> list[tuple[str, str, bool]]:
    """Validate ``record_vars`` entries ``(node, var)`` or ``(node, var, reduce)``."""
    triples: list[tuple[str, str, bool]] = []
    seen: set[tuple[str, str]] = set()
    for entry in record_vars or ():
        if isinstance(entry, str) or not isinstance(entry, Sequence) or len(entry) not in (2, 3):
            raise RectinumbaError(
                f"record_vars entries must be (node, var) or (node, var, reduce) tuples, "
                f"got {entry!r}"
            )
        node, var = entry[0], entry[1]
        reduce = bool(entry[2]) if len(entry) == 3 else False
        edge = isinstance(node, tuple) and all(isinstance(p, (str, int)) for p in node)
        if not (isinstance(node, str) or edge) or not isinstance(var, str):
            raise RectinumbaError(
                f"record_vars entry {tuple(entry)!r}: node and variable must be strings (or an "
                "edge key (source, target) for a template edge's variable)"
            )
        if (node, var) in seen:
            raise RectinumbaError(f"record_vars lists ({node!r}, {var!r}) twice")
        seen.add((node, var))
        triples.append((node, var, reduce))
    return triples


class Observer:
    """Recordings of one run: output, losses and requested state variables as numpy arrays.

    Parameters
    ----------
    dt : float
        Integration step size of the run (model time units).
    record_output : bool, default True
        Whether the run records the network output under ``"out"``.
    record_loss : bool, default True
        Whether the run records the loss under ``"loss"``.
    record_vars : list of tuple, optional
        Variables to record: ``(node, var)`` or ``(node, var, reduce)`` tuples; each recording
        is stored under the key ``(node, var)``; ``reduce=True`` means the mean over neurons.
    sampling_steps : int, default 1
        Number of integration steps between two recordings.
    n_trials : int, optional
        Number of independent trials of a batched run (recordings then carry a leading trial
        axis); ``None`` for an unbatched run.

    Examples
    --------
    >>> obs = Observer(dt=1e-3, record_vars=[("lif", "v", False)])
    >>> obs.save("out", np.zeros((100, 2)))
    >>> obs["out"].shape, obs.time[:2]
    ((100, 2), array([0.   , 0.001]))
    """

    def __init__(
        self,
        dt: float,
        record_output: bool = True,
        record_loss: bool = True,
        record_vars: Iterable[Sequence[Any]] | None = None,
        sampling_steps: int = 1,
        *,
        n_trials: int | None = None,
    ) -> None:
        dt = number(dt, "Observer: dt", error=RectinumbaError)
        if not np.isfinite(dt) or dt <= 0.0:
            raise RectinumbaError(f"Observer: dt must be a positive number, got {dt!r}")
        if (
            isinstance(sampling_steps, bool)
            or int(sampling_steps) != sampling_steps
            or sampling_steps < 1
        ):
            raise RectinumbaError(
                f"Observer: sampling_steps must be a positive integer, got {sampling_steps!r}"
            )
        if n_trials is not None and (int(n_trials) != n_trials or n_trials < 1):
            raise RectinumbaError(
                f"Observer: n_trials must be a positive integer, got {n_trials!r}"
            )
        self._dt = dt
        self._sampling_steps = int(sampling_steps)
        self._n_trials = None if n_trials is None else int(n_trials)
        self._record_output = bool(record_output)
        self._record_loss = bool(record_loss)
        self._record_vars = _normalise_record_vars(record_vars)
        self._store: dict[Key, np.ndarray] = {}
        # keys whose first axis (after the trial axis) is the recording axis
        self._series: set[Key] = set()
        # Observer.record(): step of each recording, and the values until they are stacked
        self._steps: list[int] = []
        self._pending: dict[Key, list] = {}

    @property
    def _data(self) -> dict[Key, np.ndarray]:
        """Everything stored; values recorded one by one (:meth:`record`) stacked on access."""
        if self._pending:
            for key, values in self._pending.items():
                if values:
                    old = self._store.get(key)
                    new = np.stack([np.asarray(v) for v in values])
                    self._store[key] = new if old is None else np.concatenate([old, new])
            self._pending = {}
        return self._store

    # ------------------------------------------------------------------ configuration
    @property
    def dt(self) -> float:
        """Integration step size of the run."""
        return self._dt

    @property
    def sampling_steps(self) -> int:
        """Integration steps between two recordings."""
        return self._sampling_steps

    @property
    def n_trials(self) -> int | None:
        """Number of trials of a batched run, ``None`` for an unbatched run."""
        return self._n_trials

    @property
    def record_output(self) -> bool:
        """Whether the run records the network output under ``"out"``."""
        return self._record_output

    @property
    def record_loss(self) -> bool:
        """Whether the run records the loss under ``"loss"``."""
        return self._record_loss

    @property
    def record_vars(self) -> list[tuple[str, str, bool]]:
        """The requested variables as ``(node, var, reduce)`` triples."""
        return list(self._record_vars)

    @property
    def recorded_state_variables(self) -> list[tuple[str, str]]:
        """Keys ``(node, var)`` of the requested variables, in the order requested."""
        return [(node, var) for node, var, _ in self._record_vars]

    @property
    def recorded_rnn_variables(self) -> list[tuple[str, str]]:
        """RectiPy's older name of :attr:`recorded_state_variables` (its observer page uses it)."""
        return self.recorded_state_variables

    # ------------------------------------------------------------------ storage
    def save(self, key: Key, value: Any, *, time_series: bool | None = None) -> None:
        """Store ``value`` (converted with ``np.asarray``) under ``key``.

        Parameters
        ----------
        key : str or tuple of (str, str)
            A string or a ``(node, var)`` tuple.
        value : array_like
            Anything ``np.asarray`` accepts.
        time_series : bool, optional
            Whether the array is a recording over time (its first axis, after the trial axis of
            a batched run, is the recording axis; ``to_dataframe``/``plot`` then use
            :attr:`time`). Default: true for ``"out"`` and the keys of ``record_vars``.
        """
        try:
            hash(key)
        except TypeError as err:
            raise RectinumbaError(f"Observer keys must be hashable, got {key!r}") from err
        arr = np.asarray(value)
        if time_series is None:
            time_series = key == "out" or key in self.recorded_state_variables
        if (
            time_series
            and self._n_trials is not None
            and (arr.ndim < 2 or arr.shape[0] != self._n_trials)
        ):
            raise RectinumbaError(
                f"Observer: recording {key!r} of a batched run must have shape "
                f"({self._n_trials}, recordings, ...), got {arr.shape}"
            )
        self._data[key] = arr  # (the property flushes pending record() values first)
        if time_series:
            self._series.add(key)
        else:
            self._series.discard(key)

    def record(
        self,
        step: int,
        output: Any = None,
        loss: Any = None,
        record_vars: Sequence[Any] | None = None,
    ) -> None:
        """Append one recording, as RectiPy's ``Observer.record`` (for hand-written loops).

        Parameters
        ----------
        step : int
            Integration step of this recording; :attr:`time` is then ``step * dt``.
        output : array_like, optional
            The network output (stored under ``"out"`` when the observer records the output).
        loss : float or array_like, optional
            The loss (stored under ``"loss"`` when the observer records the loss).
        record_vars : sequence of array_like, optional
            One value per entry of the observer's ``record_vars``, in that order (e.g.
            ``[net.get_var("qif", "v")]``); an entry with ``reduce=True`` stores the mean.

        Raises
        ------
        RectinumbaError
            For a batched observer, a wrong number of ``record_vars`` values, or a missing
            output or loss that the observer records.
        """
        if self._n_trials is not None:
            raise RectinumbaError("Observer.record: not available for a batched observer")
        values = list(record_vars or ())
        if len(values) != len(self._record_vars):
            raise RectinumbaError(
                f"Observer.record: got {len(values)} record_vars value(s) for the "
                f"{len(self._record_vars)} variable(s) {self.recorded_state_variables}"
            )
        if isinstance(step, bool) or int(step) != step:
            raise RectinumbaError(f"Observer.record: step must be an integer, got {step!r}")
        for what, flag, value in (("output", self._record_output, output),
                                  ("loss", self._record_loss, loss)):  # fmt: skip
            if flag and value is None:
                raise RectinumbaError(
                    f"Observer.record: the observer records the {what}; pass {what}=... "
                    f"(or build it with record_{what}=False)"
                )
        entries = [((n, v), np.mean(val) if red else np.array(val, dtype=float))
                   for (n, v, red), val in zip(self._record_vars, values, strict=True)]  # fmt: skip
        if self._record_output:
            entries.append(("out", np.array(output, dtype=float)))
        if self._record_loss:
            entries.append(("loss", np.array(loss, dtype=float)))
        for key, value in entries:
            if key in self._store and key not in self._pending and key not in self._series:
                raise RectinumbaError(f"Observer.record: {key!r} holds a saved, non-recorded value")
            self._pending.setdefault(key, []).append(value)
            self._series.add(key)
        self._steps.append(int(step))

    @property
    def recorded_variables(self) -> list[Key]:
        """Keys of the recordings over time (``"out"``, ``"loss"``, ``(node, var)``...)."""
        return [key for key in self.keys() if key in self._series]

    def __getitem__(self, key: Key) -> np.ndarray:
        try:
            return self._data[key]
        except (KeyError, TypeError):
            pass
        message = f"{key!r} was not recorded; recorded keys: {self.keys()}"
        if isinstance(key, str) and "/" in key:
            node, _, var = key.partition("/")
            if (node, var) in self._data:
                message += f" (did you mean ({node!r}, {var!r})?)"
        elif isinstance(key, tuple) and len(key) == 3 and key[:2] in self._data:
            message += f" (keys of record_vars drop the reduce flag: use {key[:2]!r})"
        raise _MissingKey(message)

    def to_numpy(self, key: Key) -> np.ndarray:
        """The recording under ``key`` as a numpy array (the same as ``obs[key]``).

        Parameters
        ----------
        key : str or tuple of (str, str)
            ``"out"``, ``(node, var)`` or another stored key.

        Returns
        -------
        numpy.ndarray
            The stored array.
        """
        return self[key]

    def keys(self) -> list[Key]:
        """Keys of everything stored, in the order stored.

        Returns
        -------
        list
            Strings and ``(node, var)`` tuples.
        """
        return list(self._data)

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._data
        except TypeError:  # unhashable keys are never stored
            return False

    def __iter__(self) -> Iterator[Key]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    # ------------------------------------------------------------------ time axis
    def _n_recordings(self, key: Key) -> int:
        arr = self._data[key]
        axis = 1 if self._n_trials is not None else 0
        return int(arr.shape[axis]) if arr.ndim > axis else 1

    def _time_for(self, n: int) -> np.ndarray:
        if self._steps and len(self._steps) == n:  # recorded by record(step, ...)
            return np.asarray(self._steps, dtype=np.float64) * self._dt
        return np.arange(n) * (self._dt * self._sampling_steps)

    @property
    def time(self) -> np.ndarray:
        """Time of each recording, ``k * sampling_steps * dt`` after the first (``step * dt``
        for recordings made with :meth:`record`).

        The number of recordings is that of ``"out"``, or else of the first recorded variable;
        an empty array when nothing was recorded.
        """
        for key in ["out", *self.recorded_state_variables]:
            if key in self._data:
                return self._time_for(self._n_recordings(key))
        return self._time_for(0)

    # ------------------------------------------------------------------ views
    def _as_2d(self, key: Key, trial: int | None) -> np.ndarray:
        """Recording of one trial as (recordings, dims); trailing axes are flattened."""
        arr = self[key]
        batched = self._n_trials is not None and key in self._series
        if batched:
            if trial is None:
                raise RectinumbaError(
                    f"{key!r} holds {self._n_trials} trials: pass trial=<index> to choose one"
                )
            if (
                isinstance(trial, bool)
                or not isinstance(trial, (int, np.integer))
                or not -self._n_trials <= trial < self._n_trials
            ):
                raise RectinumbaError(
                    f"trial={trial!r} is not a trial index of {key!r}: it holds "
                    f"{self._n_trials} trials (0 to {self._n_trials - 1})"
                )
            arr = arr[trial]
        elif trial is not None:
            raise RectinumbaError(f"{key!r} has no trial axis; call without trial=")
        return _rows(arr)

    def to_dataframe(self, key: Key) -> Any:
        """The recording under ``key`` as a pandas DataFrame.

        Recordings over time are indexed by :attr:`time` (a MultiIndex ``(trial, time)`` for a
        batched run), with one column per dimension (trailing axes flattened). Other stored
        arrays keep a plain integer index.

        Parameters
        ----------
        key : str or tuple of (str, str)
            ``"out"``, ``(node, var)`` or another stored key.

        Returns
        -------
        pandas.DataFrame
            One row per recording (per trial and recording for a batched run).

        Raises
        ------
        ImportError
            If pandas is not installed (``pip install rectinumba[pandas]``).
        """
        pd = _require("pandas", "pandas", "Observer.to_dataframe")
        arr = self[key]
        if key not in self._series:
            return pd.DataFrame(_rows(arr))
        n = self._n_recordings(key)
        time = self._time_for(n)
        if self._n_trials is None:
            index = pd.Index(time, name="time")
            return pd.DataFrame(_rows(arr), index=index)
        index = pd.MultiIndex.from_product([range(self._n_trials), time], names=["trial", "time"])
        return pd.DataFrame(_rows(arr.reshape(self._n_trials * n, *arr.shape[2:])), index=index)

    def plot(
        self,
        y: Key | list[Key],
        x: Key | None = None,
        ax: Any = None,
        *,
        trial: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Line plot of one recording (or a list of them) against time or another recording.

        Parameters
        ----------
        y : str or tuple of (str, str) or list
            A key, or a list of keys (one legend entry each).
        x : str or tuple of (str, str), optional
            Key of the x values; ``None`` plots against :attr:`time`. With several columns in
            both, column i of y is drawn against column i of x (matplotlib's rule, as RectiPy's
            ``plot(y=("qif", "v"), x="out")``); one column of either pairs with every column of
            the other.
        ax : matplotlib.axes.Axes, optional
            matplotlib Axes to draw in; a new figure is made when ``None`` (``figsize=`` may
            be passed for it).
        trial : int, optional
            Trial to plot, required for recordings of a batched run.
        **kwargs : dict
            Passed on to ``Axes.plot``.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn in.

        Raises
        ------
        ImportError
            If matplotlib is not installed (``pip install rectinumba[plot]``).
        """
        plt = _require("matplotlib.pyplot", "plot", "Observer.plot")
        figsize = kwargs.pop("figsize", None)
        if ax is None:
            _, ax = plt.subplots(figsize=figsize)
        keys = list(y) if isinstance(y, list) else [y]
        xs = None if x is None else self._as_2d(x, trial if x in self._series else None)
        for key in keys:
            ys = self._as_2d(key, trial)
            if xs is None:
                xv = self._time_for(ys.shape[0])
            elif xs.shape[0] != ys.shape[0] or not (
                1 in (xs.shape[1], ys.shape[1]) or xs.shape[1] == ys.shape[1]
            ):
                raise RectinumbaError(
                    f"plot: x={x!r} of shape {xs.shape} does not pair with y={key!r} of shape "
                    f"{ys.shape}: same number of values, and one column or as many columns"
                )
            else:
                xv = xs[:, 0] if xs.shape[1] == 1 else xs
            lines = ax.plot(xv, ys, **kwargs)
            if len(keys) > 1 and lines and "label" not in kwargs:
                lines[0].set_label(_label(key))
        if len(keys) > 1:
            ax.legend()
        ax.set_xlabel("time" if x is None else _label(x))
        ax.set_ylabel(", ".join(_label(k) for k in keys))
        return ax

    def matshow(self, v: Key, ax: Any = None, *, trial: int | None = None, **kwargs: Any) -> Any:
        """Image of a (recordings, dims) recording: dims on the y axis, time on the x axis.

        Useful for spike rasters and population activity.

        Parameters
        ----------
        v : str or tuple of (str, str)
            Key of the recording.
        ax : matplotlib.axes.Axes, optional
            matplotlib Axes to draw in; a new figure is made when ``None`` (``figsize=`` may
            be passed for it).
        trial : int, optional
            Trial to show, required for recordings of a batched run.
        **kwargs : dict
            Passed on to ``Axes.imshow`` (defaults: ``aspect="auto"``, ``origin="lower"``,
            ``interpolation="nearest"``, an ``extent`` spanning :attr:`time`); ``colorbar=False``
            omits the colour bar, ``shrink=`` sizes it (default 0.6).

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn in.

        Raises
        ------
        ImportError
            If matplotlib is not installed (``pip install rectinumba[plot]``).
        """
        plt = _require("matplotlib.pyplot", "plot", "Observer.matshow")
        figsize = kwargs.pop("figsize", None)
        shrink = kwargs.pop("shrink", 0.6)
        colorbar = kwargs.pop("colorbar", True)
        data = self._as_2d(v, trial)
        n, dims = data.shape
        if n == 0:
            raise RectinumbaError(f"matshow: {v!r} holds no recordings")
        if ax is None:
            _, ax = plt.subplots(figsize=figsize)
        if v in self._series:
            step = self._dt * self._sampling_steps
            extent = (0.0, n * step, -0.5, dims - 0.5)
            xlabel = "time"
        else:
            extent = (-0.5, n - 0.5, -0.5, dims - 0.5)
            xlabel = "index"
        opts = {"aspect": "auto", "origin": "lower", "interpolation": "nearest", "extent": extent}
        opts.update(kwargs)
        image = ax.imshow(data.T, **opts)
        if colorbar:
            ax.figure.colorbar(image, ax=ax, shrink=shrink)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(_label(v))
        return ax

    def __repr__(self) -> str:
        head = f"Observer(dt={self._dt:g}, sampling_steps={self._sampling_steps}"
        if self._n_trials is not None:
            head += f", n_trials={self._n_trials}"
        head += f", {len(self.time)} recordings)"
        if not self._data:
            return head + " with nothing stored"
        rows = [f"  {key!r}: {arr.dtype} {arr.shape}" for key, arr in self._data.items()]
        return "\n".join([head, *rows])
