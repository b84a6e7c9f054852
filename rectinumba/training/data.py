"""Inputs and targets of the training methods: arrays, batches, lists of epochs."""

from __future__ import annotations

import numpy as np

from ..errors import NetworkError
from ..runner import RunResult

__all__ = ["target_array", "epochs", "merge", "is_epoch_list", "refuse_complex"]


def refuse_complex(runner, what: str, whole_network: bool = False) -> None:
    """Refuse training on complex values: losses, readouts and RLS are real arithmetic.

    Parameters
    ----------
    runner : Runner
        The network's runner.
    what : str
        Method name for messages.
    whole_network : bool
        Refuse any complex-valued model in the network (BPTT differentiates every node), not
        just a complex network output.
    """
    from ..nodes import DiffEqNode

    out = runner.nodes[runner.io_nodes()[1]]
    if isinstance(out, DiffEqNode) and out.output_is_complex:
        raise NetworkError(
            f"{what}: the network output {out.output_var!r} of node {out.label!r} is complex; "
            "losses, readouts and RLS work on real numbers",
            hint="make the output a real variable of the model (defined as real(z), abs(z) or "
            "angle(z)), or add a function node reading such a variable",
        )
    if not whole_network:
        return
    for node in runner.nodes.values():
        if isinstance(node, DiffEqNode) and _computes_complex(node.model):
            model = node.model
            found = [n for n in model.variable_names if model.is_complex(n)]  # states first
            raise NetworkError(
                f"{what}: node {node.label!r} computes with complex values"
                + (f" (its variable {found[0]!r} is complex)" if found else "")
                + "; gradients through complex values would need Wirtinger (complex) adjoints, "
                "which rectinumba does not implement",
                hint="simulate complex models with run(); train real models with fit_bptt",
            )


def _computes_complex(model) -> bool:
    """Whether a model has complex variables or complex intermediate values (``exp(I*v)``)."""
    if model.complex_vars:
        return True
    import sympy

    exprs = [d.expr for d in model.algebraic] + [e for _, e in model.derivatives]
    return any(e.has(sympy.I) for e in exprs)


def is_epoch_list(inputs) -> bool:
    """Whether ``inputs`` is a non-empty list (or tuple) of arrays: one per epoch.

    Parameters
    ----------
    inputs : object
        What the user passed.

    Returns
    -------
    bool
        True for a list of epochs.
    """
    return (
        isinstance(inputs, (list, tuple))
        and len(inputs) > 0
        and all(isinstance(a, np.ndarray) for a in inputs)
    )


def target_array(y, x: np.ndarray, batched: bool, what: str) -> np.ndarray:
    """Targets as a float64 (B, T, k) array that matches inputs x (B, T, m).

    Parameters
    ----------
    y : array_like
        Targets as given.
    x : numpy.ndarray
        The inputs (B, T, m).
    batched : bool
        Whether the inputs were given batched.
    what : str
        Method name for messages.

    Returns
    -------
    numpy.ndarray
        (B, T, k) float64 targets.
    """
    arr = np.asarray(y)
    if not np.issubdtype(arr.dtype, np.number):
        raise NetworkError(f"{what}: targets must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not batched:
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim == 2:
            arr = arr[None]
    expected = "(B, T, k)" if batched else "(T, k)"
    if arr.ndim != 3 or arr.shape[:2] != x.shape[:2]:
        shape_in = x.shape if batched else x.shape[1:]
        raise NetworkError(
            f"{what}: targets of shape {np.shape(y)} do not match inputs of shape {shape_in}; "
            f"expected {expected} with the same number of trials and steps as the inputs"
        )
    # checked in slices: a whole-array test would allocate T booleans (memory grows with T)
    for s0 in range(0, arr.shape[1], 65536):
        if not np.isfinite(arr[:, s0 : s0 + 65536]).all():
            raise NetworkError(f"{what}: targets contain non-finite values")
    return arr


def epochs(runner, inputs, targets, what: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
    """[(x (B, T, m), y (B, T, k)), ...] and whether the inputs are batched.

    Parameters
    ----------
    runner : Runner
        The network's runner (checks the inputs against the input node).
    inputs, targets : array_like or list
        One array each, or lists of epochs.
    what : str
        Method name for messages.

    Returns
    -------
    tuple of (list, bool)
        The epochs and whether they are batched.
    """
    if is_epoch_list(inputs):
        if not isinstance(targets, (list, tuple)) or len(targets) != len(inputs):
            n_t = len(targets) if isinstance(targets, (list, tuple)) else "an array"
            raise NetworkError(
                f"{what}: inputs are a list of {len(inputs)} epochs, so targets must be a list "
                f"of {len(inputs)} arrays too; got {n_t}"
            )
        pairs = list(zip(inputs, targets, strict=True))
    else:
        if isinstance(targets, (list, tuple)) and is_epoch_list(targets):
            raise NetworkError(f"{what}: targets are a list of epochs but inputs are one array")
        pairs = [(inputs, targets)]
    found, flags, ks, bs = [], set(), set(), set()
    for xi, yi in pairs:
        x, batched = runner.as_inputs(xi)
        y = target_array(yi, x, batched, what)
        found.append((x, y))
        flags.add(batched)
        ks.add(y.shape[2])
        bs.add(x.shape[0])
    if len(flags) > 1:
        raise NetworkError(f"{what}: mix of batched (B, T, m) and unbatched (T, m) epochs")
    if len(ks) > 1:
        raise NetworkError(f"{what}: epochs have targets with different widths {sorted(ks)}")
    if len(bs) > 1:
        # the recordings of all epochs are stacked along the recording axis of one Observer
        raise NetworkError(
            f"{what}: batched epochs have different numbers of trials {sorted(bs)}",
            hint="give every epoch the same number of trials B",
        )
    return found, flags.pop()


def merge(results: list[RunResult]) -> RunResult:
    """The recordings of several runs, concatenated along the recording axis.

    Parameters
    ----------
    results : list of RunResult
        The runs, in order.

    Returns
    -------
    RunResult
        One result.
    """
    out = np.concatenate([r.out for r in results], axis=1)
    recs = {key: np.concatenate([r.recs[key] for r in results], axis=1) for key in results[0].recs}
    return RunResult(out, recs, results[0].keys)
