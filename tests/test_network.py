"""Network runtime against plain numpy Euler loops (tests/reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
import scipy.sparse as sp

from rectinumba import Network
from rectinumba.errors import NetworkError, SimulationError

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
LI_SIGMOID = "model_templates.rate_neurons.leaky_integrator.sigmoid"
LIF = "model_templates.spiking_neurons.lif.lif"
QIF = "model_templates.spiking_neurons.qif.qif"
IKU = "model_templates.spiking_neurons.ik.iku"


@pytest.fixture
def rng():
    return np.random.default_rng(42)


def _tanh_rnn(net, weights, output_var="li_op/v"):
    """The seed's LI/tanh population "rnn": J couples tanh_op/r to li_op/r_in, input on I_ext."""
    return net.add_diffeq_node(
        "rnn",
        LI_TANH,
        weights=weights,
        source_var="tanh_op/r",
        target_var="li_op/r_in",
        input_var="li_op/I_ext",
        output_var=output_var,
    )


def _spiking(net, label, template, op, weights, thr, reset, **kw):
    """A spiking population coupled through its synaptic trace s (s -> s_in), driven on I_ext."""
    return net.add_diffeq_node(
        label,
        template,
        weights=weights,
        source_var="s",
        target_var="s_in",
        input_var="I_ext",
        output_var="s",
        op=op,
        spike_var="spike",
        spike_def="v",
        spike_threshold=thr,
        spike_reset=reset,
        **kw,
    )


def test_rate_network_with_input_and_sigmoid_readout(rng):
    N, m, k, T, dt = 8, 3, 2, 1500, 1e-2
    J = rng.standard_normal((N, N)) * 1.5
    W_in = rng.standard_normal((N, m))
    W_out = rng.standard_normal((k, N))
    inp = rng.standard_normal((T, m))
    net = Network(dt)
    _tanh_rnn(net, J)
    net.add_func_node("inp", m, "identity")
    net.add_func_node("readout", k, "sigmoid")
    net.add_edge("inp", "rnn", weights=W_in)
    net.add_edge("rnn", "readout", weights=W_out.T)  # (n_source, n_target) is transposed
    assert (net.n_in, net.n_out) == (m, k)
    obs = net.run(inp, verbose=False, record_vars=[("rnn", "v")])
    out_ref, v_ref = ref.li_tanh_in_out(inp, W_in, J, W_out, dt)
    assert obs["out"].shape == (T, k)
    assert ref.rel_err(obs["out"], out_ref) < 1e-10
    assert ref.rel_err(obs[("rnn", "v")], v_ref) < 1e-10
    assert ref.rel_err(net.get_var("rnn", "v"), v_ref[-1]) < 1e-10


def test_algebraic_output_var_is_computed_from_pre_update_state(rng):
    N, T, dt = 6, 1200, 1e-2
    J = rng.standard_normal((N, N))
    inp = rng.standard_normal((T, N))
    net = Network(dt)
    net.add_diffeq_node(
        "rnn",
        LI_SIGMOID,
        weights=J,
        source_var="sigmoid_op/r",
        target_var="li_op/r_in",
        input_var="li_op/I_ext",
        output_var="sigmoid_op/r",
        node_vars={"sigmoid_op/s": 2.0, "sigmoid_op/v0": 0.5},
    )
    obs = net.run(inp, verbose=False)
    v = np.zeros(N)
    outs = []
    for x in inp:
        r = 1.0 / (1.0 + np.exp(2.0 * (0.5 - v)))
        outs.append(r)
        v = v + dt * (-v / 10.0 + J @ r + x)
    assert ref.rel_err(obs["out"], np.array(outs)) < 1e-10


@pytest.mark.parametrize("sparse", [False, True])
def test_lif_network_with_reset(rng, sparse):
    N, T, dt, thr, reset = 20, 3000, 1e-3, 1.0, 0.0
    J = rng.standard_normal((N, N)) * (rng.random((N, N)) < 0.3) * 5.0
    inp = 0.5 + 0.5 * rng.random((T, N))
    weights = sp.csr_matrix(J) if sparse else J
    net = Network(dt)
    _spiking(net, "lif", LIF, "lif_op", weights, thr, reset, sparse=sparse)
    obs = net.run(inp, verbose=False, record_vars=[("lif", "v")])
    out_ref, v_ref, spikes = ref.lif(inp, J, dt, thr, reset)
    assert spikes.sum() > 50  # the test exercises resets
    assert ref.rel_err(obs["out"], out_ref) < 1e-10
    assert ref.rel_err(obs[("lif", "v")], v_ref) < 1e-10


