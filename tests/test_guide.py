"""The user guide (docs/guide) covers what it says it covers: a page per ``bhb`` command, pictures the
app rendered, the results pages and the model cards. The build itself (``sphinx-build -W``) runs in
.ci/run; these checks need no Sphinx."""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide"
MAX_PICTURE_BYTES = 300_000


def bhb_commands() -> list[str]:
    from bhb_viewer.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def guide_screenshots():
    spec = importlib.util.spec_from_file_location("guide_screenshots", ROOT / "scripts" / "guide_screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def guide_pages() -> list[Path]:
    return [p for p in GUIDE.rglob("*") if p.suffix in (".md", ".rst") and "_generated" not in p.parts]


def test_one_page_per_bhb_command_generated_from_its_parser():
    names = bhb_commands()
    assert len(names) >= 10
    index = (GUIDE / "commands" / "index.rst").read_text(encoding="utf-8")
    listed = re.findall(r"^   (\S+)$", index, flags=re.MULTILINE)
    for name in [*names, "bhb", "bhb-viewer"]:
        page = GUIDE / "commands" / f"{name}.rst"
        assert page.exists(), f"bhb {name} has no page: run python docs/guide/_ext/bhb_commands.py"
        assert f".. bhb-command:: {name}" in page.read_text(encoding="utf-8")
        assert name in listed, f"commands/index.rst does not list {name}"
    extra = {p.stem for p in (GUIDE / "commands").glob("*.rst")} - {*names, "bhb", "bhb-viewer", "index"}
    assert not extra, f"pages for commands bhb no longer has: {extra}"


def test_the_pictures_the_guide_shows_exist_and_the_app_renders_them():
    shots = guide_screenshots().SHOTS
    shown = set()
    for page in guide_pages():
        shown.update(re.findall(r"_static/([\w.-]+\.png)", page.read_text(encoding="utf-8")))
    assert len(shown) >= 4
    for name in shown:
        path = GUIDE / "_static" / name
        assert path.exists(), f"{name} is shown but missing: run scripts/guide_screenshots.py"
        assert path.stat().st_size < MAX_PICTURE_BYTES, f"{name} is over {MAX_PICTURE_BYTES} bytes"
        assert name in shots, f"{name} is not one scripts/guide_screenshots.py renders"


def test_the_screenshot_script_asks_the_app_for_what_it_understands():
    from astropy.table import Table

    from bhb_viewer.gui.app import build_parser

    demo_ids = set(Table.read(ROOT / "resources" / "demo" / "catalog.ecsv")["id"])
    for name, args in guide_screenshots().SHOTS.items():
        parsed = build_parser().parse_args([*args, "--screenshot", name])
        assert parsed.star is None or parsed.star in demo_ids, name


@pytest.mark.parametrize("kind", ["results", "models"])
def test_every_results_page_and_model_card_is_in_the_guide(kind):
    if kind == "results":
        wanted = {p.stem for p in (ROOT / "docs" / "results").glob("*.md")}
        have = {p.stem for p in (GUIDE / "results").glob("*.md")} - {"index"}
        assert wanted == have, "docs/results pages and docs/guide/results pages differ"
        for name in wanted:
            assert f"../../results/{name}.md" in (GUIDE / "results" / f"{name}.md").read_text(encoding="utf-8")
    else:
        cards = (GUIDE / "models.md").read_text(encoding="utf-8")
        for card in (ROOT / "models").glob("*/README.md"):
            assert f"../../models/{card.parent.name}/README.md" in cards, card
