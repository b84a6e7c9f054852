r"""
Batches of trials and per-trial parameters
==========================================

An input of shape ``(B, T, m)`` runs ``B`` independent trials of the same network in one kernel
call (in parallel threads on the CPU). Each trial has its own state; parameters and initial
values given per trial make a parameter sweep a single call. Recordings then carry a leading
trial axis: ``(B, recordings, ...)``.

Shapes of ``node_vars`` values (and of :meth:`~rectinumba.Network.set_var`):

=============  ==========================================================
shape          meaning
=============  ==========================================================
scalar         the same value for every neuron and trial
``(N,)``       one value per neuron (a 1-D array is always per neuron)
``(B, 1)``     one value per trial, the same for every neuron
``(B, N)``     one value per trial and neuron
=============  ==========================================================
"""

# %%
# A sweep over the excitability of a QIF population
# -------------------------------------------------
#
# 200 uncoupled QIF neurons with Lorentzian-distributed excitabilities around a centre
# :math:`\bar\eta`; each trial gets its own :math:`\bar\eta`. The per-trial value is a ``(B, N)``
# array here (trial ``b``, neuron ``i``: :math:`\bar\eta_b + \Delta\,\tan(\ldots)`).

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network

N, dt = 200, 1e-3
centres = np.linspace(-3.0, 3.0, 13)
B = centres.size
i = np.arange(1, N + 1)
spread = 0.5 * np.tan(0.5 * np.pi * (2 * i - N - 1) / (N + 1))  # Lorentzian quantiles, Delta=0.5
eta = centres[:, None] + spread[None, :]  # (B, N)

net = Network(dt=dt)
net.add_diffeq_node("qif", "model_templates.spiking_neurons.qif.qif", N=N, input_var="I_ext",
                    output_var="s", op="qif_op", spike_var="spike", spike_def="v",
                    node_vars={"eta": eta})

T = 10_000  # 10 time units
obs = net.run(np.zeros((B, T, N)), verbose=False, record_output=False,
              record_vars=[("qif", "s", True)])
print("mean s:", obs[("qif", "s")].shape, " trials:", obs.n_trials)

# %%
# Each spike adds 1 to the trace ``s``, which decays with ``tau_s = 1``, so the time average of
# ``s / tau_s`` is the firing rate. For comparison, the stationary rate of the population (with
# an infinite threshold) is
# :math:`r = \frac{1}{\pi\sqrt{2}} \sqrt{\bar\eta + \sqrt{\bar\eta^2 + \Delta^2}}`
# (Montbrio, Pazo & Roxin 2015).

rate = obs[("qif", "s")][:, T // 2:].mean(axis=1)  # second half: past the initial transient
theory = np.sqrt(centres + np.sqrt(centres**2 + 0.5**2)) / (np.pi * np.sqrt(2.0))

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(centres, rate, "o", label="13 trials, one run")
ax.plot(centres, theory, "-", label="stationary theory")
ax.set_xlabel("centre of the excitabilities, eta")
ax.set_ylabel("rate (spikes per tau)")
ax.set_title("QIF population: rate against excitability")
ax.legend(fontsize="small")
fig.tight_layout()

# %%
# Each trial of a batch is exactly the run of that trial alone:

one = Network(dt=dt)
one.add_diffeq_node("qif", "model_templates.spiking_neurons.qif.qif", N=N, input_var="I_ext",
                    output_var="s", op="qif_op", spike_var="spike", spike_def="v",
                    node_vars={"eta": eta[7]})
alone = one.run(np.zeros((T, N)), verbose=False, record_output=False,
                record_vars=[("qif", "s", True)])
print("trial 7 of the batch equals the single run:",
      np.array_equal(obs[("qif", "s")][7], alone[("qif", "s")]))

# %%
# Per-trial inputs and per-trial scalar values
# --------------------------------------------
#
# The input may differ from trial to trial too. Here 4 trials of 5 leaky integrators, each trial
# with its own time constant given as a ``(B, 1)`` array, and each driven by a step of a
# different height. After a batched run the state holds one row per trial; ``reset()`` returns
# to the ``node_vars`` values.

B, T = 4, 3000
taus = np.array([[2.0], [5.0], [10.0], [20.0]])  # (B, 1): one value per trial
li = Network(dt=1e-2)
li.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op", N=5,
                   input_var="I_ext", output_var="v", node_vars={"tau": taus})
heights = np.array([0.5, 1.0, 1.5, 2.0])
inputs = np.ones((B, T, 5)) * heights[:, None, None] / 10.0
obs = li.run(inputs, verbose=False)

fig, ax = plt.subplots(figsize=(6, 3.5))
for b in range(B):
    obs.plot("out", trial=b, ax=ax, color=f"C{b}")
    ax.lines[-1].set_label(f"trial {b}: tau = {taus[b, 0]:g}, I = {heights[b] / 10:g}")
ax.set_xlabel("time (same unit as tau)")
ax.set_ylabel("v (neurons 0-4)")
ax.set_title("four trials in one run")
ax.legend(fontsize="small")
fig.tight_layout()
print("v after the run (B, N):", li.get_var("li", "v").shape)
