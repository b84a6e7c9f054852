"""CPU performance and scale figures of rectinumba (issue 4), printed as ONE table.

Every figure is a ratio to a reference measured in the same run (these machines are noisy; absolute
times drift): numpy/scipy for the step times, sequential runs for batches, a bare interpreter for
start-up times. Quoted RectiPy 0.11 figures are shown next to them.

Usage::

    python benchmarks/cpu_bench.py                 # all figures (~1-2 min on 2 cores)
    python benchmarks/cpu_bench.py --quick         # smaller sizes / fewer steps (~30 s)
    python benchmarks/cpu_bench.py --only dense,sparse
    python benchmarks/cpu_bench.py --only delay,noise   # overhead of delays / noise per step

Figures: seed, dense, sparse, build, import, start, batch, memory, delay, noise, events (issue 15:
spiking networks event-driven vs matvec vs scipy, medians of repeated runs, with the machine's
load).

Threads: batched runs (B > 1) split trials over numba's threads; single-trial runs of a dense J
with N >= 512 split J's rows. Set the number of threads with ``NUMBA_NUM_THREADS`` (before the
process starts) or ``numba.set_num_threads(n)`` (any time, at most NUMBA_NUM_THREADS).
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` (which can slow numpy's reference matvec) are removed
from this script's own environment: it re-executes itself without them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SEED_RATE = "model_templates.rate_neurons.leaky_integrator.tanh"
LIF = "model_templates.spiking_neurons.lif.lif"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Row:
    figure: str
    value: str
    reference: str
    ratio: float
    goal: str
    ok: bool
    load: float | None = None  # 1-minute load average right after the measurement


def timings(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> list[float]:
    """``repeat`` timings of ``number`` calls, in seconds per call."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return times


