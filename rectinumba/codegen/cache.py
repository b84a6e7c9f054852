"""Generated source -> file in the cache folder -> imported module.

numba's ``cache=True`` needs a real file: exec'd strings have no cache locator. The file name is
a hash of the source, the Python/numpy/numba versions and the options, so a second process that
builds the same network imports the same file and loads the compiled machine code from numba's
on-disk cache instead of compiling again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

__all__ = ["cache_dir", "load_source", "source_file"]

_PACKAGE = "rectinumba_generated"
_loaded: dict[str, ModuleType] = {}


def cache_dir() -> Path:
    """Folder of generated kernels: ``$RECTINUMBA_CACHE_DIR`` or the user cache folder."""
    env = os.environ.get("RECTINUMBA_CACHE_DIR")
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        path = Path(base) / "rectinumba"
    try:
        path.mkdir(parents=True, exist_ok=True)
        writable = os.access(path, os.W_OK)
    except OSError as err:
        writable, reason = False, str(err)
    else:
        reason = "not writable"
    if not writable:
        from ..errors import BackendError

        raise BackendError(
            f"cannot use the kernel cache folder {str(path)!r} ({reason})",
            hint="set RECTINUMBA_CACHE_DIR to a writable folder",
        )
    return path


def _fingerprint(source: str, options: str) -> str:
    import numba
    import numpy

    text = "\n".join([sys.version, numpy.__version__, numba.__version__, options, source])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def source_file(source: str, options: str = "") -> Path:
    """Path of the module file holding ``source`` (written once, atomically)."""
    folder = cache_dir()
    path = folder / f"k_{_fingerprint(source, options)}.py"
    if not path.exists() or path.read_text() != source:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(source)
        os.replace(tmp, path)
    return path


def load_source(source: str, options: str = "") -> ModuleType:
    """Write ``source`` under its hash (once) and import it as a module.

    The write is atomic (temporary file + rename), so concurrent processes never import half a
    file. The module is registered in ``sys.modules`` before execution: numba's cache needs to find
    the module by name when a later process loads the compiled kernel.
    """
    digest = _fingerprint(source, options)
    if digest in _loaded:
        return _loaded[digest]
    path = source_file(source, options)
    name = f"{_PACKAGE}.k_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _loaded[digest] = module
    return module
