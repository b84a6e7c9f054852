"""Backpropagation through time without autodiff: fit_bptt (a trainer object).

``Network.fit_bptt``, ``Network.bptt_gradients`` and ``Network.bptt_parameters`` hand their
arguments to :class:`BPTTTrainer`.

The gradients come from generated adjoint kernels (:mod:`rectinumba.codegen.adjoint`): sympy
differentiates every neuron model's equations, the backward kernel runs the adjoint recursion
through the Euler steps, the recurrent coupling, the edges and the activation functions; spikes
take the surrogate derivative ``1 / (1 + slope |v - threshold|)^2``.

Loss of a window: the network output of every step of the window, stacked to (T_w, n) (or
(B, T_w, n) for a batch), against the targets of the same steps, with the loss's mean reduction
(torch's definitions, :mod:`rectinumba.training.losses`): mse averages over steps, trials and
output units; ce/nll over steps and trials. The gradient is that of this one number.
"""

from __future__ import annotations

import numpy as np

from .. import compat
from ..errors import BackendError, NetworkError, SimulationError
from ..recording import Recording
from ..validate import integer, number
from .data import epochs as _epochs
from .data import refuse_complex
from .snapshot import restore_state, snapshot_state

__all__ = ["BPTTTrainer"]

_FIT_KWARGS = {"record_output", "record_loss", "record_vars", "checkpoint"}


def _check_finite(what: str, values, where: str, method: str = "fit_bptt") -> None:
    """Raise a SimulationError naming ``what`` and the window when ``values`` holds NaN or inf."""
    arr = np.asarray(values)
    if not np.isfinite(arr).all():
        raise SimulationError(
            f"{method}: {what} is not finite (NaN or inf) in {where}; the trained parameters "
            "and the network state are as they were before this call",
            hint="a smaller lr, gradient-friendlier initial values or a shorter update_steps "
            "window may keep training finite",
        )