def best(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Minimum over ``repeat`` timings of ``number`` calls, in seconds per call."""
    return min(timings(fn, repeat, number))


def median(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Median over ``repeat`` timings of ``number`` calls, in seconds per call."""
    return float(np.median(timings(fn, repeat, number)))


def load() -> float:
    """The 1-minute load average (other processes share the cores)."""
    return os.getloadavg()[0]


# ---- networks --------------------------------------------------------------------------------
def rate_net(N: int, J=None, dtype=np.float64, seed: int = 0):
    from rectinumba import Network

    if J is None:
        J = np.random.default_rng(seed).standard_normal((N, N)) * (2.0 / np.sqrt(N))
    net = Network(1e-3, dtype=dtype)
    net.add_diffeq_node("tanh", SEED_RATE, weights=J, source_var="tanh_op/r",
                        target_var="li_op/r_in", input_var="li_op/I_ext", output_var="li_op/v")
    return net


def seed_lif_net(N: int = 5, m: int = 3, k: int = 2, seed: int = 0):
    """The seed's spiking network: identity input (m) -> LIF (N) -> sigmoid output (k)."""
    from rectinumba import Network

    rng = np.random.default_rng(seed)
    net = Network(1e-3)
    net.add_diffeq_node("lif", LIF, weights=rng.standard_normal((N, N)) * 2.0, source_var="s",
                        target_var="s_in", input_var="I_ext", output_var="s", op="lif_op",
                        spike_var="spike", spike_def="v", spike_threshold=100.0, spike_reset=-100.0)
    net.add_func_node("input", m, activation_function="identity")
    net.add_edge(source="input", target="lif", seed=seed)
    net.add_func_node("output", k, activation_function="sigmoid")
    net.add_edge(source="lif", target="output", weights=rng.standard_normal((N, k)))
    return net


# ---- in-process figures ----------------------------------------------------------------------
def fig_seed(quick: bool) -> list[Row]:
    N, T = 5, 100_000
    net = rate_net(N)
    x = np.random.default_rng(1).standard_normal((T, N))
    net.run(x[:10], verbose=False)  # compile / load from cache
    t_step = best(lambda: net.run(x, verbose=False), repeat=3 if quick else 5) / T
    # reference: the same Euler step written as a numpy loop (per step; 20k steps)
    J = net.get_var("tanh", "weights")
    tau, k, eta = 10.0, 1.0, 0.0
    Tr = 5_000 if quick else 20_000

    def numpy_loop():
        v = np.zeros(N)
        out = np.empty((Tr, N))
        for s in range(Tr):
            out[s] = v
            v = v + 1e-3 * (x[s] + eta + k * (J @ np.tanh(v)) - v / tau)

    t_np = best(numpy_loop, repeat=3) / Tr
    t_fwd = best(lambda: net.forward(x[0]), repeat=3, number=200)
    us = 1e6
    return [
        Row("seed rate net N=5, 100k steps", f"{t_step * us:.3f} us/step",
            f"numpy loop {t_np * us:.2f} us/step", t_step / t_np, "<= 0.3 us/step",
            t_step * us <= 0.3),
        Row("  same vs RectiPy 0.11 (quoted)", f"{t_step * us:.3f} us/step", "134 us/step",
            t_step * us / 134.0, "ratio <= 0.0022", t_step * us <= 0.3),
        Row("  forward() per call, N=5", f"{t_fwd * us:.1f} us/call",
            f"numpy loop {t_np * us:.2f} us/step", t_fwd / t_np, "(info)", True),
    ]


def fig_dense(quick: bool) -> list[Row]:
    N = 2000
    T = 100 if quick else 300
    net = rate_net(N, seed=2)
    x = np.random.default_rng(3).standard_normal((T, N)) * 0.1
    net.run(x[:2], verbose=False, record_output=False)
    t_step = best(lambda: net.run(x, verbose=False, record_output=False),
                  repeat=3 if quick else 5) / T
    J = np.ascontiguousarray(net.get_var("tanh", "weights"))
    v = np.random.default_rng(4).standard_normal(N)
    t_mv = best(lambda: J @ v, repeat=5, number=20)
    rows = [Row(f"dense tanh N={N}, step (J rows on {_threads()} threads)",
                f"{t_step * 1e6:.0f} us/step", f"numpy J@x {t_mv * 1e6:.0f} us", t_step / t_mv,
                "<= 1.3", t_step / t_mv <= 1.3)]
    try:  # the same with one thread on both sides (informative: what the loop itself costs)
        import numba
        from threadpoolctl import threadpool_limits
    except ImportError:
        return rows
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1):
            t1 = best(lambda: net.run(x, verbose=False, record_output=False), repeat=3) / T
            t_mv1 = best(lambda: J @ v, repeat=5, number=20)
    finally:
        numba.set_num_threads(threads)
    rows.append(Row("  same, 1 thread each", f"{t1 * 1e6:.0f} us/step",
                    f"numpy J@x {t_mv1 * 1e6:.0f} us", t1 / t_mv1, "(info)", True))
    return rows


def _threads() -> int:
    import numba

    return numba.get_num_threads()


def sparse_lif_net(N: int, p: float, seed: int = 5):
    import scipy.sparse as sp

    from rectinumba import Network

    rng = np.random.default_rng(seed)
    J = sp.random(N, N, density=p, format="csr", random_state=seed, dtype=np.float64)
    J.data = rng.standard_normal(J.nnz) * 0.5
    net = Network(1e-3)
    net.add_diffeq_node("lif", LIF, weights=J, source_var="s", target_var="s_in",
                        input_var="I_ext", output_var="s", op="lif_op", spike_var="spike",
                        spike_def="v", spike_threshold=1.0, spike_reset=0.0, sparse=True)
    return net, J


def fig_sparse(quick: bool) -> list[Row]:
    N, p = 10_000, 0.02
    T = 50 if quick else 200
    net, J = sparse_lif_net(N, p)
    x = 0.5 + np.random.default_rng(6).random((T, N))
    net.run(x[:2], verbose=False, record_output=False)
    t_step = best(lambda: net.run(x, verbose=False, record_output=False),
                  repeat=3 if quick else 5) / T
    s = np.random.default_rng(7).random(N)
    t_mv = best(lambda: J @ s, repeat=5, number=10)
    return [Row(f"sparse LIF N={N} p={p}, step", f"{t_step * 1e6:.0f} us/step",
                f"scipy CSR J@x {t_mv * 1e6:.0f} us", t_step / t_mv, "<= 1.5",
                t_step / t_mv <= 1.5)]


