"""Review of the runtime and training API as a RectiPy user would drive it (reviewer R2).

Networks with several diff-eq populations, edges and feedback are checked against plain numpy
Euler loops written here; error paths are checked to name what was given and to leave the
network as it was.
"""

from __future__ import annotations

import numpy as np
import pytest

from rectinumba import Network
from rectinumba.errors import NetworkError, RectinumbaError, SimulationError
from rectinumba.observer import Observer

LIF = "model_templates.spiking_neurons.lif.lif"
LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
DT = 1e-2


def max_rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# ---- runtime: values against numpy -------------------------------------------------------------
def lif_step(v, s, I, J, p, thr, rst):
    """One LIF step with DESIGN.md's semantics; returns (v, s, output, spikes)."""
    spk = (v >= thr).astype(float)
    out = s.copy()
    dv = -v / p["tau"] + p["k"] * (J @ s) + I + p["eta"]
    ds = -s / p["tau_s"] + spk / DT
    v, s = v + DT * dv, s + DT * ds
    v[spk > 0] = rst
    return v, s, out, spk


def test_two_spiking_populations_with_feedback_match_numpy():
    """inp -> E (LIF) -> I (LIF) -> sigmoid readout, I -> E feedback; different parameters."""
    rng = np.random.default_rng(0)
    NE, NI, m, T = 6, 4, 2, 400
    JE, JI = rng.normal(0, 2, (NE, NE)), rng.normal(0, 2, (NI, NI))
    W_in, W_ei = rng.normal(0, 30, (NE, m)), rng.uniform(0, 20, (NI, NE))
    W_ie, W_out = -rng.uniform(0, 20, (NE, NI)), rng.normal(0, 1, (3, NI))
    inp = rng.uniform(0, 3, (T, m))
    pE = {"tau": 5.0, "k": 1.0, "eta": np.linspace(0.5, 2, NE), "tau_s": 0.5}
    pI = {"tau": 20.0, "k": 0.5, "eta": 0.0, "tau_s": 2.0}
    net = Network(DT)
    net.add_func_node("inp", m)
    common = dict(source_var="s", target_var="s_in", input_var="I_ext", output_var="s")
    common.update(op="lif_op", spike_var="spike", spike_def="v")
    net.add_diffeq_node("E", LIF, weights=JE, spike_threshold=1.0, spike_reset=-1.0,
                        node_vars={"tau": 5.0, "eta": pE["eta"]}, **common)  # fmt: skip
    net.add_diffeq_node("I", LIF, weights=JI, spike_threshold=2.0, spike_reset=0.0,
                        node_vars={"tau": 20.0, "tau_s": 2.0, "k": 0.5}, **common)  # fmt: skip
    net.add_func_node("out", 3, "sigmoid")
    net.add_edge("inp", "E", weights=W_in)
    net.add_edge("E", "I", weights=W_ei)
    net.add_edge("I", "E", weights=W_ie, feedback=True)
    net.add_edge("I", "out", weights=W_out)
    obs = net.run(inp, verbose=False, record_vars=[("E", "v"), ("I", "s", True)])

    vE, sE, vI, sI, prev_I = np.zeros(NE), np.zeros(NE), np.zeros(NI), np.zeros(NI), np.zeros(NI)
    outs, rec_vE, rec_sI, n_spikes = [], [], [], 0.0
    for x in inp:
        vE, sE, oE, spE = lif_step(vE, sE, W_in @ x + W_ie @ prev_I, JE, pE, 1.0, -1.0)
        vI, sI, oI, spI = lif_step(vI, sI, W_ei @ oE, JI, pI, 2.0, 0.0)
        prev_I = oI
        n_spikes += spE.sum() + spI.sum()
        outs.append(1 / (1 + np.exp(-(W_out @ oI))))
        rec_vE.append(vE.copy())
        rec_sI.append(sI.mean())
    assert n_spikes > 100  # both populations really spike
    assert max_rel(obs["out"], outs) < 1e-10
    assert max_rel(obs[("E", "v")], rec_vE) < 1e-10
    assert max_rel(obs[("I", "s")], rec_sI) < 1e-10
    # forward in a Python loop and two consecutive runs continue the same trajectory
    net.reset()
    assert max_rel([net.forward(x) for x in inp], outs) < 1e-10
    net.reset()
    halves = [net.run(inp[:150], verbose=False)["out"], net.run(inp[150:], verbose=False)["out"]]
    assert max_rel(np.concatenate(halves), outs) < 1e-10
    assert max_rel(net.get_var("E", "v"), vE) < 1e-10


