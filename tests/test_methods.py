"""Update rules (Network(dt, method=...)): convergence orders against scipy's solve_ivp, exactness
of exponential Euler for a linear leak, the step semantics of multi-stage rules (inputs and spikes
held over the stages, coupling and population means re-evaluated, threshold before / reset after
per whole step) against numpy loops written here, and BPTT support."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from rectinumba import Network
from rectinumba.errors import EquationError, NetworkError
from rectinumba.templates import NodeTemplate, OperatorTemplate

LI = "model_templates.rate_neurons.leaky_integrator.li_op"
LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
LIF = "model_templates.spiking_neurons.lif.lif"
QIF = "model_templates.spiking_neurons.qif.qif"
IKU = "model_templates.spiking_neurons.ik.iku"

#: Butcher tableaux of the reference integrator (independent of rectinumba's)
TABLEAUX = {
    "euler": ([[]], [1.0]),
    "heun": ([[], [1.0]], [0.5, 0.5]),
    "rk4": ([[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]], [1 / 6, 1 / 3, 1 / 3, 1 / 6]),
}
ORDERS = {"euler": 1, "heun": 2, "rk4": 4}


def rk_step(f, y, dt, method):
    """One explicit Runge-Kutta step of y' = f(y, c) (c: fraction of the step)."""
    a, b = TABLEAUX[method]
    ks = []
    for row in a:
        ys = y + dt * sum((w * k for w, k in zip(row, ks, strict=False)), np.zeros_like(y))
        ks.append(f(ys, sum(row)))
    return y + dt * sum(w * k for w, k in zip(b, ks, strict=True))


def driven_template() -> NodeTemplate:
    """v' = -v/tau + sin(2t) * tanh(v) + c: nonlinear and time-dependent (stage times)."""
    op = OperatorTemplate(
        "drv_op",
        equations=["d/dt * v = -v/tau + sin(2.0*t)*tanh(v) + c + I"],
        variables={"v": "output(0.5)", "tau": 0.7, "c": 0.3, "I": "input(0.0)"},
    )
    return NodeTemplate("drv", operators=[op])


def coupled_net(method, dt, J):
    net = Network(dt, method=method)
    net.add_diffeq_node("rnn", LI_TANH, weights=J, source_var="tanh_op/r", target_var="li_op/r_in",
                        input_var="li_op/I_ext", output_var="li_op/v",
                        node_vars={"li_op/tau": np.array([1.0, 0.5, 2.0]),
                                   "li_op/v": np.array([0.3, -0.2, 0.1])})  # fmt: skip
    return net


# ---- convergence ----------------------------------------------------------------------------
DTS = np.array([0.05, 0.025, 0.0125, 0.00625])
GRID = 0.2  # errors are compared at the multiples of GRID, the largest over the trajectory


def fitted_order(run, exact, t_end) -> float:
    """Slope of log(max error on the grid) against log(dt); ``run(dt, steps)`` -> (steps, n)."""
    errs = []
    for dt in DTS:
        steps = int(round(t_end / dt))
        every = int(round(GRID / dt))
        errs.append(np.max(np.abs(run(dt, steps)[every - 1 :: every] - exact)))
    return float(np.polyfit(np.log(DTS), np.log(errs), 1)[0])


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_convergence_orders_on_a_nonlinear_coupled_rate_network(method):
    J = np.array([[0.0, 1.5, -0.8], [-1.2, 0.3, 0.9], [0.7, -1.1, 0.2]])
    I = np.array([0.4, -0.3, 0.2])
    tau = np.array([1.0, 0.5, 2.0])
    t_end = 1.6
    grid = GRID * np.arange(1, int(round(t_end / GRID)) + 1)
    exact = solve_ivp(lambda t, v: -v / tau + J @ np.tanh(v) + I, (0, t_end), [0.3, -0.2, 0.1],
                      method="DOP853", rtol=1e-13, atol=1e-13, t_eval=grid).y.T  # fmt: skip

    def run(dt, steps):
        net = coupled_net(method, dt, J)
        obs = net.run(np.tile(I, (steps, 1)), verbose=False, record_vars=[("rnn", "li_op/v")])
        return obs[("rnn", "li_op/v")]

    order = fitted_order(run, exact, t_end)
    assert abs(order - ORDERS[method]) < 0.1, (method, order)


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_convergence_orders_with_time_in_the_equations(method):
    """Stages evaluate ``t`` at their own time (t + c_s dt): the order holds for f(t, v)."""
    t_end = 2.0
    grid = GRID * np.arange(1, int(round(t_end / GRID)) + 1)
    exact = solve_ivp(lambda t, v: -v / 0.7 + np.sin(2 * t) * np.tanh(v) + 0.3, (0, t_end),
                      [0.5], method="DOP853", rtol=1e-13, atol=1e-13, t_eval=grid).y.T  # fmt: skip

    def run(dt, steps):
        net = Network(dt, method=method)
        net.add_diffeq_node("d", driven_template(), N=1, input_var="I", output_var="v")
        return net.run(np.zeros((steps, 1)), verbose=False, record_vars=[("d", "v")])[("d", "v")]

    order = fitted_order(run, exact, t_end)
    assert abs(order - ORDERS[method]) < 0.1, (method, order)


