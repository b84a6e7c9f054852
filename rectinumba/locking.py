"""One call at a time per network: a second thread gets a clear error instead of a lost update.

A Network's state (states, feedback buffers, step counter, trained weights) is read at the start
of a call and committed at its end; two calls running at once from two threads would each start
from the same state and one commit would silently overwrite the other. Methods that run kernels
or change the network are wrapped with :func:`exclusive`: the first caller holds the network's
re-entrant lock until it returns (a method may call others, e.g. ``fit_ridge`` adds a node),
and a call from another thread meanwhile raises a NetworkError at once (it does not wait: a
program that shares one network between threads has a bug that waiting would hide).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import NetworkError

__all__ = ["exclusive", "new_lock"]

F = TypeVar("F", bound=Callable[..., Any])


def new_lock() -> threading.RLock:
    """The lock a network's :func:`exclusive` methods share.

    Returns
    -------
    threading.RLock
        A re-entrant lock.
    """
    return threading.RLock()


def exclusive(method: F) -> F:
    """Run ``method`` holding the network's lock; refuse a concurrent call from another thread.

    Parameters
    ----------
    method : callable
        A method of Network (or of one of its mixins).

    Returns
    -------
    callable
        The wrapped method.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        lock = self._call_lock
        if not lock.acquire(blocking=False):
            busy = getattr(self, "_busy_with", None) or "another call"
            raise NetworkError(
                f"{method.__name__}: the network is busy with {busy} in another thread; a Network "
                "runs one call at a time",
                hint="give each thread its own network: copy.deepcopy(net) (or pickle it)",
            )
        outer = getattr(self, "_busy_with", None)
        self._busy_with = outer or f"{method.__name__}()"
        try:
            return method(self, *args, **kwargs)
        finally:
            self._busy_with = outer
            lock.release()

    return wrapper  # type: ignore[return-value]
