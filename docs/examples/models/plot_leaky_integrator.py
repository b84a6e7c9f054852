r"""
Leaky integrator rate neurons
=============================

The leaky integrator (LI) is the simplest rate neuron: a state :math:`v_i` relaxes towards its
inputs with time constant :math:`\tau`,

.. math::

    \dot v_i = -\frac{v_i}{\tau} + k\, r^{in}_i + I^{ext}_i + \eta_i ,
    \qquad r_i = f(v_i),

where :math:`r^{in}_i = \sum_j J_{ij} r_j` is the recurrent input, :math:`I^{ext}_i` the
extrinsic input, :math:`\eta_i` a constant drive and :math:`f` an output non-linearity. The file
``model_templates/rate_neurons/leaky_integrator.yaml`` holds:

========================  =================================================================
template                  content
========================  =================================================================
``li_op``                 :math:`\dot v = -v/\tau + k r_{in} + I_{ext} + \eta`; ``v`` output(0),
                          ``tau`` 10, ``k`` 1, ``eta`` 0, inputs ``r_in``, ``I_ext``
``sigmoid_op``            :math:`r = r_{max} / (1 + e^{s (v_0 - v)})`; ``r_max`` 1, ``s`` 1,
                          ``v0`` 0
``tanh_op``               :math:`r = \tanh(v)`
``sigmoid``, ``tanh``     nodes ``[li_op, sigmoid_op]`` and ``[li_op, tanh_op]``
========================  =================================================================

Within a node, an operator's *input* variable named like another operator's *output* is linked to
it: ``tanh_op``'s input ``v`` is ``li_op``'s output ``v``.
"""

# %%
# One uncoupled population
# ------------------------
#
# Without recurrent weights, ``N=`` gives the population size. ``node_vars`` sets parameters per
# neuron: here three neurons with time constants 5, 10 and 20 (in the time unit of ``dt``), all
# driven by the same input step. ``v`` approaches :math:`\tau I` with time constant
# :math:`\tau`.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network

dt = 1e-2
taus = np.array([5.0, 10.0, 20.0])
net = Network(dt=dt)
net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.sigmoid",
                    input_var="li_op/I_ext", output_var="sigmoid_op/r", N=3,
                    node_vars={"li_op/tau": taus})

T = 10_000  # 100 time units
inp = np.zeros((T, 3))
inp[T // 10:] = 0.2  # a step of I_ext at t = 10
obs = net.run(inp, verbose=False, record_vars=[("li", "li_op/v")])

time = obs.time
fig, axes = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
for i, tau in enumerate(taus):
    axes[0].plot(time, obs[("li", "li_op/v")][:, i], label=f"tau = {tau:g}")
    axes[1].plot(time, obs["out"][:, i], label=f"tau = {tau:g}")
axes[0].plot(time, 0.2 * taus[1] * (time >= 10.0), "k:", label="tau * I (tau = 10)")
axes[0].set_ylabel("v")
axes[0].legend(fontsize="small")
axes[1].set_ylabel("r = sigmoid(v)")
axes[1].set_xlabel("time (same unit as tau)")
axes[1].legend(fontsize="small")
axes[0].set_title("Leaky integrators: response to an input step")
fig.tight_layout()

# %%
# The exact solution of the LI equation for a step at :math:`t_0` is
# :math:`v(t) = \tau I (1 - e^{-(t - t_0)/\tau})`. Explicit Euler with ``dt = 0.01`` is within
# a fraction of a percent of it:

t0 = 10.0
# the recording k holds v after step k's update, i.e. at time (k + 1) dt
exact = 0.2 * taus * (1.0 - np.exp(-np.clip(time[:, None] + dt - t0, 0.0, None) / taus))
print("largest error of v:", np.abs(obs[("li", "li_op/v")] - exact).max())

# %%
# A recurrent rate network
# ------------------------
#
# With a coupling matrix the population becomes a recurrent network. A random Gaussian ``J``
# with a gain above 1 (here 1.5 / sqrt(N) per entry, with ``k = 1`` and ``tau = 1``) puts the
# tanh network into its chaotic regime (Sompolinsky, Crisanti & Sommers 1988): the activity keeps
# fluctuating without any input.

N = 200
rng = np.random.default_rng(1)
J = rng.normal(0.0, 1.5 / np.sqrt(N), (N, N))
net = Network(dt=0.05)
net.add_diffeq_node("rnn", "model_templates.rate_neurons.leaky_integrator.tanh", weights=J,
                    source_var="tanh_op/r", target_var="li_op/r_in", input_var="li_op/I_ext",
                    output_var="tanh_op/r",
                    node_vars={"li_op/tau": 1.0, "li_op/v": rng.normal(0.0, 1.0, N)})
obs = net.run(np.zeros((2000, N)), verbose=False)

ax = obs.matshow("out", figsize=(7, 3), cmap="RdBu_r", vmin=-1, vmax=1)
ax.set_ylabel("neuron")
ax.set_xlabel("time (in units of tau)")
ax.set_title("tanh rate network, g = 1.5: r of every neuron")
ax.figure.tight_layout()
