"""Ports of RectiPy's documentation examples (issue 11 acceptance), run with the import swapped.

Each test follows one RectiPy 0.11/0.12 documentation script call for call (keywords included:
``spike_def`` or ``reset_var``, ``clear``, ``float_precision``, ``v_reset``/``v_peak``,
``enable_grad``, ``retain_graph``, ``record_loss``...), with small networks and short horizons, and
checks the numbers against numpy loops written here from RectiPy's step rules (spikes on the
pre-update state, spike input 1/dt, explicit Euler, reset after the update, node output from the
pre-update state). Plots are drawn on matplotlib's Agg backend.

Scripts that import torch themselves (``interfaces/torch_integration.py``, and the 0.11
``interfaces/observer.py`` that builds its input with ``torch.zeros``) are out of scope; the
observer port below builds the same input with numpy.
"""

from __future__ import annotations

import numpy as np
import pytest

from rectinumba import (
    FeedbackNetwork,
    Network,
    Observer,
    input_connections,
    random_connectivity,
    wta_score,
)

plt = pytest.importorskip("matplotlib.pyplot")
pytest.importorskip("pandas")

QIF = "neuron_model_templates.spiking_neurons.qif.qif"
QIF_SFA = "neuron_model_templates.spiking_neurons.qif.qif_sfa"
LIF = "neuron_model_templates.spiking_neurons.lif.lif"
TANH = "neuron_model_templates.rate_neurons.leaky_integrator.tanh"


@pytest.fixture(autouse=True)
def _agg_and_seed():
    plt.switch_backend("Agg")
    np.random.seed(0)  # the scripts draw from numpy's global generator
    yield
    plt.close("all")


# ---- numpy references -------------------------------------------------------------------------


def qif_ref(inp, J, dt, eta=-5.0, thr=100.0, rst=-100.0, sfa=False, tau_x=10.0, alpha=1.0):
    """QIF (qif_op, or qif_sfa_op with adaptation x): outputs s (pre-update), states after."""
    N = J.shape[0]
    v, s, x = -2.0 * np.ones(N), np.zeros(N), np.zeros(N)
    outs, ss = [], []
    for I in inp:
        spk = (v >= thr).astype(float)
        outs.append(s.copy())
        dv = v**2 + (eta - x if sfa else eta) + I + J @ s
        ds = -s + spk / dt
        dx = -x / tau_x + alpha * spk / dt
        v, s, x = v + dt * dv, s + dt * ds, x + dt * dx
        v[spk > 0] = rst
        ss.append(s.copy())
    return np.array(outs), np.array(ss)


def lif_ref(I_ext, J, dt, s_ext=0.0, tau=10.0, k=1.0, eta=0.0, tau_s=0.5, v=None, s=None):
    """LIF (lif_op): outputs s (pre-update); returns (outputs, final v, final s)."""
    N = J.shape[0]
    v = np.zeros(N) if v is None else v.copy()
    s = np.zeros(N) if s is None else s.copy()
    s_ext = np.broadcast_to(s_ext, (len(I_ext), N))
    outs = []
    for t, I in enumerate(I_ext):
        spk = (v >= 100.0).astype(float)
        outs.append(s.copy())
        dv = -v / tau + k * (J @ s) + I + eta
        ds = -s / tau_s + spk / dt + s_ext[t]
        v, s = v + dt * dv, s + dt * ds
        v[spk > 0] = -100.0
    return np.array(outs), v, s


def li_tanh_ref(I_ext, J, dt, tau=10.0, k=1.0, eta=0.0, v=None):
    """LI/tanh (li_op + tanh_op, J on tanh(v)): outputs v (pre-update); returns (outs, final v)."""
    v = np.zeros(J.shape[0]) if v is None else v.copy()
    outs = []
    for I in I_ext:
        outs.append(v.copy())
        v = v + dt * (-v / tau + k * (J @ np.tanh(v)) + I + eta)
    return np.array(outs), v


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# ---- documentation/interfaces/simulation.py ------------------------------------------------------


