"""Parameter sweeps and ensembles: many points of one network in batched kernels, here or on a
Dask, MPI or process-pool executor, with results labelled by parameter values.

>>> from rectinumba import sweep                                         # doctest: +SKIP
>>> ds = sweep(net, {"eta": np.linspace(-5, 5, 64), "rnn/weights": [0.5, 1, 2]},
...            steps=10_000, record_vars=[("rnn", "s", True)], reduce="mean")  # doctest: +SKIP

See :func:`sweep` for the keys, the reductions and the executors.
"""

from .driver import sweep
from .reduce import STATISTICS
from .result import SweepResult

__all__ = ["sweep", "SweepResult", "STATISTICS"]
