"""Delays: ``past(x, d)`` / ``x(t - d)`` in equations and delayed edges, against numpy ring
buffers written here. Delays round to whole steps, ``k = rint(d / dt)`` (halves to even); the
history before the first step is the state's value then (zero for edges); histories carry over
between runs, are per trial, can be read and given, and a failed run leaves them as they were."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from rectinumba import Network
from rectinumba.equations import compile_node
from rectinumba.errors import EquationError, NetworkError, SimulationError
from rectinumba.templates import NodeTemplate, OperatorTemplate

DT = 0.125  # a power of two: the delays below are exact multiples of dt/2
# delays per neuron: 0 steps, under half a step (0), exactly half a step (0: half to even),
# 1.5 steps (2), 2.5 steps (2), 3 steps and 10 steps
DELAYS = np.array([0.0, 0.05, 0.0625, 0.1875, 0.3125, 0.375, 1.25])
N = len(DELAYS)
TAU, K1, K2 = 1.0, -1.2, 0.4


def dde_template() -> NodeTemplate:
    """x' = -x/tau + k1*x(t - d) + k2*past(x, 2*d) + I: two reads of one state's history."""
    op = OperatorTemplate(
        "dde_op",
        equations=["x' = -x/tau + k1*x(t - d) + k2*past(x, 2*d) + I"],
        variables={"x": "output(0.5)", "tau": TAU, "k1": K1, "k2": K2, "d": 0.2,
                   "I": "input(0.0)"},
    )  # fmt: skip
    return NodeTemplate("dde", operators=[op])


class Ring:
    """A numpy ring buffer of one value per neuron and trial, the reference's history."""

    def __init__(self, first: np.ndarray, length: int) -> None:
        self.buf = np.repeat(first[:, None, :], length, axis=1)  # constant history
        self.n = 0

    def push(self, value: np.ndarray) -> None:
        self.buf[:, self.n % self.buf.shape[1]] = value

    def read(self, steps: np.ndarray) -> np.ndarray:  # steps (B, N)
        L = self.buf.shape[1]
        slot = (self.n - steps) % L
        return np.take_along_axis(self.buf, slot[:, None, :], axis=1)[:, 0]

    def advance(self) -> None:
        self.n += 1


def dde_reference(x0, d, inputs, history=None):
    """Euler steps of the DDE for B trials; ``history`` (B, H, N) oldest first, or constant."""
    k1_steps = np.rint(d / DT).astype(int)
    k2_steps = np.rint(2 * d / DT).astype(int)
    L = int(max(k1_steps.max(), k2_steps.max())) + 1
    ring = Ring(x0, max(L, 1 if history is None else history.shape[1]))
    if history is not None:
        H = history.shape[1]
        ring.buf[:, (-np.arange(H, 0, -1)) % ring.buf.shape[1]] = history
    x, out = x0.copy(), []
    for I in inputs.transpose(1, 0, 2):
        ring.push(x)
        x = x + DT * (-x / TAU + K1 * ring.read(k1_steps) + K2 * ring.read(k2_steps) + I)
        ring.advance()
        out.append(x.copy())
    return np.stack(out, axis=1)


@pytest.fixture(scope="module")
def dde():
    """A batched DDE network (2 trials with their own delays) and its inputs."""
    rng = np.random.default_rng(4)
    d = np.stack([DELAYS, DELAYS[::-1]])  # (B, N): every trial its own per-neuron delays
    net = Network(DT)
    net.add_diffeq_node("dde", dde_template(), N=N, input_var="I", output_var="x",
                        node_vars={"d": d})
    inputs = 0.3 * rng.standard_normal((2, 60, N))
    return net, d, inputs


def record(net, inputs):
    return net.run(inputs, verbose=False, record_vars=[("dde", "x")])[("dde", "x")]


