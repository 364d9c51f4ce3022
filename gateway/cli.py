"""``carm-edi``: check, estimate, process, ledger list/show/purge, reprocess, demo, schema, portal serve|adjustments|approve|refuse, tariff, rates.

Exit codes of ``check``: 0 accepted, 1 rejected, 2 cannot run; of ``estimate``:
0 declared amounts match, 1 differences, 2 cannot run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import getpass
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from domain import Declaration, DeclarationOutcome
from gateway.portal_commands import add_commands as add_portal_commands
from gateway.reference_commands import add_commands
from gateway.settings import Settings
from ledger.outcomes import WORDS

EXIT_ACCEPTED, EXIT_REJECTED, EXIT_CANNOT_RUN = 0, 1, 2


def _check(args: argparse.Namespace) -> int:
    from gateway.flows.contract import FlowOptions
    from gateway.flows.dispatch import check_stream
    from gateway.reference import active_reference
    from validators.rules import RuleContext

    path = Path(args.file)
    try:
        stream = path.open("rb")
    except OSError as error:
        _emit_cannot_run(args.json, f"cannot open {path}: {error.strerror or error}")
        return EXIT_CANNOT_RUN
    try:
        reference = active_reference(Settings())
    except (OSError, ValueError) as error:
        stream.close()
        _emit_cannot_run(args.json, f"cannot load the reference tables: {error}")
        return EXIT_CANNOT_RUN
    options = FlowOptions(rules_context=RuleContext(reference=reference)) if reference is not None else None
    # What start-up made (modules, model schemas, the reference tables) lives as long as the
    # process: frozen, the collector's full passes, which a long file triggers, do not walk it
    # again (one such pass cost a tenth of a 2 MB check).
    gc.freeze()
    with stream:
        report = check_stream(stream, path.name, options)
    if args.json:
        report.write_json(sys.stdout.write, ensure_ascii=False)  # one entry at a time: never the whole report in memory
        print()
    else:
        print(f"{path.name}: {report.format}, {'ACCEPTED' if report.accepted else 'REJECTED'}")
        for document in report.documents:
            print(
                f"  message {document.message_ref} {document.message_type} {document.reference or ''}: {document.status}"
            )
        for finding in report.all_errors():
            print(f"  {finding}")
        note = report.budget.sentence()
        if note is not None:
            print(f"  {note}")
    return EXIT_ACCEPTED if report.accepted else EXIT_REJECTED


def _estimate(args: argparse.Namespace) -> int:
    from duties.tariff import Tariff
    from gateway.estimate import estimate_bytes, render_text

    path = Path(args.file)
    try:
        data = path.read_bytes()
        tariff = Tariff.load(Path(args.tariff) if args.tariff else Settings().active_tariff_path())
    except (OSError, ValueError) as error:
        _emit_cannot_run(args.json, f"cannot estimate {path}: {error}")
        return EXIT_CANNOT_RUN
    estimates = estimate_bytes(data, tariff)
    if not estimates:
        _emit_cannot_run(args.json, f"{path.name}: no CUSDEC message found")
        return EXIT_CANNOT_RUN
    clean = all(estimate.clean for estimate in estimates)
    if args.json:
        body = {
            "file": path.name,
            "tariff_version": tariff.version,
            "clean": clean,
            "declarations": [e.to_dict() for e in estimates],
        }
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        print(render_text(path.name, estimates, tariff.version), end="")
    return EXIT_ACCEPTED if clean else EXIT_REJECTED


def _emit_cannot_run(as_json: bool, message: str) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "accepted": False,
                    "format": None,
                    "documents": [],
                    "errors": [{"code": "RUN", "message": message, "location": {}}],
                }
            )
        )
    else:
        print(message, file=sys.stderr)


@contextlib.contextmanager
def _output_to_stderr() -> Iterator[None]:
    """While the work runs, whatever is written to stdout goes to stderr: log
    lines (Airflow's hooks log to stdout, through handlers that hold the stream
    itself, hence at the file descriptor too), so stdout carries only the
    command's answer (``--json``: one JSON document)."""
    stdout = sys.stdout
    stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        stdout.flush()  # what a library buffered meanwhile goes to stderr too
        os.dup2(saved, 1)
        os.close(saved)


