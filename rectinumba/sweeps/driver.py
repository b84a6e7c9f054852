"""``sweep``: run a network over a grid or table of parameter values, in batched kernels, here or on
a Dask / MPI / process-pool executor, and return labelled results."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import NetworkError
from .engines import check_executor, check_fork_safety, check_picklable, run_chunks
from .params import ParamTable
from .reduce import make_reduction
from .result import Assembler, SweepResult
from .worker import Chunk, RunSpec, Shared, run_chunk

__all__ = ["sweep"]

_OUTPUTS = ("auto", "xarray", "numpy")


def _count(value: Any, low: int, what: str) -> int:
    """``value`` as an int >= ``low``, or a NetworkError naming ``what``."""
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= low
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        kind = "positive" if low == 1 else "non-negative"
        raise NetworkError(f"sweep: {what} must be a {kind} integer, got {value!r}")
    return int(value)


def _check_inputs(inputs: Any, steps: int | None, n_in: int, first_point: Callable) -> tuple:
    """(inputs as stored in the RunSpec, steps)."""
    if inputs is None:
        if steps is None:
            raise NetworkError("sweep: give inputs, or steps for a run without input")
        return None, _count(steps, 1, "steps")
    if callable(inputs):
        point = first_point()
        x = np.asarray(inputs(point))
        T = x.shape[0] if x.ndim else 0
        if x.shape not in ((T, n_in), (T,) * (n_in == 1)):
            raise NetworkError(
                f"sweep inputs function returned shape {x.shape} for point {point}; every point "
                f"needs (T, {n_in})"
            )
        if steps is not None and _count(steps, 1, "steps") != T:
            raise NetworkError(
                f"sweep: steps={steps} but the inputs function returned {T} steps for point 0"
            )
        return inputs, _count(T, 1, "the number of input steps")
    try:
        x = np.array(inputs, dtype=np.float64)
    except (TypeError, ValueError):
        raise NetworkError(
            f"sweep: inputs must be a real (T, {n_in}) array, a function of the point or None; "
            f"got {type(inputs).__name__}"
        ) from None
    if x.ndim == 1 and n_in == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != n_in:
        hint = " (for inputs that differ per point, pass a function of the point)" * (x.ndim == 3)
        raise NetworkError(
            f"sweep: inputs must have shape (T, {n_in}), shared by all points; got "
            f"{np.shape(inputs)}{hint}"
        )
    if not np.all(np.isfinite(x)):
        raise NetworkError("sweep: inputs contain non-finite values")
    if steps is not None and _count(steps, 1, "steps") != x.shape[0]:
        raise NetworkError(f"sweep: steps={steps} but inputs have {x.shape[0]} steps")
    if x.shape[0] == 0:
        raise NetworkError("sweep: inputs have no steps")
    x.flags.writeable = False
    return x, x.shape[0]


def _record_vars(record_vars: Any) -> tuple:
    entries = []
    for entry in record_vars or ():
        if isinstance(entry, str) or not isinstance(entry, Sequence) or len(entry) not in (2, 3):
            raise NetworkError(
                f"sweep: record_vars entries are (node, var) or (node, var, reduce); got {entry!r}"
            )
        entries.append(tuple(entry))
    return tuple(entries)


def _unit_dims(net, record_vars: tuple) -> dict[Any, str]:
    dims: dict[Any, str] = {"out": "out/unit"}
    for entry in record_vars:
        label = entry[0]
        kind = net[label]["kind"] if label in net.nodes else "diffeq"
        dims[(entry[0], entry[1])] = f"{label}/{'neuron' if kind == 'diffeq' else 'unit'}"
    return dims


def _available_memory() -> int | None:
    """Bytes of physical memory available now (None where the OS does not say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.2f} MB"


def _check_raw_size(net, n_points: int, n_rec: int, record_output: bool, rec_vars: tuple) -> None:
    """Refuse raw recordings that cannot fit in memory, before anything runs."""
    width = net.n_out if record_output else 0
    for entry in rec_vars:
        reduced = len(entry) == 3 and bool(entry[2])
        width += 1 if reduced or entry[0] not in net.nodes else net[entry[0]]["n_out"]
    need = n_points * n_rec * width * np.dtype(net.dtype).itemsize
    free = _available_memory()
    if free is not None and need > free:
        raise NetworkError(
            f"sweep: the raw recordings of {n_points} points x {n_rec} recordings x {width} "
            f"values need {_size(need)}, more than the {_size(free)} of memory available",
            hint="reduce on the workers (reduce='mean', a function of the Observer, ...), "
            "record less (reduce=True in record_vars, fewer variables) or record less often "
            "(sampling_steps, cutoff)",
        )


