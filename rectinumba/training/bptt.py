"""Backpropagation through time without autodiff: fit_bptt (mixed into Network)."""

from __future__ import annotations

__all__ = ["BPTTMixin"]


class BPTTMixin:
    """Method fit_bptt of :class:`rectinumba.Network`."""
