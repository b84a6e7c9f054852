"""Pickled networks continue exactly where the original was: a copy made between two runs
(``pickle.loads(pickle.dumps(net))``) and the original, run on with the same inputs, give the
same numbers, bit for bit, as one uninterrupted run of a network built the same way. Covered:
``past()`` histories and delayed-edge rings, the noise stream's position, circuits (a delayed
circuit edge) and plastic edge states, complex states with a complex edge ring.

The networks are those of tests/test_delays.py, test_noise.py, test_circuits.py and
test_plastic_edges.py (their kernels are shared through the disk cache)."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import numpy as np
from test_delays import DELAYS, DT, N, dde_template, edge_case, edge_net
from test_noise import ou_template
from test_plastic_edges import _stdp_net, stdp_data

from rectinumba import Network


def assert_copy_continues(build: Callable[[], Network], run: Callable, first, rest):
    """``run(net, part) -> dict`` on ``first`` then ``rest`` for the original and a copy
    pickled in between, against ``run(build(), first + rest)`` on a fresh network; returns
    the original, the copy (both after ``rest``), the pickle taken between the runs and the
    uninterrupted run's results for ``rest``."""
    whole = run(build(), np.concatenate([first, rest], axis=-2))
    net = build()
    head = run(net, first)
    blob = pickle.dumps(net)
    copy = pickle.loads(blob)
    tails = run(net, rest), run(copy, rest)
    T = first.shape[-2]
    for key, value in whole.items():
        joined = np.concatenate([head[key], tails[0][key]], axis=-2)
        assert joined.dtype == value.dtype, key
        np.testing.assert_array_equal(joined, value, err_msg=str(key))
        np.testing.assert_array_equal(tails[1][key], value[..., T:, :], err_msg=str(key))
    return net, copy, blob, tails[1]


def test_delays_and_noise_carry_their_history_and_stream():
    """past() with delays up to 10 steps (per neuron), an Ornstein-Uhlenbeck node (two noises)
    and a delayed edge between them, two trials: histories, the edge ring and the noise
    stream's position travel with the copy."""

    def build():
        net = Network(DT, seed=5)
        net.add_func_node("inp", N)
        net.add_diffeq_node("dde", dde_template(), N=N, input_var="I", output_var="x",
                            node_vars={"d": DELAYS})  # fmt: skip
        net.add_diffeq_node("ou", ou_template(), N=N, input_var="I_ext", output_var="x",
                            node_vars={"tau": 1.0})  # fmt: skip
        net.add_edge("inp", "dde", weights=np.eye(N))
        net.add_edge("dde", "ou", weights=np.eye(N) * 0.5, delay_steps=np.arange(N) % 4)
        return net

    rec = [("dde", "x"), ("ou", "x"), ("ou", "z")]

    def run(net, x):
        obs = net.run(x, verbose=False, record_vars=rec)
        return {key: obs[key] for key in rec + ["out"]}

    x = 0.3 * np.random.default_rng(1).standard_normal((2, 40, N))
    net, copy, blob, tail = assert_copy_continues(build, run, x[:, :25], x[:, 25:])
    np.testing.assert_array_equal(copy.get_history("dde", "x"), net.get_history("dde", "x"))
    np.testing.assert_array_equal(copy.get_edge_history("dde", "ou"),
                                  net.get_edge_history("dde", "ou"))  # fmt: skip
    assert copy.seed == net.seed == 5
    # what the copy carried mattered: its states alone, with the history constant again and
    # the stream restarted, continue differently
    lost = pickle.loads(blob)
    states = {(n, v): lost.get_var(n, v) for n, v in rec}
    states["ou", "y"] = lost.get_var("ou", "y")
    lost.reset()
    lost.seed = 5
    for (n, v), value in states.items():
        lost.set_var(n, v, value)
    moved = run(lost, x[:, 25:])
    for key in rec:
        assert np.abs(moved[key] - tail[key]).max() > 1e-3, key


