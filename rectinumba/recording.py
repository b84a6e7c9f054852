"""What a run records: one small validated object (diffrax's ``SaveAt`` is the model).

:class:`Recording` holds the sampling interval, the cutoff, whether the output is recorded, the
variables and the sampling mode, validated at construction. The runner turns it into the kernel's
recording buffers; :meth:`Recording.observer` packs what a run recorded into an Observer.

Sampling modes (``run(..., sampling_mode=...)``, ``test(...)``):

``"subsample"`` (default; RectiPy 0.11)
    recording r is the value at step ``cutoff + r * sampling_steps``.
``"average"`` (RectiPy 0.12.2's ``sampling_steps``)
    recording r is the mean over the window of steps ``cutoff + r * sampling_steps`` up to (not
    including) ``cutoff + (r + 1) * sampling_steps``; the last window may be shorter (its mean is
    over the steps it has). The kernels accumulate into the recording buffers, so memory does
    not grow with T. The time axis is the same as for subsampling (window starts).

The default stays ``"subsample"``: it is what RectiPy 0.11 scripts and every existing test
expect, and it records states exactly as they are at a step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import NetworkError
from .validate import choice, integer

__all__ = ["Recording", "SAMPLING_MODES"]

#: sampling modes (the codegen's NetworkSpec.record_mode)
SAMPLING_MODES = ("subsample", "average")


@dataclass(frozen=True)
class Recording:
    """Validated recording settings of one run.

    Parameters
    ----------
    sampling : int
        Steps between two recordings (>= 1).
    cutoff : int
        Steps simulated before the first recording (>= 0).
    output : bool
        Record the network output (``obs["out"]``).
    vars : tuple
        ``(node, var, reduce)`` triples as the user gave them (reduce False when omitted).
    mode : str
        ``"subsample"`` or ``"average"`` (see the module docstring).
    """

    sampling: int = 1
    cutoff: int = 0
    output: bool = True
    vars: tuple = ()
    mode: str = "subsample"

    @classmethod
    def make(
        cls,
        sampling_steps=1,
        cutoff=0,
        record_output=True,
        record_vars: Sequence | None = None,
        mode: str = "subsample",
    ) -> Recording:
        """Validate user arguments into a Recording (a NetworkError names what is wrong).

        Parameters
        ----------
        sampling_steps : int
            Steps between two recordings.
        cutoff : int
            Steps before the first recording.
        record_output : bool
            Record the output.
        record_vars : sequence of tuple, optional
            ``(node, var)`` or ``(node, var, reduce)`` entries.
        mode : str
            Sampling mode.

        Returns
        -------
        Recording
            The settings.
        """
        sampling = integer(sampling_steps, "sampling_steps", low=1)
        cutoff = integer(cutoff, "cutoff")
        mode = choice(mode, "sampling_mode", SAMPLING_MODES)
        entries = []
        seen = set()
        for entry in record_vars or ():
            if isinstance(entry, str) or not isinstance(entry, (tuple, list)) or len(entry) not in (
                2,
                3,
            ):
                raise NetworkError(
                    f"record_vars entries are (node, var) or (node, var, reduce); got {entry!r}"
                )
            label, var = entry[0], entry[1]
            if (label, var) in seen:
                raise NetworkError(
                    f"record_vars lists ({label!r}, {var!r}) twice; "
                    "each (node, var) may appear once",
                    node=label if isinstance(label, str) else None,
                )
            seen.add((label, var))
            entries.append((label, var, bool(entry[2]) if len(entry) == 3 else False))
        return cls(sampling, cutoff, bool(record_output), tuple(entries), mode)

    # ---- sizes ---------------------------------------------------------------------------
    @property
    def any(self) -> bool:
        """Whether anything is recorded."""
        return self.output or bool(self.vars)

    def count(self, T: int) -> int:
        """Number of recordings of a run of T steps.

        Parameters
        ----------
        T : int
            Steps of the run.

        Returns
        -------
        int
            The number of recordings.
        """
        if not self.any:
            return 0
        return max(0, -(-(T - self.cutoff) // self.sampling))

    def window_sizes(self, T: int) -> np.ndarray:
        """Steps averaged into each recording of a run of T steps (average mode).

        Parameters
        ----------
        T : int
            Steps of the run.

        Returns
        -------
        numpy.ndarray
            One window length per recording.
        """
        starts = self.cutoff + self.sampling * np.arange(self.count(T))
        return np.minimum(self.sampling, T - starts)

    def sample(self, y: np.ndarray) -> np.ndarray:
        """Per-step values sampled as the recordings are (targets of test).

        Parameters
        ----------
        y : numpy.ndarray
            (B, T, ...) values.

        Returns
        -------
        numpy.ndarray
            (B, recordings, ...) values.
        """
        if self.mode == "subsample":
            return y[:, self.cutoff :: self.sampling]
        T, c, s = y.shape[1], self.cutoff, self.sampling
        n = max(0, -(-(T - c) // s))
        if not n:
            return y[:, :0]
        return np.stack([y[:, c + r * s : c + (r + 1) * s].mean(axis=1) for r in range(n)], axis=1)

    def finish(self, arrays, T: int) -> None:
        """Turn accumulated window sums into means, in place (average mode; else nothing).

        Parameters
        ----------
        arrays : sequence of numpy.ndarray
            Recording buffers (B, recordings, ...).
        T : int
            Steps of the run.
        """
        if self.mode != "average":
            return
        sizes = self.window_sizes(T).astype(np.float64)
        for arr in arrays:
            if arr.shape[1]:
                arr /= sizes.reshape((1, -1) + (1,) * (arr.ndim - 2)).astype(arr.dtype)

    # ---- results ------------------------------------------------------------------------------
    def observer(self, dt: float, out_rec, recs: dict, keys: list, batched: bool):
        """An Observer holding a run's recordings.

        Parameters
        ----------
        dt : float
            The network's step.
        out_rec : numpy.ndarray
            Output recordings (B, R, n_out).
        recs : dict
            (label, (var, reduce)) -> recordings (B, R, width).
        keys : list
            ``((label, var), label, (name, reduce))`` per record_vars entry, as resolved.
        batched : bool
            Whether the run was batched (recordings keep the trial axis).

        Returns
        -------
        Observer
            The recordings.
        """
        from .observer import Observer

        obs = Observer(
            dt,
            record_output=self.output,
            record_loss=False,
            record_vars=[tuple(k) for k, _, _ in keys] or None,
            sampling_steps=self.sampling,
            n_trials=out_rec.shape[0] if batched else None,
        )

        def pick(a):
            return a if batched else a[0]

        if self.output:
            obs.save("out", pick(out_rec))
        for key, label, item in keys:
            arr = recs[(label, item)]
            if item[1]:
                arr = arr[..., 0]
            obs.save(key, pick(arr))
        return obs
