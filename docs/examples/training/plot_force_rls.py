r"""
FORCE learning with recursive least squares
===========================================

FORCE learning (Sussillo & Abbott 2009, *Neuron* 63, 544) trains the readout :math:`z = W r` of a
chaotic rate network whose output is fed back into the network, so that the closed loop produces
a target signal on its own. The readout weights are updated online by recursive least squares
(RLS), fast enough that the output stays close to the target from the start:

.. math::

    k = \frac{P r}{1 + r^\top P r}, \qquad
    P \leftarrow P - k\, r^\top P, \qquad
    W \leftarrow W + (f(t) - W r)\, k^\top,

with :math:`P(0) = \alpha I` (rectinumba's update also has a forgetting factor
``beta``, 1 by default). :meth:`~rectinumba.Network.fit_rls` runs this update inside the compiled
simulation loop every ``update_steps`` steps, on the one edge added with ``train="rls"``.
"""

# %%
# The network
# -----------
#
# 500 tanh rate neurons with recurrent gain :math:`g = 1.5` (chaotic), a readout node ``z`` of
# one identity unit fed by the trained edge (whose weights start at zero), and a fixed feedback
# edge from ``z`` back into the network. ``feedback=True`` makes the edge read the readout's
# output of the previous step, which closes the loop without a cycle in the step order. An
# input node of one unit (silent here) is the network input.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network

rng = np.random.default_rng(2)
N, dt, g = 500, 0.1, 1.5
J = rng.normal(0.0, g / np.sqrt(N), (N, N))
net = Network(dt=dt)
net.add_func_node("inp", 1, activation_function="identity")
net.add_diffeq_node("rnn", "model_templates.rate_neurons.leaky_integrator.tanh", weights=J,
                    source_var="tanh_op/r", target_var="li_op/r_in", input_var="li_op/I_ext",
                    output_var="tanh_op/r",
                    node_vars={"li_op/tau": 1.0, "li_op/v": rng.normal(0.0, 0.5, N)})
net.add_func_node("z", 1, activation_function="identity")
net.add_edge("inp", "rnn", weights=np.zeros((N, 1)))
net.add_edge("rnn", "z", train="rls")  # no weights: RLS edges start at zero
net.add_edge("z", "rnn", weights=rng.uniform(-1.0, 1.0, (N, 1)), feedback=True)

# %%
# The target
# ----------
#
# A periodic signal of period 60 time units (600 steps), a sum of four harmonics.

period = 60.0


def target(steps, t0=0):
    t = (np.arange(steps) + t0) * dt
    w = 2 * np.pi / period
    f = (np.sin(w * t) + 0.5 * np.sin(2 * w * t) + 0.3 * np.sin(3 * w * t)
         + 0.2 * np.sin(4 * w * t)) / 1.5
    return f[:, None]


# %%
# Training
# --------
#
# 20 periods with an RLS update every 2 steps, starting from :math:`P = 10 I` (a larger
# ``alpha`` learns faster at first). ``fit_rls`` records the output and the a-priori
# error :math:`f - W r` (before each update) every ``sampling_steps`` steps.

T_train = int(20 * period / dt)
obs = net.fit_rls(np.zeros((T_train, 1)), target(T_train), update_steps=2, alpha=10.0,
                  sampling_steps=1, verbose=False)
print("trained weights:", obs["w_out"].shape, " final mse:", obs["loss"][-600:].mean())

# %%
# Testing: the closed loop on its own
# -----------------------------------
#
# After training, the weights stay fixed and the network runs on, continuing from the state at
# the end of training, and must keep producing the target.

T_test = int(4 * period / dt)
test = net.run(np.zeros((T_test, 1)), verbose=False)
f_test = target(T_test, t0=T_train)
print("test mse:", np.mean((test["out"] - f_test) ** 2))

fig, axes = plt.subplots(3, 1, figsize=(9, 7))
t_train = np.arange(T_train) * dt
axes[0].plot(t_train[:2400], target(T_train)[:2400, 0], "k", lw=2, alpha=0.4, label="target")
axes[0].plot(t_train[:2400], obs["out"][:2400, 0], "C1", lw=1, label="output z")
axes[0].set_title("start of training")
axes[1].semilogy(t_train, obs["loss"], "C2", lw=0.5, label="squared error before each update")
axes[1].set_title("training error")
t_test = (np.arange(T_test) + T_train) * dt
axes[2].plot(t_test, f_test[:, 0], "k", lw=2, alpha=0.4, label="target")
axes[2].plot(t_test, test["out"][:, 0], "C1", lw=1, label="output z (weights fixed)")
axes[2].set_title("after training: the closed loop alone")
for ax in axes:
    ax.legend(fontsize="x-small", loc="upper right")
    ax.set_xlabel("time (in units of tau)")
fig.tight_layout()
