"""Losses: values against formulas written here (torch's definitions), gradients against central
finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rectinumba.errors import RectinumbaError
from rectinumba.training.losses import LOSSES, get_loss

pytestmark = pytest.mark.nocompile

RNG = np.random.default_rng(12345)


def fd_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite differences of a scalar function, element by element."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


def check_grad(loss, x, y) -> None:
    numeric = fd_grad(lambda z: loss.value(z, y), x)
    analytic = loss.grad(x, y)
    assert analytic.shape == x.shape
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def log_softmax_ref(row) -> list[float]:
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    return [v - lse for v in row]


SHAPES = [(7,), (5, 4)]


# hand-computed cases ----------------------------------------------------------------------------


def test_hand_values():
    assert get_loss("mse").value(np.array([1.0, 2.0]), np.array([0.0, 0.0])) == pytest.approx(2.5)
    assert get_loss("l1").value(np.array([1.0, -2.0]), np.array([0.0, 0.0])) == pytest.approx(1.5)
    x = np.array([[-1.0, -2.0, -3.0], [-0.5, -1.5, -2.5]])
    assert get_loss("nll").value(x, np.array([0, 2])) == pytest.approx(1.75)
    # torch: F.cross_entropy(tensor([[1., 2., 3.]]), tensor([2])) = 0.4076059644
    assert get_loss("ce").value(np.array([1.0, 2.0, 3.0]), np.array(2)) == pytest.approx(
        0.40760596444438
    )
    kld = get_loss("kld")
    expected = (0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)) / 2
    assert kld.value(np.log([0.25, 0.75]), np.array([0.5, 0.5])) == pytest.approx(expected)
    # a zero target contributes 0 (not nan)
    assert kld.value(np.log([0.5, 0.5]), np.array([0.0, 1.0])) == pytest.approx(math.log(2) / 2)
    hinge = get_loss("hinge")
    x = np.array([0.5, 2.0, -1.0, 0.3])
    y = np.array([1.0, -1.0, -1.0, 1.0])
    assert hinge.value(x, y) == pytest.approx((0.5 + 0.0 + 2.0 + 0.3) / 4)
    assert get_loss("hinge", margin=3.0).value(x, y) == pytest.approx((0.5 + 1.0 + 4.0 + 0.3) / 4)


# random inputs against reference formulas ------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_mse_l1_random(shape):
    x, y = RNG.normal(size=shape), RNG.normal(size=shape)
    xs, ys = x.ravel().tolist(), y.ravel().tolist()
    ref_mse = sum((a - b) ** 2 for a, b in zip(xs, ys, strict=True)) / len(xs)
    ref_l1 = sum(abs(a - b) for a, b in zip(xs, ys, strict=True)) / len(xs)
    assert get_loss("mse").value(x, y) == pytest.approx(ref_mse, rel=1e-12)
    assert get_loss("l1").value(x, y) == pytest.approx(ref_l1, rel=1e-12)
    check_grad(get_loss("mse"), x, y)
    check_grad(get_loss("l1"), x, y)  # random data: no element at the kink


@pytest.mark.parametrize("shape", SHAPES)
def test_nll_random(shape):
    logits = RNG.normal(size=shape)
    x = np.apply_along_axis(log_softmax_ref, -1, logits)
    rows = x.reshape(-1, shape[-1])
    idx = RNG.integers(0, shape[-1], size=shape[:-1])
    ref = -sum(r[c] for r, c in zip(rows, np.atleast_1d(idx).ravel(), strict=True)) / len(rows)
    loss = get_loss("nll")
    assert loss.value(x, idx) == pytest.approx(ref, rel=1e-12)
    check_grad(loss, x, idx)
    # one-hot / probability targets are converted with argmax
    onehot = np.eye(shape[-1])[idx]
    assert loss.value(x, onehot) == pytest.approx(ref, rel=1e-12)
    probs = 0.5 * onehot + 0.5 / shape[-1] * 0.9
    assert loss.value(x, probs) == pytest.approx(ref, rel=1e-12)
    np.testing.assert_allclose(loss.grad(x, onehot), loss.grad(x, idx))


@pytest.mark.parametrize("shape", SHAPES)
def test_ce_random_indices_and_probabilities(shape):
    x = RNG.normal(size=shape) * 2
    rows = x.reshape(-1, shape[-1]).tolist()
    idx = RNG.integers(0, shape[-1], size=shape[:-1])
    flat_idx = np.atleast_1d(idx).ravel().tolist()
    ref = -sum(log_softmax_ref(r)[c] for r, c in zip(rows, flat_idx, strict=True)) / len(rows)
    loss = get_loss("ce")
    assert loss.value(x, idx) == pytest.approx(ref, rel=1e-12)
    check_grad(loss, x, idx)
    # class-probability target
    q = RNG.random(shape)
    q /= q.sum(axis=-1, keepdims=True)
    qrows = q.reshape(-1, shape[-1]).tolist()
    ref_q = -sum(
        sum(qi * li for qi, li in zip(qr, log_softmax_ref(r), strict=True))
        for qr, r in zip(qrows, rows, strict=True)
    ) / len(rows)
    assert loss.value(x, q) == pytest.approx(ref_q, rel=1e-12)
    check_grad(loss, x, q)
    # one-hot probabilities equal indices
    assert loss.value(x, np.eye(shape[-1])[idx]) == pytest.approx(ref, rel=1e-12)


def test_ce_label_smoothing_and_unnormalised_targets():
    x = RNG.normal(size=(6, 5))
    idx = RNG.integers(0, 5, size=6)
    eps = 0.2
    ref = 0.0
    for r, c in zip(x.tolist(), idx.tolist(), strict=True):
        lsm = log_softmax_ref(r)
        ref += -(1 - eps) * lsm[c] - eps / 5 * sum(lsm)
    ref /= 6
    loss = get_loss("ce", label_smoothing=eps)
    assert loss.value(x, idx) == pytest.approx(ref, rel=1e-12)
    check_grad(loss, x, idx)
    # soft targets that do not sum to 1: gradient keeps the sum(q) factor
    check_grad(get_loss("ce"), x, RNG.random((6, 5)) * 3)


@pytest.mark.parametrize("shape", SHAPES)
def test_kld_random(shape):
    x = np.log(RNG.random(shape) + 0.05)
    y = RNG.random(shape)
    y[RNG.random(shape) < 0.3] = 0.0
    ref = (
        sum(
            (b * (math.log(b) - a) if b > 0 else 0.0)
            for a, b in zip(x.ravel(), y.ravel(), strict=True)
        )
        / x.size
    )
    loss = get_loss("kld")
    assert loss.value(x, y) == pytest.approx(ref, rel=1e-12)
    check_grad(loss, x, y)
    # log_target: the target holds log-probabilities
    lt = np.log(RNG.random(shape) + 0.05)
    ref_lt = sum(math.exp(b) * (b - a) for a, b in zip(x.ravel(), lt.ravel(), strict=True)) / x.size
    loss_lt = get_loss("kld", log_target=True)
    assert loss_lt.value(x, lt) == pytest.approx(ref_lt, rel=1e-12)
    check_grad(loss_lt, x, lt)


@pytest.mark.parametrize("shape", SHAPES)
def test_hinge_random(shape):
    x = RNG.normal(size=shape) * 2
    y = np.where(RNG.random(shape) < 0.5, 1.0, -1.0)
    margin = 0.7
    ref = sum(
        (a if b == 1 else max(0.0, margin - a)) for a, b in zip(x.ravel(), y.ravel(), strict=True)
    )
    ref /= x.size
    loss = get_loss("hinge", margin=margin)
    assert loss.value(x, y) == pytest.approx(ref, rel=1e-12)
    check_grad(loss, x, y)  # random data: no element at the kink


def test_grad_shapes_and_torch_subgradients():
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(get_loss("l1").grad(x, x), [0.0, 0.0])
    # torch's clamp_min passes the gradient at the kink (margin - x == 0)
    g = get_loss("hinge").grad(np.array([1.0]), np.array([-1.0]))
    np.testing.assert_array_equal(g, [-1.0])
    for name in LOSSES:
        assert get_loss(name).name == name


# errors -------------------------------------------------------------------------------------------


def test_unknown_loss_and_option():
    with pytest.raises(RectinumbaError, match="unknown loss 'foo'; valid losses: mse, l1, nll"):
        get_loss("foo")
    with pytest.raises(RectinumbaError, match=r"unknown option\(s\) \['margin'\]"):
        get_loss("mse", margin=1.0)
    assert get_loss("MSE").name == "mse"


def test_bad_targets():
    with pytest.raises(RectinumbaError, match="target shape .* differs from prediction shape"):
        get_loss("mse").value(np.zeros(3), np.zeros(4))
    with pytest.raises(RectinumbaError, match=r"class index out of range \[0, 2\]"):
        get_loss("ce").value(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(RectinumbaError, match="class-index targets must be integers"):
        get_loss("nll").value(np.zeros((2, 3)), np.array([0.5, 1.0]))
    with pytest.raises(RectinumbaError, match="fits neither class indices"):
        get_loss("ce").value(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(RectinumbaError, match="target probabilities must be >= 0"):
        get_loss("kld").value(np.zeros(2), np.array([-0.1, 1.1]))
    with pytest.raises(RectinumbaError, match="label_smoothing must be in"):
        get_loss("ce", label_smoothing=1.5)