def _process(args: argparse.Namespace) -> int:
    from gateway import service

    settings = Settings(data_dir=Path(args.data_dir)) if args.data_dir else Settings()
    with _output_to_stderr():
        processed = service.process_once(settings, args.partner)
    summaries = [service.file_summary(p) for p in processed]
    if args.json:
        print(json.dumps({"files": summaries, "summary": service.summarize([{"files": summaries}])}, indent=2))
    else:
        for item in summaries:
            print(
                f"{item['name']}: {item['state']}, {item['documents_accepted']}/{item['documents']} documents accepted"
            )
    return EXIT_ACCEPTED if all(s["accepted"] for s in summaries) else EXIT_REJECTED


def _operator_settings(args: argparse.Namespace) -> Settings:
    return Settings(data_dir=Path(args.data_dir)) if getattr(args, "data_dir", None) else Settings()


def _ledger_show(args: argparse.Namespace) -> int:
    from gateway.operator import OperatorError, show
    from ledger import Ledger

    ledger = Ledger(_operator_settings(args).ledger_database_url())
    try:
        view = show(ledger, file_id=args.file, interchange=args.interchange, transaction=args.transaction)
    except OperatorError as error:
        _emit_cannot_run(args.json, str(error))
        return EXIT_CANNOT_RUN
    finally:
        ledger.dispose()
    if args.json:
        print(json.dumps(view, indent=2, ensure_ascii=False))
        return EXIT_ACCEPTED
    if "transaction_number" in view:
        print(f"transaction {view['transaction_number']}")
        for v in view["versions"]:
            print(f"  version {v['version']}: {v['status']} (file {v['file_id']}, key {v['idempotency_key']})")
    for f in view["files"]:
        print(
            f"file {f['id']} {f['partner']}/{f['name']}: {f['state']} (attempts {f['attempts']}, sha256 {f['sha256'][:12]})"
        )
        if f["note"]:
            print(f"  note: {f['note']}")
        for e in f["history"]:
            print(
                f"  {e['at']}  {e['from'] or '-'} -> {e['to']}  run {e['run_id'] or '-'}  {e['task'] or ''}  {e['note'] or ''}".rstrip()
            )
        for d in f["documents"]:
            print(
                f"  document {d['message_reference']} {d['transaction_number'] or ''} v{d['version'] or ''}: {d['status']}"
            )
        for a in f["acknowledgements"]:
            print(f"  acknowledgement {a['kind']}: {a['location']}")
    return EXIT_ACCEPTED


def _ledger_list(args: argparse.Namespace) -> int:
    from gateway.ledger_views import FILTERS, list_files, query_from
    from gateway.partners import RegistryError, load_registry
    from gateway.retention import cutoffs
    from ledger import Ledger
    from ledger.search import QueryError

    settings = _operator_settings(args)
    filters = {k: v for k in (*FILTERS, "page", "per_page") if (v := getattr(args, k)) is not None}
    try:
        due = cutoffs(settings, load_registry(settings.partners_path), dt.datetime.now(dt.UTC)) if args.due else None
        query = query_from({k: str(v) for k, v in filters.items()}, due)
    except (QueryError, RegistryError) as error:
        _emit_cannot_run(args.json, str(error))
        return EXIT_CANNOT_RUN
    ledger = Ledger(settings.ledger_database_url())
    try:
        listing = list_files(ledger, query)
    finally:
        ledger.dispose()
    if args.json:
        print(json.dumps(listing, indent=2, ensure_ascii=False))
        return EXIT_ACCEPTED
    print(f"{listing['total']} files, page {listing['page']} of {listing['pages']}")
    for f in listing["files"]:
        acks = ",".join(a["kind"] for a in f["acknowledgements"]) or "-"
        print(
            f"{f['id']:>6}  {f['partner']}/{f['name']}  {f['received_at']}  {f['format'] or '-'}  {f['outcome']}  "
            f"documents {f['documents_accepted']}/{f['documents_rejected']}  warnings {f['warnings']}  acks {acks}  "
            f"attempts {f['attempts']}"
        )
        if f["first_finding"]:
            print(f"        {f['first_finding']}")
    return EXIT_ACCEPTED


