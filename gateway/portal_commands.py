"""``carm-edi portal adjustments|approve|refuse``: an operator's decisions on adjustments.

They talk to the portal over HTTP (settings' ``portal_url`` and ``portal_api_key``), as the
gateway does. Exit codes: 0 done, 1 the portal refused the request (unknown version, not
pending, decided the other way, a refusal without a note), 2 cannot run (portal unreachable).

Each decision the portal answers goes to the gateway ledger's audit trail (who, when, what,
from where), where a ledger is configured (``audit_ledger_url``): written by the portal when
``carm-edi portal serve`` runs it beside the ledger (``decision_recorder``; the caller's
``X-Operator-Source`` says cli, page or dag, a direct API call is ``portal``), else by the
command itself, once either way (the portal's answer says whether it wrote it).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from gateway.settings import Settings
from ledger import Ledger
from portal.adjustments import DecisionMade, OnDecision
from portal.client import PortalClient, PortalRequestError, PortalUnavailable

EXIT_DONE, EXIT_REFUSED, EXIT_CANNOT_RUN = 0, 1, 2
DECISION_ACTIONS = {"approve": "adjustment-approval", "refuse": "adjustment-refusal"}
"""The audit trail's action of each decision."""
_COLUMNS = ("transaction_number", "version", "state", "difference", "received_at", "operator", "decided_at", "note")


def _client() -> PortalClient:
    return PortalClient.from_settings(Settings())


def _failed(error: Exception) -> int:
    if isinstance(error, PortalRequestError):
        body = error.body
        errors = body.get("errors", []) if isinstance(body, dict) else []
        for found in errors or [{"code": str(error.status_code), "message": str(body)}]:
            print(f"refused: {found['code']} {found['message']}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"cannot reach the portal: {error}", file=sys.stderr)
    return EXIT_CANNOT_RUN


def _line(adjustment: dict[str, Any]) -> str:
    return " ".join(f"{name}={adjustment[name]}" for name in _COLUMNS if adjustment.get(name) is not None)


def _adjustments(args: argparse.Namespace) -> int:
    try:
        with _client() as client:
            found = client.adjustments(args.status)
    except (PortalRequestError, PortalUnavailable) as error:
        return _failed(error)
    if args.json:
        print(json.dumps({"adjustments": found}, indent=2, ensure_ascii=False))
    else:
        for adjustment in found:
            print(_line(adjustment))
        print(f"{len(found)} adjustment(s)")
    return EXIT_DONE


def audit_ledger_url(settings: Settings) -> str | None:
    """The gateway's ledger when one is configured here (``CARM_LEDGER_URL``, or the data folder's
    SQLite ledger once the gateway has made it); None: no audit trail to write to."""
    if settings.ledger_url:
        return settings.ledger_url
    return settings.ledger_database_url() if (settings.resolved_data_dir / "ledger.sqlite").is_file() else None


def record_decision(ledger_url: str, made: DecisionMade) -> None:
    """One decision in the audit trail: who asked, the adjustment as the portal answered it."""
    adjustment = made.adjustment
    detail = f"{adjustment.get('state')}: difference {adjustment.get('difference')}"
    if adjustment.get("note"):
        detail += f", note: {adjustment['note']}"
    if not made.first:
        detail += f"; decided before by {adjustment.get('operator')}, answered unchanged"
    ledger = Ledger(ledger_url)
    try:
        ledger.record_action(
            who=made.operator,
            action=DECISION_ACTIONS[made.decision],
            target=f"declaration {adjustment.get('transaction_number')} v{adjustment.get('version')}",
            source=made.source,
            detail=detail,
        )
    finally:
        ledger.dispose()


def decision_recorder(ledger_url: str) -> OnDecision:
    """The portal's ``on_decision`` writing to the gateway ledger at ``ledger_url``."""

    def record(made: DecisionMade) -> None:
        record_decision(ledger_url, made)

    return record


def _decide(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        with PortalClient.from_settings(settings) as client:
            answer = client.decision(
                args.transaction_number, args.version, args.decision, args.operator, args.note, source="cli"
            )
    except (PortalRequestError, PortalUnavailable) as error:
        return _failed(error)
    decided = answer.adjustment
    if not answer.audited and (ledger_url := audit_ledger_url(settings)) is not None:
        record_decision(
            ledger_url, DecisionMade(decided, args.decision, args.operator, source="cli", first=answer.first)
        )
    if args.json:
        print(json.dumps(decided, indent=2, ensure_ascii=False))
    else:
        print(_line(decided))
    return EXIT_DONE


def add_commands(portal_commands: Any) -> None:
    """The operator's commands under ``carm-edi portal``."""
    listing = portal_commands.add_parser("adjustments", help="list the portal's adjustments")
    listing.add_argument("--status", choices=["pending", "approved", "refused"], help="only these")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(handler=_adjustments)
    for decision, verb, note_help in (
        ("approve", "approve", "why (optional)"),
        ("refuse", "refuse", "why (required)"),
    ):
        command = portal_commands.add_parser(verb, help=f"{verb} a pending adjustment (recorded with who and when)")
        command.add_argument("transaction_number")
        command.add_argument("version", type=int)
        command.add_argument("--operator", default=getpass.getuser(), help="who decides (default: the OS user)")
        command.add_argument("--note", required=decision == "refuse", help=note_help)
        command.add_argument("--json", action="store_true", help="print one JSON object")
        command.set_defaults(handler=_decide, decision=decision)
