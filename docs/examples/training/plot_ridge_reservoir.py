r"""
Reservoir computing with a ridge readout
========================================

In reservoir computing a fixed random recurrent network (the *reservoir*) is driven by an input,
and only a linear readout of its activity is trained. :meth:`~rectinumba.Network.fit_ridge`
fits that readout by ridge regression,

.. math::

    W = (X^\top X + \alpha I)^{-1} X^\top Y,

where the rows of :math:`X` are the network output at the recorded steps and :math:`Y` the
targets at the same steps. :math:`X^\top X` and :math:`X^\top Y` are accumulated inside the
compiled simulation loop, so the memory of a fit does not grow with the number of steps. The fit
adds an identity node ``"readout"`` with weights :math:`W^\top` that becomes the network output.

Task: recall the input of 5, 10 and 20 steps ago, and the product of the inputs 5 and 10 steps
ago, from the current reservoir state alone.
"""

# %%
# The reservoir
# -------------
#
# An input node of one unit drives 300 tanh rate neurons (:math:`\tau = 1`) whose random
# coupling is scaled to a spectral radius of 0.9, below the edge of chaos; the reservoir's
# output is the rate ``tanh_op/r``. A random constant drive ``eta`` per neuron breaks the odd
# symmetry of tanh: without it the state is an odd function of the input and no linear readout
# can form a product of two inputs.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network
from rectinumba.utility import input_connections, scale_spectral_radius

rng = np.random.default_rng(11)
N, dt = 300, 0.2
J = scale_spectral_radius(rng.standard_normal((N, N)) / np.sqrt(N), 0.9)
net = Network(dt=dt)
net.add_func_node("inp", 1, activation_function="identity")
net.add_diffeq_node("res", "model_templates.rate_neurons.leaky_integrator.tanh", weights=J,
                    source_var="tanh_op/r", target_var="li_op/r_in", input_var="li_op/I_ext",
                    output_var="tanh_op/r",
                    node_vars={"li_op/tau": 1.0, "li_op/eta": rng.uniform(-1.0, 1.0, N)})
net.add_edge("inp", "res", weights=input_connections(N, 1, 0.5, variance=1.0, seed=3))

# %%
# Input and targets
# -----------------
#
# The input is white noise held for 5 steps. The targets are given per step, like the inputs;
# ``cutoff`` drops the first steps of every run from the fit (the reservoir forgets its initial
# state first).

delays = [5, 10, 20]


def data(steps, seed):
    u = np.repeat(np.random.default_rng(seed).uniform(-1.0, 1.0, steps // 5 + 1), 5)[:steps]
    y = np.stack([np.roll(u, d) for d in delays] + [np.roll(u, 5) * np.roll(u, 10)], axis=1)
    return u[:, None], y


x_train, y_train = data(6000, seed=1)
x_test, y_test = data(2000, seed=2)
obs = net.fit_ridge(x_train, y_train, alpha=1e-4, cutoff=200, verbose=False)
print("readout weights:", obs["w_out"].shape, "; nodes now:", net.nodes)

# %%
# Testing
# -------
#
# :meth:`~rectinumba.Network.test` runs the network (now ending in the readout) on new data and
# returns the recordings and the loss. The state continues from the end of the fit, so the test
# needs no cutoff of its own; we reset anyway to show the cutoff at work.

net.reset()
test_obs, loss = net.test(x_test, y_test, loss="mse", cutoff=200, verbose=False)
pred = test_obs["out"]
truth = y_test[200:]
for k, name in enumerate([f"u(t - {d})" for d in delays] + ["u(t-5) u(t-10)"]):
    r2 = 1.0 - np.mean((pred[:, k] - truth[:, k]) ** 2) / np.var(truth[:, k])
    print(f"{name:>14}: R^2 = {r2:.3f}")
print(f"test mse: {loss:.4f}")

fig, axes = plt.subplots(4, 1, sharex=True, figsize=(8, 7))
t = (np.arange(truth.shape[0]) + 200) * dt
titles = [f"input {d} steps ago" for d in delays] + ["u(t-5) * u(t-10)"]
for k, ax in enumerate(axes):
    ax.plot(t[:300], truth[:300, k], "k", lw=2, alpha=0.4, label="target")
    ax.plot(t[:300], pred[:300, k], "C1", label="readout")
    ax.set_ylabel(titles[k], fontsize="small")
    ax.legend(fontsize="x-small", loc="upper right")
axes[-1].set_xlabel("time (in units of tau)")
axes[0].set_title("reservoir with ridge readout: test data")
fig.tight_layout()
