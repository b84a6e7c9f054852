"""Check and time the CUDA backend against the CPU backend on a real GPU.

    python benchmarks/gpu_check.py              # on a GPU node (< 5 minutes)
    python benchmarks/gpu_check.py --sim-smoke  # tiny sizes in numba's CUDA simulator (no GPU)

For each case it

1. runs a short float64 simulation on both backends and prints the largest relative difference
   (agreement check, tolerance 1e-9);
2. times the float32 network on the GPU: per-step time = (kernel time of a long run - kernel
   time of a short run) / (difference in steps), so the launch cancels out; host-device copies
   are not in the kernel time (``CUDABackend.last_run``);
3. measures the bandwidth floor: a device-to-device copy of as many bytes as one step must read
   (coupling matrix, CSR arrays, states), and prints step time / floor time;
4. times the CPU backend (``--cpu-threads`` numba threads, default 2 like the reference machine)
   and prints the GPU's throughput in trial-steps per second as a multiple of the CPU's.

Cases: dense rate network N = 10^4; sparse LIF N = 10^5 with p = 0.001 (CSR), event-driven (the
default for it: spiking columns scattered with atomics) and with ``propagation="matvec"``;
B = 1024 trials of a dense rate network with N = 100; B = 1024 trials of N = 100 noisy delayed
units (white noise and ``x(t - d)`` with a delay per neuron: the counter-based generator must give
the CPU's normals). The floor of an event-driven step counts the neuron states only.

Before the cases, :func:`language_agreement` checks the template-language features of issue 12
on the device (agreement with the CPU only, no timing): a network without input (Stuart-Landau,
per-trial values), summed operator outputs (Jansen-Rit PC) and complex states (the Kuramoto mean
field with complex coupling, in complex128 and complex64).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
LIF = "model_templates.spiking_neurons.lif.lif"


@dataclass
class Case:
    name: str
    kind: str  # "rate" | "lif" | "noisy" (noise + delays, uncoupled)
    N: int
    B: int
    p: float  # connection probability (1.0 = dense)
    t_gpu: tuple[int, int]  # short and long run lengths on the GPU
    t_cpu: int
    t_check: int
    propagation: str = "auto"  # of the LIF coupling (rectinumba.propagation)


def cases(smoke: bool) -> list[Case]:
    if smoke:
        return [
            Case("dense rate N=16", "rate", 16, 1, 1.0, (2, 6), 5, 4),
            Case("sparse LIF N=64 p=0.1", "lif", 64, 1, 0.1, (2, 6), 5, 4),
            Case("sparse LIF N=64 p=0.1 events", "lif", 64, 1, 0.1, (2, 6), 5, 4, "event"),
            Case("B=4 x N=8 rate", "rate", 8, 4, 1.0, (2, 6), 5, 4),
            Case("B=4 x N=8 noise + delay", "noisy", 8, 4, 1.0, (2, 6), 5, 4),
        ]
    return [
        Case("dense rate N=1e4", "rate", 10_000, 1, 1.0, (100, 1100), 10, 10),
        Case("sparse LIF N=1e5 p=0.001 events", "lif", 100_000, 1, 0.001, (100, 2100), 20, 20),
        Case("sparse LIF N=1e5 p=0.001 matvec", "lif", 100_000, 1, 0.001, (100, 2100), 20, 20,
             "matvec"),
        Case("B=1024 x N=100 rate", "rate", 100, 1024, 1.0, (50, 1050), 10, 10),
        Case("B=1024 x N=100 noise + delay", "noisy", 100, 1024, 1.0, (50, 1050), 10, 200),
    ]


def weights(case: Case, rng: np.random.Generator):
    import scipy.sparse as sp

    N = case.N
    if case.kind == "noisy":
        return None
    if case.p >= 1.0:
        return rng.standard_normal((N, N)) * (1.5 / np.sqrt(N))
    J = sp.random(N, N, density=case.p, format="csr", random_state=rng, data_rvs=rng.standard_normal)
    J.data *= 3.0 / np.sqrt(case.p * N)
    return J


def noisy_template():
    """x' = (mu - x)/tau + k*x(t - d) + sigma*sqrt(2/tau)*xi + I_ext (d per neuron)."""
    from rectinumba.templates import NodeTemplate, OperatorTemplate

    op = OperatorTemplate(
        "nd_op",
        equations=["x' = (mu - x)/tau + k*x(t - d) + sigma*sqrt(2/tau)*xi + I_ext"],
        variables={"x": "output(0.0)", "mu": 0.5, "tau": 0.1, "k": -2.0, "d": 0.2, "sigma": 1.0,
                   "I_ext": "input(0.0)"},
    )
    return NodeTemplate("noisy_delayed", operators=[op])


