"""What a sweep keeps of each point's recordings: the raw traces, streamed statistics over time, or
a user function of the chunk's Observer.

Runs of long horizons are split into segments (to bound input memory); a reduction sees the
recordings one segment at a time. The statistics over time (``"mean"``, ``"std"``, ``"min"``,
``"max"``, ``"last"``) fold each segment into running values, so a worker never holds a chunk's
whole traces; raw recordings and user functions need them whole and concatenate the segments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import NetworkError

__all__ = ["STATISTICS", "Reduction", "make_reduction", "record_name"]

STATISTICS = ("mean", "std", "min", "max", "last")


def record_name(key: Any) -> str:
    """Result name of a recording.

    Parameters
    ----------
    key : str or tuple
        ``"out"`` or ``(node, var)``.

    Returns
    -------
    str
        ``"out"`` or ``"node/var"``.
    """
    return key if isinstance(key, str) else f"{key[0]}/{key[1]}"


class Reduction:
    """Folds a chunk's recordings, segment by segment, into per-point outputs.

    Parameters
    ----------
    kind : str
        ``"raw"``, ``"stats"`` or ``"call"``.
    stats : tuple of str
        The statistics of ``kind="stats"``.
    func : callable or None
        The user function of ``kind="call"``.
    """

    def __init__(
        self, kind: str, stats: tuple[str, ...] = (), func: Callable | None = None
    ) -> None:
        self.kind, self.stats, self.func = kind, stats, func

    @property
    def label(self) -> str:
        """Short text for result metadata."""
        if self.kind == "raw":
            return "none"
        if self.kind == "stats":
            return ",".join(self.stats)
        return getattr(self.func, "__qualname__", type(self.func).__name__)

    def start(self) -> dict:
        """An empty accumulator.

        Returns
        -------
        dict
            Filled by :meth:`update`.
        """
        return {}

    def update(self, acc: dict, key: Any, arr: np.ndarray) -> None:
        """Fold one segment's recording ``arr`` (trials, recordings, ...) of ``key`` into ``acc``.

        Parameters
        ----------
        acc : dict
            The accumulator from :meth:`start`.
        key : hashable
            ``"out"`` or ``(node, var)``.
        arr : numpy.ndarray
            The segment's recordings, trials first, then time.
        """
        if self.kind != "stats":
            acc.setdefault(key, []).append(arr)
            return
        if arr.shape[1] == 0:
            return
        n = arr.shape[1]
        mean = arr.mean(axis=1)
        m2 = ((arr - mean[:, None]) ** 2).sum(axis=1)
        last = arr[:, -1]
        lo, hi = arr.min(axis=1), arr.max(axis=1)
        old = acc.get(key)
        if old is None:
            acc[key] = [n, mean, m2, lo, hi, last]
            return
        # Chan et al.'s pairwise update of count, mean and sum of squared deviations
        n0, mean0, m20, lo0, hi0, _ = old
        total = n0 + n
        delta = mean - mean0
        acc[key] = [
            total,
            mean0 + delta * (n / total),
            m20 + m2 + delta**2 * (n0 * n / total),
            np.minimum(lo0, lo),
            np.maximum(hi0, hi),
            last,
        ]

    def finish(self, acc: dict, keys: Sequence[Any], observer: Callable) -> dict[str, np.ndarray]:
        """Per-point outputs (name -> array with the trials first).

        Parameters
        ----------
        acc : dict
            The accumulator after the last segment.
        keys : sequence
            The recorded keys in order (``"out"`` first when the output is recorded).
        observer : callable
            Builds an Observer from {key: whole recording}; used by ``kind="call"``.

        Returns
        -------
        dict
            Name -> array, trials first.
        """
        if self.kind == "stats":
            out = {}
            for key in keys:
                n, mean, m2, lo, hi, last = acc[key]
                values = {
                    "mean": mean,
                    "std": np.sqrt(m2 / n),
                    "min": lo,
                    "max": hi,
                    "last": last,
                }
                picked = [values[s] for s in self.stats]
                out[record_name(key)] = picked[0] if len(picked) == 1 else np.stack(picked, 1)
            return out
        whole = {key: np.concatenate(acc[key], axis=1) for key in keys}
        if self.kind == "raw":
            return {record_name(k): v for k, v in whole.items()}
        return self._call(observer(whole))

    def _call(self, obs) -> dict[str, np.ndarray]:
        value = self.func(obs)
        items = value.items() if isinstance(value, dict) else [("reduced", value)]
        out = {}
        for name, arr in items:
            if not isinstance(name, str) or not name:
                raise NetworkError(
                    f"sweep reduce function returned a dict with key {name!r}; keys must be "
                    "non-empty strings"
                )
            arr = np.asarray(arr)
            if arr.ndim == 0 or arr.shape[0] != obs.n_trials:
                raise NetworkError(
                    f"sweep reduce function: {name!r} has shape {arr.shape}; it must have one "
                    f"row per trial of the chunk's Observer ({obs.n_trials}, ...)"
                )
            if arr.dtype.kind not in "biufc":
                raise NetworkError(
                    f"sweep reduce function: {name!r} has dtype {arr.dtype}; return numbers"
                )
            out[name] = arr
        return out

    def trailing_dims(self, name: str, key: Any, ndim: int, unit_dim: str) -> tuple[str, ...]:
        """Dimension names after the point axis of output ``name`` (of recording ``key``).

        Parameters
        ----------
        name : str
            Output name.
        key : hashable or None
            The recording it comes from (None for outputs of a user function).
        ndim : int
            Dimensions after the point axis.
        unit_dim : str
            Name of the recording's unit (neuron) axis.

        Returns
        -------
        tuple of str
            One name per dimension.
        """
        if key is None:
            return tuple(f"{name}/dim_{i}" for i in range(ndim))
        dims = ("time",) if self.kind == "raw" else ()
        if self.kind == "stats" and len(self.stats) > 1:
            dims = ("stat",)
        dims += (unit_dim,) * (ndim - len(dims))
        return dims


def make_reduction(reduce: Any) -> Reduction:
    """A :class:`Reduction` from the ``reduce`` argument of :func:`~rectinumba.sweeps.sweep`.

    Parameters
    ----------
    reduce : None, str, sequence of str or callable
        ``None`` keeps the raw recordings; a statistic name or several; or a function of the
        chunk's Observer.

    Returns
    -------
    Reduction
        The validated reduction.
    """
    if reduce is None:
        return Reduction("raw")
    if callable(reduce):
        return Reduction("call", func=reduce)
    stats = (reduce,) if isinstance(reduce, str) else reduce
    try:
        stats = tuple(stats)
    except TypeError:
        stats = ()
    unknown = [s for s in stats if s not in STATISTICS]
    if not stats or unknown or len(set(stats)) != len(stats):
        raise NetworkError(
            f"sweep reduce must be None, one of {STATISTICS}, a sequence of distinct ones, or a "
            f"function of the Observer; got {reduce!r}"
        )
    return Reduction("stats", stats=stats)
