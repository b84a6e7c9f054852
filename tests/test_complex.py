"""Complex-valued variables (issue 12.3): templates, simulation, dtypes, errors.

References are numpy complex Euler loops written here. Networks: the built-in Kuramoto mean
field (``kmo_mf_pop``, a complex state with real read-outs abs/angle, checked also against the
Ott-Antonsen steady state R = sqrt(1 - 2 Delta/K)), in float64 (complex128) and float32
(complex64); and a two-node network that carries complex values everywhere they may go: a
complex recurrent coupling, a complex population mean in the equations, a complex edge into a
complex input, a real network input into a complex input, complex recordings and recorded means,
a provably real definition (``z*conj(z)``) and a real network output (``abs(w)``).
"""

from __future__ import annotations

import numpy as np
import pytest

from rectinumba import Network, NodeTemplate, OperatorTemplate
from rectinumba.equations import compile_node
from rectinumba.errors import EquationError, NetworkError, SimulationError, TemplateError
from rectinumba.templates import load_template

KMO = "model_templates.oscillators.kuramoto.kmo_mf_pop"
LI = "model_templates.rate_neurons.leaky_integrator.li_op"


def kmo_euler(z, omega, delta, K, dt, steps):
    """Euler loop of the self-coupled Ott-Antonsen mean field: (outputs z, R, psi)."""
    z = np.array(z, complex)
    outs, Rs, psis = [], [], []
    for _ in range(steps):
        outs.append(z.copy())
        Rs.append(np.abs(z))
        psis.append(np.angle(z))
        z = z + dt * (z * (1j * omega - delta) - 0.5 * (K * (np.conj(z) * z**2 - z)))
    return np.array(outs), np.array(Rs), np.array(psis), z


# ---- templates and models (no kernels) ------------------------------------------------------
@pytest.mark.nocompile
def test_complex_declarations_and_literals():
    op = OperatorTemplate(
        "c_op",
        ["z' = (I*omega - 1)*z + 0.5j*u + conj(w)", "w = exp(1j*angle(z))*abs(z)",
         "x = real(z) + imag(z)"],
        {"z": "variable(-0.6-0.8j)", "w": "variable", "x": "output", "omega": 2.0,
         "u": "input(complex)"},
    )  # fmt: skip
    model = compile_node(op)
    assert model.initial == (("c_op/z", -0.6 - 0.8j),)
    assert model.inputs == (("c_op/u", 0j),)
    # z and u declared complex; w inferred complex from its equation; x is real
    assert model.complex_vars == ("c_op/u", "c_op/w", "c_op/z")
    # a declared variable named I wins over the imaginary unit
    real_i = OperatorTemplate("r_op", "v' = -v*I", {"v": "variable(1.0)", "I": 2.0})
    assert compile_node(real_i).complex_vars == ()


@pytest.mark.nocompile
def test_provably_real_definitions_stay_real_and_real_states_refuse_complex_derivatives():
    # PyRates' theta mean field writes r from z; sympy proves its imaginary part is 0
    op = OperatorTemplate(
        "t_op",
        ["z' = I*z", "r = (1-absv(z)^2)/(pi*(1+z+conj(z)+absv(z)^2))", "q = z*conj(z)"],
        {"z": "variable(0.5+0.1j)", "r": "output(0.01)", "q": "variable"},
    )
    model = compile_node(op)
    assert model.complex_vars == ("t_op/z",)
    defs = {d.name: str(d.expr) for d in model.algebraic}
    assert defs["t_op/r"].startswith("RealPart(") and defs["t_op/q"].startswith("RealPart(")
    bad = OperatorTemplate("b_op", "v' = I*v", {"v": "variable(1.0)"})
    with pytest.raises(EquationError, match=r"derivative of the real state 'v' has complex values"
                       r"[\s\S]*v: variable\(complex\)"):  # fmt: skip
        compile_node(bad)


@pytest.mark.nocompile
@pytest.mark.parametrize(
    "rhs, match",
    [
        ("maxi(z, 1)", r"maxi\(\) takes real arguments; this argument is complex"),
        ("(z > 0)", r"comparisons need real values"),
        ("sign(z)", r"sign\(\) takes real arguments"),
        ("round(z)", r"round\(\) takes real arguments"),
        ("z + PI", r"undefined variable 'PI'[\s\S]*write pi \(lower case\)"),
        ("z*i", r"undefined variable 'i'[\s\S]*write I or 1j, or declare it as PyRates does"),
        ("(-1)^0.5 + z", r"the constant is a complex number[\s\S]*write complex constants"),
        ("maxi(1j, 2)", r"maxi\(\) needs real numbers, got a complex constant"),
    ],
)
def test_complex_misuse_is_refused_at_the_token(rhs, match):
    op = OperatorTemplate("e_op", f"z' = {rhs}", {"z": "variable(complex)"})
    with pytest.raises(EquationError, match=match):
        compile_node(op)


