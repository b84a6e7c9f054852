"""Readout training on the compiled loop: fit_ridge, fit_rls, test (trainer objects).

``Network.fit_ridge``, ``Network.fit_rls`` and ``Network.test`` hand their arguments to
:class:`RidgeTrainer`, :class:`RLSTrainer` and :class:`Evaluator`, which work through the
network's public methods and its :class:`~rectinumba.runner.Runner`.

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
from ..errors import BackendError, NetworkError, SimulationError
from ..recording import Recording
from ..validate import integer, number
from .data import epochs as _epochs
from .data import is_epoch_list, merge, refuse_complex
from .snapshot import restore_state, snapshot_state

__all__ = ["RidgeTrainer", "RLSTrainer", "Evaluator"]

#: bytes of the per-trial row buffer of the ridge hook (longer rows: longer vectorised dot products)
RIDGE_BLOCK_BYTES = 2 << 20

#: steps per device run of fit_ridge on backends without training hooks (bounds host memory)
RIDGE_DEVICE_CHUNK = 1 << 16


def _block_rows(n1: int) -> int:
    """Rows per trial collected before the ridge hook folds them into X^T X (256 to 4096)."""
    return int(min(4096, max(256, RIDGE_BLOCK_BYTES // (8 * n1))))


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


class _Trainer:
    """Base of the trainers: the network (public API) and its runner.

    Parameters
    ----------
    net : Network
        The network.
    runner : Runner
        Its runner.
    """

    def __init__(self, net, runner) -> None:
        self.net, self.runner = net, runner


class RidgeTrainer(_Trainer):
    """``Network.fit_ridge``: a linear readout by ridge regression, accumulated in the kernel.

    Parameters
    ----------
    net : Network
        The network (its public methods).
    runner : Runner
        Its runner.
    """

    # ---- ridge regression -------------------------------------------------------------
    def _recorded(self, x, y, rec: Recording, fit_intercept):
        """X^T X and X^T Y of one epoch from recorded outputs, simulated in chunks of steps.

        The path of backends without training hooks (CUDA): each chunk runs on the device with
        the output recorded at the global recording steps ``cutoff + j * sampling``; the rows are
        folded into the sums on the host. Returns (X^T X, X^T Y, the chunks' RunResult).
        """
        sampling, cutoff = rec.sampling, rec.cutoff
        B, T = x.shape[:2]
        chunk = max(sampling, (RIDGE_DEVICE_CHUNK // sampling) * sampling)
        n1 = None
        xx = xy = None
        results = []
        for g0 in range(0, T, chunk):
            g1 = min(T, g0 + chunk)
            first = cutoff if g0 <= cutoff else cutoff + -(-(g0 - cutoff) // sampling) * sampling
            res = self.runner.execute(
                x[:, g0:g1], Recording(sampling, first - g0, True, rec.vars)
            )
            X = res.out.astype(np.float64)
            Y = y[:, first:g1:sampling]
            if fit_intercept:
                X = np.concatenate([X, np.ones(X.shape[:2] + (1,))], axis=2)
            if xx is None:
                n1 = X.shape[2]
                xx, xy = np.zeros((n1, n1)), np.zeros((n1, Y.shape[2]))
            xx += np.einsum("brn,brm->nm", X, X)
            xy += np.einsum("brn,brk->nk", X, Y)
            if not rec.output:
                res.out = res.out[:, :0]
            results.append(res)
        return xx, xy, merge(results)

    def fit(
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
        inputs : array_like or list of array_like
            (T, m), (B, T, m) (B trials, all rows enter one fit) or a list of such arrays
            (epochs, state reset between epochs, all accumulated into one fit).
        targets : array_like or list of array_like
            (T, k), (T,), (B, T, k), or a list matching ``inputs``; one row per step.
        sampling_steps : int
            Rows of X are the steps ``cutoff, cutoff + sampling_steps, ...`` of each epoch.
        alpha : float
            Ridge penalty (>= 0).
        verbose : bool
            Progress display.
        add_readout_node : bool
            Add a node ``"readout"`` (k units) fed by the old output node through an edge with
            weights ``w_out.T``: an identity function node, or with ``fit_intercept`` a diff-eq
            node computing ``y = u + bias`` (``bias`` = the intercept). It becomes the output node.
        cutoff : int
            Steps of each epoch before the first row (keyword only, like all that follow; the
            positional order above is RectiPy's).
        fit_intercept : bool
            Fit an intercept (bias) as well.
        record_output : bool
            Record the network output at the recording steps (``obs["out"]``) and save the
            prediction ``obs["y"] = out @ w_out (+ intercept)``. Off by default: the recording
            grows with T (the fit itself does not).
        record_vars : sequence of tuple, optional
            Variables to record during the fit, as in :meth:`rectinumba.Network.run`.
        **kwargs
            RectiPy's ``enable_grad``, ``truncate_steps``, ``record_loss``: no effect.

        Returns
        -------
        Observer
            ``"w_out"`` (n, k), ``"intercept"`` (k,) with ``fit_intercept``, and with
            ``record_output`` ``"out"`` and ``"y"``.

        Examples
        --------
        >>> import numpy as np
        >>> from rectinumba import Network
        >>> net = Network(dt=1e-2)
        >>> net.add_diffeq_node("rnn", "model_templates.rate_neurons.leaky_integrator.tanh",
        ...                     N=20, input_var="li_op/I_ext", output_var="tanh_op/r")
        DiffEqNode('rnn', tanh, N=20, rate)
        >>> t = np.arange(500) * 1e-2
        >>> x = np.sin(t)[:, None] * np.ones(20)
        >>> obs = net.fit_ridge(x, np.cos(t), alpha=1e-6, verbose=False)
        >>> obs["w_out"].shape, net.nodes
        ((20, 1), ['rnn', 'readout'])
        """
        compat.run_options("fit_ridge", kwargs)
        import scipy.linalg

        from ..codegen.train import RidgeAccumulate
        from ..progress import progress

        rec = Recording.make(sampling_steps, cutoff, record_output, record_vars)
        sampling, cutoff = rec.sampling, rec.cutoff
        alpha = number(alpha, "fit_ridge: alpha")
        if not np.isfinite(alpha) or alpha < 0:
            raise NetworkError(f"fit_ridge: alpha must be a non-negative number, got {alpha!r}")
        net, runner = self.net, self.runner
        if add_readout_node and "readout" in net:
            raise NetworkError(
                "fit_ridge: a node labelled 'readout' exists already",
                hint="pop_node('readout') first, or pass add_readout_node=False",
            )
        refuse_complex(runner, "fit_ridge")
        epochs, batched = _epochs(runner, inputs, targets, "fit_ridge")
        rows = sum(x.shape[0] * max(0, -(-(x.shape[1] - cutoff) // sampling)) for x, _ in epochs)
        if rows == 0:  # refused before running: a failed fit leaves the network as it was
            raise NetworkError(
                f"fit_ridge: no step was recorded (cutoff={cutoff} leaves no step of the inputs)"
            )
        out_label = runner.io_nodes()[1]
        n = net.n_out
        k = epochs[0][1].shape[2]
        n1 = n + 1 if fit_intercept else n
        hook = RidgeAccumulate(bool(fit_intercept))
        xx_tot = np.zeros((n1, n1))
        xy_tot = np.zeros((n1, k))
        results = []
        start = snapshot_state(runner)
        with runner.transaction():  # a failed fit leaves the network state as it was
            for i, (x, y) in enumerate(
                progress(epochs, "fit_ridge epochs", verbose and len(epochs) > 1)
            ):
                if i > 0:
                    restore_state(runner, start)
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
                if not runner.backend.supports_train_hooks:
                    # no training hook on this backend: simulate there in chunks with the output
                    # recorded and accumulate on the host (memory bounded by the chunk length)
                    xx, xy, run = self._recorded(x, y, rec, fit_intercept)
                    xx_tot += np.triu(xx)
                    xy_tot += xy
                    results.append(run)
                    continue
                results.append(
                    runner.execute(x, rec, verbose=verbose, train=hook, train_arrays=arrays)
                )
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
            res = merge(results)
            obs = rec.observer(net.dt, res.out, res.recs, res.keys, batched)
        if is_epoch_list(inputs):
            restore_state(runner, start)
        w_out, intercept = W[:n], (W[n] if fit_intercept else None)
        obs.save("w_out", w_out)
        if fit_intercept:
            obs.save("intercept", intercept)
        if record_output:
            pred = obs["out"] @ w_out
            obs.save("y", pred + intercept if fit_intercept else pred, time_series=True)
        if add_readout_node:
            if fit_intercept:
                net.add_diffeq_node(
                    "readout",
                    _bias_readout_template(),
                    input_var="u",
                    output_var="y",
                    N=k,
                    node_vars={"bias": intercept},
                )
            else:
                net.add_func_node("readout", k, "identity")
            net.add_edge(out_label, "readout", weights=np.array(w_out.T))
        return obs


class RLSTrainer(_Trainer):
    """``Network.fit_rls``: recursive least squares on the ``train="rls"`` edge, in the kernel.

    Parameters
    ----------
    net : Network
        The network (its public methods).
    runner : Runner
        Its runner.
    """


    def _edge(self) -> tuple[int, Any]:
        found = [
            (e, edge) for e, edge in enumerate(self.runner.edges.values()) if edge.train == "rls"
        ]
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
        target = self.runner.nodes[edge.target]
        if getattr(target, "input_is_complex", False):
            raise NetworkError(
                f"{where} feeds the complex input {target.input_var!r}; RLS is real arithmetic",
                hint="train an edge into a real input",
            )
        return e, edge

    def fit(
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
        inputs : array_like or list of array_like
            (T, m) or a list of such arrays (epochs, each from the state at the call, W and P
            carried over). Batches (B, T, m) are refused: the trials would share one W.
        targets : array_like or list of array_like
            Targets of the trained edge's contribution: (T, k), (T,), or a list matching inputs.
        update_steps : int
            Steps between two updates.
        sampling_steps : int
            Steps between two recordings of the output and the loss.
        verbose : bool
            Progress display (the positional order so far is RectiPy's).
        record_output : bool
            Record the output at the sampled steps; keyword only, like all that follow.
        record_loss : bool
            Record the loss at the sampled steps.
        beta : float, optional
            Forgetting factor (0 < beta <= 1). Default: the ``beta`` given to
            ``add_edge(..., train="rls", beta=...)``, else 1.
        alpha : float, optional
            Initial ``P = alpha I`` (> 0); the inverse of the ridge penalty. Default: the edge's
            ``alpha``, else 1.
        record_vars : sequence of tuple, optional
            Variables to record at the sampled steps, as in :meth:`rectinumba.Network.run`.
        reset_P : bool
            Start from ``P = alpha I`` even when the edge keeps a P from an earlier call.
        **kwargs
            RectiPy's ``enable_grad``, ``truncate_steps``: no effect.

        Returns
        -------
        Observer
            ``"out"`` (network output), ``"loss"`` (mean squared a-priori error ``y - W x`` at
            the sampled steps, before that step's update), ``"epoch_loss"`` (its mean over every
            step of each epoch) and ``"w_out"`` (the trained weights, (k, n_source)). When the
            trained edge is the only input of an identity output node, ``W x`` is the network
            output, so the losses are the mse of the output against the targets. ``"epochs"``
            holds the epoch indices.

        Examples
        --------
        >>> import numpy as np
        >>> from rectinumba import Network
        >>> net = Network(dt=1e-2)
        >>> net.add_diffeq_node("rnn", "model_templates.rate_neurons.leaky_integrator.tanh",
        ...                     N=20, input_var="li_op/I_ext", output_var="tanh_op/r")
        DiffEqNode('rnn', tanh, N=20, rate)
        >>> net.add_func_node("out", 1)
        FuncNode('out', n=1, identity)
        >>> net.add_edge("rnn", "out", train="rls")
        Edge('rnn' -> 'out', (1, 20), train='rls')
        >>> t = np.arange(300) * 1e-2
        >>> obs = net.fit_rls(np.sin(t)[:, None] * np.ones(20), np.cos(t), verbose=False)
        >>> obs["w_out"].shape
        (1, 20)
        """
        compat.run_options("fit_rls", kwargs)
        from ..codegen.train import RLSUpdate
        from ..progress import progress

        net, runner = self.net, self.runner
        if not runner.backend.supports_rls:
            raise BackendError(
                f"fit_rls updates the weights inside the CPU kernel; the {runner.backend.name!r} "
                "backend has no training hooks",
                hint="use device='cpu' for training",
            )
        e, edge = self._edge()
        beta = (1.0 if edge.rls_beta is None else edge.rls_beta) if beta is None else beta
        alpha = (1.0 if edge.rls_alpha is None else edge.rls_alpha) if alpha is None else alpha
        rec = Recording.make(sampling_steps, 0, record_output, record_vars)
        sampling = rec.sampling
        update_steps = integer(update_steps, "fit_rls: update_steps", low=1)
        beta = number(beta, "fit_rls: beta")
        alpha = number(alpha, "fit_rls: alpha")
        if not (0.0 < beta <= 1.0):
            raise NetworkError(
                f"fit_rls: the forgetting factor beta must be in (0, 1], got {beta!r}"
            )
        if not np.isfinite(alpha) or alpha <= 0:
            raise NetworkError(
                f"fit_rls: alpha (P0 = alpha I) must be a positive number, got {alpha!r}"
            )
        epochs, batched = _epochs(runner, inputs, targets, "fit_rls")
        empty = [i for i, (x, _) in enumerate(epochs) if x.shape[1] == 0]
        if empty:
            raise NetworkError(
                "fit_rls: "
                + (f"epoch(s) {empty} have" if is_epoch_list(inputs) else "the inputs have")
                + " no steps (T = 0); there is nothing to train on"
            )
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
        start = snapshot_state(runner)
        with runner.transaction(edge._weights, P):
            epochs_iter = progress(epochs, "fit_rls epochs", verbose and len(epochs) > 1)
            for i, (x, y) in enumerate(epochs_iter):
                if i > 0:
                    restore_state(runner, start)
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
                results.append(
                    runner.execute(x, rec, verbose=verbose, train=hook, train_arrays=arrays)
                )
                losses.append(arrays["lrec"])
                epoch_loss.append(arrays["acc"][0] / max(arrays["acc"][1], 1.0))
            # inside the transaction: an Observer error (e.g. a bad record_vars entry) undoes W
            res = merge(results)
            obs = rec.observer(net.dt, res.out, res.recs, res.keys, batched)
            if record_loss:
                loss_rec = np.concatenate(losses)
                # a (1, T, m) batch gives recordings with a trial axis: the loss gets one too
                obs.save("loss", loss_rec[None] if batched else loss_rec, time_series=True)
        if is_epoch_list(inputs):
            restore_state(runner, start)
        edge.rls_P = P
        obs.save("epoch_loss", np.array(epoch_loss))
        obs.save("epochs", np.arange(len(epoch_loss)))
        obs.save("w_out", np.array(edge._weights))
        return obs

class Evaluator(_Trainer):
    """``Network.test``: run and score the output against targets.

    Parameters
    ----------
    net : Network
        The network (its public methods).
    runner : Runner
        Its runner.
    """

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
        sampling_mode: str = "subsample",
        **kwargs,
    ):
        """Run the network on ``inputs`` and score its output against ``targets``.

        The loss (see :mod:`rectinumba.training.losses`, torch's definitions with mean reduction)
        compares the output at the recording steps ``cutoff, cutoff + sampling_steps, ...`` with
        the targets at the same steps (with ``sampling_mode="average"``: window means of both,
        see :meth:`rectinumba.Network.run`). A list of epochs is run from the state at the call
        (each epoch; the network returns to it) and scored on all their recordings together. The
        positional order (inputs, targets, loss, loss_kwargs, sampling_steps, verbose) is
        RectiPy's; the rest is keyword only.

        Parameters
        ----------
        inputs : array_like or list of array_like
            (T, m), (B, T, m) or a list of such arrays (epochs).
        targets : array_like or list of array_like
            (T, k), (T,), (B, T, k) or a list matching ``inputs``; one class index per step
            for ``nll``/``ce``.
        loss : str
            Loss name: mse, l1, nll, ce, kld, hinge.
        loss_kwargs : dict, optional
            Options of the loss.
        sampling_steps : int
            Steps between two scored (and recorded) outputs.
        verbose : bool
            Progress display.
        cutoff : int
            Steps before the first scored output.
        record_output : bool
            Keep the output recordings in the Observer.
        record_vars : sequence of tuple, optional
            Variables to record, as in :meth:`rectinumba.Network.run`.
        sampling_mode : str
            ``"subsample"`` or ``"average"``, as in :meth:`rectinumba.Network.run`.
        **kwargs
            RectiPy's ``record_loss`` (False: no ``"loss"`` entry), ``enable_grad`` and
            ``truncate_steps`` (no effect).

        Returns
        -------
        tuple of (Observer, float)
            The recordings (``"out"`` when ``record_output``; ``"loss"`` unless
            ``record_loss=False``) and the loss.

        Examples
        --------
        >>> import numpy as np
        >>> from rectinumba import Network
        >>> net = Network(dt=1e-2)
        >>> net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op",
        ...                     N=2, input_var="I_ext", output_var="v")
        DiffEqNode('li', li_op, N=2, rate)
        >>> obs, loss = net.test(np.ones((50, 2)), np.zeros((50, 2)), verbose=False)
        >>> round(loss, 6) == round(float(np.mean(obs["out"] ** 2)), 6)
        True
        """
        record_loss = compat.run_options("test", kwargs, ("record_loss",)).record_loss
        from ..progress import progress
        from .losses import get_loss

        loss_fn = get_loss(loss, **(loss_kwargs or {}))
        net, runner = self.net, self.runner
        rec = Recording.make(sampling_steps, cutoff, True, record_vars, sampling_mode)
        cutoff = rec.cutoff
        refuse_complex(runner, "test")
        epochs, batched = _epochs(runner, inputs, targets, "test")
        n_out, k = net.n_out, epochs[0][1].shape[2]
        # class losses take one class index per step: a (T,) or (T, 1) target
        indices = loss_fn.name in ("nll", "ce") and k == 1 and n_out > 1
        if k != n_out and not indices:
            raise NetworkError(f"test: targets have {k} columns but the network output has {n_out}")
        if all(x.shape[1] <= cutoff for x, _ in epochs):  # refused before anything runs
            raise NetworkError(f"test: no step was recorded (cutoff={cutoff} leaves no step)")
        results, sampled = [], []
        # a failure after the runs (the loss refusing the targets, the Observer refusing
        # record_vars) leaves the network state as it was
        start = snapshot_state(runner)
        with runner.transaction():
            epochs_iter = progress(epochs, "test epochs", verbose and len(epochs) > 1)
            for i, (x, y) in enumerate(epochs_iter):
                if i > 0:
                    restore_state(runner, start)
                results.append(runner.execute(x, rec, verbose=verbose))
                sampled.append(rec.sample(y))
            res = merge(results)
            y_all = np.concatenate(sampled, axis=1)
            if indices:
                y_all = y_all[..., 0]
            value = float(loss_fn.value(res.out.astype(np.float64), y_all))
            shown = Recording(rec.sampling, rec.cutoff, bool(record_output), rec.vars, rec.mode)
            obs = shown.observer(net.dt, res.out, res.recs, res.keys, batched)
        if is_epoch_list(inputs):
            restore_state(runner, start)
        if record_loss is not False:
            obs.save("loss", value, time_series=False)
        return obs, value