def test_changing_the_method_between_runs_renders_a_new_kernel():
    rng = np.random.default_rng(6)
    J, x = rng.standard_normal((3, 3)), rng.standard_normal((20, 3))
    net = coupled_net("euler", 0.1, J)
    euler = net.run(x, verbose=False)["out"]
    net.reset()
    net.method = "rk4"
    rk4 = net.run(x, verbose=False)["out"]
    np.testing.assert_array_equal(rk4, coupled_net("rk4", 0.1, J).run(x, verbose=False)["out"])
    assert np.abs(rk4 - euler).max() > 1e-6


@pytest.mark.parametrize("method", ["heun", "rk4"])
def test_multi_stage_steps_equal_a_numpy_runge_kutta_loop(method):
    """Coupling re-evaluated at every stage; the edge input held over the stages."""
    rng = np.random.default_rng(0)
    J = rng.standard_normal((3, 3))
    x = rng.standard_normal((60, 3))
    dt = 0.05
    net = coupled_net(method, dt, J)
    obs = net.run(x, verbose=False, record_vars=[("rnn", "li_op/v")])
    tau = np.array([1.0, 0.5, 2.0])
    v = np.array([0.3, -0.2, 0.1])
    outs, vs = [], []
    for xt in x:
        outs.append(v.copy())
        v = rk_step(lambda y, c, xt=xt: -y / tau + J @ np.tanh(y) + xt, v, dt, method)
        vs.append(v)
    np.testing.assert_allclose(obs["out"], outs, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(obs[("rnn", "li_op/v")], vs, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(
    "method, propagation", [("heun", "matvec"), ("rk4", "matvec"), ("rk4", "event")]
)
def test_spiking_population_with_means_keeps_threshold_before_reset_after(method, propagation):
    """iku: spikes on the pre-step state, spike input held over the stages, population means
    and coupling re-evaluated at every stage, reset after the whole step. Event-driven coupling
    (issue 15) gives the stages the trace's stage values with the spikes held too."""
    rng = np.random.default_rng(1)
    N, dt, thr, rst = 6, 0.1, 30.0, -60.0
    J = rng.random((N, N)) * 5
    x = 300 + 200 * rng.random((400, N))
    net = Network(dt, method=method)
    net.add_diffeq_node("ik", IKU, weights=J, source_var="s", target_var="s_in", input_var="I_ext",
                        output_var="s", op="iku_op", spike_var="spike", spike_def="v",
                        spike_threshold=thr, spike_reset=rst, propagation=propagation)  # fmt: skip
    obs = net.run(x, verbose=False, record_vars=[("ik", "v"), ("ik", "u")])
    C, k, v_r, v_t, g, E_r, b, tau_u, kappa, tau_s = 100, 0.7, -60, -40, 1, 0, -2, 33.33, 10, 6
    y = np.concatenate([np.full(N, -60.0), np.zeros(N), np.zeros(N)])  # v, u, s
    vs, us, n_spikes = [], [], 0
    for xt in x:
        spk = (y[:N] >= thr).astype(float)
        spike = spk / dt

        def f(z, c, xt=xt, spike=spike):
            v, u, s = z[:N], z[N : 2 * N], z[2 * N :]
            s_in = J @ s
            dv = (k * (v - v_r) * (v - v_t) - u + xt + g * s_in * (E_r - v)) / C
            du = (b * (v.mean() - v_r) - u) / tau_u + kappa * spike.mean()
            return np.concatenate([dv, du, -s / tau_s + spike])

        y = rk_step(f, y, dt, method)
        y[:N][spk > 0] = rst
        n_spikes += spk.sum()
        vs.append(y[:N].copy())
        us.append(y[N : 2 * N].copy())
    assert n_spikes > 20
    np.testing.assert_allclose(obs[("ik", "v")], vs, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(obs[("ik", "u")], us, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("propagation", ["matvec", "event"])
def test_exponential_euler_spiking_lif_equals_numpy(propagation):
    """LIF with exponential Euler: both states are linear in themselves; spikes as for Euler
    (also with event-driven coupling: U advances by the trace's exponential Euler step)."""
    rng = np.random.default_rng(5)
    N, dt, thr, rst, tau, tau_s = 5, 0.2, 1.0, 0.0, 10.0, 0.5
    J = rng.standard_normal((N, N)) * 2
    x = 1.5 + rng.random((300, N))
    net = Network(dt, method="exp_euler")
    net.add_diffeq_node("lif", LIF, weights=J, source_var="s", target_var="s_in",
                        input_var="I_ext", output_var="s", op="lif_op", spike_var="spike",
                        spike_def="v", spike_threshold=thr, spike_reset=rst,
                        propagation=propagation)  # fmt: skip
    obs = net.run(x, verbose=False, record_vars=[("lif", "v")])
    phi = lambda a: np.expm1(a * dt) / (a * dt)  # noqa: E731
    v, s = np.zeros(N), np.zeros(N)
    outs, vs, n_spikes = [], [], 0
    for xt in x:
        spk = (v >= thr).astype(float)
        outs.append(s.copy())
        dv = -v / tau + J @ s + xt
        ds = -s / tau_s + spk / dt
        v = v + dt * phi(-1 / tau) * dv
        s = s + dt * phi(-1 / tau_s) * ds
        v[spk > 0] = rst
        n_spikes += spk.sum()
        vs.append(v.copy())
    assert n_spikes > 20
    np.testing.assert_allclose(obs["out"], outs, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(obs[("lif", "v")], vs, rtol=1e-11, atol=1e-12)


# ---- exponential Euler ------------------------------------------------------------------------
def test_exponential_euler_is_exact_for_a_linear_leak():
    """v' = -v/tau + I with a constant drive: v(t) = I tau + (v0 - I tau) exp(-t/tau)."""
    N, dt, T = 4, 0.3, 200
    tau = np.array([0.2, 1.0, 5.0, 40.0])
    I = np.array([1.0, -2.0, 0.5, 3.0])
    v0 = np.array([0.5, 1.0, -1.0, 0.0])
    nets = {}
    for method in ("exp_euler", "euler"):
        net = Network(dt, method=method)
        net.add_diffeq_node("li", LI, N=N, input_var="I_ext", output_var="v",
                            node_vars={"tau": tau, "v": v0})  # fmt: skip
        nets[method] = net.run(np.tile(I, (T, 1)), verbose=False, record_vars=[("li", "v")])
    t = dt * np.arange(1, T + 1)[:, None]
    exact = I * tau + (v0 - I * tau) * np.exp(-t / tau)
    np.testing.assert_allclose(nets["exp_euler"][("li", "v")], exact, rtol=1e-12, atol=1e-13)
    assert np.abs(nets["euler"][("li", "v")] - exact).max() > 1e-2  # Euler is not exact here


def test_exponential_euler_without_self_dependence_is_euler_bit_for_bit():
    """A identically 0 (x' = I) is printed as Euler's update; a tiny |A dt| equals Euler to
    rounding (the Taylor branch of phi1)."""
    op = OperatorTemplate("int_op", equations=["d/dt * x = I - w*y", "d/dt * y = -y/tau"],
                          variables={"x": "output(0.0)", "y": "variable(1.0)", "I": "input(0.0)",
                                     "w": 0.3, "tau": 1e12})  # fmt: skip
    x = np.random.default_rng(2).standard_normal((50, 2))
    runs = {}
    for method in ("exp_euler", "euler"):
        net = Network(0.1, method=method)
        net.add_diffeq_node("n", NodeTemplate("int", operators=[op]), N=2, input_var="I",
                            output_var="x")  # fmt: skip
        runs[method] = net.run(x, verbose=False, record_vars=[("n", "y")])
    np.testing.assert_array_equal(runs["exp_euler"]["out"][:, 0], runs["euler"]["out"][:, 0])
    np.testing.assert_allclose(runs["exp_euler"][("n", "y")], runs["euler"][("n", "y")],
                               rtol=1e-15, atol=0)  # fmt: skip


def test_exponential_euler_refuses_a_state_nonlinear_in_itself():
    net = Network(0.1, method="exp_euler")
    net.add_diffeq_node("q", QIF, N=2, input_var="I_ext", output_var="s", op="qif_op",
                        spike_var="spike", spike_def="v")  # fmt: skip
    snap = net.state
    with pytest.raises(EquationError, match=r"(?s)linear in that state.*node 'q'.*'qif_op/v'"):
        net.run(np.ones((3, 2)), verbose=False)
    np.testing.assert_array_equal(net.state["q"], snap["q"])


# ---- API -------------------------------------------------------------------------------------
@pytest.mark.nocompile
def test_unknown_method_is_a_network_error():
    with pytest.raises(NetworkError, match=r"method must be one of .*'rk4'.*got 'rk5'"):
        Network(0.1, method="rk5")
    net = Network(0.1)
    assert net.method == "euler"
    net.method = "heun"
    assert net.method == "heun"
    with pytest.raises(NetworkError, match=r"method must be one of .*got 'RK4'"):
        net.method = "RK4"
    assert net.method == "heun"


@pytest.mark.nocompile
@pytest.mark.parametrize("method", ["heun", "rk4"])
def test_bptt_refuses_multi_stage_methods_by_name(method, snapshot, assert_unchanged):
    rng = np.random.default_rng(3)
    net = coupled_net(method, 0.1, rng.standard_normal((3, 3)))
    net.get_node("rnn").train_params.append("li_op/tau")
    trained = {k: v.copy() for k, v in net._trainable_arrays().items()}
    snap = snapshot(net)
    with pytest.raises(NetworkError, match=f"method={method!r}"):
        net.bptt_gradients(np.ones((4, 3)), np.ones((4, 3)))
    # fit_bptt too, before anything runs or changes (no kernel is built: nocompile)
    with pytest.raises(NetworkError, match=f"method={method!r}"):
        net.fit_bptt(np.ones((4, 3)), np.ones((4, 3)), verbose=False)
    assert_unchanged(net, snap)
    for name, arr in net._trainable_arrays().items():
        np.testing.assert_array_equal(arr, trained[name])


def test_bptt_through_exponential_euler_equals_finite_differences(fd_gradients, assert_close):
    rng = np.random.default_rng(4)
    net = Network(0.2, method="exp_euler")
    net.add_diffeq_node("rnn", LI_TANH, weights=rng.standard_normal((3, 3)) * 0.8,
                        source_var="tanh_op/r", target_var="li_op/r_in", input_var="li_op/I_ext",
                        output_var="tanh_op/r", train_params=["weights", "li_op/tau"],
                        node_vars={"li_op/tau": 1.0 + rng.random(3)})  # fmt: skip
    x, y = rng.standard_normal((30, 3)), rng.standard_normal((30, 3)) * 0.3
    assert_close(net.bptt_gradients(x, y), fd_gradients(net, x, y))


# ---- multi-stage rules with the other features (audit of issues 12 and 17) --------------------
MACKEY_GLASS = "model_templates.rate_neurons.mackey_glass.mackey_glass"


def test_rk4_holds_a_delayed_value_over_its_stages():
    """``x(t - tau)`` of Mackey-Glass is :math:`x_{k-K}` at every stage (docs: step semantics);
    per-neuron delays of 6 and 10 steps; the history before step 0 is the initial value."""
    dt, T, K = 0.5, 160, np.array([6, 10])
    net = Network(dt, method="rk4")
    net.add_diffeq_node("mg", MACKEY_GLASS, N=2, input_var="I_ext", output_var="x",
                        node_vars={"tau": K * dt})  # fmt: skip
    got = net.run(np.zeros((T, 2)), verbose=False, record_vars=[("mg", "x")])[("mg", "x")]
    x, hist, ref = np.full(2, 1.2), [np.full(2, 1.2)], []
    for k in range(T):
        past = np.array([hist[max(k - K[i], 0)][i] for i in range(2)])
        x = rk_step(lambda y, c, p=past: 0.2 * p / (1 + p**10) - 0.1 * y, x, dt, "rk4")
        hist.append(x)
        ref.append(x)
    assert np.ptp(np.array(ref)[:, 0]) > 0.1  # the delayed feedback moved it
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-14)


def test_heun_integrates_complex_states():
    """A complex Stuart-Landau oscillator z' = (mu + i omega) z - |z|^2 z: stages in complex128."""
    op = OperatorTemplate("csl_op", equations=["z' = (mu + 1.0j*omega)*z - abs(z)**2*z + I"],
                          variables={"z": "output(0.5+0.1j)", "mu": 1.0, "omega": 2.0,
                                     "I": "input(0.0)"})  # fmt: skip
    net = Network(0.05, method="heun")
    net.add_diffeq_node("c", NodeTemplate("csl", operators=[op]), N=1, input_var="I",
                        output_var="z")  # fmt: skip
    got = net.run(np.zeros((80, 1)), verbose=False, record_vars=[("c", "z")])[("c", "z")][:, 0]
    z, ref = np.array([0.5 + 0.1j]), []
    for _ in range(80):
        z = rk_step(lambda y, c: (1 + 2j) * y - np.abs(y) ** 2 * y, z, 0.05, "heun")
        ref.append(z[0])
    assert got.dtype == np.complex128
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-14)


def test_readouts_train_on_the_states_of_the_update_rule():
    """fit_ridge and fit_rls under rk4 equal the normal equations and the RLS rule on the
    outputs of a numpy rk4 loop (the readout's input is the pre-update rate tanh(v_k))."""
    rng = np.random.default_rng(12)
    N, dt, T = 4, 0.1, 40
    J, W_in = rng.standard_normal((N, N)) * 0.6, rng.standard_normal((N, 2))
    x, y = rng.standard_normal((T, 2)), rng.standard_normal((T, 2))

    def reservoir():
        net = Network(dt, method="rk4")
        net.add_func_node("inp", 2)
        net.add_diffeq_node("rnn", LI_TANH, weights=J, source_var="tanh_op/r",
                            target_var="li_op/r_in", input_var="li_op/I_ext",
                            output_var="tanh_op/r", node_vars={"li_op/tau": 1.0})  # fmt: skip
        net.add_edge("inp", "rnn", weights=W_in)
        return net

    v, X = np.zeros(N), []
    for xt in x:
        X.append(np.tanh(v))
        v = rk_step(lambda u, c, d=W_in @ xt: -u + J @ np.tanh(u) + d, v, dt, "rk4")
    X = np.array(X)
    fit = reservoir().fit_ridge(x, y, alpha=0.1, sampling_steps=1, verbose=False)
    np.testing.assert_allclose(fit["w_out"], np.linalg.solve(X.T @ X + 0.1 * np.eye(N), X.T @ y),
                               rtol=1e-10)  # fmt: skip
    net = reservoir()
    W0 = rng.standard_normal((2, N)) * 0.1
    net.add_func_node("readout", 2)
    net.add_edge("rnn", "readout", weights=W0, train="rls")
    net.fit_rls(x, y, update_steps=1, beta=0.99, alpha=0.5, verbose=False)
    W, P = W0.copy(), 0.5 * np.eye(N)
    for xt, yt in zip(X, y, strict=True):
        e, z = yt - W @ xt, P @ xt / 0.99
        k = 1.0 / (1.0 + xt @ z)
        W, P = W + k * np.outer(e, z), P / 0.99 - k * np.outer(z, z)
    assert np.abs(W - W0).max() > 0.1  # it learned
    np.testing.assert_allclose(net.get_edge("rnn", "readout").weights, W, rtol=1e-10)