def test_delayed_edges_dense_and_csr_carry_their_rings():
    W, delays, inputs, _ = edge_case()
    rec = [(k, "v") for k in "abc"]

    def run(net, x):
        obs = net.run(x, verbose=False, record_vars=rec)
        return {key: obs[key] for key in rec}

    _, _, blob, tail = assert_copy_continues(lambda: edge_net(W, delays), run, inputs[:20],
                                             inputs[20:])  # fmt: skip
    lost = pickle.loads(blob)
    for label in "abc":  # the rings mattered: empty ones deliver other numbers
        lost.set_edge_history("inp", label, np.zeros_like(lost.get_edge_history("inp", label)))
    moved = run(lost, inputs[20:])
    for key in rec:
        assert np.abs(moved[key] - tail[key]).max() > 1e-3, key


def test_a_circuit_with_a_delayed_edge_carries_its_ring():
    """The built-in E-I QIF circuit (i -> e delayed by 2000 steps): after 1500 steps the copy
    delivers, from its step 500 on, values of the original's first steps (its ring)."""

    def build():
        return Network.from_circuit("model_templates.neural_mass_models.qif.qif_ei", dt=1e-3,
                                    input_var="e/qif_op/I_ext", output_var="e/qif_op/r")

    def run(net, x):
        obs = net.run(x, verbose=False, record_vars=[("i", "r")])
        return {"out": obs["out"], "i": obs[("i", "r")]}

    x = np.full((2600, 1), 5.0)
    _, _, blob, tail = assert_copy_continues(build, run, x[:1500], x[1500:])
    lost = pickle.loads(blob)
    lost.set_edge_history("i", "e", np.zeros((2001, 1)))  # without the ring: other numbers
    assert np.abs(run(lost, x[1500:])["out"] - tail["out"]).max() > 1e-6


def test_plastic_edge_states_travel_with_the_copy():
    """STDP between two LIF populations, two trials: weights and traces per connection."""
    W, W0, x = stdp_data()
    key = ("pre", "post")
    rec = [(key, "w"), (key, "x_pre"), (key, "x_post")]

    def run(net, xs):
        obs = net.run(xs, verbose=False, record_vars=rec)
        return {k: obs[k] for k in rec + ["out"]}

    net, copy, _, _ = assert_copy_continues(lambda: _stdp_net(W, W0, False), run, x[:, :200],
                                            x[:, 200:])  # fmt: skip
    assert np.abs(copy.get_var(key, "w") - W0).max() > 0.05  # it learned
    np.testing.assert_array_equal(copy.get_var(key, "w"), net.get_var(key, "w"))


def test_complex_states_and_a_complex_edge_ring_carry_over():
    """Kuramoto mean field a -> b with a delayed edge from a's complex state z (the network of
    tests/test_delays.py): complex states and ring keep their dtype and values."""
    past = np.array([[0.3 - 0.2j], [0.1 + 0.4j], [-0.2 + 0.1j]])

    def build():
        net = Network(0.01)
        net.add_diffeq_node("a", "model_templates.oscillators.kuramoto.kmo_mf_pop", N=1,
                            output_var="R")  # fmt: skip
        net.add_diffeq_node("b", "model_templates.oscillators.kuramoto.kmo_pop", N=1,
                            output_var="z")  # fmt: skip
        net.add_edge("a", "b", np.ones((1, 1)), target_var="s_in")
        net.add_edge("a", "b", np.full((1, 1), 0.5), source_var="z", target_var="s_ext",
                     delay_steps=3)  # fmt: skip
        net.set_edge_history("a", "b", past, index=1)
        return net

    def run(net, x):
        obs = net.run(steps=x.shape[0], verbose=False, record_vars=[("b", "z"), ("a", "z")])
        return {"bz": obs[("b", "z")], "az": obs[("a", "z")]}

    steps = np.zeros((12, 0))
    net, copy, _, _ = assert_copy_continues(build, run, steps[:5], steps[5:])
    assert copy.get_var("b", "z").dtype == np.complex128
    ring = copy.get_edge_history("a", "b", 1)
    assert ring.dtype == np.complex128 and np.abs(ring.imag).max() > 0
    np.testing.assert_array_equal(ring, net.get_edge_history("a", "b", 1))