# ---- event-driven spiking networks (issue 15) ------------------------------------------------
BRIAN2_US = 742.0  # Brian2 2.9 (cython), the issue's LIF network, event-driven; quoted


def issue_lif(N: int, p: float, propagation: str = "auto", seed: int = 5, dense: bool = False):
    """The issue's network: LIF, scipy.sparse J (p, weights N(0, 0.2^2)), dt 1e-2, k 10, tau 5,
    eta -0.5, tau_s 10, thresholds 100/-100 (the defaults); about 10 spikes per step under an
    input of 20 + 30 randn per neuron and step."""
    import scipy.sparse as sp

    from rectinumba import Network

    rng = np.random.default_rng(seed)
    J = sp.random(N, N, density=p, format="csr", random_state=seed, dtype=np.float64)
    J.data = rng.standard_normal(J.nnz) * 0.2
    net = Network(1e-2)
    net.add_diffeq_node("lif", LIF, weights=J.toarray() if dense else J, source_var="s",
                        target_var="s_in", input_var="I_ext", output_var="s", op="lif_op",
                        spike_var="spike", spike_def="v", propagation=propagation,
                        sparse=not dense,
                        node_vars={"k": 10, "tau": 5, "eta": -0.5, "tau_s": 10,
                                   "v": rng.uniform(-100, 100, N)})
    return net, J


def regular_lif(N: int, J, propagation: str = "auto", rate: float = 0.01, seed: int = 6):
    """LIF neurons (threshold 1, reset 0, tau 5, dt 1e-2) firing regularly at ``rate`` spikes per
    neuron and step (uniform phases), weakly coupled by J; the input is constant."""
    from rectinumba import Network

    period = 1.0 / rate * 1e-2  # time between spikes of one neuron
    drive = 1.0 / (5.0 * (1.0 - np.exp(-period / 5.0)))  # v reaches 1 after one period
    net = Network(1e-2)
    net.add_diffeq_node("lif", LIF, weights=J, source_var="s", target_var="s_in",
                        input_var="I_ext", output_var="s", op="lif_op", spike_var="spike",
                        spike_def="v", spike_threshold=1.0, spike_reset=0.0,
                        propagation=propagation,
                        node_vars={"tau": 5.0, "k": 1.0, "tau_s": 2.0,
                                   "v": np.random.default_rng(seed).uniform(0, 1, J.shape[0])})
    return net, drive


def _step_time(net, x, repeat: int) -> float:
    """Median seconds per step of ``net.run(x)`` (compiled and warmed up first)."""
    net.run(x[:32], verbose=False, record_output=False)  # compile; weights by columns once
    return median(lambda: net.run(x, verbose=False, record_output=False), repeat) / x.shape[0]


def _spikes_per_step(net, x, reset: float) -> float:
    obs = net.run(x, verbose=False, record_output=False, record_vars=[("lif", "v")])
    return float((obs[("lif", "v")] == reset).sum(axis=-1).mean())


