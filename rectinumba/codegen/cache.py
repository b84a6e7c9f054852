"""Generated source -> verified file in the cache folder -> imported module.

numba's ``cache=True`` needs a real file: exec'd strings have no cache locator. The file name is
a hash of the source, the Python/numpy/numba versions and the options, so a second process that
builds the same network imports the same file and loads the compiled machine code from numba's
on-disk cache instead of compiling again.

Integrity: nothing in the cache is trusted because it is there.

- A kernel module ``k_<hash>.py`` is used only when its content is the source (its hash is its
  name); the module is compiled from the verified text itself (no second read, no ``.pyc``).
- numba's files next to it (``__pycache__/k_<hash>.*.nbi``/``.nbc``) are unpickled once before
  the module is imported; damaged ones are deleted and numba rebuilds them.
- Index entries (kernel index, stored models) are JSON with a SHA-256 of their content
  (:func:`read_entry`, :func:`write_entry`).

A damaged file is rebuilt once; if the rebuilt file is not right either (a failing disk, a full
file system), a BackendError names the folder and ``RECTINUMBA_CACHE_DIR``.

Read-only caches: a complete cache folder that this process cannot write (an HPC module built
by an administrator) is used without writing anything, numba's compiled code included. What it
lacks (a new network) is written to a writable overlay: the user's default cache folder when
``RECTINUMBA_CACHE_DIR`` points elsewhere, else a private temporary folder.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "cache_dir",
    "cache_layers",
    "writable_dir",
    "find_file",
    "write_file",
    "read_entry",
    "write_entry",
    "load_source",
    "source_file",
    "kernel_file_name",
]

_PACKAGE = "rectinumba_generated"
_loaded: dict[str, ModuleType] = {}
_load_lock = threading.Lock()
_overlay: dict[Path, Path] = {}
_HINT = (
    "RECTINUMBA_CACHE_DIR selects the kernel cache folder; point it to a writable folder on a "
    "healthy file system"
)


def _backend_error(message: str, folder: Path | str):
    from ..errors import BackendError

    return BackendError(f"{message} (kernel cache folder {str(folder)!r})", hint=_HINT)


def _default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "rectinumba"


def cache_dir() -> Path:
    """Folder of generated kernels: ``$RECTINUMBA_CACHE_DIR`` or the user cache folder.

    Created when missing. It may be read-only (see the module docstring).

    Returns
    -------
    pathlib.Path
        The folder.
    """
    env = os.environ.get("RECTINUMBA_CACHE_DIR")
    path = Path(env).expanduser() if env else _default_dir()
    try:
        if not path.is_dir():  # (an existing read-only folder is not even asked to mkdir)
            path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if not path.is_dir():
            from ..errors import BackendError

            raise BackendError(
                f"cannot use the kernel cache folder {str(path)!r} ({err})",
                hint="set RECTINUMBA_CACHE_DIR to a writable folder",
            ) from None
    if not os.access(path, os.R_OK | os.X_OK):
        from ..errors import BackendError

        raise BackendError(
            f"cannot use the kernel cache folder {str(path)!r} (not readable)",
            hint="set RECTINUMBA_CACHE_DIR to a readable (and writable) folder",
        )
    return path


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def writable_dir() -> Path:
    """The folder new cache files go to: the cache folder, or its overlay when it is read-only.

    Returns
    -------
    pathlib.Path
        A writable folder.
    """
    primary = cache_dir()
    if _writable(primary):
        return primary
    overlay = _overlay.get(primary)
    if overlay is None:
        default = _default_dir()
        try:
            if default.resolve() == primary.resolve():
                raise OSError("the default folder is the read-only one")
            default.mkdir(parents=True, exist_ok=True)
            if not _writable(default):
                raise OSError("not writable")
            overlay = default
        except OSError:
            # private to this process (mkdtemp: mode 0700, a fresh name)
            overlay = Path(tempfile.mkdtemp(prefix="rectinumba-cache-"))
        _overlay[primary] = overlay
    return overlay


def cache_layers() -> list[Path]:
    """Folders searched for cache files, in order: the cache folder, then its overlay (if any).

    Returns
    -------
    list of pathlib.Path
        One or two folders.
    """
    primary = cache_dir()
    if _writable(primary):
        return [primary]
    overlay = _overlay.get(primary)
    if overlay is None:
        default = _default_dir()
        # a read-only cache folder: what an earlier process added lives in the default folder
        if default.is_dir() and default.resolve() != primary.resolve():
            overlay = default
    return [primary] if overlay is None else [primary, overlay]


def _remove(path: Path) -> bool:
    """Delete ``path`` if this process may; True when it is gone."""
    if not _writable(path.parent):
        return not path.exists()  # a read-only folder: not even an attempt
    try:
        path.unlink()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def find_file(relative: str, verify: Callable[[str], bool]) -> Path | None:
    """The first file ``relative`` in the cache layers whose text passes ``verify``.

    Files that fail (damaged: truncated, garbage, not UTF-8) are deleted where this process may
    delete them, so that they are rebuilt.

    Parameters
    ----------
    relative : str
        Path inside the cache folder (``"k_<hash>.py"``, ``"kernels/<key>.json"``).
    verify : callable
        ``verify(text) -> bool``.

    Returns
    -------
    pathlib.Path or None
        The verified file, or None when no layer holds a good one.
    """
    for layer in cache_layers():
        path = layer / relative
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError):
            _remove(path)
            continue
        if verify(text):
            return path
        _remove(path)
    return None


def write_file(relative: str, text: str) -> Path:
    """Write ``text`` to ``relative`` in the writable layer, atomically, and check it back.

    Parameters
    ----------
    relative : str
        Path inside the cache folder.
    text : str
        The content.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    folder = writable_dir()
    path = folder / relative
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            _remove(Path(tmp))
            raise
        written = path.read_text(encoding="utf-8")
    except OSError as err:
        raise _backend_error(f"cannot write the cache file {relative!r}: {err}", folder) from None
    if written != text:
        raise _backend_error(
            f"the cache file {relative!r} reads back differently from what was written", folder
        )
    return path


