"""Sphinx configuration of the bhb_viewer user guide (``docs/guide``).

Build (needs the ``docs`` extra: ``pip install -e '.[docs]'``)::

    QT_QPA_PLATFORM=offscreen sphinx-build -W --keep-going -b html docs/guide build/guide

Nothing here needs a network or a display: autodoc imports ``bhb_viewer`` (which imports no Qt
outside ``gui/``), the command pages come from the argparse parsers (``_ext/bhb_commands.py``) and
the screenshots in ``_static`` are committed (``scripts/guide_screenshots.py`` renders them).
"""

from __future__ import annotations

import os
import re
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


# -- docstrings that are not reStructuredText -------------------------------------------------------
# The docstrings are written for people reading the source, and a few use plain-text forms that
# reStructuredText reads otherwise (|x| for an absolute value, hand-drawn tables). Rather than fail
# the build on them, such a docstring is shown verbatim (a literal block); the build log names it.

_HARMLESS = ("Unknown interpreted text role", "Unknown directive type", "No role entry", "No directive entry",
             'Unknown target name', "Duplicate explicit target name", "Duplicate implicit target name")


def _docutils_lookup():
    from docutils.parsers.rst import directives, roles

    return roles.role, directives.directive


_DOCUTILS_LOOKUP = _docutils_lookup()  # docutils' own, taken before Sphinx reads any page


def _rst_problems(text: str) -> list[str]:
    """docutils' warnings and errors for ``text`` read as reStructuredText, Sphinx's roles aside."""
    import io

    from docutils.core import publish_doctree
    from docutils.parsers.rst import directives, roles
    from docutils.utils import SystemMessage

    # plain docutils: Sphinx's roles and directives (registered in these tables, and looked up through
    # functions it swaps in while it reads a page) need a build environment
    saved = dict(roles._roles), dict(directives._directives), roles.role, directives.directive
    roles._roles.clear()
    directives._directives.clear()
    roles.role, directives.directive = _DOCUTILS_LOOKUP
    try:
        doctree = publish_doctree(text, settings_overrides={"report_level": 2, "halt_level": 5,
                                                            "warning_stream": io.StringIO()})
    except SystemMessage as exc:
        return [str(exc)]
    finally:
        roles._roles.update(saved[0])
        directives._directives.update(saved[1])
        roles.role, directives.directive = saved[2], saved[3]
    from docutils import nodes

    found = [*doctree.findall(nodes.system_message), *doctree.transform_messages]  # the latter: |x| and such
    messages = [m.astext() for m in found if m["level"] >= 2]
    return [m for m in messages if not any(h in m for h in _HARMLESS)]


def _verbatim_if_not_rst(app, what, name, obj, options, lines) -> None:
    if not lines:
        return
    problems = _rst_problems("\n".join(lines))
    if problems:
        from sphinx.util import logging

        logging.getLogger(__name__).info("docstring of %s is not reStructuredText (%s): shown verbatim",
                                         name, problems[0].splitlines()[0])
        # the summary (the first paragraph: autosummary's tables show it) as plain text, then all of it as written
        end = lines.index("") if "" in lines else len(lines)
        summary = [re.sub(r"([\\`*_|\[\]<>:])", r"\\\1", line) for line in lines[:end]]
        if _rst_problems("\n".join(summary)):
            summary = []
        lines[:] = [*summary, "", "::", "", *("    " + line for line in lines), ""]


def _skip_foreign(app, what, name, obj, skip, options):
    """Document what bhb_viewer defines, not what a module imported (scipy's cKDTree...)."""
    module = getattr(obj, "__module__", None)
    if what == "module" and isinstance(module, str) and not module.startswith("bhb_viewer"):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _verbatim_if_not_rst, priority=900)  # after numpydoc (500): what Sphinx will read
    app.connect("autodoc-skip-member", _skip_foreign)
