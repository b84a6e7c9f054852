"""Where chunks run: in this process, or on any ``concurrent.futures``-style executor.

Supported: ``None`` (this process, one batched kernel at a time over all numba threads), any
:class:`concurrent.futures.Executor` (``ProcessPoolExecutor``, ``mpi4py.futures.MPIPoolExecutor``,
``ThreadPoolExecutor``, a Dask ``Client.get_executor()``), and a Dask ``distributed.Client``
itself: the shared payload (network + run settings) is then scattered to every worker once
instead of travelling with each chunk. Results come back in completion order; the caller puts them
in point order. Retrying a chunk whose worker was lost is the engine's job (Dask does it; a
``ProcessPoolExecutor`` raises ``BrokenProcessPool``); chunks are idempotent, so a retry is safe.
When every Dask worker holding the scattered payload is lost, Dask cancels the chunks that need
it: the payload is scattered again and those chunks resubmitted (at most
:data:`MAX_RESCATTERS` times).
"""

from __future__ import annotations

import concurrent.futures as cf
import pickle
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import NetworkError
from .worker import Chunk, ChunkResult, Shared, run_chunk

__all__ = [
    "run_chunks", "check_executor", "check_fork_safety", "check_picklable", "MAX_RESCATTERS"
]

#: times a Dask sweep scatters its payload again after every worker holding it was lost
MAX_RESCATTERS = 3


def _is_dask_client(executor: Any) -> bool:
    return hasattr(executor, "get_executor") and hasattr(executor, "scatter")


def _threading_layer() -> str | None:
    """numba's threading layer in this process, None before its first parallel kernel."""
    import numba

    try:
        return numba.threading_layer()
    except ValueError:
        return None


def check_picklable(executor: Any, functions: dict[str, Any]) -> None:
    """Refuse user functions a process pool cannot send to its workers, naming the argument.

    ``concurrent.futures.ProcessPoolExecutor`` pickles what it sends with :mod:`pickle`, which
    cannot send a lambda or a function defined inside another one; the pool would raise a bare
    ``PicklingError`` from its feeder thread. Dask (cloudpickle) and the other executors are left
    to their own serializers.

    Parameters
    ----------
    executor : object or None
        The ``executor`` argument of :func:`~rectinumba.sweeps.sweep`.
    functions : dict
        Argument name (``"inputs"``, ``"reduce"``) -> the user's function (non-callables are
        skipped).
    """
    if not isinstance(executor, cf.ProcessPoolExecutor):
        return
    for name, func in functions.items():
        if not callable(func):
            continue
        try:
            pickle.dumps(func, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:  # PicklingError, AttributeError, TypeError: all mean "cannot"
            raise NetworkError(
                f"sweep: the {name} function {getattr(func, '__qualname__', func)!r} cannot be "
                f"pickled, and a ProcessPoolExecutor sends it to its workers pickled ({err})",
                hint="define it at module level (not a lambda or a nested function), or run on "
                "a Dask Client, which serializes with cloudpickle",
            ) from None


def check_fork_safety(executor: Any) -> None:
    """Refuse a process pool that forks this process once it runs numba's GNU OpenMP threads.

    GNU OpenMP terminates a forked child that uses it ("fork() called from a process already
    using GNU OpenMP"): every chunk would die and the pool would only say ``BrokenProcessPool``.
    Linux's default ``ProcessPoolExecutor()`` forks (before Python 3.14), so this is the first
    pool a user tries. Called after this process ran its first kernel (the layer is then known);
    the pool has started no process yet.

    Parameters
    ----------
    executor : object or None
        The ``executor`` argument of :func:`~rectinumba.sweeps.sweep`.
    """
    if not isinstance(executor, cf.ProcessPoolExecutor):
        return
    context = getattr(executor, "_mp_context", None)
    method = context.get_start_method() if context is not None else None
    if method != "fork" or _threading_layer() != "omp" or not sys.platform.startswith("linux"):
        return
    raise NetworkError(
        "sweep: this ProcessPoolExecutor forks its workers, and this process already runs numba's "
        "OpenMP threads, which a forked child cannot use (every chunk would die: "
        "BrokenProcessPool)",
        hint="ProcessPoolExecutor(n, mp_context=multiprocessing.get_context('spawn')) (or "
        "'forkserver'), or NUMBA_THREADING_LAYER=tbb when tbb is installed",
    )


def check_executor(executor: Any) -> None:
    """Refuse an executor that cannot run chunks, before anything runs.

    Parameters
    ----------
    executor : object or None
        The ``executor`` argument of :func:`~rectinumba.sweeps.sweep`.
    """
    if executor is None or _is_dask_client(executor):
        return
    if not callable(getattr(executor, "submit", None)):
        raise NetworkError(
            "sweep executor must be None, a concurrent.futures.Executor (ProcessPoolExecutor, "
            f"MPIPoolExecutor, ...) or a dask.distributed Client; got {type(executor).__name__}"
        )


def run_chunks(
    chunks: Sequence[Chunk], shared: Shared, executor: Any, max_pending: int
) -> Iterator[ChunkResult]:
    """Run ``chunks`` and yield their results as they complete.

    Parameters
    ----------
    chunks : sequence of Chunk
        The chunks of the sweep.
    shared : Shared
        Network and run settings.
    executor : object or None
        See the module docstring.
    max_pending : int
        Chunks submitted and not yet finished at most (bounds client memory in huge sweeps).

    Yields
    ------
    ChunkResult
        One per chunk, in completion order.
    """
    if executor is None:
        for chunk in chunks:
            yield run_chunk(chunk, shared)
        return
    client = executor if _is_dask_client(executor) else None
    payload: Any = shared
    if client is not None:
        payload = client.scatter(shared, broadcast=True, hash=False)
        executor = client.get_executor(pure=False)
    rescatters = 0
    todo = iter(chunks)
    pending: dict[cf.Future, tuple[Chunk, Any]] = {}

    def submit(chunk: Chunk) -> None:
        pending[executor.submit(run_chunk, chunk, payload)] = (chunk, payload)

    try:
        for chunk in todo:
            submit(chunk)
            if len(pending) >= max_pending:
                break
        while pending:
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for future in done:
                chunk, sent = pending.pop(future)
                try:
                    result = future.result()
                except cf.CancelledError:
                    # Dask retries the task of a lost worker itself; it cancels the task when
                    # every worker holding the scattered payload was lost (data it cannot
                    # recompute). Scatter it again and resubmit: chunks are idempotent.
                    if client is None or rescatters >= MAX_RESCATTERS:
                        raise NetworkError(
                            f"sweep: the chunk of points {chunk.index.tolist()} was cancelled by "
                            "the executor"
                            + (
                                f" {rescatters} time(s) after the workers holding the network "
                                "were lost"
                                if client is not None
                                else ""
                            ),
                            hint="check the workers' logs (memory limits, crashes)",
                        ) from None
                    if sent is payload:  # the first loss seen of this payload: send it again
                        rescatters += 1
                        payload = client.scatter(shared, broadcast=True, hash=False)
                    submit(chunk)
                    continue
                for chunk in todo:
                    submit(chunk)
                    break
                yield result
    finally:
        for future in pending:
            future.cancel()
