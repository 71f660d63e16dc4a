"""The guide's command pages, generated from the programs' own argparse parsers.

As a Sphinx extension it adds the directive ``.. bhb-command:: NAME``, which renders the usage,
the description and every argument of ``bhb NAME`` (and of its own sub-commands, one section each)
straight from :func:`bhb_viewer.cli.build_parser`; ``bhb`` itself and ``bhb-viewer`` are two more
names. The pages under ``commands/`` are one-line stubs that call it, so what the guide says is
what ``--help`` says. When a ``bhb`` command has no page, the build warns (an error under ``-W``).

Run as a script it writes the stub of every command that has none::

    python docs/guide/_ext/bhb_commands.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx import addnodes

GUIDE = Path(__file__).resolve().parents[1]
PAGES = GUIDE / "commands"
USAGE_WIDTH = 96  # columns of the usage block: fixed, so the page doesn't depend on the terminal
PROGRAMS = ("bhb", "bhb-viewer")  # pages besides the sub-commands


def bhb_parser() -> argparse.ArgumentParser:
    from bhb_viewer.cli import build_parser

    return build_parser()


def subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def command_names() -> list[str]:
    """The ``bhb`` sub-commands, in the order ``bhb --help`` lists them."""
    sub = subparsers(bhb_parser())
    return list(sub.choices) if sub else []


def parser_for(name: str) -> argparse.ArgumentParser:
    """``bhb``, ``bhb-viewer``, or the parser of ``bhb NAME``."""
    if name == "bhb-viewer":
        from bhb_viewer.gui.app import build_parser

        return build_parser()
    parser = bhb_parser()
    if name == "bhb":
        return parser
    sub = subparsers(parser)
    if sub is None or name not in sub.choices:
        raise KeyError(f"bhb has no command {name!r}")
    return sub.choices[name]


def usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def invocation(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    """'--out DIR', '-h, --help', 'catalog' — how the argument is written."""
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    return formatter._format_action_invocation(action)


def help_text(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    if not action.help:
        return ""
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    text = formatter._expand_help(action)
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        text += f" (one of: {', '.join(map(str, action.choices))})"
    return text


def section(title: str, ident: str) -> nodes.section:
    node = nodes.section(ids=[nodes.make_id(ident)], names=[nodes.fully_normalize_name(ident)])
    node += nodes.title(title, title)
    return node


def parser_nodes(parser: argparse.ArgumentParser, title: str | None, skip_help: bool = True,
                 link_from: str | None = None) -> list[nodes.Node]:
    """Usage, description and arguments of ``parser``; its sub-commands as sections after them, or,
    with ``link_from`` (the page's name: ``bhb`` itself), as links to their own pages."""
    out: list[nodes.Node] = []
    text = usage(parser)
    out.append(nodes.literal_block(text, text, language="none"))
    if parser.description:
        out.append(nodes.paragraph(parser.description, parser.description))
    sub_action = None
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help is not argparse.SUPPRESS]
        if skip_help:
            actions = [a for a in actions if not isinstance(a, argparse._HelpAction)]
        if not actions:
            continue
        items = nodes.definition_list()
        for action in actions:
            if isinstance(action, argparse._SubParsersAction):
                sub_action = action
                helps = {c.dest: c.help for c in action._choices_actions}
                for name in action.choices:
                    term = nodes.term()
                    if link_from is None:
                        term += nodes.literal(name, name)
                    else:
                        ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget=name,
                                                    refexplicit=True, refdoc=link_from)
                        ref += nodes.literal(name, name)
                        term += ref
                    definition = nodes.definition()
                    definition += nodes.paragraph(helps.get(name) or "", helps.get(name) or "")
                    items += nodes.definition_list_item("", term, definition)
                continue
            term = nodes.term()
            spelled = invocation(action, parser)
            term += nodes.literal(spelled, spelled)
            definition = nodes.definition()
            words = help_text(action, parser)
            definition += nodes.paragraph(words, words)
            items += nodes.definition_list_item("", term, definition)
        heading = group.title or "arguments"
        out.append(nodes.rubric(heading, heading))
        out.append(items)
    if sub_action is not None and link_from is None:
        for name, child in sub_action.choices.items():
            full = f"{parser.prog} {name}"
            node = section(full, full.replace(" ", "-"))
            node.extend(parser_nodes(child, full))
            out.append(node)
    return out


class BhbCommand(Directive):
    """``.. bhb-command:: score`` — the reference of ``bhb score`` from its parser."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        try:
            parser = parser_for(name)
        except KeyError as exc:
            raise self.error(str(exc)) from None
        # bhb's own page links to its commands' pages instead of repeating them
        link_from = self.state.document.settings.env.docname if name == "bhb" else None
        return parser_nodes(parser, name, link_from=link_from)


def stub(name: str) -> str:
    title = name if name in PROGRAMS else f"bhb {name}"
    return f"{title}\n{'=' * len(title)}\n\n.. bhb-command:: {name}\n"


def check_pages(app) -> None:
    from sphinx.util import logging

    log = logging.getLogger(__name__)
    for name in command_names():
        if not (PAGES / f"{name}.rst").exists():
            log.warning("bhb %s has no page in docs/guide/commands: run python docs/guide/_ext/bhb_commands.py", name)


def setup(app):
    app.add_directive("bhb-command", BhbCommand)
    app.connect("builder-inited", check_pages)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


def write_stubs() -> list[Path]:
    """Write the page of every command that has none; return the pages written."""
    written = []
    for name in [*PROGRAMS, *command_names()]:
        page = PAGES / f"{name}.rst"
        if not page.exists():
            page.write_text(stub(name), encoding="utf-8")
            written.append(page)
    return written


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(GUIDE.parents[1]))
    for page in write_stubs():
        print(page.relative_to(GUIDE))
