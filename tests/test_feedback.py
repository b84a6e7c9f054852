"""Feedback edges (docs/guide/network.rst, add_edge; issue 11 item 7): a feedback edge delivers
the source's output evaluated on its current state -- the state after the previous step's
update -- as RectiPy 0.11 does. Checked against numpy loops written here, for a state output, an
algebraic output of the state, an output that also reads the source's edge input (held from the
previous step), a function-node source (its previous output), and through BPTT against finite
differences."""

from __future__ import annotations

import numpy as np

from rectinumba import Network
from rectinumba.templates import NodeTemplate, OperatorTemplate

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
DT = 0.05


def mixed_template() -> NodeTemplate:
    """v' = -v/tau + I;  r = tanh(v) + c*I  (an output that reads the state and the input)."""
    op = OperatorTemplate(
        "mix_op",
        equations=["d/dt * v = -v/tau + I", "r = tanh(v) + c*I"],
        variables={"v": "output(0.2)", "r": "variable(0.0)", "I": "input(0.0)", "tau": 2.0,
                   "c": 0.5},
    )
    return NodeTemplate("mix", operators=[op])


def coupled_template() -> NodeTemplate:
    """v' = -v/tau + I + s_in with s_in = J tanh(v); output r = tanh(v) + 0.1 s_in + mean(v)
    + c I: an output that needs the coupling, a population mean and the input."""
    op = OperatorTemplate(
        "cpl_op",
        equations=["d/dt * v = -v/tau + I + s_in", "q = tanh(v)",
                   "r = q + 0.1*s_in + mean(v) + c*I"],
        variables={"v": "output(0.0)", "q": "variable(0.0)", "r": "variable(0.0)",
                   "I": "input(0.0)", "s_in": "input(0.0)", "tau": 3.0, "c": 0.5},
    )  # fmt: skip
    return NodeTemplate("cpl", operators=[op])


def two_nodes(rng, output_var: str, template=LI_TANH, B_input="li_op/I_ext", **b_kwargs):
    """inp -> A (LI/tanh, coupled) -> B -> out; B -> A feedback."""
    NA, NB, m = 4, 3, 2
    W = {
        "ia": rng.standard_normal((NA, m)),
        "ab": rng.standard_normal((NB, NA)),
        "ba": rng.standard_normal((NA, NB)),
        "bo": rng.standard_normal((2, NB)),
    }
    JA = rng.standard_normal((NA, NA))
    net = Network(DT)
    net.add_func_node("inp", m)
    net.add_diffeq_node("A", LI_TANH, weights=JA, source_var="tanh_op/r",
                        target_var="li_op/r_in", input_var="li_op/I_ext", output_var="li_op/v",
                        node_vars={"li_op/v": 0.1})  # fmt: skip
    size = {} if "weights" in b_kwargs else {"N": NB}
    net.add_diffeq_node("B", template, input_var=B_input, output_var=output_var, **size,
                        **b_kwargs)
    net.add_func_node("out", 2)
    net.add_edge("inp", "A", weights=W["ia"])
    net.add_edge("A", "B", weights=W["ab"])
    net.add_edge("B", "A", weights=W["ba"], feedback=True)
    net.add_edge("B", "out", weights=W["bo"])
    return net, W, JA


def reference(inp, W, JA, b_step, b_out, vB0, older=False):
    """numpy loop: A reads B's output on B's current state (and B's previous input).

    ``older``: the output B computed in the previous step instead (one step older)."""
    vA, vB, IB_prev = np.full(W["ia"].shape[0], 0.1), np.array(vB0, float), np.zeros_like(vB0)
    fb_old = np.zeros_like(vB)
    outs = []
    for x in inp:
        fb = fb_old if older else b_out(vB, IB_prev)  # at the start of the step, current state
        fb_old = b_out(vB, IB_prev)
        rA = np.tanh(vA)
        out_A = vA.copy()
        vA = vA + DT * (-vA / 10 + JA @ rA + W["ia"] @ x + W["ba"] @ fb)
        IB = W["ab"] @ out_A
        out_B = b_out(vB, IB)  # B's output in this step: pre-update state, this step's input
        vB = b_step(vB, IB)
        IB_prev = IB
        outs.append(W["bo"] @ out_B)
    return np.array(outs)


def test_state_output_feedback_reads_the_post_update_state():
    rng = np.random.default_rng(0)
    net, W, JA = two_nodes(rng, "li_op/v")
    inp = rng.standard_normal((200, 2))
    got = net.run(inp, verbose=False)["out"]
    ref = reference(inp, W, JA, lambda v, I: v + DT * (-v / 10 + I), lambda v, I: v, np.zeros(3))
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-12)
    # the value one step older (rectinumba before issue 11) is measurably another trajectory
    old = reference(inp, W, JA, lambda v, I: v + DT * (-v / 10 + I), lambda v, I: v, np.zeros(3),
                    older=True)  # fmt: skip
    assert np.abs(old - ref).max() > 1e-3 * np.abs(ref).max()
    # forward() step by step, and two runs, continue the same trajectory
    net.reset()
    np.testing.assert_allclose([net.forward(x) for x in inp], ref, rtol=1e-11, atol=1e-12)
    net.reset()
    halves = np.concatenate([net.run(inp[:77], verbose=False)["out"],
                             net.run(inp[77:], verbose=False)["out"]])  # fmt: skip
    np.testing.assert_allclose(halves, ref, rtol=1e-11, atol=1e-12)