def build(case: Case, J, device: str, dtype, mode: str = "auto"):
    from rectinumba import Network

    net = Network(1e-2 if case.kind != "lif" else 0.1, device=device, dtype=dtype, seed=7)
    if case.kind == "noisy":
        d = np.linspace(0.0, 0.5, case.N)  # 0 .. 50 steps
        net.add_diffeq_node("n", noisy_template(), N=case.N, input_var="I_ext", output_var="x",
                            node_vars={"d": d})
    elif case.kind == "rate":
        net.add_diffeq_node("n", LI_TANH, weights=J, source_var="tanh_op/r", target_var="li_op/r_in",
                            input_var="li_op/I_ext", output_var="li_op/v")
    else:
        net.add_diffeq_node("n", LIF, weights=J, source_var="s", target_var="s_in", input_var="I_ext",
                            output_var="s", op="lif_op", spike_var="spike", spike_def="v",
                            spike_threshold=1.0, spike_reset=0.0, sparse=True,
                            propagation=case.propagation)
    if device == "cuda" and mode != "auto":
        from rectinumba.backends.cuda import CUDABackend

        net._backend = CUDABackend("cuda", mode=mode)
    return net


def inputs(case: Case, T: int, rng: np.random.Generator, dtype) -> np.ndarray:
    scale = 15.0 if case.kind == "lif" else 1.0
    x = rng.random((case.B, T, case.N), dtype=np.dtype(dtype).type)
    x += 0.5
    x *= scale
    return x


def step_bytes(case: Case, J, itemsize: int) -> int:
    """Bytes one step must move at least: the coupling matrix and each state read + written."""
    if case.kind == "noisy":  # no coupling; the ring is read once and written once per neuron
        return 4 * case.B * case.N * itemsize
    if case.kind == "lif" and case.propagation != "matvec":  # events: states, U and G only
        return 5 * 2 * case.B * case.N * itemsize
    if case.p >= 1.0:
        mat = case.N * case.N * itemsize
    else:
        mat = J.nnz * (itemsize + 8) + (case.N + 1) * 8
    n_states = 1 if case.kind == "rate" else 2
    return mat + 2 * n_states * case.B * case.N * itemsize + case.B * case.N * itemsize


def timed_run(net, x) -> float:
    t0 = time.perf_counter()
    net.run(x, verbose=False, record_output=False)
    return time.perf_counter() - t0


def kernel_time(net, x) -> float:
    """Kernel seconds of one run on the GPU (copies excluded)."""
    net.run(x, verbose=False, record_output=False)
    return net._backend.last_run["kernel_s"]


def copy_floor(nbytes: int, repeats: int) -> float:
    """Seconds for a device-to-device copy of nbytes (median of repeats)."""
    from numba import cuda

    src = cuda.device_array(nbytes, np.uint8)
    dst = cuda.device_array(nbytes, np.uint8)
    dst.copy_to_device(src)  # warm-up
    cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_to_device(src)
        cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def agreement(case: Case, J, rng, mode: str) -> float:
    x = inputs(case, case.t_check, rng, np.float64)
    cpu, gpu = build(case, J, "cpu", np.float64), build(case, J, "cuda", np.float64, mode)
    a = cpu.run(x, verbose=False)["out"]
    b = gpu.run(x, verbose=False)["out"]
    err = np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300)
    sa, sb = cpu.state["n"], gpu.state["n"]
    return float(max(err, np.max(np.abs(sa - sb)) / max(np.max(np.abs(sa)), 1e-300)))