# ---- the equations ------------------------------------------------------------------------------
@pytest.mark.nocompile
def test_x_of_t_minus_d_is_past_and_delays_are_parameters_or_numbers():
    model = compile_node(dde_template())
    assert model.delays == (("@past0", "dde_op/x", 1.0, "dde_op/d"),
                            ("@past1", "dde_op/x", 2.0, "dde_op/d"))  # fmt: skip
    op = OperatorTemplate("o", equations=["x' = past(x, tau/2) + x(t - 0.5*tau) + x(t-3) + x(t)"],
                          variables={"x": "output(0.0)", "tau": 1.0})  # fmt: skip
    m = compile_node(op)
    assert m.delays == (("@past0", "o/x", 0.5, "o/tau"), ("@past1", "o/x", 3.0, None))
    x, p0, p1 = (sympy_symbol(n) for n in ("o/x", "@past0", "@past1"))
    assert m.derivative_map["o/x"] == 2 * p0 + p1 + x  # one read per (state, delay); x(t) is x


def sympy_symbol(name):
    import sympy

    return sympy.Symbol(name, real=True)


@pytest.mark.nocompile
@pytest.mark.parametrize(
    "equation, match",
    [
        ("x' = past(r, 1)", r"past\(\) reads the history of a state variable.*'r' is not one"),
        ("x' = r(t - 1)", r"'r' is not one"),
        ("x' = past(x, -1)", r"a delay must not be negative, got -1.0"),
        ("x' = past(x, x)", r"the delay o/x is not a number or a parameter"),
        ("x' = past(x, tau*tau)", r"not a number or a parameter"),
        ("x' = past(x, I)", r"not a number or a parameter \(it uses o/I\)"),
        ("x' = past(x)", r"past takes exactly 2 arguments"),
        ("x' = past(2, 1)", r"first argument of past\(\) must be a declared variable"),
        ("x' = x(2)", r"call it only with a delayed time, x\(t - d\)"),
        ("x' = x(t + 1)", r"call it only with a delayed time"),
    ],
)
def test_delay_errors_point_at_the_construct(equation, match):
    op = OperatorTemplate("o", equations=[equation, "r = 2*x"],
                          variables={"x": "output(0.0)", "r": "variable(0.0)", "tau": 1.0,
                                     "I": "input(0.0)"})  # fmt: skip
    with pytest.raises(EquationError, match=match) as info:
        compile_node(op)
    assert "^" in str(info.value)  # a caret under the construct


# ---- past() against a numpy ring buffer ---------------------------------------------------------
def test_delayed_feedback_matches_a_numpy_ring_buffer(dde):
    net, d, inputs = dde
    net.reset()
    x = record(net, inputs)
    ref = dde_reference(np.full((2, N), 0.5), d, inputs)
    np.testing.assert_allclose(x, ref, rtol=1e-12, atol=1e-14)
    # the delays differ per neuron and per trial, so the trajectories do too
    assert np.abs(x[0] - x[1]).max() > 1e-3 and np.abs(np.diff(x[0], axis=1)).max() > 1e-3


def test_two_runs_equal_one_and_the_history_is_readable(dde):
    net, d, inputs = dde
    net.reset()
    whole = record(net, inputs)
    hist_whole = net.get_history("dde", "x")
    net.reset()
    first, second = record(net, inputs[:, :25]), record(net, inputs[:, 25:])
    np.testing.assert_array_equal(np.concatenate([first, second], axis=1), whole)
    np.testing.assert_array_equal(net.get_history("dde", "x"), hist_whole)
    # the history is the trajectory: row -j is x j steps before the next step (20 kept: 2*1.25/dt)
    assert hist_whole.shape == (2, 21, N)
    np.testing.assert_array_equal(hist_whole[:, -1], whole[:, -2])
    np.testing.assert_array_equal(hist_whole[:, -21:-1], whole[:, -22:-2])


def test_a_given_history_is_what_past_reads(dde):
    net, d, inputs = dde
    net.reset()
    history = np.random.default_rng(5).standard_normal((2, 4, N))  # shorter than 20 steps:
    net.set_history("dde", "x", history)  # older values repeat the oldest row
    x = record(net, inputs)
    padded = np.concatenate([np.repeat(history[:, :1], 17, axis=1), history], axis=1)
    ref = dde_reference(np.full((2, N), 0.5), d, inputs, history=padded)
    np.testing.assert_allclose(x, ref, rtol=1e-12, atol=1e-14)
    net.reset()  # forgets it: constant again, the state's value
    np.testing.assert_array_equal(net.get_history("dde", "x"), np.full((20, N), 0.5))