@pytest.mark.parametrize("version", ["0.9 from_yaml", "0.11 spike_def", "0.12 reset_var"])
def test_simulation(version):
    N, dt, steps = 5, 1e-3, 600
    J = np.random.rand(N, N) * 20.0
    node = "neuron_model_templates.spiking_neurons.qif.qif"
    common = dict(weights=J, source_var="s", target_var="s_in", input_var="I_ext",
                  output_var="s", spike_var="spike", op="qif_op")  # fmt: skip
    if version.startswith("0.9"):
        qif = Network.from_yaml(node, dt=dt, spike_def="v", **common)
        label = "rnn"
    else:
        qif = Network(dt=dt, device="cpu")
        spiking = {"spike_def": "v"} if "0.11" in version else {"reset_var": "v"}
        qif.add_diffeq_node("qif", node, **common, **spiking)
        label = "qif"
    time = np.arange(0, steps) * dt
    inp = np.zeros((steps, N))
    for n, amp, freq in zip([2, 4], [20.0, 10.0], [0.5, 0.25], strict=True):
        inp[:, n] = np.sin(2 * np.pi * freq * time) * amp
    inp += 40.0  # (the script runs 30000 steps; a drive makes these 600 steps spike)
    obs = qif.run(inputs=inp)
    qif.get_node(label)  # the node is there under the label the script used
    ref, _ = qif_ref(inp, J, dt)
    assert ref.max() > 0.5  # spikes happened
    np.testing.assert_allclose(obs["out"], ref, rtol=1e-10, atol=1e-12)
    obs.plot("out")
    plt.legend([f"s_{i}" for i in range(N)])
    # a second run continues from the state the first left
    obs2 = qif.run(inp, verbose=False)
    ref2, _ = qif_ref(np.concatenate([inp, inp]), J, dt)
    np.testing.assert_allclose(obs2["out"], ref2[steps:], rtol=1e-9, atol=1e-12)


# ---- documentation/interfaces/model_definition.py -----------------------------------------------


def test_model_definition():
    node = "neuron_model_templates.rate_neurons.leaky_integrator.tanh"
    N = 5
    J = np.random.randn(N, N) * 2.0
    net = Network.from_yaml(node, weights=J, source_var="tanh_op/r", target_var="li_op/r_in",
                            input_var="li_op/I_ext", output_var="li_op/v")  # fmt: skip
    assert net.n_out == 5
    rnn = net.get_node("rnn")
    assert {"li_op/tau", "li_op/k", "li_op/eta"} <= set(rnn.parameter_names)
    assert "li_op/v" in rnn.variable_names
    # input and output layers (the script's add_input_layer / add_output_layer)
    m, k = 3, 2
    W_in, W_out = np.random.randn(m, N), np.random.randn(N, k)  # (source, target) orientation
    net.add_func_node("inp", m, activation_function="identity")
    net.add_edge("inp", "rnn", weights=W_in)
    net.add_func_node("out", k, activation_function="sigmoid")
    net.add_edge("rnn", "out", weights=W_out)
    x = np.random.randn(200, m)
    obs = net.run(x, verbose=False)
    outs, _ = li_tanh_ref(x @ W_in, J, 1e-3)
    np.testing.assert_allclose(obs["out"], 1.0 / (1.0 + np.exp(-outs @ W_out)), rtol=1e-12)
    # the spiking network of the script, with the spike keywords spelled out
    lif = Network.from_yaml("neuron_model_templates.spiking_neurons.lif.lif", weights=J,
                            source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
                            op="lif_op", spike_var="spike", spike_def="v", spike_threshold=100.0,
                            spike_reset=-100.0)  # fmt: skip
    node = lif.get_node("rnn")
    assert node.spiking and node.spike_threshold == 100.0 and node.spike_reset == -100.0
    assert set(node.state_names) == {"lif_op/v", "lif_op/s"}
    assert lif.get_var("rnn", "tau_s") == pytest.approx([0.5] * N)


# ---- documentation/models: leaky_integrator.py, lif.py, qif.py -----------------------------------


