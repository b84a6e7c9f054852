"""Networks of several populations, edges and feedback against plain numpy Euler loops written
here: spiking populations with different parameters, algebraic outputs, several edges into a node,
feedback into a hidden node, values changed between runs."""

from __future__ import annotations

import numpy as np

from rectinumba import Network

LIF = "model_templates.spiking_neurons.lif.lif"
LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
DT = 1e-2


def max_rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def lif_step(v, s, I, J, p, thr, rst):
    """One LIF step (docs/guide/step_semantics.rst); returns (v, s, output, spikes)."""
    spk = (v >= thr).astype(float)
    out = s.copy()
    dv = -v / p["tau"] + p["k"] * (J @ s) + I + p["eta"]
    ds = -s / p["tau_s"] + spk / DT
    v, s = v + DT * dv, s + DT * ds
    v[spk > 0] = rst
    return v, s, out, spk


def test_two_spiking_populations_with_feedback_match_numpy():
    """inp -> E (LIF) -> I (LIF) -> sigmoid readout, I -> E feedback; different parameters.

    The feedback edge delivers I's output (its state s) on I's current state: the value after
    the previous step's update (RectiPy 0.11)."""
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
        prev_I = sI.copy()  # I's output s on its state after this update
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

    vA, vC = np.zeros(NA), np.full(NC, 0.5)
    outs, rA = [], []
    for t, x in enumerate(inp):
        rA_t = np.tanh(vA)
        # feedback: C's output v on C's current state (0.5 at the first step)
        vA = vA + DT * (-vA / tau_A + JA @ rA_t + W_ia @ x + W_ca @ vC)
        out_C = vC.copy()
        eta = 0.3 if t < 100 else -0.2
        vC = vC + DT * (-vC / 10 + W_ac @ rA_t + W_bc @ np.maximum(W_ib @ x, 0) + eta)
        z = W_co @ out_C
        outs.append(np.exp(z - z.max()) / np.exp(z - z.max()).sum())
        rA.append(rA_t)
    assert max_rel(np.concatenate([first["out"], second["out"]]), outs) < 1e-10
    assert max_rel(first[("A", "tanh_op/r")], rA[:100]) < 1e-10
