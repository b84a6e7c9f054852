"""CUDA backend: the network rendered as one persistent numba.cuda kernel per run.

``CUDABackend(device).kernel(spec)`` returns the argument table of the network's CUDA plan (the
runner binds it exactly as it binds the CPU kernel's) and a callable with the CPU kernel's
signature and in-place semantics: it copies the numpy arrays to the device once, runs all T steps
there, and copies states, carried feedback values, recordings and the status rows back once.

This module imports numba.cuda; it is only imported for ``device="cuda"`` / ``"cuda:N"``. With
``NUMBA_ENABLE_CUDASIM=1`` in the environment before numba is imported, the same kernels run in
numba's CUDA simulator (slow, for tests).
"""

from __future__ import annotations

import math
import time
import warnings
from functools import lru_cache

import numpy as np

from ..codegen.spec import NetworkSpec, RenderedKernel
from ..errors import BackendError

__all__ = ["CUDABackend", "cuda_status"]

_INSTALL = (
    "install the CUDA extra (pip install 'rectinumba[cuda]', which brings numba-cuda; add "
    "numba-cuda[cu12] or [cu13] when the CUDA toolkit is not installed system-wide), or set "
    "NUMBA_ENABLE_CUDASIM=1 before numba is imported to run the kernels in numba's CUDA simulator"
)
_NO_FAILURE = np.iinfo(np.int64).max
#: roles of the kernel arguments that the kernel may write and the host reads back
#: roles the kernel writes: copied back after each call (history rings, edge states and their
#: recordings, event-driven U and G carry over chunks)
_WRITTEN = ("state", "carry", "rec", "train", "ring", "estate", "erec", "event")


def cuda_status() -> tuple[bool, str]:
    """Whether numba.cuda can run kernels here, and why not.

    Returns
    -------
    tuple of (bool, str)
        (usable, reason): reason is "simulator" or "gpu" when usable.
    """
    try:
        from numba import config, cuda
    except Exception as exc:  # ImportError, or a broken numba-cuda install
        return False, f"numba.cuda cannot be imported ({exc})"
    if config.ENABLE_CUDASIM:
        return True, "simulator"
    try:
        ok = cuda.is_available()
    except Exception as exc:  # pragma: no cover - driver errors vary
        return False, f"the CUDA driver failed to initialise ({exc})"
    if not ok:
        return False, "no CUDA GPU or driver was found"
    return True, "gpu"


def _simulator() -> bool:
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def _lock_simulator_shared_arrays() -> None:
    """Make numba's simulator hand every thread of a block the same shared array.

    ``FakeCUDAShared.array`` allocates through an unlocked check-then-set: two threads that reach
    ``cuda.shared.array`` at once can both miss and get two different (uninitialised) arrays, and
    a lane reading its partners' partial row sums then reads garbage. That made simulator runs
    with several lanes per row fail once in a while. The GPU has no such race; this wraps the
    simulator's method in a lock, once per process.
    """
    import sys
    import threading

    from numba.cuda.simulator import kernelapi

    shared = kernelapi.FakeCUDAShared
    original, lock = shared.array, threading.Lock()
    if getattr(original, "__qualname__", "") != "FakeCUDAShared.array":
        return  # already ours, or replaced by a tool of the caller's (a race checker): keep it

    def array(self, shape, dtype):
        if shape == 0:  # dynamic shared memory: one buffer, no allocation to race on
            return original(self, shape, dtype)
        if isinstance(dtype, kernelapi.types.Type):
            dtype = kernelapi.numpy_support.as_dtype(dtype)
        # like the simulator, an allocation is named by the kernel line that asks for it
        frame = sys._getframe(1)
        caller = (frame.f_code.co_filename, frame.f_lineno)
        with lock:
            res = self._allocations.get(caller)
            if res is None:
                res = self._allocations[caller] = kernelapi.np.empty(shape, dtype)
        return res

    shared.array = array


@lru_cache(maxsize=256)
def _compiled(spec: NetworkSpec, mode: str):
    from ..codegen.cache import load_source
    from ..codegen.cuda_step import render_cuda

    src = render_cuda(spec, mode)
    if _simulator():
        _lock_simulator_shared_arrays()
    sim = "sim" if _simulator() else "gpu"
    module = load_source(src.source, options=f"cuda-{sim}")
    return src, module.kernel