def _entry_digest(entry: Any) -> str:
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()


def read_entry(relative: str, check: Callable[[dict], bool] | None = None) -> dict | None:
    """A JSON index entry written by :func:`write_entry`, verified against its SHA-256.

    Parameters
    ----------
    relative : str
        Path inside the cache folder.
    check : callable, optional
        Further test of the entry (e.g. its key); a failing entry is treated as damaged.

    Returns
    -------
    dict or None
        The entry, or None when absent or damaged (a damaged entry is deleted where possible).
    """
    found: list[dict] = []

    def verify(text: str) -> bool:
        try:
            data = json.loads(text)
            entry = data["entry"]
            ok = data["sha256"] == _entry_digest(entry) and (check is None or check(entry))
        except (ValueError, KeyError, TypeError):
            return False
        if ok:
            found.append(entry)
        return ok

    return found[-1] if find_file(relative, verify) is not None else None


def write_entry(relative: str, entry: dict) -> Path:
    """Write a JSON index entry with the SHA-256 of its content (see :func:`read_entry`).

    Parameters
    ----------
    relative : str
        Path inside the cache folder.
    entry : dict
        JSON-serialisable content.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    return write_file(relative, json.dumps({"sha256": _entry_digest(entry), "entry": entry}))


def _fingerprint(source: str, options: str) -> str:
    import numba
    import numpy

    text = "\n".join([sys.version, numpy.__version__, numba.__version__, options, source])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def kernel_file_name(source: str, options: str = "") -> str:
    """Name of the module file of ``source``: ``k_<hash>.py``.

    Parameters
    ----------
    source : str
        Generated source.
    options : str
        Backend options; the hash covers them, the source and the Python, numpy and numba
        versions.

    Returns
    -------
    str
        The file name.
    """
    return f"k_{_fingerprint(source, options)}.py"


def source_file(source: str, options: str = "") -> Path:
    """Path of a verified module file holding exactly ``source`` (written when missing).

    Parameters
    ----------
    source : str
        Generated source.
    options : str
        Backend options that are part of the hash.

    Returns
    -------
    pathlib.Path
        The file.
    """
    name = kernel_file_name(source, options)
    found = find_file(name, lambda text: text == source)
    return found if found is not None else write_file(name, source)


def _damaged_numba_files(path: Path) -> list[Path]:
    """numba cache files of module ``path`` that numba would fail to load (truncated, garbage).

    numba reads an index (``.nbi``: its version, then a pickle of (source stamp, overloads)) and
    then the data file of the overload it needs (``.nbc``: a pickle). The index is unpickled as
    numba would (an index of another numba version is ignored by numba and here); a data file
    refers to the kernel module, which is not imported yet, so its pickle is only walked opcode
    by opcode (:func:`pickletools.genops`, nothing is built): truncation and garbage fail there.
    """
    import pickle

    import numba

    folder = path.parent / "__pycache__"
    bad: list[Path] = []
    for index in sorted(folder.glob(f"{path.stem}.*.nbi")):
        base = index.name[: -len(".nbi")]
        group = [index] + sorted(folder.glob(f"{base}.*.nbc"))
        try:
            with open(index, "rb") as fh:
                version = pickle.load(fh)
                rest = fh.read()
            if version != numba.__version__:
                continue
            _, overloads = pickle.loads(rest)
            for data_name in overloads.values():
                data = folder / data_name
                if data.exists():
                    _walk_pickle(data.read_bytes())
        except Exception:  # noqa: BLE001 - any failure to unpickle means numba would fail too
            bad.extend(group)
    return bad


def _walk_pickle(data: bytes) -> None:
    """Raise unless ``data`` is one complete pickle (valid opcodes, ending exactly at STOP)."""
    import pickletools

    end = -1
    for op, _, pos in pickletools.genops(data):
        if op.name == "STOP":
            end = pos + 1
            break
    if end != len(data):
        raise ValueError("not one complete pickle")


def _usable_numba_cache(path: Path, source: str, options: str) -> Path:
    """``path``, or a fresh copy in the writable layer, whose numba files numba can load."""
    bad = _damaged_numba_files(path)
    if not bad:
        return path
    if all(_remove(f) for f in bad):
        return path  # numba compiles again and rewrites them
    # a read-only layer: rebuild beside a copy of the module in the writable layer
    copy = write_file(path.name, source)
    if copy != path and not [f for f in _damaged_numba_files(copy) if not _remove(f)]:
        return copy
    raise _backend_error(f"damaged numba cache files cannot be removed: {bad[0].name}", path.parent)


class _VerifiedSourceLoader(importlib.abc.SourceLoader):
    """Loads a module from source text that was verified against its file.

    ``get_data`` returns that text (the file is not read a second time) and there is no
    bytecode cache (``path_stats`` is not implemented), so exactly the verified text runs.
    """

    def __init__(self, path: Path, source: str) -> None:
        self.path, self.source = path, source

    def get_filename(self, fullname: str) -> str:
        return str(self.path)

    def get_data(self, path: str) -> bytes:
        return self.source.encode("utf-8")


def load_source(source: str, options: str = "") -> ModuleType:
    """Find or write ``source`` under its hash and import it as a module.

    Writes are atomic (temporary file + rename), so concurrent processes never import half a
    file; a damaged file is replaced. The module is registered in ``sys.modules`` before
    execution: numba's cache needs to find the module by name when a later process loads the
    compiled kernel.

    Parameters
    ----------
    source : str
        Generated source.
    options : str
        Backend options that are part of the hash.

    Returns
    -------
    types.ModuleType
        The imported module.
    """
    digest = _fingerprint(source, options)
    if digest in _loaded:
        return _loaded[digest]
    with _load_lock:  # two networks in two threads: one import per module
        if digest not in _loaded:
            _loaded[digest] = _import(source, options, digest)
    return _loaded[digest]


def _import(source: str, options: str, digest: str) -> ModuleType:
    path = _usable_numba_cache(source_file(source, options), source, options)
    name = f"{_PACKAGE}.k_{digest}"
    loader = _VerifiedSourceLoader(path, source)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    _install_read_only_locator()
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    if not _writable(path.parent):
        _skip_numba_saves(module)
    return module


# ---- read-only cache folders and numba -----------------------------------------------------------
_locator_installed = False


def _install_read_only_locator() -> None:
    """Let numba load compiled code from a read-only cache folder of generated kernels.

    numba's in-tree locator refuses a ``__pycache__`` it cannot write to and falls back to the
    user-wide numba cache (where nothing is cached yet: it would compile again). This locator,
    tried first, serves generated kernel modules only (``k_*.py`` inside a cache layer) whose
    ``__pycache__`` exists but is read-only; everything else goes to numba's own locators.
    """
    global _locator_installed
    if _locator_installed:
        return
    _locator_installed = True
    try:
        from numba.core.caching import CacheImpl, InTreeCacheLocator
    except ImportError:  # pragma: no cover - numba without these internals: compile instead
        return

    class ReadOnlyKernelLocator(InTreeCacheLocator):
        """numba's in-tree locator for generated kernels in a read-only cache folder."""

        @classmethod
        def from_function(cls, py_func, py_file):
            file = Path(py_file)
            if not (file.name.startswith("k_") and file.suffix == ".py"):
                return None
            cache = file.parent / "__pycache__"
            if not cache.is_dir() or _writable(cache):
                return None  # numba's own locator handles writable folders
            if not any(file.parent.resolve() == layer.resolve() for layer in cache_layers()):
                return None
            return cls(py_func, py_file)

        def ensure_cache_path(self) -> None:
            # read-only: nothing to create; saving is switched off (_skip_numba_saves)
            return None

    CacheImpl._locator_classes.insert(0, ReadOnlyKernelLocator)


def _skip_numba_saves(module: ModuleType) -> None:
    """A kernel of a read-only folder that numba must compile (a signature the cache lacks) is
    compiled in memory only: saving would fail on the read-only folder."""
    for value in vars(module).values():
        cache = getattr(value, "_cache", None)
        if cache is not None and hasattr(cache, "save_overload"):
            cache.save_overload = lambda sig, data: None
