r"""
Quadratic integrate-and-fire neurons
====================================

The quadratic integrate-and-fire (QIF) neuron reduces a neuron to one dimensionless variable
:math:`v_i` near the onset of spiking (Izhikevich 2007, *Dynamical Systems in Neuroscience*):

.. math::

    \tau \dot v_i = v_i^2 + \eta_i + I_i(t) + \tau k\, s^{in}_i, \qquad
    \dot s_i = -\frac{s_i}{\tau_s} + \sum_k \delta(t - t_i^k),

with a spike whenever :math:`v_i \geq v_{peak}`, followed by :math:`v_i \rightarrow v_{reset}`.
:math:`\eta_i` is the neuron's excitability (it spikes by itself when :math:`\eta_i > 0`),
:math:`s_i` its synaptic output and :math:`s^{in}_i = \sum_j J_{ij} s_j` its recurrent input.
Without input, a neuron with :math:`\eta < 0` rests at :math:`v^* = -\sqrt{-\eta}`.

The file ``model_templates/spiking_neurons/qif.yaml`` holds

- ``qif_op`` (node ``qif``): ``v' = (v^2 + eta + I_ext)/tau + k*s_in``, ``s' = -s/tau_s + spike``
  with ``v`` variable(-2), ``s`` output(0), ``tau`` 1, ``k`` 1, ``tau_s`` 1, ``eta`` -5;
- ``qif_sfa_op`` (node ``qif_sfa``): ``qif_op`` with ``eta`` replaced by ``eta - x`` and a
  spike-frequency adaptation ``x' = -x/tau_x + alpha*spike`` (``alpha`` 1, ``tau_x`` 10);
- ``qif_reset_op`` (node ``qif_reset``): ``qif_op`` with an extra ``- 2.0*reset*v`` term.

Time is in units of :math:`\tau`.
"""

# %%
# A small QIF network
# -------------------
#
# As in RectiPy's QIF page: 5 randomly coupled QIF neurons driven by a constant input of 10, with
# the default threshold (100) and reset (-100).

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network

rng = np.random.default_rng(0)
N = 5
J = rng.standard_normal((N, N)) * 2.0
node = "model_templates.spiking_neurons.qif.qif"
net = Network.from_yaml(node, weights=J, source_var="s", target_var="s_in", input_var="I_ext",
                        output_var="s", op="qif_op", dt=1e-3, spike_def="v", spike_var="spike")

steps = 10_000
inp = np.zeros((steps, N)) + 10.0
obs = net.run(inputs=inp, sampling_steps=10, verbose=False)

ax = obs.plot("out", figsize=(7, 3))
ax.legend([f"s_{i}" for i in range(N)], fontsize="small", loc="upper right")
ax.set_xlabel("time (in units of tau)")
ax.set_ylabel("synaptic output s")
ax.set_title("QIF network, constant input")
ax.figure.tight_layout()

# %%
# Spike-frequency adaptation
# --------------------------
#
# With ``qif_sfa`` every spike increases the adaptation variable :math:`x_i` by :math:`\alpha`,
# which lowers the excitability: the same network under the same input fires less. We record
# :math:`x` with ``record_vars``; ``reduce=True`` records the population mean only.

net = Network.from_yaml("model_templates.spiking_neurons.qif.qif_sfa", weights=J,
                        source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
                        op="qif_sfa_op", dt=1e-3, spike_def="v", spike_var="spike")
obs_sfa = net.run(inputs=inp, sampling_steps=10, verbose=False,
                  record_vars=[("rnn", "x", True)])

fig, axes = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
obs_sfa.plot("out", ax=axes[0])
axes[0].legend([f"s_{i}" for i in range(N)], fontsize="small", loc="upper right")
axes[0].set_ylabel("synaptic output s")
axes[0].set_title("QIF network with spike-frequency adaptation")
axes[0].set_xlabel("")
obs_sfa.plot(("rnn", "x"), ax=axes[1], label="mean adaptation x")
axes[1].legend(fontsize="small")
axes[1].set_ylabel("x")
axes[1].set_xlabel("time (in units of tau)")
fig.tight_layout()

print("mean output without SFA:", obs["out"].mean(), " with SFA:", obs_sfa["out"].mean())
