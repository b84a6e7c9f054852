"""Readout training on the compiled loop: fit_ridge, fit_rls, test (mixed into Network).

Both fits run inside the generated step kernel through a training hook
(:mod:`rectinumba.codegen.train`): ridge regression accumulates ``X^T X`` and ``X^T Y`` while the
network runs (no T x n design matrix is ever stored), RLS updates the trained edge's weights and
its inverse correlation matrix P every ``update_steps`` steps.

Inputs of all three methods are an array (T, m), a batch (B, T, m), or a list of such arrays
(epochs; every epoch starts from the state the network had when the method was called, and the
network returns to it afterwards, as RectiPy's epochs do). Targets have the same structure with k
columns: (T, k), (B, T, k) or a list; a 1-D (T,) target means k = 1. Targets are given per step
and sampled exactly like the recordings (steps ``cutoff, cutoff + sampling_steps, ...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import compat
from ..errors import NetworkError, SimulationError
from ..locking import exclusive
from ..validate import integer
from .snapshot import restore_state, snapshot_state

__all__ = ["ReadoutTrainingMixin"]

#: bytes of the per-trial row buffer of the ridge hook (longer rows: longer vectorised dot products)
RIDGE_BLOCK_BYTES = 2 << 20

#: steps per device run of fit_ridge on backends without training hooks (bounds host memory)
RIDGE_DEVICE_CHUNK = 1 << 16


def _block_rows(n1: int) -> int:
    """Rows per trial collected before the ridge hook folds them into X^T X (256 to 4096)."""
    return int(min(4096, max(256, RIDGE_BLOCK_BYTES // (8 * n1))))


def _as_number(value, what: str, *, integer: bool = False) -> float | int:
    """``value`` as a float (or an int when ``integer``), or a NetworkError naming it.

    Range checks are the caller's; this only refuses values that are no number at all (a string,
    None), which ``float()``/``int()`` would report as a bare ValueError/TypeError.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        kind = "an integer" if integer else "a number"
        raise NetworkError(f"{what} must be {kind}, got {value!r}") from None
    if integer:
        if not np.isfinite(number) or number != int(number):
            raise NetworkError(f"{what} must be an integer, got {value!r}")
        return int(number)
    return number


def _is_epoch_list(inputs) -> bool:
    return (
        isinstance(inputs, (list, tuple))
        and len(inputs) > 0
        and all(isinstance(a, np.ndarray) for a in inputs)
    )


def _bias_readout_template():
    """A node template ``y = u + bias``: an identity readout with a per-unit intercept."""
    from ..templates import NodeTemplate, OperatorTemplate

    op = OperatorTemplate(
        "readout_op",
        equations=["y = u + bias"],
        variables={"y": "output(0.0)", "u": "input(0.0)", "bias": 0.0},
        description="identity readout with an intercept (added by fit_ridge)",
    )
    return NodeTemplate("readout", operators=[op])


