"""rectinumba.utility: connectivity generators, normalisation, WTA score, spectral radius."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.stats as st

from rectinumba import utility as u
from rectinumba.errors import RectinumbaError


class ConstantDistance:
    """A 'distribution' that always draws the same distance (to test the geometry exactly)."""

    def __init__(self, d: int) -> None:
        self.d = d

    def rvs(self, size, random_state=None):
        return np.full(size, self.d)


# RectiPy's definitions, written out (numpy's global generator, RectiPy's draw order) ---------


def rectipy_random_connectivity(n, m, p, normalize=True):
    C = np.zeros((n, m))
    n_conns = int(m * p)
    for row in range(n):
        cols = np.random.permutation(np.arange(m))[:n_conns]
        C[row, cols] = 1.0 / n_conns if normalize else 1.0
    return C


def rectipy_input_connections(n, m, p, variance=1.0, zero_mean=True):
    C_tmp = rectipy_random_connectivity(m, n, p, normalize=False).T
    C = np.zeros_like(C_tmp)
    for col in range(C_tmp.shape[1]):
        rows = np.argwhere(C_tmp[:, col] > 0).squeeze()
        C[rows, col] = np.random.randn(rows.shape[0]) * variance
        if zero_mean:
            C[rows, col] -= np.sum(C[:, col]) / len(rows)
    return C


def rectipy_circular(N, p, dist, homogeneous_weights=True, line=False):
    C = np.zeros((N, N))
    n_conns = int(N * p)
    for n in range(N):
        idxs = dist.rvs(size=n_conns)
        signs = 1 * (st.bernoulli.rvs(p=0.5, loc=0, size=n_conns) > 0)
        signs[signs == 0] = -1
        conns = n + idxs * signs
        if line:  # (RectiPy also dropped node 0 here; that is the documented difference)
            conns = conns[(conns >= 0) & (conns < N)]
        else:
            conns = np.mod(conns, N)
        unique = np.unique(conns)
        if homogeneous_weights:
            C[n, unique] = 1.0 / len(unique)
        else:
            for idx in unique:
                C[n, idx] = np.sum(conns == idx) / len(conns)
    return C


# random_connectivity ------------------------------------------------------------------------------


@pytest.mark.parametrize("normalize", [True, False])
def test_random_connectivity_equals_rectipy_with_np_random_seed(normalize):
    np.random.seed(12)
    C = u.random_connectivity(20, 30, 0.29, normalize=normalize)
    np.random.seed(12)
    np.testing.assert_array_equal(C, rectipy_random_connectivity(20, 30, 0.29, normalize))
    # a fixed count per row, truncated as RectiPy: int(30 * 0.29) = 8
    np.testing.assert_array_equal(np.count_nonzero(C, axis=1), 8)
    if normalize:
        np.testing.assert_allclose(C.sum(axis=1), 1.0)


def test_random_connectivity_seeds():
    np.testing.assert_array_equal(
        u.random_connectivity(15, 40, 0.25, seed=7), u.random_connectivity(15, 40, 0.25, seed=7)
    )
    assert not np.array_equal(
        u.random_connectivity(15, 40, 0.25, seed=7), u.random_connectivity(15, 40, 0.25, seed=8)
    )
    # a seed leaves numpy's global generator alone
    np.random.seed(1)
    u.random_connectivity(5, 5, 0.5, seed=3)
    after = np.random.random()
    np.random.seed(1)
    assert np.random.random() == after
    # the same draws from a RandomState as from the global generator with that seed
    np.random.seed(4)
    np.testing.assert_array_equal(
        u.random_connectivity(6, 9, 0.5, seed=np.random.RandomState(4)),
        rectipy_random_connectivity(6, 9, 0.5),
    )
    assert np.count_nonzero(u.random_connectivity(4, 4, 1.0, seed=0)) == 16
    # no connection per row: zeros (RectiPy divided by zero)
    np.testing.assert_array_equal(u.random_connectivity(4, 4, 0.1, seed=0), 0.0)


def test_random_connectivity_errors():
    with pytest.raises(RectinumbaError, match=r"connection probability p must be in \[0, 1\]"):
        u.random_connectivity(3, 3, 1.5)
    with pytest.raises(RectinumbaError, match="n must be a positive integer"):
        u.random_connectivity(0, 3, 0.5)


# input_connections --------------------------------------------------------------------------------


@pytest.mark.parametrize("zero_mean", [True, False])
def test_input_connections_equals_rectipy_with_np_random_seed(zero_mean):
    np.random.seed(21)
    W = u.input_connections(50, 4, 0.2, variance=2.0, zero_mean=zero_mean)
    np.random.seed(21)
    np.testing.assert_allclose(W, rectipy_input_connections(50, 4, 0.2, 2.0, zero_mean), atol=0)
    np.testing.assert_array_equal(np.count_nonzero(W, axis=0), 10)
    if zero_mean:
        np.testing.assert_allclose(W.sum(axis=0), 0.0, atol=1e-12)


def test_input_connections_variance_is_a_standard_deviation():
    # RectiPy's code scales standard normal draws by `variance` (its docstring says variance)
    W = u.input_connections(20000, 4, 0.5, variance=2.0, zero_mean=False, seed=2)
    values = W[W != 0]
    assert values.size == 40000
    assert abs(values.std() - 2.0) < 0.05
    assert abs(values.mean()) < 0.05
    # one connection per column: zero_mean leaves 0 (RectiPy failed on squeeze())
    np.testing.assert_array_equal(u.input_connections(5, 3, 0.2, seed=0), 0.0)
    with pytest.raises(RectinumbaError, match="must be >= 0"):
        u.input_connections(5, 3, 0.5, variance=-1.0)


# circular / line connectivity --------------------------------------------------------------------


@pytest.mark.parametrize("homogeneous", [True, False])
@pytest.mark.parametrize("line", [False, True])
def test_spatial_connectivity_equals_rectipy_with_np_random_seed(homogeneous, line):
    fn = u.line_connectivity if line else u.circular_connectivity
    dist = st.randint(1, 4)
    np.random.seed(8)
    C = fn(15, 0.4, dist, homogeneous_weights=homogeneous)
    np.random.seed(8)
    ref = rectipy_circular(15, 0.4, dist, homogeneous, line)
    np.testing.assert_allclose(C, ref, rtol=1e-15, atol=0)


def test_circular_connectivity_geometry():
    N = 20
    C = u.circular_connectivity(N, 0.3, st.randint(1, 3), seed=4)
    assert C.shape == (N, N)
    np.testing.assert_allclose(C.sum(axis=1), 1.0)
    i, j = np.nonzero(C)
    assert set(((j - i) % N).tolist()) <= {1, 2, N - 1, N - 2}
    # homogeneous: all inputs of a node have the same weight
    for row in C:
        nz = row[row > 0]
        np.testing.assert_allclose(nz, 1.0 / nz.size)
    np.testing.assert_array_equal(C, u.circular_connectivity(N, 0.3, st.randint(1, 3), seed=4))


def test_circular_connectivity_heterogeneous_and_wrap():
    N = 12
    k = 6  # draws per node = int(N * 0.5)
    Ch = u.circular_connectivity(N, 0.5, st.randint(1, 4), homogeneous_weights=False, seed=9)
    Co = u.circular_connectivity(N, 0.5, st.randint(1, 4), homogeneous_weights=True, seed=9)
    np.testing.assert_allclose(Ch.sum(axis=1), 1.0)
    np.testing.assert_array_equal(Ch > 0, Co > 0)  # same draws, different weighting
    counts = Ch * k
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-12)
    assert not np.allclose(Ch, Co)  # some draws repeat, so the weightings differ
    # distance 0 is a self-connection
    np.testing.assert_array_equal(u.circular_connectivity(N, 0.5, ConstantDistance(0)), np.eye(N))
    # a distance of N + 1 wraps to a neighbour (RectiPy wrapped only once)
    Cw = u.circular_connectivity(N, 0.5, ConstantDistance(N + 1), seed=1)
    i, j = np.nonzero(Cw)
    assert set(((j - i) % N).tolist()) <= {1, N - 1}
    assert i.size >= N


def test_line_connectivity_edges_kept_and_no_wrap():
    N = 10
    C = u.line_connectivity(N, 1.0, ConstantDistance(1), seed=0)
    i, j = np.nonzero(C)
    assert np.all(np.abs(i - j) == 1)  # no wrap-around between 0 and N - 1
    assert C[1, 0] > 0  # node 0 is a valid source (RectiPy dropped it)
    assert C[0, 1] == 1.0  # node 0's only possible source
    assert C[N - 1, N - 2] == 1.0
    rows = C.sum(axis=1)
    np.testing.assert_allclose(rows[rows > 0], 1.0)
    Ch = u.line_connectivity(N, 0.5, st.randint(0, 4), homogeneous_weights=False, seed=3)
    rows = Ch.sum(axis=1)
    np.testing.assert_allclose(rows[rows > 0], 1.0)
    i, j = np.nonzero(Ch)
    assert np.all(np.abs(i - j) <= 3)


def test_spatial_distribution_checked():
    with pytest.raises(RectinumbaError, match="spatial_distribution must have an rvs"):
        u.circular_connectivity(5, 0.5, [1, 2])


# normalize / wta_score ----------------------------------------------------------------------------


def test_normalize_minmax():
    x = np.array([[2.0, 4.0, 6.0], [10.0, 0.0, 5.0]])
    y = u.normalize(x)
    np.testing.assert_allclose(y, (x - 0.0) / 10.0)
    assert y.min() == 0.0 and y.max() == 1.0
    x2 = x + 3.0  # RectiPy divided by the original maximum: not [0, 1]
    np.testing.assert_allclose(u.normalize(x2), y)
    yr = u.normalize(x, row_wise=True)
    np.testing.assert_allclose(yr, [[0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    np.testing.assert_array_equal(x, [[2.0, 4.0, 6.0], [10.0, 0.0, 5.0]])  # input untouched
    np.testing.assert_array_equal(u.normalize(np.full((2, 3), 7.0)), 0.0)


def test_normalize_zscore_and_sum():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(4, 50))
    z = u.normalize(x, mode="zscore")
    assert abs(z.mean()) < 1e-12 and abs(z.std() - 1.0) < 1e-12
    zr = u.normalize(x, mode="zscore", row_wise=True)
    np.testing.assert_allclose(zr.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(zr.std(axis=1), 1.0)
    s = u.normalize(np.abs(x), mode="sum")
    assert s.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(u.normalize(np.abs(x), mode="sum", row_wise=True).sum(axis=1), 1.0)
    with pytest.raises(RectinumbaError, match=r"cannot divide by a zero sum \(row 1\)"):
        u.normalize(np.array([[1.0, 2.0], [1.0, -1.0]]), mode="sum", row_wise=True)
    with pytest.raises(RectinumbaError, match="invalid mode 'l2'"):
        u.normalize(x, mode="l2")


def test_wta_score():
    x = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert u.wta_score(x, y) == pytest.approx(2.0 / 3.0)
    assert u.wta_score(x, x) == 1.0
    with pytest.raises(RectinumbaError, match="same 1D or 2D shape"):
        u.wta_score(x, y[:2])


# spectral radius ----------------------------------------------------------------------------------


def test_spectral_radius_dense_known_eigenvalues():
    rng = np.random.default_rng(1)
    lam = np.array([0.3, -1.7, 1.2, 0.5, -0.2])
    Q = rng.normal(size=(5, 5))
    W = Q @ np.diag(lam) @ np.linalg.inv(Q)
    assert u.spectral_radius(W) == pytest.approx(1.7, rel=1e-9)
    W2 = u.scale_spectral_radius(W, 0.9)
    assert isinstance(W2, np.ndarray)
    np.testing.assert_allclose(W2, W * 0.9 / 1.7, rtol=1e-9)
    assert np.max(np.abs(np.linalg.eigvals(W2))) == pytest.approx(0.9, rel=1e-9)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_spectral_radius_sparse_stays_sparse(fmt):
    W = sp.random(80, 80, density=0.1, random_state=3, format=fmt)
    ref = np.max(np.abs(np.linalg.eigvals(W.toarray())))
    assert u.spectral_radius(W) == pytest.approx(ref, rel=1e-8)
    dense_before = W.toarray().copy()
    W2 = u.scale_spectral_radius(W, 0.95)
    assert sp.issparse(W2) and W2.format == fmt
    assert W2.nnz == W.nnz
    np.testing.assert_array_equal(W.toarray(), dense_before)  # input untouched
    assert np.max(np.abs(np.linalg.eigvals(W2.toarray()))) == pytest.approx(0.95, rel=1e-8)


def test_spectral_radius_small_sparse_and_errors():
    W = sp.csr_matrix(np.array([[0.0, 2.0], [0.5, 0.0]]))  # eigenvalues ±1
    assert u.spectral_radius(W) == pytest.approx(1.0)
    assert u.spectral_radius(sp.csr_matrix((4, 4))) == 0.0
    with pytest.raises(RectinumbaError, match="spectral radius 0"):
        u.scale_spectral_radius(np.array([[0.0, 1.0], [0.0, 0.0]]), 1.0)
    with pytest.raises(RectinumbaError, match="non-empty square matrix"):
        u.spectral_radius(np.zeros((2, 3)))


def test_random_connectivity_fixed_total_count():
    C = u.random_connectivity(20, 30, 0.1, normalize=False, seed=1, per_row=False)
    assert np.count_nonzero(C) == 60 and set(np.unique(C)) == {0.0, 1.0}
    # round, not truncation: 0.29 * 100 = 28.999...
    assert np.count_nonzero(u.random_connectivity(10, 10, 0.29, seed=0, per_row=False)) == 29
    Cn = u.random_connectivity(20, 30, 0.1, normalize=True, seed=1, per_row=False)
    np.testing.assert_array_equal(Cn > 0, C > 0)  # same draws with the same seed
    has = C.sum(axis=1) > 0
    np.testing.assert_allclose(Cn[has].sum(axis=1), 1.0)
    np.testing.assert_array_equal(Cn[~has], 0.0)
