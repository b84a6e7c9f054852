"""CPU backend: the generated kernel compiled with numba @njit (cached on disk).

Threads: kernels of batched runs (B > 1) run trials in parallel, and single-trial kernels with a
large dense J split its rows (NetworkSpec.row_parallel). Set the number of threads with the
``NUMBA_NUM_THREADS`` environment variable (before numba is imported) or with
``numba.set_num_threads(n)`` (at any time, ``n <= NUMBA_NUM_THREADS``).
"""

from __future__ import annotations

from functools import lru_cache

from ..codegen.spec import NetworkSpec

__all__ = ["CPUBackend"]


def _one_trial_at_a_time(kernel):
    """Call ``kernel`` with numba's parallel chunk size 1 (trials handed out one by one).

    With static chunks a thread that the OS deschedules holds up the others at the end of the
    region (measured on a busy 2-core machine); each trial is T whole steps, so dynamic hand-out
    costs nothing. Set here, not in the kernel: a kernel calling set_parallel_chunksize cannot be
    cached by numba (it refers to a ctypes pointer).
    """
    import numba

    def call(*args):
        old = numba.set_parallel_chunksize(1)
        try:
            return kernel(*args)
        finally:
            numba.set_parallel_chunksize(old)

    call.py_kernel = kernel  # the numba dispatcher, for inspection
    return call


@lru_cache(maxsize=256)
def _compiled(spec: NetworkSpec):
    from ..codegen.cache import load_source
    from ..codegen.index import kernel_source

    # the index knows kernels rendered before (also in other processes): no sympy needed then
    rendered = kernel_source(spec, "cpu")
    module = load_source(rendered.source, options="cpu")
    kernel = module.kernel
    if spec.parallel:
        kernel = _one_trial_at_a_time(kernel)
    return rendered, kernel


class CPUBackend:
    """Runs kernels on the host; arrays are numpy arrays."""

    name = "cpu"

    def kernel(self, spec: NetworkSpec) -> tuple[object, object]:
        """(rendered source + argument list, callable kernel) for ``spec``."""
        return _compiled(spec)

    @staticmethod
    def to_device(arr):
        return arr

    @staticmethod
    def to_host(arr):
        return arr
