"""Training faults are never silent (issue 10.4): RLS windup, non-finite losses, gradients and
parameters, overflowing ridge sums; each names the edge or parameter and the step, and leaves
the network as it was before the call. RLS keeps P exactly symmetric."""

from __future__ import annotations

import numpy as np
import pytest
from builders import arrays, bptt_net, rls_net

from rectinumba import Network
from rectinumba.errors import SimulationError


@pytest.fixture
def rng():
    return np.random.default_rng(5)


def updates_until_overflow(beta: float, alpha: float = 1.0) -> int:
    """1-based index of the RLS update at which P = alpha * beta**-u overflows (x = 0), in the
    kernel's float64 arithmetic: P <- P * (1 / beta)."""
    p, inv, u = alpha, 1.0 / beta, 0
    with np.errstate(over="ignore"):
        while np.isfinite(p):
            p = np.float64(p) * inv
            u += 1
    return u


def snapshot(net, edge=("rnn", "out")):
    e = net.get_edge(*edge)
    P = None if e.rls_P is None else e.rls_P.copy()
    return np.array(e.weights), P, {k: v.copy() for k, v in net.state.items()}, net._runner.step


def assert_as_before(net, snap, edge=("rnn", "out")):
    W, P, state, step = snap
    e = net.get_edge(*edge)
    np.testing.assert_array_equal(e.weights, W)
    if P is not None:
        np.testing.assert_array_equal(e.rls_P, P)
    for label, arr in state.items():
        np.testing.assert_array_equal(net.state[label], arr)
    assert net._runner.step == step


def test_rls_windup_with_forgetting_factor_is_reported_at_its_step_and_undone(rng):
    """beta = 0.99 with zero input: P grows like 0.99**-t over many calls until it overflows.
    The call that overflows raises, naming the edge and the step, and restores W, P, state."""
    T, beta = 20_000, 0.99
    net = rls_net(rng.standard_normal((6, 6)) * 0.5, rng.normal(0, 0.1, (1, 6)))
    x, y = np.zeros((T, 2)), np.full(T, 0.3)
    fail = updates_until_overflow(beta) - 1  # 0-based global update index (one per step)
    calls, step = divmod(fail, T)
    for _ in range(calls):
        net.fit_rls(x, y, beta=beta, verbose=False)
    P = net.get_edge("rnn", "out").rls_P
    assert np.isfinite(P).all() and P[0, 0] > 1e200  # wound up, still finite
    snap = snapshot(net)
    msg = (rf"(?s)fit_rls: edge 'rnn' -> 'out': the inverse correlation matrix P became "
           rf"non-finite .* at step {step}\b.*as they were before.*windup")  # fmt: skip
    with pytest.raises(SimulationError, match=msg):
        net.fit_rls(x, y, beta=beta, verbose=False)
    assert_as_before(net, snap)
    net.fit_rls(x[:10], y[:10], beta=beta, reset_P=True, verbose=False)  # the remedy works
    assert net.get_edge("rnn", "out").rls_P[0, 0] == pytest.approx(0.99**-10, rel=1e-12)


def test_rls_gain_outside_zero_inf_means_P_lost_positive_definiteness(rng):
    net = rls_net(rng.standard_normal((6, 6)) * 0.5, rng.normal(0, 0.1, (1, 6)))
    t = np.arange(40) * 1e-2
    x, y = np.stack([np.sin(2 * t) + 1.0, np.cos(2 * t)], 1), np.sin(2 * t + 1.0)
    net.fit_rls(x[:5], y[:5], verbose=False)
    net.get_edge("rnn", "out").rls_P = -10.0 * np.eye(6)  # as if P had broken down
    snap = snapshot(net)
    with pytest.raises(SimulationError, match=r"gain .* left \(0, inf\): P is no longer positive"):
        net.fit_rls(x, y, verbose=False)
    assert_as_before(net, snap)


def test_rls_keeps_P_exactly_symmetric(rng):
    net = rls_net(rng.standard_normal((6, 6)) * 0.5, rng.normal(0, 0.1, (1, 6)))
    t = np.arange(3000) * 1e-2
    x = np.stack([np.sin(2 * t), np.cos(3 * t)], 1) + 0.1 * rng.standard_normal((3000, 2))
    net.fit_rls(x, np.sin(2 * t + 1.0), beta=0.999, verbose=False)
    P = net.get_edge("rnn", "out").rls_P
    np.testing.assert_array_equal(P, P.T)
    assert np.linalg.eigvalsh(P).min() > 0


