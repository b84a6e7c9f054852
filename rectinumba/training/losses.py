"""Loss functions with torch's definitions (mean reduction) and their gradients.

Each loss is a small object with ``value(prediction, target) -> float`` and
``grad(prediction, target) -> ndarray`` (d loss / d prediction, same shape as ``prediction``).
A prediction is one sample of shape ``(n,)`` or a sequence of shape ``(T, n)`` (any leading
axes are allowed; the feature / class axis is always the LAST one).

Reduction follows torch's ``reduction="mean"`` default:

- element-wise losses (mse, l1, kld, hinge) average over ALL elements;
- class losses (nll, ce) average over the samples (all axes but the last).

Only numpy is used; every hot path is vectorised.
"""

from __future__ import annotations

import numpy as np

from ..errors import RectinumbaError

__all__ = [
    "Loss",
    "MSELoss",
    "L1Loss",
    "NLLLoss",
    "CrossEntropyLoss",
    "KLDivLoss",
    "HingeEmbeddingLoss",
    "LOSSES",
    "get_loss",
]


def _as_float(x: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise RectinumbaError(f"the {what} must be an array of shape (n,) or (T, n), got a scalar")
    return arr


def _same_shape(prediction: np.ndarray, target: np.ndarray, loss: str) -> tuple:
    p = _as_float(prediction, "prediction")
    t = np.asarray(target, dtype=np.float64)
    if t.shape != p.shape:
        raise RectinumbaError(
            f"loss {loss!r}: target shape {t.shape} differs from prediction shape {p.shape}",
            hint="element-wise losses need a target of the same shape as the prediction",
        )
    return p, t


class Loss:
    """Base class: a differentiable scalar loss of a prediction and a target."""

    name: str = ""

    def value(self, prediction: np.ndarray, target: np.ndarray) -> float:
        """Return the loss.

        Parameters
        ----------
        prediction : numpy.ndarray
            One sample ``(n,)`` or a sequence ``(T, n)`` (any leading axes; the feature or class
            axis is the last one).
        target : numpy.ndarray
            Same shape as ``prediction``; for the class losses (nll, ce) also one class index
            per sample.

        Returns
        -------
        float
            The loss, with torch's mean reduction.
        """
        raise NotImplementedError

    def grad(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Return d loss / d prediction.

        Parameters
        ----------
        prediction : numpy.ndarray
            As for :meth:`value`.
        target : numpy.ndarray
            As for :meth:`value`.

        Returns
        -------
        numpy.ndarray
            The gradient, with the prediction's shape.
        """
        raise NotImplementedError

    def value_and_grad(
        self, prediction: np.ndarray, target: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Return the loss and its gradient.

        Parameters
        ----------
        prediction : numpy.ndarray
            As for :meth:`value`.
        target : numpy.ndarray
            As for :meth:`value`.

        Returns
        -------
        tuple of (float, numpy.ndarray)
            :meth:`value` and :meth:`grad`.
        """
        return self.value(prediction, target), self.grad(prediction, target)

    def __call__(self, prediction: np.ndarray, target: np.ndarray) -> float:
        return self.value(prediction, target)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MSELoss(Loss):
    r"""Mean squared error (torch ``MSELoss``).

    .. math:: L = \frac{1}{N} \sum_i (x_i - y_i)^2, \qquad
              \partial L / \partial x_i = 2 (x_i - y_i) / N

    with N the number of elements of the prediction x.
    """

    name = "mse"

    def value(self, prediction: np.ndarray, target: np.ndarray) -> float:
        p, t = _same_shape(prediction, target, self.name)
        return float(np.mean((p - t) ** 2))

    def grad(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        p, t = _same_shape(prediction, target, self.name)
        return 2.0 * (p - t) / p.size


class L1Loss(Loss):
    r"""Mean absolute error (torch ``L1Loss``).

    .. math:: L = \frac{1}{N} \sum_i |x_i - y_i|, \qquad
              \partial L / \partial x_i = \mathrm{sign}(x_i - y_i) / N

    (torch's subgradient: 0 where x_i == y_i).
    """

    name = "l1"

    def value(self, prediction: np.ndarray, target: np.ndarray) -> float:
        p, t = _same_shape(prediction, target, self.name)
        return float(np.mean(np.abs(p - t)))

    def grad(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        p, t = _same_shape(prediction, target, self.name)
        return np.sign(p - t) / p.size


def _class_targets(prediction: np.ndarray, target: np.ndarray, loss: str) -> tuple:
    """Split a class-loss target into ``(indices, probabilities)`` (exactly one is not None).

    A target with the prediction's shape minus its last axis holds class indices; a float target
    with the prediction's shape holds class probabilities (or one-hot rows).
    """
    p = _as_float(prediction, "prediction")
    t = np.asarray(target)
    n_classes = p.shape[-1]
    if t.shape == p.shape[:-1]:
        idx = t.astype(np.int64)
        if not np.array_equal(idx, t):
            raise RectinumbaError(
                f"loss {loss!r}: class-index targets must be integers",
                hint="pass integer class indices, or a float array of the prediction's shape",
            )
        if idx.size and (idx.min() < 0 or idx.max() >= n_classes):
            raise RectinumbaError(
                f"loss {loss!r}: class index out of range [0, {n_classes - 1}]: "
                f"got values in [{idx.min()}, {idx.max()}]"
            )
        return p, idx, None
    if t.shape == p.shape:
        return p, None, t.astype(np.float64)
    raise RectinumbaError(
        f"loss {loss!r}: target shape {t.shape} fits neither class indices {p.shape[:-1]} nor "
        f"class probabilities {p.shape} for a prediction of shape {p.shape}"
    )


def _pick(p: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Entries ``p[..., idx[...]]`` (one per sample), vectorised."""
    return np.take_along_axis(p, idx[..., None], axis=-1)[..., 0]


def _onehot(idx: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros(idx.shape + (n_classes,))
    np.put_along_axis(out, idx[..., None], 1.0, axis=-1)
    return out


class NLLLoss(Loss):
    r"""Negative log-likelihood (torch ``NLLLoss``): the prediction holds log-probabilities.

    With class indices :math:`c_s` for each of the S samples (rows):

    .. math:: L = -\frac{1}{S} \sum_s x_{s, c_s}, \qquad
              \partial L / \partial x_{s,j} = -[j = c_s] / S

    A float target of the prediction's shape (one-hot or probabilities) is converted to class
    indices with ``argmax`` over the last axis.
    """

    name = "nll"

    def _indices(self, prediction: np.ndarray, target: np.ndarray) -> tuple:
        p, idx, prob = _class_targets(prediction, target, self.name)
        if idx is None:
            idx = np.argmax(prob, axis=-1)
        return p, idx

    def value(self, prediction: np.ndarray, target: np.ndarray) -> float:
        p, idx = self._indices(prediction, target)
        return float(-np.mean(_pick(p, idx)))

    def grad(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        p, idx = self._indices(prediction, target)
        n_samples = max(idx.size, 1)
        return -_onehot(idx, p.shape[-1]) / n_samples


def _log_softmax(x: np.ndarray) -> np.ndarray:
    # subtract the row maximum so exp never overflows
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


class CrossEntropyLoss(Loss):
    r"""Cross entropy of logits (torch ``CrossEntropyLoss``).

    With :math:`\ell = \mathrm{log\_softmax}(x)` over the last axis and S samples:

    - class indices :math:`c_s`: :math:`L = -\frac{1}{S}\sum_s \ell_{s,c_s}`;
    - class probabilities :math:`q`: :math:`L = -\frac{1}{S}\sum_s \sum_j q_{s,j}\,\ell_{s,j}`.

    ``label_smoothing`` :math:`\varepsilon` replaces the target distribution by
    :math:`(1-\varepsilon)\,q + \varepsilon / C` (C classes), as torch does.
    Gradient: :math:`\partial L/\partial x_{s,j} = (\mathrm{softmax}(x)_{s,j}\sum_k q_{s,k}
    - q_{s,j}) / S`.

    Parameters
    ----------
    label_smoothing : float, default 0.0
        :math:`\varepsilon \in [0, 1]`.
    """

    name = "ce"

    def __init__(self, label_smoothing: float = 0.0) -> None:
        if not 0.0 <= label_smoothing <= 1.0:
            raise RectinumbaError(
                f"loss 'ce': label_smoothing must be in [0, 1], got {label_smoothing}"
            )
        self.label_smoothing = float(label_smoothing)

    def _probs(self, prediction: np.ndarray, target: np.ndarray) -> tuple:
        p, idx, q = _class_targets(prediction, target, self.name)
        n_classes = p.shape[-1]
        if q is None:
            q = _onehot(idx, n_classes)
        if self.label_smoothing:
            q = (1.0 - self.label_smoothing) * q + self.label_smoothing / n_classes
        n_samples = max(int(np.prod(p.shape[:-1])), 1)
        return p, q, n_samples

    def value(self, prediction: np.ndarray, target: np.ndarray) -> float:
        p, q, n_samples = self._probs(prediction, target)
        return float(-np.sum(q * _log_softmax(p)) / n_samples)

    def grad(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        p, q, n_samples = self._probs(prediction, target)
        soft = np.exp(_log_softmax(p))
        return (soft * np.sum(q, axis=-1, keepdims=True) - q) / n_samples

    def __repr__(self) -> str:
        return f"CrossEntropyLoss(label_smoothing={self.label_smoothing})"


class KLDivLoss(Loss):
    r"""Kullback-Leibler divergence (torch ``KLDivLoss``, ``reduction='mean'``).

    The prediction holds log-probabilities x, the target probabilities y:

    .. math:: L = \frac{1}{N} \sum_i y_i (\log y_i - x_i), \qquad
              \partial L / \partial x_i = -y_i / N

    with the term 0 where :math:`y_i = 0`, and N the number of ALL elements (torch's 'mean', not
    'batchmean'). With ``log_target=True`` the target holds log-probabilities t and
    :math:`L = \frac{1}{N}\sum_i e^{t_i}(t_i - x_i)`.

    Parameters
    ----------
    log_target : bool, default False
        Whether the target holds log-probabilities.
    """

    name = "kld"

    def __init__(self, log_target: bool = False) -> None:
        self.log_target = bool(log_target)

    def value(self, prediction: np.ndarray, target: np.ndarray) -> float:
        p, t = _same_shape(prediction, target, self.name)
        if self.log_target:
            return float(np.mean(np.exp(t) * (t - p)))
        if np.any(t < 0):
            raise RectinumbaError("loss 'kld': target probabilities must be >= 0")
        pos = t > 0
        # y*log(y) is taken as 0 at y == 0 (torch uses xlogy)
        ylogy = np.zeros_like(t)
        ylogy[pos] = t[pos] * np.log(t[pos])
        return float(np.mean(ylogy - t * p))

    def grad(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        p, t = _same_shape(prediction, target, self.name)
        y = np.exp(t) if self.log_target else t
        return -y / p.size

    def __repr__(self) -> str:
        return f"KLDivLoss(log_target={self.log_target})"


class HingeEmbeddingLoss(Loss):
    r"""Hinge embedding loss (torch ``HingeEmbeddingLoss``) with labels y in {1, -1}.

    .. math:: l_i = \begin{cases} x_i & y_i = 1 \\ \max(0, m - x_i) & y_i = -1 \end{cases},
              \qquad L = \frac{1}{N} \sum_i l_i

    (margin m = 1.0 by default). As in torch's implementation, a label that is neither 1 nor -1
    contributes both terms. Gradient: :math:`[y_i \ne -1]/N - [y_i \ne 1][m - x_i \ge 0]/N`
    (torch's subgradient at the kink).

    Parameters
    ----------
    margin : float, default 1.0
        The margin m.
    """

    name = "hinge"

    def __init__(self, margin: float = 1.0) -> None:
        self.margin = float(margin)

    def value(self, prediction: np.ndarray, target: np.ndarray) -> float:
        p, y = _same_shape(prediction, target, self.name)
        hinge = np.where(y != 1.0, np.maximum(0.0, self.margin - p), 0.0)
        linear = np.where(y != -1.0, p, 0.0)
        return float(np.mean(hinge + linear))

    def grad(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        p, y = _same_shape(prediction, target, self.name)
        g = (y != -1.0).astype(np.float64)
        g -= ((y != 1.0) & (self.margin - p >= 0.0)).astype(np.float64)
        return g / p.size

    def __repr__(self) -> str:
        return f"HingeEmbeddingLoss(margin={self.margin})"


LOSSES: dict[str, type[Loss]] = {
    "mse": MSELoss,
    "l1": L1Loss,
    "nll": NLLLoss,
    "ce": CrossEntropyLoss,
    "kld": KLDivLoss,
    "hinge": HingeEmbeddingLoss,
}


def get_loss(name: str | Loss, **kwargs) -> Loss:
    """Create a loss by name.

    Parameters
    ----------
    name : str or Loss
        One of ``mse``, ``l1``, ``nll``, ``ce``, ``kld``, ``hinge`` (case-insensitive), or a
        :class:`Loss` instance, returned unchanged (then no keyword arguments are allowed).
    **kwargs : dict
        Options of the loss: ``label_smoothing`` (ce), ``log_target`` (kld), ``margin`` (hinge).

    Returns
    -------
    Loss
        The loss object.

    Examples
    --------
    >>> mse = get_loss("mse")
    >>> mse.value(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    2.5
    >>> mse.grad(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    array([1., 2.])
    >>> get_loss("hinge", margin=0.5)
    HingeEmbeddingLoss(margin=0.5)
    """
    if isinstance(name, Loss):
        if kwargs:
            raise RectinumbaError(
                f"loss options {sorted(kwargs)} given together with a loss object {name!r}"
            )
        return name
    key = str(name).lower()
    cls = LOSSES.get(key)
    if cls is None:
        raise RectinumbaError(
            f"unknown loss {name!r}; valid losses: {', '.join(LOSSES)}",
        )
    try:
        return cls(**kwargs)
    except TypeError:
        import inspect

        allowed = [k for k in inspect.signature(cls.__init__).parameters if k != "self"]
        bad = sorted(set(kwargs) - set(allowed))
        raise RectinumbaError(
            f"loss {key!r} got unknown option(s) {bad}; allowed: {allowed if allowed else 'none'}"
        ) from None
