r"""
A bifurcation diagram from a parameter sweep
============================================

:func:`rectinumba.sweep` runs one network at every point of a parameter grid, in batched kernels
(many points per kernel call, spread over the CPU's threads), and returns the results labelled by
parameter values. Here it maps the mean firing rate of a population of quadratic
integrate-and-fire (QIF) neurons over its mean excitability :math:`\bar\eta` and its coupling
strength :math:`J`: the diagram of Montbrió, Pazó & Roxin (2015), where a low-activity and a
high-activity state coexist in a wedge of the plane.

The same call runs on a Dask cluster or an MPI pool by passing ``executor=client`` (a
``distributed.Client``) or ``executor=MPIPoolExecutor()``; nothing else changes.
"""

# %%
# The network
# -----------
#
# ``N`` all-to-all coupled QIF neurons (``J_ij = 1/N``, multiplied per point by the key
# ``"rnn/weights"``) with excitabilities spread around zero by Lorentzian quantiles (half-width
# :math:`\Delta = 1`). The network input is a constant current: scaling it per point (key
# ``"inputs"``) shifts every neuron's excitability, so its amplitude is :math:`\bar\eta`.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network, sweep

N, dt, delta = 50, 1e-3, 1.0
i = np.arange(1, N + 1)
spread = delta * np.tan(0.5 * np.pi * (2 * i - N - 1) / (N + 1))

net = Network.from_yaml(
    "model_templates.spiking_neurons.qif.qif", weights=np.ones((N, N)) / N, source_var="s",
    target_var="s_in", input_var="I_ext", output_var="s", op="qif_op", spike_var="spike",
    spike_def="v", dt=dt, node_vars={"eta": spread},
)  # fmt: skip

# %%
# The sweep
# ---------
#
# A 21 x 20 grid of :math:`(\bar\eta, J)`, times two initial conditions of the membrane
# potential (key ``"v"``, an initial state): all neurons at rest (``v = -2``) or all
# depolarised (``v = 5``: they all fire within a fraction of a time unit, a burst that kicks the
# population up). The recording is the population mean of
# the synaptic trace ``s``, whose time average (after a transient) is the firing rate here
# (``tau_s = 1``); ``reduce="mean"`` averages it over time on the worker, so only one number per
# point comes back.

T = 8_000  # 8 time units
grid = {
    "inputs": np.linspace(-8.0, 2.0, 21),
    "rnn/weights": np.linspace(1.0, 20.0, 20),
    "v": [-2.0, 5.0],
}
res = sweep(
    net, grid, inputs=np.ones((T, N)), record_output=False, record_vars=[("rnn", "s", True)],
    cutoff=T - 2_000, reduce="mean", batch_size=48, progress=False, output="numpy",
)  # fmt: skip
print(res)
rate = res["rnn/s"]  # shape (21, 20, 2): eta x J x initial state
print("failed points:", int((~res.ok).sum()))

# %%
# The diagram
# -----------
#
# Left: the rate reached from rest. Right: where the two initial conditions end in different
# states: the bistable region, where a low-activity and a high-activity state coexist. The
# dashed lines are where the mean-field model (infinitely many neurons, infinite threshold)
# predicts the edges of that region.

eta_axis, j_axis = res.axes["inputs"], res.axes["rnn/weights"]
extent = [eta_axis[0], eta_axis[-1], j_axis[0], j_axis[-1]]
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
im = ax0.imshow(rate[:, :, 0].T, origin="lower", extent=extent, aspect="auto", cmap="magma")
fig.colorbar(im, ax=ax0, label=r"mean rate from rest ($1/\tau$)")
ax0.set(xlabel=r"$\bar\eta$ (dimensionless)", ylabel="$J$ (dimensionless)", title="firing rate")
gap = np.abs(rate[:, :, 1] - rate[:, :, 0]).T
im = ax1.imshow(gap, origin="lower", extent=extent, aspect="auto", cmap="viridis")
fig.colorbar(im, ax=ax1, label=r"|rate kicked - rate from rest| ($1/\tau$)")
ax1.set(xlabel=r"$\bar\eta$ (dimensionless)", ylabel="$J$ (dimensionless)", title="bistability")
# Fold lines of the mean-field model (N -> infinity, threshold -> infinity). Its fixed points
# obey eta = pi^2 r^2 - J r - delta^2 / (4 pi^2 r^2); folds are where d(eta)/dr = 0, which gives
# the curve (eta(r), J(r)) below, parametrised by the rate r at the fold.
r = np.linspace(0.12, 1.2, 400)
fold_j = 2 * np.pi**2 * r + delta**2 / (2 * np.pi**2 * r**3)
fold_eta = -(np.pi**2) * r**2 - 3 * delta**2 / (4 * np.pi**2 * r**2)
for ax in (ax0, ax1):
    ax.plot(fold_eta, fold_j, "w--", lw=1, label="mean-field folds")
    ax.set(xlim=extent[:2], ylim=extent[2:])
    ax.legend(loc="lower left", fontsize="small")
plt.show()

# %%
# With xarray installed (``pip install rectinumba[xarray]``), ``output="auto"`` (the default)
# returns an :class:`xarray.Dataset` instead, with the grid keys as dimensions:
# ``ds["rnn/s"].sel(v=-2.0).plot()`` draws the left panel.
