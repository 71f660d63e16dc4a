"""``bhb sessions``: review sessions without the app, for teams and for verdicts from other tools.

``new SOURCE --reviewer NAME --out FILE``   a session for a catalog or data set;
``import FILE VERDICTS.csv``               record a table of verdicts (columns ``id, verdict`` and
                                           optionally ``note, reviewer, time``; verdicts as the app's
                                           key labels, e.g. "blue straggler", or as stored, "blue_straggler");
                                           every row is checked first and nothing is written if one is bad;
``show FILE [--json]``                     the verdicts now in force (and, for a merge, its report);
``merge A B [C …] --out MERGED [--json]``  one merged session with every reviewer's verdicts, the
                                           conflicts and Cohen's / Fleiss' κ (rules in ``core.sessions.merge``);
``audit FILE --cut C [--scores T]``        start a blind purity audit of the model-accepted set (the
                                           sample, without scores, to review); ``audit FILE`` reports it;
``export FILE OUT``                        the catalog with verdicts, as the app exports it (merged
                                           sessions: every reviewer and the consensus; audits: purity).
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("new", help="create a session for a catalog or data set")
    p.add_argument("source", metavar="SOURCE", help="catalog file or data-set directory")
    p.add_argument("--reviewer", required=True, help="who owns the session")
    p.add_argument("--out", required=True, type=Path, help="session file to create")
    p.add_argument("--json", action="store_true", help="print the new session as JSON")
    p = sub.add_parser("import", help="record verdicts from a CSV table")
    p.add_argument("session", metavar="FILE", type=Path)
    p.add_argument("table", metavar="VERDICTS.csv", type=Path)
    p.add_argument("--catalog", type=Path, help="the session's catalog, where it has moved since")
    p.add_argument("--blind", action="store_true",
                   help="the verdicts were made without the scores (an audit --sample-out sheet): they count in a "
                        "blind audit, which counts no other verdict")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("show", help="print a session's verdicts")
    p.add_argument("session", metavar="FILE", type=Path)
    p.add_argument("--json", action="store_true", help="one JSON object")
    p = sub.add_parser("merge", help="merge reviewers' sessions; print conflicts and agreement")
    p.add_argument("sessions", metavar="SESSION", nargs="+", type=Path)
    p.add_argument("--out", required=True, type=Path, help="merged session file to create")
    p.add_argument("--reviewer", default=None, help="who resolves the conflicts (default: the login name)")
    p.add_argument("--json", action="store_true", help="one JSON object with the report")
    p = sub.add_parser("audit", help="start a blind purity audit (--cut) or report the one running")
    p.add_argument("session", metavar="FILE", type=Path)
    p.add_argument("--cut", type=float, help="start an audit of the candidates with P(BHB) >= CUT")
    p.add_argument("--half-width", type=float, default=0.05, help="target half-width of the purity interval")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the interval")
    p.add_argument("--expected", type=float, default=0.5,
                   help="purity assumed when sizing the sample (0.5: cautious; the validation purity: smaller)")
    p.add_argument("--seed", type=int, help="seed of the draw (default: a fresh one, recorded)")
    p.add_argument("--scores", type=Path, metavar="TABLE",
                   help="a `bhb score` output (id, p_bhb, model, model_version), stored in the session first")
    p.add_argument("--selection-function", type=Path, metavar="OUT.vot",
                   help="write purity (blind verdicts) and, where the list has labels, completeness in bins of g, "
                        "g−r and S/N as a VOTable, with a plot beside it (OUT.png)")
    p.add_argument("--sample-out", type=Path, metavar="CSV",
                   help="write the sample in review order as id, ra, dec, verdict (no scores) for `sessions import`")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("export", help="write the catalog with the session's verdicts, as the app exports it")
    p.add_argument("session", metavar="FILE", type=Path)
    p.add_argument("out", metavar="OUT", type=Path, help=".csv, .ecsv, .fits or .vot/.xml")
    p.add_argument("--selection", choices=("vetted", "all", "model-accepted"), default="vetted")
    p.add_argument("--cut", type=float, help="P(BHB) cut of a model-accepted export")
    p.add_argument("--validation", type=Path, metavar="CKPT_DIR",
                   help="checkpoint whose validation purity/completeness at --cut go into the provenance")
    p.add_argument("--catalog", type=Path, help="the session's catalog, where it has moved since")


def run(args: argparse.Namespace) -> int:
    actions = {"new": _new, "import": _import, "show": _show, "merge": _merge, "audit": _audit, "export": _export}
    return actions[args.action](args)


# -- new ---------------------------------------------------------------------------------------


def read_source(path: str | Path) -> tuple[Any, Path]:
    """(candidate table, the file a session records as its catalog) of a catalog file or data set."""
    from bhb_viewer.core.dataset import open_dataset
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.readers.candidates import read_candidates
    from bhb_viewer.core.readers.input_kind import detect_kind

    path = Path(path)
    kind = detect_kind(path)
    if kind == "dataset":
        return open_dataset(path).catalog, path / "catalog.ecsv"
    if kind != "catalog":
        raise BadInputError(path, f"a {kind} file is not a candidate list; give a catalog or a data set")
    return read_candidates(path), path


def _catalog_source(catalog_file: Path) -> Path:
    """What to open for a session's catalog file: a data set's catalog.ecsv is read as the data set."""
    from bhb_viewer.core.dataset import is_dataset

    in_dataset = catalog_file.name == "catalog.ecsv" and is_dataset(catalog_file.parent)
    return catalog_file.parent if in_dataset else catalog_file


def catalog_ids(catalog_file: str | Path) -> set[str]:
    """The candidate ids of a session's catalog file."""
    table, _ = read_source(_catalog_source(Path(catalog_file)))
    return {str(c) for c in table["id"]}


