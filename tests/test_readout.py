"""Readout training on the compiled loop: fit_ridge, fit_rls (FORCE) and test.

References are plain numpy: the normal equations on the outputs of an untrained run, the RLS rule
written out step by step, and a numpy simulation of a rate network with a trained feedback loop.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from rectinumba import Network
from rectinumba.errors import NetworkError
from rectinumba.training import readout

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
DT = 0.1


def reservoir(J, W_in=None, v0=None) -> Network:
    """Leaky tanh rate population (tau = 1) whose output is the rate tanh(v)."""
    node_vars = {"tau": 1.0}
    if v0 is not None:
        node_vars["v"] = v0
    net = Network(DT)
    net.add_diffeq_node(
        "rnn",
        LI_TANH,
        weights=J,
        source_var="tanh_op/r",
        target_var="li_op/r_in",
        input_var="li_op/I_ext",
        output_var="tanh_op/r",
        node_vars=node_vars,
    )
    if W_in is not None:
        net.add_func_node("inp", W_in.shape[1])
        net.add_edge("inp", "rnn", weights=W_in)
    return net


def ridge_ref(X, Y, alpha, intercept):
    """Normal-equation solution; the intercept column is not penalised."""
    n = X.shape[1]
    if intercept:
        X = np.hstack([X, np.ones((X.shape[0], 1))])
    pen = np.eye(X.shape[1]) * alpha
    if intercept:
        pen[n, n] = 0.0
    W = np.linalg.solve(X.T @ X + pen, X.T @ Y)
    return W[:n], (W[n] if intercept else None)


def rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


def nrmse(pred, target) -> float:
    return float(np.sqrt(np.mean((pred - target) ** 2)) / np.std(target))


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def small(rng):
    N, m = 12, 2
    return rng.standard_normal((N, N)) * 1.2 / np.sqrt(N), rng.standard_normal((N, m))


# ---- ridge ---------------------------------------------------------------------------------
@pytest.fixture
def small_blocks(monkeypatch):
    """64-row ridge buffers, so that short runs fold full blocks inside the kernel."""
    monkeypatch.setattr(readout, "_block_rows", lambda n1: 64)


@pytest.mark.parametrize("intercept", [False, True])
def test_ridge_single_run_with_cutoff_and_sampling(rng, small, intercept, small_blocks):
    J, W_in = small
    T, k, cutoff, sampling, alpha = 1000, 3, 25, 3, 1e-3  # 325 rows: 5 blocks of 64 + 5 rows
    x = rng.standard_normal((T, 2))
    y = rng.standard_normal((T, k)) + 2.0  # an offset the intercept has to pick up
    X = reservoir(J, W_in).run(x, verbose=False)["out"]
    w_ref, b_ref = ridge_ref(X[cutoff::sampling], y[cutoff::sampling], alpha, intercept)

    net = reservoir(J, W_in)
    obs = net.fit_ridge(
        x,
        y,
        alpha=alpha,
        sampling_steps=sampling,
        cutoff=cutoff,
        verbose=False,
        fit_intercept=intercept,
        record_output=True,
    )
    assert obs["w_out"].shape == (J.shape[0], k)
    assert rel(obs["w_out"], w_ref) < 1e-8
    if intercept:
        assert rel(obs["intercept"], b_ref) < 1e-8
    else:
        assert "intercept" not in obs
    pred = X[cutoff::sampling] @ w_ref + (b_ref if intercept else 0.0)
    assert rel(obs["y"], pred) < 1e-8
    # the readout node reproduces the prediction on a fresh run from the initial state
    assert net.nodes[-1] == "readout" and net.n_out == k
    net.reset()
    out = net.run(x, verbose=False)["out"]
    assert rel(out[cutoff::sampling], pred) < 1e-8


@pytest.mark.parametrize("intercept", [False, True])
def test_ridge_list_of_epochs_resets_state_between_epochs(rng, small, intercept, small_blocks):
    J, W_in = small
    lengths, alpha = (300, 420, 250), 1e-2
    xs = [rng.standard_normal((T, 2)) for T in lengths]
    ys = [np.sin(np.arange(T) * 0.05)[:, None] * [1.0, -0.5] + 0.3 for T in lengths]
    Xs = [
        reservoir(J, W_in).run(x, verbose=False)["out"] for x in xs
    ]  # each from the initial state
    X = np.concatenate([X[10::2] for X in Xs])
    Y = np.concatenate([y[10::2] for y in ys])
    w_ref, b_ref = ridge_ref(X, Y, alpha, intercept)
    obs = reservoir(J, W_in).fit_ridge(
        xs,
        ys,
        alpha=alpha,
        cutoff=10,
        sampling_steps=2,
        verbose=False,
        fit_intercept=intercept,
        add_readout_node=False,
    )
    assert rel(obs["w_out"], w_ref) < 1e-8
    if intercept:
        assert rel(obs["intercept"], b_ref) < 1e-8
    # no state carried across epochs: a fit without reset would see other rows
    X_carry = reservoir(J, W_in).run(np.concatenate(xs), verbose=False)["out"]
    assert rel(X_carry[lengths[0] + 10], Xs[1][10]) > 1e-3


def test_ridge_batch_pools_all_trials(rng, small, small_blocks):
    J, W_in = small
    B, T, k, alpha = 3, 400, 2, 1e-3
    x = rng.standard_normal((B, T, 2))
    y = rng.standard_normal((B, T, k))
    X = reservoir(J, W_in).run(x, verbose=False)["out"]  # (B, T, n)
    w_ref, _ = ridge_ref(X[:, 5:].reshape(-1, J.shape[0]), y[:, 5:].reshape(-1, k), alpha, False)
    net = reservoir(J, W_in)
    obs = net.fit_ridge(x, y, alpha=alpha, cutoff=5, verbose=False, record_output=True)
    assert rel(obs["w_out"], w_ref) < 1e-8
    assert obs["out"].shape == (B, T - 5, J.shape[0]) and obs["y"].shape == (B, T - 5, k)


def test_ridge_errors(rng, small):
    J, W_in = small
    x, y = rng.standard_normal((50, 2)), rng.standard_normal((50, 1))
    with pytest.raises(NetworkError, match=r"targets of shape \(40, 1\) do not match inputs"):
        reservoir(J, W_in).fit_ridge(x, y[:40], verbose=False)
    with pytest.raises(NetworkError, match="alpha must be a non-negative"):
        reservoir(J, W_in).fit_ridge(x, y, alpha=-1.0, verbose=False)
    with pytest.raises(NetworkError, match="no step was recorded"):
        reservoir(J, W_in).fit_ridge(x, y, cutoff=50, verbose=False)
    with pytest.raises(NetworkError, match="list of 2 arrays too"):
        reservoir(J, W_in).fit_ridge([x, x], y, verbose=False)
    net = reservoir(J, W_in)
    net.fit_ridge(x, y, verbose=False)
    with pytest.raises(NetworkError, match="'readout' exists already"):
        net.fit_ridge(x, y, verbose=False)


def test_ridge_memory_does_not_grow_with_T(rng):
    # 40 units: a stored design matrix would take T * 40 * 8 bytes (38 MB at T = 120000); even
    # one byte per step (a boolean mask over the targets) would add 115 kB.
    N = 40
    J = rng.standard_normal((N, N)) / np.sqrt(N)
    W_in = rng.standard_normal((N, 1))
    peaks = []
    for T in (5000, 120_000):
        x, y = rng.standard_normal((T, 1)), rng.standard_normal((T, 1))
        net = reservoir(J, W_in)
        net.fit_ridge(x[:10], y[:10], verbose=False, add_readout_node=False)  # compile outside
        tracemalloc.start()
        net.fit_ridge(x, y, verbose=False, add_readout_node=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < peaks[0] + 50_000, peaks


# ---- RLS -----------------------------------------------------------------------------------
def rls_ref(X, Y, W, P, beta, update_steps):
    """The RLS rule (docs/guide/training.rst) step by step: W, P, outputs, squared errors."""
    outs, sq = [], []
    for t in range(len(X)):
        x = X[t]
        e = Y[t] - W @ x
        outs.append(W @ x)
        sq.append(np.mean(e**2))
        if t % update_steps == 0:
            z = P @ x / beta
            k = 1.0 / (1.0 + x @ z)
            W = W + k * np.outer(e, z)
            P = P / beta - k * np.outer(z, z)
    return W, P, np.array(outs), np.array(sq)


def readout_net(J, W_in, W0):
    net = reservoir(J, W_in)
    net.add_func_node("readout", W0.shape[0])
    net.add_edge("rnn", "readout", weights=W0.copy(), train="rls")
    return net


def test_rls_update_matches_numpy_rule(rng, small):
    J, W_in = small
    N, k, T, beta, alpha, every = J.shape[0], 2, 30, 0.97, 0.5, 3
    W0 = rng.standard_normal((k, N)) * 0.1
    xs = [rng.standard_normal((T, 2)), rng.standard_normal((T + 7, 2))]
    ys = [rng.standard_normal((T, k)), rng.standard_normal((T + 7, k))]
    net = readout_net(J, W_in, W0)
    weights = net.get_edge("rnn", "readout").weights
    obs = net.fit_rls(
        xs, ys, update_steps=every, beta=beta, alpha=alpha, sampling_steps=2, verbose=False
    )
    W, P = W0, alpha * np.eye(N)
    outs, losses, epoch = [], [], []
    for x, y in zip(xs, ys, strict=True):
        X = reservoir(J, W_in).run(x, verbose=False)["out"]  # the edge's input, state reset
        W, P, o, sq = rls_ref(X, y, W, P, beta, every)
        outs.append(o[::2])
        losses.append(sq[::2])
        epoch.append(sq.mean())
    edge = net.get_edge("rnn", "readout")
    # trained in place, inside the kernel: the read-only view taken before the fit shows it
    assert np.shares_memory(edge.weights, weights) and not weights.flags.writeable
    assert rel(weights, W) < 1e-10
    assert rel(edge.weights, W) < 1e-10
    assert rel(edge.rls_P, P) < 1e-10
    assert rel(obs["w_out"], W) < 1e-10
    assert rel(obs["out"], np.concatenate(outs)) < 1e-10
    assert rel(obs["loss"], np.concatenate(losses)) < 1e-10
    assert rel(obs["epoch_loss"], np.array(epoch)) < 1e-10


def test_rls_P_persists_across_calls_unless_reset(rng, small):
    J, W_in = small
    N, T = J.shape[0], 60
    W0 = rng.standard_normal((1, N))
    x, y = rng.standard_normal((T, 2)), rng.standard_normal((T, 1))
    whole = readout_net(J, W_in, W0)
    whole.fit_rls(x, y, update_steps=2, verbose=False)
    split = readout_net(J, W_in, W0)
    split.fit_rls(x[:20], y[:20], update_steps=2, verbose=False)
    split.fit_rls(x[20:], y[20:], update_steps=2, verbose=False)
    assert (
        rel(split.get_edge("rnn", "readout").weights, whole.get_edge("rnn", "readout").weights)
        < 1e-12
    )
    again = readout_net(J, W_in, W0)
    again.fit_rls(x[:20], y[:20], update_steps=2, verbose=False)
    again.fit_rls(x[20:], y[20:], update_steps=2, verbose=False, reset_P=True)
    assert (
        rel(again.get_edge("rnn", "readout").weights, whole.get_edge("rnn", "readout").weights)
        > 1e-6
    )


def test_rls_learns_phase_shift_and_third_harmonic(rng):
    N = 150
    J = rng.standard_normal((N, N)) * 0.9 / np.sqrt(N)
    W_in = rng.uniform(-1.5, 1.5, (N, 2))
    net = readout_net(J, W_in, np.zeros((2, N)))
    w = 2 * np.pi / 10.0  # period: 10 time constants
    t = np.arange(6000) * DT
    x = np.stack([np.sin(w * t), np.cos(w * t)], axis=1)
    y = np.stack([np.sin(w * t + 1.0), np.sin(3 * w * t)], axis=1)
    net.run(x[:200], verbose=False)  # washout
    obs = net.fit_rls(x[200:4500], y[200:4500], verbose=False)
    assert obs["loss"][-5:].max() < 1e-2 * obs["loss"][:2].max()
    test_obs, loss = net.test(x[4500:], y[4500:], verbose=False)
    pred = test_obs["out"]
    for j in range(2):
        assert nrmse(pred[:, j], y[4500:, j]) < 0.2
    assert loss == pytest.approx(np.mean((pred - y[4500:]) ** 2), rel=1e-12)


def force_ref(J, W_fb, W0, v0, T, y, beta, alpha, every):
    """numpy FORCE loop: rate population, trained readout fed back with one step delay."""
    v, W, P = v0.copy(), W0.copy(), alpha * np.eye(len(v0))
    prev = np.zeros(W.shape[0])
    outs = []
    for t in range(T):
        r = np.tanh(v)  # output of the population: pre-update rate
        z = W @ r
        outs.append(z)
        e = y[t] - z
        if t % every == 0:
            q = P @ r / beta
            k = 1.0 / (1.0 + r @ q)
            W = W + k * np.outer(e, q)
            P = P / beta - k * np.outer(q, q)
        v = v + DT * (-v + J @ r + W_fb @ prev)
        prev = z
    return W, np.array(outs)


def force_net(J, W_fb, v0):
    net = reservoir(J, v0=v0)
    net.add_func_node("readout", W_fb.shape[1])
    net.add_edge("rnn", "readout", weights=np.zeros((W_fb.shape[1], J.shape[0])), train="rls")
    net.add_edge("readout", "rnn", weights=W_fb, feedback=True)
    return net


def test_rls_with_feedback_matches_numpy_reference(rng):
    N, T = 20, 80
    J = rng.standard_normal((N, N)) * 1.5 / np.sqrt(N)
    W_fb, v0 = rng.uniform(-1, 1, (N, 1)), rng.standard_normal(N)
    y = np.sin(np.arange(T) * 0.3)[:, None]
    net = force_net(J, W_fb, v0)
    obs = net.fit_rls(np.zeros((T, N)), y, update_steps=2, sampling_steps=1, verbose=False)
    W, outs = force_ref(J, W_fb, np.zeros((1, N)), v0, T, y, 1.0, 1.0, 2)
    assert rel(net.get_edge("rnn", "readout").weights, W) < 1e-10
    assert rel(obs["out"], outs) < 1e-10


def test_force_learns_periodic_target_autonomously(rng):
    N, period = 300, 20.0  # period in time constants
    J = rng.standard_normal((N, N)) * 1.5 / np.sqrt(N)  # g = 1.5: chaotic
    net = force_net(J, rng.uniform(-1, 1, (N, 1)), rng.standard_normal(N) * 0.5)
    steps = int(period / DT)
    rates = net.run(np.zeros((3 * steps, N)), verbose=False, record_vars=[("rnn", "tanh_op/r")])[
        ("rnn", "tanh_op/r")
    ]
    assert rates[steps:].std(axis=0).mean() > 0.3  # spontaneous activity keeps fluctuating

    def target(n0, n):
        t = np.arange(n0, n0 + n) * DT
        return (np.sin(2 * np.pi * t / period) + 0.5 * np.sin(4 * np.pi * t / period))[:, None]

    T_train, T_test = 25 * steps, 5 * steps
    net.fit_rls(np.zeros((T_train, N)), target(3 * steps, T_train), update_steps=2, verbose=False)
    obs, _ = net.test(np.zeros((T_test, N)), target(28 * steps, T_test), verbose=False)
    assert nrmse(obs["out"], target(28 * steps, T_test)) < 0.2


def test_rls_errors(rng, small):
    J, W_in = small
    x, y = rng.standard_normal((20, 2)), rng.standard_normal((20, 1))
    with pytest.raises(NetworkError, match="exactly one edge added with train='rls'; found 0"):
        reservoir(J, W_in).fit_rls(x, y, verbose=False)
    net = readout_net(J, W_in, np.zeros((1, J.shape[0])))
    with pytest.raises(NetworkError, match=r"batched inputs \(B, T, m\) are not supported"):
        net.fit_rls(np.stack([x, x]), np.stack([y, y]), verbose=False)
    with pytest.raises(NetworkError, match="targets have 2 columns but the trained edge"):
        net.fit_rls(x, np.hstack([y, y]), verbose=False)
    with pytest.raises(NetworkError, match=r"beta must be in \(0, 1\]"):
        net.fit_rls(x, y, beta=1.5, verbose=False)


# ---- test() and progress -------------------------------------------------------------------
def test_test_scores_sampled_outputs(rng, small):
    J, W_in = small
    W_out = rng.standard_normal((3, J.shape[0]))
    x, y = rng.standard_normal((200, 2)), rng.standard_normal((200, 3))
    net = reservoir(J, W_in)
    net.add_func_node("readout", 3, "softmax")
    net.add_edge("rnn", "readout", weights=W_out)
    out = net.run(x, verbose=False)["out"]
    net.reset()
    obs, loss = net.test(x, y, loss="l1", cutoff=10, sampling_steps=4, verbose=False)
    assert rel(obs["out"], out[10::4]) < 1e-12
    assert loss == pytest.approx(np.mean(np.abs(out[10::4] - y[10::4])), rel=1e-12)
    labels = rng.integers(0, 3, 200)
    net.reset()
    _, ce = net.test(x, labels, loss="ce", verbose=False)
    logp = out - np.log(np.exp(out).sum(axis=1, keepdims=True))  # ce takes logits: here the softmax
    assert ce == pytest.approx(-np.mean(logp[np.arange(200), labels]), rel=1e-12)


def test_verbose_fit_reports_progress(rng, small, capsys):
    J, W_in = small
    xs = [rng.standard_normal((30, 2)) for _ in range(3)]
    ys = [rng.standard_normal((30, 1)) for _ in range(3)]
    reservoir(J, W_in).fit_ridge(xs, ys, verbose=True)
    assert "fit_ridge epochs" in capsys.readouterr().err
    reservoir(J, W_in).fit_ridge(xs, ys, verbose=False)
    assert capsys.readouterr().err == ""


def test_failed_fits_leave_weights_P_and_state_unchanged():
    """A state that becomes non-finite during fit_rls/fit_ridge raises SimulationError and the
    network (W, P, states) is as it was before the call."""
    from rectinumba.errors import SimulationError

    net = Network(1e-2)
    net.add_diffeq_node("q", "model_templates.spiking_neurons.qif.qif", N=3, input_var="I_ext",
                        output_var="s", op="qif_op", node_vars={"eta": 50.0, "v": -30.0})
    net.add_func_node("ro", 2)
    net.add_edge("q", "ro", train="rls", weights=np.ones((2, 3)))
    net.fit_rls(np.zeros((3, 3)), np.ones((3, 2)), verbose=False)
    W, P = net.get_edge("q", "ro").weights.copy(), net.get_edge("q", "ro").rls_P.copy()
    state = net.state["q"].copy()
    with pytest.raises(SimulationError, match="became non-finite"):
        net.fit_rls([np.zeros((5, 3)), np.zeros((3000, 3))], [np.ones((5, 2)), np.ones((3000, 2))],
                    verbose=False)
    np.testing.assert_array_equal(net.get_edge("q", "ro").weights, W)
    np.testing.assert_array_equal(net.get_edge("q", "ro").rls_P, P)
    np.testing.assert_array_equal(net.state["q"], state)
    with pytest.raises(SimulationError, match="became non-finite"):
        net.fit_ridge([np.zeros((5, 3)), np.zeros((3000, 3))],
                      [np.ones((5, 2)), np.ones((3000, 2))], verbose=False)
    np.testing.assert_array_equal(net.state["q"], state)
    assert "readout" not in net.nodes