def fig_events(quick: bool) -> list[Row]:
    from rectinumba import propagation

    rows = []
    repeat = 3 if quick else 5
    us = 1e6
    # the issue's network: event-driven, the matvec forced, scipy's product of the same J
    N, p = 10_000, 0.02
    rng = np.random.default_rng(7)
    T_ev, T_mv = (400, 60) if quick else (2000, 200)
    x = 20.0 + 30.0 * rng.standard_normal((T_ev, N))
    ev, J = issue_lif(N, p)
    mv, _ = issue_lif(N, p, "matvec")
    chosen = sorted(propagation.choose(ev._runner, T_ev))
    s = rng.random(N)
    t_sp = median(lambda: J @ s, repeat=7, number=10)
    t_ev = _step_time(ev, x, repeat)
    l_ev = load()
    t_mv = _step_time(mv, x[:T_mv], repeat)
    l_mv = load()
    spk = _spikes_per_step(ev, x[:300], -100.0)
    ref = f"scipy CSR J@s {t_sp * us:.0f} us"
    rows += [
        Row(f"LIF N={N} p={p} ({spk:.0f} spikes/step), event-driven", f"{t_ev * us:.0f} us/step",
            ref, t_ev / t_sp, "<= 0.05 x scipy", t_ev / t_sp <= 0.05, l_ev),
        Row("  same vs Brian2 2.9 (quoted)", f"{t_ev * us:.0f} us/step", f"{BRIAN2_US:.0f} us/step",
            t_ev * us / BRIAN2_US, "<= 0.2 (5x faster)", t_ev * us <= BRIAN2_US / 5, l_ev),
        Row("  same, propagation='matvec'", f"{t_mv * us:.0f} us/step", ref, t_mv / t_sp,
            "<= 1.2 x scipy", t_mv / t_sp <= 1.2, l_mv),
        Row("  what auto chooses", ", ".join("/".join(map(str, c)) for c in chosen) or "matvec",
            "-", float("nan"), "event", chosen == [("J", "lif")], None),
    ]
    # N = 100000, p = 0.002, 1 % spiking: time and memory (a child process: its own peak RSS)
    rows += _fig_events_large(quick)
    # dense J, N = 2000: event-driven vs the dense product, and the automatic choice
    N = 2000
    Jd = np.random.default_rng(8).standard_normal((N, N)) * 0.02
    T = 300 if quick else 1000
    times, loads = {}, {}
    for mode in ("event", "matvec"):
        net, drive = regular_lif(N, Jd, mode)
        times[mode] = _step_time(net, np.full((T, N), drive), repeat)
        loads[mode] = load()
    auto_net, drive = regular_lif(N, Jd)
    auto = "event" if propagation.choose(auto_net._runner, T) else "matvec"
    spk = _spikes_per_step(auto_net, np.full((300, N), drive), 0.0)
    faster = min(times, key=times.get)
    rows += [
        Row(f"dense LIF N={N} ({spk:.0f} spikes/step), event-driven",
            f"{times['event'] * us:.0f} us/step",
            f"dense matvec {times['matvec'] * us:.0f} us/step",
            times["event"] / times["matvec"], "(report)", True, loads["event"]),
        Row("  auto chooses", auto, f"faster: {faster}", float("nan"), "the faster",
            auto == faster, loads["matvec"]),
    ]
    # where events start to pay off: CSR, N = 4000, 1 % spiking, weights per row 8 .. 64
    import scipy.sparse as sp

    N, T = 4000, 300 if quick else 1000
    for fanin in (8, 16, 32, 64):
        Jc = sp.random(N, N, density=fanin / N, format="csr", random_state=fanin) * 0.01
        t = {}
        for mode in ("event", "matvec"):
            net, drive = regular_lif(N, Jc, mode)
            t[mode] = _step_time(net, np.full((T, N), drive), repeat)
        auto = "event" if fanin >= propagation.EVENT_MIN_FANIN else "matvec"
        rows.append(Row(f"  CSR N={N}, {fanin} weights/row, 1 % spiking: event vs matvec",
                        f"{t['event'] * us:.1f} vs {t['matvec'] * us:.1f} us/step", "matvec",
                        t["event"] / t["matvec"], f"(info; auto: {auto})", True, load()))
    return rows


