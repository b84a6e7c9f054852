"""
Network initialization
======================

This is RectiPy's tutorial *Network Initialization* with rectinumba. Its code runs unchanged
except for the import, ``from rectinumba import Network``; results are numpy arrays.

Networks are built with :class:`rectinumba.Network`. A neuron population is a *diff-eq node*,
whose equations and default parameters come from a YAML template (see
:doc:`/guide/templates`); *function nodes* apply an instantaneous activation function; *edges*
connect nodes through weight matrices.
"""

# %%
# A network with differential-equation-based nodes
# ------------------------------------------------
#
# :meth:`~rectinumba.Network.add_diffeq_node` adds :math:`N = 5` leaky integrator (LI) rate
# neurons. The node template is a dot path into the built-in template library
# (``neuron_model_templates.`` is RectiPy's name for it, ``model_templates.`` works too); your own
# templates are addressed by a file path and the template's name, ``"path/to/file.template"``.
# ``J`` is the :math:`N \times N` recurrent coupling: the variable ``r`` of operator ``tanh_op`` of
# every neuron projects to ``r_in`` of ``li_op``,
#
# .. math:: r^{in}_i = \sum_{j=1}^N J_{ij} r_j .
#
# External input enters through ``li_op/I_ext``; the variable ``li_op/v`` is the node's output.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network

np.random.seed(0)  # the tutorial draws its weights from numpy's global random generator

# define network parameters
node = "neuron_model_templates.rate_neurons.leaky_integrator.tanh"
N = 5
J = np.random.randn(N, N) * 2.0
dt = 1e-3

# initialize network
net = Network(dt=dt, device="cpu")

# add a rate-neuron population to the network
net.add_diffeq_node("tanh", node, weights=J, source_var="tanh_op/r", target_var="li_op/r_in",
                    input_var="li_op/I_ext", output_var="li_op/v")

# %%
# Some attributes of the network. Unlike in RectiPy, ``net.n_out`` is valid before any function
# node is added (it is the size of the only node). ``net.state`` holds one flat vector per
# diff-eq node: the :math:`N` values of each state variable in turn.

print(f"Number of neurons in network: {net.n_out}")
print(f"Network nodes: {net.nodes}")
print(f"State variables of the network: {net.state}")
print(f"LI population parameters: {net['tanh']['node'].parameter_names}")

# %%
# The rate network can be simulated already: its only node is both the input node and the output
# node, so :meth:`~rectinumba.Network.run` takes an input of shape ``(T, 5)``, one column per
# neuron, and returns an :class:`~rectinumba.Observer` whose ``"out"`` entry holds ``v`` of every
# neuron. The template's time constant is ``tau = 10``; ``dt`` and the time axis are in the same
# time unit as ``tau``.

T = 3000
t = np.arange(T) * dt
inp = np.outer(np.sin(2 * np.pi * t), np.linspace(-1.0, 1.0, N)) * 5.0
obs = net.run(inp, verbose=False)
print(obs["out"].shape)

ax = obs.plot("out", figsize=(7, 3))
ax.legend([f"neuron {i}" for i in range(N)], loc="upper left", fontsize="small")
ax.set_xlabel("time (same unit as tau)")
ax.set_ylabel("v")
ax.set_title("LI rate neurons driven by sinusoids")
ax.figure.tight_layout()

# %%
# A spiking neural network
# ------------------------
#
# Two more keyword arguments make a node spiking: ``spike_var`` (the input variable that
# receives spikes) and ``spike_def`` (the state variable that defines a spike). A neuron spikes
# when :math:`v_i \geq \theta` (``spike_threshold``); its ``spike`` input then receives
# :math:`1/dt` and :math:`v_i` is reset to :math:`v_r` (``spike_reset``) after the step. With
# ``op="lif_op"`` the variable names need no operator prefix.

# change neuron model to leaky integrate-and-fire neuron
node = "neuron_model_templates.spiking_neurons.lif.lif"

# initialize network
net = Network(dt=dt, device="cpu")

# add a population of LIF neurons
net.add_diffeq_node("lif", node, weights=J, source_var="s", target_var="s_in", input_var="I_ext",
                    output_var="s", op="lif_op", spike_var="spike", spike_def="v",
                    spike_threshold=100.0, spike_reset=-100.0)

