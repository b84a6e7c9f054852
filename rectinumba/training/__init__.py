"""Training: losses, optimizers, ridge/RLS readouts, BPTT (numpy only at import)."""

from .losses import get_loss
from .optimizers import get_optimizer

__all__ = ["get_loss", "get_optimizer"]
