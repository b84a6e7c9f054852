"""The main job ``python -m rectinumba``: summary, PNG, and an exact spike count."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from rectinumba import demo


def _run_cli(args: list[str], cwd, pre: str = "") -> subprocess.CompletedProcess:
    """Run the demo in a fresh interpreter (``pre`` is executed first, to hide modules)."""
    if pre:
        code = f"{pre}\nfrom rectinumba.demo import main\nraise SystemExit(main())"
        cmd = [sys.executable, "-c", code, *args]
    else:
        cmd = [sys.executable, "-m", "rectinumba", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def _summary(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"^([a-z +]+): (.*)$", stdout, flags=re.M))


def test_demo_counts_spikes_exactly_like_numpy(ref, monkeypatch):
    """run_demo against a plain numpy Euler loop on the same weights and inputs."""
    N, seconds, dt, seed = 40, 0.3, 0.1, 3
    # small chunks: the run is split into several kernel calls that must join seamlessly
    monkeypatch.setattr(demo, "_CHUNK_VALUES", N * 700)
    res = demo.run_demo(N, seconds, dt, seed)
    T = res.steps
    assert T == 3000

    rng = np.random.default_rng(seed)  # run_demo draws the network first, then the inputs
    net = demo.build_network(N, dt, rng)
    x = demo.make_inputs(T, dt, rng)
    np.testing.assert_array_equal(res.inputs, x)
    J = net.get_var("lif", "weights").toarray()
    W_in = net.get_edge("input", "lif").weights
    W_out = net.get_edge("lif", "readout").weights
    eta = np.ravel(net.get_var("lif", "eta"))
    v = np.ravel(net.get_var("lif", "v")).copy()
    s = np.zeros(N)
    spikes, outs = [], []
    for t in range(T):
        spk = v >= demo.THRESHOLD  # detection on the pre-update state
        outs.append(np.tanh(W_out @ s))  # output from the pre-update state
        dv = -v / 10.0 + J @ s + W_in @ x[t] + eta
        s = s + dt * (-s / 5.0 + spk / dt)
        v = v + dt * dv
        v[spk] = demo.RESET
        spikes.extend((t, i) for i in np.flatnonzero(spk))
    assert len(spikes) > 100  # rates of tens of Hz
    assert sorted(zip(res.spike_steps.tolist(), res.spike_neurons.tolist(), strict=True)) == spikes
    assert res.spikes == len(spikes)
    assert ref.rel_err(res.outputs, np.array(outs)) < 1e-10
    assert res.run_s > 0 and res.compile_s > 0


@pytest.mark.slow
def test_cli_prints_summary_and_writes_png(tmp_path):
    proc = _run_cli(["--seconds", "0.2", "--neurons", "50", "--out", "tmp.png"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = _summary(proc.stdout)
    assert re.match(r"50 \(LIF, \d+ recurrent synapses, (csr|dense) coupling\)", info["neurons"])
    assert info["steps"].startswith("2000 (dt = 0.1 ms, 0.2 s of model time)")
    n_spikes = int(info["spikes"].split()[0])
    # the CLI reports the same count as the (reference-checked) function with the same seed
    assert n_spikes == demo.run_demo(50, 0.2, 0.1, 0).spikes
    per_step = float(re.match(r"([0-9.]+) us \(run ([0-9.]+) s", info["wall time per step"])[1])
    assert 0 < per_step < 1e5
    assert float(info["compile + first step"].split()[0]) > 0
    png = tmp_path / "tmp.png"
    assert info["figure"] == str(png.resolve())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


@pytest.mark.slow
def test_cli_no_plot_and_seed(tmp_path):
    proc = _run_cli(["--seconds", "0.05", "--neurons", "30", "--no-plot", "--seed", "5",
                     "--dt", "0.05"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = _summary(proc.stdout)
    assert info["steps"].startswith("1000 (dt = 0.05 ms")
    assert int(info["spikes"].split()[0]) == demo.run_demo(30, 0.05, 0.05, 5).spikes
    assert "figure" not in info
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cli_without_matplotlib_prints_a_note(tmp_path):
    # a None entry in sys.modules makes ``import matplotlib`` raise ImportError
    proc = _run_cli(["--seconds", "0.02", "--neurons", "20"], tmp_path,
                    pre="import sys\nsys.modules['matplotlib'] = None")
    assert proc.returncode == 0, proc.stderr
    note = "figure: not written (matplotlib is not installed: pip install rectinumba[plot])"
    assert note in proc.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, msg",
    [(["--neurons", "0"], "--neurons must be >= 1"), (["--dt", "-1"], "--dt > 0"),
     (["--seconds", "x"], "invalid float value: 'x'")],
)
def test_cli_rejects_bad_options(tmp_path, args, msg):
    proc = _run_cli(args, tmp_path)
    assert proc.returncode == 2
    assert msg in proc.stderr