class ReadoutTrainingMixin:
    """Methods fit_ridge, fit_rls and test of :class:`rectinumba.Network`."""

    # ---- argument handling ------------------------------------------------------------
    def _target_array(self, y, x: np.ndarray, batched: bool, what: str) -> np.ndarray:
        """Targets as a float64 (B, T, k) array that matches inputs x (B, T, m)."""
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

    def _epochs(
        self, inputs, targets, what: str
    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
        """[(x (B, T, m), y (B, T, k)), ...] and whether the inputs are batched."""
        if _is_epoch_list(inputs):
            if not isinstance(targets, (list, tuple)) or len(targets) != len(inputs):
                n_t = len(targets) if isinstance(targets, (list, tuple)) else "an array"
                raise NetworkError(
                    f"{what}: inputs are a list of {len(inputs)} epochs, so targets must be a list "
                    f"of {len(inputs)} arrays too; got {n_t}"
                )
            pairs = list(zip(inputs, targets, strict=True))
        else:
            if isinstance(targets, (list, tuple)) and _is_epoch_list(targets):
                raise NetworkError(f"{what}: targets are a list of epochs but inputs are one array")
            pairs = [(inputs, targets)]
        epochs, flags, ks, bs = [], set(), set(), set()
        for xi, yi in pairs:
            x, batched = self._as_inputs(xi)
            y = self._target_array(yi, x, batched, what)
            epochs.append((x, y))
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
        return epochs, flags.pop()

    @staticmethod
    def _merge_runs(results: list) -> tuple[np.ndarray, dict, list]:
        """Concatenate the recordings of several _execute calls along the recording axis."""
        outs = np.concatenate([r[0] for r in results], axis=1)
        recs = {key: np.concatenate([r[1][key] for r in results], axis=1) for key in results[0][1]}
        return outs, recs, results[0][2]

    # ---- ridge regression -------------------------------------------------------------
    def _ridge_recorded(self, x, y, sampling, cutoff, fit_intercept, record_output, record_vars):
        """X^T X and X^T Y of one epoch from recorded outputs, simulated in chunks of steps.

        The path of backends without training hooks (CUDA): each chunk runs on the device with
        the output recorded at the global recording steps ``cutoff + j * sampling``; the rows are
        folded into the sums on the host. Returns (X^T X, X^T Y, recordings as from _execute).
        """
        B, T = x.shape[:2]
        chunk = max(sampling, (RIDGE_DEVICE_CHUNK // sampling) * sampling)
        n1 = None
        xx = xy = None
        results = []
        for g0 in range(0, T, chunk):
            g1 = min(T, g0 + chunk)
            first = cutoff if g0 <= cutoff else cutoff + -(-(g0 - cutoff) // sampling) * sampling
            out_rec, recs, keys, _, _ = self._execute(
                x[:, g0:g1],
                sampling=sampling,
                cutoff=first - g0,
                record_output=True,
                record_vars=record_vars,
            )
            X = out_rec.astype(np.float64)
            Y = y[:, first:g1:sampling]
            if fit_intercept:
                X = np.concatenate([X, np.ones(X.shape[:2] + (1,))], axis=2)
            if xx is None:
                n1 = X.shape[2]
                xx, xy = np.zeros((n1, n1)), np.zeros((n1, Y.shape[2]))
            xx += np.einsum("brn,brm->nm", X, X)
            xy += np.einsum("brn,brk->nk", X, Y)
            results.append((out_rec if record_output else out_rec[:, :0], recs, keys))
        return xx, xy, self._merge_runs(results)

    @exclusive
    def fit_ridge(
        self,
        inputs,
        targets,
        sampling_steps: int = 1,
        alpha: float = 1e-4,
        verbose: bool = True,
        add_readout_node: bool = True,
        *,
        cutoff: int = 0,
        fit_intercept: bool = False,
        record_output: bool = False,
        record_vars: Sequence[tuple] | None = None,
        **kwargs,
    ):
        """Fit a linear readout of the network output by ridge regression.

        With X the network output (the output node's ``out``) at the recording steps and Y the
        targets at the same steps, solves ``(X^T X + alpha I) W = X^T Y`` with
        ``scipy.linalg.solve(assume_a="pos")``. ``X^T X`` and ``X^T Y`` are accumulated inside the
        compiled loop, so memory does not grow with T. With ``fit_intercept`` a column of ones is
        appended to X; its coefficient (the intercept) is not penalised by ``alpha``.

        Parameters
        ----------
        inputs
            (T, m), (B, T, m) (B trials, all rows enter one fit) or a list of such arrays
            (epochs, state reset between epochs, all accumulated into one fit).
        targets
            (T, k), (T,), (B, T, k), or a list matching ``inputs``; one row per step.
        sampling_steps
            Rows of X are the steps ``cutoff, cutoff + sampling_steps, ...`` of each epoch.
        alpha
            Ridge penalty (>= 0).
        verbose
            Progress display.
        add_readout_node
            Add a node ``"readout"`` (k units) fed by the old output node through an edge with
            weights ``w_out.T``: an identity function node, or with ``fit_intercept`` a diff-eq
            node computing ``y = u + bias`` (``bias`` = the intercept). It becomes the output node.
        cutoff
            Steps of each epoch before the first row (keyword only, like all that follow; the
            positional order above is RectiPy's).
        fit_intercept
            Fit an intercept (bias) as well.
        record_output
            Record the network output at the recording steps (``obs["out"]``) and save the
            prediction ``obs["y"] = out @ w_out (+ intercept)``. Off by default: the recording
            grows with T (the fit itself does not).
        record_vars
            Variables to record during the fit, as in :meth:`run`.
        **kwargs
            RectiPy's ``enable_grad``, ``truncate_steps``, ``record_loss``: no effect.

        Returns
        -------
        Observer
            ``"w_out"`` (n, k), ``"intercept"`` (k,) with ``fit_intercept``, and with
            ``record_output`` ``"out"`` and ``"y"``.
        """
        compat.run_options("fit_ridge", kwargs)
        import scipy.linalg

        from ..codegen.train import RidgeAccumulate
        from ..progress import progress

        sampling, cutoff = self._check_sampling(sampling_steps, cutoff)
        alpha = _as_number(alpha, "fit_ridge: alpha")
        if not np.isfinite(alpha) or alpha < 0:
            raise NetworkError(f"fit_ridge: alpha must be a non-negative number, got {alpha!r}")
        if add_readout_node and "readout" in self._nodes:
            raise NetworkError(
                "fit_ridge: a node labelled 'readout' exists already",
                hint="pop_node('readout') first, or pass add_readout_node=False",
            )
        epochs, batched = self._epochs(inputs, targets, "fit_ridge")
        rows = sum(x.shape[0] * max(0, -(-(x.shape[1] - cutoff) // sampling)) for x, _ in epochs)
        if rows == 0:  # refused before running: a failed fit leaves the network as it was
            raise NetworkError(
                f"fit_ridge: no step was recorded (cutoff={cutoff} leaves no step of the inputs)"
            )
        out_label = self._io_nodes()[1]
        n = self._nodes[out_label].n_out
        k = epochs[0][1].shape[2]
        n1 = n + 1 if fit_intercept else n
        hook = RidgeAccumulate(bool(fit_intercept))
        xx_tot = np.zeros((n1, n1))
        xy_tot = np.zeros((n1, k))
        results = []
        start = snapshot_state(self)
        with self._transaction():  # a failed fit leaves the network state as it was
            for i, (x, y) in enumerate(
                progress(epochs, "fit_ridge epochs", verbose and len(epochs) > 1)
            ):
                if i > 0:
                    restore_state(self, start)
                B, T = x.shape[:2]
                arrays = {
                    "cfg": np.array([cutoff, sampling], np.int64),
                    "steps:y": y,
                    "buf": np.zeros((B, n1, _block_rows(n1))),
                    "ybuf": np.zeros((B, k, _block_rows(n1))),
                    "cnt": np.zeros(B, np.int64),
                    "xx": np.zeros((B, n1, n1)),
                    "xy": np.zeros((B, n1, k)),
                }
                if self._backend.name != "cpu":
                    # device backends run no training hook: simulate there in chunks with the output
                    # recorded and accumulate on the host (memory bounded by the chunk length)
                    xx, xy, run = self._ridge_recorded(
                        x, y, sampling, cutoff, fit_intercept, record_output, record_vars
                    )
                    xx_tot += np.triu(xx)
                    xy_tot += xy
                    results.append(run)
                    continue
                out_rec, recs, keys, _, _ = self._execute(
                    x,
                    sampling=sampling,
                    cutoff=cutoff,
                    record_output=record_output,
                    record_vars=record_vars,
                    verbose=verbose,
                    train=hook,
                    train_arrays=arrays,
                )
                results.append((out_rec, recs, keys))
                # rows still in the buffers after the last step (stored as columns); an overflow
                # is reported below as non-finite sums, not as a numpy warning
                with np.errstate(over="ignore", invalid="ignore"):
                    for b in range(B):
                        c = int(arrays["cnt"][b])
                        left = arrays["buf"][b, :, :c]
                        xx_tot += np.triu(left @ left.T)
                        xy_tot += left @ arrays["ybuf"][b, :, :c].T
                    xx_tot += np.triu(arrays["xx"].sum(axis=0))  # the kernel fills the upper half
                    xy_tot += arrays["xy"].sum(axis=0)
            # still inside the transaction: a singular system or a bad record_vars entry (refused
            # by the Observer) must not leave the network advanced by the fit's runs
            A = xx_tot + np.triu(xx_tot, 1).T  # mirror the accumulated upper triangle
            A[np.arange(n), np.arange(n)] += alpha
            if not (np.isfinite(A).all() and np.isfinite(xy_tot).all()):
                raise SimulationError(
                    f"fit_ridge: X^T X or X^T Y is not finite: the output of node {out_label!r} "
                    "was NaN or inf at a recorded step, or its products overflowed; the network "
                    "state is as it was before this call",
                    node=out_label,
                    hint="check the output variable's equations and scale (record it with "
                    "run(record_vars=...))",
                )
            try:
                W = scipy.linalg.solve(A, xy_tot, assume_a="pos")
            except (np.linalg.LinAlgError, scipy.linalg.LinAlgError) as err:
                raise NetworkError(
                    f"fit_ridge: X^T X + alpha I is singular or not positive definite ({err})",
                    hint="use alpha > 0",
                ) from None
            if not np.isfinite(W).all():
                raise SimulationError(
                    "fit_ridge: the solution of (X^T X + alpha I) W = X^T Y is not finite "
                    "(the system is too ill-conditioned)",
                    node=out_label,
                    hint="use a larger alpha",
                )
            out_rec, recs, keys = self._merge_runs(results)
            obs = self._observer(out_rec, recs, keys, sampling, batched, record_output, record_vars)
        if _is_epoch_list(inputs):
            restore_state(self, start)
        w_out, intercept = W[:n], (W[n] if fit_intercept else None)
        obs.save("w_out", w_out)
        if fit_intercept:
            obs.save("intercept", intercept)
        if record_output:
            pred = obs["out"] @ w_out
            obs.save("y", pred + intercept if fit_intercept else pred, time_series=True)
        if add_readout_node:
            if fit_intercept:
                self.add_diffeq_node(
                    "readout",
                    _bias_readout_template(),
                    input_var="u",
                    output_var="y",
                    N=k,
                    node_vars={"bias": intercept},
                )
            else:
                self.add_func_node("readout", k, "identity")
            self.add_edge(out_label, "readout", weights=np.array(w_out.T))
        return obs

    # ---- recursive least squares --------------------------------------------------------
    def _rls_edge(self) -> tuple[int, Any]:
        found = [(e, edge) for e, edge in enumerate(self._edges.values()) if edge.train == "rls"]
        if len(found) != 1:
            names = [f"{edge.source!r} -> {edge.target!r}" for _, edge in found]
            raise NetworkError(
                f"fit_rls trains exactly one edge added with train='rls'; found {len(found)}"
                + (f": {', '.join(names)}" if names else ""),
                hint="net.add_edge(source, target, train='rls')",
            )
        e, edge = found[0]
        where = f"fit_rls: edge {edge.source!r} -> {edge.target!r}"
        if edge.fmt != "dense":
            raise NetworkError(
                f"{where} is sparse (CSR); RLS updates every weight",
                hint="add the edge with sparse=False",
            )
        if edge.mask is not None:
            raise NetworkError(
                f"{where} has a mask; RLS would fill the masked weights",
                hint="add the trained edge without a mask",
            )
        return e, edge

    @exclusive
    def fit_rls(
        self,
        inputs,
        targets,
        update_steps: int = 1,
        sampling_steps: int = 100,
        verbose: bool = True,
        *,
        record_output: bool = True,
        record_loss: bool = True,
        beta: float | None = None,
        alpha: float | None = None,
        record_vars: Sequence[tuple] | None = None,
        reset_P: bool = False,
        **kwargs,
    ):
        """Train the edge added with ``train="rls"`` online by recursive least squares.

        Every ``update_steps`` steps (run-relative steps 0, update_steps, ...), with x the vector
        the edge reads (the source's output; for a feedback edge its output of the previous
        step), y the target of the step and ``W x`` the edge's contribution::

            z = P x / beta;  k = 1 / (1 + x.z);  W += k (y - W x) z^T;  P = P / beta - k z z^T

        inside the compiled loop, with ``P0 = alpha I``. The edge's weights are updated in place,
        so a feedback edge from the readout into the network gives FORCE learning. P is kept on
        the edge (``edge.rls_P``) and carried over to the next call unless ``reset_P`` (a new P
        is also made when the source size changed); ``alpha`` only sets a new P. P stays exactly
        symmetric (``k z z^T`` is computed as ``g g^T`` with ``g = sqrt(k) z``).

        Every update checks its results inside the loop: a non-finite P or W, or a gain ``k``
        outside (0, inf) (P no longer positive definite), stops the fit with a SimulationError
        that names the edge and the step; W, P and the network state are then as they were
        before the call.

        Windup with ``beta < 1``: the forgetting factor divides P by beta at every update, and
        only directions that the inputs x excite are brought back down. When the inputs leave
        some direction unexcited (zero input, a silent neuron, fewer distinct inputs than
        sources), P grows like ``beta**-t`` along it until it overflows (after about
        ``log(1e308 / alpha) / -log(beta)`` updates: 70 000 for beta = 0.99), which the check
        above reports. Remedies: ``beta = 1`` (no forgetting; the default), beta closer to 1,
        ``reset_P=True`` between calls, or inputs that excite every direction (a little noise).

        Parameters
        ----------
        inputs
            (T, m) or a list of such arrays (epochs, each from the state at the call, W and P
            carried over). Batches (B, T, m) are refused: the trials would share one W.
        targets
            Targets of the trained edge's contribution: (T, k), (T,), or a list matching inputs.
        update_steps
            Steps between two updates.
        sampling_steps
            Steps between two recordings of the output and the loss.
        verbose
            Progress display (the positional order so far is RectiPy's).
        record_output, record_loss
            Record the output / the loss at the sampled steps; keyword only, like all that
            follow.
        beta
            Forgetting factor (0 < beta <= 1). Default: the
            ``beta`` given to ``add_edge(..., train="rls", beta=...)``, else 1.
        alpha
            Initial ``P = alpha I`` (> 0); the inverse of the ridge penalty. Default: the edge's
            ``alpha``, else 1.
        record_vars
            Variables to record at the sampled steps, as in :meth:`run`.
        reset_P
            Start from ``P = alpha I`` even when the edge keeps a P from an earlier call.

        Returns
        -------
        Observer
            ``"out"`` (network output), ``"loss"`` (mean squared a-priori error ``y - W x`` at
            the sampled steps, before that step's update), ``"epoch_loss"`` (its mean over every
            step of each epoch) and ``"w_out"`` (the trained weights, (k, n_source)). When the
            trained edge is the only input of an identity output node, ``W x`` is the network
            output, so the losses are the mse of the output against the targets. ``"epochs"``
            holds the epoch indices.
        """
        compat.run_options("fit_rls", kwargs)
        from ..codegen.train import RLSUpdate
        from ..progress import progress

        e, edge = self._rls_edge()
        beta = (1.0 if edge.rls_beta is None else edge.rls_beta) if beta is None else beta
        alpha = (1.0 if edge.rls_alpha is None else edge.rls_alpha) if alpha is None else alpha
        sampling, _ = self._check_sampling(sampling_steps, 0)
        update_steps = integer(update_steps, "fit_rls: update_steps", low=1)
        beta = _as_number(beta, "fit_rls: beta")
        alpha = _as_number(alpha, "fit_rls: alpha")
        if not (0.0 < beta <= 1.0):
            raise NetworkError(
                f"fit_rls: the forgetting factor beta must be in (0, 1], got {beta!r}"
            )
        if not np.isfinite(alpha) or alpha <= 0:
            raise NetworkError(
                f"fit_rls: alpha (P0 = alpha I) must be a positive number, got {alpha!r}"
            )
        epochs, batched = self._epochs(inputs, targets, "fit_rls")
        if batched and epochs[0][0].shape[0] > 1:
            raise NetworkError(
                "fit_rls: batched inputs (B, T, m) are not supported, the trials would share one W",
                hint="pass the trials as a list of (T, m) epochs",
            )
        n_t, n_s = edge.shape
        k = epochs[0][1].shape[2]
        if k != n_t:
            raise NetworkError(
                f"fit_rls: targets have {k} columns but the trained edge {edge.source!r} -> "
                f"{edge.target!r} feeds {n_t} units"
            )
        P = getattr(edge, "rls_P", None)
        if reset_P or P is None or P.shape != (n_s, n_s):
            P = alpha * np.eye(n_s)
        hook = RLSUpdate(e)
        results, losses, epoch_loss = [], [], []
        # a failed fit leaves W, P and the network state as they were
        start = snapshot_state(self)
        with self._transaction(edge._weights, P):
            epochs_iter = progress(epochs, "fit_rls epochs", verbose and len(epochs) > 1)
            for i, (x, y) in enumerate(epochs_iter):
                if i > 0:
                    restore_state(self, start)
                T = x.shape[1]
                arrays = {
                    "cfg": np.array([int(update_steps), sampling], np.int64),
                    "par": np.array([beta]),
                    "steps:y": y,
                    "P": P,
                    "z": np.zeros(n_s),
                    "e": np.zeros(n_t),
                    "acc": np.zeros(2),
                    "lrec": np.zeros(-(-T // sampling)),
                }
                out_rec, recs, keys, _, _ = self._execute(
                    x,
                    sampling=sampling,
                    cutoff=0,
                    record_output=record_output,
                    record_vars=record_vars,
                    verbose=verbose,
                    train=hook,
                    train_arrays=arrays,
                )
                results.append((out_rec, recs, keys))
                losses.append(arrays["lrec"])
                epoch_loss.append(arrays["acc"][0] / max(arrays["acc"][1], 1.0))
            # inside the transaction: an Observer error (e.g. a bad record_vars entry) undoes W
            out_rec, recs, keys = self._merge_runs(results)
            obs = self._observer(out_rec, recs, keys, sampling, batched, record_output, record_vars)
            if record_loss:
                loss_rec = np.concatenate(losses)
                # a (1, T, m) batch gives recordings with a trial axis: the loss gets one too
                obs.save("loss", loss_rec[None] if batched else loss_rec, time_series=True)
        if _is_epoch_list(inputs):
            restore_state(self, start)
        edge.rls_P = P
        obs.save("epoch_loss", np.array(epoch_loss))
        obs.save("epochs", np.arange(len(epoch_loss)))
        obs.save("w_out", np.array(edge._weights))
        return obs

    # ---- evaluation -------------------------------------------------------------------
    @exclusive
    def test(
        self,
        inputs,
        targets,
        loss: str = "mse",
        loss_kwargs: dict | None = None,
        sampling_steps: int = 1,
        verbose: bool = True,
        *,
        cutoff: int = 0,
        record_output: bool = True,
        record_vars: Sequence[tuple] | None = None,
        **kwargs,
    ):
        """Run the network on ``inputs`` and score its output against ``targets``.

        The loss (see :mod:`rectinumba.training.losses`, torch's definitions with mean reduction)
        compares the output at the recording steps ``cutoff, cutoff + sampling_steps, ...`` with
        the targets at the same steps. A list of epochs is run from the state at the call (each
        epoch; the network returns to it) and scored on all their recordings together. The
        positional order (inputs, targets, loss, loss_kwargs, sampling_steps, verbose) is
        RectiPy's; ``cutoff``, ``record_output`` and ``record_vars`` are keyword only.

        Returns
        -------
        (Observer, float)
            The recordings (``"out"`` when ``record_output``; ``"loss"`` unless RectiPy's
            ``record_loss=False``) and the loss. RectiPy's ``enable_grad`` and
            ``truncate_steps`` have no effect.
        """
        record_loss = compat.run_options("test", kwargs, ("record_loss",)).record_loss
        from ..progress import progress
        from .losses import get_loss

        loss_fn = get_loss(loss, **(loss_kwargs or {}))
        sampling, cutoff = self._check_sampling(sampling_steps, cutoff)
        epochs, batched = self._epochs(inputs, targets, "test")
        n_out, k = self.n_out, epochs[0][1].shape[2]
        # class losses take one class index per step: a (T,) or (T, 1) target
        indices = loss_fn.name in ("nll", "ce") and k == 1 and n_out > 1
        if k != n_out and not indices:
            raise NetworkError(f"test: targets have {k} columns but the network output has {n_out}")
        if all(x.shape[1] <= cutoff for x, _ in epochs):  # refused before anything runs
            raise NetworkError(f"test: no step was recorded (cutoff={cutoff} leaves no step)")
        results, sampled = [], []
        # a failure after the runs (the loss refusing the targets, the Observer refusing
        # record_vars) leaves the network state as it was
        start = snapshot_state(self)
        with self._transaction():
            epochs_iter = progress(epochs, "test epochs", verbose and len(epochs) > 1)
            for i, (x, y) in enumerate(epochs_iter):
                if i > 0:
                    restore_state(self, start)
                out_rec, recs, keys, _, _ = self._execute(
                    x,
                    sampling=sampling,
                    cutoff=cutoff,
                    record_output=True,
                    record_vars=record_vars,
                    verbose=verbose,
                )
                results.append((out_rec, recs, keys))
                sampled.append(y[:, cutoff::sampling])
            out_rec, recs, keys = self._merge_runs(results)
            y_all = np.concatenate(sampled, axis=1)
            if indices:
                y_all = y_all[..., 0]
            value = float(loss_fn.value(out_rec.astype(np.float64), y_all))
            obs = self._observer(out_rec, recs, keys, sampling, batched, record_output, record_vars)
        if _is_epoch_list(inputs):
            restore_state(self, start)
        if record_loss is not False:
            obs.save("loss", value, time_series=False)
        return obs, value