def test_qif_network(rng):
    N, T, dt, thr, reset = 10, 4000, 1e-3, 100.0, -100.0
    J = rng.standard_normal((N, N)) * 2.0
    eta = rng.uniform(1.0, 6.0, N)
    inp = rng.standard_normal((T, N)) * 0.5
    net = Network(dt)
    _spiking(net, "qif", QIF, "qif_op", J, thr, reset, node_vars={"eta": eta})
    obs = net.run(inp, verbose=False)
    out_ref, v_ref = ref.qif(inp, J, dt, thr, reset, eta)
    assert out_ref.max() > 0.5  # neurons spiked
    assert ref.rel_err(obs["out"], out_ref) < 1e-10
    assert ref.rel_err(net.get_var("qif", "v"), v_ref[-1]) < 1e-10


def test_izhikevich_with_population_means(rng):
    N, T, dt, thr, reset = 12, 3000, 5e-2, 40.0, -60.0
    J = np.abs(rng.standard_normal((N, N))) * 2.0
    eta = rng.uniform(40.0, 80.0, N)
    inp = rng.standard_normal((T, N)) * 5.0
    net = Network(dt)
    _spiking(net, "ik", IKU, "iku_op", J, thr, reset, node_vars={"eta": eta})
    obs = net.run(inp, verbose=False, record_vars=[("ik", "u"), ("ik", "v", True)])
    out_ref, v_ref, u_ref = ref.iku(inp, J, dt, thr, reset, eta)
    assert out_ref.max() > 0.05
    assert ref.rel_err(obs["out"], out_ref) < 1e-10
    assert ref.rel_err(obs[("ik", "u")], u_ref) < 1e-10
    assert ref.rel_err(obs[("ik", "v")], v_ref.mean(axis=1)) < 1e-10


def test_li_convergence_is_first_order():
    """One LI neuron, constant input: v -> tau*(I + eta); Euler error at fixed time is O(dt)."""
    tau, I, eta, t_end = 10.0, 2.0, 0.5, 5.0
    errors, dts = [], [0.2, 0.1, 0.05, 0.025, 0.0125]
    for dt in dts:
        net = Network(dt)
        net.add_diffeq_node(
            "li",
            "model_templates.rate_neurons.leaky_integrator.li_op",
            N=1,
            input_var="I_ext",
            output_var="v",
            node_vars={"eta": eta},
        )
        steps = int(round(t_end / dt))
        net.run(np.full((steps, 1), I), verbose=False)
        exact = tau * (I + eta) * (1.0 - np.exp(-t_end / tau))
        errors.append(abs(net.get_var("li", "v")[0] - exact))
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(slope - 1.0) < 0.05
    # the fixed point itself
    net.run(np.full((20_000, 1), I), verbose=False)
    assert net.get_var("li", "v")[0] == pytest.approx(tau * (I + eta), rel=1e-9)


def test_spike_semantics_step_by_step():
    """Detection before the update, spike/dt input, reset after the update, pre-update output,
    recordings after the update."""
    dt, thr, reset = 0.1, 1.0, 0.0
    net = Network(dt)
    net.add_diffeq_node(
        "n",
        LIF,
        N=1,
        input_var="I_ext",
        output_var="s",
        op="lif_op",
        spike_var="spike",
        spike_def="v",
        spike_threshold=thr,
        spike_reset=reset,
    )
    T = 40
    obs = net.run(np.full((T, 1), 5.0), verbose=False, record_vars=[("n", "v"), ("n", "s")])
    v = s = 0.0
    for t in range(T):
        spiked = v >= thr
        assert obs["out"][t, 0] == pytest.approx(s, abs=1e-14)  # output before the update
        v_new = v + dt * (-v / 10.0 + 5.0)
        s_new = s + dt * (-s / 0.5 + (1.0 / dt if spiked else 0.0))
        v, s = (reset if spiked else v_new), s_new
        assert obs[("n", "v")][t, 0] == pytest.approx(v, abs=1e-14)  # after update and reset
        assert obs[("n", "s")][t, 0] == pytest.approx(s, abs=1e-14)
    assert np.any(obs[("n", "v")][:, 0] == reset)


