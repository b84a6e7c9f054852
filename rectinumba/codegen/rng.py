"""Source of the counter-based normal generator that noisy kernels call (CPU and CUDA alike).

Every standard normal a kernel draws is a pure function of (trial key, draw step, neuron, node,
block): Philox4x64-10 (Salmon et al. 2011, the generator of ``numpy.random.Philox``, whose raw
output the tests compare bit for bit) encrypts the counter ``(step, neuron, node, block)`` under
the key ``(trial key, 0)``; its four 64-bit words become four normals by Box-Muller. A draw
therefore depends on nothing a thread schedule, a thread count, a chunk of steps or a backend
could change: CPU kernels with any number of threads and CUDA kernels produce the same words
(the normals agree to the last bit wherever the platform's ``log``/``sin``/``cos`` do, and to
about one ulp otherwise).

The helpers are written with uint64 arithmetic only (wrapping multiplies and adds; the 128-bit
product is assembled from 32-bit halves), so the same text compiles with ``@njit``, with
``@cuda.jit(device=True)``, and runs in numba's CUDA simulator.
"""

from __future__ import annotations

__all__ = ["rng_helpers", "NORMALS_PER_CALL", "draw_line"]

#: standard normals returned by one generator call (a block)
NORMALS_PER_CALL = 4

_CONSTANTS = """\
_PH_LO = np.uint64(0xFFFFFFFF)
_PH_32 = np.uint64(32)
_PH_11 = np.uint64(11)
_PH_M0 = np.uint64(0xD2E7470EE14C6C93)
_PH_M1 = np.uint64(0xCA5A826395121157)
_PH_W0 = np.uint64(0x9E3779B97F4A7C15)
_PH_W1 = np.uint64(0xBB67AE8584CAA73B)
_PH_K1 = np.uint64(0)
_PH_EPS = 1.1102230246251565e-16
_PH_2PI = 6.283185307179586"""

_FUNCTIONS = """\
{decorator}
def _mulhilo(a, b):
    # 128-bit product of two uint64 from 32-bit halves: (high word, low word)
    a0 = a & _PH_LO
    a1 = a >> _PH_32
    b0 = b & _PH_LO
    b1 = b >> _PH_32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> _PH_32) + (p10 & _PH_LO) + (p01 & _PH_LO)
    hi = p11 + (p10 >> _PH_32) + (p01 >> _PH_32) + (mid >> _PH_32)
    lo = (p00 & _PH_LO) | ((mid & _PH_LO) << _PH_32)
    return hi, lo


{decorator}
def _philox(k0, k1, c0, c1, c2, c3):
    # Philox4x64-10: ten rounds, the key bumped by the Weyl constants between rounds
    for r in range(10):
        if r > 0:
            k0 = k0 + _PH_W0
            k1 = k1 + _PH_W1
        h0, l0 = _mulhilo(_PH_M0, c0)
        h1, l1 = _mulhilo(_PH_M1, c2)
        c0, c1, c2, c3 = h1 ^ c1 ^ k0, l1, h0 ^ c3 ^ k1, l0
    return c0, c1, c2, c3


{decorator}
def _normals4(key, m, i, k, q):
    # four standard normals for (trial key, draw step m, neuron i, node k, block q)
    w0, w1, w2, w3 = _philox(key, _PH_K1, np.uint64(m), np.uint64(i), np.uint64(k),
                             np.uint64(q))
    r0 = math.sqrt(-2.0 * math.log((float(w0 >> _PH_11) + 1.0) * _PH_EPS))
    a0 = _PH_2PI * (float(w1 >> _PH_11) * _PH_EPS)
    r1 = math.sqrt(-2.0 * math.log((float(w2 >> _PH_11) + 1.0) * _PH_EPS))
    a1 = _PH_2PI * (float(w3 >> _PH_11) * _PH_EPS)
    return r0 * math.cos(a0), r0 * math.sin(a0), r1 * math.cos(a1), r1 * math.sin(a1)"""


def rng_helpers(decorator: str) -> list[str]:
    """Source lines of the generator (constants and three functions).

    Parameters
    ----------
    decorator : str
        Decorator line of each function (``@njit(...)`` without fast-math, or
        ``@cuda.jit(device=True)``).

    Returns
    -------
    list of str
        The lines, followed by two blank lines.
    """
    return (_CONSTANTS + "\n\n\n" + _FUNCTIONS.format(decorator=decorator)).splitlines() + ["", ""]


def draw_line(k: int, block: int, names: list[str], seeds: str, offset: str) -> str:
    """The statement drawing block ``block`` of node ``k``'s normals for neuron ``i``.

    Parameters
    ----------
    k : int
        Node index.
    block : int
        Block index (normals ``4*block .. 4*block + 3``).
    names : list of str
        The four locals receiving the normals.
    seeds : str
        Name of the per-trial key argument.
    offset : str
        Name of the draw-step offset argument (draw step = ``t0 + step + offset``).

    Returns
    -------
    str
        One line of source.
    """
    return (
        f"{', '.join(names)} = _normals4({seeds}[b], t0 + step + {offset}, i, {k}, {block})"
    )
