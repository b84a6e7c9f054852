"""Network utilities: connectivity generators, normalisation, scores and spectral radius.

Counterparts of RectiPy's ``rectipy.utility``, with its defects fixed:

- ``normalize(mode="minmax")`` maps to [0, 1] (RectiPy divided by the original maximum);
- ``line_connectivity`` keeps connections to node 0 (RectiPy dropped them);
- ``circular_connectivity`` wraps distances larger than N correctly;
- ``input_connections`` draws weights with the requested *variance* (RectiPy used it as the
  standard deviation);
- every random function takes ``seed`` (an int, a ``numpy.random.Generator`` or None) instead of
  using numpy's global state.

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

SeedLike = int | np.random.Generator | np.random.SeedSequence | None


def _rng(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
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


def _random_columns(rng: np.random.Generator, rows: int, cols: int, k: int) -> np.ndarray:
    """For each of ``rows`` rows, ``k`` distinct column indices in [0, cols), uniformly drawn."""
    # argsort of i.i.d. uniforms is a uniformly random permutation per row (vectorised)
    return np.argsort(rng.random((rows, cols)), axis=1)[:, :k]


# connectivity generators
#########################


def random_connectivity(
    n: int,
    m: int,
    p: float,
    normalize: bool = True,
    seed: SeedLike = None,
    per_row: bool = False,
) -> np.ndarray:
    """Random binary coupling matrix with a fixed number of connections.

    Parameters
    ----------
    n, m : int
        Number of rows (targets) and columns (sources).
    p : float
        Connection probability. ``round(p*n*m)`` entries, drawn without replacement at uniformly
        random positions, are set to 1 (``per_row=False``); with ``per_row=True`` each row gets
        exactly ``round(p*m)`` entries (RectiPy's behaviour: every node has the same in-degree).
    normalize : bool, default True
        If True, each row with nonzero entries is divided by its number of entries, so that it
        sums to 1 (rows without connections stay zero).
    seed : int or numpy.random.Generator, optional
        Seed or ``numpy.random.Generator``.
    per_row : bool, default False
        Draw a fixed count per row instead of a fixed total count.

    Returns
    -------
    np.ndarray
        Dense (n, m) float matrix.
    """
    fn = "random_connectivity"
    n, m = _check_size(n, "n", fn), _check_size(m, "m", fn)
    p = _check_p(p, fn)
    rng = _rng(seed)
    C = np.zeros((n, m))
    if per_row:
        cols = _random_columns(rng, n, m, int(round(p * m)))
        C[np.arange(n)[:, None], cols] = 1.0
    else:
        # round, not int(): int(0.29*100) would be 28
        count = int(round(p * n * m))
        C.flat[rng.choice(n * m, size=count, replace=False)] = 1.0
    return _normalize_rows(C) if normalize else C


def input_connections(
    n: int,
    m: int,
    p: float,
    variance: float = 1.0,
    zero_mean: bool = True,
    seed: SeedLike = None,
) -> np.ndarray:
    """Sparse random input weights (n targets x m input channels).

    Each input channel (column) projects to exactly ``round(p*n)`` distinct target rows, drawn
    uniformly, with weights from N(0, ``variance``) (standard deviation ``sqrt(variance)``).

    Parameters
    ----------
    n, m : int
        Number of rows (network nodes) and columns (input channels).
    p : float
        Fraction of nodes each input channel connects to.
    variance : float, default 1.0
        Variance of the normal distribution the weights are drawn from.
    zero_mean : bool, default True
        If True, the mean of the nonzero weights of each column is subtracted from them, so that
        each column sums to 0 (a column with a single connection thus becomes 0).
    seed : int or numpy.random.Generator, optional
        Seed or ``numpy.random.Generator``.

    Returns
    -------
    np.ndarray
        Dense (n, m) float matrix.
    """
    fn = "input_connections"
    n, m = _check_size(n, "n", fn), _check_size(m, "m", fn)
    p = _check_p(p, fn)
    if not variance >= 0.0:
        raise RectinumbaError(f"{fn}: variance must be >= 0, got {variance}")
    rng = _rng(seed)
    k = int(round(p * n))
    rows = _random_columns(rng, m, n, k)  # (m, k): target rows of each channel
    values = rng.standard_normal((m, k)) * np.sqrt(variance)
    if zero_mean and k > 0:
        values -= values.mean(axis=1, keepdims=True)
    C = np.zeros((n, m))
    C[rows, np.arange(m)[:, None]] = values
    return C


def _normalize_rows(C: np.ndarray) -> np.ndarray:
    """Divide each row of the float matrix C by its sum, in place; rows summing to 0 stay."""
    total = C.sum(axis=1, keepdims=True)
    np.divide(C, total, out=C, where=total > 0)
    return C


def _spatial_draws(
    fn: str, N: int, p: float, spatial_distribution: Any, seed: SeedLike
) -> tuple[int, np.ndarray]:
    """The checked N and signed integer offsets (N, round(N*p)): distance from the distribution,
    random sign."""
    N = _check_size(N, "N", fn)
    p = _check_p(p, fn)
    rng = _rng(seed)
    k = int(round(N * p))
    if not hasattr(spatial_distribution, "rvs"):
        raise RectinumbaError(
            f"{fn}: spatial_distribution must have an rvs(size=..., random_state=...) method, got "
            f"{type(spatial_distribution).__name__}",
            hint="pass a frozen scipy.stats distribution, e.g. scipy.stats.randint(1, 5)",
        )
    dist = np.asarray(spatial_distribution.rvs(size=(N, k), random_state=rng), dtype=np.float64)
    dist = np.rint(dist).astype(np.int64).reshape(N, k)
    signs = np.where(rng.random((N, k)) < 0.5, -1, 1)
    return N, signs * dist


def _weights_from_draws(
    targets: np.ndarray, valid: np.ndarray, N: int, homogeneous_weights: bool
) -> np.ndarray:
    """Row i: homogeneous -> 1/#distinct sources at each source; else draw counts / #draws."""
    counts = np.zeros((N, N))
    rows = np.broadcast_to(np.arange(N)[:, None], targets.shape)
    np.add.at(counts, (rows[valid], targets[valid]), 1.0)
    C = (counts > 0).astype(np.float64) if homogeneous_weights else counts
    return _normalize_rows(C)


def circular_connectivity(
    N: int,
    p: float,
    spatial_distribution: Any,
    homogeneous_weights: bool = True,
    seed: SeedLike = None,
) -> np.ndarray:
    """Coupling matrix of N nodes on a ring, with distance-dependent connections.

    Node i draws ``round(N*p)`` distances d (with replacement) from ``spatial_distribution``,
    each with a random sign, and receives input from nodes ``(i ± d) mod N``. Because draws can
    repeat, the actual connection probability is at most p.

    Parameters
    ----------
    N : int
        Number of nodes.
    p : float
        Connection probability (number of draws per node / N).
    spatial_distribution : scipy.stats frozen distribution
        Distribution of the distance: any object with ``rvs(size=..., random_state=...)``, e.g. a
        frozen ``scipy.stats`` distribution (``scipy.stats.randint(1, 10)``,
        ``scipy.stats.binom(N // 2, 0.1)``, ``scipy.stats.norm(0, 3)``). Continuous samples are
        rounded to the nearest integer; a distance of 0 makes a self-connection.
    homogeneous_weights : bool, default True
        If True, all distinct inputs of a node have weight 1/(number of distinct inputs). If
        False, each input's weight is the fraction of the node's draws that hit it (repeated
        draws strengthen a connection). Either way each row sums to 1.
    seed : int or numpy.random.Generator, optional
        Seed or ``numpy.random.Generator`` (also passed to ``rvs`` as ``random_state``).

    Returns
    -------
    np.ndarray
        Dense (N, N) matrix; row i holds the inputs of node i.
    """
    N, offsets = _spatial_draws("circular_connectivity", N, p, spatial_distribution, seed)
    targets = np.mod(np.arange(N)[:, None] + offsets, N)
    return _weights_from_draws(targets, np.ones(targets.shape, dtype=bool), N, homogeneous_weights)


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
    seed : int or numpy.random.Generator, optional
        Seed or ``numpy.random.Generator``.

    Returns
    -------
    np.ndarray
        Dense (N, N) matrix; row i holds the inputs of node i.
    """
    N, offsets = _spatial_draws("line_connectivity", N, p, spatial_distribution, seed)
    targets = np.arange(N)[:, None] + offsets
    valid = (targets >= 0) & (targets < N)
    return _weights_from_draws(np.where(valid, targets, 0), valid, N, homogeneous_weights)


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