def test_algebraic_output_two_edges_and_feedback_into_a_hidden_node():
    """A (tanh, output r algebraic) and B (relu) both feed C; C feeds back into A."""
    rng = np.random.default_rng(1)
    T, m, NA, NB, NC = 200, 2, 5, 3, 4
    JA = rng.normal(0, 1, (NA, NA))
    W_ia, W_ib = rng.normal(0, 1, (NA, m)), rng.normal(0, 1, (NB, m))
    W_ac, W_bc = rng.normal(0, 1, (NC, NA)), rng.normal(0, 1, (NC, NB))
    W_ca, W_co = rng.normal(0, 1, (NA, NC)), rng.normal(0, 1, (2, NC))
    tau_A = np.linspace(1, 5, NA)
    inp = rng.normal(0, 1, (T, m))
    net = Network(DT)
    net.add_func_node("inp", m)
    net.add_diffeq_node("A", LI_TANH, weights=JA, source_var="tanh_op/r", target_var="li_op/r_in",
                        input_var="li_op/I_ext", output_var="tanh_op/r",
                        node_vars={"li_op/tau": tau_A})  # fmt: skip
    net.add_func_node("B", NB, "relu")
    net.add_diffeq_node("C", LI_TANH, N=NC, input_var="li_op/I_ext", output_var="li_op/v",
                        node_vars={"li_op/eta": 0.3, "li_op/v": 0.5})  # fmt: skip
    net.add_func_node("o", 2, "softmax")
    for s, t, W in (("inp", "A", W_ia), ("inp", "B", W_ib), ("A", "C", W_ac), ("B", "C", W_bc)):
        net.add_edge(s, t, weights=W)
    net.add_edge("C", "A", weights=W_ca, feedback=True)
    net.add_edge("C", "o", weights=W_co)
    first = net.run(inp[:100], verbose=False, record_vars=[("A", "tanh_op/r")])
    net.set_var("C", "eta", -0.2)  # between runs
    second = net.run(inp[100:], verbose=False)

    vA, vC, prev_C = np.zeros(NA), np.full(NC, 0.5), np.zeros(NC)
    outs, rA = [], []
    for t, x in enumerate(inp):
        rA_t = np.tanh(vA)
        vA = vA + DT * (-vA / tau_A + JA @ rA_t + W_ia @ x + W_ca @ prev_C)
        out_C = vC.copy()
        eta = 0.3 if t < 100 else -0.2
        vC = vC + DT * (-vC / 10 + W_ac @ rA_t + W_bc @ np.maximum(W_ib @ x, 0) + eta)
        prev_C = out_C
        z = W_co @ out_C
        outs.append(np.exp(z - z.max()) / np.exp(z - z.max()).sum())
        rA.append(rA_t)
    assert max_rel(np.concatenate([first["out"], second["out"]]), outs) < 1e-10
    assert max_rel(first[("A", "tanh_op/r")], rA[:100]) < 1e-10


