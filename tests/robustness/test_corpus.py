"""Every case of the bad-input corpus (corpus.py) through every entry point it applies to: a clear
message naming the file, no traceback, no crash, no hang, bounded memory, nothing else lost.

Cases whose fix belongs to another issue (``owner``) are reported, not failed, until it lands.
"""

from __future__ import annotations

import json
import os

import pytest

from .corpus import OUTCOMES, make_corpus, run_corpus, table

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the harness forks and uses RLIMIT_AS")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_corpus(make_corpus(tmp_path_factory.mktemp("corpus")))


def _line(r: dict) -> str:
    return f"{r['outcome']:<9} {r['case'].entry:<14} {r['case'].id}: {r['why'][:200]}"


def test_every_case_fails_clearly_or_is_skipped_with_its_reason(results):
    counts = table(results)
    print(json.dumps(counts))
    owned = [r for r in results if r["case"].owner and r["outcome"] != "clear"]
    for r in owned:
        print(f"known, {r['case'].owner}: {_line(r)}")
    bad = [r for r in results if r["outcome"] not in ("clear", "skipped") and not r["case"].owner]
    assert not bad, "\n".join(_line(r) for r in bad)
    assert counts["cases"] >= 60 and set(counts) >= set(OUTCOMES)


def test_corpus_covers_every_entry_point(results):
    entries = {r["case"].entry for r in results}
    assert entries >= {"inspect", "dataset build", "dataset info", "score", "train", "simulate"}


def test_memory_stays_bounded(results):
    worst = max(results, key=lambda r: r.get("max_rss_mb", 0))
    assert worst.get("max_rss_mb", 0) < 1000, _line(worst)
