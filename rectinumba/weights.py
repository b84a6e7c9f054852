"""Weight matrices: validation, dtype, and the dense/CSR choice."""

from __future__ import annotations

import numpy as np

from .errors import NetworkError

__all__ = ["is_sparse", "as_weight_matrix", "SPARSE_DENSITY", "csr_parts"]

#: below this fraction of non-zeros, CSR coupling beats a dense loop
SPARSE_DENSITY = 0.2


def is_sparse(w) -> bool:
    return hasattr(w, "tocsr") and hasattr(w, "nnz")


def as_weight_matrix(
    w, shape: tuple[int, int], dtype, *, sparse: bool | None, what: str, node: str | None = None
):
    """Validate ``w`` against ``shape`` and return a dense C array or a scipy CSR matrix.

    ``sparse=None`` chooses CSR when the density is below :data:`SPARSE_DENSITY`.
    """
    if is_sparse(w):
        if w.shape != shape:
            raise NetworkError(f"{what} has shape {w.shape}, expected {shape}", node=node)
        density = w.nnz / max(1, shape[0] * shape[1])
        use_sparse = sparse if sparse is not None else density < SPARSE_DENSITY
        if not use_sparse:
            return np.ascontiguousarray(w.toarray(), dtype=dtype)
        m = w.tocsr().astype(dtype)
        m.sum_duplicates()
        m.sort_indices()
        if not np.all(np.isfinite(m.data)):
            raise NetworkError(f"{what} contains non-finite values", node=node)
        return m
    try:
        arr = np.asarray(w, dtype=dtype)
    except (TypeError, ValueError):
        raise NetworkError(
            f"{what} must be a numeric matrix, got {type(w).__name__}", node=node
        ) from None
    if arr.shape != shape:
        raise NetworkError(f"{what} has shape {arr.shape}, expected {shape}", node=node)
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.all(np.isfinite(arr)):
        raise NetworkError(f"{what} contains non-finite values", node=node)
    if sparse or (
        sparse is None and arr.size >= 10_000 and np.count_nonzero(arr) / arr.size < SPARSE_DENSITY
    ):
        import scipy.sparse as sp

        m = sp.csr_matrix(arr)
        m.sort_indices()
        return m
    return arr


def csr_parts(m, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, indices, indptr) with int64 indices (faster gathers than scipy's int32)."""
    return (
        np.ascontiguousarray(m.data, dtype=dtype),
        np.ascontiguousarray(m.indices, dtype=np.int64),
        np.ascontiguousarray(m.indptr, dtype=np.int64),
    )
