"""Cost of a template (plastic) edge per step against the same network with a plain edge.

Two LIF populations of N neurons, pre -> post with a CSR matrix of connection probability p:
(a) a plain edge (weights @ s), (b) the built-in pair-based STDP edge template on the same
connections (three states per connection: the weight and two traces, updated every step), and
(c) for scale, numpy's own cost of the STDP update on the stored entries (a vectorised
reference: three element-wise updates of nnz values plus the CSR product). Figures are medians
of repeated runs, as ms per step and as ratios; the machine load is printed with them.

Usage::

    python benchmarks/plastic_bench.py            # N = 1000, p = 0.1, 2000 steps
    python benchmarks/plastic_bench.py --N 2000 --p 0.05 --steps 1000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.sparse as sp

LIF = "model_templates.spiking_neurons.lif.lif"
STDP = "model_templates.plasticity.stdp.stdp_edge"
BIND = {"r_in": "source", "s_pre": "source/spike", "s_post": "target/spike"}


def network(W, plastic: bool):
    from rectinumba import Network

    net = Network(0.1)
    for label in ("pre", "post"):
        net.add_diffeq_node(label, LIF, N=W.shape[0], input_var="I_ext", output_var="s",
                            op="lif_op", spike_var="spike", spike_def="v",
                            spike_threshold=1.0, spike_reset=0.0)  # fmt: skip
    if plastic:
        net.add_edge("pre", "post", W, target_var="s_in", template=STDP, edge_inputs=BIND,
                     edge_vars={"w": 0.5})  # fmt: skip
    else:
        net.add_edge("pre", "post", W * 0.5, target_var="s_in")
    return net


def per_step(fn, steps: int, repeats: int) -> float:
    fn()  # compile / warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) / steps * 1e3


def numpy_stdp(W: sp.csr_matrix, x: np.ndarray) -> None:
    """The STDP edge's per-step work in vectorised numpy (no neuron dynamics): the floor."""
    w = np.full(W.nnz, 0.5)
    xp, xq = np.zeros(W.nnz), np.zeros(W.nnz)
    rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
    cols = W.indices
    spk = np.zeros(W.shape[1])
    for t in range(len(x)):
        spk = (x[t] > 0.95) * 10.0
        out = W.copy()
        out.data = w * spk[cols]
        out.sum(axis=1)
        pre, post = spk[cols], spk[rows]
        w += 0.1 * (0.01 * xp * post - 0.0105 * xq * pre)
        xp += 0.1 * (-xp / 20.0 + pre)
        xq += 0.1 * (-xq / 20.0 + post)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=1000)
    parser.add_argument("--p", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    W = sp.random(args.N, args.N, density=args.p, format="csr", random_state=1)
    W.data[:] = 1.0
    x = rng.random((args.steps, args.N)) * 0.3 + 0.05
    plain, plastic = network(W, False), network(W, True)
    t_plain = per_step(lambda: plain.run(x, verbose=False, record_output=False), args.steps,
                       args.repeats)  # fmt: skip
    t_plastic = per_step(lambda: plastic.run(x, verbose=False, record_output=False),
                         args.steps, args.repeats)  # fmt: skip
    t_numpy = per_step(lambda: numpy_stdp(W, x[: args.steps // 10]), args.steps // 10, 3)
    print(f"N={args.N}, p={args.p}, nnz={W.nnz}, steps={args.steps}; load {os.getloadavg()}")
    print(f"plain edge         {t_plain:8.3f} ms/step")
    print(f"STDP template edge {t_plastic:8.3f} ms/step  ({t_plastic / t_plain:.2f} x plain)")
    print(f"numpy STDP floor   {t_numpy:8.3f} ms/step  (rectinumba STDP / numpy: "
          f"{t_plastic / t_numpy:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
