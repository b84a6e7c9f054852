"""
Sparse networks
===============

Recurrent weights ``J`` and edge weights may be ``scipy.sparse`` matrices. The compiled kernel
then runs the coupling as a CSR row gather, ``target_i = sum over the non-zeros J[i, j] of
J[i, j] * source_j``, which costs time proportional to the number of connections instead of
:math:`N^2`.

Which format runs:

- a ``scipy.sparse`` matrix with fewer than 20 % non-zeros runs as CSR, a denser one as a dense
  matrix;
- a dense numpy array runs dense, except that a large one (at least 10000 entries) with fewer
  than 20 % non-zeros is run as CSR too;
- ``sparse=True`` or ``sparse=False`` (a keyword of
  :meth:`~rectinumba.Network.add_diffeq_node` and :meth:`~rectinumba.Network.add_edge`) forces
  the choice.

Both formats compute the same sums, in a different order: results differ by rounding only (in a
chaotic regime a rounding difference can still flip a spike at some point, after which the
trajectories part). Trained weights keep the form the user gave: a dense
matrix trains all :math:`N^2` entries, a sparse one keeps its sparsity structure.

A spiking network coupled through its synaptic trace ``s`` needs no product at all: the kernel
keeps ``J @ s`` per neuron and adds the columns of the neurons that spiked (event-driven
coupling, chosen automatically; see :doc:`/guide/performance`). ``propagation="matvec"`` forces
the product, which is what the first comparison below times.
"""

# %%
# A sparse random network
# -----------------------
#
# 500 LIF neurons, each receiving 50 connections (10 % density), built with
# :func:`rectinumba.utility.random_connectivity` and scaled to a spectral radius of 0.9 with
# :func:`rectinumba.utility.scale_spectral_radius`.

import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

from rectinumba import Network
from rectinumba.utility import random_connectivity, scale_spectral_radius, spectral_radius

N, p, dt = 500, 0.1, 1e-2
rng = np.random.default_rng(5)
C = random_connectivity(N, N, p, normalize=False, seed=1, per_row=True)  # 0/1, 50 per row
signs = np.where(rng.random(N) < 0.8, 1.0, -4.0)  # column j: presynaptic neuron j
J = sp.csr_matrix(C * signs[None, :])
J = scale_spectral_radius(J, 0.9)
print(f"{J.nnz} connections, density {J.nnz / N**2:.3f}, spectral radius "
      f"{spectral_radius(J):.2f}")


def build(weights, sparse=None, propagation="auto"):
    net = Network(dt=dt)
    net.add_diffeq_node("lif", "model_templates.spiking_neurons.lif.lif", weights=weights,
                        source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
                        op="lif_op", spike_var="spike", spike_def="v", spike_threshold=1.0,
                        spike_reset=0.0, sparse=sparse, propagation=propagation,
                        node_vars={"eta": np.linspace(0.08, 0.14, N), "tau_s": 2.0,
                                   "v": np.random.default_rng(0).uniform(0.0, 1.0, N)})
    return net


net_csr = build(J, propagation="matvec")
net_dense = build(J, sparse=False, propagation="matvec")
net_events = build(J)  # propagation="auto": event-driven here
print("coupling:", net_csr.get_node("lif").coupling, "and", net_dense.get_node("lif").coupling)

# %%
# The same simulation in both formats
# -----------------------------------
#
# The first run of each network compiles its kernel (or loads it from the cache); the timed
# runs come after that. At 10 % density CSR does a tenth of the dense multiplications, but
# gathers them through an index; the event-driven network only touches the connections of the
# neurons that spiked. How much each gains depends on the machine (and on its load while these
# pages were built).

T = 2000
inp = np.zeros((T, N))
results = {}
for name, net in [("CSR", net_csr), ("dense", net_dense), ("events", net_events)]:
    net.run(inp[:100], verbose=False)  # compile (or load from the cache) the kernel of long runs
    net.reset()
    t0 = time.perf_counter()
    results[name] = net.run(inp, verbose=False, record_vars=[("lif", "v")])
    print(f"{name:>5}: {time.perf_counter() - t0:.3f} s for {T} steps")

v_csr, v_dense = results["CSR"][("lif", "v")], results["dense"][("lif", "v")]
v_events = results["events"][("lif", "v")]
print("largest difference of v:", np.abs(v_csr - v_dense).max(), "(dense),",
      np.abs(v_csr - v_events).max(), "(events)")
print("spikes:", (v_csr == 0.0).sum(), "(CSR),", (v_dense == 0.0).sum(), "(dense),",
      (v_events == 0.0).sum(), "(events)")

# %%
# Activity of the sparse network

v = results["CSR"][("lif", "v")]
steps, neurons = np.nonzero(v == 0.0)
fig, axes = plt.subplots(2, 1, sharex=True, figsize=(8, 5))
keep = neurons < N
axes[0].scatter(results["CSR"].time[steps[keep]], neurons[keep], s=1, c="k", marker="|",
                label="spike")
axes[0].set_ylabel("neuron")
axes[0].legend(loc="upper right", fontsize="small")
axes[0].set_title(f"sparse LIF network, N = {N}, {J.nnz} connections")
axes[1].plot(results["CSR"].time, results["CSR"]["out"].mean(axis=1), label="mean trace s")
axes[1].set_xlabel("time (same unit as tau)")
axes[1].set_ylabel("s")
axes[1].legend(fontsize="small")
fig.tight_layout()
