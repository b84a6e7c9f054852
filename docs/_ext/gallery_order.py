"""Order of the gallery's sections (sphinx-gallery ``subsection_order``).

Sections listed here come first, in this order; a section added later (a new folder with a
``README.rst`` under ``docs/examples/``) follows them alphabetically, so dropping a folder in
needs no change here.
"""

from __future__ import annotations

from pathlib import Path

#: gallery sections by folder name, in reading order
SECTIONS = ("models", "simulation", "training")


def subsection_order(path: str) -> tuple[int, str]:
    """Sort key of a gallery section folder.

    Parameters
    ----------
    path : str
        The section's folder, as sphinx-gallery passes it.

    Returns
    -------
    tuple of (int, str)
        Position in :data:`SECTIONS` (unlisted folders last) and the folder name.
    """
    name = Path(path).name
    rank = SECTIONS.index(name) if name in SECTIONS else len(SECTIONS)
    return rank, name
