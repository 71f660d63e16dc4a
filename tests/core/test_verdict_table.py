"""A verdicts table from elsewhere is read whole and refused whole, naming every kind of problem."""

import pytest

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.sessions.verdict_table import read_verdict_table
from bhb_viewer.core.sessions.verdict_types import VerdictKind


def test_a_good_table_gives_edits_with_times_in_utc(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(
        "# from TOPCAT\nID,Verdict,note,time\na,BHB,,2026-01-02T03:04:05\nb,blue straggler,odd,\nc,,only a note,\n"
    )
    edits = read_verdict_table(path, {"a", "b", "c"})
    assert [(e.cid, e.verdict) for e in edits] == [
        ("a", VerdictKind.BHB), ("b", VerdictKind.BLUE_STRAGGLER), ("c", None),
    ]
    assert edits[0].time == "2026-01-02T03:04:05.000+00:00" and edits[2].note == "only a note"


def test_every_kind_of_problem_is_named_with_the_files_own_line_numbers(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("id,verdict,time\n# a comment\na,BHB,yesterday\na,maybe,\nz,,\n,BHB,\n")
    with pytest.raises(BadInputError) as info:
        read_verdict_table(path, {"a"})
    text = str(info.value)
    for part in (
        "nothing imported", "times that are not ISO 8601: 'yesterday' (line 3)", "ids given twice: a (lines 3 and 4)",
        "unknown verdicts: 'maybe' (line 4)", "ids not in the session's catalog: z",
        "rows with neither verdict nor note: line 5", "rows without an id: line 6", "verdicts are BHB",
    ):
        assert part in text
    path.write_text("name,verdict\n")
    with pytest.raises(BadInputError, match="no id column"):
        read_verdict_table(path, None)
