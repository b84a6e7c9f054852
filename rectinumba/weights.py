"""Weight matrices: validation, dtype, and the dense/CSR choice."""

from __future__ import annotations

import numpy as np

from .errors import NetworkError
from .validate import first_nonfinite, real_array

__all__ = ["is_sparse", "as_weight_matrix", "as_given", "SPARSE_DENSITY", "csr_parts"]

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


def csr_parts(m, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, indices, indptr) with int64 indices (faster gathers than scipy's int32)."""
    return (
        np.ascontiguousarray(m.data, dtype=dtype),
        np.ascontiguousarray(m.indices, dtype=np.int64),
        np.ascontiguousarray(m.indptr, dtype=np.int64),
    )
