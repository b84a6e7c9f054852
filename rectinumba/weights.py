"""Weight matrices: validation, dtype, and the dense/CSR choice."""

from __future__ import annotations

import numpy as np

from .errors import NetworkError
from .validate import first_nonfinite, real_array

__all__ = [
    "is_sparse",
    "as_weight_matrix",
    "as_given",
    "SPARSE_DENSITY",
    "csr_parts",
    "csc_parts",
    "csc_structure",
    "fingerprint",
    "index_dtype",
]

#: below this fraction of non-zeros, CSR coupling beats a dense loop
SPARSE_DENSITY = 0.2


def is_sparse(w) -> bool:
    return hasattr(w, "tocsr") and hasattr(w, "nnz")


def as_weight_matrix(
    w,
    shape: tuple[int, int],
    dtype,
    *,
    sparse: bool | None,
    what: str,
    node: str | None = None,
    trainable: bool = False,
):
    """Validate ``w`` against ``shape`` and return a new dense C array or scipy CSR matrix.

    The result never shares memory with ``w``: the network owns it (training changes it in place).
    Complex, non-numeric and non-finite values are refused whatever the density.

    ``sparse=None`` chooses the storage: a trainable matrix keeps the form it was given (a dense
    array stays dense and all its entries are trained; a scipy.sparse matrix keeps its sparsity
    structure); a static one is stored as CSR when that is faster (density below
    :data:`SPARSE_DENSITY` and at least 100 x 100 for a dense array).

    Parameters
    ----------
    w : array_like or scipy.sparse matrix
        The weights.
    shape : tuple of int
        Expected shape.
    dtype : numpy dtype
        Storage dtype.
    sparse : bool or None
        Force CSR (True) or dense (False) storage; None chooses (see above).
    what : str
        What the weights are, for messages.
    node : str, optional
        Node label, for messages.
    trainable : bool
        Whether training will change the weights.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        A new matrix owned by the caller.
    """
    if is_sparse(w):
        if w.shape != shape:
            raise NetworkError(f"{what} has shape {w.shape}, expected {shape}", node=node)
        m = w.tocsr(copy=True)
        # checked before any conversion: a dense copy of a NaN-holding matrix is refused too
        data = real_array(m.data, dtype, what=what, node=node, finite=False)
        bad = first_nonfinite(data)
        if bad is not None:
            row = int(np.searchsorted(m.indptr, bad[0], side="right")) - 1
            raise NetworkError(
                f"{what} must be finite, got {data[bad]} at row {row}, column "
                f"{int(m.indices[bad[0]])}",
                node=node,
            )
        density = m.nnz / max(1, shape[0] * shape[1])
        use_sparse = sparse if sparse is not None else (trainable or density < SPARSE_DENSITY)
        if not use_sparse:
            return np.ascontiguousarray(m.toarray(), dtype=dtype)
        m = m.astype(dtype)
        m.sum_duplicates()
        m.sort_indices()
        return m
    arr = real_array(w, dtype, what=what, node=node)
    if arr.shape != shape:
        raise NetworkError(f"{what} has shape {arr.shape}, expected {shape}", node=node)
    if sparse is None:
        sparse = (
            not trainable
            and arr.size >= 10_000
            and np.count_nonzero(arr) / arr.size < SPARSE_DENSITY
        )
    if sparse:
        import scipy.sparse as sp

        m = sp.csr_matrix(arr)
        m.sort_indices()
        return m
    return arr


def as_given(stored, sparse_given: bool):
    """The stored weights in the form the user gave them: a read-only dense view or a CSR copy.

    Parameters
    ----------
    stored : numpy.ndarray or scipy.sparse.csr_matrix
        The network's own matrix (not modified).
    sparse_given : bool
        Whether the user passed a scipy.sparse matrix.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        A dense array that cannot be written to (a view when stored dense, else a new array),
        or a new CSR matrix.
    """
    if sparse_given:
        if is_sparse(stored):
            return stored.copy()
        import scipy.sparse as sp

        return sp.csr_matrix(stored)
    view = stored.toarray() if is_sparse(stored) else stored.view()
    view.flags.writeable = False
    return view