@pytest.mark.nocompile
def test_constant_complex_arithmetic_folds_in_complex128():
    op = OperatorTemplate("f_op", "z' = exp(1j*pi/2)*z + I*I + abs(3+4j)", {"z": "variable(1j)"})
    (_, rhs), = compile_node(op).derivatives
    z = [s for s in rhs.free_symbols][0]
    value = complex(rhs.subs(z, 0))
    assert value == pytest.approx(-1.0 + 5.0)  # I*I = -1, abs(3+4j) = 5
    coefficient = complex(rhs.diff(z))
    assert coefficient == pytest.approx(1j, abs=1e-16)


@pytest.mark.nocompile
def test_complex_defaults_in_yaml_and_equality(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "c_op:\n  base: OperatorTemplate\n  equations: \"z' = i*z\"\n  variables:\n"
        "    z: output(0.5+0.1j)\n    i: 0.0+1.0j\n"
        "c2:\n  base: c_op\n  variables:\n    z: output(complex)\n"
        "bad:\n  base: c_op\n  variables:\n    z: output(1+2)\n"
    )
    op = load_template(f"{path}/c_op")
    assert op.variable_dict["z"].default == 0.5 + 0.1j and op.variable_dict["i"].is_complex
    # output(complex) starts at 0 and is complex: not equal to output(0)
    c2 = load_template(f"{path}/c2")
    assert c2.variable_dict["z"].default == 0j and c2.variable_dict["z"].is_complex
    assert c2 != c2.update(variables={"z": "output(0)"})
    with pytest.raises(TemplateError, match=r"default of 'output\(1\+2\)' must be a number"):
        load_template(f"{path}/bad")


# ---- the Kuramoto mean field ----------------------------------------------------------------
@pytest.fixture(scope="module")
def kmo():
    def build(dtype=np.float64):
        net = Network(1e-2, dtype=dtype)
        net.add_diffeq_node("k", KMO, output_var="z", N=3,
                            node_vars={"K": [4.0, 1.0, 3.0], "Delta": [0.5, 1.0, 0.25],
                                       "omega": [1.0, -2.0, 0.5],
                                       "z": np.array([0.5 + 0.1j, 0.3 - 0.4j, 0.05j])})
        return net  # fmt: skip

    return build


