"""Seeds and streams of the noise of noisy models (white noise ``xi`` in the equations).

Every normal a kernel draws is a pure function of (trial key, draw step, neuron, node, block)
(:mod:`rectinumba.codegen.rng`, Philox4x64-10). This module holds what a network keeps between
runs:

- the **seed**: an integer (``Network(dt, seed=...)``, ``net.seed = s``, ``run(..., seed=s)``),
  from which trial ``b`` of a run takes the key :func:`trial_key` ``(s, b)``; or one integer per
  trial (a sequence of B seeds: trial ``b`` takes ``trial_key(seeds[b], 0)``, so its noise depends
  on its own seed alone: what :func:`rectinumba.sweep` gives every point). Without a seed, a
  network draws one from the operating system's entropy when it is made (``net.seed`` tells
  which, so a run can be repeated);
- the **draw step**: how many steps of noise were used since the seed was set. Setting a seed
  (any of the three ways) restarts the stream at step 0; a run without a seed continues it, so
  two runs of T steps equal one run of 2T steps. ``reset()`` returns states and histories but
  not the noise stream (a loop of ``reset(); run(x)`` gives new noise each time; set the seed to
  repeat a trajectory). A failed run leaves the stream where it was.

Keys are derived with Philox itself: ``trial_key(s, b)`` is the first two words of Philox4x32-10
at counter ``(b mod 2**32, b // 2**32, 0, 0x5EED)`` under the key ``(s mod 2**32, s // 2**32)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import NetworkError

__all__ = ["NoiseStream", "trial_key", "philox4x32", "check_seed", "MAX_SEED"]

#: seeds are integers 0 <= seed <= MAX_SEED (64 bits)
MAX_SEED = 2**64 - 1

_M32 = 2**32 - 1
_M = (0xD2511F53, 0xCD9E8D57)
_W = (0x9E3779B9, 0xBB67AE85)


def philox4x32(counter: Sequence[int], key: Sequence[int]) -> tuple[int, int, int, int]:
    """Philox4x32-10 of one counter under one key, in Python integers (the host's reference).

    Parameters
    ----------
    counter : sequence of int
        Four 32-bit words.
    key : sequence of int
        Two 32-bit words.

    Returns
    -------
    tuple of int
        Four 32-bit words (Random123's ``philox4x32_10``, cuRAND's Philox4_32_10).
    """
    c0, c1, c2, c3 = (int(v) & _M32 for v in counter)
    k0, k1 = (int(v) & _M32 for v in key)
    for r in range(10):
        if r:
            k0, k1 = (k0 + _W[0]) & _M32, (k1 + _W[1]) & _M32
        p0, p1 = _M[0] * c0, _M[1] * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & _M32, (p0 >> 32) ^ c3 ^ k1, p0 & _M32
    return c0, c1, c2, c3


def trial_key(seed: int, trial: int) -> int:
    """The generator key of trial ``trial`` of a run with seed ``seed``.

    Parameters
    ----------
    seed : int
        A seed, ``0 <= seed <= MAX_SEED``.
    trial : int
        Trial index.

    Returns
    -------
    int
        A 64-bit key.
    """
    words = philox4x32((trial & _M32, trial >> 32, 0, 0x5EED), (seed & _M32, seed >> 32))
    return (words[0] << 32) | words[1]


def check_seed(seed, what: str = "seed") -> int | tuple[int, ...]:
    """A valid seed: an integer in ``[0, MAX_SEED]``, or a non-empty sequence of them.

    Parameters
    ----------
    seed : int or sequence of int
        The seed(s) as the user gave them (numpy integers and integral arrays work).
    what : str
        What the value is, for messages.

    Returns
    -------
    int or tuple of int
        The seed, or one seed per trial.
    """

    def one(value) -> int:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        if not ok or not 0 <= int(value) <= MAX_SEED:
            raise NetworkError(
                f"{what} must be an integer between 0 and 2**64 - 1 (or one such integer per "
                f"trial), got {value!r}"
            )
        return int(value)

    if isinstance(seed, (list, tuple, np.ndarray)):
        values = np.asarray(seed, dtype=object).reshape(-1) if np.ndim(seed) else [seed]
        if np.ndim(seed) > 1 or len(values) == 0:
            raise NetworkError(
                f"{what}: one seed per trial is a 1-D sequence of integers, got shape "
                f"{np.shape(seed)}"
            )
        return tuple(one(v) for v in values)
    return one(seed)


class NoiseStream:
    """The seed and the draw step of a network's noise (see the module docstring).

    Parameters
    ----------
    seed : int or sequence of int or None
        The seed, one seed per trial, or None (drawn from the operating system's entropy).
    """

    def __init__(self, seed=None) -> None:
        self.reseed(seed)

    def reseed(self, seed=None) -> None:
        """Set the seed and restart the stream at draw step 0.

        Parameters
        ----------
        seed : int or sequence of int or None
            As for the constructor.
        """
        if seed is None:
            seed = int(np.random.SeedSequence().entropy) & MAX_SEED
        self.seed = check_seed(seed)
        #: steps of noise drawn since the seed was set
        self.step = 0

    def keys(self, B: int) -> np.ndarray:
        """Generator keys of the trials of a run of B trials.

        Parameters
        ----------
        B : int
            Number of trials.

        Returns
        -------
        numpy.ndarray
            (B,) uint64 keys.
        """
        if isinstance(self.seed, tuple):
            if len(self.seed) != B:
                raise NetworkError(
                    f"the network has one seed per trial for {len(self.seed)} trial(s) but the "
                    f"input has {B} trial(s)",
                    hint="set net.seed to an integer (trial b then uses (seed, b)) or to B seeds",
                )
            keys = [trial_key(s, 0) for s in self.seed]
        else:
            keys = [trial_key(self.seed, b) for b in range(B)]
        return np.array(keys, dtype=np.uint64)

    def copy(self) -> NoiseStream:
        """A copy (for snapshots).

        Returns
        -------
        NoiseStream
            Same seed and step.
        """
        new = NoiseStream.__new__(NoiseStream)
        new.seed, new.step = self.seed, self.step
        return new

    def __repr__(self) -> str:
        return f"NoiseStream(seed={self.seed!r}, step={self.step})"
