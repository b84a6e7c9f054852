r"""
QIF mean-field model vs. spiking network
========================================

Montbrio, Pazo & Roxin (2015, *Phys. Rev. X* 5, 021028) showed that a population of all-to-all
coupled QIF neurons,

.. math::

    \tau \dot v_i = v_i^2 + \eta_i + J \tau r(t) + I(t), \qquad
    r(t) = \frac{1}{N} \sum_{j=1}^N \sum_k \delta(t - t_j^k),

whose excitabilities :math:`\eta_i` follow a Lorentzian distribution with centre
:math:`\bar\eta` and half width :math:`\Delta`, is described exactly (for
:math:`N \rightarrow \infty`) by two equations for the firing rate :math:`r` and the mean
membrane potential :math:`v`:

.. math::

    \tau \dot r &= \frac{\Delta}{\pi \tau} + 2 r v, \\
    \tau \dot v &= v^2 + \bar\eta + J \tau r + I(t) - (\pi \tau r)^2 .

Both are rectinumba templates: the mean-field model is the built-in
``model_templates.neural_mass_models.qif.qif_pop`` (the names of PyRates' template), and the
spiking network is the built-in QIF neuron with its coupling replaced by a population mean. We
drive both with the input step of the paper's figure 2 and compare the firing rates.
"""

# %%
# The mean-field model
# --------------------
#
# A node of one unit; the recurrent term :math:`J \tau r` enters through the input ``r_in``
# (the template computes ``tau*r_in``), so a 1x1 coupling matrix ``[[J]]`` from ``r`` to ``r_in``
# makes the self-coupled population.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network, NodeTemplate, OperatorTemplate

eta, Delta, J, tau = -5.0, 1.0, 15.0, 1.0
dt = 1e-3
T_total, t_on, t_off = 40.0, 10.0, 30.0
steps = int(round(T_total / dt))
time = np.arange(steps) * dt
I = np.where((time >= t_on) & (time < t_off), 3.0, 0.0)

mf = Network(dt=dt)
mf.add_diffeq_node("mf", "model_templates.neural_mass_models.qif.qif_pop", weights=np.array([[J]]),
                   source_var="r", target_var="r_in", input_var="I_ext", output_var="r",
                   op="qif_op", node_vars={"eta": eta, "Delta": Delta, "tau": tau})
obs_mf = mf.run(I[:, None], verbose=False, record_vars=[("mf", "v")])

# %%
# The spiking network
# -------------------
#
# The built-in ``qif_op`` reads ``v' = (v^2 + eta + I_ext)/tau + k*s_in``. All-to-all coupling
# with strength :math:`J/N` is a population mean, which the template language writes
# ``mean(s)``: an edit of the built-in operator replaces the whole term ``k*s_in`` by
# ``J*mean(s)/tau_s`` (each spike adds 1 to ``s``, which decays with ``tau_s``, so ``s/tau_s``
# integrates to one per spike). A mean costs :math:`O(N)` per step instead of the :math:`O(N^2)`
# of a dense all-to-all matrix. The excitabilities are the quantiles of the Lorentzian
# distribution, :math:`\eta_i = \bar\eta + \Delta \tan(\frac{\pi}{2}\frac{2i - N - 1}{N + 1})`.

qif_op = OperatorTemplate.from_yaml("model_templates.spiking_neurons.qif.qif_op")
mean_op = qif_op.update(name="qif_mean_op",
                        equations={"replace": {"k*s_in": "J*mean(s)/tau_s"}},
                        variables={"J": J})
print(mean_op.equations)

N = 5000
i = np.arange(1, N + 1)
etas = eta + Delta * np.tan(0.5 * np.pi * (2 * i - N - 1) / (N + 1))
tau_s = 0.01
snn = Network(dt=dt)
snn.add_diffeq_node("qif", NodeTemplate("qif_mean", [mean_op]), N=N, input_var="I_ext",
                    output_var="s", op="qif_mean_op", spike_var="spike", spike_def="v",
                    spike_threshold=100.0, spike_reset=-100.0,
                    node_vars={"eta": etas, "tau": tau, "tau_s": tau_s})
# one input column per neuron: the same current for all
obs_snn = snn.run(np.repeat(I[:, None], N, axis=1), verbose=False, sampling_steps=10,
                  record_output=False, record_vars=[("qif", "s", True), ("qif", "v", True)])

# %%
# Comparison
# ----------
#
# The network's rate estimate is the population mean of ``s / tau_s`` (its spikes filtered with
# time constant ``tau_s``), recorded every 10 steps with ``reduce=True``. The two differ where the
# network is not the idealised one of the theory: it has finitely many neurons (the
# fluctuations), and its threshold and reset are :math:`\pm 100` instead of :math:`\pm\infty`,
# so each spike skips the time :math:`v` takes from 100 to infinity and from minus infinity to
# -100 (about :math:`2\tau/100`): at high rates the network fires a few percent faster.

r_snn = obs_snn[("qif", "s")] / tau_s
fig, axes = plt.subplots(3, 1, sharex=True, figsize=(8, 7),
                         gridspec_kw={"height_ratios": [2, 2, 1]})
axes[0].plot(obs_snn.time, r_snn, color="0.6", label=f"spiking network, N = {N}")
axes[0].plot(obs_mf.time, obs_mf["out"][:, 0], color="C3", label="mean-field model")
axes[0].set_ylabel("firing rate r")
axes[0].legend(fontsize="small", loc="upper right")
axes[0].set_title("Montbrio et al. (2015): QIF network and its exact mean field")
axes[1].plot(obs_snn.time, obs_snn[("qif", "v")], color="0.6", label="spiking network")
axes[1].plot(obs_mf.time, obs_mf[("mf", "v")][:, 0], color="C3", label="mean-field model")
axes[1].set_ylim(-3.0, 3.0)
axes[1].set_ylabel("mean potential v")
axes[1].legend(fontsize="small", loc="upper right")
axes[2].plot(time, I, "k", label="input I")
axes[2].set_ylabel("I")
axes[2].set_xlabel("time (in units of tau)")
axes[2].legend(fontsize="small", loc="upper right")
fig.tight_layout()

# %%
# The stationary rates before, during and after the stimulus:

for name, (a, b) in {"before": (5, 10), "during": (25, 30), "after": (35, 40)}.items():
    sel_mf = (obs_mf.time >= a) & (obs_mf.time < b)
    sel_snn = (obs_snn.time >= a) & (obs_snn.time < b)
    print(f"{name:>6} the stimulus: mean field r = {obs_mf['out'][sel_mf, 0].mean():.3f}, "
          f"network r = {r_snn[sel_snn].mean():.3f}")
