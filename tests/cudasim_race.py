"""A stricter numba CUDA simulator for the simulator suite: concurrent blocks, real barriers and a
deterministic race checker.

numba's simulator runs the blocks of a grid one after another, releases ``syncthreads`` by
polling, runs a cooperative grid of one block only, and hands out shared arrays through an
unlocked check-then-set (``FakeCUDAShared.array``: two threads that ask at once can get two
different arrays, and a lane reading its partners' partial sums then reads uninitialised memory;
that is what made the simulator suite fail once in a while). Whether a generated kernel has a
missing barrier shows up there only by chance.

:class:`RaceChecker` (a context manager, for the simulator subprocess only) patches the simulator
so that

* every block of a launch runs at the same time (a cooperative grid of several blocks works),
  ``cuda.syncthreads()`` is a barrier of the block's threads and ``grid.sync()`` one of all
  threads; the threads meeting at a barrier must come from the same line of the kernel, and a
  thread must not leave the kernel while others wait at a barrier (both are recorded);
* shared arrays are allocated once per block under a lock, filled with NaN (real shared memory
  starts with garbage), and a read of an element no thread of the block has written is recorded;
* every element access to a kernel array or a shared array is checked against the accesses of
  other threads since the last barrier that orders them (happens-before by barrier epochs: two
  accesses of different threads conflict unless a ``syncthreads`` of their common block or a
  ``grid.sync`` lies between them; blocks of a non-cooperative launch are never ordered). Two
  accesses conflict when one is a plain write, or one is atomic and the other is not. This does
  not depend on how the Python threads happen to interleave: a missing barrier is reported on
  every run, not only when the schedule exposes it.

Benign pairs are declared per kernel argument (``benign``): the CUDA kernels read their failure
key ``z_fail[b]`` at the top of a step while other threads may already ``atomic.min`` keys of
this step into it; those keys are never below the threshold the read compares with, so every
thread takes the same branch whichever value it reads.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field

import numpy as np
from numba.core import types
from numba.cuda.simulator import kernel as _sim_kernel
from numba.cuda.simulator import kernelapi as _sim_api
from numba.cuda.simulator.cudadrv import devicearray as _sim_da
from numba.np import numpy_support

__all__ = ["Hazard", "RaceChecker", "KernelRaceError"]

#: files whose frames are skipped when naming the kernel line of an access
_SIM_DIR = os.path.dirname(os.path.abspath(_sim_kernel.__file__))
_THIS = os.path.abspath(__file__)
_DEFAULT_BENIGN = {"z_fail": {frozenset({"r", "a"})}}


class KernelRaceError(AssertionError):
    """Hazards were recorded while the checker was active."""


class _Abort(Exception):
    """Another thread failed; this one leaves its barrier."""


@dataclass(frozen=True)
class Hazard:
    """One kind of hazard: what, on which array, between which kernel lines.

    Parameters
    ----------
    what : str
        ``"write/read"``, ``"read/atomic"``, ..., ``"uninitialised shared read"``,
        ``"divergent barrier"``, ``"exit at barrier"``.
    array : str
        Kernel argument (or ``sh``/``shc``) name.
    lines : tuple of int
        The kernel lines of the two accesses (earlier access first).
    example : str
        One occurrence: element index, threads and barrier epochs.
    """

    what: str
    array: str
    lines: tuple
    example: str = field(compare=False, default="")


class _Barrier:
    """A barrier of ``n`` threads that records where they met and who left early."""

    def __init__(self, n: int, checker: RaceChecker, name: str) -> None:
        self.n, self.checker, self.name = n, checker, name
        self.cond = threading.Condition()
        self.waiting = self.exited = self.gen = 0
        self.sites: dict[int, int] = {}
        self.broken = False

    def wait(self, site: int) -> None:
        with self.cond:
            if self.broken:
                raise _Abort
            gen = self.gen
            self.sites[site] = self.sites.get(site, 0) + 1
            self.waiting += 1
            self._release_if_complete()
            while gen == self.gen:
                if self.broken:
                    raise _Abort
                if not self.cond.wait(self.checker.timeout):
                    self.broken = True
                    self.cond.notify_all()
                    lines = sorted(self.sites)
                    raise RuntimeError(f"{self.name} barrier: deadlock (lines {lines})")

    def exit(self) -> None:
        with self.cond:
            self.exited += 1
            self._release_if_complete()

    def abort(self) -> None:
        with self.cond:
            self.broken = True
            self.cond.notify_all()

    def _release_if_complete(self) -> None:
        if not self.waiting or self.waiting + self.exited < self.n:
            return
        lines = tuple(sorted(self.sites))
        if len(lines) > 1:
            self.checker._note(Hazard("divergent barrier", self.name, lines, str(self.sites)))
        if self.exited:
            self.checker._note(Hazard("exit at barrier", self.name, lines,
                                      f"{self.exited} thread(s) had left the kernel"))
        self.waiting, self.sites = 0, {}
        self.gen += 1
        self.cond.notify_all()


class _Thread(_sim_kernel.BlockThread):
    """A simulated CUDA thread with barrier epochs."""

    def __init__(self, f, manager, block_idx, thread_idx, debug, block_barrier, grid_barrier,
                 block_key: int) -> None:
        super().__init__(f, manager, block_idx, thread_idx, debug)
        self.rc_block_barrier, self.rc_grid_barrier = block_barrier, grid_barrier
        self.rc_block = block_key
        self.rc_key = (block_key, self.thread_id)
        self.rc_grid_epoch = 0  # grid.sync() calls passed
        self.rc_epoch = 0  # barriers of this block passed (syncthreads and grid.sync)
        self.rc_atomic = False
        self.rc_manager = manager

    def run(self) -> None:
        try:
            super().run()
        finally:
            self.rc_block_barrier.exit()
            self.rc_grid_barrier.exit()
            if self.exception is not None and not isinstance(self.exception[0], _Abort):
                self.rc_manager.abort()

    def syncthreads(self) -> None:
        self.rc_block_barrier.wait(_kernel_line())
        self.rc_epoch += 1

    def grid_sync(self) -> None:
        self.rc_grid_barrier.wait(_kernel_line())
        self.rc_grid_epoch += 1
        self.rc_epoch += 1


def _kernel_line() -> int:
    """Line of the innermost frame outside the simulator and this module."""
    f = sys._getframe(1)
    while f is not None:
        name = f.f_code.co_filename
        if name != _THIS and not name.startswith(_SIM_DIR):
            return f.f_lineno
        f = f.f_back
    return -1


class _GridManager:
    """Stands in for the simulator's BlockManager: the first call runs every block at once."""

    def __init__(self, checker: RaceChecker, f, grid_dim, block_dim, debug) -> None:
        self.checker, self._f = checker, f
        self._grid_dim, self._block_dim, self._debug = grid_dim, block_dim, debug
        self.block_state = np.zeros(block_dim, dtype=np.bool_)
        self.barriers: list[_Barrier] = []

    def abort(self) -> None:
        for bar in self.barriers:
            bar.abort()

    def run(self, grid_point, *args) -> None:
        if any(grid_point):
            return  # the launch at grid point (0, 0, 0) ran every block
        blocks = list(np.ndindex(*self._grid_dim))
        per_block = int(np.prod(self._block_dim))
        grid_bar = _Barrier(len(blocks) * per_block, self.checker, "grid.sync()")
        self.barriers.append(grid_bar)
        self.checker._launch(len(blocks))
        threads = []
        for key, bp in enumerate(blocks):
            block_bar = _Barrier(per_block, self.checker, "syncthreads()")
            self.barriers.append(block_bar)
            for tp in np.ndindex(*self._block_dim):
                threads.append(_Thread(lambda: self._f(*args), self, bp, tp, self._debug,
                                       block_bar, grid_bar, key))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failed = [t for t in threads if t.exception and not isinstance(t.exception[0], _Abort)]
        failed = failed or [t for t in threads if t.exception]
        if failed:
            exc, tb = failed[0].exception
            raise exc.with_traceback(tb)