def test_kuramoto_mean_field_matches_numpy_and_the_ott_antonsen_limit(kmo):
    net = kmo()
    T = 3000
    rec = [("k", "R"), ("k", "psi"), ("k", "z")]
    obs = net.run(steps=T, record_vars=rec, verbose=False)
    z0 = np.array([0.5 + 0.1j, 0.3 - 0.4j, 0.05j])
    omega, delta, K = np.array([1.0, -2.0, 0.5]), np.array([0.5, 1.0, 0.25]), np.array(
        [4.0, 1.0, 3.0])  # fmt: skip
    outs, Rs, psis, z = kmo_euler(z0, omega, delta, K, 1e-2, T)
    assert obs["out"].dtype == np.complex128 and obs[("k", "z")].dtype == np.complex128
    assert obs[("k", "R")].dtype == np.float64
    np.testing.assert_allclose(obs["out"], outs, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(obs[("k", "R")], Rs, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(obs[("k", "psi")], psis, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(net.get_var("k", "z"), z, rtol=1e-12)
    # K > 2 Delta: synchrony sqrt(1 - 2 Delta/K); K < 2 Delta: incoherence (R -> 0)
    R = np.abs(net.get_var("k", "z"))
    np.testing.assert_allclose(R[[0, 2]], np.sqrt(1 - 2 * delta[[0, 2]] / K[[0, 2]]), rtol=3e-3)
    assert R[1] < 1e-6
    # state, set_var, get_var and reset(state) keep complex values
    flat = net.state["k"]
    assert flat.dtype == np.complex128 and flat.shape == (3,)
    net.set_var("k", "z", [1j, 0.5, -0.5j])
    np.testing.assert_array_equal(net.get_var("k", "z"), [1j, 0.5, -0.5j])
    net.reset({"k": flat})
    np.testing.assert_array_equal(net.get_var("k", "z"), flat)
    with pytest.raises(NetworkError, match=r"values must be real numbers, got complex values"
                       r"[\s\S]*the variable is real"):  # fmt: skip
        net.set_var("k", "K", 1j)


def test_float32_networks_hold_complex64(kmo):
    a, b = kmo(), kmo(np.float32)
    oa = a.run(steps=500, record_vars=[("k", "R")], verbose=False)
    ob = b.run(steps=500, record_vars=[("k", "R")], verbose=False)
    assert ob["out"].dtype == np.complex64 and ob[("k", "R")].dtype == np.float32
    assert b.get_var("k", "z").dtype == np.complex64
    np.testing.assert_allclose(ob["out"], oa["out"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ob[("k", "R")], oa[("k", "R")], rtol=1e-4, atol=1e-5)


# ---- complex values through coupling, edges, reductions, recordings --------------------------
def two_node_templates():
    a = OperatorTemplate(
        "za_op",
        ["z' = (I*omega - Delta)*z + k*s_in + c*mean(z) + u + e", "q = z*conj(z)"],
        {"z": "output(complex)", "omega": 1.0, "Delta": 0.5, "k": 0.4, "c": 0.3,
         "s_in": "input(complex)", "u": "input(complex)", "e": "input(0.0)", "q": "variable"},
    )  # fmt: skip
    b = OperatorTemplate(
        "wb_op",
        ["w' = -w/tau + w_in", "R = abs(w)", "ph = angle(w)"],
        {"w": "variable(complex)", "R": "output", "ph": "variable", "tau": 2.0,
         "w_in": "input(complex)"},
    )  # fmt: skip
    return NodeTemplate("za", [a]), NodeTemplate("wb", [b])


REC = [("A", "z"), ("A", "q"), ("B", "w", True), ("B", "ph")]


def two_nodes(J, W, z0):
    ta, tb = two_node_templates()
    net = Network(1e-2)
    net.add_diffeq_node("A", ta, weights=J, source_var="z", target_var="s_in", input_var="u",
                        output_var="z", node_vars={"z": z0})  # fmt: skip
    net.add_diffeq_node("B", tb, input_var="w_in", output_var="R", N=W.shape[0])
    net.add_edge("A", "B", weights=W)
    return net


def two_nodes_numpy(J, W, z0, x, dt=1e-2, omega=1.0, delta=0.5, k=0.4, c=0.3, tau=2.0):
    z, w = np.array(z0, complex), np.zeros(W.shape[0], complex)
    res = {key: [] for key in ["out", *[r[:2] + (len(r) > 2,) for r in REC]]}
    for xt in x:
        z_pre, w_pre = z.copy(), w.copy()
        res[("A", "q", False)].append(np.abs(z_pre) ** 2)
        z = z + dt * ((1j * omega - delta) * z + k * (J @ z) + c * z.mean() + xt)
        res[("A", "z", False)].append(z.copy())
        res["out"].append(np.abs(w_pre))
        res[("B", "ph", False)].append(np.angle(w_pre))
        w = w + dt * (-w / tau + W @ z_pre)
        res[("B", "w", True)].append(w.mean())
    return {key: np.array(v) for key, v in res.items()}


@pytest.fixture(scope="module")
def coupled():
    rng = np.random.default_rng(21)
    J = rng.standard_normal((3, 3)) * 0.5
    W = rng.standard_normal((2, 3))
    z0 = np.array([0.5 + 0.2j, -0.3j, 0.1])
    return J, W, z0, two_nodes(J, W, z0)


def test_complex_coupling_edges_reductions_and_recordings(coupled):
    J, W, z0, net = coupled
    net.reset()
    x = np.random.default_rng(2).standard_normal((400, 3))
    obs = net.run(x, record_vars=REC, verbose=False)
    ref = two_nodes_numpy(J, W, z0, x)
    assert obs["out"].dtype == np.float64  # R = abs(w) is real
    np.testing.assert_allclose(obs["out"], ref["out"], rtol=1e-12, atol=1e-14)
    for key in REC:
        got = obs[key[:2]]
        want = ref[key[:2] + (len(key) > 2,)]
        assert got.dtype == (np.float64 if key[1] in ("q", "ph") else np.complex128), key
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-12, atol=1e-13,
                                   err_msg=str(key))  # fmt: skip
    assert np.abs(ref[("A", "z", False)]).max() > 0.5  # the network moved


def test_nonfinite_detection_covers_the_imaginary_part(coupled):
    """z purely imaginary and growing: its real part stays 0 when the imaginary part overflows."""
    J, W, _, net = coupled
    net.reset()
    for name, value in (("omega", 0.0), ("Delta", -300.0), ("k", 0.0), ("c", 0.0)):
        net.set_var("A", name, value)
    # neuron 2 overflows first, while the coupling and the mean (times 0) are still finite
    net.set_var("A", "z", [1e-3j, 2e-3j, 1e300j])
    before = net.state["A"].copy()
    with pytest.raises(SimulationError, match=r"'za_op/z' of node 'A' became non-finite") as err:
        net.run(np.zeros((50, 3)), record_vars=REC, verbose=False)
    # numpy: the first step at which some neuron's imaginary part overflows
    y, step = np.array([1e-3, 2e-3, 1e300]), 0
    with np.errstate(over="ignore"):
        while np.isfinite(y).all():
            y, step = y + 1e-2 * (300.0 * y), step + 1  # the derivative overflows first
    assert err.value.trials[0]["step"] == step - 1 and err.value.trials[0]["neuron"] == 2
    np.testing.assert_array_equal(net.state["A"], before)


@pytest.mark.nocompile
def test_complex_values_never_reach_real_inputs_or_training(coupled):
    ta, tb = two_node_templates()
    net = Network(1e-2)
    net.add_diffeq_node("A", ta, input_var="u", output_var="z", N=2)
    net.add_diffeq_node("L", LI, input_var="I_ext", output_var="v", N=2)
    with pytest.raises(NetworkError, match=r"complex output 'za_op/z' into the real input "
                       r"'li_op/I_ext'[\s\S]*input\(complex\)"):  # fmt: skip
        net.add_edge("A", "L")
    net.add_func_node("f", 2)
    with pytest.raises(NetworkError, match=r"into a function node \(function nodes compute in"):
        net.add_edge("A", "f")
    with pytest.raises(NetworkError, match=r"coupling carries complex values .* real input"):
        Network(1e-2).add_diffeq_node("A", ta, weights=np.eye(2), source_var="z",
                                      target_var="e", input_var="u", output_var="z")
    with pytest.raises(NetworkError, match=r"spike_def must be a real state; 'za_op/z'"):
        Network(1e-2).add_diffeq_node("A", ta, input_var="u", output_var="z", N=2,
                                      spike_var="s_in", spike_def="z")
    match = r"values must be real numbers, got complex values[\s\S]*'Delta'"
    with pytest.raises(NetworkError, match=match):
        Network(1e-2).add_diffeq_node("A", ta, input_var="u", output_var="z", N=2,
                                      node_vars={"Delta": 1j})
    J, W, z0, coupled_net = coupled
    with pytest.raises(NetworkError, match=r"inputs must be real numbers, got dtype complex128"
                       r"[\s\S]*the network input is real"):  # fmt: skip
        coupled_net.run(np.ones((3, 3)) * 1j, verbose=False)
    x, y = np.zeros((5, 3)), np.zeros((5, 2))
    with pytest.raises(NetworkError, match=r"fit_bptt: node 'A' computes with complex values "
                       r"\(its variable 'za_op/z' is complex\)[\s\S]*Wirtinger"):  # fmt: skip
        coupled_net.fit_bptt(x, y, verbose=False)
    # complex intermediate values in a real model (a provably real definition) too
    phase = OperatorTemplate("p_op", ["v' = -v + r", "r = exp(I*v) + exp(-I*v)"],
                             {"v": "output(0.1)", "r": "variable"})  # fmt: skip
    assert compile_node(phase).complex_vars == ()
    real_net = Network(1e-2)
    real_net.add_diffeq_node("P", phase, output_var="v", N=2)
    with pytest.raises(NetworkError, match=r"bptt_gradients: node 'P' computes with complex val"):
        real_net.bptt_gradients(np.zeros((4, 0)), np.zeros((4, 2)))
    only_a = Network(1e-2)
    only_a.add_diffeq_node("A", ta, input_var="u", output_var="z", N=2)
    with pytest.raises(NetworkError, match=r"fit_ridge: the network output 'za_op/z' of node "
                       r"'A' is complex"):  # fmt: skip
        only_a.fit_ridge(np.zeros((5, 2)), np.zeros((5, 1)), verbose=False)


@pytest.mark.nocompile
def test_exp_euler_refuses_complex_states():
    from rectinumba.codegen.step import render_network

    net = Network(1e-2, method="exp_euler")
    net.add_diffeq_node("k", KMO, output_var="z", N=1)
    with pytest.raises(NetworkError, match=r"exp_euler' is not available for complex states"):
        render_network(net._runner.spec()[0])


def delayed_template():
    return OperatorTemplate(
        "dz_op",
        "z' = (I*omega - Delta)*z + c*past(z, d)",
        {"z": "output(0.5+0.2j)", "omega": 2.0, "Delta": 0.3, "c": -0.8, "d": 0.05},
    )


def delayed_numpy(z0, hist, omega, delta, c, k, dt, steps):
    """Euler loop with a ring of past states: hist[-j] is the value j steps back."""
    zs = [np.array(h, complex) for h in hist] + [np.array(z0, complex)]
    outs = []
    for _ in range(steps):
        z = zs[-1]
        outs.append(z.copy())
        past = np.array([zs[-1 - k[i]][i] for i in range(len(z))])
        zs.append(z + dt * ((1j * omega - delta) * z + c * past))
    return np.array(outs), zs


def test_a_delayed_complex_state_reads_a_complex_history():
    """past(z, d) of a complex state: a complex ring, a complex get/set_history."""
    net = Network(1e-2)
    net.add_diffeq_node("D", delayed_template(), output_var="z", N=2,
                        node_vars={"d": [0.05, 0.13]})  # fmt: skip
    k = [5, 13]
    out = net.run(steps=60, verbose=False)["out"]
    z0 = np.array([0.5 + 0.2j] * 2)
    ref, zs = delayed_numpy(z0, [z0] * 13, 2.0, 0.3, -0.8, k, 1e-2, 60)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-14)
    history = net.get_history("D", "z")
    assert history.dtype == np.complex128 and history.shape[1] == 2
    np.testing.assert_allclose(history[-1], zs[-2], rtol=1e-12)  # one step before the next
    # a given complex history, oldest first
    net.reset()
    given = np.array([[0.1j, -0.2], [0.3, 0.4j]] * 7)  # (14, 2)
    net.set_history("D", "z", given)
    out = net.run(steps=20, verbose=False)["out"]
    ref, _ = delayed_numpy(z0, list(given), 2.0, 0.3, -0.8, k, 1e-2, 20)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-14)
    with pytest.raises(NetworkError, match=r"must be real numbers, got complex"):
        Network(1e-2).add_diffeq_node("D", delayed_template(), output_var="z", N=2,
                                      node_vars={"d": 0.1j})


PYRATES_KMO_MF = """
kmo_op:
  base: OperatorTemplate
  equations: "r' = r*(i*omega - Delta) - 0.5*(s_in + s_ext)"
  variables: {r: output(0.5+0.1j), omega: 1.0, Delta: 1.0, i: 0.0+1.0j,
              s_in: input(0.0+0.0j), s_ext: input(0.0+0.0j)}
kmo_coupling:
  base: OperatorTemplate
  equations: "s = conjugate(r_s)*r_t^2 - r_s"
  variables: {s: output(complex), r_s: input(complex), r_t: input(complex)}
kmo_pop: {base: NodeTemplate, operators: [kmo_op]}
kmo_edge: {base: EdgeTemplate, operators: [kmo_coupling]}
kmo_mf:
  base: CircuitTemplate
  nodes: {p: kmo_pop}
  edges:
    - [p/kmo_op/r, p/kmo_op/s_in, kmo_edge, {weight: 10.0, kmo_edge/kmo_coupling/r_s: source,
                                             kmo_edge/kmo_coupling/r_t: source}]
"""


@pytest.mark.nocompile
def test_pyrates_complex_edge_template_builds_and_a_real_target_is_refused_with_a_hint(tmp_path):
    """PyRates' kmo_mf couples a complex order parameter through a complex edge template (both
    of its inputs bound to the source): it builds (tests/test_complex_edges.py runs it). Its
    complex output into a real input is refused with a hint that applies."""
    file = tmp_path / "kuramoto.yaml"
    file.write_text(PYRATES_KMO_MF)
    net = Network.from_circuit(f"{file}/kmo_mf", dt=1e-3)
    dyn = net.get_edge("p", "p").dynamics
    assert (dyn.source_input, dyn.bindings) == (
        "kmo_coupling/r_s", (("kmo_coupling/r_t", "source", "kmo_op/r"),)
    )
    assert dyn.value_dtype(dyn.output) == np.complex128
    file.write_text(PYRATES_KMO_MF.replace("s_in: input(0.0+0.0j)", "s_in: input(0.0)"))
    with pytest.raises(NetworkError, match=r"edge template 'kmo_edge' delivers complex values "
                       r"\(its output 'kmo_coupling/s' is complex\) into the real input "
                       r"'kmo_op/s_in'[\s\S]*input\(complex\)") as e:  # fmt: skip
        Network.from_circuit(f"{file}/kmo_mf", dt=1e-3)
    assert "kmo_mf_op" not in str(e.value)
