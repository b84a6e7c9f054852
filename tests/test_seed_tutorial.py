"""The seed tutorial (RectiPy 0.11, "2.3. Network Initialization") runs as written.

The tutorial's code is embedded below verbatim, with the two lines the seed text cuts off
completed as in the published tutorial, and with the one change the API contract allows:
``from rectinumba import Network``. The test reads nothing outside the repository: CI runs from
a clean clone.
"""

from __future__ import annotations

import ast
import re
import runpy

import numpy as np

TUTORIAL = '''
from rectinumba import Network
import numpy as np

# define network parameters
node = "neuron_model_templates.rate_neurons.leaky_integrator.tanh"
N = 5
J = np.random.randn(N, N)*2.0
dt = 1e-3

# initialize network
net = Network(dt=dt, device="cpu")

# add a rate-neuron population to the network
net.add_diffeq_node("tanh", node, weights=J, source_var="tanh_op/r", target_var="li_op/r_in",
                    input_var="li_op/I_ext", output_var="li_op/v")

print(f"Number of neurons in network: {net.n_out}")
print(f"Network nodes: {net.nodes}")
print(f"State variables of the network: {net.state}")
print(f"LI population parameters: {net['tanh']['node'].parameter_names}")

# change neuron model to leaky integrate-and-fire neuron
node = "neuron_model_templates.spiking_neurons.lif.lif"

# initialize network
net = Network(dt=dt, device="cpu")

# initialize network
net.add_diffeq_node("lif", node, weights=J, source_var="s", target_var="s_in", input_var="I_ext",
                    output_var="s", op="lif_op", spike_var="spike", spike_def="v", spike_threshold=100.0,
                    spike_reset=-100.0)

print(f"Number of neurons in network: {net.n_out}")
print(f"Network nodes: {net.nodes}")
print(f"State variables of the network: {net.state}")
print(f"LI population parameters: {net['lif']['node'].parameter_names}")

m = 3
net.add_func_node("input", m, activation_function="identity")

net.add_edge(source="input", target="lif")

# add a node of sigmoid units
k = 2
net.add_func_node("output", k, activation_function="sigmoid")

# add an edge from the LIF population to the sigmoid node
net.add_edge(source="lif", target="output", weights=np.random.randn(N, k))
'''  # noqa: E501 (verbatim tutorial code)


def _printed(out: str, label: str) -> list[str]:
    """Values printed after ``label: `` (in order)."""
    return re.findall(rf"^{re.escape(label)}: (.*)$", out, flags=re.M)


def _state_dict(text: str) -> dict[str, list[float]]:
    """Parse ``{'tanh': array([0., 0.])}`` without eval: strip ``array(...)`` and literal_eval."""
    return ast.literal_eval(re.sub(r"array\((\[[^\]]*\])\)", r"\1", text))


def _run_tutorial(tmp_path, capsys) -> tuple[dict, str]:
    script = tmp_path / "network_initialization.py"
    script.write_text(TUTORIAL)
    np.random.seed(1234)  # the tutorial draws J and the input weights from numpy's global RNG
    env = runpy.run_path(str(script), run_name="__main__")
    return env, capsys.readouterr().out


def test_seed_tutorial_prints(tmp_path, capsys):
    env, out = _run_tutorial(tmp_path, capsys)
    # the seed's n_out is printed before any function node exists: 5, not RectiPy's error
    assert _printed(out, "Number of neurons in network") == ["5", "5"]
    assert [ast.literal_eval(s) for s in _printed(out, "Network nodes")] == [["tanh"], ["lif"]]
    states = _printed(out, "State variables of the network")
    rate_state, spike_state = (_state_dict(s) for s in states)
    # rate net: v of 5 neurons; LIF: v and s of 5 neurons, all starting at the templates' 0
    assert rate_state == {"tanh": [0.0] * 5}
    assert spike_state == {"lif": [0.0] * 10}
    params = _printed(out, "LI population parameters")
    rate_params, lif_params = (ast.literal_eval(s) for s in params)
    assert set(rate_params) == {"li_op/tau", "li_op/k", "li_op/eta", "weights"}
    assert set(lif_params) == {"lif_op/tau", "lif_op/k", "lif_op/eta", "lif_op/tau_s", "weights"}
    assert len(rate_params) == len(set(rate_params)) == 4
    assert len(lif_params) == len(set(lif_params)) == 5

    net = env["net"]
    assert net.nodes == ["lif", "input", "output"]
    assert (net.n_in, net.n_out) == (3, 2)
    np.testing.assert_array_equal(net.get_var("lif", "weights"), env["J"])
    assert net.get_edge("input", "lif").weights.shape == (5, 3)
    # the (N, k) matrix given for lif -> output is non-square: it is used transposed, (k, N)
    assert net.get_edge("lif", "output").weights.shape == (2, 5)
    assert set(net.state) == {"lif"} and net.state["lif"].shape == (10,)


def test_seed_tutorial_network_simulates_like_numpy(ref, tmp_path, capsys):
    env, _ = _run_tutorial(tmp_path, capsys)
    net = env["net"]
    J, dt = env["J"], env["dt"]
    W_in = net.get_edge("input", "lif").weights
    W_out = net.get_edge("lif", "output").weights
    T = 2000
    rng = np.random.default_rng(7)
    # with threshold 100 and tau 10 a neuron needs a drive of order 100 to spike; add_edge drew
    # W_in from fresh entropy, so aim the input at the neuron with the largest input weights:
    # it receives exactly 400 + 40 * noise, the others whatever W_in makes of that
    i = int(np.argmax(np.linalg.norm(W_in, axis=1)))
    aim = W_in[i] / (W_in[i] @ W_in[i])
    x = (400.0 + 40.0 * rng.standard_normal((T, 1))) * aim[None, :]
    obs = net.run(x, verbose=False, record_vars=[("lif", "v")])
    out, v = obs["out"], obs[("lif", "v")]
    assert out.shape == (T, 2) and v.shape == (T, 5)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(v))

    s_ref, v_ref, spikes = ref.lif(x @ W_in.T, J, dt, thr=100.0, reset=-100.0)
    assert spikes[:, i].sum() >= 3  # the comparison covers spikes and resets
    assert ref.rel_err(v, v_ref) < 1e-10
    assert ref.rel_err(out, ref.sigmoid(s_ref @ W_out.T)) < 1e-10
    assert np.all((out > 0) & (out < 1))
