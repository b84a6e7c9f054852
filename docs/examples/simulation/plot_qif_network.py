r"""
Numerical simulation of a QIF network
=====================================

A network's neurons follow differential equations :math:`\dot y = F(y, \theta, t)` with state
:math:`y` and parameters :math:`\theta`. :meth:`~rectinumba.Network.run` solves the initial value
problem with the explicit Euler method, :math:`y_{t+1} = y_t + dt\, F(y_t, \theta, t)`, one step
per row of the input array, all steps inside one compiled numba kernel.

This is RectiPy's *Network simulations* example: 5 randomly coupled QIF neurons (see
:doc:`/auto_examples/models/plot_qif`), two of which receive sinusoidal inputs.
"""

# %%
# Network initialization
# ----------------------
#
# ``dt`` is in the time unit of the model's time constants; for the QIF neuron that is
# :math:`\tau`. It must be small against the fastest time scale of the model: a QIF neuron near
# its peak (:math:`v = 100`) changes by :math:`v^2 dt = 10` per step at ``dt = 1e-3``.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network

rng = np.random.default_rng(42)
N = 5
J = rng.random((N, N)) * 20.0
dt = 1e-3
qif = Network(dt=dt, device="cpu")
qif.add_diffeq_node("qif", "neuron_model_templates.spiking_neurons.qif.qif", weights=J,
                    source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
                    spike_var="spike", spike_def="v", op="qif_op")

# %%
# Extrinsic inputs
# ----------------
#
# The input array holds one row per integration step and one column per unit of the input node
# (here the QIF population itself: 5 columns). 30 time units are 30000 steps.

steps = 30_000
time = np.arange(steps) * dt
inp = np.zeros((steps, N))
for n, amp, freq in zip([2, 4], [20.0, 10.0], [0.5, 0.25], strict=True):
    inp[:, n] = np.sin(2 * np.pi * freq * time) * amp

fig, ax = plt.subplots(figsize=(7, 2.5))
ax.plot(time, inp)
ax.legend([f"input to neuron {i}" for i in range(N)], fontsize="x-small", ncols=2)
ax.set_xlabel("time (in units of tau)")
ax.set_ylabel("I_ext")
fig.tight_layout()

# %%
# Simulation
# ----------
#
# ``run`` returns an :class:`~rectinumba.Observer`; it records the network output at every step
# unless told otherwise (``sampling_steps``, ``record_output``, ``record_vars``; see
# :doc:`plot_observer`). ``verbose=False`` turns off the progress display (shown only for runs
# longer than one kernel call of 200000 steps anyway).

obs = qif.run(inputs=inp, verbose=False)

ax = obs.plot("out", figsize=(7, 3))
ax.legend([f"s_{i}" for i in range(N)], fontsize="small", loc="upper right")
ax.set_xlabel("time (in units of tau)")
ax.set_ylabel("synaptic output s")
ax.set_title("QIF network driven by sinusoids")
ax.figure.tight_layout()

# %%
# The state is kept between runs: a second call continues where the first one stopped, so a
# long simulation can be split into pieces (the network's step counter, and so the time ``t``
# that templates may use, continues too). :meth:`~rectinumba.Network.reset` starts over.

qif.reset()
first = qif.run(inp[: steps // 2], verbose=False)["out"]
second = qif.run(inp[steps // 2:], verbose=False)["out"]
print("split run equals the whole run:", np.array_equal(np.vstack([first, second]), obs["out"]))

# %%
# Spikes, resets and what is recorded
# -----------------------------------
#
# In every step a neuron whose ``v`` is at or above the threshold (100) *before* the update
# spikes: its ``spike`` input is :math:`1/dt` during this step's update, and ``v`` is set to the
# reset value (-100) after it. The network output is computed from the state before the update;
# ``record_vars`` record the state after the update and the reset. The full contract is on
# :doc:`/guide/step_semantics`.

qif.reset()
obs = qif.run(inp[:5000], verbose=False, record_vars=[("qif", "v")])
v = obs[("qif", "v")]
print("spikes per neuron in the first 5 time units:", (v == -100.0).sum(axis=0))
