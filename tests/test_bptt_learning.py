"""fit_bptt learns: a rate RNN generates a sine wave after a pulse; a LIF network trained with
surrogate gradients tells two input spike patterns apart."""

from __future__ import annotations

import numpy as np

from rectinumba import Network

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
LIF = "model_templates.spiking_neurons.lif.lif"


def test_rate_rnn_learns_sine_generation():
    rng = np.random.default_rng(1)
    N, T, dt = 20, 200, 0.1
    net = Network(dt)
    net.add_diffeq_node(
        "rnn",
        LI_TANH,
        weights=rng.standard_normal((N, N)) / np.sqrt(N) * 1.2,
        source_var="tanh_op/r",
        target_var="li_op/r_in",
        input_var="li_op/I_ext",
        output_var="tanh_op/r",
        train_params=["weights"],
        node_vars={"tau": 1.0},
    )
    net.add_func_node("inp", 1, "identity")
    net.add_func_node("out", 1, "identity")
    net.add_edge("inp", "rnn", weights=rng.standard_normal((N, 1)), train="gd")
    net.add_edge("rnn", "out", weights=np.zeros((1, N)), train="gd")
    x = np.zeros((T, 1))
    x[:10] = 1.0  # a pulse; the sine must come from the recurrent dynamics
    y = np.sin(2 * np.pi * np.arange(T) * dt / 10.0)[:, None]
    obs = net.fit_bptt([x] * 100, [y] * 100, optimizer="adam", lr=0.01, verbose=False)
    assert obs["epoch_loss"][0] == np.mean(y**2)  # zero readout at first
    net.reset()
    out = net.run(x, verbose=False)["out"]
    assert np.mean((out - y) ** 2) < 1e-3
    assert np.corrcoef(out[:, 0], y[:, 0])[0, 1] > 0.99


def test_lif_network_learns_to_tell_two_spike_patterns_apart():
    rng = np.random.default_rng(3)
    N, T, dt, B = 10, 50, 0.1, 8

    def patterns(n):
        cls = rng.integers(0, 2, n)
        rates = np.where(cls[:, None] == 0, [0.3, 0.05], [0.05, 0.3])
        return (rng.random((n, T, 2)) < rates[:, None, :]).astype(float), cls

    net = Network(dt)
    net.add_diffeq_node(
        "lif",
        LIF,
        weights=rng.standard_normal((N, N)) * 0.5,
        source_var="s",
        target_var="s_in",
        input_var="I_ext",
        output_var="s",
        op="lif_op",
        spike_var="spike",
        spike_def="v",
        spike_threshold=1.0,
        spike_reset=0.0,
        node_vars={"tau": 2.0},
    )
    net.add_func_node("inp", 2, "identity")
    net.add_func_node("out", 2, "identity")
    net.add_edge("inp", "lif", weights=rng.random((N, 2)) * 5.0, train="gd")
    net.add_edge("lif", "out", weights=np.zeros((2, N)), train="gd")

    def accuracy(x, cls):
        net.reset()
        out = net.run(x, verbose=False, record_vars=[("lif", "v")])
        net.reset()
        return np.mean(out["out"].mean(axis=1).argmax(axis=1) == cls), out[("lif", "v")]

    x_test, c_test = patterns(100)
    before, v = accuracy(x_test, c_test)
    assert before < 0.6 and (v == 0.0).mean() > 0.01  # chance level; the neurons do spike
    batches = [patterns(B) for _ in range(20)]
    xs = [x for x, _ in batches]
    ys = [np.repeat(c[:, None], T, axis=1) for _, c in batches]  # one class index per step
    obs = net.fit_bptt(xs, ys, optimizer="adam", loss="ce", lr=0.05, verbose=False)
    assert obs["epoch_loss"][-1] < 0.6 * obs["epoch_loss"][0]
    after, _ = accuracy(x_test, c_test)
    assert after >= 0.9
