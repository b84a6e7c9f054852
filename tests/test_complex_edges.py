"""Complex values on template edges: PyRates' Kuramoto mean-field circuits and complex edge states.

References are numpy complex Euler loops written here. Networks:

- PyRates' ``kmo_mf`` (one Ott-Antonsen mean field coupled to itself through the complex edge
  template ``kmo_edge``: ``s = conjugate(r_s)*r_t^2 - r_s`` with both inputs bound to the source)
  and ``kmo_mf_2coupled`` (two of them, ``r_t`` bound to the target's state), from the
  PyRates-style corpus in tests/fixtures/templates/pyrates_corpus;
- two populations coupled by a template edge with a complex state per connection (a complex
  filter of the source order parameter), a complex per-edge constant and a real one, dense into
  one input and CSR into another: recordings per connection and as means, get/set of complex
  edge values, the non-finite check on the imaginary part and the rollback after it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from rectinumba import EdgeTemplate, Network, OperatorTemplate
from rectinumba.errors import NetworkError, SimulationError

KURAMOTO = (
    Path(__file__).parent
    / "fixtures/templates/pyrates_corpus/model_templates/oscillators/kuramoto.yaml"
)
KMO_POP = "model_templates.oscillators.kuramoto.kmo_pop"

# ---- PyRates' kmo_mf and kmo_mf_2coupled ----------------------------------------------------
#: node -> (initial r, omega, Delta) of the circuits below (node_vars of from_circuit)
CIRCUIT_NODES = {
    "kmo_mf": {"p": (0.5 + 0.1j, 1.0, 1.0)},
    "kmo_mf_2coupled": {"p1": (0.5 + 0.1j, 1.0, 1.0), "p2": (-0.2 + 0.6j, 2.5, 0.5)},
}
#: (source, target, node whose r is r_t) of each circuit's edges; weight 10
CIRCUIT_EDGES = {
    "kmo_mf": [("p", "p", "p")],
    "kmo_mf_2coupled": [("p1", "p2", "p2"), ("p2", "p1", "p1")],
}


def kmo_circuit(name: str, dt: float, **kwargs) -> Network:
    """PyRates' circuit with the node values of CIRCUIT_NODES."""
    node_vars = {}
    for node, (r0, omega, delta) in CIRCUIT_NODES[name].items():
        node_vars.update({f"{node}/kmo_op/r": r0, f"{node}/kmo_op/omega": omega,
                          f"{node}/kmo_op/Delta": delta})  # fmt: skip
    return Network.from_circuit(f"{KURAMOTO}/{name}", dt=dt, node_vars=node_vars, **kwargs)


def kmo_circuit_numpy(name: str, dt: float, steps: int) -> tuple[dict, dict]:
    """PyRates' semantics in a complex Euler loop: r' = r*(i*omega - Delta) - 0.5*s_in with
    s_in the sum of 10*(conj(r_s)*r_t^2 - r_s) over the edges into the node.

    Returns the r of each node after every step and the edge output s of every step."""
    nodes = CIRCUIT_NODES[name]
    r = {n: complex(v[0]) for n, v in nodes.items()}
    rs, ss = {n: [] for n in nodes}, {e[:2]: [] for e in CIRCUIT_EDGES[name]}
    for _ in range(steps):
        s_in = dict.fromkeys(nodes, 0j)
        for src, tgt, rt in CIRCUIT_EDGES[name]:
            s = np.conj(r[src]) * r[rt] ** 2 - r[src]
            ss[(src, tgt)].append(s)
            s_in[tgt] += 10.0 * s
        r = {n: r[n] + dt * (r[n] * (1j * nodes[n][1] - nodes[n][2]) - 0.5 * s_in[n])
             for n in nodes}  # fmt: skip
        for n in nodes:
            rs[n].append(r[n])
    return {n: np.array(v) for n, v in rs.items()}, {k: np.array(v) for k, v in ss.items()}