_LARGE = """
import json, sys, time
import numpy as np
import scipy.sparse as sp
sys.path.insert(0, {bench!r})
from cpu_bench import regular_lif, median


def _status(key):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith(key)) / 1024


N, fanin, T, repeat = 100_000, 200, {T}, {repeat}  # p = 0.002
base = _status("VmRSS")
rng = np.random.default_rng(2)
cols = np.sort(rng.integers(0, N, size=(N, fanin), dtype=np.int32), axis=1).ravel()
J = sp.csr_matrix((rng.standard_normal(N * fanin) * 0.01, cols,
                   np.arange(0, N * fanin + 1, fanin)), shape=(N, N))
out = {{"nnz": J.nnz, "J_mb": (J.data.nbytes + J.indices.nbytes + J.indptr.nbytes) / 2**20}}
s = rng.random(N)
out["scipy_s"] = median(lambda: J @ s, repeat=5, number=2)
x = np.empty((T, N))
for rate in (0.01, 0.001):
    net, drive = regular_lif(N, J, "event", rate=rate)
    x[:] = drive
    net.run(x[:32], verbose=False, record_output=False)
    if rate == 0.01:
        out["built_mb"] = _status("VmRSS") - base
    # per step: the difference of two run lengths (each call first computes U = J @ s)
    short = median(lambda: net.run(x[: T // 5], verbose=False, record_output=False), repeat)
    full = median(lambda: net.run(x, verbose=False, record_output=False), repeat)
    out[f"event_s_{{rate}}"] = (full - short) / (T - T // 5)
    out[f"call_s_{{rate}}"] = full - T * out[f"event_s_{{rate}}"]
    obs = net.run(x[:100], verbose=False, record_output=False, record_vars=[("lif", "v")])
    out[f"spikes_{{rate}}"] = float((obs[("lif", "v")] == 0.0).sum(axis=1).mean())
    del net, obs
out["peak_mb"] = _status("VmHWM") - base
out["input_mb"] = x.nbytes / 2**20
print(json.dumps(out))
"""


def _fig_events_large(quick: bool) -> list[Row]:
    T = 100 if quick else 250
    code = _LARGE.format(bench=os.path.dirname(os.path.abspath(__file__)), T=T,
                         repeat=3 if quick else 5)
    r = _child(code)
    us, ms, load_now = 1e6, 1e3, load()
    rows = []
    for rate in (0.01, 0.001):
        t = r[f"event_s_{rate}"]
        rows.append(Row(f"LIF N=100000 p=0.002 ({r['nnz'] / 1e6:.0f}M synapses), "
                        f"{r[f'spikes_{rate}']:.0f} spikes/step, event-driven",
                        f"{t * us:.0f} us/step (+{r[f'call_s_{rate}'] * ms:.0f} ms/call)",
                        f"scipy CSR J@s {r['scipy_s'] * us:.0f} us", t / r["scipy_s"],
                        "(report)", True, load_now))
    rows.append(Row("  memory: J (scipy CSR) / process after build / peak",
                    f"{r['J_mb']:.0f} / {r['built_mb']:.0f} / {r['peak_mb']:.0f} MB",
                    f"input {r['input_mb']:.0f} MB", float("nan"), "(report)", True, load_now))
    return rows


def fig_build(quick: bool) -> list[Row]:
    from rectinumba import Network

    sizes = (1000, 2500) if quick else (1000, 2500, 5000)
    Network(1e-3).add_diffeq_node("w", SEED_RATE, N=2, input_var="li_op/I_ext",
                                  output_var="li_op/v")  # template parse + compile, once
    rows, times = [], {}
    for N in sizes:
        J = np.random.default_rng(N).standard_normal((N, N))

        def build(N=N, J=J):
            rate_net(N, J=J)

        times[N] = best(build, repeat=2 if N >= 5000 else 3)
        t_copy = best(lambda J=J: np.array(J, copy=True), repeat=3)
        goal_ok = times[N] <= 1.0
        rows.append(Row(f"add_diffeq_node dense N={N}", f"{times[N] * 1e3:.0f} ms",
                        f"copy of J {t_copy * 1e3:.0f} ms", times[N] / t_copy,
                        "<= 1 s" if N == 5000 else "(linearity)", goal_ok))
    n0, n1 = sizes[0], sizes[-1]
    scale = times[n1] / times[n0]
    rows.append(Row(f"  build time ratio N={n1} / N={n0}", f"{scale:.1f}x",
                    f"J size ratio {(n1 / n0) ** 2:.1f}x", scale / (n1 / n0) ** 2,
                    "<= 1 (linear in J entries)", scale <= 1.2 * (n1 / n0) ** 2))
    return rows


