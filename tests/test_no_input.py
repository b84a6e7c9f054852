"""Networks without input (issue 12.1): a node without ``input_var``, ``n_in == 0``,
``run(steps=T)``, inputs of shape (T, 0) / (B, T, 0), ``trials=``, ``forward()``.

The Stuart-Landau oscillator of the built-in library (no input variable) is checked against a
numpy Euler loop written here (to rounding) and against its exact solution (to the Euler error):
``r(t)^2 = mu / (1 + (mu/r0^2 - 1) exp(-2 mu t))``, phase ``theta0 - omega t``, so the limit cycle
radius is sqrt(mu). Kernels are shared through module fixtures: one single-trial network (no
recordings), one batched network, one network whose input node drives another node by an edge.
"""

from __future__ import annotations

import numpy as np
import pytest

from rectinumba import Network
from rectinumba.errors import NetworkError

SL = "model_templates.oscillators.stuartlandau.sl_pop"
LI = "model_templates.rate_neurons.leaky_integrator.li_op"
DT = 1e-3


def sl_euler(x, z, omega, mu, dt, steps):
    """Euler steps of the Stuart-Landau oscillator: (outputs x before each update, x, z after)."""
    x, z = np.array(x, float), np.array(z, float)
    outs, zs = [], []
    for _ in range(steps):
        outs.append(x.copy())
        g = mu - x**2 - z**2
        x, z = x + dt * (omega * z + x * g), z + dt * (-omega * x + z * g)
        zs.append(z.copy())
    return np.array(outs), x, z, np.array(zs)


def sl_exact(x0, z0, omega, mu, t):
    """The exact solution's x at times t (polar form: r' = r(mu - r^2), theta' = -omega)."""
    r0sq, theta0 = x0**2 + z0**2, np.arctan2(z0, x0)
    r = np.sqrt(mu / (1.0 + (mu / r0sq - 1.0) * np.exp(-2.0 * mu * t)))
    return r * np.cos(theta0 - omega * t)


@pytest.fixture(scope="module")
def sl_net():
    net = Network(DT)
    net.add_diffeq_node("sl", SL, output_var="x", N=3,
                        node_vars={"x": [0.1, 1.0, 2.0], "z": [0.0, 0.5, -0.3],
                                   "omega": [1.0, 2.0, 3.0], "mu": [1.0, 0.25, 4.0]})  # fmt: skip
    return net