@pytest.mark.parametrize("name", ["kmo_mf", "kmo_mf_2coupled"])
def test_pyrates_kuramoto_mean_field_circuits_equal_numpy(name):
    net = kmo_circuit(name, 1e-3)
    edges = [(s, t) for s, t, _ in CIRCUIT_EDGES[name]]
    rec = [(n, "r") for n in CIRCUIT_NODES[name]] + [(e, "s") for e in edges]
    obs = net.run(steps=1500, record_vars=rec, verbose=False)
    rs, ss = kmo_circuit_numpy(name, 1e-3, 1500)
    for n, want in rs.items():
        assert obs[(n, "r")].dtype == np.complex128
        np.testing.assert_allclose(obs[(n, "r")][:, 0], want, rtol=1e-10)
        np.testing.assert_allclose(net.get_var(n, "r"), [want[-1]], rtol=1e-10)
    for e, want in ss.items():
        assert obs[(e, "s")].dtype == np.complex128
        np.testing.assert_allclose(obs[(e, "s")].ravel(), want, rtol=1e-10)
    if name == "kmo_mf":  # K = 10 > 2 Delta: synchrony R -> sqrt(1 - 2 Delta / K)
        assert abs(abs(rs["p"][-1]) - np.sqrt(1 - 2 / 10)) < 1e-3
    with pytest.raises(NetworkError, match=r"bptt_gradients: the network output 'kmo_op/r' of "
                       r"node 'p1?' is complex"):  # fmt: skip
        net.bptt_gradients(np.zeros((3, 0)), np.zeros((3, 1)))


def test_the_builtin_kmo_mf_circuit_is_kmo_mf_pop_with_k_10():
    """The built-in kmo_mf (the coupling on a complex edge) against the built-in kmo_mf_pop
    (the same term written into the equation), and its Euler loop from tests/test_complex.py."""
    from test_complex import kmo_euler

    circuit = Network.from_circuit("model_templates.oscillators.kuramoto.kmo_mf", dt=1e-2,
                                   node_vars={"p/kmo_op/Delta": 0.5})  # fmt: skip
    node = Network(1e-2)
    node.add_diffeq_node("p", "model_templates.oscillators.kuramoto.kmo_mf_pop", output_var="z",
                         N=1, node_vars={"K": 10.0, "Delta": 0.5})  # fmt: skip
    a, b = (n.run(steps=1000, verbose=False)["out"] for n in (circuit, node))
    outs = kmo_euler([0.5 + 0.1j], 1.0, 0.5, 10.0, 1e-2, 1000)[0]
    np.testing.assert_allclose(a, outs, rtol=1e-10)
    np.testing.assert_allclose(a, b, rtol=1e-12)


# ---- a complex state per connection -----------------------------------------------------------
def filter_edge() -> EdgeTemplate:
    """q' = (I*nu - a)*q + r_s per connection, output s = g*q + h*real(r_t): a complex state, a
    complex constant g, real constants nu, a, h, a complex source input and a bound target."""
    op = OperatorTemplate(
        "cq_op",
        ["q' = (I*nu - a)*q + r_s", "s = g*q + h*real(r_t)"],
        {"q": "variable(0.1+0.2j)", "nu": 2.0, "a": 1.0, "g": "0.5-0.25j", "h": 0.3,
         "r_s": "input(complex)", "r_t": "input(complex)", "s": "output(complex)"},
    )  # fmt: skip
    return EdgeTemplate("cq_edge", [op])


#: the dense edge's initial q per connection (2 targets x 3 sources)
Q0 = np.array([[0.1 + 0.2j, -0.3j, 0.4], [0.2 - 0.1j, 0.05j, -0.2 + 0.1j]])
W_DENSE = np.array([[0.6, -0.4, 0.3], [0.2, 0.5, -0.7]])
W_SPARSE = np.array([[0.0, 0.8, 0.0], [-0.5, 0.0, 0.4]])
Z_A = np.array([0.5 + 0.1j, -0.3 + 0.4j, 0.2j])
Z_B = np.array([0.1 - 0.3j, 0.4 + 0.0j])