def test_a_failed_run_leaves_state_and_history_and_longer_delays_keep_the_past(dde):
    net, d, inputs = dde
    net.reset()
    record(net, inputs[:, :30])
    before_hist, before_state = net.get_history("dde", "x"), net.get_var("dde", "x")
    net.set_var("dde", "k2", 1e12)  # the delayed feedback explodes
    with pytest.raises(SimulationError, match="keeps the state it had before this run"):
        record(net, inputs)
    net.set_var("dde", "k2", K2)
    np.testing.assert_array_equal(net.get_history("dde", "x"), before_hist)
    np.testing.assert_array_equal(net.get_var("dde", "x"), before_state)
    # a longer delay (a value: no new kernel) lengthens the history; older steps repeat
    kernels = dict(net._runner._compiled)
    net.set_var("dde", "d", 2 * d)
    record(net, np.zeros((2, 1, N)))
    assert all(net._runner._compiled[k][3] is kernel[3] for k, kernel in kernels.items())
    hist = net.get_history("dde", "x")
    assert hist.shape == (2, 41, N)
    np.testing.assert_array_equal(hist[:, -22:-1], before_hist)  # the 21 values kept before
    np.testing.assert_array_equal(hist[:, :20], np.repeat(before_hist[:, :1], 20, axis=1))
    net.set_var("dde", "d", d)


def test_history_arguments_are_checked(dde):
    net, d, inputs = dde
    with pytest.raises(NetworkError, match=r"no past\(\) of the node reads 'tau'"):
        net.get_history("dde", "tau")
    with pytest.raises(NetworkError, match=r"values of shape \(3, 2\) fit neither a scalar"):
        net.set_history("dde", "x", np.zeros((3, 2)))
    with pytest.raises(NetworkError, match="delay of past.* must be finite and non-negative"):
        net.set_var("dde", "d", -1.0)
        try:
            record(net, np.zeros((2, 1, N)))
        finally:
            net.set_var("dde", "d", d)


@pytest.mark.nocompile
def test_bptt_refuses_delays():
    net = Network(DT)
    net.add_diffeq_node("dde", dde_template(), N=2, input_var="I", output_var="x",
                        train_params=["tau"])
    with pytest.raises(NetworkError, match="do not differentiate through delays"):
        net.bptt_gradients(np.zeros((5, 2)), np.zeros((5, 2)))


# ---- delayed edges ------------------------------------------------------------------------------
LI = "model_templates.rate_neurons.leaky_integrator.li_op"


def edge_net(W, delays):
    """inp (identity, 3) -> a, b, c (leaky integrators, 4) -> out (identity, sum of the three).

    inp -> a: one delay per target unit in time (delay=); inp -> b: one per connection in
    steps; inp -> c: CSR weights with one delay per stored connection."""
    net = Network(DT)
    net.add_func_node("inp", 3)
    for label in "abc":
        net.add_diffeq_node(label, LI, N=4, input_var="I_ext", output_var="v",
                            node_vars={"tau": 0.5})  # fmt: skip
    net.add_func_node("out", 4)
    net.add_edge("inp", "a", weights=W["a"], delay=delays["a"] * DT)
    net.add_edge("inp", "b", weights=W["b"], delay_steps=delays["b"])
    net.add_edge("inp", "c", weights=sp.csr_matrix(W["c"]), delay_steps=delays["c"])
    for label in "abc":
        net.add_edge(label, "out", weights=np.eye(4))
    return net