def _ledger_purge(args: argparse.Namespace) -> int:
    from gateway.operator import Requester
    from gateway.partners import RegistryError
    from gateway.retention import purge, purge_files

    settings, requester = _operator_settings(args), Requester(getpass.getuser(), "cli")
    options = {"dry_run": args.dry_run, "partner": args.partner}
    counts = dict.fromkeys(("due", "purged", "kept", "changed"), 0)
    try:
        if args.json:  # one JSON document, gathered first; the channels' hooks log to stdout meanwhile
            with _output_to_stderr():
                result = purge(settings, requester, **options)
            counts["kept"] = len(result["failed"])
        else:  # a line per file as it is done
            for row in purge_files(settings, requester, **options):
                counts["due"] += 1
                if row["outcome"] != "due":
                    counts[row["outcome"]] += 1
                print(
                    f"{row['id']:>6}  {row['partner']}/{row['name']}  {row['state']}  received {row['received_at']}  "
                    f"kept until {row['kept_until']}: {row.get('error', row['outcome'])}",
                    flush=True,
                )
    except RegistryError as error:
        _emit_cannot_run(args.json, str(error))
        return EXIT_CANNOT_RUN
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    elif args.dry_run:
        print(f"{counts['due']} files due for purge")
    else:
        print(
            f"{counts['due']} files due: {counts['purged']} purged, {counts['kept']} kept, "
            f"{counts['changed']} changed meanwhile (left alone)"
        )
    return EXIT_REJECTED if counts["kept"] else EXIT_ACCEPTED


def _reprocess(args: argparse.Namespace) -> int:
    from gateway.operator import OperatorError, Requester
    from gateway.service import reprocess

    try:
        with _output_to_stderr():
            result = reprocess(
                _operator_settings(args),
                Requester(getpass.getuser(), "cli"),
                file_ids=args.file or [],
                parked=args.parked,
            )
    except OperatorError as error:
        _emit_cannot_run(args.json, str(error))
        return EXIT_CANNOT_RUN
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for note in result["notes"]:
            print(note)
        for item in result["files"]:
            print(
                f"{item['name']}: {item['state']}, {item['documents_accepted']}/{item['documents']} documents accepted"
            )
    if result["unknown"]:  # the files the ledger knows were processed; these ids were named in the notes
        return EXIT_CANNOT_RUN
    return EXIT_ACCEPTED if all(f["state"] != "parked" for f in result["files"]) else EXIT_REJECTED


def _schema(args: argparse.Namespace) -> int:
    models: dict[str, type[BaseModel]] = {"declaration": Declaration, "outcome": DeclarationOutcome}
    model = models[args.model]
    print(json.dumps(model.model_json_schema(), indent=2))
    return EXIT_ACCEPTED