def filter_net(dtype=np.float64) -> Network:
    """A (3 Kuramoto mean fields) -> B (2): a dense filter edge into s_in (q0 = Q0, g = 1-2j)
    and a CSR one into s_ext (template defaults)."""
    net = Network(1e-2, dtype=dtype)
    net.add_diffeq_node("A", KMO_POP, output_var="z", N=3, node_vars={"z": Z_A, "omega": 1.5})
    net.add_diffeq_node("B", KMO_POP, output_var="z", N=2, node_vars={"z": Z_B})
    bind = {"r_s": "source", "r_t": "target/z"}
    net.add_edge("A", "B", weights=W_DENSE, template=filter_edge(), target_var="s_in",
                 edge_inputs=bind, edge_vars={"q": Q0, "g": 1 - 2j})  # fmt: skip
    net.add_edge("A", "B", weights=sp.csr_matrix(W_SPARSE), template=filter_edge(),
                 target_var="s_ext", edge_inputs=bind)  # fmt: skip
    return net


def filter_numpy(steps: int, dt: float = 1e-2, g_dense: complex = 1 - 2j) -> dict:
    """The same network in a numpy loop (every template value before the step's update)."""
    za, zb = Z_A.copy(), Z_B.copy()
    q = {"d": Q0.copy(), "s": np.where(W_SPARSE != 0, 0.1 + 0.2j, 0)}
    g = {"d": g_dense, "s": 0.5 - 0.25j}
    W = {"d": W_DENSE, "s": W_SPARSE}
    out = {"B": [], "qd": [], "qs_mean": [], "sd": []}
    for _ in range(steps):
        s = {k: g[k] * q[k] + 0.3 * zb.real[:, None] for k in q}
        s_in = {k: (W[k] * s[k]).sum(axis=1) for k in q}
        q = {k: q[k] + dt * ((2j - 1.0) * q[k] + za[None, :]) for k in q}
        out["sd"].append(s["d"].ravel())
        za, zb = (za + dt * za * (1.5j - 1.0),
                  zb + dt * (zb * (1j - 1.0) - 0.5 * (s_in["d"] + s_in["s"])))  # fmt: skip
        out["B"].append(zb)
        out["qd"].append(q["d"].ravel())
        out["qs_mean"].append(q["s"][W_SPARSE != 0].mean())
    res = {k: np.array(v) for k, v in out.items()}
    res["q_dense"], res["q_sparse"] = q["d"], np.where(W_SPARSE != 0, q["s"], 0)
    return res


#: record_vars of the filter network: per connection (dense), a mean (CSR), the target
FILTER_REC = [(("A", "B"), "q"), (("A", "B"), "s"), (("A", "B", 1), "q", True), ("B", "z")]


def check_filter_obs(obs, ref, rtol: float = 1e-12) -> None:
    """Recordings of the filter network against filter_numpy (dtype kept)."""
    for key, want in [((("A", "B"), "q"), ref["qd"]), ((("A", "B"), "s"), ref["sd"]),
                      ((("A", "B", 1), "q"), ref["qs_mean"]), (("B", "z"), ref["B"])]:  # fmt: skip
        got = obs[key]
        assert got.dtype.kind == "c", key
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=rtol, atol=1e-14)


@pytest.fixture(scope="module")
def filtered():
    return filter_net()


def test_complex_edge_states_constants_and_recordings_equal_numpy(filtered):
    net = filtered
    net.reset()
    obs = net.run(steps=1000, record_vars=FILTER_REC, verbose=False)
    ref = filter_numpy(1000)
    check_filter_obs(obs, ref, 1e-10)
    dense, sparse = net.get_edge("A", "B"), net.get_edge("A", "B", 1)
    got = dense.get_var("q")
    assert got.dtype == np.complex128 and got.shape == (2, 3)
    np.testing.assert_allclose(got, ref["q_dense"], rtol=1e-10)
    np.testing.assert_allclose(sparse.get_var("q"), ref["q_sparse"], rtol=1e-10, atol=0)
    assert dense.get_var("g") == 1 - 2j and sparse.get_var("g") == 0.5 - 0.25j
    assert dense.get_var("a") == 1.0 and isinstance(dense.get_var("a"), float)
    # complex values where the edge variable is complex, real ones elsewhere
    dense.set_var("q", np.full((2, 3), 1j))
    np.testing.assert_array_equal(dense.get_var("q"), np.full((2, 3), 1j))
    with pytest.raises(NetworkError, match=r"must be real numbers, got complex[\s\S]*'a'"):
        dense.set_var("a", 1j)
    net.reset()
    np.testing.assert_array_equal(dense.get_var("q"), Q0)


