"""Training methods refuse bad arguments before anything changes, and a failed fit or test leaves
the network (state, step counter, nodes, trained weights) as it was."""

from __future__ import annotations

import numpy as np
import pytest

from rectinumba import Network
from rectinumba.errors import NetworkError, RectinumbaError, SimulationError

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
DT = 1e-2


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


def test_failed_fit_ridge_and_test_leave_the_network_as_it_was(snapshot, assert_unchanged):
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


def test_epochs_with_different_trial_counts_are_refused(snapshot, assert_unchanged):
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


def test_failed_fit_bptt_restores_parameters_and_state_and_names_the_step(
    snapshot, assert_unchanged
):
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
