"""Small networks shared by several test files; each mirrors a structure that other tests
compile too (same labels, templates and trained parameters), so their kernels are compiled once
per cache."""

from __future__ import annotations

import numpy as np

from rectinumba import Network

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"


def bptt_net(J, W_in, W_out, tau, **kwargs) -> Network:
    """tests/test_bptt.py's rate_net structure (labels, templates, trained parameters): the
    kernels compiled there serve here too."""
    net = Network(0.1)
    net.add_diffeq_node("rnn", LI_TANH, weights=J, source_var="tanh_op/r",
                        target_var="li_op/r_in", input_var="li_op/I_ext", output_var="li_op/v",
                        train_params=["weights", "li_op/tau"], node_vars={"li_op/tau": tau},
                        **kwargs)  # fmt: skip
    net.add_func_node("inp", W_in.shape[1], "identity")
    net.add_func_node("out", W_out.shape[0], "tanh")
    net.add_edge("inp", "rnn", weights=W_in, train="gd")
    net.add_edge("rnn", "out", weights=W_out, train="gd")
    return net


def rls_net(J, W_out) -> Network:
    """tests/test_readout.py's RLS reservoir structure, with given arrays."""
    net = Network(1e-2)
    net.add_func_node("inp", 2)
    net.add_diffeq_node("rnn", LI_TANH, weights=J, source_var="tanh_op/r",
                        target_var="li_op/r_in", input_var="li_op/I_ext",
                        output_var="tanh_op/r", node_vars={"li_op/tau": 0.5})  # fmt: skip
    net.add_edge("inp", "rnn", weights=np.linspace(-1, 1, 2 * J.shape[0]).reshape(-1, 2))
    net.add_func_node("out", 1)
    net.add_edge("rnn", "out", weights=W_out, train="rls")
    return net


def arrays(rng, N=4, m=2, k=2):
    """(J, W_in, W_out, tau) for :func:`bptt_net`."""
    return (rng.standard_normal((N, N)) * 0.8, rng.standard_normal((N, m)),
            rng.standard_normal((k, N)) * 0.5, 1.0 + rng.random(N))  # fmt: skip
