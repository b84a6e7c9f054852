"""Progress reporting for long runs: a tqdm bar when tqdm is installed, plain lines otherwise.

Two forms:

- ``for i in progress(n_steps, "simulating", verbose):`` wraps an iterable (or ``range(total)``);
- ``with Progress(total, "simulating", verbose) as p: ... p.update(chunk)`` for loops that
  advance in chunks (the compiled kernel runs many steps per call).

With ``verbose=False`` both are silent and cost nothing per item. tqdm is an optional extra
(``pip install rectinumba[progress]``); without it, a line is printed each time another 10% is
done (or, when the total is unknown, every few seconds). Output goes to ``sys.stderr`` unless a
``file`` is given.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from .errors import RectinumbaError

__all__ = ["Progress", "progress"]

# seconds between plain-text lines when the total is unknown
_INTERVAL = 5.0


def _load_tqdm() -> Any:
    """tqdm's progress-bar class, or None when tqdm is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


def _check_total(total: Any) -> int | None:
    if total is None:
        return None
    if isinstance(total, bool) or int(total) != total or total < 0:
        raise RectinumbaError(f"progress: total must be a non-negative integer, got {total!r}")
    return int(total)


class Progress:
    """Context manager reporting progress of a loop that advances by ``update(n)``.

    Parameters
    ----------
    total
        Number of units expected (steps, epochs); ``None`` if unknown.
    desc
        Text in front of each report.
    verbose
        ``False`` makes every method a no-op.
    file
        Stream to write to; ``sys.stderr`` (looked up when the object is made) by default.

    Examples
    --------
    >>> with Progress(1000, "run", verbose=False) as p:
    ...     for chunk in range(10):
    ...         p.update(100)
    """

    def __init__(
        self,
        total: int | None,
        desc: str = "",
        verbose: bool = True,
        *,
        file: TextIO | None = None,
    ) -> None:
        self.total = _check_total(total)
        self.desc = desc
        self.verbose = bool(verbose)
        self.n = 0
        self._file = file
        self._bar: Any = None
        self._closed = False
        self._start = time.perf_counter()
        self._last_print = self._start
        self._next_tenth = 1  # plain mode: print when n/total reaches _next_tenth/10
        if self.verbose:
            tqdm = _load_tqdm()
            if tqdm is not None:
                self._bar = tqdm(total=self.total, desc=desc or None, file=file)
            elif self._file is None:
                self._file = sys.stderr

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Record that ``n`` more units are done."""
        if not self.verbose or self._closed:
            return
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if self.total:
            tenths = min(10, (10 * self.n) // self.total)
            if tenths >= self._next_tenth:
                # one line however many 10% marks a single update passes
                self._next_tenth = tenths + 1
                self._print(now)
        elif now - self._last_print >= _INTERVAL:
            self._print(now)

    def _print(self, now: float) -> None:
        self._last_print = now
        prefix = f"{self.desc}: " if self.desc else ""
        elapsed = now - self._start
        if self.total:
            pct = 100 * self.n // self.total
            line = f"{prefix}{pct:3d}% ({self.n}/{self.total}) {elapsed:.1f} s"
        else:
            line = f"{prefix}{self.n} done, {elapsed:.1f} s"
        print(line, file=self._file, flush=True)

    def close(self) -> None:
        """Finish the report (closes the tqdm bar; with an unknown total prints a last line)."""
        if not self.verbose or self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif not self.total and self.n:
            self._print(time.perf_counter())


def progress(
    iterable_or_total: Iterable[Any] | int,
    desc: str = "",
    verbose: bool = True,
    *,
    file: TextIO | None = None,
) -> Iterable[Any]:
    """Iterate with a progress report.

    Parameters
    ----------
    iterable_or_total
        An iterable, or an integer ``n`` meaning ``range(n)``.
    desc
        Text in front of each report.
    verbose
        ``False`` returns the iterable itself: no output, no overhead.
    file
        Stream to write to; ``sys.stderr`` by default.

    Returns
    -------
    Iterable
        The items of the iterable, in order.
    """
    if isinstance(iterable_or_total, Iterable):
        iterable = iterable_or_total
        total = len(iterable) if hasattr(iterable, "__len__") else None
    else:
        total = _check_total(iterable_or_total)
        iterable = range(total)
    if not verbose:
        return iterable
    tqdm = _load_tqdm()
    if tqdm is not None:
        return tqdm(iterable, total=total, desc=desc or None, file=file)
    return _plain(iterable, total, desc, file)


def _plain(
    iterable: Iterable[Any], total: int | None, desc: str, file: TextIO | None
) -> Iterator[Any]:
    with Progress(total, desc, verbose=True, file=file) as bar:
        # tqdm is known to be missing here, so Progress takes the plain-text branch
        for item in iterable:
            yield item
            bar.update(1)