def test_leaky_integrator_model():
    N = 5
    J = np.random.randn(N, N) * 2.0
    net = Network(dt=1e-3)
    net.add_diffeq_node("li", TANH, weights=J, source_var="tanh_op/r", target_var="li_op/r_in",
                        input_var="li_op/I_ext", output_var="li_op/v")  # fmt: skip
    inp = np.zeros((1000, N)) + 2.0
    obs = net.run(inputs=inp, sampling_steps=10, record_vars=[("li", "tanh_op/r", False)])
    outs, _ = li_tanh_ref(inp, J, 1e-3)
    np.testing.assert_allclose(obs["out"], outs[::10], rtol=1e-12)
    obs.plot("out")


def test_lif_model():
    N = 5
    J = np.random.randn(N, N) * 20.0
    net = Network(dt=1e-3)
    net.add_diffeq_node("lif", LIF, weights=J, source_var="s", target_var="s_in",
                        input_var="I_ext", output_var="s", spike_var="spike", spike_def="v",
                        op="lif_op")  # fmt: skip
    steps = 1500
    inp = np.zeros((steps, N)) + 200.0
    obs = net.run(inputs=inp, sampling_steps=10)
    ref, _, _ = lif_ref(inp, J, 1e-3)
    assert ref.max() > 0.5
    np.testing.assert_allclose(obs["out"], ref[::10], rtol=1e-10, atol=1e-12)
    obs.plot("out")


@pytest.mark.parametrize("node", [QIF, QIF_SFA])
def test_qif_model(node):
    N = 5
    J = np.random.randn(N, N) * 2.0
    op = node.rsplit(".", 1)[1] + "_op"
    net = Network.from_yaml(node, weights=J, source_var="s", target_var="s_in",
                            input_var="I_ext", output_var="s", op=op, dt=1e-3, spike_def="v",
                            spike_var="spike")  # fmt: skip
    steps = 1200
    inp = np.zeros((steps, N)) + 10.0
    obs = net.run(inputs=inp, sampling_steps=10)
    ref, _ = qif_ref(inp, J, 1e-3, sfa=node == QIF_SFA)
    assert ref.max() > 0.5
    np.testing.assert_allclose(obs["out"], ref[::10], rtol=1e-9, atol=1e-12)


# ---- documentation/interfaces/observer.py ----------------------------------------------------


