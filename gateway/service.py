"""Entry points shared by the Airflow DAG and the CLI: plan batches, run one
batch, summarize, reprocess. Each builds what it needs from settings at call
time, so nothing happens when a DAG file is parsed. One planner (``plan``)
serves the DAG (``plan_batches``, one task per batch) and ``carm-edi process``
(``process_once``, every batch in turn): both resume stale claims and parked
files before the inbox, and hand out only complete inbox files (``gateway.quiet``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gateway.operator import OperatorError, Requester, prepare_reprocess
from gateway.partners import PartnerRegistry, load_registry
from gateway.pipeline import Checkpoint, Pipeline, ProcessedFile
from gateway.portal_lookups import PortalClientLookups
from gateway.quiet import complete_files, completion, observation
from gateway.reference import active_reference
from gateway.settings import Settings
from gateway.waiting import follow_up, waiting_report
from ledger import Ledger
from ledger.store import FileState
from portal.carm import CarmConnector, PortalConnector
from portal.client import PortalClient
from portal.payments import PaymentClient
from transports.base import Transport
from transports.partner_channels import PartnerChannels
from validators.rules.lookups import portal_context

log = logging.getLogger(__name__)


def load_partners(settings: Settings) -> PartnerRegistry:
    """The partner registry named by ``settings.partners_path`` (a ``RegistryError`` says what is wrong)."""
    return load_registry(settings.partners_path)


@contextmanager
def open_transport(settings: Settings, registry: PartnerRegistry | None = None) -> Iterator[PartnerChannels]:
    """Every configured partner's channel behind one Transport; SFTP/S3 sessions closed on exit."""
    with PartnerChannels((registry or load_partners(settings)).channels(), settings.resolved_data_dir) as transport:
        yield transport


@contextmanager
def open_pipeline(
    settings: Settings, task: str | None = None, checkpoint: Checkpoint | None = None
) -> Iterator[Pipeline]:
    """The pipeline on the configured ledger, portal and partner channels
    (``checkpoint``: the fault-injection tests' hook, None in production)."""
    registry = load_partners(settings)
    ledger = Ledger(settings.ledger_database_url())
    client = PortalClient.from_settings(settings)
    connector = open_connector(settings, client)
    try:
        with open_transport(settings, registry) as transport:
            # The portal is the authority on what it enforces itself; the gateway
            # adds the version-history and delegation look-ups and the warnings.
            rules = portal_context(
                PortalClientLookups(client), portal_prechecks=False, reference=active_reference(settings)
            )
            payments = PaymentClient(client).submit_payment
            yield Pipeline(
                settings,
                transport,
                ledger,
                connector.submit_declaration,
                rules,
                registry,
                task=task,
                payment_poster=payments,
                checkpoint=checkpoint,
            )
    finally:
        if connector is not client:
            connector.close()
        client.close()
        ledger.dispose()


def open_connector(settings: Settings, client: PortalClient) -> PortalConnector:
    """Where declarations are posted (``portal_api``): the JSON portal's ``client`` itself,
    or a CARM connector to the CAD endpoint (the look-ups and payments stay on ``client``)."""
    if settings.portal_api == "carm":
        return CarmConnector.from_carm_settings(settings)
    return client


def follow_up_pending(settings: Settings) -> dict[str, Any]:
    """Query the portal for the declaration versions waiting for a final answer, answer the
    partners of the final ones (gateway.waiting); the counts and what still waits, with its age."""
    registry = load_partners(settings)
    ledger = Ledger(settings.ledger_database_url())
    client = PortalClient.from_settings(settings)
    connector = open_connector(settings, client)
    try:
        with open_transport(settings, registry) as transport:
            now = dt.datetime.now(dt.UTC)
            counts = follow_up(settings, ledger, connector, transport, now)
            return {**counts, "still_waiting": waiting_report(ledger, now)}
    finally:
        if connector is not client:
            connector.close()
        client.close()
        ledger.dispose()


def plan_batches(
    settings: Settings, reprocess: list[int] | None = None, requester: Requester | None = None
) -> list[dict[str, Any]]:
    """The inbox files of every configured partner, cut into batches of ``batch_size``,
    and, per partner, the files to resume from processing/: claims whose worker is
    gone (lease ended), parked files whose park delay ended, and the files named in
    ``reprocess`` (the DAG param: quarantined files go back to the inbox, parked
    ones are due at once; the ledger keeps their history; an unknown id is logged
    and the others still served; each is written to the audit trail as asked by
    ``requester``, by default the DAG's).

    A partner whose channel cannot be listed (server down, bad credentials) is
    logged and skipped: the other partners are still served.
    """
    registry = load_partners(settings)
    ledger = Ledger(settings.ledger_database_url())
    try:
        with open_transport(settings, registry) as transport:
            if reprocess:
                asked = requester or Requester("airflow", "dag")
                for note in prepare_reprocess(ledger, transport, [int(i) for i in reprocess], asked):
                    log.warning("reprocess: %s", note)
            return plan(settings, ledger, transport, registry=registry)
    finally:
        ledger.dispose()