# ---- subprocess figures ----------------------------------------------------------------------
def _child(code: str, env: dict | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env or os.environ.copy(), cwd=ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


_IMPORT = """
import json, sys, time
t = time.perf_counter()
import {mod}
dt = time.perf_counter() - t
print(json.dumps({{"t": dt, "numba": "numba" in sys.modules, "sympy": "sympy" in sys.modules}}))
"""


def fig_import(quick: bool) -> list[Row]:
    runs = [_child(_IMPORT.format(mod="rectinumba")) for _ in range(3)]
    t = min(r["t"] for r in runs)
    heavy = any(r["numba"] or r["sympy"] for r in runs)
    t_np = min(_child(_IMPORT.format(mod="numpy"))["t"] for _ in range(3))
    return [Row("import rectinumba (subprocess)", f"{t * 1e3:.0f} ms"
                + (" (numba/sympy loaded!)" if heavy else ", no numba/sympy"),
                f"import numpy {t_np * 1e3:.0f} ms", t / t_np, "<= 250 ms",
                t <= 0.25 and not heavy)]


_START = """
import json, time
t0 = time.perf_counter()
import numpy as np
import sys
sys.path.insert(0, {bench!r})
from cpu_bench import seed_lif_net
net = seed_lif_net()
t1 = time.perf_counter()
obs = net.run(np.random.default_rng(0).standard_normal((1000, 3)), verbose=False)
t2 = time.perf_counter()
print(json.dumps({{"total": t2 - t0, "build": t1 - t0, "run": t2 - t1}}))
"""

_BARE = """
import json, time
t0 = time.perf_counter()
import numpy, scipy.sparse
print(json.dumps({"total": time.perf_counter() - t0}))
"""


def fig_start(quick: bool) -> list[Row]:
    code = _START.format(bench=os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="rn_bench_cache_") as fresh:
        env = dict(os.environ, RECTINUMBA_CACHE_DIR=fresh)
        cold = _child(code, env)
        warm = min((_child(code, env) for _ in range(2 if quick else 3)), key=lambda r: r["total"])
    bare = min(_child(_BARE)["total"] for _ in range(3))
    return [
        Row("warm start: build + cached kernel + 1000 steps", f"{warm['total']:.2f} s",
            f"import numpy+scipy {bare * 1e3:.0f} ms", warm["total"] / bare,
            "<= 2 s (RectiPy 5.5 s)",
            warm["total"] <= 2.0),
        Row("  cold start (fresh RECTINUMBA_CACHE_DIR)", f"{cold['total']:.2f} s",
            f"import numpy+scipy {bare * 1e3:.0f} ms", cold["total"] / bare, "(report)", True),
    ]


def fig_batch(quick: bool) -> list[Row]:
    import numba

    B, N = 32, 200
    T = 300 if quick else 1000
    net = rate_net(N, seed=8)
    x = np.random.default_rng(9).standard_normal((B, T, N)) * 0.1
    net.run(x[0, :2], verbose=False)  # compile the sequential kernel
    net.reset()
    net.run(x[:, :2], verbose=False)  # compile the batched (parallel) kernel
    net.reset()

    def sequential():
        for b in range(B):
            net.reset()
            net.run(x[b], verbose=False)

    def batched():
        net.reset()
        net.run(x, verbose=False)

    t_seq = best(sequential, repeat=3)
    t_bat = best(batched, repeat=3)
    speed = t_seq / t_bat
    threads = numba.get_num_threads()
    control = _parallel_control(threads)
    return [Row(f"batch B={B} N={N} throughput ({threads} threads)",
                f"{t_bat * 1e3:.0f} ms", f"{B} sequential runs {t_seq * 1e3:.0f} ms", speed,
                ">= 1.6x", speed >= 1.6),
            Row("  control: trivial prange loop, all threads vs 1", f"{control:.2f}x", "1 thread",
                control, "(free cores?)", True)]


def _parallel_control(threads: int) -> float:
    """Speed-up of an embarrassingly parallel numba loop: what the machine offers right now."""
    import numba

    @numba.njit(parallel=True)
    def work(out):
        for b in numba.prange(out.shape[0]):
            s = 0.0
            for i in range(300_000):
                s += np.sin(i * 1e-3 + b)
            out[b] = s

    out = np.zeros(32)
    work(out)
    numba.set_num_threads(1)
    try:
        t1 = best(lambda: work(out), repeat=3)
    finally:
        numba.set_num_threads(threads)
    return t1 / best(lambda: work(out), repeat=3)


_MEMORY = """
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {bench!r})
from cpu_bench import seed_lif_net


def _hwm():
    # VmHWM: this process's own peak (ru_maxrss of a child can carry the forking parent's size)
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


net = seed_lif_net()
net.run(np.zeros((10, 3)), verbose=False)
base = _hwm()
x = np.broadcast_to(np.full(3, 50.0), ({T}, 3))  # constant input: a view, no T x 3 array
t = time.perf_counter()
obs = net.run(x, sampling_steps=1000, verbose=False)
dt = time.perf_counter() - t
peak = _hwm()
print(json.dumps({{"base": base, "peak": peak, "t": dt, "n": len(obs["out"])}}))
"""


def fig_memory(quick: bool) -> list[Row]:
    T = 1_000_000 if quick else 10_000_000
    code = _MEMORY.format(bench=os.path.dirname(os.path.abspath(__file__)), T=T)
    cold = _child(code)  # may compile (sympy + LLVM code generation in the process)
    r = _child(code)  # kernel, model and kernel index cached: the production case
    assert r["n"] == T // 1000
    return [Row(f"peak RSS, {T:.0e} steps, sampling 1000", f"{r['peak']:.0f} MB",
                f"after build+load {r['base']:.0f} MB", r["peak"] / r["base"], "<= 200 MB",
                r["peak"] <= 200),
            Row("  same, first process (compiles the kernel)", f"{cold['peak']:.0f} MB",
                f"after compile {cold['base']:.0f} MB", cold["peak"] / cold["base"], "(report)",
                True),
            Row("  (same run: time per step)", f"{r['t'] / T * 1e6:.3f} us/step", "-",
                float("nan"), "(info)", True)]


def _population(equation: str, variables: dict, N: int, **kwargs):
    """One uncoupled diff-eq node of N neurons driven by the network input."""
    from rectinumba import Network
    from rectinumba.templates import NodeTemplate, OperatorTemplate

    op = OperatorTemplate("bench_op", equations=[equation],
                          variables={"x": "output(0.1)", "I": "input(0.0)", **variables})
    net = Network(1e-2, seed=1)
    net.add_diffeq_node("pop", NodeTemplate("bench", operators=[op]), N=N, input_var="I",
                        output_var="x", **kwargs)
    return net


def _per_step(net, x, quick: bool) -> float:
    net.run(x[:10], verbose=False, record_output=False)  # compile / load from cache
    return best(lambda: net.run(x, verbose=False, record_output=False),
                repeat=3 if quick else 5) / x.shape[0]


def fig_delay(quick: bool) -> list[Row]:
    """Delays: past(x, d) in an uncoupled population, and delayed dense edges."""
    from rectinumba import Network

    N, T = 1000, 2_000 if quick else 10_000
    rng = np.random.default_rng(3)
    x = rng.standard_normal((T, N))
    plain = _population("x' = -x/tau + k*x + I", {"tau": 1.0, "k": -0.5}, N)
    d = rng.uniform(0.0, 0.5, N)  # up to 50 steps, one delay per neuron
    delayed = _population("x' = -x/tau + k*x(t - d) + I", {"tau": 1.0, "k": -0.5, "d": 0.5}, N,
                          node_vars={"d": d})
    t0, t1 = _per_step(plain, x, quick), _per_step(delayed, x, quick)
    rows = [Row(f"past(x, d): N={N}, d per neuron (<= 50 steps)", f"{t1 * 1e6:.2f} us/step",
                f"x' = ... k*x: {t0 * 1e6:.2f} us/step", t1 / t0, "(report)", True)]
    n = 200
    W = rng.standard_normal((n, n)) / np.sqrt(n)
    xin = rng.standard_normal((T, n))

    def edge_net(**delay):
        net = Network(1e-2)
        net.add_func_node("inp", n)
        net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op", N=n,
                            input_var="I_ext", output_var="v")
        net.add_edge("inp", "li", weights=W, **delay)
        return net

    te = _per_step(edge_net(), xin, quick)
    for what, kw in (("one delay", {"delay_steps": 20}),
                     ("per target", {"delay_steps": rng.integers(0, 40, n)}),
                     ("per connection", {"delay_steps": rng.integers(0, 40, (n, n))})):
        t = _per_step(edge_net(**kw), xin, quick)
        rows.append(Row(f"dense edge {n}x{n}, {what}", f"{t * 1e6:.2f} us/step",
                        f"undelayed edge {te * 1e6:.2f} us/step", t / te, "(report)", True))
    return rows


