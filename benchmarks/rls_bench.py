"""RLS update rule: the cost of the symmetric, checked update (issue 10.4).

The update inside fit_rls's kernel was ``P = P/beta - (k z) z^T`` over the full matrix with no
check. It is now ``P = P/beta - g g^T`` with ``g = sqrt(k) z`` (exactly symmetric whatever the
compiler reorders) plus a non-finite check of every entry of P and W (``sum += p * 0.0``) and of
the gain k. Both rules are compiled here as standalone numba loops with the kernels' fast-math
flags and timed per update on random inputs for several sizes; ``max|P - P^T|`` is reported
after the run (the old rule is symmetric only where the compiler happens to keep it so).

A second table times ``Network.fit_rls`` per step (network step included) through the API.

Usage: python benchmarks/rls_bench.py [--sizes 100,300,1000] [--updates 2e7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

FASTMATH = {"arcp", "contract", "reassoc"}  # rectinumba.codegen.step.FASTMATH


@njit(fastmath=FASTMATH, error_model="numpy")
def _gain(P, x, z, inv_beta):
    """z = P x / beta and the gain k = 1 / (1 + x.z) (the same in both rules)."""
    n = P.shape[0]
    xz = 0.0
    for i in range(n):
        zi = 0.0
        for j in range(n):
            zi += P[i, j] * x[j]
        zi *= inv_beta
        z[i] = zi
        xz += x[i] * zi
    return 1.0 / (1.0 + xz)


@njit(fastmath=FASTMATH, error_model="numpy")
def old_rule(P, X, z, inv_beta):
    n = P.shape[0]
    for r in range(X.shape[0]):
        kk = _gain(P, X[r], z, inv_beta)
        for i in range(n):
            kz = kk * z[i]
            for j in range(n):
                P[i, j] = P[i, j] * inv_beta - kz * z[j]
    return 0


@njit(fastmath=FASTMATH, error_model="numpy")
def new_rule(P, X, z, inv_beta):
    n = P.shape[0]
    faults = 0
    for r in range(X.shape[0]):
        kk = _gain(P, X[r], z, inv_beta)
        if not (kk > 0.0 and kk < np.inf):
            faults += 1
        gk = np.sqrt(kk) if kk > 0.0 else 0.0
        for i in range(n):
            z[i] = gk * z[i]
        chk = 0.0
        for i in range(n):
            gi = z[i]
            for j in range(n):
                p = P[i, j] * inv_beta - gi * z[j]
                P[i, j] = p
                chk += p * 0.0
        if not np.isfinite(chk):
            faults += 1
    return faults


def rule_table(sizes, work: float) -> None:
    print(f"{'n':>6} {'old us/update':>14} {'new us/update':>14} {'new/old':>8} "
          f"{'old max|P-P^T|':>15} {'new max|P-P^T|':>15}")  # fmt: skip
    for n in sizes:
        rng = np.random.default_rng(0)
        reps = max(50, int(work // (n * n)))
        X = rng.standard_normal((reps, n))
        z = np.zeros(n)
        row = []
        for rule in (old_rule, new_rule):
            rule(np.eye(n), X[:2], z, 1 / 0.999)  # compile
            best = np.inf
            for _ in range(3):
                P = np.eye(n)
                t = time.perf_counter()
                rule(P, X, z, 1 / 0.999)
                best = min(best, (time.perf_counter() - t) / reps)
            row.append((best, np.abs(P - P.T).max()))
        (t_old, a_old), (t_new, a_new) = row
        print(f"{n:>6} {t_old * 1e6:>14.1f} {t_new * 1e6:>14.1f} {t_new / t_old:>8.2f} "
              f"{a_old:>15.1e} {a_new:>15.1e}")  # fmt: skip


def api_table(sizes, steps: int) -> None:
    from rectinumba import Network

    print(f"\n{'n':>6} {'fit_rls us/step':>16}   (LI/tanh reservoir of n units, RLS readout)")
    for n in sizes:
        rng = np.random.default_rng(1)
        net = Network(0.1)
        net.add_diffeq_node("rnn", "model_templates.rate_neurons.leaky_integrator.tanh",
                            weights=rng.standard_normal((n, n)) / np.sqrt(n),
                            source_var="tanh_op/r", target_var="li_op/r_in",
                            input_var="li_op/I_ext", output_var="tanh_op/r")  # fmt: skip
        net.add_func_node("out", 1)
        net.add_edge("rnn", "out", train="rls")
        x = rng.standard_normal((steps, n))
        y = np.sin(np.arange(steps) * 0.05)
        net.fit_rls(x[:10], y[:10], verbose=False)  # compile
        t = time.perf_counter()
        net.fit_rls(x, y, verbose=False, record_output=False, record_loss=False)
        print(f"{n:>6} {(time.perf_counter() - t) / steps * 1e6:>16.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--updates", type=float, default=2e7, help="n^2 x updates per size")
    parser.add_argument("--steps", type=int, default=2000, help="fit_rls steps per size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rule_table(sizes, args.updates)
    api_table(sizes, args.steps)


if __name__ == "__main__":
    main()