print(f"Number of neurons in network: {net.n_out}")
print(f"Network nodes: {net.nodes}")
print(f"State variables of the network: {net.state}")
print(f"LIF population parameters: {net['lif']['node'].parameter_names}")

# %%
# The state vector now holds two state variables per neuron (``v`` and the synaptic trace
# ``s``), and the parameters include the synaptic time constant ``tau_s``.

print(net["lif"]["node"].state_names)
print(net.get_var("lif", "tau_s"))

# %%
# Function nodes and edges
# ------------------------
#
# A function node applies an activation function to its summed input; the identity makes an
# input layer. :meth:`~rectinumba.Network.add_edge` connects two nodes; without ``weights``,
# standard normal weights of shape ``(n_target, n_source)`` are drawn.

m = 3
net.add_func_node("input", m, activation_function="identity")
net.add_edge(source="input", target="lif")

# %%
# A second function node of sigmoid units reads out the LIF population. The weights given here
# have shape :math:`(N, k)`, i.e. (source, target); as that is not square, rectinumba stores their
# transpose, :math:`(k, N)`. (A *square* matrix is always used as given, ``(n_target, n_source)``:
# see :doc:`/migration`.)

k = 2
net.add_func_node("output", k, activation_function="sigmoid")
net.add_edge(source="lif", target="output", weights=np.random.randn(N, k))

print(f"nodes: {net.nodes}, edges: {net.edges}")
print(f"n_in = {net.n_in}, n_out = {net.n_out}")
print("input -> lif weights:", net.get_edge("input", "lif").weights.shape)
print("lif -> output weights:", net.get_edge("lif", "output").weights.shape)

# %%
# A short simulation
# ------------------
#
# The network maps 3 inputs through 5 LIF neurons to 2 sigmoid outputs. With the tutorial's
# threshold of 100 and ``tau = 10``, a neuron needs a drive of order 10 to spike; the default
# input weights are standard normal, so some neurons would only be inhibited. We replace the
# input edge by one with positive weights and drive it with a constant plus slow sinusoids.

net.pop_edge("input", "lif")
net.add_edge("input", "lif", weights=np.abs(np.random.randn(N, m)))

T = 4000
t = np.arange(T) * dt
phases = np.array([0.0, 2.0, 4.0])
inp = 100.0 + 80.0 * np.sin(2 * np.pi * 0.5 * t[:, None] + phases)

# %%
# We also record the membrane potential ``v``. Recordings are taken after each step's update and
# reset, so a neuron spiked in a step exactly when its recorded ``v`` equals the reset value.

obs = net.run(inp, verbose=False, record_vars=[("lif", "v")])
out, v = obs["out"], obs[("lif", "v")]
print("output:", out.shape, "v:", v.shape)
steps, neurons = np.nonzero(v == -100.0)
print(f"{steps.size} spikes; spikes per neuron: {np.bincount(neurons, minlength=N)}")

fig, axes = plt.subplots(3, 1, sharex=True, figsize=(8, 6))
time = obs.time
axes[0].scatter(time[steps], neurons, marker="|", c="k", label="spike")
axes[0].set_ylim(-0.5, N - 0.5)
axes[0].set_ylabel("neuron")
axes[0].legend(loc="upper right", fontsize="small")
axes[0].set_title("LIF network: spike raster, membrane potentials, sigmoid outputs")
obs.plot(("lif", "v"), ax=axes[1], lw=1)
axes[1].legend([f"v, neuron {i}" for i in range(N)], loc="upper right", fontsize="x-small",
               ncols=N)
obs.plot("out", ax=axes[2], lw=1)
axes[2].legend([f"output {i}" for i in range(k)], loc="upper right", fontsize="small")
axes[2].set_ylabel("output (sigmoid)")
axes[2].set_xlabel("time (same unit as tau)")
fig.tight_layout()

# %%
# The state after a run is kept: a second ``run`` continues from it, and
# :meth:`~rectinumba.Network.reset` returns to the templates' initial values (and ``node_vars``).

print("v after the run:", net.get_var("lif", "v"))
net.reset()
print("v after reset():", net.get_var("lif", "v"))
