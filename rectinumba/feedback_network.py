"""RectiPy's ``FeedbackNetwork``, for scripts that import it."""

from __future__ import annotations

from .network import Network

__all__ = ["FeedbackNetwork"]


class FeedbackNetwork(Network):
    """A :class:`~rectinumba.Network` built with feedback edges, under RectiPy's class name.

    RectiPy's plain ``Network`` could not hold cycles; its ``FeedbackNetwork`` accepted
    ``add_edge(..., feedback=True)``: the feedback edges are left out when the input node, the
    output node and the evaluation order are found, and deliver the source's output to the
    target. rectinumba's ``Network`` accepts feedback edges itself, so this class adds nothing:
    it exists so that ``from rectinumba import FeedbackNetwork`` and
    ``FeedbackNetwork(dt, device)`` work unchanged.

    Parameters
    ----------
    dt : float
        Integration step, > 0.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    dtype : numpy dtype
        ``np.float64`` (default) or ``np.float32``.
    method : str
        Update rule, as for :class:`~rectinumba.Network`.
    seed : int or sequence of int, optional
        Noise seed, as for :class:`~rectinumba.Network`.
    """
