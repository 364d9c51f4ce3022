"""What the operations page and ``carm-edi ledger list`` show, as plain data: the files
across runs (filtered, a page at a time), one file in full, and each partner now.

The ledger's queries are ``ledger.search``; this module adds what needs the gateway:
the stored report's findings (``files.summary``), the acknowledgements' content and the
partners' inboxes through their channels. Nothing here carries a credential or a
whole document: a file row names its first finding, the detail quotes the stored
findings and the portal's answer per declaration (status, assessment totals, errors)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.operator import file_view, outbox_name
from gateway.partners import PartnerRegistry
from ledger import Ledger
from ledger.retention import Cutoffs
from ledger.search import ACCEPTED_STATUSES, FileQuery, FileRow, QueryError, outcome_of, partner_activity, search_files
from ledger.store import as_utc
from ledger.tables import FileRecord, utcnow
from transports.base import Transport

FILTERS = ("partner", "outcome", "received_from", "received_to", "text", "due")
"""The file list's filters, as the page's query parameters and ``carm-edi ledger list``'s options."""

ACK_PREVIEW_BYTES = 256 * 1024
"""The most of an acknowledgement the page shows (the partner's copy is whole)."""


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def query_from(params: dict[str, str], due: Cutoffs | None = None) -> FileQuery:
    """The file query of the page's (and ``/api/files``' and ``carm-edi ledger list``'s) parameters;
    ``QueryError`` says which is wrong. ``due=yes`` keeps the files due for purge under ``due``."""
    wanted = (params.get("due") or "").lower()
    if wanted not in ("", "yes", "no"):
        raise QueryError(f"due {params['due']!r}: yes (only the files due for purge) or no")
    try:
        page, per_page = int(params.get("page") or 1), int(params.get("per_page") or 50)
    except ValueError:
        raise QueryError("page and per_page are whole numbers") from None
    return FileQuery(
        partner=params.get("partner") or None,
        outcome=params.get("outcome") or None,
        received_from=_date(params.get("received_from"), "received_from"),
        received_to=_date(params.get("received_to"), "received_to"),
        text=params.get("text") or None,
        due=due if wanted == "yes" else None,
        page=page,
        per_page=per_page,
    )


def _time(value: dt.datetime | None) -> str | None:
    return as_utc(value).isoformat(timespec="seconds") if value is not None else None


def stored_findings(record: FileRecord, severity: str) -> list[dict[str, Any]]:
    """The findings its stored report quotes of one ``severity`` (error or warning: a warning
    rejected nothing and is never listed as an error), each ``{code, where, message}``."""
    return [
        {"code": e.get("code"), "where": e.get("where"), "message": e.get("message")}
        for e in (record.summary or {}).get("errors") or []
        if isinstance(e, dict) and (e.get("severity") or "error") == severity
    ]


def first_finding(record: FileRecord) -> str | None:
    """The file's first error as its stored report quotes it (``[CODE] where: message``),
    else the ledger's note (a quarantine or parking reason); warnings are not errors."""
    errors = stored_findings(record, "error")
    if errors:
        first = errors[0]
        where = f" {first['where']}:" if first.get("where") else ""
        return f"[{first.get('code') or ''}]{where} {first.get('message') or ''}"
    return record.note


def _row(row: FileRow) -> dict[str, Any]:
    record = row.record
    return {
        "id": record.id,
        "partner": record.partner,
        "name": record.name,
        "received_at": _time(record.received_at),
        "format": record.format,
        "outcome": row.outcome,
        "state": record.state,
        "documents_accepted": row.documents_accepted,
        "documents_rejected": row.documents_rejected,
        "first_finding": first_finding(record),
        "warnings": len(stored_findings(record, "warning")),
        "acknowledgements": [
            {"id": a.id, "kind": a.kind, "name": outbox_name(a.location)[1]} for a in row.acknowledgements
        ],
        "attempts": record.attempts,
    }


def list_files(ledger: Ledger, query: FileQuery) -> dict[str, Any]:
    """One page of the files matching ``query``, newest first, with the total and page count."""
    page = search_files(ledger, query)
    return {
        "total": page.total,
        "page": page.page,
        "pages": page.pages,
        "per_page": page.per_page,
        "files": [_row(row) for row in page.rows],
    }


