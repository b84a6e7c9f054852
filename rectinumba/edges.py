"""Edges between nodes: a weight matrix (n_target, n_source), dense or CSR."""

from __future__ import annotations

import numpy as np

from .errors import NetworkError
from .weights import as_weight_matrix, is_sparse

__all__ = ["Edge", "TRAIN_MODES", "orient_weights"]

TRAIN_MODES = (None, "gd", "rls")


def orient_weights(weights, n_source: int, n_target: int, *, source: str, target: str):
    """Return weights with shape (n_target, n_source).

    Used as given when already (n_target, n_source) (also when square); a non-square
    (n_source, n_target) array is transposed; anything else is an error naming both shapes.

    Parameters
    ----------
    weights : numpy.ndarray or scipy.sparse matrix
        The weights as the user gave them.
    n_source, n_target : int
        Output size of the source node, input size of the target node.
    source, target : str
        Node labels, for the error message (keyword only).

    Returns
    -------
    numpy.ndarray or scipy.sparse matrix
        ``weights`` or its transpose, of shape (n_target, n_source).
    """
    shape = tuple(weights.shape)
    if shape == (n_target, n_source):
        return weights
    if shape == (n_source, n_target):
        return weights.T
    raise NetworkError(
        f"edge {source!r} -> {target!r}: weights of shape {shape} fit neither "
        f"(n_target, n_source) = {(n_target, n_source)} nor (n_source, n_target) = "
        f"{(n_source, n_target)}"
    )


class Edge:
    """Weights from ``source`` to ``target``; the target's input is ``weights @ out_source``.

    Made by :meth:`rectinumba.Network.add_edge`, which documents the arguments.

    Parameters
    ----------
    source, target : str
        Node labels.
    weights : numpy.ndarray or scipy.sparse matrix
        (n_target, n_source) weights (see :func:`orient_weights`).
    train : {None, "gd", "rls"}
        How the edge is trained (keyword only, like all that follow).
    mask : array_like or None
        Multiplies the weights element-wise.
    feedback : bool
        Whether the edge is a feedback edge.
    sparse : bool or None
        Force CSR (True) or dense (False); None chooses by density.
    dtype : numpy.dtype
        Float type of the weights.

    Attributes
    ----------
    weights
        (n_target, n_source) numpy array or scipy CSR matrix (mask already applied).
    train
        None (static), "gd" (fit_bptt) or "rls" (fit_rls).
    feedback
        Reads the source's output of the previous step.
    rls_P
        Inverse-correlation matrix of recursive least squares (fit_rls), carried between calls;
        None until the edge is first trained.
    """

    def __init__(
        self, source: str, target: str, weights, *, train, mask, feedback: bool, sparse, dtype
    ) -> None:
        if train not in TRAIN_MODES:
            raise NetworkError(
                f"edge {source!r} -> {target!r}: train must be one of {TRAIN_MODES}, got {train!r}"
            )
        self.source, self.target, self.train, self.feedback = source, target, train, bool(feedback)
        self.sparse_override, self.dtype = sparse, dtype
        shape = weights.shape
        if mask is not None:
            mask_arr = mask.toarray() if is_sparse(mask) else np.asarray(mask)
            if mask_arr.shape != shape:
                if mask_arr.shape == shape[::-1] and shape[0] != shape[1]:
                    mask_arr = mask_arr.T
                else:
                    raise NetworkError(
                        f"edge {source!r} -> {target!r}: mask of shape {mask_arr.shape} does not "
                        f"match weights of shape {shape}"
                    )
            weights = (
                weights.multiply(mask_arr) if is_sparse(weights) else np.asarray(weights) * mask_arr
            )
        self.mask = mask
        self.rls_P = None
        self.weights = as_weight_matrix(
            weights, shape, dtype, sparse=sparse, what=f"edge {source!r} -> {target!r} weights"
        )

    @property
    def fmt(self) -> str:
        """How the weights run: ``"dense"`` or ``"csr"``."""
        return "csr" if is_sparse(self.weights) else "dense"

    @property
    def shape(self) -> tuple[int, int]:
        """(n_target, n_source)."""
        return tuple(self.weights.shape)

    def __repr__(self) -> str:
        fb = ", feedback" if self.feedback else ""
        return f"Edge({self.source!r} -> {self.target!r}, {self.shape}, train={self.train!r}{fb})"
