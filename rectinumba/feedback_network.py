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

    Examples
    --------
    RectiPy's ``rnn_tryout`` structure: a feedback edge closes the cycle p1 -> p2 -> p1, and p1
    stays the input node:

    >>> import numpy as np
    >>> from rectinumba import FeedbackNetwork
    >>> net = FeedbackNetwork(1e-2, "cpu")
    >>> for label in ("p1", "p2"):
    ...     _ = net.add_diffeq_node(label, "model_templates.rate_neurons.leaky_integrator.li_op",
    ...                             N=3, input_var="I_ext", output_var="v")
    >>> net.add_edge("p1", "p2", weights=np.eye(3))
    Edge('p1' -> 'p2', (3, 3), train=None)
    >>> net.add_edge("p2", "p1", weights=-np.eye(3), feedback=True)
    Edge('p2' -> 'p1', (3, 3), train=None, feedback)
    >>> net.input_node, net.output_node
    ('p1', 'p2')
    """