def _new(args: argparse.Namespace) -> int:
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.sessions.verdicts import CatalogRef, Session

    if args.out.exists():
        raise BadInputError(args.out, "already exists; a new session never overwrites one")
    table, catalog_file = read_source(args.source)
    ref = CatalogRef.from_file(catalog_file, len(table))
    with Session.create(args.out, ref, args.reviewer):
        pass
    if args.json:
        print(json.dumps({"path": str(args.out), "reviewer": args.reviewer, "catalog": ref.path, "n_rows": ref.n_rows}))
    else:
        print(f"{args.out}: new session of {args.reviewer} for {ref.n_rows} candidates in {ref.path}")
    return 0


# -- import ------------------------------------------------------------------------------------


def _import(args: argparse.Namespace) -> int:
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.sessions.verdict_table import read_verdict_table
    from bhb_viewer.core.sessions.verdicts import Session

    with Session.open(args.session) as session:
        catalog = args.catalog or Path(session.catalog.path)
        try:
            known = catalog_ids(catalog)
        except BadInputError as exc:
            raise BadInputError(args.session, f"cannot check ids against its catalog ({exc}); pass --catalog") from exc
        edits = read_verdict_table(args.table, known)
        written = session.record_many(edits, blind=args.blind)
        n_verdicts = sum(1 for st in session.states().values() if st.verdict is not None)
    if args.json:
        print(json.dumps({"rows": len(edits), "events": written, "n_verdicts": n_verdicts}))
    else:
        print(f"{args.session}: {len(edits)} rows imported ({written} changes); {n_verdicts} candidates have a verdict")
    return 0


# -- show --------------------------------------------------------------------------------------


def describe(session: Any) -> dict[str, Any]:
    """The JSON of ``bhb sessions show``: who, what catalog, verdict counts and every verdict in force."""
    from bhb_viewer.core.sessions.merge import MERGED_FROM, consensus, merge_report

    states = session.states()
    out: dict[str, Any] = {
        "path": str(session.path),
        "reviewer": session.owner,
        "created": session.created,
        "catalog": {"path": session.catalog.path, "sha256": session.catalog.sha256, "n_rows": session.catalog.n_rows},
        "model": None if session.model is None else {"name": session.model.name, "version": session.model.version},
        "n_verdicts": sum(st.verdict is not None for st in states.values()),
        "counts": {k.value: n for k, n in session.counts().items() if n},
        "verdicts": [
            {"id": cid, "verdict": st.verdict.value if st.verdict else None, "note": st.note,
             "reviewer": st.reviewer, "time": st.time}
            for cid, st in states.items()
        ],
    }
    sources = session.get_meta(MERGED_FROM)
    if sources is not None:
        out["merged_from"] = sources
        out["merge"] = merge_report(session.reviews()).to_json()
        merged = consensus(session)
        out["consensus"] = {cid: c.verdict.value if c.verdict else None for cid, c in merged.items()}
        out["unresolved"] = [cid for cid, c in merged.items() if c.conflict and c.resolved_by is None]
    return out


def _show(args: argparse.Namespace) -> int:
    from bhb_viewer.core.sessions.verdicts import Session

    with Session.open(args.session, read_only=True) as session:
        info = describe(session)
    if args.json:
        print(json.dumps(info))
        return 0
    n_rows = info["catalog"]["n_rows"]
    print(f"{info['path']}: {info['reviewer']}, {info['n_verdicts']} verdicts on {n_rows} candidates")
    print("  " + ", ".join(f"{k} {n}" for k, n in info["counts"].items()))
    if "merge" in info:
        _print_report(info["merge"])
        print(f"  unresolved conflicts: {len(info['unresolved'])}")
    return 0


# -- merge -------------------------------------------------------------------------------------


def _print_report(report: dict[str, Any]) -> None:
    kappa = "undefined" if report["kappa"] is None else f"{report['kappa']:.3f}"
    print(f"  {report['n_reviewers']} reviewers, {report['n_candidates']} candidates vetted, "
          f"{report['n_common']} by all; {report['kappa_method']} kappa {kappa}; {report['n_conflicts']} conflicts")
    for name, r in report["per_reviewer"].items():
        print(f"  {name}: {r['n_vetted']} vetted, {r['n_conflicts']} in conflict")


