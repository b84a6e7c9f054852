"""Readout training on the compiled loop: fit_ridge, fit_rls, test (mixed into Network)."""

from __future__ import annotations

__all__ = ["ReadoutTrainingMixin"]


class ReadoutTrainingMixin:
    """Methods fit_ridge, fit_rls and test of :class:`rectinumba.Network`."""