class RaceChecker:
    """Context manager: run simulated kernels concurrently and record cross-thread hazards.

    Parameters
    ----------
    benign : dict, optional
        Kernel argument name -> set of frozensets of access kinds (``"r"``, ``"w"``, ``"a"``)
        whose concurrent pairs are allowed (default: reads of ``z_fail`` beside its atomics).
    timeout : float
        Seconds a barrier waits before it reports a deadlock.
    cooperative_blocks : int
        Blocks of a grid-mode (cooperative) launch; the simulator's default is 1.
    """

    def __init__(self, benign: dict | None = None, timeout: float = 120.0,
                 cooperative_blocks: int = 1) -> None:
        self.benign = _DEFAULT_BENIGN if benign is None else benign
        self.timeout = timeout
        self.cooperative_blocks = cooperative_blocks
        self.hazards: dict[Hazard, int] = {}
        self.launches = 0
        self._lock = threading.Lock()
        self._shadow: dict[int, dict] = {}
        self._written_shared: set[int] = set()
        self._ranges: list[tuple[int, int, str]] = []
        self._saved: list[tuple[object, str, object]] = []

    # ---- results -------------------------------------------------------------------------------
    def report(self) -> str:
        """The recorded hazards, one line each.

        Returns
        -------
        str
            Text (empty when there are none).
        """
        return "\n".join(f"{h.what} on {h.array} at kernel lines {h.lines} (x{n}): {h.example}"
                         for h, n in self.hazards.items())

    def check(self) -> None:
        """Raise :class:`KernelRaceError` if any hazard was recorded.

        Raises
        ------
        KernelRaceError
            With :meth:`report`.
        """
        if self.hazards:
            raise KernelRaceError("cross-thread hazards in simulated kernels:\n" + self.report())

    def reset(self) -> None:
        """Forget the recorded hazards."""
        self.hazards.clear()

    # ---- patching ------------------------------------------------------------------------------
    def _patch(self, owner, name: str, value) -> None:
        self._saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)

    def __enter__(self) -> RaceChecker:
        checker = self
        orig_get = _sim_da.FakeWithinKernelCUDAArray.__getitem__
        orig_set = _sim_da.FakeWithinKernelCUDAArray.__setitem__
        orig_call = _sim_kernel.FakeCUDAKernel.__call__

        def getitem(arr, idx):
            checker._access(arr, idx, "r")
            return orig_get(arr, idx)

        def setitem(arr, idx, val):
            checker._access(arr, idx, "w")
            orig_set(arr, idx, val)

        def call(kern, *args):
            if not kern._device:
                checker._name_arguments(kern.fn, args)
            return orig_call(kern, *args)

        def manager(f, grid_dim, block_dim, debug):
            return _GridManager(checker, f, grid_dim, block_dim, debug)

        def shared_array(shared, shape, dtype):
            return checker._shared_array(shared, shape, dtype)

        def grid_sync(group):
            t = threading.current_thread()
            if isinstance(t, _Thread):
                t.grid_sync()
            else:  # pragma: no cover - only kernels call it
                t.syncthreads()

        def overloads(kern):
            return _Overloads(checker.cooperative_blocks)

        self._patch(_sim_da.FakeWithinKernelCUDAArray, "__getitem__", getitem)
        self._patch(_sim_da.FakeWithinKernelCUDAArray, "__setitem__", setitem)
        self._patch(_sim_kernel.FakeCUDAKernel, "__call__", call)
        self._patch(_sim_kernel.FakeCUDAKernel, "overloads", property(overloads))
        self._patch(_sim_kernel, "BlockManager", manager)
        self._patch(_sim_api.FakeCUDAShared, "array", shared_array)
        self._patch(_sim_api.GridGroup, "sync", grid_sync)
        for op in ("add", "sub", "max", "min", "exch", "cas", "inc", "dec"):
            self._patch(_sim_api.FakeCUDAAtomic, op, _atomic(getattr(_sim_api.FakeCUDAAtomic, op)))
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, value in reversed(self._saved):
            setattr(owner, name, value)
        self._saved.clear()

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _launch(self, n_blocks: int) -> None:
        with self._lock:
            self.launches += 1
            self._shadow.clear()
            self._written_shared.clear()

    def _name_arguments(self, fn, args) -> None:
        names = fn.__code__.co_varnames[: fn.__code__.co_argcount]
        ranges = []
        for name, arg in zip(names, args, strict=False):
            ary = getattr(arg, "_ary", arg)
            if isinstance(ary, np.ndarray) and ary.size:
                start = ary.__array_interface__["data"][0]
                ranges.append((start, start + ary.nbytes, name))
        with self._lock:
            self._ranges = ranges

    def _name(self, addr: int) -> str:
        for start, end, name in self._ranges:
            if start <= addr < end:
                return name
        return "?"

    def _note(self, hazard: Hazard) -> None:
        with self._lock:
            self.hazards[hazard] = self.hazards.get(hazard, 0) + 1

    def _shared_array(self, shared, shape, dtype):
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        t = threading.current_thread()
        caller = sys._getframe(2)
        key = (caller.f_code.co_filename, caller.f_lineno, getattr(t, "rc_block", 0))
        with self._lock:  # numba's check-then-set hands out two arrays when two threads race
            res = shared._allocations.get(key)
            if res is None:
                ary = np.empty(shape, dtype)
                ary.fill(np.nan)
                res = _sim_da.FakeWithinKernelCUDAArray(_sim_da.FakeCUDAArray(ary))
                start = ary.__array_interface__["data"][0]
                name = f"shared array (line {caller.f_lineno}, block {key[2]})"
                self._ranges.append((start, start + ary.nbytes, name))
                res.__dict__["_rc_shared"] = True
                shared._allocations[key] = res
        return res

    def _access(self, arr, idx, kind: str) -> None:
        t = threading.current_thread()
        if not isinstance(t, _Thread):
            return
        if t.rc_atomic:
            kind = "a"
        meta = arr.__dict__.get("_rc_meta")
        if meta is None:
            ary = arr.__dict__["_item"]._ary
            meta = (ary.__array_interface__["data"][0], ary.strides, ary.shape)
            arr.__dict__["_rc_meta"] = meta
        base, strides, shape = meta
        if not isinstance(idx, tuple):
            idx = (idx,)
        if len(idx) != len(shape) or not all(isinstance(i, (int, np.integer)) for i in idx):
            return  # a partial index or slice: its elements are checked on the view
        addr = base
        for i, s, n in zip(idx, strides, shape, strict=True):
            i = int(i)
            addr += (i + n if i < 0 else i) * s
        line = _kernel_line()
        me, blk, g, e = t.rc_key, t.rc_block, t.rc_grid_epoch, t.rc_epoch
        shared = arr.__dict__.get("_rc_shared", False)
        with self._lock:
            if shared:
                if kind == "r" and addr not in self._written_shared:
                    self.hazards[Hazard("uninitialised shared read", self._name(addr),
                                        (line,), f"index {idx}, thread {me}")] = 1
                elif kind != "r":
                    self._written_shared.add(addr)
            entries = self._shadow.setdefault(addr, {})
            stale = []
            for (who, k), (oblk, og, oe, oline) in entries.items():
                if who == me:
                    continue
                if og < g or (oblk == blk and oe < e):
                    stale.append((who, k))  # a barrier orders it before this access
                    continue
                if k == kind and k in "ra":
                    continue  # two reads, or two atomics
                pair = frozenset({k, kind})
                name = self._name(addr)
                if pair in self.benign.get(name, ()):
                    continue
                hz = Hazard(f"{_KIND[k]}/{_KIND[kind]}", name, (oline, line),
                            f"index {idx}: thread {who} epoch {oe} then thread {me} epoch {e}")
                self.hazards[hz] = self.hazards.get(hz, 0) + 1
            for s in stale:
                del entries[s]
            entries[(me, kind)] = (blk, g, e, line)


_KIND = {"r": "read", "w": "write", "a": "atomic"}


class _Overloads(dict):
    """The simulator's overload table, with the cooperative grid size the checker runs."""

    def __init__(self, blocks: int) -> None:
        super().__init__()
        self.blocks = blocks

    def __getitem__(self, key):
        return self

    def values(self):
        return [self]

    def max_cooperative_grid_blocks(self, blockdim) -> int:
        return self.blocks


def _atomic(orig):
    def atomic(self, array, *args):
        t = threading.current_thread()
        if not isinstance(t, _Thread):
            return orig(self, array, *args)
        t.rc_atomic = True
        try:
            return orig(self, array, *args)
        finally:
            t.rc_atomic = False

    return atomic
