"""BPTT gradients from the generated adjoint kernels against central finite differences of the
simulation (net.run), and against a hand-written numpy adjoint of a LIF network with the surrogate
spike derivative. float64, small networks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from rectinumba import Network
from rectinumba.errors import NetworkError
from rectinumba.templates import NodeTemplate, OperatorTemplate

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
LI_SIGMOID = "model_templates.rate_neurons.leaky_integrator.sigmoid"
LIF = "model_templates.spiking_neurons.lif.lif"


def mse(out, y):
    return float(np.mean((out - y) ** 2))


def rate_net(
    rng,
    template,
    *,
    N=4,
    m=2,
    k=2,
    sparse=False,
    act="tanh",
    train=("weights", "li_op/tau"),
    feedback=False,
):
    J = rng.standard_normal((N, N)) * 0.8
    if sparse:
        J = sp.csr_matrix(J * (rng.random((N, N)) < 0.5))
    net = Network(0.1)
    src = "tanh_op/r" if template.endswith("tanh") else "sigmoid_op/r"
    net.add_diffeq_node(
        "rnn",
        template,
        weights=J,
        source_var=src,
        target_var="li_op/r_in",
        input_var="li_op/I_ext",
        output_var="li_op/v",
        train_params=list(train),
        sparse=sparse,
        node_vars={"li_op/tau": 1.0 + rng.random(N)},
    )
    net.add_func_node("inp", m, "identity")
    net.add_func_node("out", k, act)
    W_in = rng.standard_normal((N, m))
    if sparse:  # a CSR edge too: gradient only on its stored entries
        W_in = sp.csr_matrix(W_in * (rng.random((N, m)) < 0.7))
    net.add_edge("inp", "rnn", weights=W_in, train="gd", sparse=sparse)
    net.add_edge("rnn", "out", weights=rng.standard_normal((k, N)) * 0.5, train="gd")
    if feedback:
        net.add_edge(
            "out", "rnn", weights=rng.standard_normal((N, k)) * 0.5, train="gd", feedback=True
        )
    return net


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("template", [LI_TANH, LI_SIGMOID])
@pytest.mark.parametrize("sparse", [False, True])
def test_rate_gradients_match_finite_differences(fd_gradients, assert_close, rng, template, sparse):
    T = 30
    net = rate_net(rng, template, sparse=sparse)
    x = rng.standard_normal((T, 2))
    y = rng.standard_normal((T, 2)) * 0.5
    grads = net.bptt_gradients(x, y)
    assert set(grads) == {"rnn/weights", "rnn/li_op/tau", "inp->rnn", "rnn->out"}
    J = net.get_var("rnn", "weights")
    assert sp.issparse(J) == sparse
    if sparse:  # gradient only on stored entries: one value per stored weight
        assert grads["rnn/weights"].shape == (J.nnz,)
        assert grads["inp->rnn"].shape == (net.get_edge("inp", "rnn").weights.nnz,)
    assert_close(grads, fd_gradients(net, x, y))


def test_truncated_window_from_carried_state_and_batches(fd_gradients, assert_close, rng):
    net = rate_net(rng, LI_TANH)
    net.run(rng.standard_normal((25, 2)), verbose=False)  # carried, non-zero state
    state = net.state
    x = rng.standard_normal((3, 20, 2))
    y = rng.standard_normal((3, 20, 2)) * 0.5
    grads = net.bptt_gradients(x, y)
    after = net.state
    for label in state:  # bptt_gradients leaves the state alone
        np.testing.assert_array_equal(state[label], after[label])
    assert_close(grads, fd_gradients(net, x, y, state=state))
    # the trial average: each trial alone, averaged, gives the batch gradient
    single = [net.bptt_gradients(x[b], y[b]) for b in range(3)]
    for name, g in grads.items():
        np.testing.assert_allclose(
            g, np.mean([s[name] for s in single], axis=0), rtol=1e-10, atol=1e-14
        )


CHAINS = {
    # every activation function, chained behind the rnn with trained edges between layers
    "a": ("relu", "softplus", "softmin", "log_softmax"),
    "b": ("sigmoid", "identity", "softmax"),
}


@pytest.mark.parametrize(
    "chain, loss", [("a", "nll"), ("b", "mse"), ("b", "kld"), ("b", "l1"), ("b", "ce")]
)
def test_activations_losses_and_feedback_edge(fd_gradients, assert_close, rng, chain, loss):
    from rectinumba.training.losses import get_loss

    T, k = 15, 3
    net = rate_net(rng, LI_TANH, k=k, act="tanh", feedback=True, train=("weights",))
    prev = "out"
    for q, act in enumerate(CHAINS[chain]):
        net.add_func_node(f"f{q}", k, act)
        net.add_edge(prev, f"f{q}", weights=rng.standard_normal((k, k)), train="gd")
        prev = f"f{q}"
    x = rng.standard_normal((T, 2))
    if loss in ("nll", "ce"):
        y = rng.integers(0, k, T)
    elif loss == "kld":
        y = rng.random((T, k))
        y /= y.sum(axis=1, keepdims=True)
    else:
        y = rng.standard_normal((T, k))
    fn = get_loss(loss)
    grads = net.bptt_gradients(x, y, loss=loss)
    assert len(grads) == 4 + len(CHAINS[chain])
    assert_close(grads, fd_gradients(net, x, y, loss=lambda o, t: fn.value(o, t)), tol=2e-6)


def custom_template():
    """Two states, an algebraic source with exp, a population mean, algebraic output."""
    op = OperatorTemplate(
        "cx_op",
        [
            "v' = -v/tau + k*r_in + I_ext + a*mean(r) + c*sigmoid(v)*u",
            "u' = (v - u)/tau_u",
            "r = tanh(v)*exp(-0.1*u^2)",
        ],
        {
            "v": "variable(0.1)",
            "u": "variable(0)",
            "r": "output(0)",
            "tau": 2.0,
            "k": 1.0,
            "a": 0.5,
            "c": 0.3,
            "tau_u": 3.0,
            "r_in": "input(0)",
            "I_ext": "input(0)",
        },
    )
    return NodeTemplate("cx", [op])


def test_reductions_two_states_algebraic_output(fd_gradients, assert_close, rng):
    N, T = 4, 25
    net = Network(0.1)
    net.add_diffeq_node(
        "cx",
        custom_template(),
        weights=rng.standard_normal((N, N)),
        source_var="r",
        target_var="r_in",
        input_var="I_ext",
        output_var="r",
        train_params=["weights", "tau", "a", "tau_u"],
    )
    net.add_func_node("inp", 2, "identity")
    net.add_edge("inp", "cx", weights=rng.standard_normal((N, 2)), train="gd")
    x = rng.standard_normal((T, 2))
    y = rng.standard_normal((T, N)) * 0.3
    assert_close(net.bptt_gradients(x, y), fd_gradients(net, x, y))


def test_checkpointing_gives_the_same_gradients(rng):
    net = rate_net(rng, LI_TANH, feedback=True)
    x = rng.standard_normal((50, 2))
    y = rng.standard_normal((50, 2))
    full = net.bptt_gradients(x, y)
    for K in (7, 25, 49):
        chk = net.bptt_gradients(x, y, checkpoint=K)
        for name in full:
            np.testing.assert_allclose(chk[name], full[name], rtol=1e-12, atol=1e-15)


def test_forward_pass_matches_run(rng):
    net = rate_net(rng, LI_SIGMOID, feedback=True)
    x = rng.standard_normal((40, 2))
    ref_out = net.run(x, verbose=False)["out"]
    net.reset()
    fit = net.fit_bptt(x, np.zeros((40, 2)), lr=0.0, update_steps=40, verbose=False)
    np.testing.assert_allclose(fit["out"], ref_out, rtol=1e-12, atol=1e-14)


# ---- spiking: a hand-written numpy adjoint of the same surrogate rule ----------------------------
def lif_reference(x, W_in, J, W_out, y, dt, thr, reset, tau, tau_s, slope):
    """Forward as tests/reference.lif (input through W_in, readout W_out of s); mse loss; returns
    the loss gradients for W_in, J, W_out, tau by the surrogate rule written out by hand."""
    T, N = x.shape[0], J.shape[0]
    v, s = np.zeros(N), np.zeros(N)
    vs, ss, spks, outs = [], [], [], []
    for t in range(T):
        spk = (v >= thr).astype(float)
        vs.append(v.copy()), ss.append(s.copy()), spks.append(spk)
        outs.append(W_out @ s)
        dv = -v / tau + J @ s + W_in @ x[t]
        ds = -s / tau_s + spk / dt
        v, s = v + dt * dv, s + dt * ds
        v[spk > 0] = reset
    outs = np.array(outs)
    gout = 2.0 * (outs - y) / outs.size
    lv, ls = np.zeros(N), np.zeros(N)
    g = {
        "W_in": np.zeros_like(W_in),
        "J": np.zeros_like(J),
        "W_out": np.zeros_like(W_out),
        "tau": np.zeros(N),
    }
    for t in reversed(range(T)):
        v, s, spk = vs[t], ss[t], spks[t]
        fv = dt * lv * (1 - spk)  # reset neurons: v_{t+1} passes no gradient
        fs = dt * ls
        g["W_in"] += np.outer(fv, x[t])
        g["J"] += np.outer(fv, s)
        g["tau"] += fv * v / tau**2
        g["W_out"] += np.outer(gout[t], s)
        surrogate = 1.0 / (1.0 + slope * np.abs(v - thr)) ** 2
        lv_new = lv * (1 - spk) - fv / tau + fs / dt * surrogate
        ls = ls - fs / tau_s + J.T @ fv + W_out.T @ gout[t]
        lv = lv_new
    return outs, g


@pytest.mark.parametrize(
    "sparse, propagation", [(False, "matvec"), (True, "matvec"), (True, "event")]
)
def test_lif_surrogate_gradients_match_numpy_reference(rng, sparse, propagation):
    """Also with event-driven coupling forced: the run takes it, BPTT the matvec path."""
    N, m, k, T, dt, thr, reset = 6, 2, 2, 120, 0.05, 1.0, 0.0
    J = rng.standard_normal((N, N)) * 0.5 * (rng.random((N, N)) < 0.6)
    W_in = rng.random((N, m)) * 2.0 + 1.0
    W_out = rng.standard_normal((k, N))
    tau = 2.0 + rng.random(N)
    x = rng.random((T, m)) * 2.0
    y = rng.standard_normal((T, k)) * 0.2
    net = Network(dt)
    net.add_diffeq_node(
        "lif",
        LIF,
        weights=sp.csr_matrix(J) if sparse else J,
        source_var="s",
        target_var="s_in",
        input_var="I_ext",
        output_var="s",
        op="lif_op",
        spike_var="spike",
        spike_def="v",
        spike_threshold=thr,
        spike_reset=reset,
        sparse=sparse,
        train_params=["weights", "tau"],
        node_vars={"tau": tau},
        propagation=propagation,
    )
    net.add_func_node("inp", m, "identity")
    net.add_func_node("out", k, "identity")
    net.add_edge("inp", "lif", weights=W_in, train="gd")
    net.add_edge("lif", "out", weights=W_out, train="gd")
    slope = net.get_node("lif").spike_slope
    assert slope == pytest.approx(200.0)
    outs, g_ref = lif_reference(x, W_in, J, W_out, y, dt, thr, reset, tau, 0.5, slope)
    obs = net.run(x, verbose=False, record_vars=[("lif", "v")])
    net.reset()
    np.testing.assert_allclose(obs["out"], outs, rtol=1e-10, atol=1e-12)
    n_spikes = int((obs[("lif", "v")] == reset).sum())
    assert n_spikes > 10  # resets and surrogate paths are exercised
    grads = net.bptt_gradients(x, y)
    Jg = grads["lif/weights"]
    if sparse:
        Jm = net.get_var("lif", "weights")
        dense = np.zeros((N, N))
        dense[Jm.nonzero()] = 0.0
        rows = np.repeat(np.arange(N), np.diff(Jm.indptr))
        dense[rows, Jm.indices] = Jg
        np.testing.assert_allclose(dense, g_ref["J"] * (J != 0), rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_allclose(Jg, g_ref["J"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads["lif/lif_op/tau"], g_ref["tau"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads["inp->lif"], g_ref["W_in"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads["lif->out"], g_ref["W_out"], rtol=1e-9, atol=1e-12)
    assert np.abs(g_ref["W_in"]).max() > 1e-6
    if propagation == "event":  # training changes J in place: the event path sees the new J
        net.fit_bptt(x, y, lr=0.05, update_steps=T, verbose=False)
        runs = {}
        for mode in ("matvec", "event"):
            net.reset()
            net.get_node("lif").propagation = mode
            runs[mode] = net.run(x, verbose=False)["out"]
        np.testing.assert_allclose(runs["event"], runs["matvec"], rtol=1e-10, atol=1e-12)
        assert np.abs(runs["event"] - outs).max() > 1e-6  # J did change


def test_fit_bptt_truncated_steps_equal_manual_sgd(rng):
    net = rate_net(rng, LI_TANH)
    twin = rate_net(np.random.default_rng(7), LI_TANH)
    x = rng.standard_normal((50, 2))
    y = rng.standard_normal((50, 2)) * 0.5
    lr = 0.05
    obs = net.fit_bptt(x, y, lr=lr, update_steps=20, verbose=False, record_vars=[("rnn", "v")])
    # manual: windows 0-20, 20-40, 40-50, state carried, one sgd step each
    losses = []
    for s, e in ((0, 20), (20, 40), (40, 50)):
        g = twin.bptt_gradients(x[s:e], y[s:e])
        # the loss with the old parameters; the run carries the state on
        losses.append(mse(twin.run(x[s:e], verbose=False)["out"], y[s:e]))
        for name, arr in twin._trainable_arrays().items():
            arr -= lr * np.asarray(g[name]).reshape(arr.shape)
    np.testing.assert_allclose(obs["loss"], losses, rtol=1e-10)
    for name, arr in net.bptt_parameters().items():
        np.testing.assert_allclose(arr, twin.bptt_parameters()[name], rtol=1e-10, atol=1e-13)
    assert obs["out"].shape == (50, 2) and obs[("rnn", "v")].shape == (50, 4)
    np.testing.assert_allclose(obs[("rnn", "v")][-1], net.get_var("rnn", "v"), rtol=1e-12)


def test_epoch_list_resets_state_and_records_epoch_loss(rng):
    net = rate_net(rng, LI_TANH)
    xs = [rng.standard_normal((12, 2)) for _ in range(3)]
    ys = [rng.standard_normal((12, 2)) for _ in range(3)]
    obs = net.fit_bptt(xs, ys, optimizer="adam", lr=1e-2, verbose=False)
    assert obs["loss"].shape == (3,) and obs["epoch_loss"].shape == (3,)
    np.testing.assert_allclose(obs["loss"], obs["epoch_loss"])
    assert obs["out"].shape == (36, 2)


def test_errors(rng):
    net = rate_net(rng, LI_TANH, train=())
    net.get_edge("inp", "rnn").train = None
    net.get_edge("rnn", "out").train = None
    with pytest.raises(NetworkError, match="nothing to train"):
        net.fit_bptt(np.zeros((5, 2)), np.zeros((5, 2)), verbose=False)
    net = rate_net(rng, LI_TANH)
    with pytest.raises(NetworkError, match="state variables only"):
        net.fit_bptt(np.zeros((5, 2)), np.zeros((5, 2)), verbose=False, record_vars=[("rnn", "r")])
    with pytest.raises(NetworkError, match="unknown keyword"):
        net.fit_bptt(np.zeros((5, 2)), np.zeros((5, 2)), verbose=False, epochs=3)
    with pytest.raises(NetworkError, match="checkpoint must be"):
        net.bptt_gradients(np.zeros((5, 2)), np.zeros((5, 2)), checkpoint=0)