def edge_reference(W, delays, inputs, history=None):
    """Each leaky integrator driven by W @ (inputs delayed per connection); before the start the
    source's values are ``history`` (oldest first) for edge a, else 0."""
    T = inputs.shape[0]
    out = {}
    for label in "abc":
        K = np.broadcast_to(delays[label].reshape(4, -1), (4, 3))
        hist = history if (history is not None and label == "a") else np.zeros((0, 3))
        v, vs = np.zeros(4), []
        for n in range(T):
            drive = np.zeros(4)
            for i in range(4):
                for j in range(3):
                    m = n - K[i, j]
                    value = inputs[m, j] if m >= 0 else (hist[m, j] if -m <= len(hist) else 0.0)
                    drive[i] += W[label][i, j] * value
            v = v + DT * (-v / 0.5 + drive)
            vs.append(v.copy())
        out[label] = np.array(vs)
    return out


def edge_case():
    """Weights, delays, inputs and the rng of the delayed-edge network (one kernel)."""
    rng = np.random.default_rng(6)
    W = {k: rng.standard_normal((4, 3)) for k in "abc"}
    W["c"][rng.random((4, 3)) < 0.4] = 0.0
    delays = {"a": np.array([0, 1, 2.5, 7]), "b": rng.integers(0, 6, (4, 3)),
              "c": rng.integers(0, 6, (4, 3))}  # fmt: skip
    delays["a_steps"] = np.rint(delays["a"]).astype(int)  # 2.5 steps -> 2 (half to even)
    return W, delays, rng.standard_normal((40, 3)), rng


def test_delayed_edges_match_numpy_and_carry_over():
    W, delays, inputs, rng = edge_case()
    ref = edge_reference(W, {"a": delays["a_steps"], "b": delays["b"], "c": delays["c"]}, inputs)
    net = edge_net(W, delays)
    rec = [(k, "v") for k in "abc"]
    obs = net.run(inputs, verbose=False, record_vars=rec)
    for label in "abc":
        np.testing.assert_allclose(obs[(label, "v")], ref[label], rtol=1e-12, atol=1e-14)
    # the edge history is the source's output, oldest first (7 + 1 steps kept for inp -> a)
    np.testing.assert_array_equal(net.get_edge_history("inp", "a"), inputs[-8:])
    # two runs equal one
    net.reset()
    first = net.run(inputs[:15], verbose=False, record_vars=rec)
    second = net.run(inputs[15:], verbose=False, record_vars=rec)
    for key in rec:
        np.testing.assert_array_equal(np.concatenate([first[key], second[key]]), obs[key])
    # a given history is what the edge delivers first
    net.reset()
    past = rng.standard_normal((7, 3))
    net.set_edge_history("inp", "a", past)
    a = net.run(inputs, verbose=False, record_vars=rec)[("a", "v")]
    steps = {"a": delays["a_steps"], "b": delays["b"], "c": delays["c"]}
    ref_a = edge_reference(W, steps, inputs, history=past)["a"]
    np.testing.assert_allclose(a, ref_a, rtol=1e-12, atol=1e-14)
    assert np.abs(a - ref["a"]).max() > 1e-3  # the history mattered


@pytest.mark.nocompile
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(delay=1.0, delay_steps=1), "give delay .* or delay_steps .*, not both"),
        (dict(delay=np.ones(5)), r"delay of shape \(5,\) fits neither a scalar, one per target"),
        (dict(delay_steps=-1), "delay_steps must not be negative"),
        (dict(delay_steps=1.5), "delay_steps must be whole numbers of steps"),
        (dict(delay=np.nan), "must be finite"),
        (dict(delay=1.0, train="gd"), "a delayed edge cannot be trained"),
        # unbounded steps used to skip the delay bound (3e8: a 2.4 GB ring) or, past int64,
        # wrap around to a negative delay that silently delivered zeros
        (dict(delay_steps=3e8), r"delay_steps of 300000000 steps; at most 67108864 are kept"),
        (dict(delay_steps=1e30), r"delay_steps of 1000000000000000019884624838656 steps"),
        (dict(delay_steps=[0, 1, 2**63, 0]), r"delay_steps of 9223372036854775808 steps"),
    ],
)
def test_edge_delay_arguments_are_checked(kwargs, match):
    net = Network(DT)
    net.add_func_node("inp", 3)
    net.add_func_node("out", 4)
    with pytest.raises(NetworkError, match=match):
        net.add_edge("inp", "out", weights=np.ones((4, 3)), **kwargs)
    assert net.edges == []
    with pytest.raises(NetworkError, match="has no delay, so it keeps no history"):
        net.add_edge("inp", "out", weights=np.ones((4, 3)))
        net.get_edge_history("inp", "out")


