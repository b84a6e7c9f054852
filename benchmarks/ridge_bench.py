"""fit_ridge: fit time against ReservoirPy 0.4's Ridge, and peak memory against T.

Both libraries get the same reservoir size, the same (sparse) recurrent matrix and input weights,
and the same input/target series (a noisy sine and its value ``shift`` steps ahead). The models
differ slightly (rectinumba: Euler step of ``v' = -v/tau + J tanh(v) + W_in u``; ReservoirPy: leaky
``x <- (1-lr) x + lr tanh(W x + W_in u)`` with lr = dt/tau), which costs the same per step.

Measured (best of ``--repeat`` runs, after a warm-up that compiles rectinumba's kernel):

- rectinumba ``run`` (simulation only) and ``fit_ridge`` (simulation + X^T X / X^T Y accumulated
  in the kernel + solve);
- ReservoirPy ``(reservoir >> Ridge).fit`` (simulation + readout), and ``Ridge.fit`` alone on
  states computed beforehand;
- tracemalloc peak of rectinumba's fit_ridge at T = 1e4 and 1e6 (``--mem-units`` units), beyond
  the input and target arrays.

ReservoirPy runs in its own virtual environment (``--rpy-python``, default
/work/venv_rpy/bin/python; create it with ``python3 -m venv /work/venv_rpy && /work/venv_rpy/bin/pip
install "reservoirpy==0.4.*" numpy scipy``); it is never a dependency of rectinumba. Without that
interpreter the script prints "not installed" for the ReservoirPy rows.

BLAS runs single-threaded in both processes unless OPENBLAS_NUM_THREADS etc. are set.

Usage: python benchmarks/ridge_bench.py [--units 500] [--steps 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

# one BLAS thread in both processes (set before numpy loads; override from the environment):
# busy-waiting BLAS threads on a shared 2-core machine made small products 10x slower
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
DT, TAU, ALPHA, WARMUP = 0.1, 1.0, 1e-6, 100

RPY_SCRIPT = r"""
import json, sys, time, tracemalloc
import numpy as np
import reservoirpy as rpy
from reservoirpy.nodes import Reservoir, Ridge

d = np.load(sys.argv[1])
repeat, lr, alpha, warm = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
J, W_in, x, y = d["J"], d["W_in"], d["x"], d["y"]


def model():
    res = Reservoir(units=J.shape[0], lr=lr, W=J, Win=W_in, bias=0.0)
    return res, res >> Ridge(ridge=alpha, fit_bias=False)


best_fit, best_ridge = np.inf, np.inf
for _ in range(repeat):
    res, esn = model()
    t0 = time.perf_counter()
    esn.fit(x, y, warmup=warm)
    best_fit = min(best_fit, time.perf_counter() - t0)
    states = model()[0].run(x)
    t0 = time.perf_counter()
    Ridge(ridge=alpha, fit_bias=False).fit(states[warm:], y[warm:])
    best_ridge = min(best_ridge, time.perf_counter() - t0)
