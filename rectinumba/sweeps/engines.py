"""Where chunks run: in this process, or on any ``concurrent.futures``-style executor.

Supported: ``None`` (this process, one batched kernel at a time over all numba threads), any
:class:`concurrent.futures.Executor` (``ProcessPoolExecutor``, ``mpi4py.futures.MPIPoolExecutor``,
``ThreadPoolExecutor``, a Dask ``Client.get_executor()``), and a Dask ``distributed.Client``
itself: the shared payload (network + run settings) is then scattered to every worker once
instead of travelling with each chunk. Results come back in completion order; the caller puts them
in point order. Retrying a chunk whose worker was lost is the engine's job (Dask does it; a
``ProcessPoolExecutor`` raises ``BrokenProcessPool``); chunks are idempotent, so a retry is safe.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import NetworkError
from .worker import Chunk, ChunkResult, Shared, run_chunk

__all__ = ["run_chunks", "check_executor"]


def _is_dask_client(executor: Any) -> bool:
    return hasattr(executor, "get_executor") and hasattr(executor, "scatter")


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
    payload: Any = shared
    if _is_dask_client(executor):
        payload = executor.scatter(shared, broadcast=True, hash=False)
        executor = executor.get_executor(pure=False)
    todo = iter(chunks)
    pending: set[cf.Future] = set()
    try:
        for chunk in todo:
            pending.add(executor.submit(run_chunk, chunk, payload))
            if len(pending) >= max_pending:
                break
        while pending:
            done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                for chunk in todo:
                    pending.add(executor.submit(run_chunk, chunk, payload))
                    break
                yield future.result()
    finally:
        for future in pending:
            future.cancel()