def test_observer():
    N = 5
    J = np.random.rand(N, N) * 20.0
    node = "neuron_model_templates.spiking_neurons.qif.qif"
    net = Network(dt=1e-3)
    net.add_diffeq_node("qif", node, weights=J, source_var="s", target_var="s_in",
                        input_var="I_ext", output_var="s", op="qif_op", spike_def="v",
                        spike_var="spike")  # fmt: skip
    obs = Observer(net.dt, record_output=True, record_loss=False, record_vars=[("qif", "v", False)])
    steps = 400
    inp = np.zeros((steps, N)) + 15.0  # (the script: torch.zeros((steps, N)) + 15.0)
    net.compile()
    for step in range(steps):
        out = net.forward(inp[step, :])
        obs.record(step, output=out, loss=0.0, record_vars=[net.get_var("qif", "v")])
    obs.plot(("qif", "v"))
    ax = obs.plot(y=("qif", "v"), x="out")
    assert len(ax.get_lines()) == N  # column i of v against column i of out
    v = obs.to_dataframe(("qif", "v"))
    s_raw, s_numpy = obs["out"], obs.to_numpy("out")
    ref, _ = qif_ref(inp, J, 1e-3)
    np.testing.assert_allclose(s_numpy, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(s_raw, s_numpy)
    assert v.shape == (steps, N) and v.index[1] == pytest.approx(1e-3)
    # the same through run(): the mean of v, every step and every second step
    net.reset()
    obs = net.run(inputs=inp, record_vars=[("qif", "v", True)], verbose=False)
    net.reset()
    obs2 = net.run(inputs=inp, record_vars=[("qif", "v", True)], sampling_steps=2, verbose=False)
    assert len(obs[("qif", "v")]) == steps and len(obs2[("qif", "v")]) == steps // 2
    np.testing.assert_allclose(obs[("qif", "v")], v.to_numpy().mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(obs2[("qif", "v")], obs[("qif", "v")][::2], rtol=1e-12)
    ax = obs.plot(("qif", "v"))
    obs2.plot(("qif", "v"), ax=ax)
    net.run(inputs=inp, record_output=True, record_loss=False, verbose=False)


# ---- documentation/interfaces/train_test.py (0.12) --------------------------------------------


def test_train_test():
    N, p, m, k = 12, 0.25, 3, 3
    node = "neuron_model_templates.spiking_neurons.lif.lif"
    J = random_connectivity(N, N, p, normalize=True)
    net = Network(dt=1e-2)
    net.add_diffeq_node("rnn", node, weights=J, source_var="s", target_var="s_in",
                        input_var="s_ext", output_var="s", spike_var="spike", reset_var="v",
                        op="lif_op", node_vars={"k": 10.0, "tau": 5.0, "eta": -0.5, "tau_s": 10.0},
                        v_reset=-1e2, v_peak=1e2, clear=True, train_params=["weights"])  # fmt: skip
    W_in = input_connections(N, m, 0.5, variance=1.0, zero_mean=True)
    net.add_func_node("inp", m, activation_function="identity")
    net.add_edge("inp", "rnn", weights=W_in, train=None)
    net.add_func_node("out", k, activation_function="log_softmax")
    net.add_edge("rnn", "out", train="gd")
    # Poisson inputs with two active channels per trial, targets: which pair
    train_steps, test_steps, trial_steps = 300, 100, 50
    steps = train_steps + test_steps
    inp, active = np.zeros((steps, m)), np.zeros((steps, m))
    for i in range(steps // trial_steps):
        sl = slice(i * trial_steps, (i + 1) * trial_steps)
        chans = np.random.choice(list(range(m)), size=(2,), replace=False)
        active[sl, chans] = 1.0
        for c in range(m):
            inp[sl, c] = np.random.poisson(lam=1.0 if c in chans else 0.1, size=(trial_steps,))
    targets = np.zeros((steps, k))
    for i in range(steps):
        if active[i, 0] * active[i, 1] > 0:
            targets[i, 0] = 1.0
        elif active[i, 0] * active[i, 2] > 0:
            targets[i, 1] = 1.0
        elif active[i, 1] * active[i, 2] > 0:
            targets[i, 2] = 1.0
    J0 = net.get_var("rnn", "weights").copy()
    fit = net.fit_bptt(inputs=inp[:train_steps], targets=np.argmax(targets[:train_steps], axis=1),
                       optimizer="rmsprop", loss="nll", lr=1e-2, update_steps=100,
                       record_output=False, record_loss=False, sampling_steps=100,
                       verbose=False)  # fmt: skip
    assert "out" not in fit and "loss" not in fit and list(fit["epochs"]) == [0]
    J1, W1 = net.get_var("rnn", "weights"), net.get_edge("rnn", "out").weights
    assert not np.allclose(J1, J0)  # both the coupling and the readout were trained
    v0, s0 = net.get_var("rnn", "v"), net.get_var("rnn", "s")  # the state training left
    obs, loss = net.test(inputs=inp[train_steps:], targets=np.argmax(targets[train_steps:], axis=1),
                         loss="nll", verbose=False, record_output=True, record_loss=False,
                         sampling_steps=1, record_vars=[("rnn", "s", False)])  # fmt: skip
    assert "loss" not in obs
    outs, _, _ = lif_ref(np.zeros((test_steps, N)), J1, 1e-2, s_ext=inp[train_steps:] @ W_in.T,
                         tau=5.0, k=10.0, eta=-0.5, tau_s=10.0, v=v0, s=s0)  # fmt: skip
    pred = log_softmax(outs @ W1.T)
    np.testing.assert_allclose(obs.to_numpy("out"), pred, rtol=1e-9, atol=1e-12)
    labels = np.argmax(targets[train_steps:], axis=1)
    np.testing.assert_allclose(loss, -np.mean(pred[np.arange(test_steps), labels]), rtol=1e-10)
    _, ax = plt.subplots(figsize=(12, 6))
    obs.matshow(("rnn", "s"), interpolation="none", aspect="auto", ax=ax)
    predictions = np.exp(obs.to_numpy("out"))
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-12)


# ---- documentation/ridge_example.py -------------------------------------------------------------


def test_ridge_example():
    N, p, Delta_in, Jg, m = 10, 0.2, 2.0, 2.0, 5
    signals = [[0, 2, 1], [4, 2, 3], [3, 2, 0]]
    k, n_syll, n_reps, syll_steps = len(signals), 3, 4, 20
    n_epochs, train_epochs = 3, 2
    epoch_steps, init_steps = syll_steps * n_syll * n_reps, 100
    inp = np.zeros((n_epochs, epoch_steps, m))
    targets = np.zeros((n_epochs, epoch_steps, k))
    for epoch in range(n_epochs):
        for rep in range(n_reps):
            choice = np.random.choice(k)
            for idx, chan in enumerate(signals[choice]):
                a = (rep * n_syll + idx) * syll_steps
                inp[epoch, a : a + syll_steps, chan] = 1.0
            targets[epoch, rep * n_syll * syll_steps : (rep + 1) * n_syll * syll_steps, choice] = 1
    W = random_connectivity(N, N, p, normalize=True)
    W_in = input_connections(N, m, 0.5, variance=Delta_in, zero_mean=True)
    net = Network(dt=1e-2, device="cpu")
    net.add_diffeq_node("tanh", TANH, weights=W * Jg, source_var="tanh_op/r",
                        target_var="li_op/r_in", input_var="li_op/I_ext", output_var="li_op/v",
                        float_precision="float64", clear=True, node_vars={"eta": 0.5})  # fmt: skip
    net.run(np.zeros((init_steps, 1)), verbose=False, sampling_steps=init_steps + 1)  # washout
    net.add_func_node("inp", m, activation_function="identity")
    net.add_edge("inp", "tanh", weights=W_in)
    net.compile()
    coeffs = []
    _, v = li_tanh_ref(np.zeros((init_steps, N)), W * Jg, 1e-2, eta=0.5)
    for j in range(train_epochs):
        obs = net.fit_ridge(inputs=inp[j], targets=targets[j], sampling_steps=1, verbose=False,
                            add_readout_node=False, alpha=1e-4)  # fmt: skip
        coeffs.append(obs.to_numpy("w_out"))
        X, v = li_tanh_ref(inp[j] @ W_in.T, W * Jg, 1e-2, eta=0.5, v=v)
        w_ref = np.linalg.solve(X.T @ X + 1e-4 * np.eye(N), X.T @ targets[j])
        # X^T X is ill-conditioned: compare the fitted outputs tightly, the weights loosely
        np.testing.assert_allclose(X @ coeffs[-1], X @ w_ref, rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(coeffs[-1], w_ref, rtol=1e-4, atol=1e-8)
    w_out = np.mean(coeffs, axis=0)
    net.add_func_node("readout", k, activation_function="identity")
    net.add_edge("tanh", "readout", weights=w_out)  # (N, k): transposed to (k, N)
    net.compile()
    obs, test_loss = net.test(inp[train_epochs], targets[train_epochs], loss="mse",
                              record_output=True, sampling_steps=1, verbose=False)  # fmt: skip
    X, _ = li_tanh_ref(inp[train_epochs] @ W_in.T, W * Jg, 1e-2, eta=0.5, v=v)
    pred = X @ w_out
    np.testing.assert_allclose(obs.to_numpy("out"), pred, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(test_loss, np.mean((pred - targets[train_epochs]) ** 2), rtol=1e-9)
    wta = wta_score(obs.to_numpy("out"), targets[train_epochs])
    ref_wta = np.mean(np.argmax(pred, axis=1) == np.argmax(targets[train_epochs], axis=1))
    assert wta == pytest.approx(ref_wta)


# ---- documentation/qif_example.py ----------------------------------------------------------------


def test_qif_example():
    N, p, eta, Delta, v_theta = 20, 0.2, -5.0, 0.3, 1e3
    W = random_connectivity(N, N, p, normalize=True)
    etas = eta + Delta * np.tan((np.pi / 2) * (2.0 * np.arange(1, N + 1) - N - 1) / (N + 1))
    dt, steps, m = 1e-4, 3000, 2
    inp = np.random.randn(steps, m) + 30.0
    net = Network.from_yaml("neuron_model_templates.spiking_neurons.qif.qif_sfa", weights=W,
                            source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
                            spike_def="v", spike_var="spike", op="qif_sfa_op",
                            node_vars={"all/qif_sfa_op/eta": etas}, dt=dt, spike_threshold=v_theta,
                            spike_reset=-v_theta, float_precision="float64", record_vars=["s"],
                            clear=True)  # fmt: skip
    net.add_func_node("inp", m, activation_function="identity")
    net.add_edge("inp", "rnn", train=None)  # (the script's add_input_layer(m, train=False))
    W_in = net.get_edge("inp", "rnn").weights
    obs = net.run(inp, record_output=False, record_vars=[("rnn", "s", True)], sampling_steps=100)
    assert "out" not in obs
    _, ss = qif_ref(inp @ W_in.T, W, dt, eta=etas, thr=v_theta, rst=-v_theta, sfa=True)
    assert ss.max() > 0.5
    np.testing.assert_allclose(obs[("rnn", "s")], ss.mean(axis=1)[::100], rtol=1e-9, atol=1e-12)
    obs.plot(("rnn", "s"))


# ---- documentation/rnn_tryout.py (FeedbackNetwork) ---------------------------------------------


def test_rnn_tryout_feedback_network():
    dt, N, k = 1e-2, 4, 400.0  # (the script: N = 100, k = 10, 10000 steps, device "cuda:0")
    net = FeedbackNetwork(dt, "cpu")
    neuron = "neuron_model_templates.spiking_neurons.lif.lif"
    J1, J2 = np.random.randn(N, N), np.random.randn(N, N)
    for label, Jp in (("p1", J1), ("p2", J2)):
        net.add_diffeq_node(label, node=neuron, input_var="I_ext", output_var="s", weights=Jp,
                            source_var="s", target_var="s_in", op="lif_op", spike_var="spike",
                            spike_def="v")  # fmt: skip
    W_ff, W_fb = k * np.random.rand(N, N), -2.0 * k * np.random.rand(N, N)
    net.add_edge("p1", "p2", weights=W_ff, train=None)  # square: used as given (n_t, n_s)
    net.add_edge("p2", "p1", weights=W_fb, feedback=True)
    steps = 600
    inp = np.zeros((steps, 1)) + 100.0
    obs = net.run(inputs=inp, sampling_steps=10, enable_grad=False, record_vars=[("p1", "v")])
    out = obs.to_numpy("out")
    # RectiPy: p1 reads p2's output on p2's current state (before p2's update in this step)
    v1, s1, v2, s2 = (np.zeros(N) for _ in range(4))
    outs, v1s = [], []
    for x in inp[:, 0]:
        I1 = x + W_fb @ s2
        spk1 = (v1 >= 100.0).astype(float)
        o1 = s1.copy()
        v1, s1 = v1 + dt * (-v1 / 10 + J1 @ s1 + I1), s1 + dt * (-s1 / 0.5 + spk1 / dt)
        v1[spk1 > 0] = -100.0
        spk2 = (v2 >= 100.0).astype(float)
        outs.append(s2.copy())
        v2, s2 = v2 + dt * (-v2 / 10 + J2 @ s2 + W_ff @ o1), s2 + dt * (-s2 / 0.5 + spk2 / dt)
        v2[spk2 > 0] = -100.0
        v1s.append(v1.copy())
    assert np.max(outs) > 0.5  # p2 spikes, so the feedback edge carries something
    np.testing.assert_allclose(out, np.array(outs)[::10], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(obs[("p1", "v")], np.array(v1s)[::10], rtol=1e-9, atol=1e-9)
    plt.plot(np.mean(out, axis=1))


# ---- documentation/bptt_rate_neurons.py ----------------------------------------------------------


def test_bptt_rate_neurons():
    node = "neuron_model_templates.rate_neurons.leaky_integrator.tanh"
    N, k, eta, dt, T = 4, 2.0, 2.0, 1e-2, 0.6
    tau = np.random.uniform(10.0, 20.0, size=(N,))
    J0 = np.random.randn(N, N)
    J0 /= np.max(np.abs(np.linalg.eigvals(J0)))
    node_vars = {"all/li_op/eta": eta, "all/li_op/tau": tau, "all/li_op/k": k}
    target_net = Network(dt, device="cpu")
    target_net.add_diffeq_node("tanh", node=node, weights=J0, source_var="tanh_op/r",
                               target_var="li_op/r_in", input_var="li_op/I_ext",
                               output_var="li_op/v", clear=True, float_precision="float64",
                               node_vars=node_vars)  # fmt: skip
    steps = int(T / dt)
    inp = np.zeros((steps, 1))
    time = np.linspace(0, T, steps)
    inp[:, 0] = np.sin(2.0 * np.pi * 0.2 * time) * 10.0
    target_obs = target_net.run(inp, sampling_steps=1)
    target = target_obs.to_numpy("out")
    np.testing.assert_allclose(target, li_tanh_ref(inp, J0, dt, tau, k, eta)[0], rtol=1e-12)

    J1 = np.random.randn(N, N)
    J1 /= np.max(np.abs(np.linalg.eigvals(J1)))

    def learner():
        net = Network(dt, device="cpu")
        # (a copy: two learners must not share one array; docs/guide/training.rst, ownership)
        net.add_diffeq_node("tanh", node=node, weights=J1.copy(), source_var="tanh_op/r",
                            target_var="li_op/r_in", input_var="li_op/I_ext",
                            output_var="li_op/v", clear=True, float_precision="float64",
                            train_params=["weights"], node_vars=node_vars)  # fmt: skip
        return net

    def loss(Jx):
        return np.mean((li_tanh_ref(inp, Jx, dt, tau, k, eta)[0] - target) ** 2)

    # the script's call: a 3-D array (n_epochs, T, 1) is a batch of identical trials here (RectiPy
    # 0.12.2 failed on it); with T <= update_steps it makes one update, the one of a single epoch
    n_epochs, lr = 3, 1e-3
    batch = learner()
    train_obs = batch.fit_bptt(np.tile(inp, (n_epochs, 1, 1)), np.tile(target, (n_epochs, 1, 1)),
                               optimizer="rmsprop", retain_graph=True, lr=lr,
                               verbose=False)  # fmt: skip
    epochs = learner()
    list_obs = epochs.fit_bptt([inp], [target], optimizer="rmsprop", lr=lr, verbose=False)
    np.testing.assert_allclose(batch.get_var("tanh", "weights"), epochs.get_var("tanh", "weights"),
                               rtol=1e-12)  # fmt: skip
    # one RMSprop step from the finite-difference gradient of the numpy loss
    eps, grad = 1e-6, np.zeros((N, N))
    for i in range(N):
        for j in range(N):
            d = np.zeros((N, N))
            d[i, j] = eps
            grad[i, j] = (loss(J1 + d) - loss(J1 - d)) / (2 * eps)
    expected = J1 - lr * grad / (np.sqrt(0.01 * grad**2) + 1e-8)
    np.testing.assert_allclose(epochs.get_var("tanh", "weights"), expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(list_obs["epoch_loss"], [loss(J1)], rtol=1e-10)
    np.testing.assert_allclose(train_obs["epoch_loss"], [loss(J1)], rtol=1e-10)
    np.testing.assert_array_equal(epochs.state["tanh"], np.zeros(N))  # back to the start
    fitted_obs = batch.run(inp, sampling_steps=1)
    fig, axes = plt.subplots(nrows=3, figsize=(10, 6))
    train_obs.plot("epoch_loss", x="epochs", ax=axes[0])
    fitted_obs.plot("out", ax=axes[1])
    target_obs.plot("out", ax=axes[2])
