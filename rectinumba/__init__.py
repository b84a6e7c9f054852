"""rectinumba: recurrent networks of rate and spiking neurons, from YAML equations to numba kernels.

The import is light: numba and sympy load only when a model is compiled or simulated.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    BackendError,
    EdgeNotFoundError,
    EquationError,
    NetworkError,
    NodeNotFoundError,
    RectinumbaError,
    SimulationError,
    TemplateError,
    TemplateKeyError,
    TemplateNameError,
    TemplateNotFoundError,
    VariableNotFoundError,
)

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "Network": "rectinumba.network",
    "FeedbackNetwork": "rectinumba.feedback_network",
    "Observer": "rectinumba.observer",
    # RectiPy's top-level utilities
    "random_connectivity": "rectinumba.utility",
    "circular_connectivity": "rectinumba.utility",
    "input_connections": "rectinumba.utility",
    "normalize": "rectinumba.utility",
    "wta_score": "rectinumba.utility",
    "OperatorTemplate": "rectinumba.templates",
    "NodeTemplate": "rectinumba.templates",
    "EdgeTemplate": "rectinumba.templates",
    "CircuitTemplate": "rectinumba.templates",
    "compile_node": "rectinumba.equations",
    "NodeModel": "rectinumba.equations",
    "utility": "rectinumba.utility",
    "sweep": "rectinumba.sweeps",
}

__all__ = [
    "BackendError",
    "EdgeNotFoundError",
    "EquationError",
    "NetworkError",
    "NodeNotFoundError",
    "RectinumbaError",
    "SimulationError",
    "TemplateError",
    "TemplateKeyError",
    "TemplateNameError",
    "TemplateNotFoundError",
    "VariableNotFoundError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rectinumba' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if name == "utility" else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
