"""Retention: once a file's records need no longer be kept, delete its original (archive/
or quarantine/), its answers in the outbox (acknowledgements, the report, their resends,
final answers of its waiting versions) and its ledger rows; each purge goes to the audit
trail (the only trace left of the file: what it was, when it came, what was deleted).

How long: ``retention_years`` full calendar years after the year the file was received
(settings, or the partner's own in the registry; docs/decisions.md "Retention": the
customs record-keeping rules ask six years). ``carm-edi ledger purge`` and the
``carm_retention`` DAG run ``purge``; the operations page shows what is due
(``due_by_partner``, and the file list's ``due`` filter).

The stored bytes go first, through the partner's channel (local folder, SFTP, S3): a
channel that fails leaves the file's rows in place, so the next purge tries again; an
answer the partner already collected from its outbox is simply not there any more."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from gateway.operator import Requester, outbox_name
from gateway.partners import PartnerRegistry, load_registry
from gateway.settings import Settings
from ledger import Ledger
from ledger.retention import Cutoffs, cutoff, due_counts, due_files, kept_until, outbox_locations
from ledger.store import FileState, as_utc
from ledger.tables import FileRecord
from transports.base import StoredFiles
from transports.partner_channels import PartnerChannels

log = logging.getLogger(__name__)

DAG_REQUESTER = Requester("dag:carm_retention", "dag")
"""Who purges in the scheduled task's audit rows."""


def retention_years(settings: Settings, registry: PartnerRegistry, partner: str) -> int:
    """The partner's own retention when the registry gives one, else the settings'."""
    if partner in registry.ids():
        own = registry.get(partner).retention_years
        if own is not None:
            return own
    return settings.retention_years


def cutoffs(settings: Settings, registry: PartnerRegistry, now: dt.datetime) -> Cutoffs:
    """Per partner of the registry, the received time before which its files are due."""
    return Cutoffs(
        default=cutoff(now, settings.retention_years),
        partners={p: cutoff(now, retention_years(settings, registry, p)) for p in registry.ids()},
    )


def due_by_partner(ledger: Ledger, settings: Settings, registry: PartnerRegistry, now: dt.datetime) -> dict[str, int]:
    """How many files of each partner are due for purge now."""
    return due_counts(ledger, cutoffs(settings, registry, now))


def _due_row(record: FileRecord, years: int) -> dict[str, Any]:
    received = as_utc(record.received_at)
    return {
        "id": record.id,
        "partner": record.partner,
        "name": record.name,
        "state": record.state,
        "received_at": received.isoformat(timespec="seconds"),
        "kept_until": kept_until(received, years).isoformat(),
    }


def purge(
    settings: Settings,
    requester: Requester,
    *,
    dry_run: bool = False,
    partner: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Purge every file due (of ``partner`` when given); with ``dry_run`` only list them.
    ``due``: the files due; ``purged``: those deleted, each with what was; ``failed``: those
    kept because their stored files could not be deleted (the error says why)."""
    now = now or dt.datetime.now(dt.UTC)
    registry = load_registry(settings.partners_path)
    ledger = Ledger(settings.ledger_database_url())
    try:
        due = due_files(ledger, cutoffs(settings, registry, now), partner)
        listing = [_due_row(r, retention_years(settings, registry, r.partner)) for r in due]
        result: dict[str, Any] = {"dry_run": dry_run, "due": listing, "purged": [], "failed": []}
        if dry_run or not due:
            return result
        with PartnerChannels(registry.channels(), settings.resolved_data_dir) as channels:
            for record, row in zip(due, listing, strict=True):
                try:
                    row["deleted"] = _purge_file(ledger, channels, record, row, requester)
                except Exception as error:  # one file's channel failing keeps that file, not the others
                    row["error"] = f"{type(error).__name__}: {error}"
                    log.error(
                        "retention: %s/%s (file %d) kept: %s", record.partner, record.name, record.id, row["error"]
                    )
                    result["failed"].append(row)
                    continue
                if row["deleted"] is not None:
                    result["purged"].append(row)
        return result
    finally:
        ledger.dispose()


def _purge_file(
    ledger: Ledger, channels: StoredFiles, record: FileRecord, row: dict[str, Any], requester: Requester
) -> list[str] | None:
    """Delete the file's stored bytes, then its rows with the audit row; what was deleted
    (None when the file changed meanwhile and was left alone)."""
    current = ledger.find_file(record.id)
    if current is None or current.state not in FileState.FINAL:
        return None  # reprocessed (or purged) since it was listed: its bytes are in use
    deleted: list[str] = []
    gone: list[str] = []
    if record.location:
        (deleted if channels.delete_filed(record.partner, record.location) else gone).append(record.location)
    for location in outbox_locations(ledger, record.id):
        partner, name = outbox_name(location)
        (deleted if channels.delete_outbox(partner, name) else gone).append(location)
    detail = (
        f"{record.partner}/{record.name} (sha256 {record.sha256[:12]}, {record.state}), received {row['received_at']}, "
        f"kept until {row['kept_until']}: deleted {', '.join(deleted) or 'no stored file'}"
        + (f"; already gone: {', '.join(gone)}" if gone else "")
        + "; ledger rows removed"
    )
    if not ledger.purge(record.id, who=requester.who, source=requester.source, detail=detail):
        return None
    log.info("retention: purged file %d: %s", record.id, detail)
    return deleted


class PurgeIncomplete(RuntimeError):
    """Some due files could not be purged (their channel failed): they are kept for the next run."""


def purge_or_fail(settings: Settings, requester: Requester) -> dict[str, Any]:
    """The scheduled purge: ``purge``'s counts, or ``PurgeIncomplete`` (the task fails, the run
    shows it) naming the files kept; the others were purged all the same."""
    result = purge(settings, requester)
    if result["failed"]:
        named = "; ".join(f"file {r['id']} {r['partner']}/{r['name']}: {r['error']}" for r in result["failed"])
        raise PurgeIncomplete(f"{len(result['failed'])} of {len(result['due'])} files due were kept: {named}")
    return {"due": len(result["due"]), "purged": len(result["purged"]), "files": [r["id"] for r in result["purged"]]}
