"""Gradient-descent optimizers with torch.optim's defaults and update rules (pure numpy).

``opt = get_optimizer(name, params, lr=None, **kwargs)`` wraps a dict of parameter arrays;
``opt.step(grads)`` updates those arrays IN PLACE (the network keeps references to them), and
``opt.zero_state()`` forgets moment buffers and step counts.

Each class documents the update of one element; g is the gradient, θ the parameter, t the number
of steps this parameter has taken (starting at 1). As in torch's implementation, ``maximize``
negates the gradient before anything else (so weight decay still pulls towards zero), and a
parameter whose gradient is missing (or None) in a call to ``step`` is skipped, its state and
step count unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import RectinumbaError

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "Adagrad",
    "Adadelta",
    "RMSprop",
    "Rprop",
    "OPTIMIZERS",
    "get_optimizer",
    "optimizer_options",
]


#: the Parameters section of every optimizer class's docstring (they share the base's __init__)
_SUBCLASS_PARAMETERS = """
    Parameters
    ----------
    params : dict of str to numpy.ndarray
        Parameter name -> floating-point array, updated in place by :meth:`step`.
    lr : float, optional
        Learning rate; ``None`` means the default above.
    **kwargs : dict
        The other options named above (torch's names); an unknown option is an error that
        lists the allowed ones.
    """


class Optimizer:
    """Base class: per-parameter state and the in-place update loop.

    Subclasses define ``defaults`` (torch's default hyper-parameters, keyed by name),
    ``_check`` (validation, with torch's ranges) and ``_update(p, g, state)``.

    Parameters
    ----------
    params : dict of str to numpy.ndarray
        Parameter name -> floating-point array, updated in place by :meth:`step`.
    lr : float, optional
        Learning rate; ``None`` means the subclass's default.
    **kwargs : dict
        The subclass's other options (torch's names); an unknown option is an error that lists
        the allowed ones.
    """

    name: str = ""
    defaults: dict[str, Any] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # every optimizer takes the base's arguments: document them once, here
        super().__init_subclass__(**kwargs)
        if cls.__doc__ and "Parameters\n" not in cls.__doc__:
            cls.__doc__ = cls.__doc__.rstrip() + "\n" + _SUBCLASS_PARAMETERS

    def __init__(self, params: dict[str, np.ndarray], lr: float | None = None, **kwargs) -> None:
        unknown = sorted(set(kwargs) - set(self.defaults) - {"lr"})
        if unknown:
            allowed = ", ".join(["lr", *[k for k in self.defaults if k != "lr"]])
            raise RectinumbaError(
                f"optimizer {self.name!r} got unknown option(s) {unknown}; allowed: {allowed}"
            )
        hyper = dict(self.defaults)
        hyper.update(kwargs)
        if lr is not None:
            hyper["lr"] = lr
        for key, value in hyper.items():
            setattr(self, key, value)
        self.lr = float(self.lr)
        self._check()
        self.params = self._check_params(params)
        self.state: dict[str, dict[str, Any]] = {}

    # -- validation -------------------------------------------------------------------------
    def _fail(self, message: str) -> None:
        raise RectinumbaError(f"optimizer {self.name!r}: {message}")

    def _check(self) -> None:
        if not 0.0 <= self.lr < math.inf:
            self._fail(f"invalid learning rate lr={self.lr} (must be finite and >= 0)")
        for key in ("eps", "weight_decay", "momentum", "lr_decay", "initial_accumulator_value"):
            if hasattr(self, key) and not 0.0 <= getattr(self, key) < math.inf:
                self._fail(f"invalid {key}={getattr(self, key)} (must be finite and >= 0)")
        if hasattr(self, "betas"):
            b1, b2 = self.betas
            if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
                self._fail(f"invalid betas={self.betas} (each must be in [0, 1))")

    def _check_params(self, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not isinstance(params, dict):
            self._fail(f"params must be a dict of name -> numpy array, got {type(params).__name__}")
        for key, p in params.items():
            if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
                self._fail(
                    f"parameter {key!r} must be a floating-point numpy array (updated in place), "
                    f"got {type(p).__name__}"
                    + (f" of dtype {p.dtype}" if isinstance(p, np.ndarray) else "")
                )
            if not p.flags.writeable:
                self._fail(f"parameter {key!r} is read-only; it is updated in place")
        return params

    # -- public API -------------------------------------------------------------------------
    def step(self, grads: dict[str, np.ndarray]) -> None:
        """Apply one update to every parameter with a gradient in ``grads`` (in place).

        Parameters
        ----------
        grads : dict of str to numpy.ndarray
            Parameter name -> d loss / d parameter (same shape as the parameter). Names not in
            ``grads`` (or mapped to None) are skipped.
        """
        unknown = sorted(set(grads) - set(self.params))
        if unknown:
            known = sorted(self.params)
            self._fail(f"gradients for unknown parameter(s) {unknown}; known: {known}")
        for key, g in grads.items():
            if g is None:
                continue
            p = self.params[key]
            g = np.asarray(g, dtype=p.dtype)
            if g.shape != p.shape:
                self._fail(f"gradient of {key!r} has shape {g.shape}, parameter has {p.shape}")
            state = self.state.get(key)
            if state is None:
                state = self.state[key] = self._init_state(p)
                state["step"] = 0
            state["step"] += 1
            if self.maximize:
                g = -g
            self._update(p, g, state)

    def zero_state(self) -> None:
        """Forget all moment buffers and step counts (the next step is step 1 again)."""
        self.state.clear()

    def _init_state(self, p: np.ndarray) -> dict[str, Any]:
        return {}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _decayed(self, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        """L2 weight decay as torch couples it: g + λ θ."""
        return g + self.weight_decay * p if self.weight_decay else g

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.defaults)
        return f"{type(self).__name__}({opts})"


class SGD(Optimizer):
    r"""Stochastic gradient descent (torch ``SGD``).

    .. math::
        g &\leftarrow g + \lambda\theta \\
        b_t &= g \ (t = 1), \quad b_t = \mu b_{t-1} + (1 - \tau) g \ (t > 1) \\
        g &\leftarrow g + \mu b_t \ \text{(nesterov)}, \quad g \leftarrow b_t \ \text{(otherwise)}
            \quad [\text{only if } \mu \ne 0] \\
        \theta &\leftarrow \theta - \gamma g

    Defaults: lr γ=1e-3, momentum μ=0, dampening τ=0, weight_decay λ=0, nesterov=False.

    """

    name = "sgd"
    defaults = dict(
        lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False
    )

    def _check(self) -> None:
        super()._check()
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            self._fail("nesterov momentum requires a momentum > 0 and zero dampening")

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        g = self._decayed(p, g)
        if self.momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= self.momentum
                buf += (1.0 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        p -= self.lr * g


class Adam(Optimizer):
    r"""Adam (torch ``Adam``), with L2 weight decay added to the gradient.

    .. math::
        g &\leftarrow g + \lambda\theta \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g, \quad v_t = \beta_2 v_{t-1} + (1-\beta_2) g^2 \\
        \hat m &= m_t / (1-\beta_1^t), \quad
        \hat v = \max(v_{\max}, v_t) / (1-\beta_2^t) \ \text{(amsgrad)}, \ v_t/(1-\beta_2^t)
            \ \text{(otherwise)} \\
        \theta &\leftarrow \theta - \gamma \hat m / (\sqrt{\hat v} + \epsilon)

    Defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False.

    """

    name = "adam"
    defaults = dict(
        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False
    )

    def _init_state(self, p: np.ndarray) -> dict[str, Any]:
        state = {"exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
        if self.amsgrad:
            state["max_exp_avg_sq"] = np.zeros_like(p)
        return state

    def _adam_step(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        b1, b2 = self.betas
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        if self.amsgrad:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        denom = np.sqrt(v) / np.sqrt(1.0 - b2**t) + self.eps
        p -= (self.lr / (1.0 - b1**t)) * m / denom

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        self._adam_step(p, self._decayed(p, g), state)


class AdamW(Adam):
    r"""AdamW (torch ``AdamW``): Adam with decoupled weight decay.

    .. math:: \theta \leftarrow \theta - \gamma\lambda\theta, \ \text{then the Adam step on }
              g \ \text{(no decay added to g)}

    Defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False.

    """

    name = "adamw"
    defaults = dict(
        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False
    )

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        p *= 1.0 - self.lr * self.weight_decay
        self._adam_step(p, g, state)


class Adamax(Optimizer):
    r"""Adamax (torch ``Adamax``), Adam with the infinity norm.

    .. math::
        g &\leftarrow g + \lambda\theta \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g, \quad u_t = \max(\beta_2 u_{t-1}, |g| + \epsilon) \\
        \theta &\leftarrow \theta - \gamma\, m_t / ((1-\beta_1^t)\, u_t)

    Defaults: lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.

    """

    name = "adamax"
    defaults = dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False)

    def _init_state(self, p: np.ndarray) -> dict[str, Any]:
        return {"exp_avg": np.zeros_like(p), "exp_inf": np.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        b1, b2 = self.betas
        g = self._decayed(p, g)
        m, u = state["exp_avg"], state["exp_inf"]
        m *= b1
        m += (1.0 - b1) * g
        np.maximum(b2 * u, np.abs(g) + self.eps, out=u)
        p -= (self.lr / (1.0 - b1 ** state["step"])) * m / u


class Adagrad(Optimizer):
    r"""Adagrad (torch ``Adagrad``).

    .. math::
        \tilde\gamma &= \gamma / (1 + (t-1)\eta), \quad g \leftarrow g + \lambda\theta \\
        s_t &= s_{t-1} + g^2 \ (s_0 = \text{initial\_accumulator\_value}) \\
        \theta &\leftarrow \theta - \tilde\gamma\, g / (\sqrt{s_t} + \epsilon)

    Defaults: lr=1e-2, lr_decay η=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10.

    """

    name = "adagrad"
    defaults = dict(
        lr=1e-2,
        lr_decay=0.0,
        weight_decay=0.0,
        initial_accumulator_value=0.0,
        eps=1e-10,
        maximize=False,
    )

    def _init_state(self, p: np.ndarray) -> dict[str, Any]:
        return {"sum": np.full_like(p, self.initial_accumulator_value)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        g = self._decayed(p, g)
        clr = self.lr / (1.0 + (state["step"] - 1) * self.lr_decay)
        s = state["sum"]
        s += g * g
        p -= clr * g / (np.sqrt(s) + self.eps)


class Adadelta(Optimizer):
    r"""Adadelta (torch ``Adadelta``).

    .. math::
        g &\leftarrow g + \lambda\theta, \quad v_t = \rho v_{t-1} + (1-\rho) g^2 \\
        \Delta &= \sqrt{u_{t-1} + \epsilon} / \sqrt{v_t + \epsilon}\; g, \quad
        u_t = \rho u_{t-1} + (1-\rho) \Delta^2 \\
        \theta &\leftarrow \theta - \gamma \Delta

    Defaults: lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.

    """

    name = "adadelta"
    defaults = dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False)

    def _check(self) -> None:
        super()._check()
        if not 0.0 <= self.rho <= 1.0:
            self._fail(f"invalid rho={self.rho} (must be in [0, 1])")

    def _init_state(self, p: np.ndarray) -> dict[str, Any]:
        return {"square_avg": np.zeros_like(p), "acc_delta": np.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        g = self._decayed(p, g)
        v, u = state["square_avg"], state["acc_delta"]
        v *= self.rho
        v += (1.0 - self.rho) * g * g
        delta = np.sqrt(u + self.eps) / np.sqrt(v + self.eps) * g
        u *= self.rho
        u += (1.0 - self.rho) * delta * delta
        p -= self.lr * delta


class RMSprop(Optimizer):
    r"""RMSprop (torch ``RMSprop``).

    .. math::
        g &\leftarrow g + \lambda\theta, \quad v_t = \alpha v_{t-1} + (1-\alpha) g^2,
        \quad \tilde v = v_t \\
        \text{centered: } \bar g_t &= \alpha \bar g_{t-1} + (1-\alpha) g, \quad
        \tilde v = v_t - \bar g_t^2 \\
        \mu > 0: \ b_t &= \mu b_{t-1} + g / (\sqrt{\tilde v} + \epsilon), \quad
        \theta \leftarrow \theta - \gamma b_t \\
        \mu = 0: \ \theta &\leftarrow \theta - \gamma g / (\sqrt{\tilde v} + \epsilon)

    Defaults: lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False.

    """

    name = "rmsprop"
    defaults = dict(
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0.0,
        momentum=0.0,
        centered=False,
        maximize=False,
    )

    def _check(self) -> None:
        super()._check()
        if not self.alpha >= 0.0:
            self._fail(f"invalid alpha={self.alpha} (must be >= 0)")

    def _init_state(self, p: np.ndarray) -> dict[str, Any]:
        state = {"square_avg": np.zeros_like(p)}
        if self.momentum > 0:
            state["momentum_buffer"] = np.zeros_like(p)
        if self.centered:
            state["grad_avg"] = np.zeros_like(p)
        return state

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        g = self._decayed(p, g)
        v = state["square_avg"]
        v *= self.alpha
        v += (1.0 - self.alpha) * g * g
        if self.centered:
            gbar = state["grad_avg"]
            gbar *= self.alpha
            gbar += (1.0 - self.alpha) * g
            avg = np.sqrt(v - gbar * gbar) + self.eps
        else:
            avg = np.sqrt(v) + self.eps
        if self.momentum > 0:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += g / avg
            p -= self.lr * buf
        else:
            p -= self.lr * g / avg


class Rprop(Optimizer):
    r"""Resilient backpropagation (torch ``Rprop``); no weight decay, as in torch.

    Per element, with the previous (possibly zeroed) gradient :math:`g_{prev}` (0 at start) and
    step size :math:`\eta` (``lr`` at start):

    .. math::
        g_{prev} g > 0 &: \ \eta \leftarrow \min(\eta\,\eta_+, \Gamma_{max}) \\
        g_{prev} g < 0 &: \ \eta \leftarrow \max(\eta\,\eta_-, \Gamma_{min}), \ g \leftarrow 0 \\
        \text{otherwise} &: \ \eta \text{ unchanged (clipped to } [\Gamma_{min}, \Gamma_{max}]
            \text{ as torch's implementation does)} \\
        \theta &\leftarrow \theta - \eta\,\mathrm{sign}(g), \quad g_{prev} \leftarrow g

    Defaults: lr=1e-2, etas=(η-, η+)=(0.5, 1.2), step_sizes=(Γmin, Γmax)=(1e-6, 50).

    """

    name = "rprop"
    defaults = dict(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), maximize=False)

    def _check(self) -> None:
        super()._check()
        eta_minus, eta_plus = self.etas
        if not 0.0 < eta_minus < 1.0 < eta_plus:
            self._fail(f"invalid etas={self.etas} (need 0 < etaminus < 1 < etaplus)")
        lo, hi = self.step_sizes
        if not 0.0 <= lo <= hi:
            self._fail(f"invalid step_sizes={self.step_sizes} (need 0 <= min <= max)")

    def _init_state(self, p: np.ndarray) -> dict[str, Any]:
        return {"prev": np.zeros_like(p), "step_size": np.full_like(p, self.lr)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        eta_minus, eta_plus = self.etas
        prev, step_size = state["prev"], state["step_size"]
        prod = g * prev
        factor = np.where(prod > 0, eta_plus, np.where(prod < 0, eta_minus, 1.0))
        step_size *= factor
        np.clip(step_size, self.step_sizes[0], self.step_sizes[1], out=step_size)
        g = np.where(prod < 0, 0.0, g)
        p -= np.sign(g) * step_size
        prev[...] = g


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Adam, AdamW, Adamax, Adagrad, Adadelta, RMSprop, Rprop)
}


def get_optimizer(
    name: str, params: dict[str, np.ndarray], lr: float | None = None, **kwargs
) -> Optimizer:
    """Create an optimizer over a dict of parameter arrays.

    Parameters
    ----------
    name : str
        One of ``sgd``, ``adam``, ``adamw``, ``adamax``, ``adagrad``, ``adadelta``, ``rmsprop``,
        ``rprop`` (case-insensitive).
    params : dict of str to numpy.ndarray
        Parameter name -> floating-point numpy array; ``step`` updates these arrays in place.
    lr : float, optional
        Learning rate; None means torch's default for this optimizer.
    **kwargs : dict
        The optimizer's other torch options (e.g. ``momentum``, ``betas``, ``weight_decay``).

    Returns
    -------
    Optimizer
        The optimizer; call ``step(grads)`` with a dict of gradients.

    Examples
    --------
    Minimise ``sum((w - 3)**2)`` with Adam:

    >>> w = np.zeros(2)
    >>> opt = get_optimizer("adam", {"w": w}, lr=0.1)
    >>> for _ in range(300):
    ...     opt.step({"w": 2 * (w - 3.0)})
    >>> np.round(w, 3)
    array([3., 3.])
    """
    cls = OPTIMIZERS.get(str(name).lower())
    if cls is None:
        raise RectinumbaError(
            f"unknown optimizer {name!r}; valid optimizers: {', '.join(OPTIMIZERS)}"
        )
    return cls(params, lr=lr, **kwargs)


def optimizer_options(name: str) -> dict[str, Any]:
    """Return the torch defaults of an optimizer's options, keyed by name.

    Parameters
    ----------
    name : str
        An optimizer name, as for :func:`get_optimizer`.

    Returns
    -------
    dict
        Option name -> default value (``lr`` included).
    """
    cls = OPTIMIZERS.get(str(name).lower())
    if cls is None:
        raise RectinumbaError(
            f"unknown optimizer {name!r}; valid optimizers: {', '.join(OPTIMIZERS)}"
        )
    return dict(cls.defaults)
