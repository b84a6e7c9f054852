"""Index of rendered kernels: spec -> (source, argument list), remembered on disk.

Rendering a kernel needs the models' sympy expressions. When every model of a spec is a
:class:`~rectinumba.equations.stored.StoredModel` (content-keyed), the spec's ``repr`` is a
stable key, and a second process finds the kernel source and its argument list here without
importing sympy; numba then loads the machine code from its own cache.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from .cache import find_file, kernel_file_name, read_entry, source_file, write_entry
from .spec import ArgSpec, DiffEqSpec, NetworkSpec, RenderedKernel

__all__ = ["kernel_source"]


@lru_cache(maxsize=1)
def _codegen_fingerprint() -> str:
    digest = hashlib.sha256()
    for f in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def _spec_key(spec: NetworkSpec) -> str | None:
    if spec.train is not None:
        return None
    for node in spec.nodes:
        if isinstance(node, DiffEqSpec) and not hasattr(node.model, "key"):
            return None  # a NodeModel given directly: no content key
    text = _codegen_fingerprint() + repr(spec)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _read(key: str) -> RenderedKernel | None:
    """The indexed kernel of ``key``: entry and source both verified, else None."""
    entry = read_entry(f"kernels/{key}.json", check=lambda e: e.get("key") == key)
    if entry is None:
        return None
    try:
        name, options = entry["source_file"], entry["options"]
        args = tuple(ArgSpec(a[0], a[1], a[2], _tuples(a[3])) for a in entry["args"])
    except (KeyError, IndexError, TypeError):
        return None
    # the module file must hash to its name: a truncated file is valid Python that computes
    # something else, and would be trusted forever
    found: list[str] = []

    def verify(text: str) -> bool:
        ok = kernel_file_name(text, options) == name
        if ok:
            found.append(text)
        return ok

    if not isinstance(name, str) or find_file(name, verify) is None:
        return None
    return RenderedKernel(found[-1], args)


def kernel_source(spec: NetworkSpec, options: str) -> RenderedKernel:
    """Rendered kernel of ``spec`` (source + arguments), from the index when possible.

    Parameters
    ----------
    spec : NetworkSpec
        The network structure.
    options : str
        Backend options of the module file (see :func:`~rectinumba.codegen.cache.load_source`).

    Returns
    -------
    RenderedKernel
        Source and argument list; a damaged or missing index entry or module file is rendered
        again (sympy) and rewritten.
    """
    key = _spec_key(spec)
    if key is not None:
        found = _read(key)
        if found is not None:
            return found
    from .step import render_network

    rendered = render_network(spec)
    if key is not None:
        entry = {
            "key": key,
            "source_file": source_file(rendered.source, options).name,
            "options": options,
            "args": [[a.name, a.role, a.owner, a.detail] for a in rendered.args],
        }
        write_entry(f"kernels/{key}.json", json.loads(json.dumps(entry)))
    return rendered