# ---- training: fixed defects ---------------------------------------------------------------------
def reservoir(n=6, seed=0, readout=None) -> Network:
    rng = np.random.default_rng(seed)
    net = Network(DT)
    net.add_func_node("inp", 2)
    net.add_diffeq_node("rnn", LI_TANH, weights=rng.normal(0, 1.5 / np.sqrt(n), (n, n)),
                        source_var="tanh_op/r", target_var="li_op/r_in", input_var="li_op/I_ext",
                        output_var="tanh_op/r", node_vars={"li_op/tau": 0.5})  # fmt: skip
    net.add_edge("inp", "rnn", weights=rng.normal(0, 1, (n, 2)))
    if readout is not None:
        net.add_func_node("out", 1)
        net.add_edge("rnn", "out", weights=rng.normal(0, 0.1, (1, n)), train=readout)
    return net


def sines(T=60):
    t = np.arange(T) * DT
    return np.stack([np.sin(2 * t), np.cos(2 * t)], 1), np.sin(2 * t + 1.0)


def snapshot(net):
    return net._step, {k: v.copy() for k, v in net.state.items()}, list(net.nodes)


def assert_unchanged(net, snap):
    step, state, nodes = snap
    assert net._step == step and list(net.nodes) == nodes
    for label, arr in state.items():
        np.testing.assert_array_equal(net.state[label], arr)


def test_failed_fit_ridge_and_test_leave_the_network_as_it_was():
    x, y = sines()
    net = reservoir()
    net.run(x[:7], verbose=False)
    snap = snapshot(net)
    with pytest.raises(NetworkError, match="cutoff=60 leaves no step"):
        net.fit_ridge(x, y, cutoff=60, verbose=False)
    assert_unchanged(net, snap)
    with pytest.raises(NetworkError, match="singular or not positive definite"):
        net.fit_ridge(x[:3], y[:3], alpha=0.0, verbose=False)
    assert_unchanged(net, snap)
    twice = [("rnn", "li_op/v"), ("rnn", "li_op/v", True)]
    with pytest.raises(RectinumbaError, match="lists \\('rnn', 'li_op/v'\\) twice"):
        net.fit_ridge(x, y, record_vars=twice, verbose=False)
    assert_unchanged(net, snap)
    with pytest.raises(NetworkError, match="alpha must be a number, got 'a'"):
        net.fit_ridge(x, y, alpha="a", verbose=False)
    net.fit_ridge(x, y, add_readout_node=True, verbose=False)
    snap = snapshot(net)
    with pytest.raises(NetworkError, match="test: no step was recorded \\(cutoff=60"):
        net.test(x, y, cutoff=60, verbose=False)
    assert_unchanged(net, snap)
    with pytest.raises(RectinumbaError, match="twice"):
        net.test(x, y, record_vars=twice, verbose=False)
    assert_unchanged(net, snap)


def test_epochs_with_different_trial_counts_are_refused():
    x, y = sines()
    xs = [np.stack([x, x]), np.stack([x, x, x])]
    ys = [np.stack([y, y])[..., None], np.stack([y, y, y])[..., None]]
    net = reservoir(readout="gd")
    snap = snapshot(net)
    W = net.get_edge("rnn", "out").weights.copy()
    for call in (net.fit_ridge, net.test, net.fit_bptt):
        with pytest.raises(NetworkError, match="different numbers of trials \\[2, 3\\]"):
            call(xs, ys, verbose=False)
    assert_unchanged(net, snap)
    np.testing.assert_array_equal(net.get_edge("rnn", "out").weights, W)


def test_fit_rls_on_a_single_trial_batch_equals_the_unbatched_fit():
    x, y = sines()
    a, b = reservoir(readout="rls"), reservoir(readout="rls")
    obs_a = a.fit_rls(x, y, sampling_steps=7, verbose=False)
    obs_b = b.fit_rls(x[None], y[None, :, None], sampling_steps=7, verbose=False)
    assert obs_b["loss"].shape == (1, 9) and obs_b["out"].shape == (1, 9, 1)
    np.testing.assert_allclose(obs_b["loss"][0], obs_a["loss"], rtol=1e-12)
    np.testing.assert_allclose(obs_b["w_out"], obs_a["w_out"], rtol=1e-12)


