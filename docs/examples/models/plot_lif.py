r"""
Leaky integrate-and-fire neurons
================================

The leaky integrate-and-fire (LIF) neuron is the leaky integrator with a spike condition and a
synaptic trace :math:`s_i`, the neuron's output:

.. math::

    \dot v_i &= -\frac{v_i}{\tau} + k\, s^{in}_i + I^{ext}_i + \eta_i , \\
    \dot s_i &= -\frac{s_i}{\tau_s} + \sum_k \delta(t - t_i^k) + s^{ext}_i ,

with a spike at :math:`t_i^k` whenever :math:`v_i \geq v_\theta`, after which
:math:`v_i \rightarrow v_r`. The template ``model_templates.spiking_neurons.lif.lif`` (operator
``lif_op``) inherits ``li_op`` (``tau`` 10, ``k`` 1, ``eta`` 0) with ``k*r_in`` replaced by
``k*s_in``, and adds the trace (``tau_s`` 0.5). Threshold and reset are properties of the
network node, not of the template: ``spike_def="v"`` names the variable that spikes,
``spike_var="spike"`` the input that receives :math:`1/dt` in a spiking step (so each spike adds
1 to :math:`s`), and ``spike_threshold``/``spike_reset`` set :math:`v_\theta` and :math:`v_r`.
"""

# %%
# Firing rate against input
# -------------------------
#
# Uncoupled LIF neurons (``N=`` instead of ``weights``) with a constant input :math:`I` each.
# Between spikes :math:`v(t) = \tau I (1 - e^{-t/\tau})` (from :math:`v_r = 0`); the neuron
# reaches :math:`v_\theta` only if :math:`\tau I > v_\theta`, after
# :math:`T = \tau \ln\frac{\tau I}{\tau I - v_\theta}`. With an Euler step the spike is detected
# at the first step on or above the threshold, and the reset takes one more step, so the
# simulated period is a little longer than :math:`T`.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network

dt, tau, theta = 1e-2, 10.0, 1.0
currents = np.linspace(0.05, 0.6, 12)
net = Network(dt=dt)
net.add_diffeq_node("lif", "model_templates.spiking_neurons.lif.lif", N=currents.size,
                    input_var="I_ext", output_var="s", op="lif_op",
                    spike_var="spike", spike_def="v", spike_threshold=theta, spike_reset=0.0)
T = 20_000  # 200 time units
obs = net.run(np.tile(currents, (T, 1)), verbose=False, record_vars=[("lif", "v")])

# a neuron spiked in a step exactly when its recorded (post-update) v equals the reset value
spikes = obs[("lif", "v")] == 0.0
rate = spikes.sum(axis=0) / (T * dt)
drive = tau * currents
period = np.where(drive > theta, tau * np.log(drive / np.maximum(drive - theta, 1e-12)), np.inf)

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
axes[0].plot(currents, rate, "o", label="simulated (dt = 0.01)")
axes[0].plot(currents, 1.0 / period, "-", label="1 / T (exact, no reset delay)")
axes[0].set_xlabel("input current I")
axes[0].set_ylabel("rate (spikes per time unit)")
axes[0].set_title("LIF transfer function")
axes[0].legend(fontsize="small")
t = obs.time
for i in (3, 7, 11):
    axes[1].plot(t[:3000], obs[("lif", "v")][:3000, i], lw=1, label=f"I = {currents[i]:.2f}")
axes[1].axhline(theta, color="k", ls=":", label="threshold")
axes[1].set_xlabel("time (same unit as tau)")
axes[1].set_ylabel("v")
axes[1].legend(fontsize="small")
fig.tight_layout()

# %%
# A recurrent LIF network
# -----------------------
#
# Recurrent coupling goes from the traces :math:`s_j` to the inputs :math:`s^{in}_i`
# (``source_var="s"``, ``target_var="s_in"``). Here 100 neurons with 80 % excitatory and 20 %
# inhibitory presynaptic neurons, random sparse connections, heterogeneous excitabilities
# ``eta`` and random initial potentials.

N = 100
rng = np.random.default_rng(2)
mask = rng.random((N, N)) < 0.2
sign = np.where(np.arange(N) < 80, 1.0, -4.0)  # column j: presynaptic neuron j
J = mask * sign[None, :] * 0.02
net = Network(dt=dt)
net.add_diffeq_node("lif", "model_templates.spiking_neurons.lif.lif", weights=J,
                    source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
                    op="lif_op", spike_var="spike", spike_def="v",
                    spike_threshold=theta, spike_reset=0.0,
                    node_vars={"eta": rng.uniform(0.09, 0.13, N), "tau_s": 2.0,
                               "v": rng.uniform(0.0, 1.0, N)})
obs = net.run(np.zeros((10_000, N)), verbose=False, record_vars=[("lif", "v")])

steps, neurons = np.nonzero(obs[("lif", "v")] == 0.0)
fig, axes = plt.subplots(2, 1, sharex=True, figsize=(8, 5))
axes[0].scatter(obs.time[steps], neurons, s=2, c="k", marker="|", label="spike")
axes[0].set_ylabel("neuron")
axes[0].legend(loc="upper right", fontsize="small")
axes[0].set_title(f"recurrent LIF network: {steps.size} spikes")
axes[1].plot(obs.time, obs["out"][:, :80].mean(axis=1), label="excitatory")
axes[1].plot(obs.time, obs["out"][:, 80:].mean(axis=1), label="inhibitory")
axes[1].set_ylabel("mean trace s")
axes[1].set_xlabel("time (same unit as tau)")
axes[1].legend(fontsize="small")
fig.tight_layout()