def _declaration(document: dict[str, Any], status: str) -> dict[str, Any]:
    answer = document.get("response") or {}
    return {
        "message_reference": document["message_reference"],
        "transaction_number": document["transaction_number"],
        "version": document["version"],
        "status": status,
        "accepted": status in ACCEPTED_STATUSES,
        "assessed": answer.get("assessed"),
        "errors": _split(answer.get("errors"), "error"),
        "warnings": _split(answer.get("errors"), "warning"),
    }


def _split(found: Any, severity: str) -> list[dict[str, Any]]:
    """The findings of a document's answer of one severity (a warning rejected nothing)."""
    return [
        {"code": e.get("code"), "where": e.get("where"), "message": e.get("message")}
        for e in found or []
        if isinstance(e, dict) and (e.get("severity") or "error") == severity
    ]


def file_detail(ledger: Ledger, file_id: int) -> dict[str, Any]:
    """One file: ``ledger show``'s view, plus its findings with their locations, each
    acknowledgement with its resends, the portal's answer per declaration and the
    operator actions on it (``OperatorError`` when the ledger does not know it)."""
    view = file_view(ledger, file_id)
    record = ledger.file(file_id)
    summary = record.summary or {}
    resends: dict[int, list[dict[str, Any]]] = {}
    for resend in ledger.resends(file_id):
        resends.setdefault(resend.acknowledgement_id, []).append(
            {"name": outbox_name(resend.location)[1], "who": resend.who, "at": _time(resend.at)}
        )
    view.update(
        {
            "format": record.format,
            "outcome": outcome_of(record),
            "findings": stored_findings(record, "error"),
            "warnings": stored_findings(record, "warning"),
            "findings_omitted": sum((summary.get("findings") or {}).get("omitted", {}).values()),
            "acknowledgements": [
                {
                    "id": a.id,
                    "kind": a.kind,
                    "name": outbox_name(a.location)[1],
                    "sha256": a.sha256,
                    "written_at": _time(a.created_at),
                    "resends": resends.get(a.id, []),
                }
                for a in ledger.acknowledgements(file_id)
            ],
            "declarations": [
                _declaration(
                    {
                        "message_reference": d.message_reference,
                        "transaction_number": d.transaction_number,
                        "version": d.version,
                        "response": d.response,
                    },
                    d.status,
                )
                for d in ledger.documents(file_id)
                if d.position is not None
            ],
            "actions": [
                {
                    "at": _time(a.at),
                    "who": a.who,
                    "action": a.action,
                    "target": a.target,
                    "source": a.source,
                    "detail": a.detail,
                }
                for a in ledger.actions(target=f"file {file_id}")
            ],
        }
    )
    return view


def read_acknowledgement(
    ledger: Ledger, transport: Transport, acknowledgement_id: int, limit: int = ACK_PREVIEW_BYTES
) -> tuple[str, bytes | None, bool]:
    """(name, its first ``limit`` bytes or None once the partner collected it, whether it is longer)."""
    ack = ledger.acknowledgement(acknowledgement_id)
    if ack is None:
        raise LookupError(f"no acknowledgement {acknowledgement_id} in the ledger")
    partner, name = outbox_name(ack.location)
    stream = transport.read_outbox(partner, name)
    if stream is None:
        return name, None, False
    with stream:
        data = stream.read(limit + 1)
    return name, data[:limit], len(data) > limit


def partner_status(
    ledger: Ledger, transport: Transport, registry: PartnerRegistry, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Each partner now: received today, quarantined, parked, in processing past its lease,
    the age of the oldest file waiting in its inbox, and when its last file came (a partner
    gone quiet shows an old date). An inbox that cannot be listed says why."""
    now = now or utcnow()
    activity = partner_activity(ledger, now)
    rows = []
    for partner in sorted(set(registry.ids()) | set(activity)):
        seen = activity.get(partner)
        oldest: float | None = None
        inbox_error = None
        try:
            times = [f.modified for f in transport.list_inbox(partner) if f.modified is not None]
            oldest = now.timestamp() - min(times) if times else None
        except Exception as error:  # a channel down is shown, not fatal to the page
            inbox_error = f"{type(error).__name__}: {error}"
        rows.append(
            {
                "partner": partner,
                "received_today": seen.received_today if seen else 0,
                "quarantined": seen.quarantined if seen else 0,
                "parked": seen.parked if seen else 0,
                "overdue": seen.overdue if seen else 0,
                "oldest_inbox_seconds": round(oldest) if oldest is not None else None,
                "inbox_error": inbox_error,
                "last_seen": _time(seen.last_seen) if seen else None,
            }
        )
    return rows