def test_a_network_without_input_runs_with_steps(sl_net):
    net = sl_net
    net.reset()
    assert (net.n_in, net.n_out) == (0, 3) and net["sl"]["n_in"] == 0
    T = 3000
    obs = net.run(steps=T, verbose=False)
    omega, mu = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.25, 4.0])
    x0, z0 = np.array([0.1, 1.0, 2.0]), np.array([0.0, 0.5, -0.3])
    outs, x, z, _ = sl_euler(x0, z0, omega, mu, DT, T)
    assert obs["out"].shape == (T, 3)
    np.testing.assert_allclose(obs["out"], outs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(net.get_var("sl", "z"), z, rtol=1e-12, atol=1e-12)
    # the exact solution, to the Euler error
    exact = sl_exact(x0, z0, omega, mu, np.arange(T)[:, None] * DT)
    np.testing.assert_allclose(obs["out"], exact, atol=0.02)
    # a second run continues from the state (time, too), and (T, 0) inputs are the same thing
    more = net.run(np.zeros((5, 0)), verbose=False)["out"]
    np.testing.assert_allclose(more, sl_euler(x, z, omega, mu, DT, 5)[0], rtol=1e-12)
    assert net._runner.step == T + 5
    # at t = 23 every oscillator is on its limit cycle, of radius sqrt(mu); Euler's discrete
    # cycle is where a step keeps the radius: (1 + dt*(mu - r^2))^2 + (dt*omega)^2 = 1
    net.run(steps=20_000, verbose=False)
    radius = np.hypot(net.get_var("sl", "x"), net.get_var("sl", "z"))
    euler_radius = np.sqrt(mu + (1.0 - np.sqrt(1.0 - (DT * omega) ** 2)) / DT)
    np.testing.assert_allclose(radius, euler_radius, rtol=1e-5)
    np.testing.assert_allclose(radius, np.sqrt(mu), rtol=5e-3)


def test_forward_without_input_is_one_step(sl_net):
    net = sl_net
    net.reset()
    first = net.forward()
    second = net.forward(np.zeros(0))
    np.testing.assert_array_equal(first, [0.1, 1.0, 2.0])
    ref = sl_euler([0.1, 1.0, 2.0], [0.0, 0.5, -0.3], np.array([1.0, 2.0, 3.0]),
                   np.array([1.0, 0.25, 4.0]), DT, 2)[0]  # fmt: skip
    np.testing.assert_allclose(second, ref[1], rtol=1e-13)
    with pytest.raises(NetworkError, match=r"forward takes an input of shape \(0,\)"):
        net.forward(np.ones(3))


def test_trials_give_batched_results_with_per_trial_values():
    net = Network(DT)
    mu = np.array([[0.25], [1.0]])  # one value per trial
    net.add_diffeq_node("sl", SL, output_var="x", N=2, node_vars={"mu": mu, "x": [0.5, 1.5]})
    T = 400
    obs = net.run(steps=T, trials=2, record_vars=[("sl", "z")], verbose=False)
    assert obs["out"].shape == (2, T, 2) and obs[("sl", "z")].shape == (2, T, 2)
    for b in range(2):
        outs, _, _, zs = sl_euler([0.5, 1.5], [0.0, 0.0], 1.0, mu[b, 0], DT, T)
        np.testing.assert_allclose(obs["out"][b], outs, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(obs[("sl", "z")][b], zs, rtol=1e-12, atol=1e-13)
    # (B, T, 0) inputs are the same as trials=B
    net.reset()
    again = net.run(np.zeros((2, T, 0)), record_vars=[("sl", "z")], verbose=False)
    np.testing.assert_array_equal(again["out"], obs["out"])
    # per-trial values need as many trials
    net.reset()
    with pytest.raises(NetworkError, match=r"values for 2 trials but the input has 1 trial"):
        net.run(steps=3, verbose=False)


def test_the_input_node_without_input_var_drives_other_nodes():
    """An oscillator (input node, no input_var) drives a leaky integrator through an edge."""
    rng = np.random.default_rng(4)
    W = rng.standard_normal((3, 2))
    net = Network(DT)
    net.add_diffeq_node("osc", SL, output_var="x", N=2, node_vars={"x": [1.0, 0.3]})
    net.add_diffeq_node("li", LI, input_var="I_ext", output_var="v", N=3,
                        node_vars={"tau": 0.5})  # fmt: skip
    net.add_edge("osc", "li", weights=W)
    assert (net.n_in, net.n_out) == (0, 3)
    T = 500
    obs = net.run(steps=T, verbose=False)
    xs = sl_euler([1.0, 0.3], [0.0, 0.0], 1.0, 1.0, DT, T)[0]  # osc outputs, pre-update
    v, outs = np.zeros(3), []
    for t in range(T):
        outs.append(v.copy())
        v = v + DT * (-v / 0.5 + W @ xs[t])
    np.testing.assert_allclose(obs["out"], outs, rtol=1e-11, atol=1e-14)
    # an edge into a node without input_var is refused, naming the way out
    with pytest.raises(NetworkError, match=r"the target node has no input_var[\s\S]*input_var="):
        net.add_edge("li", "osc", weights=np.ones((2, 3)), feedback=True)


@pytest.mark.nocompile
def test_inputs_and_steps_are_checked_before_anything_runs(sl_net):
    net = sl_net
    with pytest.raises(NetworkError, match=r"without inputs the number of steps is unknown"):
        net.run(verbose=False)
    with pytest.raises(NetworkError, match=r"inputs have 2 columns but the input node takes 0"):
        net.run(np.zeros((4, 2)), verbose=False)
    with pytest.raises(NetworkError, match=r"steps=5 disagrees with inputs of 4 steps"):
        net.run(np.zeros((4, 0)), steps=5, verbose=False)
    with pytest.raises(NetworkError, match=r"trials=2 disagrees with unbatched inputs"):
        net.run(np.zeros((4, 0)), trials=2, verbose=False)
    with pytest.raises(NetworkError, match=r"trials must be a positive integer, got 0"):
        net.run(steps=4, trials=0, verbose=False)
    # fit_* take inputs to know T: None is refused clearly
    with pytest.raises(NetworkError, match=r"steps is unknown.*inputs of shape \(T, 0\)"):
        net.fit_ridge(None, np.zeros((4, 1)), verbose=False)
    # a network that takes input cannot run on steps alone
    other = Network(DT)
    other.add_diffeq_node("li", LI, input_var="I_ext", output_var="v", N=2)
    with pytest.raises(NetworkError, match=r"the network takes inputs: give inputs of shape"):
        other.run(steps=10, verbose=False)


def test_training_takes_empty_inputs(sl_net):
    """fit_ridge on an autonomous network: inputs of shape (T, 0) give T; the readout equals
    the ridge solution on the recorded outputs."""
    net = sl_net
    net.reset()
    T = 800
    target = np.sin(2.0 * np.arange(T) * DT + 0.3)[:, None]
    fit = net.fit_ridge(np.zeros((T, 0)), target, sampling_steps=1, alpha=1e-3, verbose=False,
                        add_readout_node=False, record_output=True)  # fmt: skip
    X = sl_euler([0.1, 1.0, 2.0], [0.0, 0.5, -0.3], np.array([1.0, 2.0, 3.0]),
                 np.array([1.0, 0.25, 4.0]), DT, T)[0]  # fmt: skip
    np.testing.assert_allclose(fit["out"], X, rtol=1e-12, atol=1e-13)
    w = np.linalg.solve(X.T @ X + 1e-3 * np.eye(3), X.T @ target)
    np.testing.assert_allclose(fit["w_out"], w, rtol=1e-8)
