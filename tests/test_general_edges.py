"""Edges between any variables: ``add_edge(source_var=, target_var=)``, several edges between two
nodes, edges summed per input, feedback edges reading any variable (the probe, with carried
inputs), a chosen output node; against a numpy loop of the step semantics."""

from __future__ import annotations

import numpy as np
import pytest

from rectinumba import Network
from rectinumba.errors import EdgeNotFoundError, NetworkError
from rectinumba.templates import NodeTemplate, OperatorTemplate

TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
LIF = "model_templates.spiking_neurons.lif.lif"
DT = 0.1

# y depends on the edge-driven input r_in: a feedback edge reading y makes the probe carry r_in
LEAKY_Y = NodeTemplate(
    "leaky_y",
    [
        OperatorTemplate(
            "ly_op",
            ["v' = -v/tau + I_ext + r_in", "y = tanh(v + r_in)"],
            {"v": "variable(0.2)", "y": "output(0.0)", "tau": 2.0, "I_ext": "input(0.0)",
             "r_in": "input(0.0)"},  # fmt: skip
        )
    ],
)


def _weights():
    rng = np.random.default_rng(11)
    return {
        "W1": rng.standard_normal((2, 3)) * 2.0 + 1.0,
        "W2": rng.standard_normal((2, 3)),
        "W3": rng.standard_normal((3, 2)) * 0.05,
        "W4": rng.standard_normal((2, 2)),
        "W5": rng.standard_normal((2, 2)),
    }


def _network(W) -> Network:
    net = Network(DT)
    net.add_diffeq_node("a", TANH, N=3, input_var="li_op/I_ext", output_var="tanh_op/r")
    net.add_diffeq_node("b", LIF, N=2, input_var="I_ext", output_var="s", op="lif_op",
                        spike_var="spike", spike_def="v", spike_threshold=1.0, spike_reset=0.0)
    net.add_diffeq_node("c", LEAKY_Y, N=2, input_var="I_ext", output_var="y")
    net.add_edge("a", "b", W["W1"])  # output -> input_var
    net.add_edge("a", "b", W["W2"], source_var="li_op/v", target_var="s_ext")  # a state
    net.add_edge("b", "a", W["W3"], feedback=True, source_var="spike", target_var="r_in")
    net.add_edge("b", "c", W["W4"], source_var="v")
    net.add_edge("c", "c", W["W5"], feedback=True, target_var="r_in")  # y needs r_in: carried
    net.output_node = "b"  # b and c both end chains of non-feedback edges... c is chosen away
    return net


def _reference(W, x):
    va, vb, sb, vc = np.zeros(3), np.zeros(2), np.zeros(2), np.full(2, 0.2)
    rin_c = np.zeros(2)  # carried between steps (the probe reads the previous step's input)
    out, ys, vas = [], [], []
    for t in range(len(x)):
        spk = (vb >= 1.0).astype(float)
        y_fb = np.tanh(vc + rin_c)
        # node a
        ra = np.tanh(va)
        va_n = va + DT * (-va / 10.0 + W["W3"] @ (spk / DT) + x[t])
        # node b (output taken before the update)
        out.append(sb.copy())
        vb_n = vb + DT * (-vb / 10.0 + W["W1"] @ ra)
        sb_n = sb + DT * (-sb / 0.5 + spk / DT + W["W2"] @ va)
        vb_n[spk > 0] = 0.0
        # node c
        rin_c = W["W5"] @ y_fb
        ys.append(np.tanh(vc + rin_c))
        vc_n = vc + DT * (-vc / 2.0 + W["W4"] @ vb + rin_c)
        va, vb, sb, vc = va_n, vb_n, sb_n, vc_n
        vas.append(va.copy())
    return np.array(out), np.array(ys), np.array(vas)


