"""Parameter-sweep figures (issue 16): batched sweep vs a loop of single runs, a 2-worker Dask
LocalCluster vs this process, and client memory of a reduced sweep whose raw traces would not fit.

Usage::

    python benchmarks/sweep_bench.py                    # the issue's sizes (about 10 min)
    python benchmarks/sweep_bench.py --quick            # 256 points x 1000 steps
    python benchmarks/sweep_bench.py --only throughput  # some figures

The network: QIF, N = 100, dense random J, dt = 1e-3, no input; the points: a grid of eta x a
factor on J (64 x 64 = 4096 points), 10,000 steps each, batch_size 64, the population mean of s
recorded and reduced to its time average on the worker (``reduce="mean"``).

Figures (each in its own process, so that peak-memory figures start clean):

- ``throughput``: the grid is cut into 8 blocks of J factors; for each block, in turn, the local
  sweep (this process, all numba threads), the same sweep on a LocalCluster of 2 worker processes
  (1 thread each, sharing the kernel folder) and a Python loop of single runs (``set_var`` +
  ``run``) over ``--loop-points / 8`` of the block's points (extrapolated to the block). Taking
  the three in turn, block by block, exposes them to the same machine load (the machine is
  shared and its load drifts). Reported: wall times, the ratio loop / local, and the Dask
  overhead per chunk: (cluster wall - (sum of the chunks' times on the workers) / 2) / chunks.
- ``short``: the same with 100 steps, where per-call overhead dominates.
- ``memory``: peak RSS growth of the client during a Dask sweep that records the whole output
  (raw: points x steps x N float64, tens of GB) reduced to its mean and std over time; and of the
  same sweep in one process (client and worker in one).

Every figure is printed with the load average at its start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

QIF = "model_templates.spiking_neurons.qif.qif"
FIGURES = ("throughput", "short", "memory")
BLOCKS = 8


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def qif_net(N: int):
    from rectinumba import Network

    J = np.random.default_rng(0).standard_normal((N, N)) / np.sqrt(N)
    return Network.from_yaml(
        QIF,
        weights=J,
        source_var="s",
        target_var="s_in",
        input_var="I_ext",
        output_var="s",
        spike_var="spike",
        spike_def="v",
        op="qif_op",
        dt=1e-3,
    )


def grid_axes(points: int) -> tuple[np.ndarray, np.ndarray]:
    side = int(round(np.sqrt(points)))
    return np.linspace(-6.0, 4.0, side), np.linspace(0.0, 15.0, side)


def sweep_kwargs(steps: int) -> dict:
    return dict(
        steps=steps,
        record_output=False,
        record_vars=[("rnn", "s", True)],
        reduce="mean",
        batch_size=64,
        progress=False,
        output="numpy",
    )


def warm(net, **kw) -> None:
    """Compile outside the timings: the dense kernel, and the CSR one that J * 0 switches to
    (an all-zero J of 10^4 entries is stored sparse)."""
    from rectinumba import sweep

    sweep(net, {"rnn/weights": [0.0, 1.0]}, **dict(sweep_kwargs(10), **kw))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dask_cluster():
    import distributed

    from rectinumba.codegen.cache import cache_dir

    env = {"RECTINUMBA_CACHE_DIR": str(cache_dir()), "NUMBA_NUM_THREADS": "1"}
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=None, env=env, silence_logs=40
    )
    return cluster, distributed.Client(cluster)


def loop(net, J, etas, scales, steps: int) -> float:
    """Seconds for single runs of the points (eta, scale), one after the other."""
    x = np.zeros((steps, net.n_in))
    t = time.perf_counter()
    for eta, scale in zip(etas, scales, strict=True):
        net.reset()
        net.set_var("rnn", "eta", eta)
        net.set_var("rnn", "weights", J * scale)
        obs = net.run(x, verbose=False, record_output=False, record_vars=[("rnn", "s", True)])
        obs[("rnn", "s")].mean()
    return time.perf_counter() - t


def fig_throughput(a) -> dict:
    from rectinumba import sweep

    net = qif_net(a.N)
    J = net.get_var("rnn", "weights")
    eta, scale = grid_axes(a.points)
    single = qif_net(a.N)
    for s in (0.0, 1.0):  # the single-trial kernels (dense and CSR) outside the timing
        single.set_var("rnn", "weights", J * s)
        single.run(np.zeros((5, a.N)), verbose=False, record_output=False)
    warm(net)
    out = {"local": 0.0, "dask": 0.0, "dask_busy": 0.0, "loop": 0.0, "chunks": 0, "points": 0}
    out["load_start"] = load()
    cluster, client = dask_cluster()
    with cluster, client:
        for _ in range(2):  # both workers load both kernels
            warm(net, executor=client, batch_size=2)
        # blocks of J factors: points with one J factor share kernel calls (full chunks)
        per_block = len(scale) // BLOCKS
        loop_per_block = max(1, a.loop_points // BLOCKS)
        for k in range(BLOCKS):
            params = {"eta": eta, "rnn/weights": scale[k * per_block : (k + 1) * per_block]}
            t = time.perf_counter()
            res = sweep(net, params, **sweep_kwargs(a.steps))
            out["local"] += time.perf_counter() - t
            t = time.perf_counter()
            res_d = sweep(net, params, executor=client, **sweep_kwargs(a.steps))
            out["dask"] += time.perf_counter() - t
            out["dask_busy"] += res_d.attrs["chunk_seconds"]
            assert np.array_equal(res.data["rnn/s"], res_d.data["rnn/s"], equal_nan=True)
            pick = np.linspace(0, res.params["eta"].size - 1, loop_per_block).astype(int)
            dt = loop(single, J, res.params["eta"][pick], res.params["rnn/weights"][pick], a.steps)
            out["loop"] += dt * res.params["eta"].size / len(pick)
            out["chunks"] += res.attrs["chunks"]
            out["points"] += res.params["eta"].size
    out["loop_points"] = loop_per_block * BLOCKS
    out["load_end"] = load()
    return out


def fig_memory(a) -> dict:
    from rectinumba import sweep

    net = qif_net(a.N)
    eta, scale = grid_axes(a.points)
    params = {"eta": eta, "rnn/weights": scale}
    kw = dict(sweep_kwargs(a.steps), record_output=True, reduce=("mean", "std"))
    warm(net)
    out = {"raw_gb": eta.size * scale.size * a.steps * a.N * 8 / 1e9, "load_start": load()}
    cluster, client = dask_cluster()
    with cluster, client:
        warm(net, executor=client, batch_size=2)
        before = rss_mb()
        res = sweep(net, params, executor=client, **kw)
        out["client_peak_growth_mb"] = rss_mb() - before
        out["client_rss_mb"] = rss_mb()
        out["result_mb"] = sum(v.nbytes for v in res.data.values()) / 1e6
    before = rss_mb()
    sweep(net, params, **kw)
    out["local_peak_growth_mb"] = rss_mb() - before
    out["load_end"] = load()
    return out


def child(figure: str, a, steps: int) -> dict:
    """Run one figure in a fresh process (clean peak-memory counters)."""
    args = [sys.executable, __file__, "--child", figure, "--points", str(a.points)]
    args += ["--steps", str(steps), "--N", str(a.N), "--loop-points", str(a.loop_points)]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"figure {figure} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report_throughput(title: str, r: dict) -> None:
    pts = r["points"]
    overhead = (r["dask"] - r["dask_busy"] / 2) / r["chunks"]
    print(f"{title}  [{r['load_start']} -> {r['load_end']}]")
    print(f"  local sweep   {r['local']:8.1f} s  {pts / r['local']:9.1f} points/s")
    print(
        f"  loop of runs  {r['loop']:8.1f} s  {pts / r['loop']:9.1f} points/s  "
        f"(extrapolated from {r['loop_points']} timed runs)  ratio loop/local "
        f"{r['loop'] / r['local']:.2f}x"
    )
    print(
        f"  dask 2 procs  {r['dask']:8.1f} s  {pts / r['dask']:9.1f} points/s  ratio "
        f"dask/local {r['dask'] / r['local']:.2f}x; chunk time on the workers "
        f"{r['dask_busy']:.1f} s; overhead {overhead * 1e3:.0f} ms per chunk "
        f"({r['chunks']} chunks)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=4096)
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--N", type=int, default=100)
    p.add_argument("--loop-points", type=int, default=64)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default=",".join(FIGURES))
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.quick:
        a.points, a.steps, a.loop_points = 256, 1000, 16
    os.environ.setdefault("RECTINUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "rn-bench"))
    if a.child:
        print(json.dumps(globals()[f"fig_{a.child}"](a)))
        return
    only = a.only.split(",")
    print(
        f"QIF network N={a.N}, {a.points} points (eta x J factor), batch_size 64, "
        f"reduce='mean'; {os.cpu_count()} cores"
    )
    if "throughput" in only:
        report_throughput(f"{a.steps} steps", child("throughput", a, a.steps))
    if "short" in only:
        report_throughput("100 steps", child("throughput", a, 100))
    if "memory" in only:
        m = child("memory", a, a.steps)
        print(f"memory ({a.steps} steps)  [{m['load_start']} -> {m['load_end']}]")
        print(
            f"  raw output would be {m['raw_gb']:.1f} GB; reduced result {m['result_mb']:.1f} MB;"
            f" client peak RSS growth during the dask sweep {m['client_peak_growth_mb']:.0f} MB "
            f"(client RSS {m['client_rss_mb']:.0f} MB); the same sweep in one process "
            f"{m['local_peak_growth_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
