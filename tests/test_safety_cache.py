"""Caches that heal (issue 10.5): damaged kernel files, numba files and index entries are found
before use and rebuilt; a rebuild that fails again is a BackendError naming the folder; a
complete read-only cache is used without writing anything.

Each process step runs in a fresh interpreter (caches are per process once loaded).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

RUN = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from rectinumba import Network
    J = np.random.default_rng(0).standard_normal((4, 4))
    net = Network(1e-2)
    net.add_diffeq_node("cache_probe", "model_templates.rate_neurons.leaky_integrator.tanh",
                        weights=J, source_var="tanh_op/r", target_var="li_op/r_in",
                        input_var="li_op/I_ext", output_var="li_op/v")
    out = net.run(np.ones((50, 4)), verbose=False)["out"]
    kernel = net._backend.kernel(net._spec()[0])[1]
    print(json.dumps({"out": out.tolist(), "hits": sum(kernel.stats.cache_hits.values()),
                      "misses": sum(kernel.stats.cache_misses.values()),
                      "sympy": "sympy" in sys.modules}))
    """
)

# A read-only file system for one folder, also for root (whom chmod does not stop): every way
# rectinumba and numba write (open for writing, os.open with write flags, mkdir, replace,
# rename, unlink, mkstemp) raises EROFS inside it and is recorded; os.access reports it
# read-only.
READ_ONLY = textwrap.dedent(
    """
    import builtins, errno, io, os, sys
    RO = os.path.realpath(os.environ["RO_DIR"])
    WRITES = []

    def _inside(path):
        try:
            p = os.path.realpath(os.fsdecode(os.fspath(path)))
        except TypeError:
            return False
        return p == RO or p.startswith(RO + os.sep)

    def _refuse(path):
        WRITES.append(str(path))
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    _open = builtins.open
    def _open_ro(file, mode="r", *a, **k):
        if _inside(file) and any(c in mode for c in "wax+"):
            _refuse(file)
        return _open(file, mode, *a, **k)
    builtins.open = io.open = _open_ro

    _os_open = os.open
    def _os_open_ro(path, flags, *a, **k):
        if _inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC):
            _refuse(path)
        return _os_open(path, flags, *a, **k)
    os.open = _os_open_ro

    def _guard(name, nargs=1):
        real = getattr(os, name)
        def wrapper(*args, **kwargs):
            for p in args[:nargs]:
                if _inside(p):
                    _refuse(p)
            return real(*args, **kwargs)
        setattr(os, name, wrapper)
    for _name, _n in (("mkdir", 1), ("makedirs", 1), ("replace", 2), ("rename", 2),
                      ("unlink", 1), ("remove", 1), ("rmdir", 1), ("utime", 1), ("chmod", 1)):
        _guard(_name, _n)

    _access = os.access
    def _access_ro(path, mode, *a, **k):
        if _inside(path) and mode & os.W_OK:
            return False
        return _access(path, mode, *a, **k)
    os.access = _access_ro
    """
)


def run(cache: Path, env_extra: dict | None = None, read_only: Path | None = None) -> dict:
    env = dict(os.environ, RECTINUMBA_CACHE_DIR=str(cache), **(env_extra or {}))
    code = RUN
    if read_only is not None:
        env["RO_DIR"] = str(read_only)
        code = READ_ONLY + RUN + "\nprint(json.dumps({'writes': WRITES}))\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    result = lines[0]
    if read_only is not None:
        result["writes"] = lines[1]["writes"]
    return result


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory) -> tuple[Path, dict]:
    """A complete cache for the probe network, and the reference run that built it."""
    cache = tmp_path_factory.mktemp("built") / "cache"
    first = run(cache)
    assert first["misses"] >= 1 and first["sympy"]  # cold: rendered and compiled
    return cache, first


def copy_of(built_cache, tmp_path) -> Path:
    cache = tmp_path / "cache"
    shutil.copytree(built_cache[0], cache)
    return cache


def kernel_files(cache: Path) -> tuple[Path, list[Path], list[Path]]:
    (module,) = [p for p in cache.glob("k_*.py")]
    pyc = cache / "__pycache__"
    stem = module.stem
    return module, sorted(pyc.glob(f"{stem}.*.nbi")), sorted(pyc.glob(f"{stem}.*.nbc"))