def _pow2_ceil(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


class _Launch:
    """Kernel callable for one NetworkSpec; chooses block or grid mode per call."""

    def __init__(self, backend: CUDABackend, spec: NetworkSpec) -> None:
        self.backend, self.spec = backend, spec

    def plan(self, B: int, NM: int) -> tuple[str, int, int]:
        """(mode, threads per block, lanes per matrix row) for B trials of at most NM neurons."""
        be = self.backend
        sim = _simulator()
        mode = be.mode
        if mode is None:
            # one block per trial keeps barriers cheap (syncthreads) and needs no cooperative
            # launch; it fills the GPU when there are enough trials or the populations are small
            mode = "block" if (B >= be.n_sm or NM <= 1024) else "grid"
        if be.threads is not None:
            nt = be.threads
        elif sim:
            nt = min(8, _pow2_ceil(NM)) if mode == "block" else 8
        else:
            nt = min(256, max(32, _pow2_ceil(NM))) if mode == "block" else 256
        if be.lanes is not None:
            lanes = be.lanes
        elif sim:
            lanes = 1
        else:
            # a warp per matrix row reads rows coalesced; small rows fit one thread each
            lanes = 32 if NM > 256 else 1
        lanes = min(lanes, nt)
        if nt % lanes:
            raise BackendError(f"cuda: lanes={lanes} must divide the block size {nt}")
        return mode, nt, lanes

    def __call__(self, T, t0, s0, dt, cutoff, sampling, x, out_rec, status, *args) -> None:
        from numba import cuda

        B = x.shape[0]
        # failure keys index neurons and template-edge connections
        sizes = [
            arr.shape[1]
            for a, arr in zip(_arguments(self.spec).args, args, strict=True)
            if (a.role == "scratch" and a.detail == "out") or a.role == "estate"
        ]
        NM = max(sizes + [1])
        mode, nt, lanes = self.plan(B, NM)
        src, kern = _compiled(self.spec, mode)
        with self.backend.context():
            self._run(cuda, src, kern, mode, nt, lanes, NM, B, T, t0, s0, dt, cutoff, sampling,
                      x, out_rec, status, args)

    def _run(self, cuda, src, kern, mode, nt, lanes, NM, B, T, t0, s0, dt, cutoff, sampling, x,
             out_rec, status, args) -> None:
        dtype = x.dtype
        host_back = []  # (device array, host array) pairs copied back after the kernel

        def dev(arr: np.ndarray, back: bool):
            if arr.size == 0:
                # zero-size device arrays are not valid kernel arguments everywhere; the kernel
                # never touches them (nothing is recorded), so a 1-element stand-in is enough
                return cuda.to_device(np.zeros((1,) * arr.ndim, arr.dtype))
            d = cuda.to_device(np.ascontiguousarray(arr))
            if back:
                host_back.append((d, arr))
            return d

        t_start = time.perf_counter()
        # the kernel takes B from x: a network without input (x of shape (B, T, 0)) gets a
        # (B, 1, 1) stand-in that it never reads
        x_dev = dev(x, False) if x.size else cuda.to_device(np.zeros((B, 1, 1), dtype))
        call = [T, t0, s0, dt, cutoff, sampling, x_dev, dev(out_rec, True)]
        for a, arr in zip(src.args, args, strict=True):
            if a.role == "rec" and a.detail[1] and arr.dtype.kind == "c":
                # a complex recorded mean adds real and imaginary parts atomically into the
                # (B, R, 2) float view of its (B, R, 1) complex recording
                arr = arr.view(arr.real.dtype)
            if isinstance(arr, np.ndarray) and arr.ndim > 0:
                call.append(dev(arr, a.role in _WRITTEN))
            else:
                call.append(arr)
        fail = None
        for bf in src.buffers:
            if bf.kind == "red":
                call.append(cuda.to_device(np.zeros((2, B, bf.size), dtype)))
            elif bf.kind == "sm":
                init = np.zeros((2, B, 2), dtype)
                init[:, :, 0] = -np.inf
                call.append(cuda.to_device(init))
            elif bf.kind == "fail":
                fail = cuda.to_device(np.full(B, _NO_FAILURE, np.int64))
                call.append(fail)
            elif bf.kind == "cnt":
                call.append(cuda.to_device(np.zeros(3, np.int64)))
            else:  # pragma: no cover - renderer and backend are written together
                raise AssertionError(bf.kind)
        fstride = src.n_nodes * NM * src.n_states
        call += [lanes, NM, fstride]
        if T * fstride >= _NO_FAILURE:
            raise BackendError("cuda: run too long for the failure key; run it in shorter pieces")
        blocks = self._blocks(cuda, kern, mode, nt, lanes, B, NM, call)
        cuda.synchronize()
        t_launch = time.perf_counter()
        with warnings.catch_warnings():
            # small test grids trigger NumbaPerformanceWarning; the choice is deliberate
            warnings.simplefilter("ignore")
            kern[blocks, nt](*call)
        cuda.synchronize()
        t_kernel = time.perf_counter()
        for d, host in host_back:
            d.copy_to_host(host)
        self._status(fail.copy_to_host(), status, s0, src.units, NM, src.n_states)
        self.backend.last_run = {
            "mode": mode, "blocks": blocks, "threads": nt, "lanes": lanes, "steps": T,
            "copy_in_s": t_launch - t_start, "kernel_s": t_kernel - t_launch,
            "copy_out_s": time.perf_counter() - t_kernel,
        }

    def _blocks(self, cuda, kern, mode, nt, lanes, B, NM, call) -> int:
        if mode == "block":
            return max(1, min(B, 2**31 - 1))
        need = max(1, math.ceil(B * NM * lanes / nt))
        try:
            # numba's simulator runs cooperative grids of one block: it has no overload (so n_sm,
            # 1 there); the race checker of the test suite gives one that says how many it runs
            specialized = kern.specialize(*call)
            overload = next(iter(specialized.overloads.values()))
            most = overload.max_cooperative_grid_blocks(nt)
        except Exception:  # pragma: no cover - depends on the numba-cuda version
            most = self.backend.n_sm
        return max(1, min(need, most))

    @staticmethod
    def _status(fail, status, s0, units, NM, n_states) -> None:
        """Decode failure keys into the CPU kernel's status rows (code, step, node, var, neuron;
        for a template edge: code 3, step, edge, var, connection)."""
        from .status import EDGE_NONFINITE, NONFINITE

        n_units = len(units)
        for b in range(status.shape[0]):
            key = int(fail[b])
            if key == _NO_FAILURE or status[b, 0] != 0:
                continue
            j = key % n_states
            key //= n_states
            i = key % NM
            key //= NM
            kind, owner = units[key % n_units]
            step = key // n_units
            code = NONFINITE if kind == "node" else EDGE_NONFINITE
            status[b] = (code, s0 + step, owner, j, i)


@lru_cache(maxsize=256)
def _arguments(spec: NetworkSpec) -> RenderedKernel:
    from ..codegen.cuda_step import render_cuda

    src = render_cuda(spec, "block")  # refuses unsupported specs (training hooks) early
    return RenderedKernel(src.source, src.args)


def _kernel(backend, spec: NetworkSpec) -> tuple[RenderedKernel, object]:
    return _arguments(spec), _Launch(backend, spec)


class CUDABackend:
    """Runs kernels on a CUDA GPU (or numba's CUDA simulator); arrays are copied per call.

    Parameters
    ----------
    device : str
        ``"cuda"`` (device 0) or ``"cuda:N"``.
    mode : str, optional
        ``None`` (choose per call), ``"block"`` (one thread block per trial) or ``"grid"`` (a
        cooperative grid over trials x neurons).
    threads : int, optional
        Threads per block (a power of two); ``None`` chooses.
    lanes : int, optional
        Threads per matrix row (a power of two dividing ``threads``); ``None`` chooses.
    """

    name = "cuda"
    #: capabilities (what the runner and the trainers may ask of this backend)
    supports_train_hooks = False  # fit_ridge accumulates on the host from device recordings
    supports_rls = False
    supports_bptt = False

    def __init__(self, device: str = "cuda", *, mode: str | None = None, threads: int | None = None,
                 lanes: int | None = None) -> None:
        if device == "cuda":
            index = 0
        else:
            tail = device.partition(":")[2] if isinstance(device, str) else ""
            if not device.startswith("cuda:") or not tail.isdigit():
                raise BackendError(f"unknown CUDA device {device!r}; use 'cuda' or 'cuda:N'")
            index = int(tail)
        ok, why = cuda_status()
        if not ok:
            raise BackendError(f"device={device!r} is unusable: {why}; {_INSTALL}")
        from numba import cuda

        count = len(cuda.gpus)
        if index >= count:
            raise BackendError(
                f"device={device!r}: only {count} CUDA device(s) present "
                f"(cuda:0 .. cuda:{count - 1})"
            )
        if mode not in (None, "block", "grid"):
            raise BackendError(f"mode must be None, 'block' or 'grid', got {mode!r}")
        for what, v in (("threads", threads), ("lanes", lanes)):
            if v is not None and (int(v) != v or v < 1 or v & (v - 1) or v > 1024):
                raise BackendError(f"{what} must be a power of two between 1 and 1024, got {v!r}")
        self.device, self.index = device, index
        self.mode, self.threads, self.lanes = mode, threads, lanes
        self.simulator = why == "simulator"
        #: launch configuration and timings (seconds) of the last kernel call (the first call of
        #: a network includes compilation in kernel_s)
        self.last_run: dict = {}
        self.n_sm = 1
        if not self.simulator:
            with self.context():
                self.n_sm = int(cuda.get_current_device().MULTIPROCESSOR_COUNT)

    def context(self):
        """Context manager making this backend's GPU current.

        Returns
        -------
        contextlib.AbstractContextManager
            numba's device context.
        """
        from numba import cuda

        return cuda.gpus[self.index]

    def kernel(self, spec: NetworkSpec) -> tuple[RenderedKernel, object]:
        """The CUDA kernel of ``spec``.

        Parameters
        ----------
        spec : NetworkSpec
            The network.

        Returns
        -------
        tuple
            (RenderedKernel with the plan's argument table, callable with the CPU kernel's
            signature).
        """
        return _kernel(self, spec)