def test_non_numeric_training_arguments_are_network_errors():
    x, y = sines()
    rls, gd = reservoir(readout="rls"), reservoir(readout="gd")
    with pytest.raises(
        NetworkError, match="fit_rls: update_steps must be a positive integer, got 'a'"
    ):
        rls.fit_rls(x, y, update_steps="a", verbose=False)
    with pytest.raises(NetworkError, match="fit_rls: beta must be a number, got 'b'"):
        rls.fit_rls(x, y, beta="b", verbose=False)
    with pytest.raises(NetworkError, match="fit_rls: alpha must be a number, got 'x'"):
        rls.fit_rls(x, y, alpha="x", verbose=False)
    with pytest.raises(
        NetworkError, match="fit_bptt: update_steps must be a positive integer, got 2.5"
    ):
        gd.fit_bptt(x, y, update_steps=2.5, verbose=False)
    with pytest.raises(NetworkError, match="fit_bptt: lr must be a number, got 'fast'"):
        gd.fit_bptt(x, y, lr="fast", verbose=False)
    with pytest.raises(NetworkError, match="the inputs have no steps \\(T = 0\\)"):
        gd.fit_bptt(np.zeros((0, 2)), np.zeros(0), verbose=False)
    with pytest.raises(NetworkError, match="epoch\\(s\\) \\[1\\] have no steps"):
        gd.fit_bptt([x, x[:0]], [y, y[:0]], verbose=False)


def test_fit_bptt_records_each_epoch_like_run():
    """With lr=0, fit_bptt's recordings of epochs of different lengths equal run()'s."""
    x, y = sines()
    net = reservoir(readout="gd")
    xs, ys = [x[:10], x[:7]], [y[:10], y[:7]]
    obs = net.fit_bptt(xs, ys, lr=0.0, sampling_steps=3, verbose=False,
                       record_vars=[("rnn", "li_op/v")])  # fmt: skip
    outs, vs = [], []
    for xi in xs:
        net.reset()
        r = net.run(xi, sampling_steps=3, verbose=False, record_vars=[("rnn", "li_op/v")])
        outs.append(r["out"])
        vs.append(r[("rnn", "li_op/v")])
    assert obs["out"].shape == (4 + 3, 1)  # steps 0, 3, 6, 9 and 0, 3, 6
    np.testing.assert_allclose(obs["out"], np.concatenate(outs), rtol=1e-12)
    np.testing.assert_allclose(obs[("rnn", "li_op/v")], np.concatenate(vs), rtol=1e-12)


def test_failed_fit_bptt_restores_parameters_and_state_and_names_the_step():
    x, y = sines()
    net = reservoir(readout="gd")
    net.run(x[:3], verbose=False)
    snap = snapshot(net)
    W = net.get_edge("rnn", "out").weights.copy()
    bad = x.copy()
    bad[43] = np.inf  # in the fifth window of 10 steps: four optimizer steps happen first
    with pytest.raises(SimulationError, match="became non-finite .* at step 43 "):
        net.fit_bptt(bad, y, update_steps=10, lr=0.5, verbose=False)
    assert_unchanged(net, snap)
    np.testing.assert_array_equal(net.get_edge("rnn", "out").weights, W)


def test_observer_trial_index_out_of_range_is_a_rectinumba_error():
    obs = Observer(0.1, n_trials=2)
    obs.save("out", np.zeros((2, 5, 3)))
    assert obs.matshow("out", trial=-1) is not None
    for trial in (5, -3, 1.0, "0"):
        with pytest.raises(RectinumbaError, match=f"trial={trial!r} is not a trial index of 'out'"):
            obs.plot("out", trial=trial)


# ---- argument checks in network.py / nodes.py -----------------------------------------------
def li_node(N=3) -> Network:
    net = Network(DT)
    net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op", N=N,
                        input_var="I_ext", output_var="v")  # fmt: skip
    return net


