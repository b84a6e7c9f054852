"""Caller arrays are copied on the way in, getters hand out copies or read-only views, and
trainable weights keep the form they were given (issue 10.2 and 10.3)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from builders import LI_TANH, arrays, bptt_net, rls_net

from rectinumba import Network


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def test_training_never_changes_caller_arrays_and_twin_networks_stay_independent(rng):
    J, W_in, W_out, tau = arrays(rng)
    saved = [a.copy() for a in (J, W_in, W_out, tau)]
    a, b = bptt_net(J, W_in, W_out, tau), bptt_net(J, W_in, W_out, tau)
    x, y = rng.standard_normal((20, 2)), rng.standard_normal((20, 2)) * 0.5
    a.fit_bptt(x, y, lr=0.1, update_steps=10, verbose=False)
    for arr, copy in zip((J, W_in, W_out, tau), saved, strict=True):
        np.testing.assert_array_equal(arr, copy)  # the caller's arrays: untouched
    assert np.abs(a.get_var("rnn", "weights") - J).max() > 1e-6  # a trained ...
    np.testing.assert_array_equal(b.get_var("rnn", "weights"), J)  # ... b did not move
    np.testing.assert_array_equal(b.get_edge("inp", "rnn").weights, W_in)
    np.testing.assert_array_equal(b.get_edge("rnn", "out").weights, W_out)
    np.testing.assert_array_equal(b.get_var("rnn", "li_op/tau"), tau)

    # RLS trains the edge in place: in the network's copy only
    J6, W = rng.standard_normal((6, 6)) * 0.5, rng.normal(0, 0.1, (1, 6))
    W_saved = W.copy()
    c, d = rls_net(J6, W), rls_net(J6, W)
    t = np.arange(60) * 1e-2
    c.fit_rls(np.stack([np.sin(2 * t), np.cos(2 * t)], 1), np.sin(2 * t + 1.0), verbose=False)
    np.testing.assert_array_equal(W, W_saved)
    np.testing.assert_array_equal(d.get_edge("rnn", "out").weights, W_saved)
    assert np.abs(c.get_edge("rnn", "out").weights - W).max() > 1e-6


def test_arrays_are_copied_on_the_way_in(rng):
    J, W_in, W_out, tau = arrays(rng)
    mask = np.ones_like(W_out)
    v0 = rng.standard_normal(4)
    net = Network(0.1)
    net.add_diffeq_node("rnn", LI_TANH, weights=J, source_var="tanh_op/r",
                        target_var="li_op/r_in", input_var="li_op/I_ext", output_var="li_op/v",
                        node_vars={"li_op/tau": tau, "li_op/v": v0})  # fmt: skip
    net.add_func_node("out", 2)
    net.add_edge("rnn", "out", weights=W_out, mask=mask)
    eta = np.full(4, 0.5)
    net.set_var("rnn", "li_op/eta", eta)
    flat = rng.standard_normal(4)
    net.reset(state={"rnn": flat})
    expected = {
        "J": J.copy(), "W": W_out.copy(), "tau": tau.copy(), "eta": eta.copy(), "v": flat.copy()
    }  # fmt: skip
    for arr in (J, W_out, mask, tau, v0, eta, flat):
        arr[...] = np.nan  # the caller reuses its buffers
    np.testing.assert_array_equal(net.get_var("rnn", "weights"), expected["J"])
    np.testing.assert_array_equal(net.get_edge("rnn", "out").weights, expected["W"])
    np.testing.assert_array_equal(net.get_var("rnn", "li_op/tau"), expected["tau"])
    np.testing.assert_array_equal(net.get_var("rnn", "li_op/eta"), expected["eta"])
    np.testing.assert_array_equal(net.get_var("rnn", "li_op/v"), expected["v"])
    net.reset()  # back to the node_vars given at construction (v0 as it was then)
    assert np.isfinite(net.get_var("rnn", "li_op/v")).all()
    assert np.isfinite(net.run(np.ones((3, 4)), verbose=False)["out"]).all()


def test_getters_hand_out_copies_or_read_only_views(rng):
    J, W_in, W_out, tau = arrays(rng)
    net = bptt_net(J, W_in, W_out, tau)
    got = net.get_var("rnn", "weights")
    got[...] = np.nan
    np.testing.assert_array_equal(net.get_var("rnn", "weights"), J)
    for view in (net.get_node("rnn").weights, net.get_edge("rnn", "out").weights,
                 net["rnn", "out"]["weights"]):  # fmt: skip
        with pytest.raises(ValueError, match="read-only"):
            view[0, 0] = np.nan
    params = net.bptt_parameters()
    params["rnn/weights"][...] = np.nan
    np.testing.assert_array_equal(net.get_var("rnn", "weights"), J)
    state = net.state["rnn"]
    state[...] = np.nan
    assert np.isfinite(net.state["rnn"]).all()


def test_a_trainable_dense_sparse_looking_matrix_stays_dense_and_every_entry_trains(rng):
    """N = 100 and 5 % non-zeros: static weights go to CSR for speed, trainable ones stay dense
    (RectiPy trains all N x N entries); get_var returns the form given either way."""
    N = 100
    J = rng.standard_normal((N, N)) * (rng.random((N, N)) < 0.05) * 0.3
    W_in, W_out = rng.standard_normal((N, 2)) * 0.3, rng.standard_normal((2, N)) * 0.1
    net = bptt_net(J, W_in, W_out, np.ones(N))
    assert net.get_node("rnn").coupling == "dense"
    net.fit_bptt(rng.standard_normal((10, 2)), rng.standard_normal((10, 2)) * 0.5, lr=0.1,
                 update_steps=10, verbose=False)  # fmt: skip
    trained = net.get_var("rnn", "weights")
    assert isinstance(trained, np.ndarray)
    zeros = J == 0
    assert (trained[zeros] != 0).mean() > 0.5  # entries that were zero learned too

    static = Network(0.1)
    static.add_diffeq_node("rnn", LI_TANH, weights=J, source_var="tanh_op/r",
                           target_var="li_op/r_in", input_var="li_op/I_ext",
                           output_var="li_op/v")  # fmt: skip
    assert static.get_node("rnn").coupling == "csr"  # a storage choice, invisible ...
    got = static.get_var("rnn", "weights")
    assert isinstance(got, np.ndarray)  # ... to the caller
    np.testing.assert_array_equal(got, J)


def test_scipy_sparse_weights_keep_their_structure_and_type(rng):
    N = 6
    J = sp.random(N, N, density=0.5, random_state=3, format="csr")
    W_in, W_out = rng.standard_normal((N, 2)), rng.standard_normal((2, N)) * 0.5
    net = bptt_net(J, W_in, W_out, np.ones(N))  # density 0.5, yet trainable: CSR kept
    assert net.get_node("rnn").coupling == "csr"
    got = net.get_var("rnn", "weights")
    assert sp.issparse(got)
    np.testing.assert_array_equal(got.toarray(), J.toarray())
    got.data[:] = np.nan
    assert np.isfinite(net.get_var("rnn", "weights").data).all()
    dense = bptt_net(J, W_in, W_out, np.ones(N), sparse=False)  # asked for dense: all trained
    assert dense.get_node("rnn").coupling == "dense"
    assert sp.issparse(dense.get_var("rnn", "weights"))  # still the type given