def fig_noise(quick: bool) -> list[Row]:
    """White noise (Euler-Maruyama, Philox normals) vs the same drift without noise."""
    N, T = 1000, 2_000 if quick else 10_000
    x = np.zeros((T, N))
    v = {"tau": 0.1, "mu": 1.0, "sigma": 1.0}  # mu != 0: no denormals in the drift-only run
    plain = _population("x' = (mu - x)/tau + I", v, N)
    noisy = _population("x' = (mu - x)/tau + sigma*sqrt(2/tau)*xi + I", v, N)
    two = _population("x' = (mu - x)/tau + sigma*(xi + xi_2) + I", v, N)
    t0, t1, t2 = (_per_step(net, x, quick) for net in (plain, noisy, two))
    ref = f"drift only {t0 * 1e6:.2f} us/step"
    per = 1e9 / N
    return [
        Row(f"OU process, N={N}, one noise", f"{t1 * 1e6:.2f} us/step ({t1 * per:.1f} ns/neuron)",
            ref, t1 / t0, "(report)", True),
        Row("  two noises (one draw call)", f"{t2 * 1e6:.2f} us/step", ref, t2 / t0, "(report)",
            True),
    ]


FIGURES = {
    "seed": fig_seed,
    "dense": fig_dense,
    "sparse": fig_sparse,
    "build": fig_build,
    "import": fig_import,
    "start": fig_start,
    "batch": fig_batch,
    "memory": fig_memory,
    "delay": fig_delay,
    "noise": fig_noise,
    "events": fig_events,
}