def sweep(
    net,
    params: Mapping[str, Any] | Any,
    inputs: np.ndarray | Callable[[dict], np.ndarray] | None = None,
    steps: int | None = None,
    *,
    product: bool | None = None,
    record_output: bool = True,
    record_vars: Sequence[tuple] | None = None,
    sampling_steps: int = 1,
    cutoff: int = 0,
    reduce: str | Sequence[str] | Callable | None = None,
    final_state: bool = False,
    batch_size: int = 64,
    executor: Any = None,
    max_pending: int = 256,
    progress: bool = True,
    output: str = "auto",
) -> Any:
    """Run ``net`` at every point of a parameter grid or table, in batched kernels.

    Every point starts from the network as it is when ``sweep`` is called (its state, step
    count and values), with the point's values set on top, exactly as if it were run alone on a
    copy: ``net.set_var(...)`` for each parameter, then ``net.run(inputs, ...)``. ``net`` itself
    is not changed.

    Parameters
    ----------
    net : Network
        The network (pickled once; the sweep runs on copies).
    params : mapping or pandas.DataFrame
        Parameter key -> values. Keys: ``"node/op/var"`` or ``"node/var"`` (a parameter, an
        undriven input or an initial state; the node may be left out when there is only one
        diff-eq node), ``"node/weights"`` (a factor on J), ``"source->target"`` (a factor on
        an edge's weights), ``"inputs"`` (a factor on the inputs), ``"seed"`` (the noise seed
        of each point of a noisy model: its noise depends on that seed alone, as in
        ``run(..., seed=seed)``; without it point p takes the seed
        :func:`~rectinumba.sweeps.params.point_seed` ``(net.seed, p)``).
    inputs : numpy.ndarray, callable or None
        (T, n_in) inputs shared by all points; a function ``inputs(point) -> (T, n_in)`` of the
        point's values (a dict key -> value), evaluated on the worker (it must pickle for
        process executors); or None for zero input over ``steps`` steps.
    steps : int or None
        Steps per point (needed when ``inputs`` is None; must agree with the inputs otherwise).
    product : bool or None
        ``True``: the grid of all combinations of the value arrays (the first key varies
        slowest); ``False``: a table of equal-length columns, one point per row (a column may
        also give one value per neuron, shape (P, N)); ``None``: grid for a mapping, table for a
        DataFrame.
    record_output : bool
        Record the network output (result ``"out"``).
    record_vars : sequence of tuple or None
        ``(node, var)`` or ``(node, var, reduce)`` as in ``Network.run`` (results
        ``"node/var"``).
    sampling_steps, cutoff : int
        Recording settings as in ``Network.run``.
    reduce : None, str, sequence of str or callable
        ``None`` returns the raw recordings (points x time x units). ``"mean"``, ``"std"``,
        ``"min"``, ``"max"``, ``"last"`` (or several: a ``"stat"`` dimension) reduce every
        recording over time on the worker, streaming, so neither the worker nor the client holds
        traces. A function ``f(obs) -> array | dict[str, array]`` receives the chunk's Observer
        (trials first) and returns one row per trial.
    final_state : bool
        Also return every state variable after the last step (``"final:node/var"``).
    batch_size : int
        Points per batched kernel call (B). Points with different J or edge factors never share
        a call.
    executor : object or None
        ``None`` runs the chunks here, one after the other, each over all numba threads; a
        ``concurrent.futures.Executor`` (``ProcessPoolExecutor`` with a "spawn" or "forkserver"
        context, ``mpi4py.futures.MPIPoolExecutor``) or a Dask ``distributed.Client`` runs them on
        its workers. Workers compile the kernel once each, or load it when
        ``RECTINUMBA_CACHE_DIR`` is a folder they share.
    max_pending : int
        Chunks submitted to an executor and not yet finished, at most.
    progress : bool
        A progress bar over chunks.
    output : str
        ``"auto"``: an :class:`xarray.Dataset` when xarray is installed, else a
        :class:`~rectinumba.sweeps.SweepResult`; ``"xarray"`` or ``"numpy"`` (SweepResult) to
        choose.

    Returns
    -------
    xarray.Dataset or SweepResult
        Outputs labelled by parameter values, in point order; a point whose state became
        non-finite has NaN outputs and its reason in ``"error"``.

    Examples
    --------
    The time-averaged population activity of a QIF network over a grid of excitabilities and
    coupling factors (64 x 3 points, 64 per kernel call), reduced on the workers:

    >>> from rectinumba import Network, sweep
    >>> net = Network.from_yaml(
    ...     "model_templates.spiking_neurons.qif.qif", weights=np.ones((50, 50)) / 50,
    ...     source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
    ...     op="qif_op", spike_var="spike", spike_def="v")
    >>> ds = sweep(net, {"eta": np.linspace(-6, 4, 64), "rnn/weights": [0.5, 5.0, 15.0]},
    ...            steps=5000, record_output=False, record_vars=[("rnn", "s", True)],
    ...            reduce="mean", cutoff=2500)  # doctest: +SKIP
    >>> ds["rnn/s"].dims  # doctest: +SKIP
    ('eta', 'rnn/weights')

    The same on a Dask cluster, the kernel folder shared by the workers:

    >>> from distributed import Client  # doctest: +SKIP
    >>> client = Client("tcp://scheduler:8786")  # doctest: +SKIP
    >>> ds = sweep(net, {"eta": np.linspace(-6, 4, 4096)}, steps=5000,
    ...            executor=client)  # doctest: +SKIP
    """
    from ..network import Network
    from ..progress import Progress

    if not isinstance(net, Network):
        raise NetworkError(f"sweep needs a rectinumba Network, got {type(net).__name__}")
    if output not in _OUTPUTS:
        raise NetworkError(f"sweep: output must be one of {_OUTPUTS}, got {output!r}")
    if output == "xarray":
        import importlib.util

        if importlib.util.find_spec("xarray") is None:
            raise ImportError("sweep(output='xarray') needs xarray: pip install rectinumba[xarray]")
    check_executor(executor)
    check_picklable(executor, {"inputs": inputs, "reduce": reduce})
    batch_size = _count(batch_size, 1, "batch_size")
    max_pending = _count(max_pending, 1, "max_pending")
    sampling = _count(sampling_steps, 1, "sampling_steps")
    cutoff = _count(cutoff, 0, "cutoff")
    table = ParamTable(net, params, product)
    rec_vars = _record_vars(record_vars)
    reduction = make_reduction(reduce)
    x, T = _check_inputs(inputs, steps, net.n_in, lambda: table.point(0))
    n_rec = max(0, -(-(T - cutoff) // sampling))
    if reduction.kind == "raw":
        _check_raw_size(net, table.n_points, n_rec, bool(record_output), rec_vars)
    if reduction.kind == "stats" and not (record_output or rec_vars):
        raise NetworkError(f"sweep: reduce={reduce!r} needs something recorded")
    if reduction.kind == "stats" and n_rec == 0:
        raise NetworkError(
            f"sweep: cutoff={cutoff} leaves no recording of {T} steps for reduce={reduce!r}"
        )
    run = RunSpec(
        x, T, net.n_in, sampling, cutoff, bool(record_output), rec_vars, reduction,
        bool(final_state), dict(table.targets), net.dt,
    )  # fmt: skip
    blob = pickle.dumps(net, protocol=pickle.HIGHEST_PROTOCOL)
    shared = Shared(hashlib.sha256(blob).hexdigest(), blob, run)

    pieces = table.chunks(batch_size)
    chunks = [Chunk(i, idx, table.rows(idx)) for i, idx in enumerate(pieces)]
    # one step of the first chunk's first points, here: every key, value shape, record entry
    # and the input width are checked (and the kernel compiled) before any work is handed out
    first = chunks[0].index[:2]
    probe_inputs = x[:1] if isinstance(x, np.ndarray) else x
    if callable(x):
        probe_inputs = lambda point: np.asarray(x(point))[:1]  # noqa: E731 - runs here only
    probe = RunSpec(
        probe_inputs, 1, net.n_in, 1, 0, bool(record_output), rec_vars, make_reduction(None),
        bool(final_state), dict(table.targets), net.dt,
    )  # fmt: skip
    run_chunk(Chunk(-1, first, table.rows(first)), Shared(shared.key, blob, probe))
    check_fork_safety(executor)  # numba's threading layer is known now

    assembler = Assembler(table.n_points, _unit_dims(net, rec_vars), reduction)
    with Progress(len(chunks), "sweep", progress) as bar:
        for result in run_chunks(chunks, shared, executor, max_pending):
            assembler.add(result)
            bar.update(1)
    coords: dict[str, np.ndarray] = {"time": np.arange(n_rec) * (sampling * net.dt)}
    if reduction.kind == "stats" and len(reduction.stats) > 1:
        coords["stat"] = np.array(reduction.stats)
    attrs = {
        "dt": net.dt,
        "steps": T,
        "sampling_steps": sampling,
        "cutoff": cutoff,
        "reduce": reduction.label,
        "batch_size": batch_size,
        "chunks": len(chunks),
        "chunk_seconds": assembler.seconds,
    }
    result = SweepResult(
        table, assembler.data, assembler.dims, assembler.errors.astype(str), coords, attrs
    )
    if output == "numpy":
        return result
    if output == "auto":
        import importlib.util

        if importlib.util.find_spec("xarray") is None:
            return result
    return result.to_xarray()