# ---- bounds and further edges (review of round 2) -----------------------------------------------
def test_a_kept_history_is_bounded_when_longer_delays_lengthen_it(dde):
    """The ring bound holds for a ring that a run keeps and a later, longer delay lengthens (it
    used to be checked only for a new ring), and for get_history of a fresh network; what
    get_history returns after a longer delay is what the next run reads (older steps repeat)."""
    net, d, inputs = dde
    net.reset()
    record(net, inputs[:, :30])
    before = net.get_history("dde", "x")  # (2, 21, N)
    net.set_var("dde", "d", 2 * d)  # 40 steps for past(x, 2*d): the next run lengthens the ring
    lengthened = net.get_history("dde", "x")
    assert lengthened.shape == (2, 40, N)
    np.testing.assert_array_equal(lengthened[:, -21:], before)
    np.testing.assert_array_equal(lengthened[:, :19], np.repeat(before[:, :1], 19, axis=1))
    huge = np.full_like(d, 2**25 * DT)  # past(x, 2*d) = 2**26 steps: 2 x (2**26 + 1) x 7 doubles
    net.set_var("dde", "d", huge)
    try:
        with pytest.raises(NetworkError, match=r"need a history of 7\.0 GiB .*at most 4 GiB"):
            record(net, inputs[:, :1])
        with pytest.raises(NetworkError, match=r"history of [\d.]+ GiB .*at most 4 GiB"):
            net.get_history("dde", "x")
    finally:
        net.set_var("dde", "d", d)
    np.testing.assert_array_equal(net.get_history("dde", "x")[:, -21:], before)
    fresh = Network(DT)  # no ring kept: the constant history of a new network is bounded too
    fresh.add_diffeq_node("dde", dde_template(), N=10, input_var="I", output_var="x",
                          node_vars={"d": 2**25 * DT})  # fmt: skip
    with pytest.raises(NetworkError, match=r"history of 5\.0 GiB .*at most 4 GiB"):
        fresh.get_history("dde", "x")


KMO_MF = "model_templates.oscillators.kuramoto.kmo_mf_pop"
KMO = "model_templates.oscillators.kuramoto.kmo_pop"


