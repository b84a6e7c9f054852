"""Parameter-sweep figures (issue 16): batched sweep vs a loop of single runs, a 2-worker Dask
LocalCluster vs this process, and client memory of a reduced sweep whose raw traces would not fit.

Usage::

    python benchmarks/sweep_bench.py                   # the issue's sizes (several minutes)
    python benchmarks/sweep_bench.py --quick           # 256 points x 1000 steps
    python benchmarks/sweep_bench.py --only loop,dask  # some figures

Figures (each in its own process, so that peak-memory figures start clean):

- ``local``: 64 eta x 64 J-factor points (4096) of a QIF network, N = 100, 10,000 steps, no input,
  batch_size 64, ``reduce="mean"`` on the population-mean s; points per second.
- ``loop``: the same points as a Python loop of single runs (``set_var`` + ``run`` on one
  network), timed on ``--loop-points`` points and extrapolated to all; ratio local / loop.
- ``short``: both again with 100 steps, where per-call overhead dominates.
- ``dask``: the local sweep on a LocalCluster of 2 worker processes (1 thread each, sharing the
  kernel folder), and the overhead per chunk: (cluster - local) / chunks.
- ``memory``: peak RSS growth of the client during a Dask sweep that records the whole output
  (raw: points x steps x N float64, tens of GB) reduced to its mean and std over time; and the
  same sweep in this process (client and worker in one).

Every figure is printed with the load average at the time it was taken (the machine is shared).
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
FIGURES = ("local", "loop", "short", "dask", "memory")


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


def grid(points: int) -> dict:
    side = int(round(np.sqrt(points)))
    return {"eta": np.linspace(-6.0, 4.0, side), "rnn/weights": np.linspace(0.0, 15.0, side)}


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


def fig_local(a) -> dict:
    from rectinumba import sweep

    net = qif_net(a.N)
    params = grid(a.points)
    warm(net)
    t = time.perf_counter()
    res = sweep(net, params, **sweep_kwargs(a.steps))
    dt = time.perf_counter() - t
    return {
        "seconds": dt,
        "busy": res.attrs["chunk_seconds"],
        "points": res.data["rnn/s"].size,
        "chunks": res.attrs["chunks"],
        "failed": int((~res.ok).sum()),
        "load": load(),
    }


def fig_loop(a) -> dict:
    net = qif_net(a.N)
    params = grid(a.points)
    etas = np.repeat(params["eta"], len(params["rnn/weights"]))
    scales = np.tile(params["rnn/weights"], len(params["eta"]))
    J = net.get_var("rnn", "weights")
    x = np.zeros((a.steps, a.N))
    for scale in (0.0, 1.0):  # compile the dense and the CSR kernel outside the timing
        net.set_var("rnn", "weights", J * scale)
        net.run(x[:10], verbose=False)
    pick = np.linspace(0, len(etas) - 1, a.loop_points).astype(int)
    t = time.perf_counter()
    for i in pick:
        net.reset()
        net.set_var("rnn", "eta", etas[i])
        net.set_var("rnn", "weights", J * scales[i])
        try:
            obs = net.run(x, verbose=False, record_output=False, record_vars=[("rnn", "s", True)])
            obs[("rnn", "s")].mean()
        except Exception:  # a blow-up: the sweep records it, the loop moves on
            pass
    dt = time.perf_counter() - t
    return {
        "seconds_measured": dt,
        "points_measured": len(pick),
        "seconds": dt * len(etas) / len(pick),
        "load": load(),
    }


def fig_dask(a) -> dict:
    import distributed

    from rectinumba import sweep
    from rectinumba.codegen.cache import cache_dir

    net = qif_net(a.N)
    params = grid(a.points)
    warm(net)  # the client compiles into the shared folder
    env = {"RECTINUMBA_CACHE_DIR": str(cache_dir()), "NUMBA_NUM_THREADS": "1"}
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, env=env, silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        for _ in range(2):  # both workers load both kernels
            warm(net, executor=client, batch_size=2)
        t = time.perf_counter()
        res = sweep(net, params, executor=client, **sweep_kwargs(a.steps))
        dt = time.perf_counter() - t
        tiny = dict(sweep_kwargs(1), batch_size=2)
        t = time.perf_counter()
        few = sweep(net, grid(256), executor=client, **tiny)
        dt_tiny = time.perf_counter() - t
    t = time.perf_counter()
    sweep(net, grid(256), **tiny)
    dt_tiny_local = time.perf_counter() - t
    return {
        "seconds": dt,
        "busy": res.attrs["chunk_seconds"],
        "chunks": res.attrs["chunks"],
        "tiny_chunks": few.attrs["chunks"],
        "tiny_seconds": dt_tiny,
        "tiny_local_seconds": dt_tiny_local,
        "load": load(),
    }


def fig_memory(a) -> dict:
    import distributed

    from rectinumba import sweep
    from rectinumba.codegen.cache import cache_dir

    net = qif_net(a.N)
    params = grid(a.points)
    kw = dict(sweep_kwargs(a.steps), record_output=True, reduce=("mean", "std"))
    raw_gb = a.points * a.steps * a.N * 8 / 1e9
    env = {"RECTINUMBA_CACHE_DIR": str(cache_dir()), "NUMBA_NUM_THREADS": "1"}
    warm(net)
    out = {"raw_gb": raw_gb}
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, env=env, silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        warm(net, executor=client, batch_size=2)
        before = rss_mb()
        res = sweep(net, params, executor=client, **kw)
        out["client_peak_growth_mb"] = rss_mb() - before
        out["client_rss_mb"] = rss_mb()
        out["result_mb"] = sum(v.nbytes for v in res.data.values()) / 1e6
        out["load_dask"] = load()
    before = rss_mb()
    sweep(net, params, **kw)
    out["local_peak_growth_mb"] = rss_mb() - before
    out["load_local"] = load()
    return out


def child(figure: str, a) -> dict:
    """Run one figure in a fresh process (clean peak-memory counters)."""
    args = [
        sys.executable,
        __file__,
        "--child",
        figure,
        "--points",
        str(a.points),
        "--steps",
        str(a.steps),
        "--N",
        str(a.N),
        "--loop-points",
        str(a.loop_points),
    ]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"figure {figure} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
        if a.child == "short":
            a.child, a.steps = "local", 100
        if a.child == "short_loop":
            a.child, a.steps = "loop", 100
        print(json.dumps(globals()[f"fig_{a.child}"](a)))
        return
    only = a.only.split(",")
    pts, T, N = a.points, a.steps, a.N
    print(
        f"QIF network N={N}, {pts} points (eta x J factor), {T} steps, batch_size 64, "
        f"reduce='mean'; {os.cpu_count()} cores"
    )
    local = loop = None
    if "local" in only or "loop" in only or "dask" in only:
        local = child("local", a)
        print(
            f"local sweep      {local['seconds']:8.1f} s  {pts / local['seconds']:9.1f} pts/s  "
            f"({local['chunks']} chunks, {local['failed']} blown up)  [{local['load']}]"
        )
    if "loop" in only:
        loop = child("loop", a)
        print(
            f"loop of runs     {loop['seconds']:8.1f} s  {pts / loop['seconds']:9.1f} pts/s  "
            f"(timed {loop['points_measured']} points: {loop['seconds_measured']:.1f} s, "
            f"extrapolated)  [{loop['load']}]"
        )
        print(f"  ratio local/loop: {loop['seconds'] / local['seconds']:.2f}x")
    if "short" in only:
        s_local, s_loop = child("short", a), child("short_loop", a)
        print(
            f"100 steps: local {s_local['seconds']:.2f} s, loop {s_loop['seconds']:.2f} s "
            f"(extrapolated from {s_loop['points_measured']}); ratio "
            f"{s_loop['seconds'] / s_local['seconds']:.1f}x  [{s_local['load']}]"
        )
    if "dask" in only:
        d = child("dask", a)
        per_chunk = (d["seconds"] - local["seconds"]) / d["chunks"]
        tiny = (d["tiny_seconds"] - d["tiny_local_seconds"]) / d["tiny_chunks"]
        print(
            f"dask 2 workers   {d['seconds']:8.1f} s  {pts / d['seconds']:9.1f} pts/s  "
            f"(vs local {local['seconds']:.1f} s: {per_chunk * 1e3:+.0f} ms per chunk)  "
            f"[{d['load']}]"
        )
        print(
            f"  chunk time on the workers, added up: dask {d['busy']:.1f} s over 2 workers, "
            f"local {local['busy']:.1f} s"
        )
        print(
            f"  overhead per chunk with 1-step chunks: {tiny * 1e3:.1f} ms "
            f"({d['tiny_chunks']} chunks: dask {d['tiny_seconds']:.2f} s, "
            f"local {d['tiny_local_seconds']:.2f} s)"
        )
    if "memory" in only:
        m = child("memory", a)
        print(
            f"memory: raw output would be {m['raw_gb']:.1f} GB; reduced result "
            f"{m['result_mb']:.1f} MB; client peak RSS growth during the dask sweep "
            f"{m['client_peak_growth_mb']:.0f} MB (client RSS {m['client_rss_mb']:.0f} MB) "
            f"[{m['load_dask']}]; in one process {m['local_peak_growth_mb']:.0f} MB "
            f"[{m['load_local']}]"
        )


if __name__ == "__main__":
    main()