def index_dtype(n: int) -> np.dtype:
    """The dtype of the column (CSR) or row (CSC) indices the kernels take, for ``n`` columns.

    The one place of this choice. Unsigned 32-bit indices below ``2**32``: numba tests every
    signed index for a negative value (wrap-around) before the load, which made the CSR gather
    1.6-2x slower than scipy's (benchmarks/csr_gather_bench.py); an unsigned index has no such
    test, and scipy's int32 indices are reused without a copy. int64 from ``2**32`` columns on
    (uint64 would turn index arithmetic into float64 in numba). Row pointers are int64 always,
    so any number of non-zeros fits.

    Parameters
    ----------
    n : int
        Number of columns (rows for CSC).

    Returns
    -------
    numpy.dtype
        uint32 or int64.
    """
    return np.dtype(np.uint32) if n <= 2**32 else np.dtype(np.int64)


def _indices(arr: np.ndarray, n: int) -> np.ndarray:
    """Indices as :func:`index_dtype` (a view of non-negative int32 indices, no copy)."""
    want = index_dtype(n)
    if want == np.uint32 and arr.dtype == np.int32 and arr.flags.c_contiguous:
        return arr.view(np.uint32)
    return np.ascontiguousarray(arr, dtype=want)


def csr_parts(m, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, indices, indptr) of a CSR matrix as the kernels take them.

    Parameters
    ----------
    m : scipy.sparse.csr_matrix
        The matrix (sorted indices).
    dtype : numpy.dtype
        Value dtype.

    Returns
    -------
    tuple of numpy.ndarray
        Data in ``dtype`` (the matrix's own array when it has that dtype), column indices as
        :func:`index_dtype` (a view of scipy's int32 indices when possible), int64 row pointers.
    """
    return (
        np.ascontiguousarray(m.data, dtype=dtype),
        _indices(m.indices, m.shape[1]),
        np.ascontiguousarray(m.indptr, dtype=np.int64),
    )


def fingerprint(m) -> tuple:
    """A cheap summary of a matrix's values: sum, smallest and largest value.

    A check that the values a cache was made from are still there: training changes weights in
    place (inside :meth:`rectinumba.runner.Runner.transaction`, which drops such caches too);
    a change that keeps all three (a permutation of the values) is not one an update makes.
    Plain reductions: no temporary array, no BLAS call (its threads can take milliseconds to
    wake on a busy machine).

    Parameters
    ----------
    m : numpy.ndarray or scipy.sparse.csr_matrix
        The matrix.

    Returns
    -------
    tuple
        (shape, number of stored values, sum, minimum, maximum).
    """
    data = m.data if is_sparse(m) else m.ravel()
    if data.size == 0:
        return (m.shape, 0)
    return (m.shape, data.size, float(np.add.reduce(data)), float(data.min()), float(data.max()))


def csc_structure(m) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where a CSR matrix's entries go when it is stored by columns (event-driven coupling).

    The structure of a network's weights never changes in place (training changes values
    only), so it can be kept while the values are gathered again for every call
    (:func:`csc_parts`).

    Parameters
    ----------
    m : scipy.sparse.csr_matrix
        The matrix (sorted indices).

    Returns
    -------
    tuple of numpy.ndarray
        ``perm`` (int64: position in ``m.data`` of each entry in column order), row indices as
        :func:`index_dtype`, int64 column pointers; column j's entries are
        ``m.data[perm[indptr[j]:indptr[j + 1]]]`` in row order.
    """
    import scipy.sparse as sp

    position = sp.csr_matrix(
        (np.arange(m.nnz, dtype=np.int64), m.indices, m.indptr), shape=m.shape
    ).tocsc()
    position.sort_indices()
    return (
        np.ascontiguousarray(position.data, dtype=np.int64),
        _indices(position.indices, m.shape[0]),
        np.ascontiguousarray(position.indptr, dtype=np.int64),
    )


def csc_parts(m, dtype, structure=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, row indices, column pointers) of a CSR matrix stored by columns.

    Parameters
    ----------
    m : scipy.sparse.csr_matrix
        The matrix (sorted indices).
    dtype : numpy.dtype
        Value dtype.
    structure : tuple, optional
        :func:`csc_structure` of ``m`` (computed when not given).

    Returns
    -------
    tuple of numpy.ndarray
        Data in ``dtype`` (a new array, gathered from ``m.data`` now), row indices as
        :func:`index_dtype`, int64 column pointers.
    """
    perm, indices, indptr = csc_structure(m) if structure is None else structure
    return np.ascontiguousarray(m.data[perm], dtype=dtype), indices, indptr
