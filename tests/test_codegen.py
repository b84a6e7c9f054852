"""Renderer-only tests: the generated kernel source, read as text (nothing is compiled here)."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest
import scipy.sparse as sp

from rectinumba import Network
from rectinumba.codegen.spec import ROW_PARALLEL_MIN
from rectinumba.codegen.step import FASTMATH, FIXED_ARGS, render_network
from rectinumba.recording import Recording

pytestmark = pytest.mark.nocompile

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
LIF = "model_templates.spiking_neurons.lif.lif"


def _tiny(weights=None, N=3, spiking=False, edges_sparse=None, sparse=None) -> Network:
    net = Network(1e-3)
    coupling = {} if weights is None else {"weights": weights, "sparse": sparse}
    if spiking:
        if weights is not None:
            coupling.update(source_var="s", target_var="s_in")
        net.add_diffeq_node("n", LIF, N=None if weights is not None else N, input_var="I_ext",
                            output_var="s", op="lif_op", spike_var="spike", spike_def="v",
                            **coupling)
    else:
        if weights is not None:
            coupling.update(source_var="tanh_op/r", target_var="li_op/r_in")
        net.add_diffeq_node("n", LI_TANH, N=None if weights is not None else N,
                            input_var="li_op/I_ext", output_var="li_op/v", **coupling)
    net.add_func_node("inp", 2, "identity")
    net.add_func_node("out", 2, "softmax")
    n = net.get_node("n").N
    W_in, W_out = np.ones((n, 2)), np.ones((2, n))
    if edges_sparse:
        W_in, W_out = sp.csr_matrix(W_in), sp.csr_matrix(W_out)
    net.add_edge("inp", "n", weights=W_in, sparse=edges_sparse)
    net.add_edge("n", "out", weights=W_out, sparse=edges_sparse)
    return net


def _source(net: Network, B: int = 1, record_vars=None):
    records = net._runner.resolve(Recording.make(record_vars=record_vars))[0]
    return render_network(net._runner.spec(records, B)[0])


def _functions(source: str) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(source)
    return {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}


def _decorator(fn: ast.FunctionDef) -> dict[str, object]:
    (dec,) = fn.decorator_list
    assert isinstance(dec, ast.Call) and ast.unparse(dec.func) == "njit"
    return {kw.arg: ast.literal_eval(kw.value) for kw in dec.keywords}


def _loop_bodies(fn: ast.FunctionDef) -> list[ast.AST]:
    return [n for n in ast.walk(fn) if isinstance(n, (ast.For, ast.While))]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_tiny_network_renders_one_kernel_with_consistent_arguments(rng):
    rendered = _source(_tiny(rng.standard_normal((3, 3))),
                       record_vars=[("n", "v"), ("n", "r", True)])
    funcs = _functions(rendered.source)
    assert list(funcs) == ["kernel"]  # dense, small, one trial: no helpers
    params = [a.arg for a in funcs["kernel"].args.args]
    assert params == list(FIXED_ARGS) + [a.name for a in rendered.args]
    assert len(set(params)) == len(params)
    roles = [a.role for a in rendered.args]
    assert roles.count("rec") == 2 and roles.count("J") == 1 and roles.count("W") == 2
    known = {"state", "const", "scratch", "carry", "J", "W", "scalar", "rec"}
    assert {a.role for a in rendered.args} <= known
    # every argument is used in the body
    used = {n.id for n in ast.walk(funcs["kernel"]) if isinstance(n, ast.Name)}
    assert set(params) - {"t0", "s0"} <= used


def test_fastmath_flags_keep_nonfinite_checks():
    assert not FASTMATH & {"nnan", "ninf", "nsz", "fast"}
    assert {"contract", "reassoc"} <= FASTMATH
    rendered = _source(_tiny(N=2, spiking=True))
    opts = _decorator(_functions(rendered.source)["kernel"])
    assert opts["fastmath"] == set(FASTMATH)
    assert opts["cache"] is True and opts["error_model"] == "numpy" and opts["parallel"] is False
    assert "math.isfinite(" in rendered.source


def test_no_allocation_inside_loops(rng):
    for net in (_tiny(rng.standard_normal((3, 3)), spiking=True),
                _tiny(sp.random(4, 4, density=0.5, random_state=1, format="csr"), edges_sparse=True,
                      sparse=True)):
        for fn in _functions(_source(net, B=2, record_vars=[("n", "v")]).source).values():
            for loop in _loop_bodies(fn):
                calls = {ast.unparse(c.func) for c in ast.walk(loop) if isinstance(c, ast.Call)}
                scalar = {"np.rint", "np.uint64", "np.float32", "np.float64"}  # no arrays
                allocs = {c for c in calls if c.startswith("np.") and c not in scalar}
                assert not allocs, (fn.name, allocs)
                assert not calls & {"list", "dict", "set", "tuple", "len"}


def test_batch_kernel_is_parallel_over_trials_only(rng):
    net = _tiny(rng.standard_normal((3, 3)))
    src = _source(net, B=4).source
    kernel = _functions(src)["kernel"]
    assert _decorator(kernel)["parallel"] is True
    loops = [ast.unparse(n.iter) for n in _loop_bodies(kernel) if isinstance(n, ast.For)]
    assert loops[0] == "prange(B)"
    assert sum("prange" in s for s in loops) == 1  # no nested parallel loop
    assert "_dense_mv_par" not in src
    assert "parallel=False" in _source(net, B=1).source


def test_csr_gather_runs_in_a_helper_without_fastmath():
    net = _tiny(sp.random(4, 4, density=0.5, random_state=1, format="csr"), edges_sparse=True,
                sparse=True)
    rendered = _source(net)
    funcs = _functions(rendered.source)
    assert set(funcs) == {"_csr_dot", "kernel"}
    # explicit False: numba lets a callee without fastmath inherit the caller's flags
    assert _decorator(funcs["_csr_dot"])["fastmath"] is False
    calls = re.findall(r"_csr_dot\(([^)]*)\)", ast.unparse(funcs["kernel"]))
    assert len(calls) == 3  # J and the two edges
    parts = {a.detail for a in rendered.args if a.role in ("J", "W")}
    assert parts == {"data", "indices", "indptr"}
    assert "_csr_dot" not in _source(_tiny(np.ones((3, 3)))).source


def test_sparse_index_width_is_uint32_below_2_to_the_32_and_int64_above():
    """Issue 15.2: unsigned 32-bit column (CSR) and row (CSC) indices while every index fits
    (scipy's int32 indices reused without a copy), int64 from 2**32 + 1 columns on; row and
    column pointers int64 always; the CSC copy holds J's columns in row order."""
    from rectinumba.weights import csc_parts, csr_parts, index_dtype

    assert index_dtype(2**32) == np.uint32 and index_dtype(2**32 + 1) == np.int64
    m = sp.random(5, 7, density=0.5, random_state=3, format="csr")
    m.sort_indices()
    data, indices, indptr = csr_parts(m, np.float32)
    assert (data.dtype, indices.dtype, indptr.dtype) == (np.float32, np.uint32, np.int64)
    assert np.shares_memory(indices, m.indices)  # a view of scipy's int32 indices
    cdata, rows, cptr = csc_parts(m, np.float64)
    assert (rows.dtype, cptr.dtype) == (np.uint32, np.int64)
    dense = m.toarray()
    for j in range(7):
        col = slice(cptr[j], cptr[j + 1])
        np.testing.assert_array_equal(rows[col], np.flatnonzero(dense[:, j]))
        np.testing.assert_array_equal(cdata[col], dense[dense[:, j] != 0, j])


def test_row_parallel_helper_only_for_large_dense_single_trial(rng):
    N = ROW_PARALLEL_MIN
    net = Network(1e-3)
    net.add_diffeq_node("n", LI_TANH, weights=rng.random((N, N)), source_var="tanh_op/r",
                        target_var="li_op/r_in", input_var="li_op/I_ext", output_var="li_op/v")
    rendered = _source(net)
    funcs = _functions(rendered.source)
    assert set(funcs) == {"_dense_mv_par", "kernel"}
    assert _decorator(funcs["_dense_mv_par"])["parallel"] is True
    assert _decorator(funcs["kernel"])["parallel"] is False
    assert "n0_tgt" in [a.name for a in rendered.args]
    body = ast.unparse(funcs["kernel"])
    assert body.count("_dense_mv_par(n0_J, n0_src, b, n0_tgt)") == 1
    assert "n0_J[i, j]" not in body  # the serial product is not emitted as well
    assert "_dense_mv_par" not in _source(net, B=2).source
