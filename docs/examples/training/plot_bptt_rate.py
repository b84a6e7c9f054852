r"""
Backpropagation through time on rate neurons
============================================

:meth:`~rectinumba.Network.fit_bptt` trains parameters by gradient descent on a loss of the
network output, with gradients computed by backpropagation through time (BPTT). There is no
autodiff library underneath: sympy differentiates the neuron equations once, and rectinumba
generates a forward kernel that keeps the states it needs (the tape) and an adjoint kernel that
runs the recursion backwards through the Euler steps, the recurrent coupling, the edges and the
activation functions.

What can be trained:

- node parameters listed in ``train_params`` of
  :meth:`~rectinumba.Network.add_diffeq_node` (``"weights"`` is the coupling :math:`J`);
- edges added with ``train="gd"``.

This example is RectiPy's *BPTT on rate neurons*: a *learner* network learns the recurrent
weights of a *teacher* network from the teacher's output alone.
"""

# %%
# Teacher and learner
# -------------------
#
# Both are 20 leaky integrators with tanh outputs, heterogeneous time constants and recurrent
# coupling scaled to a spectral radius of 1, driven by the same sinusoidal input. They differ in
# their weights only.

import matplotlib.pyplot as plt
import numpy as np

from rectinumba import Network
from rectinumba.utility import scale_spectral_radius

rng = np.random.default_rng(7)
N, dt = 20, 0.05
node = "model_templates.rate_neurons.leaky_integrator.tanh"
node_vars = {"li_op/tau": rng.uniform(1.0, 2.0, N), "li_op/k": 2.0, "li_op/eta": 0.5}
J_teacher = scale_spectral_radius(rng.standard_normal((N, N)), 1.0)
J_start = scale_spectral_radius(rng.standard_normal((N, N)), 1.0)


def network(J, train_params=None):
    net = Network(dt=dt)
    net.add_func_node("inp", 1, activation_function="identity")
    net.add_diffeq_node("rnn", node, weights=J, source_var="tanh_op/r", target_var="li_op/r_in",
                        input_var="li_op/I_ext", output_var="li_op/v", node_vars=node_vars,
                        train_params=train_params)
    net.add_edge("inp", "rnn", weights=np.linspace(-1.0, 1.0, N)[:, None])
    return net


T = 400  # 20 time units
time = np.arange(T) * dt
inp = (2.0 * np.sin(2.0 * np.pi * 0.1 * time))[:, None]

teacher = network(J_teacher)
target = teacher.run(inp, verbose=False)["out"]
J_start_copy = J_start.copy()
learner = network(J_start, train_params=["weights"])
before = learner.run(inp, verbose=False)["out"]
learner.reset()

# %%
# Training
# --------
#
# A list of arrays is a list of *epochs*: one optimizer step per epoch, back-propagating through
# the whole epoch, with the state reset before every epoch. (A single long array instead is cut
# into windows of ``update_steps`` steps, truncated BPTT, with the state carried over; a 3-D array
# ``(B, T, m)`` is a batch of trials whose loss is averaged.) Losses and optimizers follow
# torch's definitions and defaults; ``mse`` averages over steps and output units.

epochs = 300
obs = learner.fit_bptt([inp] * epochs, [target] * epochs, optimizer="adam", loss="mse",
                       lr=1e-2, verbose=False)
learner.reset()  # training leaves the state where the last epoch ended
after = learner.run(inp, verbose=False)["out"]
print(f"loss: first epoch {obs['epoch_loss'][0]:.4f}, last epoch {obs['epoch_loss'][-1]:.5f}")

# %%
# The trained weights are the network's own: :meth:`~rectinumba.Network.get_var` returns a copy
# of :math:`J`. (The contract is that training never changes an array the caller passed in:
# rectinumba copies what it is given; we compare with a copy all the same.)

J_trained = learner.get_var("rnn", "weights")
print("largest change of a weight:", np.abs(J_trained - J_start_copy).max().round(3))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].semilogy(obs["epoch_loss"], label="mse per epoch")
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("loss")
axes[0].legend(fontsize="small")
axes[0].set_title("training loss")
for i, c in zip([0, 5], ["C0", "C1"], strict=True):
    axes[1].plot(time, target[:, i], c, lw=3, alpha=0.4, label=f"teacher, neuron {i}")
    axes[1].plot(time, before[:, i], c, ls=":", label=f"learner before, neuron {i}")
    axes[1].plot(time, after[:, i], c, label=f"learner after, neuron {i}")
axes[1].set_xlabel("time (same unit as tau)")
axes[1].set_ylabel("v")
axes[1].legend(fontsize="x-small", ncols=2, loc="lower left")
axes[1].set_title("outputs")
fig.tight_layout()

# %%
# Gradients without a step
# ------------------------
#
# :meth:`~rectinumba.Network.bptt_gradients` returns the gradients of the loss of one sequence
# with respect to every trained array, by name, without changing anything. It runs from the
# network's current state, so we reset first. Here they are checked
# against a central finite difference of the loss for one weight. With ``checkpoint=K`` the
# forward pass keeps the state only every ``K`` steps and recomputes the rest segment by segment
# in the backward pass: memory :math:`O(T/K + K)` instead of :math:`O(T)`, same gradients.

learner.reset()
grads = learner.bptt_gradients(inp, target, loss="mse")
grads_ckpt = learner.bptt_gradients(inp, target, loss="mse", checkpoint=20)
print({name: g.shape for name, g in grads.items()})
print("checkpointed gradients equal:", np.allclose(grads["rnn/weights"],
                                                   grads_ckpt["rnn/weights"], rtol=1e-10))


def loss_with(J):
    probe = network(J)
    return np.mean((probe.run(inp, verbose=False)["out"] - target) ** 2)


i, j, h = 3, 7, 1e-6
Jp, Jm = J_trained.copy(), J_trained.copy()
Jp[i, j] += h
Jm[i, j] -= h
fd = (loss_with(Jp) - loss_with(Jm)) / (2 * h)
print(f"dL/dJ[{i},{j}]: adjoint {grads['rnn/weights'][i, j]:.6e}, finite difference {fd:.6e}")
