"""Index of rendered kernels: spec -> (source, argument list), remembered on disk.

Rendering a kernel needs the models' sympy expressions. When every model of a spec is a
:class:`~rectinumba.equations.stored.StoredModel` (content-keyed), the spec's ``repr`` is a
stable key, and a second process finds the kernel source and its argument list here without
importing sympy; numba then loads the machine code from its own cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

from .cache import cache_dir
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


def _read(path: Path, key: str):
    try:
        entry = json.loads(path.read_text())
        if entry.get("key") != key:
            return None
        source = (path.parent.parent / entry["source_file"]).read_text()
        args = tuple(ArgSpec(a[0], a[1], a[2], _tuples(a[3])) for a in entry["args"])
        return RenderedKernel(source, args)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def kernel_source(spec: NetworkSpec, source_file) -> RenderedKernel:
    """Rendered kernel of ``spec`` (source + arguments), from the index when possible.

    ``source_file(source) -> Path`` writes (or finds) the module file for a source text; its name
    is what the index records.
    """
    key = _spec_key(spec)
    folder = cache_dir() / "kernels"
    path = folder / f"{key}.json"
    if key is not None:
        found = _read(path, key)
        if found is not None:
            return found
    from .step import render_network

    rendered = render_network(spec)
    if key is not None:
        folder.mkdir(parents=True, exist_ok=True)
        entry = {
            "key": key,
            "source_file": source_file(rendered.source).name,
            "args": [[a.name, a.role, a.owner, a.detail] for a in rendered.args],
        }
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(entry, fh)
        os.replace(tmp, path)
    return rendered
