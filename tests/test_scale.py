"""Scale paths against the plain path: batches of trials, CSR coupling, float32, threads, memory.

Every path is checked against an independent result: B single-trial runs, the dense float64 run,
or a numpy Euler loop (tests/reference.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import reference as ref
import scipy.sparse as sp

from rectinumba import Network
from rectinumba.codegen.spec import ROW_PARALLEL_MIN

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
LIF = "model_templates.spiking_neurons.lif.lif"


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _rate(J, node_vars=None, dtype=np.float64, **kw) -> Network:
    net = Network(1e-2, dtype=dtype)
    net.add_diffeq_node("rnn", LI_TANH, weights=J, source_var="tanh_op/r", target_var="li_op/r_in",
                        input_var="li_op/I_ext", output_var="li_op/v", node_vars=node_vars, **kw)
    return net


def _lif(J, dtype=np.float64, sparse=None, W_in=None, W_out=None) -> Network:
    net = Network(1e-3, dtype=dtype)
    net.add_diffeq_node("lif", LIF, weights=J, source_var="s", target_var="s_in", input_var="I_ext",
                        output_var="s", op="lif_op", spike_var="spike", spike_def="v",
                        spike_threshold=1.0, spike_reset=0.0, sparse=sparse)
    if W_in is not None:
        net.add_func_node("inp", W_in.shape[1], "identity")
        net.add_edge("inp", "lif", weights=W_in, sparse=sparse)
    if W_out is not None:
        net.add_func_node("out", W_out.shape[0], "tanh")
        net.add_edge("lif", "out", weights=W_out, sparse=sparse)
    return net


# ---- batches -------------------------------------------------------------------------------
def test_batch_equals_separate_runs_with_per_trial_values_and_initial_states(rng):
    B, N, T = 3, 6, 400
    J = rng.standard_normal((N, N)) * 0.8
    tau = np.array([[5.0], [10.0], [20.0]])  # (B, 1): per-trial scalar
    eta = rng.standard_normal((B, N))  # (B, N): per-trial, per-neuron
    v0 = rng.standard_normal((B, N))  # per-trial initial state
    x = rng.standard_normal((B, T, N))
    net = _rate(J, node_vars={"li_op/tau": tau, "li_op/eta": eta, "li_op/v": v0})
    obs = net.run(x, verbose=False, record_vars=[("rnn", "v"), ("rnn", "r", True)])
    assert obs["out"].shape == (B, T, N)
    assert obs[("rnn", "v")].shape == (B, T, N)
    assert obs[("rnn", "r")].shape == (B, T)
    final = net.get_var("rnn", "v")
    assert final.shape == (B, N)
    for b in range(B):
        single = _rate(J, node_vars={"li_op/tau": tau[b, 0], "li_op/eta": eta[b], "li_op/v": v0[b]})
        o = single.run(x[b], verbose=False, record_vars=[("rnn", "v"), ("rnn", "r", True)])
        np.testing.assert_allclose(obs["out"][b], o["out"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(obs[("rnn", "v")][b], o[("rnn", "v")], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(obs[("rnn", "r")][b], o[("rnn", "r")], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(final[b], single.get_var("rnn", "v").ravel(), rtol=1e-12)
    # and one trial against the numpy Euler loop, with its own tau, eta and initial state
    v = v0[2].copy()
    for t in range(T):
        v = v + 1e-2 * (-v / tau[2, 0] + J @ np.tanh(v) + x[2, t] + eta[2])
    assert ref.rel_err(final[2], v) < 1e-10


def test_batched_spiking_trials_are_independent(rng):
    """Per-trial inputs give per-trial spike trains; a trial equals its single run."""
    B, N, T = 4, 10, 2000
    J = rng.standard_normal((N, N)) * (rng.random((N, N)) < 0.4) * 4.0
    x = 1.0 + rng.random((B, T, N)) * np.array([0.5, 1.0, 1.5, 2.0])[:, None, None]
    net = _lif(J)
    out = net.run(x, verbose=False)["out"]
    for b in (0, 3):
        out_ref, _, spikes = ref.lif(x[b], J, 1e-3, 1.0, 0.0)
        assert spikes.sum() > 20
        assert ref.rel_err(out[b], out_ref) < 1e-10
    assert not np.allclose(out[0], out[3])


# ---- sparse == dense -------------------------------------------------------------------------
def test_csr_coupling_and_edges_equal_dense(rng):
    N, m, k, T = 30, 4, 3, 2000
    J = rng.standard_normal((N, N)) * (rng.random((N, N)) < 0.15) * 6.0
    W_in = rng.standard_normal((N, m)) * (rng.random((N, m)) < 0.5)
    W_out = rng.standard_normal((k, N)) * (rng.random((k, N)) < 0.3)
    x = 0.8 + rng.random((T, m))
    dense = _lif(J, sparse=False, W_in=W_in, W_out=W_out)
    csr = _lif(sp.csr_matrix(J), sparse=True, W_in=sp.csr_matrix(W_in), W_out=sp.csr_matrix(W_out))
    assert dense.get_node("lif").coupling == "dense" and csr.get_node("lif").coupling == "csr"
    rec = [("lif", "v")]
    o_d = dense.run(x, verbose=False, record_vars=rec)
    o_s = csr.run(x, verbose=False, record_vars=rec)
    assert o_d[("lif", "v")].max() > 0.5  # the neurons are driven towards the threshold
    assert ref.rel_err(o_s["out"], o_d["out"]) < 1e-10
    assert ref.rel_err(o_s[("lif", "v")], o_d[("lif", "v")]) < 1e-10


def test_dense_weights_forced_sparse_equal_reference(rng):
    N, T = 25, 2000
    J = rng.standard_normal((N, N)) * (rng.random((N, N)) < 0.3) * 5.0
    x = 1.0 + 0.5 * rng.random((T, N))
    net = _lif(J, sparse=True)  # a numpy matrix, stored as CSR on request
    assert net.get_node("lif").coupling == "csr"
    out = net.run(x, verbose=False)["out"]
    out_ref, _, spikes = ref.lif(x, J, 1e-3, 1.0, 0.0)
    assert spikes.sum() > 50
    assert ref.rel_err(out, out_ref) < 1e-10


# ---- float32 ---------------------------------------------------------------------------------
def test_float32_end_to_end_matches_float64(rng):
    N, T = 12, 300
    J = rng.standard_normal((N, N)) * 0.5
    W_in = rng.standard_normal((N, 2))
    x = rng.standard_normal((T, 2))

    def build(dtype):
        net = _rate(J, dtype=dtype)
        net.add_func_node("inp", 2, "identity")
        net.add_edge("inp", "rnn", weights=W_in)
        return net

    n64, n32 = build(np.float64), build(np.float32)
    o64 = n64.run(x, verbose=False, record_vars=[("rnn", "v")])
    o32 = n32.run(x, verbose=False, record_vars=[("rnn", "v")])
    for arr in (o32["out"], o32[("rnn", "v")], n32.get_var("rnn", "v"),
                n32.get_var("rnn", "weights"), n32.get_edge("inp", "rnn").weights,
                n32.state["rnn"]):
        assert arr.dtype == np.float32
    assert o64["out"].dtype == np.float64
    scale = np.abs(o64["out"]).max()
    assert scale > 0.1
    assert np.abs(o32["out"] - o64["out"]).max() <= 1e-4 * max(1.0, scale)
    assert np.abs(o32[("rnn", "v")] - o64[("rnn", "v")]).max() <= 1e-4 * max(1.0, scale)


def test_float32_sparse_batch(rng):
    B, N, T = 2, 20, 200
    J = sp.random(N, N, density=0.2, random_state=3, format="csr") * 2.0
    x = rng.standard_normal((B, T, N)).astype(np.float32)
    n64 = _rate(J, sparse=True)
    n32 = _rate(J, sparse=True, dtype=np.float32)
    o64 = n64.run(x, verbose=False)["out"]
    o32 = n32.run(x, verbose=False)["out"]
    assert o32.dtype == np.float32 and o32.shape == (B, T, N)
    assert np.abs(o64).max() > 0.1
    assert np.abs(o32 - o64).max() <= 1e-4


# ---- parallel paths ----------------------------------------------------------------------------
def test_row_parallel_dense_coupling_equals_serial_and_reference(rng):
    """N >= ROW_PARALLEL_MIN runs J's rows in threads; its results equal the serial kernel."""
    import numba

    N, T = ROW_PARALLEL_MIN, 20
    J = rng.standard_normal((N, N)) / np.sqrt(N) * 1.5
    x = rng.standard_normal((T, N))
    net = _rate(J)
    assert net._spec()[0].row_parallel
    obs = net.run(x, verbose=False)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one = _rate(J).run(x, verbose=False)
    finally:
        numba.set_num_threads(threads)
    # the batched kernel (parallel over trials) runs rows serially: same numbers
    batched = _rate(J).run(np.stack([x, x]), verbose=False)
    np.testing.assert_allclose(obs["out"], one["out"], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(batched["out"][1], obs["out"], rtol=1e-12, atol=1e-12)
    v = np.zeros(N)
    outs = []
    for t in range(T):
        outs.append(v)
        v = v + 1e-2 * (-v / 10.0 + J @ np.tanh(v) + x[t])
    assert ref.rel_err(obs["out"], np.array(outs)) < 1e-10


def test_small_networks_do_not_use_row_parallel_kernel(rng):
    net = _rate(rng.standard_normal((ROW_PARALLEL_MIN - 1,) * 2))
    assert not net._spec()[0].row_parallel
    assert not net._spec(B=2)[0].row_parallel  # batches are parallel over trials instead


# ---- memory of long runs -----------------------------------------------------------------------
_MEMORY = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from rectinumba import Network

    def hwm():
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024

    net = Network(1e-3)
    net.add_diffeq_node("lif", "model_templates.spiking_neurons.lif.lif",
                        weights=np.random.default_rng(0).standard_normal((5, 5)), source_var="s",
                        target_var="s_in", input_var="I_ext", output_var="s", op="lif_op",
                        spike_var="spike", spike_def="v", spike_threshold=1.0, spike_reset=0.0)
    net.run(np.zeros((10, 5)), verbose=False, sampling_steps=1000)
    base = hwm()
    T = 1_000_000
    x = np.broadcast_to(np.full(5, 2.0), (T, 5))  # constant input without a (T, 5) array
    obs = net.run(x, sampling_steps=1000, verbose=False)
    print(json.dumps({"base": base, "peak": hwm(), "n": len(obs["out"]),
                      "s": float(obs["out"][-1].mean())}))
    """
)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc VmHWM")
def test_long_run_memory_stays_flat():
    out = subprocess.run([sys.executable, "-c", _MEMORY], capture_output=True, text=True,
                         timeout=300, env=os.environ.copy(), check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["n"] == 1000
    assert r["s"] > 0.0  # the neurons spiked: the run did real work
    assert r["peak"] - r["base"] < 100.0, r
