r"""
Backpropagation through time on spiking neurons
===============================================

A spike is a step function of the membrane potential, whose derivative is zero almost everywhere.
:meth:`~rectinumba.Network.fit_bptt` therefore replaces it in the backward pass by a *surrogate
derivative* (Neftci, Mostafa & Zenke 2019),

.. math::

    \frac{\partial\, \mathrm{spike}}{\partial v} \approx
    \frac{1}{(1 + \sigma |v - v_\theta|)^2},

with slope :math:`\sigma = 200 / |v_\theta - v_r|` by default (``spike_slope=`` of
:meth:`~rectinumba.Network.add_diffeq_node` sets it per node). The forward pass is the exact
spiking simulation; only the gradient is approximate.

Task: a population of 50 LIF neurons receives three phase-shifted sinusoids; the input weights
and the readout weights are trained so that the readout produces a different waveform.
"""

# %%
# The network
# -----------
#
# input (3 units) -> LIF population (50 neurons, threshold 1, reset 0) -> readout (1 unit).
# Both edges have ``train="gd"``; the recurrent coupling stays fixed. The excitabilities ``eta``
# (between 0.15 and 0.35, with ``tau = 5``: resting potentials ``tau * eta`` on both sides of the
# threshold) keep part of the population spiking from the start; a silent population gets
# gradients through the surrogate alone, and learns much more slowly.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network

rng = np.random.default_rng(4)
N, dt = 50, 0.1
net = Network(dt=dt)
net.add_func_node("inp", 3, activation_function="identity")
net.add_diffeq_node("lif", "model_templates.spiking_neurons.lif.lif",
                    weights=rng.normal(0.0, 0.3 / np.sqrt(N), (N, N)),
                    source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
                    op="lif_op", spike_var="spike", spike_def="v",
                    spike_threshold=1.0, spike_reset=0.0,
                    node_vars={"tau": 5.0, "tau_s": 2.0, "eta": rng.uniform(0.15, 0.35, N)})
net.add_func_node("out", 1, activation_function="identity")
net.add_edge("inp", "lif", weights=rng.normal(0.0, 0.5, (N, 3)), train="gd")
net.add_edge("lif", "out", weights=rng.normal(0.0, 0.1, (1, N)), train="gd")

T = 500  # 50 time units
time = np.arange(T) * dt
phase = 2 * np.pi * time / 25.0
inp = np.stack([np.sin(phase), np.sin(phase + 2.1), np.sin(phase + 4.2)], axis=1)
target = (0.6 * np.sin(2 * phase) + 0.3 * np.cos(phase))[:, None] + 0.5


def evaluate():
    net.reset()
    obs = net.run(inp, verbose=False, record_vars=[("lif", "v")])
    return obs["out"][:, 0], obs[("lif", "v")]


before, _ = evaluate()

# %%
# Training
# --------
#
# 200 epochs of the same sequence (one Adam step each, the state reset before every epoch).
# :meth:`~rectinumba.Network.bptt_parameters` names what is trained: ``"<source>-><target>"`` for
# edges.

print({name: arr.shape for name, arr in net.bptt_parameters().items()})
net.reset()
obs = net.fit_bptt([inp] * 200, [target] * 200, optimizer="adam", lr=1e-2, loss="mse",
                   verbose=False)
after, v = evaluate()
print(f"loss: first epoch {obs['epoch_loss'][0]:.4f}, last epoch {obs['epoch_loss'][-1]:.4f}")

# %%
# Results
# -------
#
# The spikes are counted from the recorded ``v``: a neuron spiked in a step exactly when its
# post-update ``v`` equals the reset value.

steps, neurons = np.nonzero(v == 0.0)
fig, axes = plt.subplots(3, 1, figsize=(8, 8))
axes[0].semilogy(obs["epoch_loss"], label="mse per epoch")
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("loss")
axes[0].legend(fontsize="small")
axes[0].set_title("training a spiking network with surrogate gradients")
axes[1].plot(time, target[:, 0], "k", lw=3, alpha=0.4, label="target")
axes[1].plot(time, before, "C0", ls=":", label="readout before training")
axes[1].plot(time, after, "C1", label="readout after training")
axes[1].set_ylabel("output")
axes[1].set_xlabel("time (same unit as tau)")
axes[1].legend(fontsize="small", loc="upper right")
axes[2].scatter(time[steps], neurons, s=4, c="k", marker="|", label="spike")
axes[2].set_ylabel("neuron")
axes[2].set_xlabel("time (same unit as tau)")
axes[2].legend(fontsize="small", loc="upper right")
fig.tight_layout()
