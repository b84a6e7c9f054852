"""BPTT benchmark: time per epoch (N=100, T=1000) against RectiPy, and peak memory at T=1e5.

Usage::

    python benchmarks/bptt_bench.py                  # everything
    python benchmarks/bptt_bench.py --skip-memory    # timing only
    python benchmarks/bptt_bench.py --rectipy-python /work/venv_rectipy/bin/python

Network (both libraries): an identity input node (m=2) -> trained edge -> N leaky-integrator tanh
neurons (``li_op/v`` output, J trained, dense) -> trained edge -> identity output (k=2), dt=1e-2.
One epoch = ``fit_bptt(x, y, update_steps=T)`` on a (T, 2) input: forward through T steps,
backward through T steps, one sgd step. RectiPy (torch autograd) runs in its own virtual
environment through a subprocess; the network and data are handed over in an .npz file.

Memory: each configuration runs in a fresh subprocess; reported are tracemalloc's peak (numpy
arrays register with it) and the process's peak RSS (includes numba/LLVM, ~0.2 GB baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"


def make_data(N: int, T: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "J": rng.standard_normal((N, N)) / np.sqrt(N),
        "W_in": rng.standard_normal((N, 2)),
        "W_out": rng.standard_normal((2, N)) / np.sqrt(N),
        "x": rng.standard_normal((T, 2)),
        "y": np.sin(np.arange(T)[:, None] * 0.01 * np.array([1.0, 2.0])),
    }


def build_rectinumba(d: dict):
    from rectinumba import Network

    net = Network(1e-2)
    net.add_diffeq_node(
        "rnn",
        LI_TANH,
        weights=d["J"],
        source_var="tanh_op/r",
        target_var="li_op/r_in",
        input_var="li_op/I_ext",
        output_var="li_op/v",
        train_params=["weights"],
    )
    net.add_func_node("inp", 2, "identity")
    net.add_func_node("out", 2, "identity")
    net.add_edge("inp", "rnn", weights=d["W_in"], train="gd")
    net.add_edge("rnn", "out", weights=d["W_out"], train="gd")
    return net


def time_rectinumba(N: int, T: int, reps: int) -> dict:
    d = make_data(N, T)
    net = build_rectinumba(d)
    t0 = time.perf_counter()
    net.fit_bptt(d["x"], d["y"], update_steps=T, lr=1e-3, verbose=False)  # compile / load cache
    first = time.perf_counter() - t0
    times = []
    for _ in range(reps):
        net.reset()
        t0 = time.perf_counter()
        net.fit_bptt(d["x"], d["y"], update_steps=T, lr=1e-3, verbose=False)
        times.append(time.perf_counter() - t0)
    # the floor a step cannot avoid: forward + backward dense matvec (numpy)
    J, v = d["J"], np.zeros(N)
    t0 = time.perf_counter()
    for _ in range(T):
        v = np.tanh(J @ v + 1e-3)
        v = np.tanh(J.T @ v)
    floor = time.perf_counter() - t0
    return {
        "first_call_s": first,
        "epoch_s": float(np.median(times)),
        "numpy_matvec_floor_s": floor,
    }


RECTIPY_SCRIPT = r"""
import json, sys, time
import numpy as np
import torch
from rectipy import Network
d = np.load(sys.argv[1])
reps = int(sys.argv[2])
torch.set_num_threads(int(sys.argv[3]))
T = d["x"].shape[0]
def build():
    net = Network(dt=1e-2, device="cpu")
    net.add_diffeq_node("rnn", "neuron_model_templates.rate_neurons.leaky_integrator.tanh",
                        weights=d["J"], source_var="tanh_op/r", target_var="li_op/r_in",
                        input_var="li_op/I_ext", output_var="li_op/v", train_params=["weights"],
                        clear=True, verbose=False)
    net.add_func_node("inp", 2, activation_function="identity")
    net.add_func_node("out", 2, activation_function="identity")
    net.add_edge("inp", "rnn", weights=d["W_in"], train="gd")
    net.add_edge("rnn", "out", weights=d["W_out"], train="gd")
    return net
t0 = time.perf_counter()
net = build()
net.fit_bptt(d["x"], d["y"], update_steps=T, lr=1e-3, verbose=False)
first = time.perf_counter() - t0
times = []
for _ in range(reps):
    net.reset()
    t0 = time.perf_counter()
    net.fit_bptt(d["x"], d["y"], update_steps=T, lr=1e-3, verbose=False)
    times.append(time.perf_counter() - t0)