def test_run_refuses_duplicate_record_keys_before_running():
    net = li_node()
    x = np.ones((5, 3))
    net.run(x, verbose=False)
    snap = snapshot(net)
    with pytest.raises(NetworkError, match="twice"):
        net.run(x, verbose=False, record_vars=[("li", "v"), ("li", "v", True)])
    assert_unchanged(net, snap)


@pytest.mark.parametrize("kw", [{"sampling_steps": "a"}, {"sampling_steps": None}, {"cutoff": "x"}])
def test_non_numeric_sampling_and_cutoff_are_network_errors(kw):
    with pytest.raises(NetworkError, match="must be a (positive|non-negative) integer, got"):
        li_node().run(np.ones((5, 3)), verbose=False, **kw)


def test_complex_inputs_are_refused():
    with pytest.raises(NetworkError, match="inputs must be real"):
        li_node().run(np.ones((5, 3)) + 1j, verbose=False)


def test_ragged_input_lists_are_network_errors():
    with pytest.raises(NetworkError, match="inputs"):
        li_node().run([[1.0, 2.0, 3.0], [1.0, 2.0]], verbose=False)


def test_node_vars_1d_value_of_wrong_length_is_refused_at_once_and_changes_nothing():
    """API: a 1-D value is always per neuron (N,); per-trial values are (B, 1) or (B, N). A
    mistyped (N+1,) vector is refused when it is given, naming node, variable and shapes."""
    net = li_node(N=3)
    before = net.get_var("li", "tau")
    msg = r"(?s)value of shape \(4,\) does not fit 3 units.*node 'li', variable 'tau'.*\(B, 1\)"
    with pytest.raises(NetworkError, match=msg):
        net.set_var("li", "tau", np.ones(4))
    np.testing.assert_array_equal(net.get_var("li", "tau"), before)
    with pytest.raises(NetworkError, match=msg):
        Network(DT).add_diffeq_node(
            "li",
            "model_templates.rate_neurons.leaky_integrator.li_op",
            N=3,
            input_var="I_ext",
            output_var="v",
            node_vars={"tau": np.ones(4)},
        )
    net.set_var("li", "tau", np.array([[5.0], [20.0]]))  # (B, 1): one value per trial
    np.testing.assert_array_equal(net.get_var("li", "tau"), [[5.0] * 3, [20.0] * 3])
    assert net.run(np.ones((2, 5, 3)), verbose=False)["out"].shape == (2, 5, 3)


def test_non_numeric_values_are_network_errors():
    net = li_node()
    with pytest.raises(NetworkError, match="variable 'tau'"):
        net.set_var("li", "tau", "fast")


def test_non_numeric_threshold_and_weights_are_network_errors():
    net = Network(DT)
    with pytest.raises(NetworkError, match="spike_threshold must be a number, got 'high'"):
        net.add_diffeq_node("l", LIF, N=2, input_var="I_ext", output_var="s", op="lif_op",
                            spike_var="spike", spike_def="v", spike_threshold="high")  # fmt: skip
    with pytest.raises(NetworkError, match="weights must be numbers, got dtype <U1"):
        net.add_diffeq_node("l", LI_TANH, weights=[["a", "b"], ["c", "d"]], source_var="tanh_op/r",
                            target_var="li_op/r_in", input_var="li_op/I_ext",
                            output_var="li_op/v")  # fmt: skip
    assert net.nodes == []


def test_nonfinite_inputs_and_driven_inputs_are_named():
    net = li_node()
    x = np.ones((6, 3))
    x[4, 1] = np.nan
    snap = snapshot(net)
    with pytest.raises(
        NetworkError, match=r"inputs contain a non-finite value \(nan\) at step 4, column 1"
    ):
        net.run(x, verbose=False)
    assert_unchanged(net, snap)
    with pytest.raises(NetworkError, match="'I_ext' is an input the network sets every step"):
        net.get_var("li", "I_ext")
