"""Plain numpy reference simulations written independently of rectinumba's code generator.

Each follows the step semantics of docs/guide/step_semantics.rst: spikes detected on the
pre-update state, spike input 1/dt, explicit Euler, reset after the update, output from the
pre-update state, recordings after the update.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def rel_err(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def li_tanh_in_out(inp, W_in, J, W_out, dt, tau=10.0, k=1.0, eta=0.0):
    """input(identity) -> LI/tanh population (J on tanh(v)) -> sigmoid readout of v."""
    N = J.shape[0]
    v = np.zeros(N)
    outs, vs = [], []
    for x in inp:
        I = W_in @ x
        out_rnn = v.copy()  # output_var li_op/v, pre-update
        r = np.tanh(v)
        v = v + dt * (-v / tau + k * (J @ r) + I + eta)
        outs.append(sigmoid(W_out @ out_rnn))
        vs.append(v.copy())
    return np.array(outs), np.array(vs)


def lif(inp, J, dt, thr, reset, tau=10.0, k=1.0, eta=0.0, tau_s=0.5):
    """LIF population driven directly (input node), coupled through s."""
    N = J.shape[0]
    v, s = np.zeros(N), np.zeros(N)
    eta = np.broadcast_to(eta, (N,))
    outs, vs, spikes = [], [], []
    for x in inp:
        spk = (v >= thr).astype(float)
        out = s.copy()
        s_in = J @ s
        dv = -v / tau + k * s_in + x + eta
        ds = -s / tau_s + spk / dt
        v = v + dt * dv
        s = s + dt * ds
        v[spk > 0] = reset
        outs.append(out)
        vs.append(v.copy())
        spikes.append(spk)
    return np.array(outs), np.array(vs), np.array(spikes)


def qif(inp, J, dt, thr, reset, eta, tau=1.0, k=1.0, tau_s=1.0):
    N = J.shape[0]
    v, s = -2.0 * np.ones(N), np.zeros(N)
    outs, vs = [], []
    for x in inp:
        spk = (v >= thr).astype(float)
        out = s.copy()
        dv = (v**2 + eta + x) / tau + k * (J @ s)
        ds = -s / tau_s + spk / dt
        v = v + dt * dv
        s = s + dt * ds
        v[spk > 0] = reset
        outs.append(out)
        vs.append(v.copy())
    return np.array(outs), np.array(vs)


def iku(
    inp,
    J,
    dt,
    thr,
    reset,
    eta,
    C=100.0,
    k=0.7,
    v_r=-60.0,
    v_theta=-40.0,
    g=1.0,
    E_r=0.0,
    b=-2.0,
    tau_u=33.33,
    kappa=10.0,
    tau_s=6.0,
):
    """Izhikevich population with the population means of iku_op."""
    N = J.shape[0]
    v, u, s = -60.0 * np.ones(N), np.zeros(N), np.zeros(N)
    outs, vs, us = [], [], []
    for x in inp:
        spk = (v >= thr).astype(float)
        spike = spk / dt
        out = s.copy()
        s_in = J @ s
        dv = (k * (v - v_r) * (v - v_theta) - u + x + eta + g * s_in * (E_r - v)) / C
        du = (b * (np.mean(v) - v_r) - u) / tau_u + kappa * np.mean(spike)
        ds = -s / tau_s + spike
        v, u, s = v + dt * dv, u + dt * du, s + dt * ds
        v[spk > 0] = reset
        outs.append(out)
        vs.append(v.copy())
        us.append(u.copy())
    return np.array(outs), np.array(vs), np.array(us)
