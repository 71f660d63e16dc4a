"""Sphinx configuration of the bhb_viewer user guide (``docs/guide``).

Build (needs the ``docs`` extra: ``pip install -e '.[docs]'``)::

    QT_QPA_PLATFORM=offscreen sphinx-build -W --keep-going -b html docs/guide build/guide

Nothing here needs a network or a display: autodoc imports ``bhb_viewer`` (which imports no Qt
outside ``gui/``), the command pages come from the argparse parsers (``_ext/bhb_commands.py``) and
the screenshots in ``_static`` are committed (``scripts/guide_screenshots.py`` renders them).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parent
ROOT = GUIDE.parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's bhb_viewer, whatever is installed
sys.path.insert(0, str(GUIDE / "_ext"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import bhb_viewer  # noqa: E402

project = "bhb_viewer"
author = "the bhb_viewer authors"
copyright = "2026, the bhb_viewer authors"
release = version = bhb_viewer.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "bhb_commands",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
html_static_path = ["_static"]
smartquotes = False  # "--cut" in a help text stays two hyphens, not an en dash
html_theme = "alabaster"
html_title = f"bhb_viewer {release} user guide"
html_theme_options = {"description": "Vet Blue Horizontal Branch star candidates", "page_width": "1100px"}

# MyST: the model cards and results pages are Markdown written for GitHub; headings get anchors.
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # pages written for GitHub may start at ## after an included # title

# API: autosummary writes one page per module (api/_generated, not committed); numpydoc renders docstrings.
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
suppress_warnings += ["ref.python"]  # ':mod:`.spectra`' in a docstring is ambiguous between two packages


def _skip_foreign(app, what, name, obj, skip, options):
    """Document what bhb_viewer defines, not what a module imported (scipy's cKDTree...)."""
    module = getattr(obj, "__module__", None)
    if what == "module" and isinstance(module, str) and not module.startswith("bhb_viewer"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign)