class BPTTTrainer:
    """fit_bptt, bptt_gradients and bptt_parameters of :class:`rectinumba.Network`.

    Parameters
    ----------
    net : Network
        The network (public API).
    runner : Runner
        Its runner.
    """

    def __init__(self, net, runner) -> None:
        self.net, self.runner = net, runner

    # ---- helpers ----------------------------------------------------------------------------
    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of the arrays fit_bptt trains, by name.

        Names: ``"<node>/<op/param>"`` for parameters listed in ``train_params`` (shape (1, N),
        or (B, N) for per-trial values), ``"<node>/weights"`` for a trained coupling J ((N, N),
        or the CSR ``data`` array (nnz,) of a sparse J: the sparsity pattern is kept),
        ``"<source>-><target>"`` for edges added with ``train="gd"`` (same rule).

        Returns
        -------
        dict
            Name -> a new array (writing to it does not change the network; use ``set_var`` or
            train).
        """
        return {name: arr.copy() for name, arr in self.live_parameters().items()}

    def live_parameters(self) -> dict[str, np.ndarray]:
        """The network's own trained arrays by name (live: optimizers update them in place).

        Returns
        -------
        dict
            Name -> the array the network uses.
        """
        from .bptt_engine import live_array, trainable_parameters

        return {name: live_array(*spec) for name, spec in trainable_parameters(self.runner).items()}

    def _bptt_targets(self, epochs, what: str):
        """Targets shaped like the (B, T, n) outputs; class indices as (B, T)."""
        n_out = self.net.n_out
        fixed = []
        for x, y in epochs:
            k = y.shape[2]
            if k != n_out:
                if k == 1 and n_out > 1:
                    y = y[..., 0]  # one class index per step (nll, ce)
                else:
                    raise NetworkError(
                        f"{what}: targets have {k} columns but the network output has {n_out}"
                    )
            fixed.append((x, y))
        return fixed

    def _bptt_setup(self, inputs, targets, loss, loss_kwargs, what: str):
        from .losses import get_loss

        if not self.runner.backend.supports_bptt:
            raise BackendError(
                f"{what} runs its forward and adjoint kernels on the CPU only; this network is on "
                f"device {self.net.device!r}",
                hint="build the network with device='cpu' for BPTT training",
            )

        refuse_complex(self.runner, what, whole_network=True)
        loss_fn = get_loss(loss, **(loss_kwargs or {}))

        # batched class indices (B, T) -> (B, T, 1), the layout _epochs expects
        def idx3(x, y):
            x, y = np.asarray(x), np.asarray(y)
            return y[..., None] if x.ndim == 3 and y.ndim == 2 and y.shape == x.shape[:2] else y

        if isinstance(inputs, (list, tuple)) and isinstance(targets, (list, tuple)):
            targets = [idx3(x, y) for x, y in zip(inputs, targets, strict=False)]
        elif not isinstance(inputs, (list, tuple)):
            targets = idx3(inputs, targets)
        epochs, batched = _epochs(self.runner, inputs, targets, what)
        epochs = self._bptt_targets(epochs, what)
        return loss_fn, epochs, batched

    @staticmethod
    def _check_checkpoint(checkpoint) -> int | None:
        if checkpoint is None or checkpoint is False:
            return None
        return integer(checkpoint, "checkpoint", low=1)

    def gradients(
        self,
        inputs,
        targets,
        loss: str = "mse",
        loss_kwargs: dict | None = None,
        checkpoint: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Gradients of the loss of one sequence with respect to every trained parameter.

        Runs ``inputs`` ((T, m) or a batch (B, T, m)) from the current state, compares the outputs
        of all T steps with ``targets`` and back-propagates through all T steps. The network state
        is left unchanged. Nothing is updated. Networks integrated with ``method="euler"`` or
        ``"exp_euler"`` are supported (the adjoint differentiates the update rule); multi-stage
        rules (``"heun"``, ``"rk4"``) are refused with a NetworkError naming the method.

        Parameters
        ----------
        inputs : array_like
            (T, m) or a batch (B, T, m).
        targets : array_like
            Targets of every step, shaped like the outputs; one class index per step for
            ``nll``/``ce``.
        loss : str
            Loss name (:mod:`rectinumba.training.losses`).
        loss_kwargs : dict, optional
            Options of the loss.
        checkpoint : int, optional
            Keep the state every ``checkpoint`` steps and recompute the tape segment by segment.

        Returns
        -------
        dict
            Name (as :meth:`bptt_parameters`) -> gradient with the shape of the trained array
            (node parameters of shape (1, N) give (N,)).

        Raises
        ------
        SimulationError
            When the loss or a gradient is not finite (NaN or inf), naming it; a non-finite state
            is reported as in :meth:`Network.run`.
        """
        from .bptt_engine import BPTTEngine

        loss_fn, epochs, batched = self._bptt_setup(
            inputs, targets, loss, loss_kwargs, "bptt_gradients"
        )
        if len(epochs) != 1:
            raise NetworkError("bptt_gradients takes one sequence (an array), not a list of epochs")
        x, y = epochs[0]
        engine = BPTTEngine(self.runner, x.shape[0])
        value, grads, _ = engine.window(
            x,
            loss_fn,
            y if batched else y[0],
            batched=batched,
            checkpoint=self._check_checkpoint(checkpoint),
        )
        where = f"the sequence of {x.shape[1]} steps"
        _check_finite("the loss", [value], where, "bptt_gradients")
        for name, g in grads.items():
            _check_finite(f"the gradient of {name!r}", g, where, "bptt_gradients")
        from .bptt_engine import trainable_parameters

        kinds = trainable_parameters(self.runner)
        return {
            k: (g[0] if kinds[k][0] == "const" and g.shape[0] == 1 else g) for k, g in grads.items()
        }

    # ---- training -----------------------------------------------------------------------------
    def fit(
        self,
        inputs,
        targets,
        optimizer: str = "sgd",
        optimizer_kwargs: dict | None = None,
        loss: str = "mse",
        loss_kwargs: dict | None = None,
        lr: float = 1e-3,
        sampling_steps: int = 1,
        update_steps: int = 100,
        verbose: bool = True,
        **kwargs,
    ):
        """Train by backpropagation through time (gradients from generated adjoint kernels).

        The modes follow the inputs:

        - ``inputs`` an array (T, m): truncated BPTT. The sequence is cut into windows of
          ``update_steps`` steps (the last may be shorter); after each window the loss of its
          outputs against its targets is back-propagated through that window only and the
          optimizer takes one step. The state carries over from window to window.
        - a batch (B, T, m): the same with B trials at once; the loss (mean reduction) averages
          over the trials, so the gradient is the trial average. Like the epochs of a list, the
          trials are replays from the state at the call: the network returns to that state.
        - a list of arrays (epochs): one optimizer step per epoch, back-propagating through the
          whole epoch; every epoch starts from the state the network had when fit_bptt was
          called, and the network returns to that state afterwards (RectiPy).

        Update rules: ``"euler"`` and ``"exp_euler"``; ``"heun"`` and ``"rk4"`` are refused.

        Parameters
        ----------
        inputs : array_like or list of array_like
            As above.
        targets : array_like or list of array_like
            (T, n) (or (B, T, n), or a list), or one class index per step ((T,) or (T, 1)) for
            ``nll``/``ce``.
        optimizer : str
            Optimizer name (torch's defaults, :mod:`rectinumba.training.optimizers`).
        optimizer_kwargs : dict, optional
            Options of the optimizer.
        loss : str
            Loss name (:mod:`rectinumba.training.losses`).
        loss_kwargs : dict, optional
            Options of the loss.
        lr : float
            Learning rate.
        sampling_steps : int
            Steps between two recordings of the output and of ``record_vars``.
        update_steps : int
            Window length of truncated BPTT (array inputs).
        verbose : bool
            Print the loss of each update.
        **kwargs
            ``record_output`` (True), ``record_loss`` (True), ``record_vars`` (state variables
            only, as ``(node, var)`` or ``(node, var, reduce)``; recorded after the update),
            ``checkpoint`` (K: keep the state every K steps and recompute the tape segment by
            segment in the backward pass; memory O(T/K + K) instead of O(T)); RectiPy's
            ``retain_graph`` is accepted and has no effect.

        Returns
        -------
        Observer
            ``"loss"`` (one value per update), ``"epoch_loss"`` (the mean loss of each epoch;
            an array input is one epoch), ``"epochs"`` (epoch indices, RectiPy's x axis for
            ``epoch_loss``), ``"out"`` and the recorded variables.

        Examples
        --------
        >>> import numpy as np
        >>> from rectinumba import Network
        >>> net = Network(dt=1e-1)
        >>> net.add_diffeq_node("rnn", "model_templates.rate_neurons.leaky_integrator.tanh",
        ...                     N=4, input_var="li_op/I_ext", output_var="tanh_op/r",
        ...                     train_params=["li_op/tau"])
        DiffEqNode('rnn', tanh, N=4, rate)
        >>> x, y = np.ones((50, 4)), np.full((50, 4), 0.5)
        >>> obs = net.fit_bptt(x, y, optimizer="adam", lr=0.05, update_steps=25, verbose=False)
        >>> obs["loss"].shape
        (2,)
        """
        compat.run_options("fit_bptt", {k: v for k, v in kwargs.items() if k not in _FIT_KWARGS})
        record_output = bool(kwargs.get("record_output", True))
        record_loss = bool(kwargs.get("record_loss", True))
        record_vars = kwargs.get("record_vars")
        checkpoint = self._check_checkpoint(kwargs.get("checkpoint"))
        from .bptt_engine import BPTTEngine
        from .optimizers import get_optimizer

        sampling = Recording.make(sampling_steps).sampling
        update_steps = integer(update_steps, "fit_bptt: update_steps", low=1)
        lr = number(lr, "fit_bptt: lr")
        is_list = isinstance(inputs, (list, tuple))
        loss_fn, epochs, batched = self._bptt_setup(inputs, targets, loss, loss_kwargs, "fit_bptt")
        empty = [i for i, (x, _) in enumerate(epochs) if x.shape[1] == 0]
        if empty:
            raise NetworkError(
                "fit_bptt: "
                + (f"epoch(s) {empty} have" if is_list else "the inputs have")
                + " no steps (T = 0); there is no loss to train on"
            )
        params = self.live_parameters()
        if not params:
            raise NetworkError(
                "fit_bptt: nothing to train",
                hint="add edges with train='gd' or give add_diffeq_node(train_params=[...])",
            )
        opt = get_optimizer(optimizer, params, lr=lr, **(optimizer_kwargs or {}))
        rec_states = self._record_spec(record_vars)

        losses, epoch_losses, outs = [], [], []
        recs: dict = {key: [] for key, *_ in rec_states}
        engine = None
        # a failure (a non-finite state, the Observer refusing record_vars) restores the trained
        # parameters (in place), the states, feedback buffers and step counter
        start = snapshot_state(self.runner)
        with self.runner.transaction(*params.values()):
            for i, (x, y) in enumerate(epochs):
                if i > 0:
                    restore_state(self.runner, start)
                B, T = x.shape[:2]
                if engine is None or engine.B != B:
                    engine = BPTTEngine(self.runner, B)
                else:
                    engine.load()
                windows = (
                    [(0, T)]
                    if is_list
                    else [(s, min(s + update_steps, T)) for s in range(0, T, update_steps)]
                )
                ep, ep_outs = [], []
                ep_recs: dict = {key: [] for key in recs}
                every = max(1, len(windows) // 10)  # about ten progress lines per epoch
                for w, (s, e) in enumerate(windows):
                    xw = x[:, s:e]
                    yw = y[:, s:e] if batched else y[0, s:e]
                    hook = self._recorder(engine, rec_states, ep_recs) if rec_states else None
                    value, grads, out = engine.window(
                        xw, loss_fn, yw, batched=batched, checkpoint=checkpoint, on_segment=hook
                    )
                    where = (f"epoch {i}, " if len(epochs) > 1 else "") + f"steps {s}-{e}"
                    _check_finite("the loss", [value], where)
                    for name, g in grads.items():
                        _check_finite(f"the gradient of {name!r}", g, where)
                    opt.step(grads)
                    for name, arr in params.items():
                        _check_finite(f"parameter {name!r} after the optimizer step", arr, where)
                    engine.commit(e - s)
                    ep.append(value)
                    if record_output:
                        ep_outs.append(out)
                    if verbose and (w % every == 0 or w == len(windows) - 1):
                        print(f"fit_bptt: epoch {i}, steps {s}-{e}: loss {value:.6g}")
                # recordings at the steps 0, sampling, ... of each epoch, as run() records them
                if ep_outs:
                    outs.append(np.concatenate(ep_outs, axis=1)[:, ::sampling])
                for key, parts in ep_recs.items():
                    recs[key].append(np.concatenate(parts, axis=1)[:, ::sampling])
                losses.extend(ep)
                epoch_losses.append(float(np.mean(ep)))
                engine.free_tapes()
            obs = self._observer(outs, recs, rec_states, sampling, batched, epochs[0][0].shape[0])
        if is_list or batched:
            restore_state(self.runner, start)
        if record_loss:
            obs.save("loss", np.array(losses), time_series=False)
        obs.save("epoch_loss", np.array(epoch_losses), time_series=False)
        obs.save("epochs", np.arange(len(epoch_losses)), time_series=False)
        return obs

    def _observer(self, outs, recs, rec_states, sampling, batched, B):
        """Observer holding fit_bptt's (already sampled) output and state recordings."""
        from ..observer import Observer

        obs = Observer(
            self.net.dt,
            record_output=bool(outs),
            record_loss=True,
            record_vars=[k for k, *_ in rec_states] or None,
            sampling_steps=sampling,
            n_trials=B if batched else None,
        )
        pick = (lambda a: a) if batched else (lambda a: a[0])
        if outs:
            obs.save("out", pick(np.concatenate(outs, axis=1)))
        for key, *_ in rec_states:
            obs.save(key, pick(np.concatenate(recs[key], axis=1)))
        return obs

    # ---- recordings ------------------------------------------------------------------------------
    def _record_spec(self, record_vars) -> list[tuple]:
        """[(key, label, state index, reduce)] for the requested state variables."""
        from ..nodes import DiffEqNode

        out = []
        recording = Recording.make(record_vars=record_vars)
        for key, label, (name, reduce) in self.runner.resolve(recording)[1]:
            node = self.runner.nodes[label]
            if not isinstance(node, DiffEqNode) or name not in node.model.states:
                raise NetworkError(
                    f"fit_bptt records state variables only; {key[1]!r} is not one",
                    node=label,
                    hint="record other variables with run(record_vars=...) after training",
                )
            out.append((key, label, node.model.states.index(name), reduce))
        return out

    @staticmethod
    def _recorder(engine, rec_states, recs):
        """Collect post-update states of each forward segment from the tape."""

        def hook(s: int, T_seg: int, T_tape: int) -> None:
            for key, label, j, reduce in rec_states:
                k = engine.index[label]
                tape = engine.state_tape(k, j, T_tape)
                final = engine.state[(k, engine.nodes[k].model.states[j])]
                vals = np.concatenate([tape[:, 1:T_seg], final[:, None, :]], axis=1)
                recs[key].append(vals.mean(axis=2) if reduce else vals.copy())

        return hook