def test_sampling_and_cutoff(rng):
    N, T = 4, 103
    net = Network(1e-2)
    _tanh_rnn(net, rng.standard_normal((N, N)))
    inp = rng.standard_normal((T, N))
    full = net.run(inp, verbose=False)["out"]
    net.reset()
    part = net.run(inp, sampling_steps=10, cutoff=7, verbose=False)["out"]
    np.testing.assert_array_equal(part, full[7::10])
    assert part.shape == (10, N)


def test_feedback_edge_reads_previous_output_and_edges_sum(rng):
    n_in, N, T, dt = 2, 5, 300, 1e-2
    J = rng.standard_normal((N, N))
    W1, W2 = rng.standard_normal((N, n_in)), rng.standard_normal((N, n_in))
    Wr, Wf = rng.standard_normal((1, N)), rng.standard_normal((N, 1))
    net = Network(dt)
    net.add_func_node("a", n_in, "identity")
    net.add_func_node("b", n_in, "tanh")
    _tanh_rnn(net, J, output_var="tanh_op/r")
    net.add_func_node("ro", 1, "identity")
    net.add_edge("a", "b", weights=np.eye(n_in))
    net.add_edge("a", "rnn", weights=W1)
    net.add_edge("b", "rnn", weights=W2)
    net.add_edge("rnn", "ro", weights=Wr)
    net.add_edge("ro", "rnn", weights=Wf, feedback=True)
    inp = rng.standard_normal((T, n_in))
    out = net.run(inp, verbose=False)["out"]
    v, prev = np.zeros(N), np.zeros(1)
    outs = []
    for x in inp:
        I = W1 @ x + W2 @ np.tanh(x) + Wf @ prev
        r = np.tanh(v)
        v = v + dt * (-v / 10 + J @ r + I)
        prev = Wr @ r
        outs.append(prev)
    assert ref.rel_err(out, np.array(outs)) < 1e-10


@pytest.mark.parametrize(
    "act", ["identity", "tanh", "sigmoid", "relu", "softplus", "softmax", "softmin", "log_softmax"]
)
def test_function_node_activations(rng, act):
    x = rng.standard_normal((7, 4)) * 10
    net = Network(1e-3)
    net.add_func_node("f", 4, act)
    out = net.run(x, verbose=False)["out"]
    e = np.exp(x - x.max(axis=1, keepdims=True))
    emin = np.exp(-x - (-x).max(axis=1, keepdims=True))
    expected = {
        "identity": x,
        "tanh": np.tanh(x),
        "sigmoid": ref.sigmoid(x),
        "relu": np.maximum(x, 0),
        "softplus": np.where(x > 20, x, np.log1p(np.exp(x))),
        "softmax": e / e.sum(axis=1, keepdims=True),
        "softmin": emin / emin.sum(axis=1, keepdims=True),
        "log_softmax": x - x.max(axis=1, keepdims=True) - np.log(e.sum(axis=1, keepdims=True)),
    }[act]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_forward_equals_run_and_state_carries_over(rng):
    N = 4
    J = rng.standard_normal((N, N))
    inp = rng.standard_normal((20, N))

    def build():
        net = Network(1e-2)
        _tanh_rnn(net, J)
        return net

    a, b = build(), build()
    outs = np.array([a.forward(x) for x in inp])
    np.testing.assert_allclose(outs, b.run(inp, verbose=False)["out"], rtol=0, atol=1e-14)
    np.testing.assert_allclose(a.state["rnn"], b.state["rnn"], rtol=0, atol=1e-14)