def test_edges_between_any_variables_equal_numpy():
    W = _weights()
    x = np.random.default_rng(3).random((300, 3)) * 2.0
    net = _network(W)
    assert net.edges == [("a", "b"), ("a", "b", 1), ("b", "a"), ("b", "c"), ("c", "c")]
    assert net.get_edge("a", "b", 1).target_var == "lif_op/s_ext"
    assert (net.input_node, net.output_node) == ("a", "b")
    obs = net.run(x, verbose=False, record_vars=[("c", "y"), ("a", "li_op/v")])
    out, ys, vas = _reference(W, x)
    assert out.max() > 0.5  # b spiked, so the spike edge and the carried input mattered
    np.testing.assert_allclose(obs["out"], out, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(obs[("c", "y")], ys, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(obs[("a", "li_op/v")], vas, rtol=1e-12, atol=1e-13)
    # a second run continues: the carried input r_in of c survives between runs
    more = np.random.default_rng(4).random((50, 3))
    obs2 = net.run(more, verbose=False)
    out_all = _reference(W, np.concatenate([x, more]))[0]
    np.testing.assert_allclose(obs2["out"], out_all[300:], rtol=1e-12, atol=1e-13)
    # a further edge between the same nodes is popped by its index
    edge = net.pop_edge("a", "b", 1)
    assert edge.key == ("a", "b", 1) and ("a", "b", 1) not in net.edges
    with pytest.raises(EdgeNotFoundError, match=r"no edge 'a' -> 'b' #1"):
        net.get_edge("a", "b", 1)


@pytest.mark.nocompile
def test_edge_variable_errors_name_what_is_wrong():
    W = _weights()
    net = _network(W)
    before = list(net.edges)
    with pytest.raises(NetworkError, match=r"'a' -> 'b' #1 from li_op/v to lif_op/s_ext exists"):
        net.add_edge("a", "b", W["W2"], source_var="li_op/v", target_var="s_ext")
    with pytest.raises(NetworkError, match=r"target_var 'lif_op/v' is not an input variable"):
        net.add_edge("a", "b", W["W2"], target_var="v")
    with pytest.raises(NetworkError, match=r"'lif_op/spike' is driven by the node's spikes"):
        net.add_edge("a", "b", W["W2"], target_var="spike")
    with pytest.raises(NetworkError, match=r"source_var: unknown variable 'nope'"):
        net.add_edge("a", "b", W["W2"], source_var="nope")
    net.add_func_node("f", 2)
    with pytest.raises(NetworkError, match=r"a function node has one input \('in'\)"):
        net.add_edge("a", "f", np.ones((2, 3)), target_var="x")
    with pytest.raises(NetworkError, match=r"a function node has one output \('out'\)"):
        net.add_edge("f", "b", np.ones((2, 2)), source_var="x")
    with pytest.raises(NetworkError, match=r"edge_inputs and edge_vars belong to a template edge"):
        net.add_edge("f", "b", np.ones((2, 2)), edge_vars={"w": 1.0})
    assert net.edges == before
    with pytest.raises(NetworkError, match=r"fit_bptt and bptt_gradients support edges from a"):
        _network(W).bptt_gradients(np.ones((5, 3)), np.ones((5, 2)))


@pytest.mark.nocompile
def test_chosen_input_and_output_nodes():
    net = Network(DT)
    for label in ("a", "b"):
        net.add_diffeq_node(label, TANH, N=2, input_var="li_op/I_ext", output_var="tanh_op/r")
    with pytest.raises(NetworkError, match=r"exactly one input node(?s:.*)net.input_node = label"):
        _ = net.n_in
    net.input_node = "b"
    net.output_node = "a"
    assert (net.input_node, net.output_node, net.n_in) == ("b", "a", 2)
    with pytest.raises(NetworkError, match=r"no node labelled 'z'"):
        net.input_node = "z"
    net.pop_node("b")  # a chosen node that goes away is forgotten
    assert net.input_node == "a"


def test_delayed_edges_between_any_variables_keep_their_own_histories():
    # two delayed edges between the same nodes (keys (a, b) and (a, b, 1)): each has its ring
    net = Network(DT)
    net.add_diffeq_node("a", TANH, N=2, input_var="li_op/I_ext", output_var="tanh_op/r")
    net.add_diffeq_node("b", TANH, N=2, input_var="li_op/I_ext", output_var="tanh_op/r")
    W1, W2 = np.array([[1.0, -2.0], [0.5, 1.0]]), np.array([[0.3, 0.0], [-1.0, 2.0]])
    net.add_edge("a", "b", W1, delay_steps=3)
    net.add_edge("a", "b", W2, delay=0.5, source_var="li_op/v", target_var="r_in")  # 5 steps
    x = np.random.default_rng(6).standard_normal((60, 2))
    obs = net.run(x[:40], verbose=False)
    obs2 = net.run(x[40:], verbose=False)  # the histories carry over
    va, vb, ras, vas, out = np.zeros(2), np.zeros(2), [], [], []
    for t in range(len(x)):
        ras.append(np.tanh(va)), vas.append(va.copy())
        out.append(np.tanh(vb))
        I_b = W1 @ ras[t - 3] if t >= 3 else np.zeros(2)
        r_b = W2 @ vas[t - 5] if t >= 5 else np.zeros(2)
        va, vb = va + DT * (-va / 10 + x[t]), vb + DT * (-vb / 10 + r_b + I_b)
    got = np.concatenate([obs["out"], obs2["out"]])
    np.testing.assert_allclose(got, out, rtol=1e-12, atol=1e-14)
    with pytest.raises(NetworkError, match=r"a template edge takes no delay"):
        net.add_edge("b", "a", np.ones((2, 2)), delay_steps=2, feedback=True, target_var="r_in",
                     template="model_templates.neural_mass_models.synaptic_plasticity."
                     "depression_edge")  # fmt: skip


def test_input_node_feeding_a_feedback_edge_reads_the_network_input():
    # regression: an input node without incoming edges whose output (read by a feedback edge)
    # depends on its input carries that input between steps; the carried array must receive
    # the network input (it stayed zero before, so the node never saw x)
    op = OperatorTemplate("o", ["v' = -v + I_ext", "y = tanh(v + I_ext)"],
                          {"v": "variable(0.0)", "y": "output(0.0)", "I_ext": "input(0.0)"})
    net = Network(DT)
    net.add_diffeq_node("a", NodeTemplate("n", [op]), N=1, input_var="I_ext", output_var="y")
    net.add_func_node("b", 1)
    net.add_func_node("c", 1)
    net.add_edge("a", "b", np.ones((1, 1)))
    net.add_edge("a", "c", np.ones((1, 1)), feedback=True)
    net.add_edge("b", "c", np.ones((1, 1)))
    obs = net.run(np.ones((5, 1)), verbose=False, record_vars=[("a", "v")])
    np.testing.assert_allclose(obs[("a", "v")][:, 0], 1.0 - 0.9 ** np.arange(1, 6), rtol=1e-14)
