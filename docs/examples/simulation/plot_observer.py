"""
Recording and plotting with the Observer
========================================

:meth:`~rectinumba.Network.run`, :meth:`~rectinumba.Network.test` and the ``fit_*`` methods
return an :class:`~rectinumba.Observer`: a small dictionary of numpy arrays with a time axis.

- ``obs["out"]``: the network output, ``(recordings, n_out)``;
- ``obs[(node, var)]``: a variable requested with ``record_vars``, ``(recordings, N)``, or
  ``(recordings,)`` when its ``reduce`` flag asks for the mean over the neurons;
- whatever a training method stored (``"loss"``, ``"w_out"``, ...).

Recordings are taken at the steps ``cutoff, cutoff + sampling_steps, ...``; :attr:`Observer.time`
is ``k * sampling_steps * dt`` for recording ``k`` (RectiPy's convention: the steps dropped by
``cutoff`` are not on the axis).
"""

# %%
# A network to observe
# --------------------
#
# An input layer of 2 units drives 50 LIF neurons, read out by 3 tanh units.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network

rng = np.random.default_rng(3)
N, dt = 50, 1e-2
net = Network(dt=dt)
net.add_func_node("inp", 2, activation_function="identity")
net.add_diffeq_node("lif", "model_templates.spiking_neurons.lif.lif",
                    weights=rng.normal(0.0, 0.2 / np.sqrt(N), (N, N)),
                    source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
                    op="lif_op", spike_var="spike", spike_def="v", spike_threshold=1.0,
                    spike_reset=0.0, node_vars={"v": rng.uniform(0.0, 1.0, N), "tau_s": 2.0})
net.add_func_node("readout", 3, activation_function="tanh")
net.add_edge("inp", "lif", weights=np.abs(rng.normal(0.0, 0.15, (N, 2))))
net.add_edge("lif", "readout", weights=rng.normal(0.0, 0.3 / np.sqrt(N), (3, N)))

T = 6000
t = np.arange(T) * dt
inp = np.stack([1.0 + np.sin(2 * np.pi * t / 20.0), 1.0 + np.cos(2 * np.pi * t / 35.0)], axis=1)

# %%
# Choosing what to record
# -----------------------
#
# ``record_vars`` takes ``(node, var)`` or ``(node, var, reduce)`` entries. Variable names are
# resolved like everywhere else (``"v"`` with ``op="lif_op"`` is ``"lif_op/v"``), and the
# recording is stored under the key exactly as written. Function nodes offer ``"in"`` (summed
# input) and ``"out"`` (activation). Here: every ``v``, the population mean of ``s``, and the
# readout's input; every 5th step after the first 1000.

obs = net.run(inp, verbose=False, sampling_steps=5, cutoff=1000,
              record_vars=[("lif", "v"), ("lif", "s", True), ("readout", "in")])
print(obs)
print("time axis:", obs.time[:3], "...", obs.time[-1])

# %%
# Plotting
# --------
#
# :meth:`Observer.plot` draws one or several recordings against time (or against another
# recording with ``x=``); :meth:`Observer.matshow` draws a (recordings, N) array as an image.
# Both return the matplotlib Axes, so labels and legends stay under your control.

fig, axes = plt.subplots(3, 1, sharex=True, figsize=(8, 7))
obs.matshow(("lif", "v"), ax=axes[0], cmap="viridis", vmin=0.0, vmax=1.0)
axes[0].set_ylabel("neuron")
axes[0].set_title("membrane potential v of every LIF neuron")
obs.plot(("lif", "s"), ax=axes[1], label="population mean of s")
axes[1].legend(fontsize="small", loc="upper right")
for ax in axes[:2]:
    ax.set_xlabel("")
obs.plot("out", ax=axes[2])
axes[2].legend([f"readout {i}" for i in range(3)], fontsize="small", loc="upper right")
axes[2].set_xlabel("time after the cutoff (same unit as tau)")
fig.tight_layout()

# %%
# One recording against another: the readout's output as a function of the population mean.

ax = obs.plot("out", x=("lif", "s"), figsize=(5, 4), marker=".", ls="none", ms=2)
ax.legend([f"readout {i}" for i in range(3)], fontsize="small")
ax.set_title("readout output against mean synaptic trace")
ax.figure.tight_layout()

# %%
# numpy and pandas
# ----------------
#
# Recordings are plain numpy arrays (``obs[key]`` or ``obs.to_numpy(key)``);
# :meth:`Observer.to_dataframe` gives a pandas DataFrame indexed by time (pandas is an optional
# extra, ``pip install rectinumba[pandas]``).

v = obs[("lif", "v")]
print(type(v).__name__, v.shape, v.dtype)
df = obs.to_dataframe(("lif", "s"))
print(df.head())
