"""CUDA backend against the CPU backend, in numba's CUDA simulator (and on a GPU when present).

The simulator must be switched on before numba is imported, which the main pytest process has
done long before this file loads. So in a normal run this module holds one test that runs THIS
file again in a subprocess with NUMBA_ENABLE_CUDASIM=1; in that subprocess the simulator tests
below are defined and run. Networks are tiny: the simulator runs every CUDA thread as a Python
thread.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import scipy.sparse as sp

from rectinumba import Network
from rectinumba.errors import BackendError, SimulationError

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
LIF = "model_templates.spiking_neurons.lif.lif"
QIF = "model_templates.spiking_neurons.qif.qif"
IKU = "model_templates.spiking_neurons.ik.iku"

# kernel configurations: automatic, and forced modes with more neurons than threads and several
# threads per matrix row (shared-memory row sums)
CONFIGS = [
    {},
    {"mode": "grid", "threads": 8, "lanes": 4},
    {"mode": "block", "threads": 4, "lanes": 2},
]


def _gpu_present() -> bool:
    if SIM:
        return False
    from rectinumba.backends.cuda import cuda_status

    return cuda_status()[1] == "gpu"


# ---------------------------------------------------------------------------------------------
# main process
# ---------------------------------------------------------------------------------------------
class SimulatorSuite:
    """This file's simulator tests, running in a subprocess with NUMBA_ENABLE_CUDASIM=1."""

    def __init__(self) -> None:
        here = os.path.dirname(os.path.abspath(__file__))
        self._tmp = tempfile.TemporaryDirectory(prefix="rectinumba-cudasim-")
        cache = os.environ.get("RECTINUMBA_CACHE_DIR") or self._tmp.name
        env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", RECTINUMBA_CACHE_DIR=cache)
        self._log = open(os.path.join(self._tmp.name, "log.txt"), "w+")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-W",
             "error::numba.NumbaWarning", os.path.abspath(__file__)],
            env=env, cwd=os.path.dirname(here), stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.returncode: int | None = None

    def wait(self, timeout: float = 900.0) -> str:
        """Wait for the subprocess (killed after ``timeout`` seconds) and return its output."""
        try:
            self.returncode = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            self.returncode = -1
        self._log.seek(0)
        return self._log.read()

    def stop(self) -> None:
        """Kill the subprocess if it still runs and remove its files."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._log.close()
        self._tmp.cleanup()


if not SIM:

    @pytest.mark.slow
    def test_simulator_suite(simulator_suite):
        """Run this file's simulator tests in a subprocess with NUMBA_ENABLE_CUDASIM=1.

        The subprocess is started when collection finishes (tests/conftest.py), so that it runs
        beside the rest of the suite: the simulator is one Python process bound by the GIL, the
        other tests compile numba kernels, and CI has two cores. This test waits for it.
        """
        suite = simulator_suite
        stdout = suite.wait()
        assert suite.returncode == 0, stdout[-9000:]
        assert " passed" in stdout and "skipped" not in stdout.splitlines()[-1]

    @pytest.mark.skipif(_gpu_present(), reason="a usable GPU is present")
    def test_cuda_without_gpu_says_what_to_install_or_set():
        with pytest.raises(BackendError, match=r"rectinumba\[cuda\].*NUMBA_ENABLE_CUDASIM=1"):
            Network(1e-3, device="cuda")
        with pytest.raises(BackendError, match=r"unknown device 'gpu'"):
            Network(1e-3, device="gpu")

    @pytest.mark.gpu
    @pytest.mark.skipif(not _gpu_present(), reason="needs a CUDA GPU")
    @pytest.mark.parametrize("sparse", [False, True])
    def test_gpu_matches_cpu(sparse):
        rng = np.random.default_rng(3)
        N, T = 300, 200
        J = rng.standard_normal((N, N)) * (rng.random((N, N)) < 0.1) * 2.0
        inp = 0.5 + rng.random((2, T, N))
        for opts in ({}, {"mode": "grid"}, {"mode": "block", "lanes": 32}):
            a, b = _lif(J, sparse), _lif(J, sparse, opts)
            oa = a.run(inp, verbose=False, record_vars=[("lif", "v")])
            ob = b.run(inp, verbose=False, record_vars=[("lif", "v")])
            assert oa["out"].max() > 0.5  # spikes happened
            np.testing.assert_allclose(ob["out"], oa["out"], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(ob[("lif", "v")], oa[("lif", "v")], rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# shared builders
# ---------------------------------------------------------------------------------------------
def _on_cuda(net: Network, opts: dict | None) -> Network:
    if opts is not None:
        from rectinumba.backends.cuda import CUDABackend

        net._backend = CUDABackend("cuda", **opts)
        assert net._runner.backend is net._backend  # the runner runs the CUDA kernels
        net.device = "cuda"
    return net


def _lif(J, sparse: bool, opts=None, dt=0.1, dtype=np.float64) -> Network:
    net = Network(dt, dtype=dtype)
    weights = sp.csr_matrix(J) if sparse else J
    net.add_diffeq_node("lif", LIF, weights=weights, source_var="s", target_var="s_in",
                        input_var="I_ext", output_var="s", op="lif_op", spike_var="spike",
                        spike_def="v", spike_threshold=1.0, spike_reset=0.0, sparse=sparse)
    return _on_cuda(net, opts)


def _close(a, b, tol=1e-9) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _same_obs(oa, ob, keys, tol=1e-9) -> None:
    _close(ob["out"], oa["out"], tol)
    for key in keys:
        _close(ob[key], oa[key], tol)


# ---------------------------------------------------------------------------------------------
# simulator process
# ---------------------------------------------------------------------------------------------
if SIM:
    # the simulator's scheduler polls its threads; a short switch interval makes barriers cheap
    sys.setswitchinterval(5e-5)

    @pytest.fixture
    def rng():
        return np.random.default_rng(7)

    def _rate(rng, opts=None, readout="sigmoid", B=None, dtype=np.float64):
        N, m, k = 6, 3, 2
        J = rng.standard_normal((N, N)) * 1.5
        W_in, W_out = rng.standard_normal((N, m)), rng.standard_normal((k, N))
        net = Network(1e-1, dtype=dtype)
        net.add_diffeq_node("rnn", LI_TANH, weights=J, source_var="tanh_op/r",
                            target_var="li_op/r_in", input_var="li_op/I_ext", output_var="li_op/v")
        net.add_func_node("inp", m, "identity")
        net.add_func_node("readout", k, readout)
        net.add_edge("inp", "rnn", weights=W_in)
        net.add_edge("rnn", "readout", weights=W_out)
        return _on_cuda(net, opts)

    @pytest.mark.parametrize("opts", CONFIGS)
    def test_rate_network_dense_edges_records_batch(opts):
        inp = np.random.default_rng(1).standard_normal((2, 16, 3))
        rec = [("rnn", "v"), ("rnn", "tanh_op/r"), ("readout", "in", True)]
        a, b = _rate(np.random.default_rng(2)), _rate(np.random.default_rng(2), opts)
        oa = a.run(inp, verbose=False, record_vars=rec)
        ob = b.run(inp, verbose=False, record_vars=rec)
        assert np.abs(oa[("rnn", "v")]).max() > 0.1  # the network moved
        _same_obs(oa, ob, [("rnn", "v"), ("rnn", "tanh_op/r"), ("readout", "in")])
        _close(b.get_var("rnn", "v"), a.get_var("rnn", "v"))
        # a second run continues from the committed state; sampling and cutoff
        oa = a.run(inp, sampling_steps=3, cutoff=4, verbose=False, record_vars=rec)
        ob = b.run(inp, sampling_steps=3, cutoff=4, verbose=False, record_vars=rec)
        assert ob["out"].shape == (2, 4, 2)
        _same_obs(oa, ob, [("rnn", "v"), ("rnn", "tanh_op/r"), ("readout", "in")])

    @pytest.mark.parametrize("sparse,opts", [(False, CONFIGS[0]), (True, CONFIGS[0]),
                                             (False, CONFIGS[1]), (True, CONFIGS[2])])
    def test_lif_spiking_dense_and_csr(sparse, opts):
        rng = np.random.default_rng(4)
        N, T = 7, 24
        J = rng.standard_normal((N, N)) * (rng.random((N, N)) < 0.4) * 3.0
        inp = 15.0 + 10.0 * rng.random((T, N))
        a, b = _lif(J, sparse), _lif(J, sparse, opts)
        oa = a.run(inp, verbose=False, record_vars=[("lif", "v")])
        ob = b.run(inp, verbose=False, record_vars=[("lif", "v")])
        assert (oa[("lif", "v")] == 0.0).sum() > 5  # resets happened
        _same_obs(oa, ob, [("lif", "v")])
        _close(b.state["lif"], a.state["lif"])

    @pytest.mark.parametrize("opts", CONFIGS[:2])
    def test_intrinsic_reset_qif_reset_false(opts):
        # RectiPy 0.12's reset=False: spikes detected on v, no network reset; the template's
        # reset input (linked to the spike input) reflects v itself
        rng = np.random.default_rng(5)
        N, T = 4, 400

        def build(o=None):
            net = Network(1e-3)
            net.add_diffeq_node(
                "q", "model_templates.spiking_neurons.qif.qif_reset", weights=rng_J,
                source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
                spike_var="spike", reset_var="reset", reset=False, op="qif_reset_op",
                spike_threshold=20.0, spike_reset=-20.0,
            )  # fmt: skip
            return _on_cuda(net, o)

        rng_J = rng.standard_normal((N, N))
        inp = np.full((T, 1), 30.0)
        a, b = build(), build(opts)
        oa = a.run(inp, verbose=False, record_vars=[("q", "v")])
        ob = b.run(inp, verbose=False, record_vars=[("q", "v")])
        assert oa["out"].max() > 0.5  # spikes happened
        _same_obs(oa, ob, [("q", "v")])

    @pytest.mark.parametrize("opts", CONFIGS[:2])
    def test_population_means_and_per_trial_values(rng, opts):
        N, T, B = 5, 20, 2
        J = np.abs(rng.standard_normal((N, N))) * 2.0
        eta = rng.uniform(40.0, 80.0, (B, N))  # one row of values per trial
        v0 = rng.uniform(-50.0, 45.0, (B, N))  # some neurons start above the threshold
        inp = rng.standard_normal((B, T, N)) * 5.0

        def build(o):
            net = Network(0.5)
            net.add_diffeq_node("ik", IKU, weights=J, source_var="s", target_var="s_in",
                                input_var="I_ext", output_var="s", op="iku_op", spike_var="spike",
                                spike_def="v", spike_threshold=40.0, spike_reset=-60.0,
                                node_vars={"eta": eta, "v": v0})
            return _on_cuda(net, o)

        rec = [("ik", "u"), ("ik", "v", True)]
        oa = build(None).run(inp, verbose=False, record_vars=rec)
        ob = build(opts).run(inp, verbose=False, record_vars=rec)
        assert oa["out"].max() > 0.1 and not np.allclose(oa["out"][0], oa["out"][1])
        _same_obs(oa, ob, [("ik", "u"), ("ik", "v")])

    @pytest.mark.parametrize("opts", CONFIGS)
    def test_feedback_and_sparse_edges(rng, opts):
        n_in, N, T = 2, 5, 15
        J = rng.standard_normal((N, N))
        W1, W2 = rng.standard_normal((N, n_in)), rng.standard_normal((N, n_in))
        Wr, Wf = rng.standard_normal((1, N)), rng.standard_normal((N, 1))
        W1[W1 < 0] = 0.0

        def build(o):
            net = Network(1e-1)
            net.add_func_node("a", n_in, "identity")
            net.add_func_node("b", n_in, "tanh")
            net.add_diffeq_node("rnn", LI_TANH, weights=J, source_var="tanh_op/r",
                                target_var="li_op/r_in", input_var="li_op/I_ext",
                                output_var="tanh_op/r")
            net.add_func_node("ro", 1, "identity")
            net.add_edge("a", "b", weights=np.eye(n_in))
            net.add_edge("a", "rnn", weights=sp.csr_matrix(W1), sparse=True)
            net.add_edge("b", "rnn", weights=W2)
            net.add_edge("rnn", "ro", weights=Wr)
            net.add_edge("ro", "rnn", weights=Wf, feedback=True)
            return _on_cuda(net, o)

        inp = rng.standard_normal((T, n_in))
        a, b = build(None), build(opts)
        _same_obs(a.run(inp, verbose=False), b.run(inp, verbose=False), [])
        # the feedback buffer is carried to the next run
        _same_obs(a.run(inp[:4], verbose=False), b.run(inp[:4], verbose=False), [])

    @pytest.mark.parametrize("method", ["euler", "heun", "rk4", "exp_euler"])
    def test_every_update_rule_matches_the_cpu(rng, method):
        """Stages on the device: coupling and population means per stage (reduction slots)."""
        inp = np.random.default_rng(8).standard_normal((2, 10, 3))
        rec = [("rnn", "v"), ("rnn", "tanh_op/r", True)]
        a, b = _rate(np.random.default_rng(2)), _rate(np.random.default_rng(2), CONFIGS[1])
        for net in (a, b):
            net.method = method
        _same_obs(a.run(inp, verbose=False, record_vars=rec),
                  b.run(inp, verbose=False, record_vars=rec), [("rnn", "v"), ("rnn", "tanh_op/r")])
        if method == "exp_euler":
            return  # iku's v is not linear in itself
        N = 5
        J = np.abs(rng.standard_normal((N, N))) * 2.0

        def build(o):
            net = Network(0.5, method=method)
            net.add_diffeq_node("ik", IKU, weights=J, source_var="s", target_var="s_in",
                                input_var="I_ext", output_var="s", op="iku_op", spike_var="spike",
                                spike_def="v", spike_threshold=40.0, spike_reset=-60.0,
                                node_vars={"eta": 60.0, "v": np.linspace(-50, 45, N)})
            return _on_cuda(net, o)

        x = rng.standard_normal((12, N)) * 5.0
        oa = build(None).run(x, verbose=False, record_vars=[("ik", "u")])
        ob = build(CONFIGS[2]).run(x, verbose=False, record_vars=[("ik", "u")])
        assert oa["out"].max() > 0.1
        _same_obs(oa, ob, [("ik", "u")])

    @pytest.mark.parametrize("opts", CONFIGS[:2])
    def test_diffeq_feedback_probe_and_average_recordings(opts):
        """A diff-eq feedback source evaluated on its current state (coupling, population mean,
        held input: tests/test_feedback.py's network); recordings averaged over windows."""
        from test_feedback import coupled_template, two_nodes

        def build(o):
            rng = np.random.default_rng(6)
            JB = rng.standard_normal((3, 3))
            net = two_nodes(rng, "cpl_op/r", coupled_template(), "cpl_op/I", weights=JB,
                            source_var="cpl_op/q", target_var="cpl_op/s_in",
                            node_vars={"cpl_op/v": np.array([0.2, -0.1, 0.4])})[0]
            return _on_cuda(net, o)

        x = np.random.default_rng(9).standard_normal((2, 11, 2))
        rec = [("A", "v"), ("B", "r", True), ("B", "v")]
        kw = dict(verbose=False, record_vars=rec, sampling_steps=3, cutoff=1,
                  sampling_mode="average")
        a, b = build(None), build(opts)
        oa, ob = a.run(x, **kw), b.run(x, **kw)
        assert oa["out"].shape == (2, 4, 2)
        _same_obs(oa, ob, [("A", "v"), ("B", "r"), ("B", "v")])
        # the held input is carried to the next run
        _same_obs(a.run(x, **kw), b.run(x, **kw), [("A", "v"), ("B", "r"), ("B", "v")])

    @pytest.mark.parametrize("act", ["identity", "tanh", "sigmoid", "relu", "softplus", "softmax",
                                     "softmin", "log_softmax"])
    def test_function_node_activations(rng, act):
        x = rng.standard_normal((2, 3, 4)) * 10
        x[0, 0, 0] = 25.0  # softplus's linear branch
        # numpy reference (no CPU kernel to compile)
        e = np.exp(x - x.max(axis=2, keepdims=True))
        emin = np.exp(-x - (-x).max(axis=2, keepdims=True))
        expected = {
            "identity": x, "tanh": np.tanh(x), "sigmoid": 1.0 / (1.0 + np.exp(-x)),
            "relu": np.maximum(x, 0), "softplus": np.where(x > 20, x, np.log1p(np.exp(x))),
            "softmax": e / e.sum(axis=2, keepdims=True),
            "softmin": emin / emin.sum(axis=2, keepdims=True),
            "log_softmax": x - x.max(axis=2, keepdims=True) - np.log(e.sum(axis=2, keepdims=True)),
        }[act]
        for opts in ({"mode": "block"}, {"mode": "grid", "threads": 2}):
            net = _on_cuda(Network(1e-3), opts)
            net.add_func_node("f", 4, act)
            obs = net.run(x, verbose=False, record_vars=[("f", "in", True)])
            _close(obs["out"], expected, 1e-12)
            _close(obs[("f", "in")], x.mean(axis=2), 1e-12)

    def _events_on_both(a, b, x, rec, node):
        """Runs of the CPU network ``a`` and the device network ``b`` on ``x`` (B, T, n), in
        which ``b`` ran on the device with node number ``node`` event-driven."""
        oa = a.run(x, verbose=False, record_vars=rec)
        ob = b.run(x, verbose=False, record_vars=rec)
        assert b._runner.compiled({}, x.shape[0], steps=x.shape[1])[0].nodes[node].event
        assert b._runner.backend.last_run["steps"] == x.shape[1]  # the device ran it
        return oa, ob

    @pytest.mark.parametrize("opts", CONFIGS)
    def test_event_driven_coupling_and_edges_match_the_cpu(opts):
        """tests/test_events.py's network (recurrent dense and CSR J, event edges into a later
        node and feedback edges to earlier ones, a probe reading U) with two trials: the device
        scatters spiking columns with atomics."""
        from test_events import RECORD, network

        x = 0.9 + 0.6 * np.random.default_rng(3).random((2, 16, 6))
        a, b = network("event", N=6, M=3), _on_cuda(network("event", N=6, M=3), opts)
        for net in (a, b):  # spikes from the first step on
            for n in "dcp":
                net.set_var(n, "v", np.linspace(0.5, 1.5, 6))
        oa, ob = _events_on_both(a, b, x, RECORD, 1)
        assert (oa[("c", "v")] == 0.0).sum() > 5  # spikes happened
        _same_obs(oa, ob, RECORD)

    @pytest.mark.parametrize("opts", [CONFIGS[0], CONFIGS[2]])
    def test_events_with_noise_past_and_a_delayed_edge_match_the_cpu(opts):
        """Forced events on a noisy LIF whose membrane reads past(v, d) (tests/test_events.py),
        feeding a rate node through an edge delayed per target unit, two trials, two runs: the
        device draws the CPU's noise, scatters the same spikes and carries the rings."""
        from test_events import NREC, nlif_net

        def build(o):
            net = nlif_net("event", N=6)
            net.set_var("l", "v", np.linspace(0.5, 1.5, 6))  # spikes from the first step on
            net.add_diffeq_node("r", "model_templates.rate_neurons.leaky_integrator.li_op",
                                N=3, input_var="I_ext", output_var="v")  # fmt: skip
            net.add_edge("l", "r", weights=np.random.default_rng(2).standard_normal((3, 6)),
                         delay_steps=np.array([0, 2, 5]))  # fmt: skip
            return _on_cuda(net, o)

        x = 20 + 20 * np.random.default_rng(4).random((2, 12, 6))
        a, b = build(None), build(opts)
        rec = NREC + [("r", "v")]
        oa, ob = _events_on_both(a, b, x, rec, 0)
        assert (oa[("l", "v")] == 0.0).sum() > 20  # spikes happened
        _same_obs(oa, ob, rec)
        _same_obs(a.run(x[:, :4], verbose=False, record_vars=rec),
                  b.run(x[:, :4], verbose=False, record_vars=rec), rec)  # fmt: skip
        _close(b.get_edge_history("l", "r"), a.get_edge_history("l", "r"))
        _close(b.get_history("l", "v"), a.get_history("l", "v"))

    def test_float32_events_with_a_batch_match_cpu_float32():
        """The noisy LIF with past(v, d) of tests/test_events.py in float32, forced events, two
        trials: the device's event path against the CPU's, to float32 rounding."""
        from test_events import NREC, nlif_net

        x = (20 + 20 * np.random.default_rng(6).random((2, 12, 6))).astype(np.float32)
        a = nlif_net("event", N=6, dtype=np.float32)
        b = _on_cuda(nlif_net("event", N=6, dtype=np.float32), {"mode": "grid", "threads": 8,
                                                                "lanes": 2})  # fmt: skip
        for net in (a, b):
            net.set_var("l", "v", np.linspace(0.5, 1.5, 6))
        oa, ob = _events_on_both(a, b, x, NREC, 0)
        assert ob["out"].dtype == np.float32 and ob[("l", "s_in")].dtype == np.float32
        assert (oa[("l", "v")] == 0.0).sum() > 20
        np.testing.assert_array_equal(ob[("l", "v")] == 0.0, oa[("l", "v")] == 0.0)  # spikes
        _same_obs(oa, ob, NREC, 1e-5)

    def test_forward_steps_equal_run_on_the_device(rng):
        inp = rng.standard_normal((6, 3))
        a, b = _rate(np.random.default_rng(5)), _rate(np.random.default_rng(5), {})
        outs = np.array([b.forward(x) for x in inp])
        _close(outs, a.run(inp, verbose=False)["out"])
        _close(b.state["rnn"], a.state["rnn"])

    def test_float32_matches_cpu_float32(rng):
        inp = rng.standard_normal((12, 3)).astype(np.float32)
        a = _rate(np.random.default_rng(6), dtype=np.float32)
        b = _rate(np.random.default_rng(6), {"mode": "grid", "threads": 8, "lanes": 2},
                  dtype=np.float32)
        oa, ob = a.run(inp, verbose=False), b.run(inp, verbose=False)
        assert ob["out"].dtype == np.float32
        _close(ob["out"], oa["out"], 1e-5)

    @pytest.mark.parametrize("opts", CONFIGS[:2])
    def test_nonfinite_state_reports_like_the_cpu(opts):
        def build(o):
            net = Network(1e-2)
            net.add_diffeq_node("q", QIF, N=3, input_var="I_ext", output_var="s", op="qif_op",
                                node_vars={"eta": np.array([[5.0, 9.0, 50.0], [50.0, 80.0, 2.0]])})
            return _on_cuda(net, o)

        messages = []
        for o in (None, opts):
            net = build(o)
            before = net.state["q"].copy()
            message = r"'qif_op/v' of node 'q' became non-finite"
            with pytest.raises(SimulationError, match=message) as err:
                net.run(np.zeros((2, 300, 3)), verbose=False)
            np.testing.assert_array_equal(net.state["q"], before)
            messages.append(str(err.value))
        assert messages[0] == messages[1]
        assert "trial 0" in messages[0] and "neuron 2" in messages[0]

    def test_device_strings_and_unsupported_training_hooks(rng):
        net = Network(1e-1, device="cuda")
        net.add_diffeq_node("n", LIF, N=2, input_var="I_ext", output_var="s", op="lif_op")
        assert net.run(np.ones((3, 2)), verbose=False)["out"].shape == (3, 2)
        with pytest.raises(BackendError, match=r"only 1 CUDA device"):
            Network(1e-1, device="cuda:1")
        with pytest.raises(BackendError, match=r"unknown CUDA device 'cuda:x'"):
            Network(1e-1, device="cuda:x")
        spec = dataclasses.replace(net._runner.spec()[0], train=("hook",))
        with pytest.raises(BackendError, match=r"use device='cpu'"):
            net._backend.kernel(spec)
        with pytest.raises(BackendError, match=r"(?s)fit_bptt runs .* CPU only.*device='cpu'"):
            net.fit_bptt(np.ones((3, 2)), np.ones((3, 2)), verbose=False)
        net.add_func_node("ro", 2)
        net.add_edge("n", "ro", train="rls")
        with pytest.raises(BackendError, match=r"use device='cpu'"):
            net.fit_rls(np.ones((3, 2)), np.ones((3, 2)), verbose=False)

    @pytest.mark.parametrize("intercept", [False, True])
    def test_fit_ridge_and_test_on_the_device_equal_cpu(rng, monkeypatch, intercept):
        """fit_ridge on the device: chunked device runs with recorded outputs, host sums."""
        from rectinumba.training import readout

        monkeypatch.setattr(readout, "RIDGE_DEVICE_CHUNK", 6)  # several chunks, odd alignment
        inp = np.random.default_rng(5).standard_normal((2, 23, 3))
        tgt = np.random.default_rng(6).standard_normal((2, 23, 2))
        a, b = _rate(np.random.default_rng(2)), _rate(np.random.default_rng(2), {})
        kw = dict(sampling_steps=4, cutoff=5, alpha=1e-3, verbose=False, fit_intercept=intercept,
                  record_output=True, add_readout_node=False)
        oa, ob = a.fit_ridge(inp, tgt, **kw), b.fit_ridge(inp, tgt, **kw)
        assert ob["out"].shape == (2, 5, 2)  # steps 5, 9, 13, 17, 21
        _close(ob["w_out"], oa["w_out"], 1e-8)
        _close(ob["y"], oa["y"], 1e-8)
        (ta, la), (tb, lb) = a.test(inp, tgt, verbose=False), b.test(inp, tgt, verbose=False)
        _close(tb["out"], ta["out"])
        assert lb == pytest.approx(la, rel=1e-9)

    def test_rint_rounds_half_to_even():
        from rectinumba.backends.cuda import _compiled
        from rectinumba.codegen.cache import load_source
        from rectinumba.codegen.cuda_step import render_cuda

        net = Network(1e-1)
        net.add_func_node("f", 2, "identity")
        spec = net._runner.spec()[0]
        _compiled(spec, "block")
        module = load_source(render_cuda(spec, "block").source, options="cuda-sim")
        vals = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, -2.6, 3.0, -3.0, 1e17 + 2, np.inf])
        got = np.array([module._rint(v) for v in vals])
        np.testing.assert_array_equal(got, np.rint(vals))

    @pytest.mark.parametrize("opts", CONFIGS[:2])
    def test_delays_in_equations_and_on_edges_match_the_cpu(rng, opts):
        """Mackey-Glass (x(t - tau), a tau per neuron and trial) fed through delayed edges:
        one delay per target unit (dense), per connection (dense and CSR); histories carry."""
        B, N, T = 2, 3, 14
        tau = rng.uniform(0.1, 0.6, (B, N))
        W = rng.standard_normal((N, N))
        Ws = sp.csr_matrix(W * (rng.random((N, N)) < 0.6))

        def build(o):
            net = Network(0.1)
            net.add_func_node("inp", N)
            net.add_diffeq_node("mg", "model_templates.rate_neurons.mackey_glass.mackey_glass",
                                N=N, input_var="I_ext", output_var="x",
                                node_vars={"tau": tau, "beta": 2.0})
            net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op",
                                N=N, input_var="I_ext", output_var="v")
            net.add_edge("inp", "mg", weights=np.eye(N), delay=np.array([0.0, 0.1, 0.25]))
            net.add_edge("mg", "li", weights=W, delay_steps=np.arange(N * N).reshape(N, N) % 4)
            net.add_edge("inp", "li", weights=Ws, delay_steps=(np.arange(N * N) % 3).reshape(N, N))
            return _on_cuda(net, o)

        x = rng.standard_normal((B, T, N))
        rec = [("mg", "x"), ("li", "v")]
        a, b = build(None), build(opts)
        oa = a.run(x, verbose=False, record_vars=rec)
        _same_obs(oa, b.run(x, verbose=False, record_vars=rec), rec)
        _same_obs(a.run(x[:, :5], verbose=False, record_vars=rec),
                  b.run(x[:, :5], verbose=False, record_vars=rec), rec)  # histories carried
        _close(b.get_history("mg", "x"), a.get_history("mg", "x"))
        _close(b.get_edge_history("mg", "li"), a.get_edge_history("mg", "li"))

    @pytest.mark.parametrize("opts", CONFIGS[:2])
    def test_noise_draws_the_cpus_normals(opts):
        """The counter-based generator gives the device the CPU's noise for the same seed."""
        B, N, T = 2, 3, 12

        def build(o):
            net = Network(0.01, seed=21)
            net.add_diffeq_node("ou", "model_templates.rate_neurons.ornstein_uhlenbeck.ou", N=N,
                                input_var="I_ext", output_var="x", node_vars={"tau": 0.1})
            return _on_cuda(net, o)

        a, b = build(None), build(opts)
        x = np.zeros((B, T, N))
        oa, ob = a.run(x, verbose=False), b.run(x, verbose=False)
        assert np.abs(oa["out"]).max() > 0.05  # the noise moved it
        _close(ob["out"], oa["out"], 1e-12)
        _close(b.run(x, verbose=False)["out"], a.run(x, verbose=False)["out"], 1e-12)  # continued

    def test_hostile_printable_names_run_in_the_simulator_and_run_nothing(tmp_path):
        """Issue 10.1: template, operator and node names full of quotes, backslashes, '#' and
        Python text reach the CUDA kernel only as repr() in comments; the payload never runs."""
        from test_safety_names import hostile_network, leaky_reference

        sentinel = tmp_path / "pwned"
        net = _on_cuda(hostile_network(tmp_path, sentinel), {})
        x = np.random.default_rng(3).standard_normal((2, 9, 2))
        out = net.run(x, verbose=False)["out"]
        for b in range(2):
            _close(out[b], leaky_reference(x[b]))
        assert not sentinel.exists()

    # ---- issue 13: edges between any variables, template (plastic) edges, circuits ----------
    def test_edges_between_any_variables_equal_cpu():
        from test_general_edges import _network, _weights

        W = _weights()
        x = np.random.default_rng(3).random((2, 40, 3)) * 2.0
        rec = [("c", "y"), ("a", "li_op/v")]
        a, b = _network(W), _on_cuda(_network(W), CONFIGS[2])
        oa = a.run(x, verbose=False, record_vars=rec)
        ob = b.run(x, verbose=False, record_vars=rec)
        assert oa["out"].max() > 0.5  # spikes crossed the spike edge
        _same_obs(oa, ob, rec)
        _close(b.state["c"], a.state["c"])

    @pytest.mark.parametrize("sparse,opts", [(False, CONFIGS[1]), (True, CONFIGS[2])])
    def test_stdp_edge_equals_cpu(sparse, opts):
        from test_plastic_edges import _stdp_net

        rng = np.random.default_rng(1)
        W = (rng.random((3, 4)) < 0.6) * 1.0
        W0 = rng.random((3, 4)) * 3.0
        x = rng.random((2, 40, 4)) * 0.6 + 0.3
        key = ("pre", "post")
        rec = [(key, "w"), (key, "x_post"), (key, "r_out", True), ("post", "v")]
        a, b = _stdp_net(W, W0, sparse), _on_cuda(_stdp_net(W, W0, sparse), opts)
        oa = a.run(x, verbose=False, record_vars=rec)
        ob = b.run(x, verbose=False, record_vars=rec)
        assert np.ptp(oa[(key, "w")]) > 0.01  # the weights learned
        _same_obs(oa, ob, [k[:2] for k in rec])
        _close(b.get_edge(*key).get_var("w"), a.get_edge(*key).get_var("w"))

    def test_circuit_with_edge_sources_and_nonfinite_edge_equal_cpu():
        from test_circuits import HERE

        def build(opts=None):
            net = Network.from_circuit(f"{HERE}/kmo_nested", dt=1e-2,
                                       input_var="c1/p1/phase_op/ext_in",
                                       output_var="c2/p1/phase_op/theta")  # fmt: skip
            return _on_cuda(net, opts)

        x = np.random.default_rng(1).standard_normal((2, 30, 1)) * 5.0
        a, b = build(), build(CONFIGS[1])
        _same_obs(a.run(x, verbose=False), b.run(x, verbose=False), [])
        # the E-I circuit: a delayed edge (20 steps at dt = 0.1) into another input variable
        ei = [Network.from_circuit("model_templates.neural_mass_models.qif.qif_ei", dt=0.1,
                                   input_var="e/qif_op/I_ext", output_var="e/qif_op/r")
              for _ in range(2)]  # fmt: skip
        _on_cuda(ei[1], CONFIGS[2])
        x = np.full((1, 30, 1), 5.0)
        oa, ob = (n.run(x, verbose=False, record_vars=[("i", "r")]) for n in ei)
        _same_obs(oa, ob, [("i", "r")])
        # a non-finite edge state: the same message (connection, step) as the CPU kernel
        from test_plastic_edges import _depression_net

        errs = []
        W = np.ones((2, 3))
        for net in (_depression_net(W), _on_cuda(_depression_net(W), {})):
            net.get_edge("a", "b").dynamics.set_value("k", -1e308, initial=False)
            with pytest.raises(SimulationError) as err:
                net.run(np.ones((20, 3)), verbose=False)
            errs.append(str(err.value))
        assert errs[0] == errs[1] and "edge 'a' -> 'b'" in errs[0]
    # ---- template language (issue 12): no input, summed outputs, complex values ---------------
    def test_a_network_without_input_on_the_device():
        """Stuart-Landau oscillators (no input_var): run(steps=, trials=), per-trial values and
        forward(), against the numpy loop of tests/test_no_input.py."""
        from test_no_input import SL, sl_euler

        mu = np.array([[0.25], [1.0]])
        for opts in CONFIGS[:2]:
            net = _on_cuda(Network(1e-2), opts)
            net.add_diffeq_node("sl", SL, output_var="x", N=3,
                                node_vars={"mu": mu, "x": [0.5, 1.5, -1.0]})  # fmt: skip
            obs = net.run(steps=25, trials=2, record_vars=[("sl", "z")], verbose=False)
            for b in range(2):
                outs, _, _, zs = sl_euler([0.5, 1.5, -1.0], [0.0] * 3, 1.0, mu[b, 0], 1e-2, 25)
                _close(obs["out"][b], outs, 1e-12)
                _close(obs[("sl", "z")][b], zs, 1e-12)
        one = _on_cuda(Network(1e-2), {})
        one.add_diffeq_node("sl", SL, output_var="x", N=2)
        steps = [one.forward() for _ in range(3)]
        _close(steps, sl_euler([1.0, 1.0], [0.0, 0.0], 1.0, 1.0, 1e-2, 3)[0], 1e-13)

    def test_summed_operator_outputs_on_the_device():
        from test_summed_outputs import PC, jansen_rit_pc

        rng = np.random.default_rng(3)
        m_in = 100.0 + 50.0 * rng.random((20, 2))
        m_inh = np.array([-10.0, -60.0])
        net = _on_cuda(Network(1e-4), {"mode": "grid", "threads": 2})
        net.add_diffeq_node("pc", PC, input_var="rpo_e_in/m_in", output_var="pro/m", N=2,
                            node_vars={"rpo_i/m_in": m_inh})  # fmt: skip
        obs = net.run(m_in, verbose=False, record_vars=[("pc", "pro/V")])
        outs, psp, _ = jansen_rit_pc(m_in, m_inh, 1e-4)
        _close(obs["out"], outs, 1e-10)
        _close(obs[("pc", "pro/V")], psp, 1e-10)

    @pytest.mark.parametrize("opts", CONFIGS)
    def test_complex_values_on_the_device(opts):
        """Complex coupling (lane row sums through the complex shared array), a complex mean in
        the equations (two atomic slots), a complex edge, a recorded complex mean (float view),
        real read-outs: against the numpy loop of tests/test_complex.py."""
        from test_complex import REC, two_nodes, two_nodes_numpy

        rng = np.random.default_rng(21)
        J, W = rng.standard_normal((3, 3)) * 0.5, rng.standard_normal((2, 3))
        z0 = np.array([0.5 + 0.2j, -0.3j, 0.1])
        net = _on_cuda(two_nodes(J, W, z0), opts)
        x = np.random.default_rng(2).standard_normal((15, 3))
        obs = net.run(x, record_vars=REC, verbose=False)
        ref = two_nodes_numpy(J, W, z0, x)
        _close(obs["out"], ref["out"], 1e-12)
        for key in REC:
            want = ref[key[:2] + (len(key) > 2,)]
            assert obs[key[:2]].dtype == want.dtype, key
            _close(obs[key[:2]].reshape(want.shape), want, 1e-12)
        _close(net.get_var("A", "z"), ref[("A", "z", False)][-1], 1e-12)

    def test_complex64_and_nonfinite_complex_states_on_the_device():
        from test_complex import KMO, REC, kmo_euler, two_nodes

        net = _on_cuda(Network(1e-2, dtype=np.float32), {})
        net.add_diffeq_node("k", KMO, output_var="z", N=2,
                            node_vars={"z": np.array([0.5 + 0.1j, -0.2j])})  # fmt: skip
        obs = net.run(steps=20, record_vars=[("k", "R")], verbose=False)
        outs, Rs, _, _ = kmo_euler([0.5 + 0.1j, -0.2j], 1.0, 1.0, 4.0, 1e-2, 20)
        assert obs["out"].dtype == np.complex64 and obs[("k", "R")].dtype == np.float32
        _close(obs["out"], outs, 1e-5)
        _close(obs[("k", "R")], Rs, 1e-5)
        # an imaginary part that overflows is reported like on the CPU (tests/test_complex.py:
        # the derivative of neuron 2 overflows at step 10)
        rng = np.random.default_rng(21)
        net = two_nodes(rng.standard_normal((3, 3)) * 0.5, rng.standard_normal((2, 3)),
                        np.zeros(3, complex))  # fmt: skip
        net = _on_cuda(net, {"mode": "grid", "threads": 2})
        for name, value in (("omega", 0.0), ("Delta", -300.0), ("k", 0.0), ("c", 0.0)):
            net.set_var("A", name, value)
        net.set_var("A", "z", [1e-3j, 2e-3j, 1e300j])
        before = net.state["A"].copy()
        with pytest.raises(SimulationError, match=r"'za_op/z' of node 'A' became non-finite .*"
                           r"at step 10 \(neuron 2\)"):  # fmt: skip
            net.run(np.zeros((30, 3)), record_vars=REC, verbose=False)
        np.testing.assert_array_equal(net.state["A"], before)

    def test_a_delayed_complex_state_on_the_device():
        from test_complex import delayed_numpy, delayed_template

        net = _on_cuda(Network(1e-2), {"mode": "grid", "threads": 2})
        net.add_diffeq_node("D", delayed_template(), output_var="z", N=2,
                            node_vars={"d": [0.05, 0.13]})  # fmt: skip
        out = net.run(steps=30, verbose=False)["out"]
        z0 = np.array([0.5 + 0.2j] * 2)
        ref, _ = delayed_numpy(z0, [z0] * 13, 2.0, 0.3, -0.8, [5, 13], 1e-2, 30)
        _close(out, ref, 1e-12)

    def test_multi_stage_rules_with_delays_and_complex_states_on_the_device():
        """tests/test_methods.py's audit cases on the device: rk4 holds x(t - tau) over its
        stages (per-neuron delays), heun integrates a complex state; numpy references."""
        from test_methods import MACKEY_GLASS, rk_step

        from rectinumba.templates import NodeTemplate, OperatorTemplate

        dt, T, K = 0.5, 24, np.array([2, 5])
        net = _on_cuda(Network(dt, method="rk4"), {"mode": "grid", "threads": 2})
        net.add_diffeq_node("mg", MACKEY_GLASS, N=2, input_var="I_ext", output_var="x",
                            node_vars={"tau": K * dt})  # fmt: skip
        got = net.run(np.zeros((T, 2)), verbose=False, record_vars=[("mg", "x")])[("mg", "x")]
        x, hist = np.full(2, 1.2), [np.full(2, 1.2)]
        for k in range(T):
            past = np.array([hist[max(k - K[i], 0)][i] for i in range(2)])
            x = rk_step(lambda y, c, p=past: 0.2 * p / (1 + p**10) - 0.1 * y, x, dt, "rk4")
            hist.append(x)
        _close(got, hist[1:], 1e-12)
        op = OperatorTemplate("csl_op", equations=["z' = (1 + 2.0j)*z - abs(z)**2*z + I"],
                              variables={"z": "output(0.5+0.1j)", "I": "input(0.0)"})
        net = _on_cuda(Network(0.05, method="heun"), {})
        net.add_diffeq_node("c", NodeTemplate("csl", operators=[op]), N=2, input_var="I",
                            output_var="z")  # fmt: skip
        got = net.run(np.zeros((2, 12, 2)), verbose=False, record_vars=[("c", "z")])[("c", "z")]
        z, ref = np.full(2, 0.5 + 0.1j), []
        for _ in range(12):
            z = rk_step(lambda y, c: (1 + 2j) * y - np.abs(y) ** 2 * y, z, 0.05, "heun")
            ref.append(z)
        assert got.dtype == np.complex128
        _close(got, np.broadcast_to(ref, got.shape), 1e-12)

    @pytest.mark.parametrize("opts", CONFIGS[1:])
    def test_complex_template_edges_on_the_device(opts):
        """PyRates' kmo_mf_2coupled (complex edge outputs, r_t bound to the target) and the
        complex filter edges of tests/test_complex_edges.py (complex states per connection, dense
        and CSR, lane row sums of complex outputs, a recorded complex mean through the float
        view; a non-finite imaginary part): numpy references and the CPU's message."""
        from test_complex_edges import (
            FILTER_REC,
            Q0,
            check_filter_obs,
            filter_net,
            filter_numpy,
            kmo_circuit,
            kmo_circuit_numpy,
        )

        net = _on_cuda(kmo_circuit("kmo_mf_2coupled", 1e-3), opts)
        obs = net.run(steps=25, record_vars=[("p1", "r"), ("p2", "r"), (("p1", "p2"), "s")],
                      verbose=False)  # fmt: skip
        rs, ss = kmo_circuit_numpy("kmo_mf_2coupled", 1e-3, 25)
        for n in ("p1", "p2"):
            _close(obs[(n, "r")][:, 0], rs[n], 1e-12)
        assert obs[(("p1", "p2"), "s")].dtype == np.complex128
        _close(obs[(("p1", "p2"), "s")].ravel(), ss[("p1", "p2")], 1e-12)
        net = _on_cuda(filter_net(), opts)
        check_filter_obs(net.run(steps=12, record_vars=FILTER_REC, verbose=False),
                         filter_numpy(12))  # fmt: skip
        errs = []
        for n in (filter_net(), _on_cuda(filter_net(), opts)):
            q = Q0.copy()
            q[1, 2] = 1e306j
            n.get_edge("A", "B").set_var("q", q)
            n.get_edge("A", "B").set_var("a", -1e5)
            before = n.get_edge("A", "B").get_var("q")
            with pytest.raises(SimulationError, match=r"'cq_op/q' of edge 'A' -> 'B'") as err:
                n.run(steps=4, record_vars=FILTER_REC, verbose=False)
            errs.append(str(err.value))
            np.testing.assert_array_equal(n.get_edge("A", "B").get_var("q"), before)
        assert errs[0] == errs[1] and "connection from source neuron 2 to target" in errs[0]

    # ---- barriers: every block of a launch at once, every access checked against a barrier ---
    from numba import cuda as _cuda
    from numba import float64 as _f64

    @_cuda.jit
    def _exchange_without_barrier(out):
        sh = _cuda.shared.array(4, _f64)
        t = _cuda.threadIdx.x
        sh[t] = t + 1.0
        out[t] = sh[(t + 1) % 4]

    @_cuda.jit
    def _exchange_with_barrier(out):
        sh = _cuda.shared.array(4, _f64)
        t = _cuda.threadIdx.x
        sh[t] = t + 1.0
        _cuda.syncthreads()
        out[t] = sh[(t + 1) % 4]

    def test_the_race_checker_finds_a_missing_barrier():
        """Positive control for the checker below: a shared-memory exchange without
        ``syncthreads`` is reported on every run; with the barrier it is clean."""
        from cudasim_race import RaceChecker

        reports, outs = [], []
        for kernel in (_exchange_with_barrier, _exchange_without_barrier):
            outs.append(np.zeros(4))
            with RaceChecker() as chk:
                kernel[1, 4](outs[-1])
            reports.append(chk.report())
        assert reports[0] == "" and outs[0].tolist() == [2.0, 3.0, 4.0, 1.0]
        assert "read/write on shared array" in reports[1]
        assert "uninitialised shared read" in reports[1]

    @pytest.mark.parametrize("opts", [{"mode": "block", "threads": 4, "lanes": 2},
                                      {"mode": "grid", "threads": 4, "lanes": 2}])
    def test_kernels_have_no_barrier_hazards(opts):
        """The generated kernels under a stricter simulator (tests/cudasim_race.py): the blocks
        of a launch run at once, a cooperative grid has 3 blocks, and any two accesses of one
        element by different threads that no barrier orders are reported. Rate network with RK4
        stages and shared-memory row sums; LIF with CSR event-driven coupling (atomics)."""
        from cudasim_race import RaceChecker

        inp = np.random.default_rng(8).standard_normal((2, 6, 3))
        a = _rate(np.random.default_rng(2))
        a.method = "rk4"
        with RaceChecker(cooperative_blocks=3) as chk:
            b = _rate(np.random.default_rng(2), opts)
            b.method = "rk4"
            ob = b.run(inp, verbose=False)
        _same_obs(a.run(inp, verbose=False), ob, [])
        from test_events import RECORD, network

        x = 0.9 + 0.6 * np.random.default_rng(3).random((2, 10, 6))
        a = network("event", N=6, M=3)
        with chk:
            b = _on_cuda(network("event", N=6, M=3), opts)
            for net in (a, b):  # spikes from the first step on
                for n in "dcp":
                    net.set_var(n, "v", np.linspace(0.5, 1.5, 6))
            ob = b.run(x, verbose=False, record_vars=RECORD)
        oa = a.run(x, verbose=False, record_vars=RECORD)
        assert (oa[("c", "v")] == 0.0).sum() > 5  # spikes happened
        _same_obs(oa, ob, RECORD)
        assert chk.launches >= 2
        chk.check()
