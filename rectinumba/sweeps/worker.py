"""One chunk of a sweep, run where the executor puts it: a batched run of a few points.

A chunk is (the shared payload: pickled network + run settings, the point rows). Running it has
no side effect beyond the process-wide kernel cache, so an engine may run it twice (Dask does
when a worker is lost) and get the same answer. Every chunk works on its own copy of the network,
unpickled from the payload (about 0.1 ms); the compiled kernel is found in the process-wide
cache of the backend, keyed by the network's structure, so a worker process compiles (or loads
from the on-disk cache, ``RECTINUMBA_CACHE_DIR``) once and reuses the kernel for all its chunks.
"""

from __future__ import annotations

import pickle
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import NetworkError, SimulationError
from .params import INPUT_SCALE, SEED, Target, is_noisy, point_seed, point_value
from .reduce import Reduction, record_name

__all__ = ["RunSpec", "Shared", "Chunk", "ChunkResult", "run_chunk", "INPUT_BYTES"]

#: input memory of one batched call (float64 before the network's dtype); longer runs are split
#: into segments of steps run one after the other (the state carries over, results are the same)
INPUT_BYTES = 32 * 2**20

# Kernel calls of one process run one at a time: every batched kernel already spreads its trials
# over all numba threads, and numba's workqueue threading layer must not be entered from two
# threads at once (executors such as a Dask worker with several threads would do that).
_RUN_LOCK = threading.Lock()


@dataclass(frozen=True)
class RunSpec:
    """How every point runs (the same for all chunks).

    Parameters
    ----------
    inputs : numpy.ndarray, callable or None
        (T, m) float64 inputs shared by all points, a function of the point returning them, or
        None (zeros).
    steps : int
        Steps per point.
    n_in : int
        Input columns of the network.
    sampling, cutoff : int
        Recording settings as in ``Network.run``.
    record_output : bool
        Record the network output.
    record_vars : tuple
        ``(node, var)`` or ``(node, var, reduce)`` entries.
    reduction : Reduction
        What is kept of the recordings.
    final_state : bool
        Return every state variable after the last step.
    targets : dict
        Key -> :class:`~rectinumba.sweeps.params.Target`, in column order.
    dt : float
        Integration step (for the Observer handed to a reduce function).
    """

    inputs: Any
    steps: int
    n_in: int
    sampling: int
    cutoff: int
    record_output: bool
    record_vars: tuple
    reduction: Reduction
    final_state: bool
    targets: dict[str, Target]
    dt: float

    @property
    def record_keys(self) -> list[Any]:
        """Keys of the recordings, in Observer order."""
        keys: list[Any] = ["out"] if self.record_output else []
        return keys + [(e[0], e[1]) for e in self.record_vars]


@dataclass(frozen=True)
class Shared:
    """What every chunk needs: the pickled network (with its content hash) and the run settings.

    Parameters
    ----------
    key : str
        SHA-256 of ``network``.
    network : bytes
        The pickled network as it was when the sweep started.
    run : RunSpec
        Run settings.
    """

    key: str
    network: bytes
    run: RunSpec


@dataclass(frozen=True)
class Chunk:
    """The points of one batched call.

    Parameters
    ----------
    number : int
        Position of the chunk in the sweep.
    index : numpy.ndarray
        Point indices (into the parameter table).
    columns : dict
        Key -> the values of these points.
    """

    number: int
    index: np.ndarray
    columns: dict[str, np.ndarray]


@dataclass
class ChunkResult:
    """Outputs of one chunk.

    Parameters
    ----------
    number : int
        Position of the chunk in the sweep.
    index : numpy.ndarray
        Point indices of the chunk.
    ok : numpy.ndarray
        Whether each point ran to the end.
    outputs : dict
        Name -> array with one row per point that ran to the end (``index[ok]``).
    errors : dict
        Position in the chunk -> reason, for the points that failed.
    sources : dict
        Output name -> the recording it reduces (None for outputs of a reduce function or final
        states).
    seconds : float
        Wall time the chunk took on its worker.
    """

    number: int
    index: np.ndarray
    ok: np.ndarray
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class _PointsFailed(Exception):
    """Some points of a batched call failed: position in the chunk -> reason."""

    def __init__(self, failed: dict[int, str]) -> None:
        super().__init__(failed)
        self.failed = failed


def run_chunk(chunk: Chunk, shared: Shared) -> ChunkResult:
    """Run the points of ``chunk``; points whose state blows up are reported, not raised.

    The batched kernel reports every trial that failed (``SimulationError.trials``) and runs the
    others to the end, but a failed call commits nothing; the chunk is run again without the
    failed points (trials are independent, so the others give the same numbers).

    Parameters
    ----------
    chunk : Chunk
        The points.
    shared : Shared
        The network and run settings.

    Returns
    -------
    ChunkResult
        Outputs of the points that ran to the end and the reasons of those that failed.
    """
    start = time.perf_counter()
    alive = np.arange(len(chunk.index))
    errors: dict[int, str] = {}
    outputs: dict[str, np.ndarray] = {}
    with _RUN_LOCK:
        while len(alive):
            try:
                outputs = _simulate(shared, chunk, alive)
                break
            except _PointsFailed as fail:
                errors.update(fail.failed)
                alive = np.array([r for r in alive if r not in fail.failed], dtype=np.int64)
    ok = np.zeros(len(chunk.index), dtype=bool)
    ok[alive] = True
    sources = {}
    if shared.run.reduction.kind != "call":
        sources = {record_name(k): k for k in shared.run.record_keys}
    seconds = time.perf_counter() - start
    return ChunkResult(chunk.number, chunk.index, ok, outputs, errors, sources, seconds)