def blas_kernel() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    info = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
            f"{i.get('num_threads')} threads)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(info) or "no BLAS found"


def print_table(rows: list[Row]) -> None:
    head = ("figure", "value", "reference (same run)", "ratio", "goal", "met", "load")
    table = [head] + [(r.figure, r.value, r.reference,
                       "-" if r.ratio != r.ratio else f"{r.ratio:.3g}", r.goal,
                       "yes" if r.ok else "NO", "-" if r.load is None else f"{r.load:.2f}")
                      for r in rows]
    widths = [max(len(row[c]) for row in table) for c in range(len(head))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help=f"comma list of {','.join(FIGURES)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(FIGURES)
    unknown = set(names) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figure(s) {sorted(unknown)}; choose from {list(FIGURES)}")
    import numba

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, numba {numba.__version__}, "
          f"{os.cpu_count()} CPUs, numba threads {numba.get_num_threads()}, BLAS: {blas_kernel()}")
    print(f"RECTINUMBA_CACHE_DIR={os.environ.get('RECTINUMBA_CACHE_DIR', '(default)')}"
          + ("  [quick]" if args.quick else ""))
    rows: list[Row] = []
    for name in names:
        rows.extend(FIGURES[name](args.quick))
    print_table(rows)
    return 0


if __name__ == "__main__":
    stripped = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    if stripped:  # re-execute without them: they can pick a slow BLAS kernel for the reference
        env = {k: v for k, v in os.environ.items() if k not in stripped}
        print(f"(re-executing without {', '.join(stripped)})", flush=True)
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    sys.exit(main())