def test_nonfinite_state_raises_and_keeps_state():
    net = Network(1e-2)
    net.add_diffeq_node(
        "q", QIF, N=3, input_var="I_ext", output_var="s", op="qif_op", node_vars={"eta": 50.0}
    )  # rate node: v blows up without a reset
    before = net.state["q"].copy()
    with pytest.raises(
        SimulationError, match=r"'qif_op/v' of node 'q' became non-finite .* at step \d+"
    ):
        net.run(np.zeros((2000, 3)), verbose=False)
    np.testing.assert_array_equal(net.state["q"], before)
    obs = net.run(np.zeros((5, 3)), verbose=False)  # still usable
    assert np.all(np.isfinite(obs["out"]))


def test_reset_returns_to_node_vars(rng):
    net = Network(1e-2)
    net.add_diffeq_node(
        "n",
        LIF,
        N=3,
        input_var="I_ext",
        output_var="s",
        op="lif_op",
        node_vars={"v": [1.0, 2.0, 3.0]},
    )
    net.run(np.ones((10, 3)), verbose=False)
    assert not np.allclose(net.get_var("n", "v"), [1, 2, 3])
    net.reset()
    np.testing.assert_array_equal(net.get_var("n", "v"), [1.0, 2.0, 3.0])
    net.set_var("n", "tau", 2.0)
    np.testing.assert_array_equal(net.get_var("n", "lif_op/tau"), [2.0, 2.0, 2.0])
    flat = np.arange(6.0)
    net.reset({"n": flat})
    np.testing.assert_array_equal(net.state["n"], flat)


def test_graph_access(rng):
    net = Network(1e-3)
    J = rng.standard_normal((5, 5))
    net.add_diffeq_node(
        "lif",
        LIF,
        weights=J,
        source_var="s",
        target_var="s_in",
        input_var="I_ext",
        output_var="s",
        op="lif_op",
        spike_var="spike",
        spike_def="v",
    )
    assert net.n_out == 5 and net.n_in == 5
    assert net.nodes == ["lif"] and len(net) == 1
    node = net["lif"]["node"]
    assert set(node.parameter_names) == {
        "lif_op/tau",
        "lif_op/k",
        "lif_op/eta",
        "lif_op/tau_s",
        "weights",
    }
    assert node.state_names == ["lif_op/v", "lif_op/s"]
    np.testing.assert_array_equal(net.get_var("lif", "weights"), J)
    assert net.state["lif"].shape == (10,)
    net.add_func_node("input", 3, activation_function="identity")
    net.add_edge(source="input", target="lif")
    net.add_func_node("output", 2, activation_function="sigmoid")
    W = rng.standard_normal((5, 2))
    net.add_edge(source="lif", target="output", weights=W)
    np.testing.assert_array_equal(net.get_edge("lif", "output").weights, W.T)
    assert net["input", "lif"]["weights"].shape == (5, 3)
    assert (net.n_in, net.n_out) == (3, 2)
    net.pop_edge("lif", "output")
    with pytest.raises(NetworkError, match=r"exactly one input node.*\['input', 'output'\]"):
        _ = net.n_out
    net.pop_node("input")
    assert net.nodes == ["lif", "output"] and net.edges == []
    net.clear()
    assert len(net) == 0


def test_square_edge_weights_are_used_as_given(rng):
    W = rng.standard_normal((3, 3))
    net = Network(1e-3)
    net.add_func_node("a", 3)
    net.add_func_node("b", 3)
    net.add_edge("a", "b", weights=W)
    x = rng.standard_normal((2, 3))
    np.testing.assert_allclose(net.run(x, verbose=False)["out"], x @ W.T, rtol=1e-13)


def test_edge_mask(rng):
    W, M = rng.standard_normal((2, 3)), rng.random((2, 3)) > 0.5
    net = Network(1e-3)
    net.add_func_node("a", 3)
    net.add_func_node("b", 2)
    net.add_edge("a", "b", weights=W, mask=M)
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(net.run(x, verbose=False)["out"], x @ (W * M).T, rtol=1e-13)


# ---- clear errors -------------------------------------------------------------------------------


def _rate(net, label="rnn", N=3, **kw):
    return net.add_diffeq_node(
        label, LI_TANH, N=N, input_var="li_op/I_ext", output_var="li_op/v", **kw
    )