def test_truncated_kernel_module_is_detected_and_rebuilt(built_cache, tmp_path):
    """A cached k_*.py cut after some lines is still valid Python, computing something else."""
    cache = copy_of(built_cache, tmp_path)
    module, _, _ = kernel_files(cache)
    good = module.read_text()
    lines = good.splitlines(keepends=True)
    module.write_text("".join(lines[: len(lines) * 2 // 3]))
    again = run(cache)
    assert again["out"] == built_cache[1]["out"]
    assert module.read_text() == good  # rewritten with the verified source
    assert again["hits"] >= 1  # the same source: numba's compiled code is valid again


def test_damaged_numba_files_are_deleted_and_recompiled(built_cache, tmp_path):
    """numba alone would raise UnpicklingError/EOFError on these, in every later process."""
    cache = copy_of(built_cache, tmp_path)
    _, indexes, datas = kernel_files(cache)
    assert indexes and datas
    for f in datas:  # garbage compiled code, index intact
        f.write_bytes(os.urandom(len(f.read_bytes())))
    again = run(cache)
    assert again["out"] == built_cache[1]["out"] and again["misses"] >= 1
    for f in indexes:  # a truncated index
        f.write_bytes(f.read_bytes()[:40])
    again = run(cache)
    assert again["out"] == built_cache[1]["out"] and again["misses"] >= 1
    assert run(cache)["hits"] >= 1  # compiled and saved again: the next process loads it


def test_tampered_index_entries_are_not_trusted(built_cache, tmp_path):
    cache = copy_of(built_cache, tmp_path)
    for entry_file in list((cache / "kernels").glob("*.json")) + list(
        (cache / "models").glob("*.json")
    ):
        data = json.loads(entry_file.read_text())
        entry = data["entry"]
        if "args" in entry:
            entry["args"] = entry["args"][::-1]  # valid JSON, wrong content
        else:
            entry["states"] = entry["states"][:0]
        entry_file.write_text(json.dumps(data))
    again = run(cache)
    assert again["out"] == built_cache[1]["out"]
    assert again["sympy"]  # the entries were rebuilt from the templates


def test_complete_read_only_cache_is_used_without_writing(built_cache, tmp_path):
    """An administrator's pre-built cache: nothing is written (rectinumba's files and numba's),
    nothing is compiled, sympy is not even imported."""
    cache = copy_of(built_cache, tmp_path)
    if os.geteuid() != 0:  # a real read-only folder too where chmod binds
        for p in [cache, *cache.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
    home = {"XDG_CACHE_HOME": str(tmp_path / "home_cache")}
    try:
        ro = run(cache, home, read_only=cache)
        assert ro["writes"] == []
        assert ro["out"] == built_cache[1]["out"]
        assert ro["hits"] >= 1 and ro["misses"] == 0 and not ro["sympy"]
        assert not (tmp_path / "home_cache").exists()  # no overlay was needed

        # damaged numba files in a read-only cache: rebuilt in the writable overlay instead
        _, indexes, _ = kernel_files(cache)
        for f in indexes:
            f.chmod(0o644)
            f.write_bytes(b"garbage")
        damaged = run(cache, home, read_only=cache)
        assert damaged["out"] == built_cache[1]["out"]
        assert damaged["writes"] == []
        assert any((tmp_path / "home_cache" / "rectinumba").glob("k_*.py"))
    finally:
        for p in [cache, *cache.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


def test_a_rebuild_that_fails_again_is_a_backend_error_naming_the_folder(tmp_path, monkeypatch):
    from rectinumba.codegen import cache as kcache
    from rectinumba.errors import BackendError

    monkeypatch.setenv("RECTINUMBA_CACHE_DIR", str(tmp_path / "c"))

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(kcache.os, "replace", full_disk)
    msg = r"(?s)cannot write the cache file 'k_.*No space left.*kernel cache folder '.*c'.*" \
          r"RECTINUMBA_CACHE_DIR"  # fmt: skip
    with pytest.raises(BackendError, match=msg):
        kcache.load_source("VALUE = 1\n", options="test-full-disk")
    monkeypatch.undo()

    # a file system that corrupts what it stores: the rebuilt file is wrong as well
    monkeypatch.setenv("RECTINUMBA_CACHE_DIR", str(tmp_path / "c"))
    real_replace = os.replace

    def corrupting(src, dst):
        Path(src).write_text("VALUE = 2\n")
        real_replace(src, dst)

    monkeypatch.setattr(kcache.os, "replace", corrupting)
    with pytest.raises(BackendError, match=r"reads back differently.*kernel cache folder"):
        kcache.load_source("VALUE = 1\n", options="test-corrupting")