def plan(
    settings: Settings,
    ledger: Ledger,
    transport: Transport,
    partner: str | None = None,
    registry: PartnerRegistry | None = None,
) -> list[dict[str, Any]]:
    """The batches of one run (of every partner, or of ``partner``): first the files
    to resume from processing/, then the complete inbox files (``gateway.quiet``:
    the run may wait up to the longest quiet period once), ``batch_size`` at a time.
    An inbox batch carries what the planner saw of each file (``observed``): a file
    changed by the time its batch runs is left for the next run. First it sweeps the
    outboxes' temporaries that killed writers left (``sweep_temporaries``)."""
    names = [partner] if partner else transport.partners()
    sweep_temporaries(transport, names, settings.claim_lease_seconds)
    known = set(registry.ids()) if registry is not None else set()
    rules = {
        name: completion(registry.get(name) if registry is not None and name in known else None, settings.quiet_seconds)
        for name in names
    }
    inboxes = complete_files(transport, rules)
    batches: list[dict[str, Any]] = []
    size = settings.batch_size
    for name in names:
        resume = [record.id for record in ledger.resumable(name)]
        for start in range(0, len(resume), size):
            chunk = resume[start : start + size]
            label = f"{name} resume {start // size + 1} ({len(chunk)} files)"
            batches.append({"partner": name, "files": [], "resume": chunk, "label": label})
        inbox = inboxes.get(name, [])
        for start in range(0, len(inbox), size):
            files = inbox[start : start + size]
            label = f"{name} batch {start // size + 1} ({len(files)} files)"
            observed = {f.name: observation(f) for f in files}
            batches.append({"partner": name, "files": [f.name for f in files], "observed": observed, "label": label})
    return batches


def sweep_temporaries(transport: Transport, partners: list[str], older_than: float) -> None:
    """Remove the hidden ``.part`` temporaries of outbox writes cut short by a killed worker
    (not written to for a lease: a live writer's claim would still hold). None of them
    is an answer: the resumed claim writes its acknowledgements again under their final names.
    A partner whose outbox cannot be swept is logged; planning goes on."""
    for name in partners:
        try:
            swept = transport.sweep_temporaries(name, older_than)
        except Exception:
            log.exception("partner %s: cannot sweep the outbox's temporaries", name)
            continue
        if swept:
            log.warning("partner %s: removed %d stale outbox temporaries: %s", name, len(swept), ", ".join(swept))


def run_batch(
    settings: Settings, batch: dict[str, Any], run_id: str | None = None, task: str | None = None
) -> dict[str, Any]:
    """Resume the batch's files left in processing/, then claim and process its inbox files."""
    with open_pipeline(settings, task=task) as pipeline:
        processed = work_batch(pipeline, batch, run_id)
    return {"partner": batch["partner"], "label": batch["label"], "files": [file_summary(p) for p in processed]}


def work_batch(pipeline: Pipeline, batch: dict[str, Any], run_id: str | None = None) -> list[ProcessedFile]:
    """One planned batch on an open pipeline: its files to resume, then its inbox files."""
    processed = [p for p in (pipeline.resume(i, run_id) for i in batch.get("resume", [])) if p is not None]
    return processed + pipeline.process_names(batch["partner"], batch["files"], run_id, batch.get("observed"))


def process_once(settings: Settings, partner: str | None = None, run_id: str | None = None) -> list[ProcessedFile]:
    """``carm-edi process``: one run as the DAG plans it (stale claims and parked
    files resumed, then the inbox), every batch in turn in this process."""
    with open_pipeline(settings, task="carm-edi process") as pipeline:
        batches = plan(settings, pipeline.ledger, pipeline.transport, partner, pipeline.registry)
        return [processed for batch in batches for processed in work_batch(pipeline, batch, run_id)]


def file_summary(processed: ProcessedFile) -> dict[str, Any]:
    report = processed.report
    documents = report.documents
    return {
        "name": processed.name,
        "state": processed.state,
        "format": report.format,
        "accepted": report.accepted,
        "documents": len(documents),
        "documents_accepted": sum(1 for d in documents if d.status == "accepted"),
        "errors": [str(e) for e in report.all_errors()[:3]],
        "acknowledgements": report.acknowledgements,
    }


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    files = [f for batch in results for f in batch["files"]]
    summary = {
        "files": len(files),
        "archived": sum(1 for f in files if f["state"] == "archived"),
        "quarantined": sum(1 for f in files if f["state"] == "quarantined"),
        "documents": sum(f["documents"] for f in files),
        "documents_accepted": sum(f["documents_accepted"] for f in files),
    }
    parked = [f["name"] for f in files if f["state"] == "parked"]
    if parked:  # the portal was unavailable: these wait in processing/ and are retried
        summary["parked"] = len(parked)
        summary["parked_files"] = parked
    released = [f["name"] for f in files if f["state"] == FileState.RELEASED]
    if released:  # an internal error, or a file still being written: back in the inbox for the next run
        summary["released"] = len(released)
        summary["released_files"] = released
    failed = [f["name"] for f in files if f["state"] == FileState.FAILED]
    if failed:  # failed: internal error, at the last allowed attempt (quarantined, answered)
        summary["failed"] = len(failed)
        summary["failed_files"] = failed
    return summary


def reprocess(
    settings: Settings,
    requester: Requester,
    *,
    file_ids: list[int] | None = None,
    parked: bool = False,
    run_id: str = "operator",
) -> dict[str, Any]:
    """``carm-edi reprocess`` and the operations page: the named files, or every parked
    file, processed now; ids the ledger does not know come back in ``unknown``."""
    with open_pipeline(settings, task=requester.task) as pipeline:
        ledger = pipeline.ledger
        ids = list(file_ids or [])
        if parked:
            ids += [r.id for r in ledger.files(state=FileState.PARKED)]
        if not ids:
            raise OperatorError("nothing to reprocess: no file named and no file parked")
        notes = prepare_reprocess(ledger, pipeline.transport, ids, requester)
        results = []
        unknown = []
        for file_id in ids:
            record = ledger.find_file(file_id)
            if record is None:
                unknown.append(file_id)
            elif record.state == FileState.RELEASED:
                results += pipeline.process_names(record.partner, [record.name], run_id)
            elif record.state in FileState.RESUMABLE:
                result = pipeline.resume(file_id, run_id)
                if result is not None:
                    results.append(result)
        return {"notes": notes, "files": [file_summary(p) for p in results], "unknown": unknown}