def _scaled(weights, factor: float, dtype: np.dtype):
    """``factor * weights`` in the network's dtype, dense or CSR (same sparsity structure)."""
    s = dtype.type(factor)
    if hasattr(weights, "tocsr"):
        scaled = weights.copy()
        scaled.data = scaled.data * s
        return scaled
    return np.asarray(weights) * s


def _first_recording(start: int, cutoff: int, sampling: int) -> int:
    """Offset from ``start`` of the first recorded step at or after it."""
    if start <= cutoff:
        return cutoff - start
    return -(-(start - cutoff) // sampling) * sampling + cutoff - start


def _point_inputs(run: RunSpec, columns: dict[str, np.ndarray], take: np.ndarray) -> np.ndarray:
    """(B, T, m) inputs of a function of the point, one call per point."""
    arrays = []
    for row in take:
        point = {k: point_value(v, row) for k, v in columns.items()}
        x = np.asarray(run.inputs(point), dtype=np.float64)
        if x.ndim == 1 and run.n_in == 1:
            x = x[:, None]
        if x.shape != (run.steps, run.n_in):
            raise NetworkError(
                f"sweep inputs function returned shape {x.shape} for point {point}; every point "
                f"needs ({run.steps}, {run.n_in})"
            )
        arrays.append(x)
    return np.stack(arrays)


def _apply_point_values(
    net, run: RunSpec, columns: dict[str, np.ndarray], take: np.ndarray, index: np.ndarray
):
    if SEED in run.targets:  # one seed per point: the trials' own noise streams, from step 0
        net.seed = [int(s) for s in columns[SEED][take]]
    elif is_noisy(net):
        net.seed = [point_seed(net.seed, p) for p in index[take]]
    for key, target in run.targets.items():
        col = columns[key]
        if target.kind == "var":
            values = col[take]
            net.set_var(target.node, target.var, values[:, None] if values.ndim == 1 else values)
        elif target.kind == "weights":
            J = net.get_var(target.node, "weights")
            net.set_var(target.node, "weights", _scaled(J, col[take[0]], net.dtype))
        elif target.kind == "edge":
            net.get_edge(*target.edge).scale_weights(col[take[0]])
        # "seed": set above; "inputs": scales the inputs (see _simulate)


def _simulate(shared: Shared, chunk: Chunk, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of the points at positions ``rows`` of the chunk (one row each)."""
    from ..backends.status import describe

    run = shared.run
    net = pickle.loads(shared.network)
    # a single point runs as two identical trials: the batched kernel, not a second compile
    take = rows if len(rows) > 1 else np.repeat(rows, 2)
    B = len(take)
    _apply_point_values(net, run, chunk.columns, take, chunk.index)
    scale = chunk.columns[INPUT_SCALE][take] if INPUT_SCALE in run.targets else None
    per_point = _point_inputs(run, chunk.columns, take) if callable(run.inputs) else None
    # a network without input (n_in == 0) runs in one segment of empty (B, T, 0) inputs
    seg = min(run.steps, max(1, INPUT_BYTES // (B * max(run.n_in, 1) * net.dtype.itemsize)))
    # one input buffer for all segments: fresh large arrays cost page faults at every call
    buf = np.zeros((B, seg, run.n_in), dtype=net.dtype)
    keys = run.record_keys
    reduction = run.reduction
    acc = reduction.start()
    for a in range(0, run.steps, seg):
        b = min(run.steps, a + seg)
        x = buf[:, : b - a]
        if per_point is not None:
            src = per_point[:, a:b]
        else:
            src = None if run.inputs is None else run.inputs[a:b]  # None: the zeros stay
        # products in float64, stored in the network's dtype: what run() does with x * scale
        if src is not None and scale is not None:
            np.multiply(src, scale[:, None, None], out=x, casting="same_kind")
        elif src is not None:
            np.copyto(x, src, casting="same_kind")
        try:
            obs = net.run(
                x,
                sampling_steps=run.sampling,
                cutoff=_first_recording(a, run.cutoff, run.sampling),
                verbose=False,
                record_output=run.record_output,
                record_vars=list(run.record_vars) or None,
            )
        except SimulationError as err:
            if not err.trials:  # pragma: no cover - every kernel status names its trials
                raise _PointsFailed({int(r): err.raw_message for r in rows}) from None
            failed = {}
            for t, info in err.trials.items():
                failed[int(take[t])] = describe(
                    info["code"],
                    node=info["node"],
                    var=info["variable"],
                    step=info["step"] + a,
                    neuron=info["neuron"],
                    trial=None,
                )
            raise _PointsFailed(failed) from None
        for key in keys:
            reduction.update(acc, key, obs[key])

    def observer(whole: dict) -> Any:
        from ..observer import Observer

        obs = Observer(
            run.dt,
            record_output=run.record_output,
            record_loss=False,
            record_vars=list(run.record_vars) or None,
            sampling_steps=run.sampling,
            n_trials=B,
        )
        for key, arr in whole.items():
            obs.save(key, arr)
        return obs

    outputs = reduction.finish(acc, keys, observer)
    if run.final_state:
        for label in net.nodes:
            node = net.get_node(label)
            for name in getattr(node, "state_names", ()):
                value = net.get_var(label, name)
                outputs[f"final:{label}/{name}"] = np.broadcast_to(value, (B, node.N))
    n = len(rows)
    return {name: np.ascontiguousarray(arr[:n]) for name, arr in outputs.items()}
