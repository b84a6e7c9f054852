"""CPU backend: the generated kernel compiled with numba @njit (cached on disk)."""

from __future__ import annotations

from functools import lru_cache

from ..codegen.spec import NetworkSpec
from ..codegen.step import RenderedKernel, render_network

__all__ = ["CPUBackend"]


@lru_cache(maxsize=256)
def _compiled(spec: NetworkSpec):
    from ..codegen.cache import load_source

    rendered = render_network(spec)
    module = load_source(rendered.source, options="cpu")
    return rendered, module.kernel


class CPUBackend:
    """Runs kernels on the host; arrays are numpy arrays."""

    name = "cpu"

    def kernel(self, spec: NetworkSpec) -> tuple[RenderedKernel, object]:
        """(rendered source + argument list, callable kernel) for ``spec``."""
        return _compiled(spec)

    @staticmethod
    def to_device(arr):
        return arr

    @staticmethod
    def to_host(arr):
        return arr
