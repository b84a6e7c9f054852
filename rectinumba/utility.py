"""Network utilities: connectivity generators, normalisation, scores and spectral radius.

Counterparts of RectiPy's ``rectipy.utility`` (``random_connectivity``, ``input_connections``,
``circular_connectivity``, ``line_connectivity``, ``normalize``, ``wta_score``).

Random draws are RectiPy's: without ``seed``, every random function draws from numpy's global
generator in the order RectiPy drew, so a script that calls ``np.random.seed(s)`` gets RectiPy's
matrices entry for entry (``random_connectivity``: one ``np.random.permutation`` per row;
``input_connections``: those, then one ``np.random.randn`` per column; the spatial generators:
``rvs`` of the distance distribution and of ``scipy.stats.bernoulli`` per row). ``seed`` (an int,
a ``numpy.random.Generator`` or ``RandomState``) draws the same way from that source instead.
Connection counts are truncated as RectiPy did (``int(m * p)``).

Where RectiPy's code contradicts its own documentation, the documented behaviour is kept (and listed
in the migration guide):

- ``normalize(mode="minmax")`` maps to [0, 1] (RectiPy divided by the original maximum), and
  returns a new array (RectiPy modified its argument in place);
- ``line_connectivity`` keeps connections to node 0 (RectiPy dropped them);
- ``circular_connectivity`` wraps distances larger than N (RectiPy wrapped once);
- rows without any connection stay zero (RectiPy divided by zero).

``input_connections``' ``variance`` is, as in RectiPy's code, the *standard deviation* of the
weights (its docstring said variance).

Weight matrices are oriented (n_target, n_source), as ``Network.add_edge`` expects: row i holds the
inputs that node i receives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import RectinumbaError

__all__ = [
    "random_connectivity",
    "input_connections",
    "circular_connectivity",
    "line_connectivity",
    "normalize",
    "wta_score",
    "spectral_radius",
    "scale_spectral_radius",
]

SeedLike = int | np.random.Generator | np.random.RandomState | np.random.SeedSequence | None


def _source(seed: SeedLike) -> np.random.Generator | np.random.RandomState:
    """numpy's global RandomState for None (RectiPy's draws), else a generator for ``seed``."""
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    return np.random.default_rng(seed)


def _check_p(p: float, fn: str) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise RectinumbaError(f"{fn}: connection probability p must be in [0, 1], got {p}")
    return p


def _check_size(value: int, name: str, fn: str) -> int:
    if int(value) != value or value < 1:
        raise RectinumbaError(f"{fn}: {name} must be a positive integer, got {value!r}")
    return int(value)


# connectivity generators
#########################


def random_connectivity(
    n: int,
    m: int,
    p: float,
    normalize: bool = True,
    seed: SeedLike = None,
    per_row: bool = True,
) -> np.ndarray:
    """Random binary coupling matrix with the same number of connections in every row.

    Parameters
    ----------
    n, m : int
        Number of rows (targets) and columns (sources).
    p : float
        Connection probability: each row gets ``int(m * p)`` entries at distinct columns, the
        first ``int(m * p)`` of a random permutation of the columns (RectiPy's draw).
    normalize : bool, default True
        If True, each row with entries is divided by its number of entries, so that it sums to
        1 (``1 / int(m * p)`` per entry); else the entries are 1.
    seed : int, numpy.random.Generator or numpy.random.RandomState, optional
        Random source; None draws from numpy's global generator (``np.random.seed`` reproduces
        RectiPy's matrix).
    per_row : bool, default True
        False: ``round(p * n * m)`` entries at uniformly random positions of the whole matrix
        instead (rows then differ in their number of entries; not a RectiPy mode).

    Returns
    -------
    numpy.ndarray
        Dense (n, m) float matrix (rows without entries stay zero).

    Examples
    --------
    >>> import numpy as np
    >>> from rectinumba import random_connectivity
    >>> np.random.seed(0)  # as in RectiPy's scripts: numpy's global generator
    >>> C = random_connectivity(4, 10, 0.2)
    >>> (C > 0).sum(axis=1), C.sum(axis=1)
    (array([2, 2, 2, 2]), array([1., 1., 1., 1.]))
    >>> np.random.seed(0)
    >>> bool(np.array_equal(C, random_connectivity(4, 10, 0.2)))
    True
    """
    fn = "random_connectivity"
    n, m = _check_size(n, "n", fn), _check_size(m, "m", fn)
    p = _check_p(p, fn)
    rs = _source(seed)
    C = np.zeros((n, m))
    if not per_row:
        # round, not int(): int(0.29*100) would be 28
        C.flat[rs.choice(n * m, size=int(round(p * n * m)), replace=False)] = 1.0
        return _normalize_rows(C) if normalize else C
    k = int(m * p)
    if k == 0:
        return C
    value = 1.0 / k if normalize else 1.0
    for row in range(n):  # one permutation per row, in RectiPy's order
        C[row, rs.permutation(m)[:k]] = value
    return C


def input_connections(
    n: int,
    m: int,
    p: float,
    variance: float = 1.0,
    zero_mean: bool = True,
    seed: SeedLike = None,
) -> np.ndarray:
    """Sparse random input weights (n targets x m input channels).

    Each input channel (column) projects to ``int(n * p)`` distinct target rows, drawn as by
    :func:`random_connectivity` (m, n, p) and transposed; then, column by column, the weights of
    the connected rows (in ascending row order) are drawn from a normal distribution with
    standard deviation ``variance`` (RectiPy's code; its docstring said variance).

    Parameters
    ----------
    n, m : int
        Number of rows (network nodes) and columns (input channels).
    p : float
        Fraction of nodes each input channel connects to.
    variance : float, default 1.0
        Standard deviation of the weights (the name is RectiPy's).
    zero_mean : bool, default True
        If True, the mean of each column's nonzero weights is subtracted from them, so that each
        column sums to 0 (a column with a single connection thus becomes 0).
    seed : int, numpy.random.Generator or numpy.random.RandomState, optional
        Random source; None draws from numpy's global generator.

    Returns
    -------
    numpy.ndarray
        Dense (n, m) float matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from rectinumba import input_connections
    >>> W_in = input_connections(10, 3, 0.5, variance=2.0, seed=1)
    >>> W_in.shape, (W_in != 0).sum(axis=0)
    ((10, 3), array([5, 5, 5]))
    >>> np.allclose(W_in.sum(axis=0), 0.0)  # zero_mean: every column sums to 0
    True
    """
    fn = "input_connections"
    n, m = _check_size(n, "n", fn), _check_size(m, "m", fn)
    p = _check_p(p, fn)
    if not float(variance) >= 0.0:
        raise RectinumbaError(f"{fn}: variance (a standard deviation) must be >= 0, got {variance}")
    rs = _source(seed)
    mask = random_connectivity(m, n, p, normalize=False, seed=rs).T
    C = np.zeros((n, m))
    for col in range(m):
        rows = np.flatnonzero(mask[:, col])
        C[rows, col] = rs.standard_normal(rows.shape[0]) * float(variance)
        if zero_mean and rows.size:
            C[rows, col] -= C[:, col].sum() / rows.size
    return C


def _normalize_rows(C: np.ndarray) -> np.ndarray:
    """Divide each row of the float matrix C by its sum, in place; rows summing to 0 stay."""
    total = C.sum(axis=1, keepdims=True)
    np.divide(C, total, out=C, where=total > 0)
    return C


def _spatial_matrix(
    fn: str,
    N: int,
    p: float,
    spatial_distribution: Any,
    homogeneous_weights: bool,
    seed: SeedLike,
    wrap: bool,
) -> np.ndarray:
    """Coupling of N nodes on a ring (``wrap``) or a line from signed random distances.

    Per node, in RectiPy's order: ``int(N * p)`` distances from ``spatial_distribution.rvs``, then
    as many random signs from ``scipy.stats.bernoulli(0.5)`` (1 -> +, 0 -> -).
    """
    from scipy.stats import bernoulli

    N = _check_size(N, "N", fn)
    k = int(N * _check_p(p, fn))
    if not hasattr(spatial_distribution, "rvs"):
        raise RectinumbaError(
            f"{fn}: spatial_distribution must have an rvs(size=..., random_state=...) method, got "
            f"{type(spatial_distribution).__name__}",
            hint="pass a frozen scipy.stats distribution, e.g. scipy.stats.randint(1, 5)",
        )
    rs = None if seed is None else _source(seed)  # None: scipy draws from numpy's global state
    C = np.zeros((N, N))
    for i in range(N):
        dist = np.asarray(spatial_distribution.rvs(size=k, random_state=rs), dtype=np.float64)
        signs = np.where(bernoulli.rvs(p=0.5, loc=0, size=k, random_state=rs) > 0, 1, -1)
        targets = i + signs * np.rint(dist).astype(np.int64).reshape(k)
        targets = np.mod(targets, N) if wrap else targets[(targets >= 0) & (targets < N)]
        if targets.size == 0:
            continue
        unique, counts = np.unique(targets, return_counts=True)
        C[i, unique] = 1.0 if homogeneous_weights else counts
    return _normalize_rows(C)


def circular_connectivity(
    N: int,
    p: float,
    spatial_distribution: Any,
    homogeneous_weights: bool = True,
    seed: SeedLike = None,
) -> np.ndarray:
    """Coupling matrix of N nodes on a ring, with distance-dependent connections.

    Node i draws ``int(N*p)`` distances d (with replacement) from ``spatial_distribution``, each
    with a random sign, and receives input from nodes ``(i ± d) mod N``. Because draws can
    repeat, the actual connection probability is at most p.

    Parameters
    ----------
    N : int
        Number of nodes.
    p : float
        Connection probability (number of draws per node / N).
    spatial_distribution : scipy.stats frozen distribution
        Distribution of the distance: any object with ``rvs(size=..., random_state=...)``, e.g.
        ``scipy.stats.randint(1, 10)``, ``scipy.stats.binom(N // 2, 0.1)``,
        ``scipy.stats.norm(0, 3)``. Continuous samples are rounded to the nearest integer; a
        distance of 0 makes a self-connection.
    homogeneous_weights : bool, default True
        If True, all distinct inputs of a node have weight 1/(number of distinct inputs). If
        False, each input's weight is the fraction of the node's draws that hit it (repeated
        draws strengthen a connection). Either way each row sums to 1.
    seed : int, numpy.random.Generator or numpy.random.RandomState, optional
        Random source (passed to ``rvs`` as ``random_state``); None draws from numpy's global
        generator, as RectiPy did.

    Returns
    -------
    numpy.ndarray
        Dense (N, N) matrix; row i holds the inputs of node i.
    """
    return _spatial_matrix(
        "circular_connectivity", N, p, spatial_distribution, homogeneous_weights, seed, True
    )


def line_connectivity(
    N: int,
    p: float,
    spatial_distribution: Any,
    homogeneous_weights: bool = True,
    seed: SeedLike = None,
) -> np.ndarray:
    """Coupling matrix of N nodes on a line (no wrap-around), with distance-dependent connections.

    As :func:`circular_connectivity`, but draws that land outside [0, N) are discarded; with
    ``homogeneous_weights=False`` the weights are fractions of the draws that landed inside, so
    each row with at least one connection sums to 1 (a row without any stays zero).

    Parameters
    ----------
    N : int
        Number of nodes.
    p : float
        Connection probability (number of draws per node / N).
    spatial_distribution : scipy.stats frozen distribution
        Distance distribution with ``rvs(size=..., random_state=...)`` (see
        :func:`circular_connectivity`).
    homogeneous_weights : bool, default True
        Equal weights for all distinct inputs of a node (True) or weights proportional to draw
        counts (False).
    seed : int, numpy.random.Generator or numpy.random.RandomState, optional
        Random source; None draws from numpy's global generator.

    Returns
    -------
    numpy.ndarray
        Dense (N, N) matrix; row i holds the inputs of node i.
    """
    return _spatial_matrix(
        "line_connectivity", N, p, spatial_distribution, homogeneous_weights, seed, False
    )


# normalisation and scores
##########################


def normalize(x: np.ndarray, mode: str = "minmax", row_wise: bool = False) -> np.ndarray:
    """Normalise an array (a new float array is returned; ``x`` is not modified).

    Parameters
    ----------
    x : numpy.ndarray
        Array, usually (N, m).
    mode : {"minmax", "zscore", "sum"}
        - ``"minmax"``: ``(x - min) / (max - min)``, mapping onto [0, 1] (all zeros where the
          data are constant);
        - ``"zscore"``: ``(x - mean) / std`` (population std; only centred where std is 0);
        - ``"sum"``: ``x / sum(x)`` (a zero sum is an error).
    row_wise : bool, default False
        If True, each row (last axis) is normalised on its own; otherwise the whole array.

    Returns
    -------
    np.ndarray
        The normalised array, same shape as ``x``.
    """
    out = np.array(x, dtype=np.float64, copy=True)
    if out.ndim == 0:
        raise RectinumbaError("normalize: x must be an array, got a scalar")
    axis = -1 if row_wise else None
    if mode == "minmax":
        lo = out.min(axis=axis, keepdims=True)
        span = out.max(axis=axis, keepdims=True) - lo
        out -= lo
        np.divide(out, span, out=out, where=np.broadcast_to(span > 0, out.shape))
    elif mode == "zscore":
        out -= out.mean(axis=axis, keepdims=True)
        std = out.std(axis=axis, keepdims=True)
        np.divide(out, std, out=out, where=np.broadcast_to(std > 0, out.shape))
    elif mode == "sum":
        total = out.sum(axis=axis, keepdims=True)
        if np.any(total == 0):
            where = f" (row {int(np.flatnonzero(total.ravel() == 0)[0])})" if row_wise else ""
            raise RectinumbaError(f"normalize: cannot divide by a zero sum{where}")
        out /= total
    else:
        raise RectinumbaError(
            f"normalize: invalid mode {mode!r}; valid modes: 'minmax', 'zscore', 'sum'"
        )
    return out


def wta_score(x: np.ndarray, y: np.ndarray) -> float:
    """Winner-take-all score: the fraction of samples whose argmax agrees.

    Parameters
    ----------
    x, y : numpy.ndarray
        (samples, features) arrays of the same shape (a 1D array is a single sample).

    Returns
    -------
    float
        Fraction of rows with ``argmax(x[i]) == argmax(y[i])``, in [0, 1].

    Examples
    --------
    >>> from rectinumba import wta_score
    >>> wta_score([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], [[1, 0], [0, 1], [0, 1]])
    0.6666666666666666
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.ndim not in (1, 2) or x.size == 0:
        raise RectinumbaError(
            f"wta_score: x and y must be non-empty arrays of the same 1D or 2D shape, got "
            f"{x.shape} and {y.shape}"
        )
    return float(np.mean(np.argmax(x, axis=-1) == np.argmax(y, axis=-1)))


# spectral radius
#################


def _is_sparse(W: Any) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a dependency
        return False
    return sp.issparse(W)


def spectral_radius(W: Any) -> float:
    """Largest absolute eigenvalue of a square matrix.

    Parameters
    ----------
    W : numpy.ndarray or scipy.sparse matrix
        Dense numpy array or ``scipy.sparse`` matrix/array. Dense matrices use
        ``numpy.linalg.eigvals``; sparse ones ``scipy.sparse.linalg.eigs(k=1, which="LM")``
        (with a fixed start vector, so the result is reproducible), falling back to the dense
        computation for matrices too small for ARPACK or when it does not converge.

    Returns
    -------
    float
        The spectral radius.
    """
    shape = W.shape
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] == 0:
        raise RectinumbaError(f"spectral_radius: W must be a non-empty square matrix, got {shape}")
    n = shape[0]
    if not _is_sparse(W):
        return float(np.max(np.abs(np.linalg.eigvals(np.asarray(W, dtype=np.float64)))))
    from scipy.sparse.linalg import ArpackNoConvergence, eigs

    if W.nnz == 0:
        return 0.0
    if n < 3:
        # ARPACK needs k < n - 1
        return spectral_radius(W.toarray())
    A = W.astype(np.float64)
    v0 = np.random.default_rng(0).random(n) + 0.5
    try:
        vals = eigs(A, k=1, which="LM", v0=v0, return_eigenvectors=False)
    except ArpackNoConvergence:
        if n > 4000:
            raise RectinumbaError(
                f"spectral_radius: ARPACK did not converge for a {n}x{n} sparse matrix",
                hint="compute it on a dense copy (W.toarray()) if memory allows",
            ) from None
        return spectral_radius(W.toarray())
    return float(np.max(np.abs(vals)))


def scale_spectral_radius(W: Any, rho: float) -> Any:
    """Return ``W`` scaled so that its spectral radius equals ``rho``.

    Parameters
    ----------
    W : numpy.ndarray or scipy.sparse matrix
        Square dense numpy array or ``scipy.sparse`` matrix/array (not modified).
    rho : float
        Target spectral radius (>= 0).

    Returns
    -------
    np.ndarray or scipy.sparse matrix
        ``W * rho / spectral_radius(W)``, of the same kind as ``W`` (a sparse input stays sparse,
        in the same format).
    """
    if not rho >= 0.0:
        raise RectinumbaError(f"scale_spectral_radius: rho must be >= 0, got {rho}")
    radius = spectral_radius(W)
    if radius == 0.0:
        raise RectinumbaError(
            "scale_spectral_radius: W has spectral radius 0 (nilpotent or zero matrix), it "
            "cannot be scaled to a nonzero radius"
        )
    factor = float(rho) / radius
    if _is_sparse(W):
        return (W.astype(np.float64) * factor).asformat(W.format)
    return np.asarray(W, dtype=np.float64) * factor