def language_agreement(mode: str) -> list[tuple[str, float, float]]:
    """(name, largest relative CPU/GPU difference, tolerance) of the issue-12 models."""
    from rectinumba import Network

    def rel(a, b) -> float:
        a, b = np.asarray(a), np.asarray(b)
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))

    def pair(build, run, tol, name):
        cpu, gpu = build("cpu"), build("cuda")
        if mode != "auto":
            from rectinumba.backends.cuda import CUDABackend

            gpu._backend = CUDABackend("cuda", mode=mode)
        oa, ob = run(cpu), run(gpu)
        keys = oa.recorded_state_variables
        err = max(rel(oa["out"], ob["out"]), *(rel(oa[k], ob[k]) for k in keys))
        return name, err, tol

    def sl(device):
        net = Network(1e-2, device=device)
        net.add_diffeq_node("sl", "model_templates.oscillators.stuartlandau.sl_pop", output_var="x",
                            N=64, node_vars={"mu": np.linspace(0.1, 2, 4)[:, None]})
        return net

    def pc(device):
        net = Network(1e-4, device=device)
        net.add_diffeq_node("pc", "model_templates.neural_mass_models.jansenrit.PC",
                            input_var="rpo_e_in/m_in", output_var="pro/m", N=256,
                            node_vars={"rpo_i/m_in": -np.linspace(0, 80, 256)})
        return net

    def kmo(device, dtype=np.float64):
        rng = np.random.default_rng(5)
        net = Network(1e-2, device=device, dtype=dtype)
        op = "model_templates.oscillators.kuramoto.kmo_pop"
        net.add_diffeq_node("k", op, weights=rng.standard_normal((300, 300)) / 30, source_var="z",
                            target_var="s_in", output_var="z",
                            node_vars={"z": rng.standard_normal(300) * (0.3 + 0.2j)})
        return net

    x = np.random.default_rng(1).random((200, 256)) * 100
    return [
        pair(sl, lambda n: n.run(steps=300, trials=4, record_vars=[("sl", "z")], verbose=False),
             1e-9, "no input: Stuart-Landau B=4"),
        pair(pc, lambda n: n.run(x, record_vars=[("pc", "pro/V")], verbose=False), 1e-9,
             "summed outputs: JR PC N=256"),
        pair(kmo, lambda n: n.run(steps=300, record_vars=[("k", "z", True)], verbose=False),
             1e-9, "complex128: Kuramoto N=300"),
        pair(lambda d: kmo(d, np.float32),
             lambda n: n.run(steps=300, record_vars=[("k", "z", True)], verbose=False),
             1e-4, "complex64: Kuramoto N=300"),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim-smoke", action="store_true", help="tiny sizes in the CUDA simulator")
    ap.add_argument("--cpu-threads", type=int, default=2, help="numba threads of the CPU backend")
    ap.add_argument("--only", default=None, help="run only cases whose name contains this text")
    ap.add_argument("--mode", choices=("auto", "block", "grid"), default="auto",
                    help="CUDA kernel mode (auto chooses per run)")
    args = ap.parse_args(argv)
    if args.sim_smoke:
        if "numba" in sys.modules and not os.environ.get("NUMBA_ENABLE_CUDASIM"):
            print("numba is already imported; set NUMBA_ENABLE_CUDASIM=1 yourself", file=sys.stderr)
            return 2
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        sys.setswitchinterval(5e-5)  # the simulator polls its threads
    import numba

    from rectinumba.backends.cuda import cuda_status

    ok, why = cuda_status()
    if not ok:
        print(f"no usable CUDA device: {why}; try --sim-smoke", file=sys.stderr)
        return 2
    numba.set_num_threads(max(1, min(args.cpu_threads, numba.config.NUMBA_NUM_THREADS)))
    from numba import cuda

    dev = "CUDA simulator" if why == "simulator" else cuda.get_current_device().name
    dev = dev.decode() if isinstance(dev, bytes) else dev
    print(f"device: {dev}; CPU backend with {numba.get_num_threads()} numba thread(s)")
    rng = np.random.default_rng(0)
    rows = []
    failed = False
    start = time.perf_counter()
    if not args.only and not args.sim_smoke:
        for name, err, tol in language_agreement(args.mode):
            failed |= not err < tol
            print(f"{name}: CPU/GPU rel diff {err:.1e} ({'ok' if err < tol else 'FAIL'})")
    for case in cases(args.sim_smoke):
        if args.only and args.only not in case.name:
            continue
        J = weights(case, rng)
        err = agreement(case, J, rng, args.mode)
        ok_check = err < 1e-9
        failed |= not ok_check
        dtype = np.float32
        Jf = None if J is None else J.astype(dtype)
        gpu = build(case, Jf, "cuda", dtype, args.mode)
        t_short, t_long = case.t_gpu
        x_short, x_long = inputs(case, t_short, rng, dtype), inputs(case, t_long, rng, dtype)
        kernel_time(gpu, x_short)  # compile and warm up
        ts = min(kernel_time(gpu, x_short) for _ in range(3))
        tl = min(kernel_time(gpu, x_long) for _ in range(3))
        run = gpu._backend.last_run
        launch = f"{run['mode']} {run['blocks']}x{run['threads']} lanes {run['lanes']}"
        gpu_step = max(tl - ts, 1e-12) / (t_long - t_short)
        nbytes = step_bytes(case, Jf, 4)
        floor = copy_floor(nbytes, 3 if args.sim_smoke else 20)
        cpu = build(case, Jf, "cpu", dtype)
        x_cpu = inputs(case, case.t_cpu, rng, dtype)
        timed_run(cpu, x_cpu[:, :2])  # compile
        cpu_step = timed_run(cpu, x_cpu) / case.t_cpu
        rows.append((case.name, launch, err, "ok" if ok_check else "FAIL", gpu_step * 1e6, floor * 1e6,
                     gpu_step / floor, nbytes / gpu_step / 1e9, cpu_step * 1e6, cpu_step / gpu_step))
    header = ("case", "launch", "f64 rel diff", "check", "GPU us/step (f32)", "floor us (copy)",
              "step/floor", "GB/s read", "CPU us/step", "GPU/CPU throughput")
    widths = [max(len(h), {0: 26, 1: 24}.get(i, 10)) for i, h in enumerate(header)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        cells = [r[0], r[1], f"{r[2]:.1e}", r[3], f"{r[4]:.1f}", f"{r[5]:.1f}", f"{r[6]:.2f}",
                 f"{r[7]:.1f}", f"{r[8]:.1f}", f"{r[9]:.1f}x"]
        print(" | ".join(c.ljust(w) for c, w in zip(cells, widths)))
    print(f"total {time.perf_counter() - start:.1f} s")
    if args.sim_smoke:
        print("(simulator: timings are meaningless, the run only exercises the script)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
