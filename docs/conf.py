"""Sphinx configuration of the rectinumba documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (or ``python docs/build.py``).
The gallery (``docs/examples``) runs every ``plot_*.py`` example during the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import rectinumba

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

# headless figures, and a kernel cache of its own unless the caller chose one
os.environ.setdefault("MPLBACKEND", "Agg")

project = "rectinumba"
author = "the rectinumba developers"
copyright = "the rectinumba developers"  # noqa: A001 - Sphinx's name
release = rectinumba.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "optional_include",  # docs/_ext: include a file another branch writes, once it exists
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "examples",  # sphinx-gallery's sources; the pages are generated into auto_examples/
    "**.ipynb_checkpoints",
    # sphinx-gallery writes these next to the generated pages; they are not pages themselves
    "auto_examples/**/*.ipynb",
    "auto_examples/**/*.py",
    "auto_examples/**/*.zip",
    "auto_examples/**/*.json",
    "auto_examples/**/*.md5",
    "auto_examples/**/*.codeobj.json",
    "sg_execution_times.rst",
    # included by another page, never a page of its own
    "migration_table.md",
    "README.md",  # notes for contributors, not a page
]

# ---- API reference ------------------------------------------------------------------------
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc shows the types written in the docstrings
autodoc_class_signature = "mixed"
numpydoc_show_class_members = False  # autodoc's :members: lists them once
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "scipy": ("https://docs.scipy.org/doc/scipy", None),
}
# the build must not need the network (CI has none): intersphinx only when asked for
if os.environ.get("RECTINUMBA_DOCS_INTERSPHINX") != "1":
    intersphinx_mapping = {}

# ---- gallery ------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # every plot_*.py example runs in the build
    "ignore_pattern": r"__init__\.py",
    "abort_on_example_error": False,  # report every failing example, then fail the build
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "subsection_order": "gallery_order.subsection_order",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "write_computation_times": True,
}

# ---- HTML ---------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"rectinumba {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = True

myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
# an included Markdown file (docs/migration_table.md) may start at any heading level
suppress_warnings = ["myst.header"]

nitpicky = False
