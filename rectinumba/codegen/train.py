"""Training hooks emitted into the step kernel: ridge accumulation and online RLS.

A hook is a small frozen (hashable) object stored in ``NetworkSpec.train``; ``render_network``
calls its ``emit(code, spec, args)`` at the end of every step, after the network output was
recorded and before the feedback buffers are copied. Only *structure* lives in a hook (the rendered
source depends on it); every value (cutoff, sampling, beta, update interval, targets, P, ...) is a
kernel argument (``ArgSpec(role="train")``) so that fits with other values reuse one compiled
kernel. Names available in the emitted code: ``b``, ``step`` (chunk-local), ``gs`` (run-relative
step), ``x``, ``n<k>_out``, ``n<k>_prev`` and the edge weights ``e<e>_W``.

Arguments (``detail`` keys, supplied through ``Network._execute(train_arrays=...)``):

RidgeAccumulate
    ``cfg`` int64 ``[cutoff, sampling]``; ``steps:y`` targets (B, T, k); ``buf`` (B, n1, K) and
    ``ybuf`` (B, k, K) buffers of K recorded rows (stored as columns); ``cnt`` int64 (B,) rows in
    the buffers; ``xx`` (B, n1, n1) (upper triangle) and ``xy`` (B, n1, k) accumulators.
    ``n1 = n + 1`` with an intercept column of ones.
RLSUpdate
    ``cfg`` int64 ``[update_steps, sampling]``; ``par`` float64 ``[beta]``; ``steps:y`` targets
    (B, T, k); ``P`` (n_s, n_s); ``z`` (n_s,), ``e`` (k,) scratch; ``acc`` float64
    ``[sum of squared errors, number of terms]``; ``lrec`` (n_rec,) loss at the sampled steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from .step import ArgSpec

__all__ = ["RidgeAccumulate", "RLSUpdate"]


def _train_args(args: list, *keys: str) -> list[str]:
    """Append a ``train`` argument named ``tr_<key>`` (``tr_y`` for ``steps:y``) per key."""
    names = [f"tr_{key.removeprefix('steps:')}" for key in keys]
    args.extend(ArgSpec(name, "train", -1, key) for name, key in zip(names, keys, strict=True))
    return names


@dataclass(frozen=True)
class RidgeAccumulate:
    """Accumulate ``X^T X`` and ``X^T Y`` of the network output X at the recording steps.

    Each recorded row (network output, optionally followed by a 1 for the intercept) and its
    target row are written as a *column* of per-trial buffers ``buf`` (B, n1, K) and ``ybuf``
    (B, k, K). A full buffer is folded into the accumulators with dot products of contiguous
    rows: the upper triangle (j >= i) of ``xx`` (entries below it hold junk) and all of ``xy``.
    The caller folds the columns
    left in the buffers after the last kernel call and mirrors the triangle. Memory is
    O(B (K + n) n), independent of T.

    Register-blocked loops instead of ``np.dot``: they do half the flops (symmetry) and reach
    the speed of a single-threaded BLAS product (measured 55-68 vs 43-92 GFLOP/s-equivalent for
    n = 40..500), without BLAS threads, which stall badly when the cores are busy (measured: 10x
    slower fits on a loaded 2-core machine with OpenBLAS threads inside the kernel).
    """

    intercept: bool = False

    def emit(self, code, spec, args: list) -> None:
        o = spec.output_node
        cfg, y, buf, ybuf, cnt, xx, xy = _train_args(
            args, "cfg", "steps:y", "buf", "ybuf", "cnt", "xx", "xy"
        )
        # own sampling test: rec_now is never true when the fit records no output
        with code.block(f"if gs >= {cfg}[0] and (gs - {cfg}[0]) % {cfg}[1] == 0:"):
            code(f"cl = {cnt}[b]")
            with code.block(f"for i in range(N{o}):"):
                code(f"{buf}[b, i, cl] = n{o}_out[b, i]")
            if self.intercept:
                code(f"{buf}[b, N{o}, cl] = 1.0")
            with code.block(f"for q in range({y}.shape[2]):"):
                code(f"{ybuf}[b, q, cl] = {y}[b, step, q]")
            code(f"{cnt}[b] = cl + 1")
            with code.block(f"if cl + 1 == {buf}.shape[2]:"):
                _emit_fold(code, buf, ybuf, xx, xy)
                code(f"{cnt}[b] = 0")


def _emit_fold(code, buf: str, ybuf: str, xx: str, xy: str) -> None:
    """``xx[b] += buf[b] buf[b]^T`` (upper triangle) and ``xy[b] += buf[b] ybuf[b]^T``.

    Register-blocked: rows ti, ti+1 against four rows tj..tj+3 per pass over the K columns
    (8 accumulators, 6 loads per 8 multiply-adds). The pair block at tj = ti also writes the
    lower entry (ti+1, ti); the caller reads only the upper triangle.
    """
    code(f"n1 = {buf}.shape[1]")
    code(f"kc = {buf}.shape[2]")
    code("ti = 0")
    with code.block("while ti + 2 <= n1:"):
        code("tj = ti")
        with code.block("while tj + 4 <= n1:"):
            code("s00 = 0.0; s01 = 0.0; s02 = 0.0; s03 = 0.0")
            code("s10 = 0.0; s11 = 0.0; s12 = 0.0; s13 = 0.0")
            with code.block("for tc in range(kc):"):
                code(f"a0 = {buf}[b, ti, tc]; a1 = {buf}[b, ti + 1, tc]")
                code(f"c0 = {buf}[b, tj, tc]; c1 = {buf}[b, tj + 1, tc]")
                code(f"c2 = {buf}[b, tj + 2, tc]; c3 = {buf}[b, tj + 3, tc]")
                code("s00 += a0 * c0; s01 += a0 * c1; s02 += a0 * c2; s03 += a0 * c3")
                code("s10 += a1 * c0; s11 += a1 * c1; s12 += a1 * c2; s13 += a1 * c3")
            code(f"{xx}[b, ti, tj] += s00; {xx}[b, ti, tj + 1] += s01")
            code(f"{xx}[b, ti, tj + 2] += s02; {xx}[b, ti, tj + 3] += s03")
            code(f"{xx}[b, ti + 1, tj] += s10; {xx}[b, ti + 1, tj + 1] += s11")
            code(f"{xx}[b, ti + 1, tj + 2] += s12; {xx}[b, ti + 1, tj + 3] += s13")
            code("tj += 4")
        with code.block("while tj < n1:"):
            code("s00 = 0.0; s10 = 0.0")
            with code.block("for tc in range(kc):"):
                code(f"c0 = {buf}[b, tj, tc]")
                code(f"s00 += {buf}[b, ti, tc] * c0; s10 += {buf}[b, ti + 1, tc] * c0")
            code(f"{xx}[b, ti, tj] += s00; {xx}[b, ti + 1, tj] += s10")
            code("tj += 1")
        code("ti += 2")
    with code.block("if ti < n1:"):
        with code.block("for tj in range(ti, n1):"):
            code("s00 = 0.0")
            with code.block("for tc in range(kc):"):
                code(f"s00 += {buf}[b, ti, tc] * {buf}[b, tj, tc]")
            code(f"{xx}[b, ti, tj] += s00")
    with code.block("for ti in range(n1):"):
        with code.block(f"for q in range({ybuf}.shape[1]):"):
            code("s00 = 0.0")
            with code.block("for tc in range(kc):"):
                code(f"s00 += {buf}[b, ti, tc] * {ybuf}[b, q, tc]")
            code(f"{xy}[b, ti, q] += s00")


@dataclass(frozen=True)
class RLSUpdate:
    """Recursive least squares on the dense edge ``spec.edges[edge]``, inside the step loop.

    With x the vector the edge read this step (the source's output, or its previous output for a
    feedback edge), y the target and ``e = y - W x`` the a-priori error of the edge's
    contribution, every ``update_steps`` steps::

        z = P x / beta;  k = 1 / (1 + x.z);  W += k e z^T;  P = P / beta - k z z^T

    ``k z z^T`` is computed as ``g g^T`` with ``g = sqrt(k) z``: the product of two entries of g
    is the same for (i, j) and (j, i) however the compiler reorders arithmetic, so P stays
    exactly symmetric. Each update checks its results: a gain k that is not in (0, inf) (P lost
    positive definiteness) or a non-finite P or W sets status code
    :data:`~rectinumba.backends.status.RLS_NONFINITE` (step, edge index, what: 0 P, 1 W, 2 k)
    and the run stops at the end of the step (the caller restores W and P).

    The squared error is accumulated every step (per-epoch loss) and stored at the sampled steps.
    The edge weights are the Edge object's own array, so W is updated in place. Trials (b) share
    W and P: the caller runs RLS with a single trial.
    """

    edge: int

    def emit(self, code, spec, args: list) -> None:
        e = self.edge
        E = spec.edges[e]
        src = f"n{E.source}_prev" if E.feedback else f"n{E.source}_out"
        W = f"e{e}_W"
        cfg, par, y, P, z, err, acc, lrec = _train_args(
            args, "cfg", "par", "steps:y", "P", "z", "e", "acc", "lrec"
        )
        code("# ---- RLS: a-priori error of the trained edge's contribution")
        code("sq = 0.0")
        with code.block(f"for q in range({W}.shape[0]):"):
            code("wx = 0.0")
            with code.block(f"for j in range({W}.shape[1]):"):
                code(f"wx += {W}[q, j] * {src}[b, j]")
            code(f"eq = {y}[b, step, q] - wx")
            code(f"{err}[q] = eq")
            code("sq += eq * eq")
        code(f"{acc}[0] += sq")
        code(f"{acc}[1] += {W}.shape[0]")
        with code.block(f"if gs % {cfg}[1] == 0:"):
            code(f"{lrec}[gs // {cfg}[1]] = sq / {W}.shape[0]")
        with code.block(f"if gs % {cfg}[0] == 0:"):
            code(f"inv_beta = 1.0 / {par}[0]")
            code("xz = 0.0")
            with code.block(f"for i in range({W}.shape[1]):"):
                code("zi = 0.0")
                with code.block(f"for j in range({W}.shape[1]):"):
                    code(f"zi += {P}[i, j] * {src}[b, j]")
                code("zi = zi * inv_beta")
                code(f"{z}[i] = zi")
                code(f"xz += {src}[b, i] * zi")
            code("kk = 1.0 / (1.0 + xz)")
            _emit_rls_fault(code, "not (kk > 0.0 and kk < math.inf)", e, 2)
            # z becomes g = sqrt(k) z: W += (sqrt(k) e) g^T and P = P / beta - g g^T
            code("gk = math.sqrt(kk) if kk > 0.0 else 0.0")
            with code.block(f"for i in range({W}.shape[1]):"):
                code(f"{z}[i] = gk * {z}[i]")
            code("wchk = 0.0")
            with code.block(f"for q in range({W}.shape[0]):"):
                code(f"ke = gk * {err}[q]")
                with code.block(f"for j in range({W}.shape[1]):"):
                    code(f"wn = {W}[q, j] + ke * {z}[j]")
                    code(f"{W}[q, j] = wn")
                    code("wchk += wn * 0.0")
            code("pchk = 0.0")
            with code.block(f"for i in range({W}.shape[1]):"):
                code(f"gi = {z}[i]")
                with code.block(f"for j in range({W}.shape[1]):"):
                    code(f"pn = {P}[i, j] * inv_beta - gi * {z}[j]")
                    code(f"{P}[i, j] = pn")
                    code("pchk += pn * 0.0")
            # x * 0.0 is 0 for finite x and NaN for NaN or inf (no fast-math flag drops that), so
            # these sums are non-finite exactly when an entry is, and never overflow
            _emit_rls_fault(code, "not math.isfinite(pchk)", e, 0)
            _emit_rls_fault(code, "not math.isfinite(wchk)", e, 1)


def _emit_rls_fault(code, condition: str, edge: int, what: int) -> None:
    """Record an RLS fault (status code 2) unless an earlier fault was recorded."""
    with code.block(f"if {condition} and status[b, 0] == 0:"):
        code("status[b, 0] = 2")
        code("status[b, 1] = gs")
        code(f"status[b, 2] = {edge}")
        code(f"status[b, 3] = {what}")
        code("status[b, 4] = 0")
