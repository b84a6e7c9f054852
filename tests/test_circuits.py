"""PyRates circuits as networks (Network.from_circuit): nodes, weighted edges summed per input,
populations of N units, edge templates with several inputs, nested circuits, gamma-kernel
spreads and delays, against numpy Euler loops of PyRates' equations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rectinumba import Network
from rectinumba.errors import NetworkError
from rectinumba.templates import CircuitTemplate, load_template

HERE = Path(__file__).parent / "fixtures" / "circuits" / "circuits.yaml"
QIF = "model_templates.neural_mass_models.qif"


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_wilson_cowan_populations_equal_numpy():
    # PyRates' WC with populations of 3 and 2 units: every unit receives weight x the source mean
    theta_e = np.array([1.8, 2.0, 2.3])
    net = Network.from_circuit(
        f"{HERE}/WC", dt=1e-2, N={"e": 3, "i": 2}, input_var="e/se_op/r_ext",
        output_var="i/rate_op/r", node_vars={"e/se_op/theta": theta_e, "all/rate_op/tau": 8.0},
    )  # fmt: skip
    assert (net.nodes, net.input_node, net.output_node) == (["e", "i"], "e", "i")
    assert np.allclose(net.get_edge("e", "i").weights, 15.0 / 3)
    x = 1.5 + np.random.default_rng(0).random((3000, 3))
    obs = net.run(x, verbose=False, record_vars=[("e", "rate_op/r")])
    re, ri, out, res = np.zeros(3), np.zeros(2), [], []
    for t in range(len(x)):
        out.append(ri.copy())
        me = _sig(15 * re.mean() - 15 * ri.mean() + x[t] - theta_e) - _sig(-theta_e)
        mi = _sig(2 * (15 * re.mean() - 4 * ri.mean() - 2.5)) - _sig(-2 * 2.5)
        re, ri = re + 1e-2 * (-re + (1 - re) * me) / 8.0, ri + 1e-2 * (-ri + (1 - ri) * mi) / 8.0
        res.append(re)
    assert np.ptp(np.array(res)) > 0.1
    np.testing.assert_allclose(obs["out"], out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(obs[("e", "rate_op/r")], res, rtol=1e-12, atol=1e-14)


def test_nested_circuits_and_edge_sources_equal_numpy():
    # two coupled phase-oscillator pairs (PyRates' kmo_2coupled), one pair driving the other;
    # each sin_edge reads theta of its source ('source') and of its target (a node path)
    net = Network.from_circuit(
        f"{HERE}/kmo_nested", dt=1e-3, input_var="c1/p1/phase_op/ext_in",
        output_var="c2/p1/phase_op/theta",
        node_vars={"c1/p1/phase_op/omega": 9.0, "c2/all/phase_op/omega": 11.0},
    )  # fmt: skip
    assert net.nodes == ["c1/p1", "c1/p2", "c2/p1", "c2/p2"]
    x = np.random.default_rng(1).standard_normal((2000, 1)) * 5.0
    obs = net.run(x, verbose=False, record_vars=[("c1/p2", "theta")])
    th, omega = np.zeros(4), np.array([9.0, 10.0, 11.0, 11.0])
    out, th1 = [], []
    for t in range(len(x)):
        out.append(th[2])
        net_in = np.array([
            -4 * np.sin(th[1] - th[0]),
            -4 * np.sin(th[0] - th[1]),
            -4 * np.sin(th[3] - th[2]) + 2 * np.sin(th[0] - th[2]),
            -4 * np.sin(th[2] - th[3]),
        ])  # fmt: skip
        th = th + 1e-3 * (omega + net_in + np.array([x[t, 0], 0, 0, 0]))
        th1.append(th[1])
    np.testing.assert_allclose(obs["out"][:, 0], out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(obs[("c1/p2", "theta")][:, 0], th1, rtol=1e-12, atol=1e-12)


def test_spread_is_pyrates_gamma_kernel_chain():
    # PyRates' qif_sd: depression edge template, then a gamma kernel of order
    # round((0.75/0.3)^2) = 6 and rate 6/0.75, then the weight 15 (PyRates' order of operations)
    net = Network.from_circuit(f"{QIF}.qif_sd", dt=1e-3, input_var="p/qif_op/I_ext",
                               output_var="p/qif_op/r")  # fmt: skip
    edge = net.get_edge("p", "p")
    assert edge.feedback and edge.dynamics.model.states[-1].endswith("/g6")
    T, dt = 10_000, 1e-3
    x = np.where(np.arange(T) > 3000, 3.0, 0.0)[:, None]
    obs = net.run(x, verbose=False)
    r, v, xd, g = 0.01, -2.0, 1.0, np.zeros(6)
    out = []
    for t in range(T):
        out.append(r)
        r_in = 15.0 * g[-1]
        reff = r * xd
        dg = 8.0 * (np.concatenate([[reff], g[:-1]]) - g)
        xd_n = xd + dt * ((1 - xd) / 100.0 - xd * r)
        dv = v**2 - 5 + x[t, 0] + r_in - (np.pi * r) ** 2
        r, v = r + dt * (1 / np.pi + 2 * r * v), v + dt * dv
        xd, g = xd_n, g + dt * dg
    out = np.array(out)
    np.testing.assert_allclose(obs["out"][:, 0], out, rtol=1e-10, atol=0)


def test_spiking_populations_through_node_kwargs_equal_a_hand_built_network():
    lif = load_template("model_templates.spiking_neurons.lif.lif")
    circuit = CircuitTemplate("ei", {"e": lif, "i": lif}, [
        ("e/lif_op/s", "e/lif_op/s_in", None, {"weight": 2.0}),
        ("e/lif_op/s", "i/lif_op/s_in", None, {"weight": 4.0}),
        ("i/lif_op/s", "e/lif_op/s_in", None, {"weight": -3.0}),
    ])  # fmt: skip
    spiking = {"spike_var": "spike", "spike_def": "v", "spike_threshold": 1.0,
               "spike_reset": 0.0}  # fmt: skip
    net = Network.from_circuit(circuit, dt=0.1, N=4, input_var="e/lif_op/I_ext",
                               output_var="i/lif_op/s", node_kwargs={"e": spiking, "i": spiking})
    hand = Network(0.1)
    for label in ("e", "i"):
        hand.add_diffeq_node(label, lif, N=4, output_var="lif_op/s",
                             input_var="lif_op/I_ext" if label == "e" else None, **spiking)
    hand.add_edge("e", "e", np.full((4, 4), 2.0 / 4), feedback=True, target_var="s_in")
    hand.add_edge("e", "i", np.full((4, 4), 4.0 / 4), target_var="s_in")
    hand.add_edge("i", "e", np.full((4, 4), -3.0 / 4), feedback=True, target_var="s_in")
    x = 0.3 + np.random.default_rng(2).random((300, 4))
    a, b = net.run(x, verbose=False)["out"], hand.run(x, verbose=False)["out"]
    assert a.max() > 0.5  # the inhibitory population spiked
    np.testing.assert_array_equal(a, b)


def test_circuits_without_input_run_with_steps():
    # PyRates' JRC2 (the lumped model as a one-node circuit) equals its node alone; the two
    # JRCs coupled through gamma-distributed delays (order round((4/1)^2) = 16) build (the chain
    # runs in test_spread_is_pyrates_gamma_kernel_chain)
    jrc = "model_templates.neural_mass_models.jansenrit"
    net = Network.from_circuit(f"{jrc}.JRC2", dt=1e-4)
    assert (net.n_in, net.nodes) == (0, ["jrc"])
    alone = Network(1e-4)
    alone.add_diffeq_node("jrc", f"{jrc}.jrc_pop", N=1, output_var="jrc_op/m")
    np.testing.assert_array_equal(net.run(steps=2000, verbose=False)["out"],
                                  alone.run(steps=2000, verbose=False)["out"])  # fmt: skip
    pair = Network.from_circuit(f"{jrc}.JRC_2delaycoupled", dt=1e-4)
    assert pair.nodes[:3] == ["jrc1/pc", "jrc1/ein", "jrc1/iin"] and pair.n_in == 0
    edge = pair.get_edge("jrc1/pc", "jrc2/pc")
    assert edge.dynamics.model.states[-1] == "gamma_delay_op/g16"
    assert edge.get_var("gamma_delay_op/k") == 16 / 0.004
    # spreads are template edges (Euler only): another method is refused naming the edges and
    # the spread, before anything runs (it used to speak of template edges the circuit lacks)
    pair.method = "rk4"
    with pytest.raises(NetworkError, match=r"template edges \('jrc1/pc' -> 'jrc2/pc', 'jrc2/pc' "
                       r"-> 'jrc1/pc'\).* method='rk4'[\s\S]*a circuit edge with a spread"):
        pair.run(steps=2, verbose=False)
    assert pair._runner.step == 0


@pytest.mark.nocompile
def test_refused_circuits_name_the_reason():
    with pytest.raises(NetworkError, match=r"neither the edge's source nor its target"):
        Network.from_circuit(f"{HERE}/third_node")
    with pytest.raises(NetworkError, match=r"\['e', 'i'\] form an algebraic loop"):
        Network.from_circuit(f"{HERE}/m_loop")
    with pytest.raises(NetworkError, match=r"gamma kernel of order round\(\(delay/spread\)\*\*2\)"):
        Network.from_circuit(f"{HERE}/wide_spread")
    pop = load_template(f"{QIF}.qif_pop")
    dep = load_template("model_templates.neural_mass_models.synaptic_plasticity.depression_edge")
    delayed = CircuitTemplate("d", {"p": pop}, [("p/qif_op/r", "p/qif_op/r_in", dep, {"delay": 1})])
    with pytest.raises(NetworkError, match=r"a discrete delay on an edge with a template"):
        Network.from_circuit(delayed, dt=1e-3)
    twice = CircuitTemplate("t", {"p": pop}, [("p/qif_op/r", "p/qif_op/r_in")] * 2)
    with pytest.raises(NetworkError, match=r"two edges from p/qif_op/r to p/qif_op/r_in"):
        Network.from_circuit(twice)
    with pytest.raises(NetworkError, match=r"node_vars: no circuit node has variable qif_op/x"):
        Network.from_circuit(f"{QIF}.qif", node_vars={"p/qif_op/x": 1.0})
    with pytest.raises(NetworkError, match=r"input_var 'p/I_ext' must be 'node/op/var'"):
        Network.from_circuit(f"{QIF}.qif", input_var="p/I_ext")
    net = Network.from_circuit(f"{QIF}.qif")
    with pytest.raises(NetworkError, match=r"has nodes labelled \['p'\] already"):
        net.add_circuit(f"{QIF}.qif")
    assert net.add_circuit(f"{QIF}.qif", prefix="b") == ["b/p"] and len(net.edges) == 2
    with pytest.raises(NetworkError, match=r"got a CircuitTemplate: its edges are its coupling"):
        Network.from_yaml(f"{QIF}.qif", weights=np.ones((1, 1)), source_var="r", target_var="r_in")
    assert Network.from_yaml(f"{QIF}.qif", input_var="p/qif_op/I_ext").nodes == ["p"]
    # issue 13.3: a circuit or edge template given as a node says what it is before any node
    # argument check (it used to answer "add_diffeq_node needs output_var")
    with pytest.raises(NetworkError, match=r"(?s)'qif' is a CircuitTemplate.* Network.from_circ"):
        Network(1e-3).add_diffeq_node("x", f"{QIF}.qif")
    with pytest.raises(NetworkError, match=r"(?s)'depression_edge' is an EdgeTemplate.* add_edge"):
        Network(1e-3).add_diffeq_node("x", dep, output_var="depression_op/r_eff")


def test_acceptance_ei_qif_circuit_with_delayed_edge():
    # the built-in E-I circuit: i inhibits e after 2 time units (2000 steps at dt = 1e-3)
    net = Network.from_circuit(f"{QIF}.qif_ei", dt=1e-3, input_var="e/qif_op/I_ext",
                               output_var="e/qif_op/r")  # fmt: skip
    T, dt, D = 12_000, 1e-3, 2000
    x = np.full((T, 1), 5.0)
    obs = net.run(x, verbose=False, record_vars=[("i", "r")])
    re, ve, ri, vi = 0.01, -2.0, 0.01, -2.0
    hist, out, ris = [], [], []
    for t in range(T):
        hist.append(ri)
        ri_d = hist[t - D] if t >= D else 0.0
        out.append(re)
        rin_e, rin_i = 10.0 * re - 20.0 * ri_d, 20.0 * re - 5.0 * ri
        re, ve, ri, vi = (
            re + dt * (1 / np.pi + 2 * re * ve),
            ve + dt * (ve**2 - 5.0 + x[t, 0] + rin_e - (np.pi * re) ** 2),
            ri + dt * (1 / np.pi + 2 * ri * vi),
            vi + dt * (vi**2 - 5.0 + rin_i - (np.pi * ri) ** 2),
        )
        ris.append(ri)
    assert np.ptp(out[-4000:]) > 0.5  # the delayed inhibition makes the rates oscillate
    np.testing.assert_allclose(obs["out"][:, 0], out, rtol=1e-10, atol=0)
    np.testing.assert_allclose(obs[("i", "r")][:, 0], ris, rtol=1e-10, atol=0)


def test_acceptance_jansen_rit_three_populations():
    # PyRates' JRC: pc (rpo_e_in + rpo_i -> pro), ein and iin (rpo_e -> pro); seconds, dt 1e-4
    net = Network.from_circuit("model_templates.neural_mass_models.jansenrit.JRC", dt=1e-4,
                               input_var="pc/rpo_e_in/u", output_var="pc/pro/m")  # fmt: skip
    T, dt = 10_000, 1e-4
    u = 220.0 + 22.0 * np.random.default_rng(2).standard_normal((T, 1))
    obs = net.run(u, verbose=False, record_vars=[("ein", "rpo_e/V"), ("pc", "rpo_i/V")])

    def pro(V):
        return 5.0 / (1.0 + np.exp(560.0 * (6e-3 - V)))

    def rpo(V, X, m_in, h, tau):
        return X, h * m_in / tau - 2 * X / tau - V / tau**2

    y = np.zeros(8)  # pc: Ve, Xe, Vi, Xi; ein: V, X; iin: V, X
    out, vein, vpci = [], [], []
    for t in range(T):
        m_pc, m_ein, m_iin = pro(y[0] + y[2]), pro(y[4]), pro(y[6])
        out.append(m_pc)
        d = np.concatenate([
            rpo(y[0], y[1], 108.0 * m_ein + u[t, 0], 3.25e-3, 10e-3),
            rpo(y[2], y[3], -33.75 * m_iin, 22e-3, 20e-3),
            rpo(y[4], y[5], 135.0 * m_pc, 3.25e-3, 10e-3),
            rpo(y[6], y[7], 33.75 * m_pc, 3.25e-3, 10e-3),
        ])  # fmt: skip
        y = y + dt * d
        vein.append(y[4]), vpci.append(y[2])
    np.testing.assert_allclose(obs["out"][:, 0], out, rtol=1e-10, atol=0)
    np.testing.assert_allclose(obs[("ein", "rpo_e/V")][:, 0], vein, rtol=1e-10, atol=0)
    np.testing.assert_allclose(obs[("pc", "rpo_i/V")][:, 0], vpci, rtol=1e-10, atol=0)


@pytest.mark.nocompile
def test_spreads_are_bounded_and_checked_before_building_the_chain():
    """A gamma order of 10**10 (delay 1, spread 1e-5) used to build its chain until memory ran
    out; a negative spread was squared away; a tiny one overflowed. Each is refused by name."""
    pop = load_template(f"{QIF}.qif_pop")

    def circuit(spread):
        return CircuitTemplate("s", {"p": pop, "q": pop}, [
            ("p/qif_op/r", "q/qif_op/r_in", None, {"delay": 1.0, "spread": spread})])  # fmt: skip

    for spread, match in [
        (1e-5, r"round\(1e\+05\*\*2\): one ODE per order and connection; at most 1000"),
        (1e-300, r"round\(1e\+300\*\*2\).*at most 1000"),
        (0.03, r"round\(33\.33\*\*2\).*at most 1000"),  # order 1111
        (-0.5, r"spread must not be negative, got -0\.5"),
    ]:
        with pytest.raises(NetworkError, match=match):
            Network.from_circuit(circuit(spread), dt=1e-3)
    net = Network.from_circuit(circuit(1 / np.sqrt(1000)), dt=1e-3)  # order 1000: built
    assert net.get_edge("p", "q").dynamics.model.states[-1] == "gamma_delay_op/g1000"


def test_a_spread_after_an_edge_template_whose_output_is_named_k():
    """The chain's rate was the parameter ``k``: an edge template output named ``k`` (the chain's
    input) was replaced by the rate, and the edge was refused for having two outputs."""
    from rectinumba.templates import EdgeTemplate, OperatorTemplate

    scale = OperatorTemplate("scale_op", ["k = c*r_in"],
                             {"k": "output(0.0)", "c": 2.0, "r_in": "input(0.0)"})  # fmt: skip
    pop = load_template(f"{QIF}.qif_pop")
    circuit = CircuitTemplate("s", {"p": pop, "q": pop}, [
        ("p/qif_op/r", "q/qif_op/r_in", EdgeTemplate("e", [scale]),
         {"weight": 3.0, "delay": 0.5, "spread": 0.25})])  # fmt: skip  (order 4, rate 8)
    dt, T = 1e-2, 300
    net = Network.from_circuit(circuit, dt=dt, input_var="p/qif_op/I_ext",
                               output_var="q/qif_op/r")  # fmt: skip
    assert net.get_edge("p", "q").get_var("gamma_delay_op/k_gamma") == 8.0
    x = np.full((T, 1), 2.0)
    out = net.run(x, verbose=False)["out"][:, 0]
    (rp, vp), (rq, vq), g, ref = (0.01, -2.0), (0.01, -2.0), np.zeros(4), []
    for t in range(T):
        ref.append(rq)
        dg = 8.0 * (np.concatenate([[2.0 * rp], g[:-1]]) - g)
        drp, dvp = 1 / np.pi + 2 * rp * vp, vp**2 - 5 + x[t, 0] - (np.pi * rp) ** 2
        drq, dvq = 1 / np.pi + 2 * rq * vq, vq**2 - 5 + 3.0 * g[-1] - (np.pi * rq) ** 2
        rp, vp, rq, vq, g = rp + dt * drp, vp + dt * dvp, rq + dt * drq, vq + dt * dvq, g + dt * dg
    assert 3.0 * g[-1] > 0.1  # the delayed drive reached q
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=0)
