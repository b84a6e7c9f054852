r"""
Jansen-Rit circuit: three populations as a network
==================================================

The Jansen-Rit model (Jansen & Rit 1995, *Biol. Cybern.* 73, 357) describes a cortical column
by three interacting populations: pyramidal cells (``pc``), excitatory interneurons (``ein``)
and inhibitory interneurons (``iin``). Each population turns incoming firing rates into
post-synaptic potentials through second-order synapses (``rpo_*``),

.. math::

    \ddot V = \frac{h}{\tau} m_{in} - \frac{2}{\tau} \dot V - \frac{V}{\tau^2},

and its membrane potential into a firing rate through a sigmoid (``pro``),
:math:`m = m_{max} / (1 + e^{s (V_{thr} - V)})`. The pyramidal cells have two synapses (an
excitatory one that also receives the extrinsic input :math:`u`, and an inhibitory one) whose
potentials add up to their membrane potential.

PyRates writes this as a circuit template, ``model_templates.neural_mass_models.jansenrit.JRC``:
three nodes and four edges ``pc -> ein`` (135), ``pc -> iin`` (33.75), ``ein -> pc`` (108) and
``iin -> pc`` (-33.75), each from a population's rate ``pro/m`` to a synapse's input ``m_in``.
:meth:`~rectinumba.Network.from_circuit` builds it into a network: one node per population, one
edge per circuit edge, all in one compiled kernel.
"""

# %%
# The network
# -----------
#
# The extrinsic input :math:`u` of the pyramidal cells is the network input (``input_var``);
# their firing rate is the output. The edges into ``pc`` close cycles; the builder makes them
# feedback edges, which read the interneurons' rates on the current state: every population
# sees the others' values of the same step, as in PyRates.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network

dt = 1e-4  # seconds
net = Network.from_circuit("model_templates.neural_mass_models.jansenrit.JRC", dt=dt,
                           input_var="pc/rpo_e_in/u", output_var="pc/pro/m")
print(net.nodes)
for key in net.edges:
    edge = net.get_edge(*key)
    source_var = edge.source_var or net.get_node(edge.source).output_var  # None: the output
    print(f"{edge.source:>3}/{source_var} -> {edge.target}/{edge.target_var}: "
          f"weight {edge.weights[0, 0]:7.2f}{'  (feedback)' if edge.feedback else ''}")

# %%
# Alpha rhythm under noisy input
# ------------------------------
#
# Driven by noisy input around 220 pulses/s, the column produces the alpha rhythm (about 10 Hz)
# in the pyramidal cells' membrane potential :math:`V_e + V_i`, the model's EEG signal.

T = 30_000  # 3 s
rng = np.random.default_rng(0)
u = 220.0 + 22.0 * rng.standard_normal((T, 1))
obs = net.run(u, verbose=False, record_vars=[("pc", "rpo_e_in/V"), ("pc", "rpo_i/V")])
v_pc = (obs[("pc", "rpo_e_in/V")] + obs[("pc", "rpo_i/V")])[:, 0] * 1e3  # mV
time = obs.time

keep = time >= 1.0  # drop the transient
freqs = np.fft.rfftfreq(keep.sum(), dt)
power = np.abs(np.fft.rfft(v_pc[keep] - v_pc[keep].mean())) ** 2
peak = freqs[1:][np.argmax(power[1:])]
print(f"spectral peak at {peak:.1f} Hz")

# %%
# The transition to oscillations
# ------------------------------
#
# A batch of trials (inputs of shape ``(B, T, 1)``) runs the same network for several constant
# inputs :math:`u` in one call. The shaded band is the range of the pyramidal potential after the
# transient: a point where the column rests, a band where it oscillates. Weak input leaves it at
# rest; from about 100 pulses/s on it oscillates, with the largest swings near the onset.

levels = np.linspace(50.0, 400.0, 15)
net.reset()
sweep = net.run(np.repeat(levels[:, None, None], 20_000, axis=1), verbose=False,
                record_vars=[("pc", "rpo_e_in/V"), ("pc", "rpo_i/V")])
v_sweep = (sweep[("pc", "rpo_e_in/V")] + sweep[("pc", "rpo_i/V")])[:, 10_000:, 0] * 1e3

fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), gridspec_kw={"width_ratios": [2, 1, 1.3]})
axes[0].plot(time[keep], v_pc[keep], lw=0.8, label="pc: $V_e + V_i$")
axes[0].set_xlabel("time (s)")
axes[0].set_ylabel(r"$V_e + V_i$ of pc (mV)")
axes[0].set_title("noisy input, u = 220 ± 22 pulses/s")
axes[0].legend(loc="upper right", fontsize=8)
axes[1].semilogy(freqs[1:], power[1:], label="power of $V_e + V_i$")
axes[1].set_xlim(0, 30)
axes[1].set_ylim(power[1:].max() * 1e-5, power[1:].max() * 3)
axes[1].set_xlabel("frequency (Hz)")
axes[1].set_ylabel("power (a.u.)")
axes[1].set_title(f"power (peak {peak:.1f} Hz)")
axes[1].legend(loc="upper right", fontsize=8)
axes[2].fill_between(levels, v_sweep.min(axis=1), v_sweep.max(axis=1), alpha=0.4,
                     label="min to max")
axes[2].plot(levels, v_sweep.mean(axis=1), "k", lw=1, label="mean")
axes[2].set_xlabel("constant input u (pulses/s)")
axes[2].set_ylabel("range of $V_e + V_i$ (mV)")
axes[2].set_title("batch of 15 inputs")
axes[2].legend(loc="upper left", fontsize=8)
fig.tight_layout()