import rectipy
print("RESULT " + json.dumps({"first_call_s": first, "epoch_s": float(np.median(times)),
                              "torch": torch.__version__,
                              "rectipy": getattr(rectipy, "__version__", "?")}))
"""


def time_rectipy(python: str, N: int, T: int, reps: int, threads: int) -> dict:
    if not Path(python).exists():
        return {"error": f"{python} not found (install rectipy in a separate venv)"}
    d = make_data(N, T)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.npz")
        np.savez(data, **d)
        script = os.path.join(tmp, "run_rectipy.py")
        Path(script).write_text(RECTIPY_SCRIPT)
        proc = subprocess.run(
            [python, script, data, str(reps), str(threads)],
            capture_output=True,
            text=True,
            cwd=tmp,
            timeout=3600,
        )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (proc.stderr or proc.stdout)[-2000:]}


MEMORY_SCRIPT = r"""
import json, resource, sys, time, tracemalloc
sys.path.insert(0, sys.argv[4])
import numpy as np
from bptt_bench import build_rectinumba, make_data
N, T = int(sys.argv[1]), int(sys.argv[2])
K = int(sys.argv[3]) or None
d = make_data(N, T)
net = build_rectinumba(d)
# compile first
net.fit_bptt(d["x"][:10], d["y"][:10], update_steps=10, verbose=False, checkpoint=K and 5)
net.reset()
tracemalloc.start()
t0 = time.perf_counter()
net.fit_bptt(d["x"], d["y"], update_steps=T, verbose=False, record_output=False, checkpoint=K)
wall = time.perf_counter() - t0
_, peak = tracemalloc.get_traced_memory()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
res = {"traced_peak_MB": peak / 2**20, "max_rss_MB": rss / 2**20, "wall_s": wall}
print("RESULT " + json.dumps(res))
"""


def memory(N: int, T: int, K: int) -> dict:
    here = str(Path(__file__).resolve().parent)
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "mem.py")
        Path(script).write_text(MEMORY_SCRIPT)
        proc = subprocess.run(
            [sys.executable, script, str(N), str(T), str(K), here],
            capture_output=True,
            text=True,
            timeout=3600,
        )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (proc.stderr or proc.stdout)[-2000:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=int, default=100)
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rectipy-python", default="/work/venv_rectipy/bin/python")
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--memory-T", type=int, default=100_000)
    ap.add_argument("--skip-rectipy", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()

    res = {"N": args.N, "T": args.T}
    res["rectinumba"] = rn = time_rectinumba(args.N, args.T, args.reps)
    print(
        f"rectinumba fit_bptt epoch (N={args.N}, T={args.T}): {rn['epoch_s'] * 1e3:.1f} ms "
        f"(first call {rn['first_call_s']:.2f} s; numpy fwd+bwd matvec floor "
        f"{rn['numpy_matvec_floor_s'] * 1e3:.1f} ms)",
        flush=True,
    )
    if not args.skip_rectipy:
        res["rectipy"] = time_rectipy(
            args.rectipy_python, args.N, args.T, args.reps, args.torch_threads
        )
        if "error" in res["rectipy"]:
            print("RectiPy: not measured:", res["rectipy"]["error"])
        else:
            r = res["rectipy"]
            print(
                f"RectiPy {r['rectipy']} (torch {r['torch']}, {args.torch_threads} thread(s)) "
                "epoch: "
                f"{r['epoch_s'] * 1e3:.1f} ms -> rectinumba is "
                f"{r['epoch_s'] / res['rectinumba']['epoch_s']:.1f}x faster"
            )
    if not args.skip_memory:
        K = int(np.sqrt(args.memory_T))
        for label, k in (("no checkpointing", 0), (f"checkpoint={K}", K)):
            m = memory(args.N, args.memory_T, k)
            res[f"memory {label}"] = m
            if "error" in m:
                print(f"memory ({label}): failed: {m['error']}")
            else:
                print(
                    f"T={args.memory_T}, {label}: traced peak {m['traced_peak_MB']:.1f} MB, "
                    f"max RSS {m['max_rss_MB']:.0f} MB, {m['wall_s']:.2f} s"
                )
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