def _merge(args: argparse.Namespace) -> int:
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.sessions.merge import merge_sessions

    if len(args.sessions) < 2:
        raise BadInputError(args.sessions[0], "a merge needs at least two sessions")
    report = merge_sessions(args.sessions, args.out, args.reviewer or getpass.getuser()).to_json()
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.out}: merged {len(args.sessions)} sessions")
        _print_report(report)
    return 0


# -- audit -------------------------------------------------------------------------------------


def _store_scores(session: Any, path: Path) -> None:
    """Put a ``bhb score`` table's P(BHB) into the session's cache under the model that made them."""
    from astropy.table import Table

    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.sessions.verdicts import ModelRef

    try:
        table = Table.read(path)
    except Exception as exc:  # astropy raises many kinds for an unreadable table
        raise BadInputError(path, f"cannot read the scores table ({exc})") from exc
    missing = [c for c in ("id", "p_bhb", "model", "model_version") if c not in table.colnames]
    if missing or not len(table):
        raise BadInputError(path, f"not a `bhb score` output (missing {', '.join(missing) or 'rows'})")
    model = ModelRef(str(table["model"][0]), str(table["model_version"][0]))
    session.scores.store(model, [str(c) for c in table["id"]], [float(p) for p in table["p_bhb"]])
    if session.model is None or (session.model.name, session.model.version) != (model.name, model.version):
        session.set_model(model)


def _audit(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.sessions.audit import audit_result, load_audit, start_audit
    from bhb_viewer.core.sessions.verdicts import Session

    with Session.open(args.session) as session:
        plan = load_audit(session)
        if args.cut is not None:
            if plan is not None:
                raise BadInputError(args.session, f"an audit ({len(plan.ids)} candidates, cut {plan.cut}) is already "
                                    "stored; start the next one in a new session")
            if args.scores:
                _store_scores(session, args.scores)
            if session.model is None:
                raise BadInputError(args.session, "no scores to audit: pass --scores (a `bhb score` output)")
            scores = session.scores.load(session.model.name, session.model.version)
            plan = start_audit(session, scores, args.cut, half_width=args.half_width, confidence=args.confidence,
                               expected=args.expected, seed=args.seed)
            if args.sample_out:
                _write_sample(session, plan, args.sample_out)
        elif plan is None:
            raise BadInputError(args.session, "no audit started; give --cut to start one")
        result = audit_result(session, plan)
        if args.selection_function:
            _selection_function(session, plan, args.selection_function)
    info = {**asdict(result), "cut": plan.cut, "population": plan.population, "seed": plan.seed,
            "half_width_target": plan.half_width, "sample": plan.ids}
    info["purity"] = None if result.n_judged == 0 else result.purity
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"{args.session}: audit of {result.n_sample} of {plan.population} candidates with P(BHB) >= {plan.cut}")
    if result.n_judged:
        print(f"  purity {result.purity:.3f} [{result.low:.3f}, {result.high:.3f}] ({result.confidence:.0%}, Wilson) "
              f"from {result.n_bhb}/{result.n_judged} judged blind; {result.n_excluded} unsure/bad data left out")
    print(f"  {result.n_pending} still to review")
    return 0


def _selection_function(session: Any, plan: Any, path: Path) -> None:
    """The audit's selection function (core.sessions.selection_function) as a VOTable and a PNG beside it."""
    from bhb_viewer.core.sessions.selection_function import (
        audit_evidence,
        audit_selection_function,
        plot,
        write_votable,
    )

    result = audit_selection_function(audit_evidence(session, plan))
    write_votable(result.table, path, result.provenance)
    try:
        plot(result.rows_shown(), Path(path).with_suffix(".png"), result.title)
    except ImportError:
        print(f"note: matplotlib is not installed; {Path(path).with_suffix('.png')} not drawn", file=sys.stderr)
    print(f"wrote {path} ({len(result.table)} bins: {result.provenance['SOURCES']})", file=sys.stderr)


def _write_sample(session: Any, plan: Any, path: Path) -> None:
    """The audit sample in review order, with positions and an empty verdict column, and no scores."""
    from bhb_viewer.core.files import write_atomic
    from bhb_viewer.core.sessions.audit import audit_order

    table, _ = read_source(_catalog_source(Path(session.catalog.path)))
    rows = audit_order(plan, [str(c) for c in table["id"]])

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["id", "ra", "dec", "verdict"])
            for row in rows:
                ra, dec = float(table["ra"][row]), float(table["dec"][row])
                out.writerow([table["id"][row], f"{ra:.7f}", f"{dec:.7f}", ""])

    write_atomic(path, write)


# -- export ------------------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.exports.export import export_catalog, load_validation, threshold_summary
    from bhb_viewer.core.sessions.verdicts import Session

    with Session.open(args.session, read_only=True) as session:
        table, _ = read_source(_catalog_source(args.catalog or Path(session.catalog.path)))
        threshold = None
        if args.validation is not None:
            if args.cut is None:
                raise BadInputError(args.validation, "--validation needs --cut: the purity is read at that cut")
            threshold = threshold_summary(*load_validation(args.validation), args.cut)
        path = export_catalog(args.out, table, session, selection=args.selection, cut=args.cut, threshold=threshold)
    print(f"{path}: exported ({args.selection})")
    return 0
