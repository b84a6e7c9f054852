"""Optimizers: several steps against reference implementations of torch.optim's published update
rules, written here element by element in plain Python."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rectinumba.errors import RectinumbaError
from rectinumba.training.optimizers import OPTIMIZERS, get_optimizer

pytestmark = pytest.mark.nocompile

N_STEPS = 7
SHAPES = {"w": (3, 4), "tau": (5,)}


# reference update rules (torch.optim docs pseudo-code), one scalar element at a time ------------
# Each takes the hyper-parameters (with torch defaults) and returns step(theta, g, state, t).


def ref_sgd(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    def step(th, g, s, t):
        if maximize:
            g = -g
        if weight_decay:
            g = g + weight_decay * th
        if momentum:
            s["b"] = g if t == 1 else momentum * s["b"] + (1 - dampening) * g
            g = g + momentum * s["b"] if nesterov else s["b"]
        return th - lr * g

    return step


def ref_adam(
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    decoupled=False,
):
    b1, b2 = betas

    def step(th, g, s, t):
        if maximize:
            g = -g
        if decoupled:
            th = th * (1 - lr * weight_decay)
        elif weight_decay:
            g = g + weight_decay * th
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        mhat = s["m"] / (1 - b1**t)
        if amsgrad:
            s["vmax"] = max(s.get("vmax", 0.0), s["v"])
            vhat = s["vmax"] / (1 - b2**t)
        else:
            vhat = s["v"] / (1 - b2**t)
        return th - lr * mhat / (math.sqrt(vhat) + eps)

    return step


def ref_adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
    return ref_adam(lr, betas, eps, weight_decay, amsgrad, decoupled=True)


def ref_adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    b1, b2 = betas

    def step(th, g, s, t):
        if weight_decay:
            g = g + weight_decay * th
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["u"] = max(b2 * s.get("u", 0.0), abs(g) + eps)
        return th - lr * s["m"] / ((1 - b1**t) * s["u"])

    return step


def ref_adagrad(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    def step(th, g, s, t):
        clr = lr / (1 + (t - 1) * lr_decay)
        if weight_decay:
            g = g + weight_decay * th
        s["sum"] = s.get("sum", initial_accumulator_value) + g * g
        return th - clr * g / (math.sqrt(s["sum"]) + eps)

    return step


def ref_adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    def step(th, g, s, t):
        if weight_decay:
            g = g + weight_decay * th
        s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
        dx = math.sqrt(s.get("u", 0.0) + eps) / math.sqrt(s["v"] + eps) * g
        s["u"] = rho * s.get("u", 0.0) + (1 - rho) * dx * dx
        return th - lr * dx

    return step


def ref_rmsprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    def step(th, g, s, t):
        if weight_decay:
            g = g + weight_decay * th
        s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g * g
        vt = s["v"]
        if centered:
            s["ga"] = alpha * s.get("ga", 0.0) + (1 - alpha) * g
            vt = vt - s["ga"] ** 2
        if momentum > 0:
            s["b"] = momentum * s.get("b", 0.0) + g / (math.sqrt(vt) + eps)
            return th - lr * s["b"]
        return th - lr * g / (math.sqrt(vt) + eps)

    return step


def ref_rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
    eminus, eplus = etas
    smin, smax = step_sizes

    def step(th, g, s, t):
        prev, eta = s.get("prev", 0.0), s.get("eta", lr)
        if prev * g > 0:
            eta = min(eta * eplus, smax)
        elif prev * g < 0:
            eta = max(eta * eminus, smin)
            g = 0.0
        s["prev"], s["eta"] = g, eta
        sign = (g > 0) - (g < 0)
        return th - eta * sign

    return step


REFS = {
    "sgd": ref_sgd,
    "adam": ref_adam,
    "adamw": ref_adamw,
    "adamax": ref_adamax,
    "adagrad": ref_adagrad,
    "adadelta": ref_adadelta,
    "rmsprop": ref_rmsprop,
    "rprop": ref_rprop,
}

CASES = [
    ("sgd", {}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01, "betas": (0.8, 0.9), "amsgrad": True, "eps": 1e-6}),
    ("adam", {"lr": 0.01, "maximize": True, "weight_decay": 0.1}),
    ("adamw", {}),
    ("adamw", {"lr": 0.02, "weight_decay": 0.3, "amsgrad": True}),
    ("adamax", {}),
    ("adamax", {"lr": 0.05, "weight_decay": 0.2, "betas": (0.7, 0.95)}),
    ("adagrad", {}),
    (
        "adagrad",
        {"lr": 0.1, "lr_decay": 0.3, "weight_decay": 0.05, "initial_accumulator_value": 0.2},
    ),
    ("adadelta", {}),
    ("adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1, "eps": 1e-4}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"momentum": 0.9, "weight_decay": 0.05}),
    ("rmsprop", {"lr": 0.003, "centered": True, "momentum": 0.5, "alpha": 0.9}),
    ("rprop", {}),
    ("rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (0.02, 0.1)}),
]


def run_reference(name, kwargs, params0, grads_seq):
    ref_step = REFS[name](**kwargs)
    out = []
    params = {k: v.ravel().tolist() for k, v in params0.items()}
    states = {k: [{} for _ in v] for k, v in params.items()}
    for t, grads in enumerate(grads_seq, start=1):
        for key, g in grads.items():
            params[key] = [
                ref_step(th, gi, s, t)
                for th, gi, s in zip(params[key], g.ravel().tolist(), states[key], strict=True)
            ]
        out.append({k: np.array(v).reshape(params0[k].shape) for k, v in params.items()})
    return out


@pytest.mark.parametrize(
    "case", range(len(CASES)), ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_matches_reference(case):
    name, kwargs = CASES[case]
    rng = np.random.default_rng(1000 + case)
    params0 = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    # a common drift plus noise, so signs sometimes persist and sometimes flip (rprop)
    drift = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    grads_seq = [
        {k: 0.5 * drift[k] + rng.normal(size=s) for k, s in SHAPES.items()} for _ in range(N_STEPS)
    ]
    expected = run_reference(name, kwargs, params0, grads_seq)

    params = {k: v.copy() for k, v in params0.items()}
    held = dict(params)  # the references a network would hold
    opt = get_optimizer(name, params, **kwargs)
    for t in range(N_STEPS):
        opt.step(grads_seq[t])
        for key in SHAPES:
            assert held[key] is params[key]
            np.testing.assert_allclose(held[key], expected[t][key], rtol=0, atol=1e-12)
    # the updates are not trivially zero
    assert all(not np.allclose(params[k], params0[k]) for k in SHAPES)


def test_rprop_hand_trace():
    # lr=0.05, etas=(0.3, 1.5), step_sizes=(0.02, 0.1); a step moves by -sign(g)*eta
    # e0 (+,+,+): eta 0.05, 0.075, 0.1125 -> clipped 0.1             => -0.225
    # e1 (+,-,+): 0.05; flip: eta max(0.015, 0.02)=0.02, g:=0, no move;
    #             prev is 0 so eta stays 0.02 and it moves            => -0.07
    # e2 (-,-,+): 0.05, 0.075, flip: no move                          => +0.125
    w = np.zeros(3)
    opt = get_optimizer("rprop", {"w": w}, lr=0.05, etas=(0.3, 1.5), step_sizes=(0.02, 0.1))
    for g in ([1.0, 1.0, -1.0], [1.0, -1.0, -1.0], [1.0, 1.0, 1.0]):
        opt.step({"w": np.array(g)})
    np.testing.assert_allclose(w, [-0.225, -0.07, 0.125], rtol=0, atol=1e-15)


def test_defaults_and_lr_none():
    expected_lr = {
        "sgd": 1e-3,
        "adam": 1e-3,
        "adamw": 1e-3,
        "adamax": 2e-3,
        "adagrad": 1e-2,
        "adadelta": 1.0,
        "rmsprop": 1e-2,
        "rprop": 1e-2,
    }
    assert set(OPTIMIZERS) == set(expected_lr)
    for name, lr in expected_lr.items():
        assert get_optimizer(name, {}).lr == lr
        assert get_optimizer(name, {}, lr=0.5).lr == 0.5
    assert get_optimizer("adamw", {}).weight_decay == 1e-2
    assert get_optimizer("adam", {}).betas == (0.9, 0.999)
    p = {"x": np.array([1.0, 2.0])}
    get_optimizer("sgd", p).step({"x": np.array([10.0, -10.0])})
    np.testing.assert_allclose(p["x"], [0.99, 2.01], rtol=0, atol=1e-15)


def test_zero_state_and_skipped_params():
    p = {"a": np.array([1.0, -1.0]), "b": np.array([3.0])}
    opt = get_optimizer("adam", p, lr=0.1)
    opt.step({"a": np.array([1.0, 2.0])})  # b has no gradient: untouched, no state
    assert p["b"][0] == 3.0 and "b" not in opt.state
    opt.step({"a": np.array([-3.0, 0.5]), "b": None})
    assert opt.state["a"]["step"] == 2
    opt.zero_state()
    assert opt.state == {}
    # after a reset the first Adam step moves every element by lr (bias-corrected m/sqrt(v) = ±1)
    before = p["a"].copy()
    opt.step({"a": np.array([5.0, -0.2])})
    np.testing.assert_allclose(p["a"] - before, [-0.1, 0.1], rtol=1e-6)


def test_float32_params_stay_in_place():
    w = np.ones(3, dtype=np.float32)
    opt = get_optimizer("sgd", {"w": w}, lr=0.5, momentum=0.9)
    opt.step({"w": np.array([1.0, 0.0, -1.0])})
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, [0.5, 1.0, 1.5])


def test_errors():
    p = {"w": np.zeros(2)}
    with pytest.raises(RectinumbaError, match="unknown optimizer 'lbfgs'; valid optimizers: sgd"):
        get_optimizer("lbfgs", p)
    with pytest.raises(RectinumbaError, match=r"'adam' got unknown option\(s\) \['momentum'\]"):
        get_optimizer("adam", p, momentum=0.9)
    with pytest.raises(RectinumbaError, match="nesterov momentum requires a momentum > 0"):
        get_optimizer("sgd", p, nesterov=True)
    with pytest.raises(RectinumbaError, match="invalid learning rate"):
        get_optimizer("sgd", p, lr=-1.0)
    with pytest.raises(RectinumbaError, match="invalid betas"):
        get_optimizer("adam", p, betas=(0.9, 1.0))
    with pytest.raises(RectinumbaError, match="invalid etas"):
        get_optimizer("rprop", p, etas=(1.5, 1.2))
    with pytest.raises(RectinumbaError, match="must be a floating-point numpy array"):
        get_optimizer("sgd", {"w": [1.0, 2.0]})
    with pytest.raises(RectinumbaError, match="must be a floating-point numpy array"):
        get_optimizer("sgd", {"w": np.zeros(2, dtype=int)})
    opt = get_optimizer("sgd", p)
    with pytest.raises(RectinumbaError, match=r"gradients for unknown parameter\(s\) \['v'\]"):
        opt.step({"v": np.zeros(2)})
    with pytest.raises(RectinumbaError, match=r"gradient of 'w' has shape \(3,\)"):
        opt.step({"w": np.zeros(3)})