def test_errors_name_what_was_given(rng):
    with pytest.raises(NetworkError, match="dt must be a positive"):
        Network(0.0)
    with pytest.raises(NetworkError, match="dt must be a positive"):
        Network(-1e-3)
    net = Network(1e-3)
    _rate(net)
    with pytest.raises(
        NetworkError, match=r"inputs have 2 columns but the input node takes 3.*\(10, 2\)"
    ):
        net.run(np.zeros((10, 2)), verbose=False)
    with pytest.raises(NetworkError, match=r"shape \(T, 3\) or \(B, T, 3\).*\(2, 2, 2, 3\)"):
        net.run(np.zeros((2, 2, 2, 3)), verbose=False)
    with pytest.raises(NetworkError, match="record_vars.*nope"):
        net.run(np.zeros((3, 3)), verbose=False, record_vars=[("rnn", "nope")])
    with pytest.raises(NetworkError, match="no node labelled 'ghost'"):
        net.run(np.zeros((3, 3)), verbose=False, record_vars=[("ghost", "v")])
    with pytest.raises(NetworkError, match="node_vars.*bogus"):
        _rate(net, "r2", node_vars={"bogus": 1.0})
    with pytest.raises(NetworkError, match="train_params.*nope"):
        _rate(net, "r3", train_params=["nope"])
    with pytest.raises(NetworkError, match="spike_var was given without spike_def"):
        net.add_diffeq_node(
            "l", LIF, N=2, input_var="I_ext", output_var="s", op="lif_op", spike_var="spike"
        )
    with pytest.raises(NetworkError, match="spike_def was given without spike_var"):
        net.add_diffeq_node(
            "l", LIF, N=2, input_var="I_ext", output_var="s", op="lif_op", spike_def="v"
        )
    with pytest.raises(
        NetworkError, match=r"spike_threshold \(1.0\) must be greater than spike_reset \(2.0\)"
    ):
        net.add_diffeq_node(
            "l",
            LIF,
            N=2,
            input_var="I_ext",
            output_var="s",
            op="lif_op",
            spike_var="spike",
            spike_def="v",
            spike_threshold=1.0,
            spike_reset=2.0,
        )
    with pytest.raises(NetworkError, match="exists already"):
        _rate(net)
    with pytest.raises(NetworkError, match="unknown keyword"):
        _rate(net, "r4", colour="red")
    with pytest.raises(NetworkError, match=r"value of shape \(2, 4\) does not fit 3 units"):
        net.set_var("rnn", "li_op/tau", np.ones((2, 4)))
    with pytest.raises(NetworkError, match=r"\(4,\) does not fit 3 units(?s:.*)\(B, 1\) column"):
        net.set_var("rnn", "li_op/tau", np.ones(4))  # 1-D is per neuron: a wrong length is refused
    net.set_var("rnn", "li_op/tau", np.ones((4, 1)))  # (B, 1): one value per trial, B = 4
    with pytest.raises(NetworkError, match=r"holds values for 4 trials but the input has 1 trial"):
        net.run(np.zeros((3, 3)), verbose=False)
    net.set_var("rnn", "li_op/tau", 10.0)
    net.run(np.zeros((3, 3)), verbose=False)
    _rate(net, "other")
    with pytest.raises(NetworkError, match=r"exactly one input node.*\['rnn', 'other'\]"):
        net.compile()
    net.add_edge("rnn", "other", weights=np.eye(3))
    net.add_func_node("ro1", 1)
    net.add_func_node("ro2", 1)
    net.add_edge("other", "ro1")
    net.add_edge("other", "ro2")
    with pytest.raises(NetworkError, match=r"exactly one output node.*\['ro1', 'ro2'\]"):
        _ = net.n_out
    with pytest.raises(NetworkError, match=r"weights of shape \(4, 4\) fit neither"):
        net.add_edge("rnn", "ro1", weights=np.ones((4, 4)))


def test_cycle_without_feedback_flag_is_refused():
    net = Network(1e-3)
    net.add_func_node("in", 1)
    net.add_func_node("a", 2)
    net.add_func_node("b", 2)
    net.add_func_node("out", 1)
    net.add_edge("in", "a")
    net.add_edge("a", "b")
    net.add_edge("b", "a")
    net.add_edge("b", "out")
    with pytest.raises(NetworkError, match=r"cycle.*feedback=True"):
        net.compile()