def test_a_further_delayed_edge_from_a_complex_variable_keeps_a_complex_history():
    """Edge key (a, b, 1) delays a's complex state z (a's output R is real): its ring holds
    complex values (it was allocated with the output's real dtype: a numba typing error), and
    get_edge_history / set_edge_history reach it with index=1."""
    dt, T, K = 0.01, 12, 3
    net = Network(dt)
    net.add_diffeq_node("a", KMO_MF, N=1, output_var="R")
    net.add_diffeq_node("b", KMO, N=1, output_var="z")
    net.add_edge("a", "b", np.ones((1, 1)), target_var="s_in")  # R -> s_in, undelayed
    net.add_edge("a", "b", np.full((1, 1), 0.5), source_var="z", target_var="s_ext",
                 delay_steps=K)  # fmt: skip
    assert net.edges == [("a", "b"), ("a", "b", 1)]
    with pytest.raises(NetworkError, match="has no delay, so it keeps no history"):
        net.get_edge_history("a", "b")
    assert net.get_edge_history("a", "b", 1).dtype == np.complex128
    past = np.array([[0.3 - 0.2j], [0.1 + 0.4j], [-0.2 + 0.1j]])  # oldest first
    net.set_edge_history("a", "b", past, index=1)
    zb = net.run(steps=T, verbose=False, record_vars=[("b", "z")])[("b", "z")][:, 0]
    # numpy: a's mean field and b driven by |z_a| and 0.5 * z_a of K steps before (pre-update)
    za, z, pre_a, ref = 0.5 + 0.1j, 0.5 + 0.1j, [], []
    for n in range(T):
        pre_a.append(za)
        delayed = pre_a[n - K] if n >= K else past[n - K, 0]
        z = z + dt * (z * (1j - 1.0) - 0.5 * (abs(za) + 0.5 * delayed))
        za = za + dt * (za * (1j - 1.0) - 0.5 * 4.0 * (np.conj(za) * za**2 - za))
        ref.append(z)
    np.testing.assert_allclose(zb, ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(net.get_edge_history("a", "b", 1)[:, 0], pre_a[-(K + 1):],
                               rtol=1e-13)  # fmt: skip


# ---- combinations: a failed run, dt changed between runs, delayed feedback, probes -----------
def test_a_failed_run_leaves_every_edge_history_as_it_was():
    """A run that ends in a non-finite value restores the rings of all delayed edges (dense per
    target, per connection, CSR) and the states; the next run continues as if it never ran."""
    W, delays, inputs, _ = edge_case()
    net = edge_net(W, delays)
    rec = [(k, "v") for k in "abc"]
    whole = net.run(inputs, verbose=False, record_vars=rec)
    net.reset()
    net.run(inputs[:20], verbose=False)
    keys = [("inp", k) for k in "abc"]
    hist = {key: net.get_edge_history(*key) for key in keys}
    state = {k: net.get_var(k, "v") for k in "abc"}
    net.set_var("c", "tau", 1e-300)  # -v/tau overflows in the run's second step
    with pytest.raises(SimulationError, match="keeps the state it had before this run"):
        net.run(inputs[20:], verbose=False)
    net.set_var("c", "tau", 0.5)
    for key in keys:
        np.testing.assert_array_equal(net.get_edge_history(*key), hist[key])
    for k in "abc":
        np.testing.assert_array_equal(net.get_var(k, "v"), state[k])
    rest = net.run(inputs[20:], verbose=False, record_vars=rec)
    for key in rec:
        np.testing.assert_array_equal(rest[key], whole[key][20:])


def test_changing_dt_between_runs_recomputes_the_delays_in_steps(dde):
    """Per-neuron, per-trial delays, a run at dt then one at dt/2: every delay becomes
    rint(d / (dt/2)) steps (no new kernel); the ring kept from the first run (K + 1 values, K
    its longest delay) is lengthened, the steps it did not keep repeating its oldest value."""
    net, d, inputs = dde
    net.reset()
    first = record(net, inputs[:, :30])
    kernels = len(net._runner._compiled)
    K = int(np.rint(2 * d / DT).max())
    net.dt = DT / 2
    try:
        second = record(net, inputs[:, 30:])
        hist = net.get_history("dde", "x")
    finally:
        net.dt = DT
    assert len(net._runner._compiled) == kernels
    # numpy: a list of the states before each step; reads before the kept window clamp to it
    x, past, out, floor = np.full((2, N), 0.5), [], [], 0
    b, i = np.indices((2, N))
    for dt, rows in ((DT, inputs[:, :30]), (DT / 2, inputs[:, 30:])):
        if dt != DT:
            floor = len(past) - (K + 1)  # the first run kept K + 1 values
        k1, k2 = np.rint(d / dt).astype(int), np.rint(2 * d / dt).astype(int)
        for I in rows.transpose(1, 0, 2):
            past.append(x.copy())
            held = np.array(past)  # (steps so far, B, N)
            now = len(past) - 1
            x = x + dt * (-x / TAU + K1 * held[np.maximum(now - k1, floor), b, i]
                          + K2 * held[np.maximum(now - k2, floor), b, i] + I)  # fmt: skip
            out.append(x.copy())
    ref = np.stack(out, axis=1)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), ref, rtol=1e-12,
                               atol=1e-14)  # fmt: skip
    assert hist.shape == (2, 2 * K + 1, N)  # the longest delay is now 2K steps
    np.testing.assert_array_equal(hist[:, -1], second[:, -2])
    # the halved step really changed the trajectory (the same inputs at dt would differ)
    net.reset()
    assert np.abs(record(net, inputs)[:, 30:] - second).max() > 1e-3


