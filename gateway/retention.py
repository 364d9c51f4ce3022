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
from collections.abc import Iterator
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


PAGE = 500
"""Due files read from the ledger at a time."""


def purge_files(
    settings: Settings,
    requester: Requester,
    *,
    dry_run: bool = False,
    partner: str | None = None,
    now: dt.datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Purge every file due (of ``partner`` when given), one at a time, reading them a page at a
    time; yields each file's row as it is done: ``outcome`` ``due`` (``dry_run``: nothing is
    deleted), ``purged`` (with what was ``deleted``), ``kept`` (its stored files could not be
    deleted: ``error`` says why; its rows stay for the next purge) or ``changed`` (reprocessed
    since it was listed: left alone)."""
    now = now or dt.datetime.now(dt.UTC)
    registry = load_registry(settings.partners_path)
    due = cutoffs(settings, registry, now)
    ledger = Ledger(settings.ledger_database_url())
    try:
        with PartnerChannels(registry.channels(), settings.resolved_data_dir) as channels:
            last = 0
            while page := due_files(ledger, due, partner, after=last, limit=PAGE):
                last = page[-1].id
                for record in page:
                    row = _due_row(record, retention_years(settings, registry, record.partner))
                    if dry_run:
                        yield {**row, "outcome": "due"}
                        continue
                    try:
                        deleted = _purge_file(ledger, channels, record, row, requester)
                    except Exception as error:  # one file's channel failing keeps that file, not the others
                        row["error"] = f"{type(error).__name__}: {error}"
                        log.error("retention: %s/%s (file %d) kept: %s", record.partner, record.name, record.id,
                                  row["error"])  # fmt: skip
                        yield {**row, "outcome": "kept"}
                        continue
                    yield (
                        {**row, "outcome": "changed"}
                        if deleted is None
                        else {**row, "outcome": "purged", "deleted": deleted}
                    )
    finally:
        ledger.dispose()


def purge(settings: Settings, requester: Requester, **options: Any) -> dict[str, Any]:
    """``purge_files`` gathered (``carm-edi ledger purge --json``): ``due`` every file due,
    ``purged`` those deleted, ``failed`` those kept."""
    rows = list(purge_files(settings, requester, **options))
    return {
        "dry_run": bool(options.get("dry_run")),
        "due": rows,
        "purged": [r for r in rows if r["outcome"] == "purged"],
        "failed": [r for r in rows if r["outcome"] == "kept"],
    }


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


def purge_or_fail(settings: Settings, requester: Requester) -> dict[str, int]:
    """The scheduled purge, file by file: how many were due, purged, kept or changed, or
    ``PurgeIncomplete`` (the task fails, the run shows it) naming the first files kept; the
    others were purged all the same."""
    counts = dict.fromkeys(("due", "purged", "kept", "changed"), 0)
    kept: list[str] = []
    for row in purge_files(settings, requester):
        counts["due"] += 1
        counts[row["outcome"]] += 1
        if row["outcome"] == "kept" and len(kept) < 20:
            kept.append(f"file {row['id']} {row['partner']}/{row['name']}: {row['error']}")
    if counts["kept"]:
        raise PurgeIncomplete(f"{counts['kept']} of {counts['due']} files due were kept: {'; '.join(kept)}")
    return counts
