"""The CSR gather alone: which loop the generated kernels use for ``y = J @ x`` (issue 15, item 2).

Times ``y[i] = sum_jj data[jj] * x[indices[jj]]`` over the rows of a random CSR matrix for

- column indices int64 (numba adds a negative-index wrap-around test to every load) or uint32
  (unsigned: no test; what :func:`rectinumba.weights.index_dtype` picks for N < 2**32),
- the position ``jj`` in the row as int64 (from int64 row pointers: a wrap-around test on each
  load of data[jj] and indices[jj]) or as uint64 (the pointers cast: no test),
- one accumulator or four independent ones (four dependency chains hide the latency of the
  floating-point add, which the compiler may not reorder without fast-math),
- fast-math on or off (with ``reassoc`` LLVM vectorises the gather into AVX gathers),

each as a ratio to scipy's CSR product of the same matrix measured in the same process (median of
``--repeat`` timings). ``--asm`` prints the inner loop of each variant's machine code.

Usage::

    python benchmarks/csr_gather_bench.py                  # N=10000, p=0.02, float64
    python benchmarks/csr_gather_bench.py --n 100000 --p 0.002 --dtype float32 --asm
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from cpu_bench import median  # same folder: ``python benchmarks/csr_gather_bench.py``

FLAGS = {"off": False, "on": {"arcp", "contract", "reassoc"}}


def _gather1(data, indices, indptr, x, y):
    for i in range(indptr.shape[0] - 1):
        acc = 0.0
        for jj in range(indptr[i], indptr[i + 1]):
            acc += data[jj] * x[indices[jj]]
        y[i] = acc


def _gather1u(data, indices, indptr, x, y):
    for i in range(indptr.shape[0] - 1):
        acc = 0.0
        for jj in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            acc += data[jj] * x[indices[jj]]
        y[i] = acc


def _gather4(data, indices, indptr, x, y):
    for i in range(indptr.shape[0] - 1):
        start, stop = indptr[i], indptr[i + 1]
        a0 = a1 = a2 = a3 = 0.0
        jj = start
        while jj + 4 <= stop:
            a0 += data[jj] * x[indices[jj]]
            a1 += data[jj + 1] * x[indices[jj + 1]]
            a2 += data[jj + 2] * x[indices[jj + 2]]
            a3 += data[jj + 3] * x[indices[jj + 3]]
            jj += 4
        while jj < stop:
            a0 += data[jj] * x[indices[jj]]
            jj += 1
        y[i] = (a0 + a1) + (a2 + a3)


def _gather4u(data, indices, indptr, x, y):
    one, two, three, four = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)
    for i in range(indptr.shape[0] - 1):
        start, stop = np.uint64(indptr[i]), np.uint64(indptr[i + 1])
        a0 = a1 = a2 = a3 = 0.0
        jj = start
        while jj + four <= stop:
            a0 += data[jj] * x[indices[jj]]
            a1 += data[jj + one] * x[indices[jj + one]]
            a2 += data[jj + two] * x[indices[jj + two]]
            a3 += data[jj + three] * x[indices[jj + three]]
            jj += four
        while jj < stop:
            a0 += data[jj] * x[indices[jj]]
            jj += one
        y[i] = (a0 + a1) + (a2 + a3)


def make(fast: bool, four: bool, unsigned: bool):
    """A row-gather kernel (all rows) with the given flags, accumulator count and loop counter
    (``unsigned``: the positions ``jj`` run as uint64, so loads need no wrap-around test)."""
    from numba import njit

    body = {(False, False): _gather1, (False, True): _gather1u,
            (True, False): _gather4, (True, True): _gather4u}[four, unsigned]  # fmt: skip
    return njit(fastmath=FLAGS["on" if fast else "off"], error_model="numpy", nogil=True)(body)


def inner_loop_asm(fn, sig) -> str:
    """A summary of a compiled variant's machine code: wrap-around tests (``sarq $63``), AVX
    gathers, scalar adds and fused multiply-adds."""
    asm = fn.inspect_asm(sig)
    count = {k: asm.count(k) for k in ("sarq\t$63", "vgather", "vaddsd", "vfmadd")}
    return "    " + ", ".join(f"{k.replace(chr(9), ' ')}: {v}" for k, v in count.items())


def main() -> None:
    import scipy.sparse as sp

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--p", type=float, default=0.02)
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--asm", action="store_true", help="print each variant's inner loop")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    J = sp.random(args.n, args.n, density=args.p, format="csr", random_state=1, dtype=dtype)
    J.data[:] = rng.standard_normal(J.nnz)
    J.sort_indices()
    x = rng.standard_normal(args.n).astype(dtype)
    y = np.zeros(args.n, dtype)
    number = max(1, int(2e7 // max(J.nnz, 1)))
    t_sp = median(lambda: J @ x, args.repeat, number)
    print(f"N={args.n} p={args.p} nnz={J.nnz} {dtype}; load {os.getloadavg()[0]:.2f}; "
          f"scipy CSR J@x {t_sp * 1e6:.0f} us (median of {args.repeat})")
    indptr = J.indptr.astype(np.int64)
    ref = J @ x
    print(f"{'indices':8} {'jj':8} {'acc':>3} {'fastmath':8} {'us':>8} {'x scipy':>8}")
    for idx_dtype in (np.int64, np.uint32):
        indices = J.indices.astype(idx_dtype)
        for unsigned in (False, True):
            for four in (False, True):
                for fast in (False, True):
                    fn = make(fast, four, unsigned)
                    fn(J.data, indices, indptr, x, y)
                    tol = 1e-4 if dtype == np.float32 else 1e-10
                    assert np.allclose(y, ref, rtol=tol, atol=tol * np.abs(J).max() * 10)
                    t = median(lambda fn=fn, ix=indices: fn(J.data, ix, indptr, x, y),
                                    args.repeat, number)  # fmt: skip
                    print(f"{np.dtype(idx_dtype).name:8} {'uint64' if unsigned else 'int64':8} "
                          f"{4 if four else 1:>3} {'on' if fast else 'off':8} {t * 1e6:8.0f} "
                          f"{t / t_sp:8.2f}")
                    if args.asm:
                        print(inner_loop_asm(fn, fn.signatures[0]))
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
