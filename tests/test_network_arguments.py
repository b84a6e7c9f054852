"""Argument checks of Network.run, set_var and add_diffeq_node: clear NetworkErrors that name what
was given, raised before anything changes."""

from __future__ import annotations

import numpy as np
import pytest

from rectinumba import Network
from rectinumba.errors import NetworkError

LIF = "model_templates.spiking_neurons.lif.lif"
LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
DT = 1e-2


def li_node(N=3) -> Network:
    net = Network(DT)
    net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op", N=N,
                        input_var="I_ext", output_var="v")  # fmt: skip
    return net


def test_run_refuses_duplicate_record_keys_before_running(snapshot, assert_unchanged):
    net = li_node()
    x = np.ones((5, 3))
    net.run(x, verbose=False)
    snap = snapshot(net)
    with pytest.raises(NetworkError, match="twice"):
        net.run(x, verbose=False, record_vars=[("li", "v"), ("li", "v", True)])
    assert_unchanged(net, snap)


@pytest.mark.parametrize("kw", [{"sampling_steps": "a"}, {"sampling_steps": None}, {"cutoff": "x"}])
def test_non_numeric_sampling_and_cutoff_are_network_errors(kw):
    with pytest.raises(NetworkError, match="must be a (positive|non-negative) integer, got"):
        li_node().run(np.ones((5, 3)), verbose=False, **kw)


def test_complex_inputs_are_refused():
    with pytest.raises(NetworkError, match="inputs must be real"):
        li_node().run(np.ones((5, 3)) + 1j, verbose=False)


def test_ragged_input_lists_are_network_errors():
    with pytest.raises(NetworkError, match="inputs"):
        li_node().run([[1.0, 2.0, 3.0], [1.0, 2.0]], verbose=False)


def test_node_vars_1d_value_of_wrong_length_is_refused_at_once_and_changes_nothing():
    """API: a 1-D value is always per neuron (N,); per-trial values are (B, 1) or (B, N). A
    mistyped (N+1,) vector is refused when it is given, naming node, variable and shapes."""
    net = li_node(N=3)
    before = net.get_var("li", "tau")
    msg = r"(?s)value of shape \(4,\) does not fit 3 units.*node 'li', variable 'tau'.*\(B, 1\)"
    with pytest.raises(NetworkError, match=msg):
        net.set_var("li", "tau", np.ones(4))
    np.testing.assert_array_equal(net.get_var("li", "tau"), before)
    with pytest.raises(NetworkError, match=msg):
        Network(DT).add_diffeq_node(
            "li",
            "model_templates.rate_neurons.leaky_integrator.li_op",
            N=3,
            input_var="I_ext",
            output_var="v",
            node_vars={"tau": np.ones(4)},
        )
    net.set_var("li", "tau", np.array([[5.0], [20.0]]))  # (B, 1): one value per trial
    np.testing.assert_array_equal(net.get_var("li", "tau"), [[5.0] * 3, [20.0] * 3])
    assert net.run(np.ones((2, 5, 3)), verbose=False)["out"].shape == (2, 5, 3)


def test_non_numeric_values_are_network_errors():
    net = li_node()
    with pytest.raises(NetworkError, match="variable 'tau'"):
        net.set_var("li", "tau", "fast")


def test_non_numeric_threshold_and_weights_are_network_errors():
    net = Network(DT)
    with pytest.raises(NetworkError, match="spike_threshold must be a number, got 'high'"):
        net.add_diffeq_node("l", LIF, N=2, input_var="I_ext", output_var="s", op="lif_op",
                            spike_var="spike", spike_def="v", spike_threshold="high")  # fmt: skip
    with pytest.raises(NetworkError, match="weights must be numbers, got dtype <U1"):
        net.add_diffeq_node("l", LI_TANH, weights=[["a", "b"], ["c", "d"]], source_var="tanh_op/r",
                            target_var="li_op/r_in", input_var="li_op/I_ext",
                            output_var="li_op/v")  # fmt: skip
    assert net.nodes == []


def test_nonfinite_inputs_and_driven_inputs_are_named(snapshot, assert_unchanged):
    net = li_node()
    x = np.ones((6, 3))
    x[4, 1] = np.nan
    snap = snapshot(net)
    with pytest.raises(
        NetworkError, match=r"inputs contain a non-finite value \(nan\) at step 4, column 1"
    ):
        net.run(x, verbose=False)
    assert_unchanged(net, snap)
    with pytest.raises(NetworkError, match="'I_ext' is an input the network sets every step"):
        net.get_var("li", "I_ext")
