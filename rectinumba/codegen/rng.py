"""Source of the counter-based normal generator that noisy kernels call (CPU and CUDA alike).

Every standard normal a kernel draws is a pure function of (trial key, draw step, neuron, node,
block): Philox4x32-10 (Salmon et al. 2011; cuRAND's default generator; the tests check the known
answers of the Random123 reference) encrypts the counter ``(step low, step high, neuron,
node << 16 | block << 8 | attempt)`` under the trial key's two 32-bit halves; its four 32-bit
words make two 53-bit uniforms ``u, v`` in (-1, 1), and Marsaglia's polar method turns a pair
with ``0 < s = u^2 + v^2 < 1`` into two normals ``u, v * sqrt(-2 ln(s) / s)`` (a rejected pair,
21 % of them, is followed by the next attempt's counter). A draw therefore depends on nothing a
thread schedule, a thread count, a chunk of steps or a backend could change: CPU kernels with
any number of threads and CUDA kernels compute the same words (the normals agree to the last bit
wherever the platform's ``log`` and ``sqrt`` do, and to about one ulp otherwise). The polar
method costs one ``log``, one ``sqrt`` and a division per pair: about half of Box-Muller's
``log``, ``sqrt``, ``cos`` and ``sin`` (measured 26 vs 45-74 ns on a busy 2-core machine).

All arithmetic is on uint64 values below 2**33 (32x32-bit products, masked sums), so the same
text compiles with ``@njit``, with ``@cuda.jit(device=True)``, and runs in numba's CUDA
simulator without overflow.
"""

from __future__ import annotations

__all__ = ["rng_helpers", "NORMALS_PER_CALL", "draw_line"]

#: standard normals returned by one generator call (a block)
NORMALS_PER_CALL = 2

_CONSTANTS = """\
_PH_LO = np.uint64(0xFFFFFFFF)
_PH_32 = np.uint64(32)
_PH_11 = np.uint64(11)
_PH_16 = np.uint64(16)
_PH_8 = np.uint64(8)
_PH_1 = np.uint64(1)
_PH_M0 = np.uint64(0xD2511F53)
_PH_M1 = np.uint64(0xCD9E8D57)
_PH_W0 = np.uint64(0x9E3779B9)
_PH_W1 = np.uint64(0xBB67AE85)
_PH_EPS2 = 2.220446049250313e-16"""

_FUNCTIONS = """\
{decorator}
def _philox(k0, k1, c0, c1, c2, c3):
    # Philox4x32-10 on 32-bit words held in uint64: ten rounds, the key bumped between rounds
    for r in range(10):
        if r > 0:
            k0 = (k0 + _PH_W0) & _PH_LO
            k1 = (k1 + _PH_W1) & _PH_LO
        p0 = _PH_M0 * c0
        p1 = _PH_M1 * c2
        c0, c1 = (p1 >> _PH_32) ^ c1 ^ k0, p1 & _PH_LO
        c2, c3 = (p0 >> _PH_32) ^ c3 ^ k1, p0 & _PH_LO
    return c0, c1, c2, c3


{decorator}
def _normals2(key, m, i, k, q):
    # two standard normals for (trial key, draw step m, neuron i, node k, block q): the polar
    # method on the first attempt whose pair falls inside the unit circle
    step = np.uint64(m)
    head = (np.uint64(k) << _PH_16) | (np.uint64(q) << _PH_8)
    attempt = np.uint64(0)
    while True:
        w0, w1, w2, w3 = _philox(key & _PH_LO, key >> _PH_32, step & _PH_LO, step >> _PH_32,
                                 np.uint64(i), head | attempt)
        u = float(((w0 << _PH_32) | w1) >> _PH_11) * _PH_EPS2 - 1.0
        v = float(((w2 << _PH_32) | w3) >> _PH_11) * _PH_EPS2 - 1.0
        s = u * u + v * v
        if 0.0 < s < 1.0:
            f = math.sqrt(-2.0 * math.log(s) / s)
            return u * f, v * f
        attempt = attempt + _PH_1"""


def rng_helpers(decorator: str) -> list[str]:
    """Source lines of the generator (constants and two functions).

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
        Block index (normals ``2*block``, ``2*block + 1``).
    names : list of str
        The locals receiving the normals (two).
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
        f"{', '.join(names)} = _normals2({seeds}[b], t0 + step + {offset}, i, {k}, {block})"
    )
