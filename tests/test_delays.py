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


def test_delayed_edges_match_numpy_and_carry_over():
    rng = np.random.default_rng(6)
    W = {k: rng.standard_normal((4, 3)) for k in "abc"}
    W["c"][rng.random((4, 3)) < 0.4] = 0.0
    delays = {"a": np.array([0, 1, 2.5, 7]), "b": rng.integers(0, 6, (4, 3)),
              "c": rng.integers(0, 6, (4, 3))}  # fmt: skip
    delays["a_steps"] = np.rint(delays["a"]).astype(int)  # 2.5 steps -> 2 (half to even)
    inputs = rng.standard_normal((40, 3))
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