def test_fit_bptt_nonfinite_loss_names_the_window_and_restores_everything(rng):
    net = bptt_net(*arrays(rng))
    x = rng.standard_normal((30, 2))
    net.fit_bptt(x, np.zeros((30, 2)), lr=0.01, update_steps=10, verbose=False)
    before = net.bptt_parameters()
    state, step = net.state["rnn"].copy(), net._runner.step
    huge = np.full((30, 2), 1e200)  # finite targets whose squared error overflows
    with pytest.raises(SimulationError, match=r"fit_bptt: the loss is not finite .* steps 0-10"):
        with np.errstate(over="ignore"):
            net.fit_bptt(x, huge, lr=0.01, update_steps=10, verbose=False)
    with pytest.raises(SimulationError, match=r"the loss is not finite .* epoch 1, steps 0-30"):
        with np.errstate(over="ignore"):
            net.fit_bptt([x, x], [np.zeros((30, 2)), huge], lr=0.01, verbose=False)
    for name, arr in net.bptt_parameters().items():
        np.testing.assert_array_equal(arr, before[name])
    np.testing.assert_array_equal(net.state["rnn"], state)
    assert net._runner.step == step


def test_fit_bptt_nonfinite_parameters_after_a_step_are_refused(rng):
    net = bptt_net(*arrays(rng))
    before = net.bptt_parameters()
    x, y = rng.standard_normal((10, 2)), np.full((10, 2), 1e5)
    with pytest.raises(SimulationError, match=r"parameter '.*' after the optimizer step is not"):
        with np.errstate(over="ignore", invalid="ignore"):
            net.fit_bptt(x, y, lr=1e308, update_steps=10, verbose=False)
    for name, arr in net.bptt_parameters().items():
        np.testing.assert_array_equal(arr, before[name])


def test_fit_bptt_nonfinite_gradient_names_the_parameter(rng, monkeypatch):
    from rectinumba.training.bptt_engine import BPTTEngine

    net = bptt_net(*arrays(rng))
    before = net.bptt_parameters()
    window = BPTTEngine.window

    def poisoned(self, *args, **kwargs):
        value, grads, out = window(self, *args, **kwargs)
        grads["inp->rnn"] = grads["inp->rnn"] * np.nan
        return value, grads, out

    monkeypatch.setattr(BPTTEngine, "window", poisoned)
    with pytest.raises(SimulationError, match=r"the gradient of 'inp->rnn' is not finite"):
        net.fit_bptt(rng.standard_normal((10, 2)), np.zeros((10, 2)), update_steps=10,
                     verbose=False)  # fmt: skip
    for name, arr in net.bptt_parameters().items():
        np.testing.assert_array_equal(arr, before[name])


def test_fit_ridge_overflowing_sums_are_an_error_not_a_nan_readout():
    net = Network(1e-3)
    net.add_func_node("inp", 2)
    x = np.full((5, 2), 1e200)  # finite outputs whose products overflow
    with pytest.raises(SimulationError, match=r"fit_ridge: X\^T X or X\^T Y is not finite"):
        net.fit_ridge(x, np.ones((5, 1)), verbose=False, add_readout_node=False)
    assert net.nodes == ["inp"] and net._runner.step == 0


def test_bptt_gradients_refuse_a_nonfinite_loss_or_gradient(rng, monkeypatch):
    from rectinumba.training.bptt_engine import BPTTEngine

    net = bptt_net(*arrays(rng))
    x = rng.standard_normal((10, 2))
    state = net.state["rnn"].copy()
    with pytest.raises(SimulationError, match=r"bptt_gradients: the loss is not finite .*10 steps"):
        with np.errstate(over="ignore"):
            net.bptt_gradients(x, np.full((10, 2), 1e200))
    window = BPTTEngine.window

    def poisoned(self, *args, **kwargs):
        value, grads, out = window(self, *args, **kwargs)
        grads["inp->rnn"] = grads["inp->rnn"] * np.nan
        return value, grads, out

    monkeypatch.setattr(BPTTEngine, "window", poisoned)
    with pytest.raises(SimulationError, match=r"bptt_gradients: the gradient of 'inp->rnn'"):
        net.bptt_gradients(x, np.zeros((10, 2)))
    np.testing.assert_array_equal(net.state["rnn"], state)