def test_algebraic_output_feedback_is_evaluated_on_the_current_state():
    rng = np.random.default_rng(1)
    net, W, JA = two_nodes(rng, "tanh_op/r")
    inp = rng.standard_normal((200, 2))
    got = net.run(inp, verbose=False)["out"]
    ref = reference(inp, W, JA, lambda v, I: v + DT * (-v / 10 + I), lambda v, I: np.tanh(v),
                    np.zeros(3))  # fmt: skip
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-12)


def test_output_reading_the_edge_input_holds_the_previous_input():
    """The input is not known before the node runs in this step: the previous step's input
    (zero after reset) enters the feedback value, the state is the current one."""
    rng = np.random.default_rng(2)
    net, W, JA = two_nodes(rng, "mix_op/r", mixed_template(), "mix_op/I")
    inp = rng.standard_normal((150, 2))
    got = net.run(inp[:60], verbose=False)["out"]
    got = np.concatenate([got, net.run(inp[60:], verbose=False)["out"]])  # carried between runs
    ref = reference(inp, W, JA, lambda v, I: v + DT * (-v / 2.0 + I),
                    lambda v, I: np.tanh(v) + 0.5 * I, np.full(3, 0.2))  # fmt: skip
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-12)
    net.reset()  # forgets the held input
    np.testing.assert_allclose(net.run(inp, verbose=False)["out"], ref, rtol=1e-11, atol=1e-12)


def test_output_needing_coupling_and_a_mean_is_evaluated_on_the_current_state():
    """The probe recomputes the source's coupling and population mean on its current state."""
    rng = np.random.default_rng(6)
    JB = rng.standard_normal((3, 3))
    net, W, JA = two_nodes(rng, "cpl_op/r", coupled_template(), "cpl_op/I", weights=JB,
                           source_var="cpl_op/q", target_var="cpl_op/s_in",
                           node_vars={"cpl_op/v": np.array([0.2, -0.1, 0.4])})  # fmt: skip
    inp = rng.standard_normal((120, 2))
    got = net.run(inp, verbose=False)["out"]

    def out(v, I):
        s_in = JB @ np.tanh(v)
        return np.tanh(v) + 0.1 * s_in + v.mean() + 0.5 * I

    ref = reference(inp, W, JA, lambda v, I: v + DT * (-v / 3.0 + I + JB @ np.tanh(v)), out,
                    np.array([0.2, -0.1, 0.4]))  # fmt: skip
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-12)


def test_set_var_between_runs_changes_the_next_feedback_value():
    rng = np.random.default_rng(3)
    net, W, JA = two_nodes(rng, "li_op/v")
    inp = rng.standard_normal((40, 2))
    net.run(inp[:20], verbose=False)
    vA = net.get_var("A", "li_op/v")
    vB = np.array([1.0, -2.0, 3.0])
    net.set_var("B", "li_op/v", vB)
    out = net.run(inp[20:21], verbose=False)["out"][0]
    vA_new = vA + DT * (-vA / 10 + JA @ np.tanh(vA) + W["ia"] @ inp[20] + W["ba"] @ vB)
    np.testing.assert_allclose(out, W["bo"] @ vB, rtol=1e-12)
    np.testing.assert_allclose(net.get_var("A", "li_op/v"), vA_new, rtol=1e-12)


def test_bptt_gradients_through_diffeq_feedback_equal_finite_differences(
    fd_gradients, assert_close
):
    """A state output (algebraic outputs: the coupled-probe test below)."""
    rng = np.random.default_rng(4)
    net, W, JA = two_nodes(rng, "li_op/v")
    net.pop_edge("B", "A")
    net.add_edge("B", "A", weights=W["ba"] * 0.5, feedback=True, train="gd")
    x = rng.standard_normal((25, 2))
    y = rng.standard_normal((25, 2))
    assert_close(net.bptt_gradients(x, y), fd_gradients(net, x, y))


def test_bptt_gradients_through_a_held_input_equal_finite_differences(fd_gradients, assert_close):
    rng = np.random.default_rng(5)
    net, W, JA = two_nodes(rng, "mix_op/r", mixed_template(), "mix_op/I")
    net.pop_edge("A", "B")
    net.add_edge("A", "B", weights=W["ab"], train="gd")
    x = rng.standard_normal((20, 2))
    y = rng.standard_normal((20, 2))
    grads = net.bptt_gradients(x, y, checkpoint=7)  # the held input's adjoint crosses segments
    assert_close(grads, fd_gradients(net, x, y))


def test_bptt_through_a_probe_with_coupling_and_a_mean_equals_finite_differences(
    fd_gradients, assert_close
):
    """The probe's coupling, population mean and held input, differentiated by the adjoint."""
    rng = np.random.default_rng(7)
    JB = rng.standard_normal((3, 3)) * 0.5
    net, W, JA = two_nodes(rng, "cpl_op/r", coupled_template(), "cpl_op/I", weights=JB,
                           source_var="cpl_op/q", target_var="cpl_op/s_in",
                           train_params=["weights", "cpl_op/tau"],
                           node_vars={"cpl_op/v": np.array([0.2, -0.1, 0.4])})  # fmt: skip
    net.pop_edge("B", "A")
    net.add_edge("B", "A", weights=W["ba"] * 0.5, feedback=True, train="gd")
    x, y = rng.standard_normal((20, 2)), rng.standard_normal((20, 2))
    assert_close(net.bptt_gradients(x, y, checkpoint=6), fd_gradients(net, x, y))