res, esn = model()
tracemalloc.start()
esn.fit(x, y, warmup=warm)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
out = {"version": rpy.__version__, "fit": best_fit, "ridge_only": best_ridge, "peak": peak}
print(json.dumps(out))
"""


def make_data(N: int, T: int, seed: int = 0):
    """Sparse (10%) recurrent matrix with spectral radius 0.9, dense input weights, series."""
    rng = np.random.default_rng(seed)
    J = rng.standard_normal((N, N)) * (rng.random((N, N)) < 0.1)
    J *= 0.9 / np.max(np.abs(np.linalg.eigvals(J)))
    W_in = rng.uniform(-1.0, 1.0, (N, 1))
    t = np.arange(T + 10) * DT
    s = np.sin(2 * np.pi * t / 10.0) + 0.05 * rng.standard_normal(t.size)
    return J, W_in, s[:T, None].copy(), s[10:, None].copy()  # target: 10 steps ahead


def rectinumba_net(J, W_in):
    from rectinumba import Network

    net = Network(DT)
    net.add_diffeq_node(
        "rnn",
        LI_TANH,
        weights=J,
        source_var="tanh_op/r",
        target_var="li_op/r_in",
        input_var="li_op/I_ext",
        output_var="tanh_op/r",
        node_vars={"tau": TAU},
    )
    net.add_func_node("inp", 1)
    net.add_edge("inp", "rnn", weights=W_in)
    return net


def bench_rectinumba(J, W_in, x, y, repeat: int) -> dict:
    net = rectinumba_net(J, W_in)
    t0 = time.perf_counter()
    net.fit_ridge(x[:300], y[:300], alpha=ALPHA, verbose=False, add_readout_node=False)
    net.run(x[:300], verbose=False, record_output=False)
    compile_s = time.perf_counter() - t0
    fit = run = np.inf
    for _ in range(repeat):
        net.reset()
        t0 = time.perf_counter()
        net.run(x, verbose=False, record_output=False)
        run = min(run, time.perf_counter() - t0)
        net.reset()
        t0 = time.perf_counter()
        net.fit_ridge(x, y, alpha=ALPHA, cutoff=WARMUP, verbose=False, add_readout_node=False)
        fit = min(fit, time.perf_counter() - t0)
    net.reset()
    tracemalloc.start()
    net.fit_ridge(x, y, alpha=ALPHA, cutoff=WARMUP, verbose=False, add_readout_node=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"compile": compile_s, "run": run, "fit": fit, "peak": peak}


def bench_reservoirpy(J, W_in, x, y, repeat: int, python: str) -> dict | None:
    if not Path(python).exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.npz")
        np.savez(data, J=J, W_in=W_in, x=x, y=y)
        proc = subprocess.run(
            [python, "-c", RPY_SCRIPT, data, str(repeat), str(DT / TAU), str(ALPHA), str(WARMUP)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory_vs_T(N: int) -> list[tuple[int, int, float]]:
    """(T, tracemalloc peak of fit_ridge beyond inputs/targets, seconds) for T = 1e4 and 1e6."""
    rows = []
    for T in (10_000, 1_000_000):
        J, W_in, x, y = make_data(N, T, seed=1)
        net = rectinumba_net(J, W_in)
        net.fit_ridge(x[:300], y[:300], verbose=False, add_readout_node=False)  # compile
        net.reset()
        tracemalloc.start()
        t0 = time.perf_counter()
        net.fit_ridge(x, y, alpha=ALPHA, verbose=False, add_readout_node=False)
        sec = time.perf_counter() - t0
        rows.append((T, tracemalloc.get_traced_memory()[1], sec))
        tracemalloc.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=500)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mem-units", type=int, default=100)
    ap.add_argument("--no-memory", action="store_true", help="skip the T = 1e4 vs 1e6 memory run")
    ap.add_argument("--rpy-python", default="/work/venv_rpy/bin/python")
    args = ap.parse_args()

    J, W_in, x, y = make_data(args.units, args.steps)
    print(
        f"reservoir N={args.units}, T={args.steps} steps, 1 input, 1 target, "
        f"10% recurrent density, alpha={ALPHA}, warmup={WARMUP}"
    )
    r = bench_rectinumba(J, W_in, x, y, args.repeat)
    print(f"rectinumba  compile+warm-up {r['compile']:8.3f} s")
    print(f"rectinumba  run (sim only)  {r['run']:8.3f} s")
    print(f"rectinumba  fit_ridge       {r['fit']:8.3f} s   peak {r['peak'] / 2**20:8.2f} MiB")
    p = bench_reservoirpy(J, W_in, x, y, args.repeat, args.rpy_python)
    if p is None:
        print("reservoirpy not installed (or failed); see the docstring for the separate venv")
    else:
        peak = p["peak"] / 2**20
        print(f"reservoirpy {p['version']} esn.fit   {p['fit']:8.3f} s   peak {peak:8.2f} MiB")
        print(f"reservoirpy Ridge.fit only   {p['ridge_only']:8.3f} s (states given)")
        print(f"ratio fit time reservoirpy / rectinumba: {p['fit'] / r['fit']:.2f}")
    if not args.no_memory:
        print(f"fit_ridge peak memory vs T (N={args.mem_units}, tracemalloc, inputs excluded):")
        for T, peak, sec in memory_vs_T(args.mem_units):
            print(f"  T={T:>9d}  peak {peak / 2**20:8.3f} MiB  time {sec:7.2f} s")


if __name__ == "__main__":
    main()