def _portal_serve(args: argparse.Namespace) -> int:
    from gateway.portal_commands import audit_ledger_url, decision_recorder
    from portal.server import serve

    settings = Settings()
    ledger_url = audit_ledger_url(settings)  # the operators' decisions go to its audit trail
    serve(
        args.host,
        args.port,
        args.database_url or settings.portal_database(),
        settings.active_tariff_path(),
        api_key=settings.portal_api_key,
        reference_dir=settings.reference_dir,
        latency_ms=args.latency_ms,
        on_decision=decision_recorder(ledger_url) if ledger_url is not None else None,
    )
    return EXIT_ACCEPTED


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    return run_demo(use_airflow=not args.no_airflow)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carm-edi", description="EDI gateway for CBSA CARM commercial accounting declarations."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser(
        "check", help="validate a file offline, post nothing (exit 0 accepted, 1 rejected, 2 cannot run)"
    )
    check.add_argument("file")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=_check)

    estimate = commands.add_parser(
        "estimate",
        help="per line, duty, excise, GST and totals as computed next to the declared ones (exit 1 on a difference)",
    )
    estimate.add_argument("file")
    estimate.add_argument("--json", action="store_true", help="print one JSON object")
    estimate.add_argument("--tariff", help="tariff CSV (default: the cached tariff, else settings' tariff_path)")
    estimate.set_defaults(handler=_estimate)

    process = commands.add_parser(
        "process",
        help="one run without Airflow, planned as the DAG plans it: stale claims and parked files resumed, then every inbox",
    )
    process.add_argument(
        "--inbox", dest="data_dir", help="data folder holding partners/<partner>/inbox (default: settings)"
    )
    process.add_argument("--partner", help="only this partner")
    process.add_argument("--json", action="store_true")
    process.set_defaults(handler=_process)

    ledger = commands.add_parser("ledger", help="what the ledger knows")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    show = ledger_commands.add_parser(
        "show", help="a file, an interchange or a transaction: states, history, documents, acknowledgements"
    )
    which = show.add_mutually_exclusive_group(required=True)
    which.add_argument("--file", type=int, help="ledger file id")
    which.add_argument("--interchange", help="SENDER:CONTROL_REFERENCE")
    which.add_argument("--transaction", help="14-digit CARM transaction number")
    show.add_argument("--inbox", dest="data_dir", help="data folder (default: settings)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_ledger_show)
    listing = ledger_commands.add_parser(
        "list", help="files across runs, newest first, filtered as on the operations page (a page at a time)"
    )
    listing.add_argument("--partner")
    listing.add_argument("--outcome", help=f"one of: {', '.join(WORDS)}")
    listing.add_argument("--received-from", dest="received_from", help="first UTC day, YYYY-MM-DD")
    listing.add_argument("--received-to", dest="received_to", help="last UTC day, YYYY-MM-DD")
    listing.add_argument("--text", help="part of the name or note, or a transaction number")
    listing.add_argument(
        "--due", action="store_const", const="yes", help="only the files due for purge (their retention has ended)"
    )
    listing.add_argument("--page", type=int)
    listing.add_argument("--per-page", dest="per_page", type=int)
    listing.add_argument("--inbox", dest="data_dir", help="data folder (default: settings)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_ledger_list)
    purging = ledger_commands.add_parser(
        "purge",
        help="delete the originals, answers and ledger rows of the files whose retention has ended (audited)",
    )
    purging.add_argument("--dry-run", action="store_true", help="only list the files due, delete nothing")
    purging.add_argument("--partner", help="only this partner's files")
    purging.add_argument("--inbox", dest="data_dir", help="data folder (default: settings)")
    purging.add_argument("--json", action="store_true")
    purging.set_defaults(handler=_ledger_purge)

    again = commands.add_parser(
        "reprocess", help="process a quarantined file or the parked files again, keeping their history"
    )
    what = again.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", type=int, action="append", help="ledger file id (repeatable)")
    what.add_argument("--parked", action="store_true", help="every file parked while the portal was unavailable")
    again.add_argument("--inbox", dest="data_dir", help="data folder (default: settings)")
    again.add_argument("--json", action="store_true")
    again.set_defaults(handler=_reprocess)

    demo = commands.add_parser("demo", help="run the embedded default end to end and show the result")
    demo.add_argument("--no-airflow", action="store_true", help="run the pipeline directly instead of the DAG")
    demo.set_defaults(handler=_demo)

    schema = commands.add_parser("schema", help="print the JSON Schema of the domain model")
    schema.add_argument("--model", choices=["declaration", "outcome"], default="declaration")
    schema.set_defaults(handler=_schema)

    portal = commands.add_parser("portal", help="the embedded CARM portal")
    portal_commands = portal.add_subparsers(dest="portal_command", required=True)
    serve = portal_commands.add_parser("serve", help="serve the portal API over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in the data folder)")
    serve.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="delay every answer this long, as a distant portal would (for tests and benchmarks); default 0",
    )
    serve.set_defaults(handler=_portal_serve)
    add_portal_commands(portal_commands)
    add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
