"""Light import and cross-process kernel reuse, each checked in a fresh subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

#: modules that neither ``import rectinumba`` nor ``from rectinumba import Network, sweep`` loads
HEAVY = ("numba", "sympy", "scipy", "dask", "distributed", "xarray", "mpi4py")
IMPORT_PROBE = (
    "import sys; import rectinumba; from rectinumba import Network, sweep;"
    f"print(*[m in sys.modules for m in {HEAVY!r}])"
)


@pytest.mark.slow
def test_import_is_light():
    """What is deterministic: ``import rectinumba`` (and Network, sweep) loads neither numba,
    sympy, scipy nor the optional dask, distributed, xarray and mpi4py. Its duration depends on
    the machine's load: benchmarks/cpu_bench.py --only import measures it (about 250 ms on an
    idle machine)."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    loaded = [m for m, flag in zip(HEAVY, out, strict=True) if flag == "True"]
    assert not loaded, f"import rectinumba loaded {loaded}"


SCRIPT = textwrap.dedent(
    """
    import json, sys, numpy as np
    from rectinumba import Network
    net = Network(dt=1e-3)
    J = np.random.default_rng(0).standard_normal((5, 5))
    net.add_diffeq_node("lif", "neuron_model_templates.spiking_neurons.lif.lif", weights=J,
                        source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
                        op="lif_op", spike_var="spike", spike_def="v")
    obs = net.run(np.ones((100, 5)), verbose=False)
    kernel = net._backend.kernel(net._runner.spec()[0])[1]
    print(json.dumps({"hits": sum(kernel.stats.cache_hits.values()),
                      "misses": sum(kernel.stats.cache_misses.values()),
                      "out": float(obs["out"].sum()), "sympy": "sympy" in sys.modules}))
    """
)


@pytest.mark.slow
def test_second_process_loads_compiled_kernel_from_cache(tmp_path):
    env = dict(os.environ, RECTINUMBA_CACHE_DIR=str(tmp_path / "cache"))
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, env=env
            ).stdout
        )
        for _ in range(2)
    ]
    assert runs[0]["misses"] >= 1 and runs[0]["hits"] == 0  # cold: compiled
    assert runs[1]["hits"] >= 1 and runs[1]["misses"] == 0  # warm: loaded from the disk cache
    assert runs[0]["sympy"] and not runs[1]["sympy"]  # warm: model and kernel index, no sympy
    assert runs[0]["out"] == runs[1]["out"]
    assert any(p.suffix == ".py" for p in (tmp_path / "cache").iterdir())


def test_unusable_cache_folder_is_a_clear_error(tmp_path, monkeypatch):
    from rectinumba.codegen.cache import cache_dir
    from rectinumba.errors import BackendError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RECTINUMBA_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(
        BackendError,
        match=r"(?s)cannot use the kernel cache folder .*file/cache.*RECTINUMBA_CACHE_DIR",
    ):
        cache_dir()