def test_float32_networks_hold_complex64_edge_values_and_per_trial_constants():
    net = filter_net(np.float32)
    net.get_edge("A", "B").set_var("g", np.array([[1 - 2j], [0.5 - 0.25j]]))  # (B, 1)
    obs = net.run(steps=200, trials=2, record_vars=FILTER_REC, verbose=False)
    assert all(obs[key[:2]].dtype == np.complex64 for key in FILTER_REC)
    assert net.get_edge("A", "B").get_var("q").dtype == np.complex64
    for b, g in enumerate([1 - 2j, 0.5 - 0.25j]):
        ref = filter_numpy(200, g_dense=g)
        np.testing.assert_allclose(obs[("B", "z")][b], ref["B"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(obs[(("A", "B"), "q")][b], ref["qd"], rtol=1e-4, atol=1e-5)
    assert np.abs(obs[("B", "z")][1] - obs[("B", "z")][0]).max() > 1e-3  # g per trial matters


def test_a_non_finite_imaginary_part_of_an_edge_state_stops_the_run_and_rolls_back(filtered):
    """Only the imaginary part of one connection's q overflows: the run fails there and the
    network keeps the states it had."""
    net = filtered
    net.reset()
    net.run(steps=5, verbose=False)
    dense = net.get_edge("A", "B")
    q = dense.get_var("q")
    q[1, 2] = 1e306j  # the edge output g*q and the target stay finite
    dense.set_var("q", q)
    dense.set_var("a", -1e5)  # imag: 1e306 * (1 + 1e5 dt) overflows; real: -2 dt 1e306 does not
    before_q, before_b = dense.get_var("q"), net.get_var("B", "z")
    with pytest.raises(SimulationError, match=r"state variable 'cq_op/q' of edge 'A' -> 'B' "
                       r"became non-finite .* at step 0 \(connection from source neuron 2 to "
                       r"target neuron 1\)"):  # fmt: skip
        net.run(steps=10, record_vars=FILTER_REC, verbose=False)
    np.testing.assert_array_equal(dense.get_var("q"), before_q)
    np.testing.assert_array_equal(net.get_var("B", "z"), before_b)
    dense.set_var("a", 1.0)


@pytest.mark.nocompile
def test_complex_values_stay_out_of_real_edge_inputs_and_real_targets():
    net = Network(1e-2)
    net.add_diffeq_node("A", KMO_POP, output_var="z", N=2)
    net.add_diffeq_node("L", "model_templates.rate_neurons.leaky_integrator.li_op", N=2,
                        input_var="I_ext", output_var="v")  # fmt: skip
    real_in = OperatorTemplate("ri_op", "s = 2*u", {"u": "input", "s": "output"})
    with pytest.raises(NetworkError, match=r"carry the complex variable 'kmo_op/z' of the source "
                       r"node 'A' into the real input 'ri_op/u' of the edge template"):  # fmt: skip
        net.add_edge("A", "A", template=real_in, target_var="s_in")
    with pytest.raises(NetworkError, match=r"edge template 'cq_edge' delivers complex values "
                       r"\(its output 'cq_op/s' is complex\) into the real input 'li_op/I_ext' "
                       r"of node 'L'[\s\S]*input\(complex\)"):  # fmt: skip
        net.add_edge("A", "L", template=filter_edge(), edge_inputs={"r_s": "source",
                                                                  "r_t": "source"})
    with pytest.raises(NetworkError, match=r"the complex variable 'kmo_op/z' of the target node "
                       r"'A' into the real input 'two_op/u'"):  # fmt: skip
        net.add_edge("L", "A", template=OperatorTemplate(
            "two_op", "s = v + 0*u", {"v": "input", "u": "input", "s": "output"}),
            target_var="s_in", edge_inputs={"v": "source", "u": "target/z"})  # fmt: skip
    assert net.edges == []  # nothing was added
    # a real value into a complex edge input is fine (the kmo_edge of a real source)
    net.add_edge("L", "A", template=filter_edge(), target_var="s_in",
                 edge_inputs={"r_s": "source", "r_t": "target/z"})  # fmt: skip
    assert net.get_edge("L", "A").dynamics.value_dtype("cq_op/r_s") == np.complex128