def probe_template() -> NodeTemplate:
    """An output that reads the past: o = x + c*past(x, d); feedback edges read it (probe)."""
    op = OperatorTemplate(
        "pb_op",
        equations=["x' = -x/tau + I", "o = x + c*past(x, d)"],
        variables={"x": "variable(0.2)", "o": "output(0.0)", "tau": 0.5, "c": -0.8, "d": 0.25,
                   "I": "input(0.0)"},
    )  # fmt: skip
    return NodeTemplate("pb", operators=[op])


def test_delayed_feedback_edges_and_a_probe_reading_past_match_numpy():
    """inp -> A (leaky integrator) -> B (output o = x + c*past(x, d), d per neuron);
    feedback edges B -> A into I_ext (undelayed: B's probe evaluates past() on its current
    state), B -> A into r_in delayed per connection (its ring holds the probe's values) and
    A -> A into r_in delayed per target unit (delayed recurrent coupling through A's output).
    Two runs against one numpy loop: the rings carry over."""
    rng = np.random.default_rng(8)
    n, T = 3, 40
    Win, Wab, Wba, Wbd, Waa = (rng.standard_normal((n, m)) for m in (2, n, n, n, n))
    Kbd = rng.integers(0, 5, (n, n))
    Kaa = np.array([1, 3, 6])
    dB = np.array([0.0, 0.25, 0.75])  # 0, 2 and 6 steps of past(x, d)
    net = Network(DT)
    net.add_func_node("inp", 2)
    net.add_diffeq_node("A", LI, N=n, input_var="I_ext", output_var="v",
                        node_vars={"tau": 0.5})  # fmt: skip
    net.add_diffeq_node("B", probe_template(), N=n, input_var="I", output_var="o",
                        node_vars={"d": dB})  # fmt: skip
    net.add_edge("inp", "A", weights=Win)
    net.add_edge("A", "B", weights=Wab)
    net.add_edge("B", "A", weights=Wba, feedback=True)
    net.add_edge("B", "A", weights=Wbd, feedback=True, target_var="r_in", delay_steps=Kbd)
    net.add_edge("A", "A", weights=Waa, feedback=True, target_var="r_in", delay_steps=Kaa)
    assert net.edges == [("inp", "A"), ("A", "B"), ("B", "A"), ("B", "A", 1), ("A", "A")]
    x = rng.standard_normal((T, 2))
    rec = [("A", "v"), ("B", "x")]
    first = net.run(x[:15], verbose=False, record_vars=rec)
    second = net.run(x[15:], verbose=False, record_vars=rec)
    # numpy: histories of B's x (constant before step 0), of B's probe o and A's v (zeros)
    v, xb = np.zeros(n), np.full(n, 0.2)
    xs, os_, vs, out, rv, rx = [], [], [], [], [], []
    kB = np.rint(dB / DT).astype(int)

    def held(hist, m):  # a delayed edge's value of step m: zeros before step 0
        return hist[m] if m >= 0 else np.zeros(n)

    for k in range(T):
        xs.append(xb.copy())
        o = xb + -0.8 * np.array([xs[max(k - kB[i], 0)][i] for i in range(n)])
        os_.append(o)
        vs.append(v.copy())
        r_in = np.array([sum(Wbd[i, j] * held(os_, k - Kbd[i, j])[j] for j in range(n))
                         + Waa[i] @ held(vs, k - Kaa[i]) for i in range(n)])  # fmt: skip
        I_ext = Win @ x[k] + Wba @ o
        v_new = v + DT * (-v / 0.5 + r_in + I_ext)
        xb = xb + DT * (-xb / 0.5 + Wab @ v)
        v = v_new
        out.append(o)
        rv.append(v.copy())
        rx.append(xb.copy())
    got = {key: np.concatenate([first[key], second[key]]) for key in rec + ["out"]}
    np.testing.assert_allclose(got[("A", "v")], rv, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got[("B", "x")], rx, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got["out"], out, rtol=1e-12, atol=1e-14)
    K = Kbd.max()
    np.testing.assert_allclose(net.get_edge_history("B", "A", 1), os_[-(K + 1):], rtol=1e-12)
