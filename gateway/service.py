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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from gateway.carm_endpoint import carm_endpoint
from gateway.operator import OperatorError, Requester, prepare_reprocess
from gateway.partners import PartnerRegistry, load_registry
from gateway.pipeline import Checkpoint, Pipeline, ProcessedFile
from gateway.portal_lookups import PortalClientLookups
from gateway.quiet import complete_files, completion, observation
from gateway.reference import active_reference
from gateway.run_outcome import (
    InboxUnlisted,
    file_summary,
    idle_batch,
    is_idle,
    log_file,
    summarize,
    summarize_files,
    unlisted_batch,
)
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

__all__ = ["file_summary", "plan_batches", "plan_run", "process_once", "reprocess", "run_batch", "summarize"]


def load_partners(settings: Settings) -> PartnerRegistry:
    """The partner registry named by ``settings.partners_path`` (a ``RegistryError`` says what is wrong)."""
    return load_registry(settings.partners_path)


@contextmanager
def open_transport(settings: Settings, registry: PartnerRegistry | None = None) -> Iterator[PartnerChannels]:
    """Every configured partner's channel behind one Transport; SFTP/S3 sessions closed on exit."""
    with PartnerChannels((registry or load_partners(settings)).channels(), settings.resolved_data_dir) as transport:
        yield transport


@dataclass(frozen=True)
class Services:
    """What a run works with: the partner registry, the ledger, the embedded portal's client
    (look-ups, payments), the connector declarations are posted through, every partner's channel."""

    registry: PartnerRegistry
    ledger: Ledger
    client: PortalClient
    connector: PortalConnector
    transport: PartnerChannels


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    """The run's ``Services`` from the settings; on exit the channels, the connector, the client
    and the ledger's connections are closed, whatever happened."""
    with ExitStack() as stack:
        registry = load_partners(settings)
        ledger = Ledger(settings.ledger_database_url())
        stack.callback(ledger.dispose)
        client = stack.enter_context(PortalClient.from_settings(settings))
        connector = open_connector(settings, client)
        if connector is not client:
            stack.callback(connector.close)
        transport = stack.enter_context(open_transport(settings, registry))
        yield Services(registry, ledger, client, connector, transport)


@contextmanager
def open_pipeline(
    settings: Settings, task: str | None = None, checkpoint: Checkpoint | None = None
) -> Iterator[Pipeline]:
    """The pipeline on the configured ledger, portal and partner channels
    (``checkpoint``: the fault-injection tests' hook, None in production)."""
    with open_services(settings) as services:
        # The portal is the authority on what it enforces itself; the gateway
        # adds the version-history and delegation look-ups and the warnings.
        rules = portal_context(
            PortalClientLookups(services.client), portal_prechecks=False, reference=active_reference(settings)
        )
        yield Pipeline(
            settings,
            services.transport,
            services.ledger,
            services.connector.submit_declaration,
            rules,
            services.registry,
            task=task,
            payment_poster=PaymentClient(services.client).submit_payment,
            checkpoint=checkpoint,
        )


def open_connector(settings: Settings, client: PortalClient) -> PortalConnector:
    """Where declarations are posted (``portal_api``): the JSON portal's ``client`` itself,
    or a CARM connector to CARM's endpoint (``gateway.carm_endpoint``; the look-ups and
    payments stay on ``client``)."""
    if settings.portal_api == "carm":
        return CarmConnector.to_endpoint(carm_endpoint(settings), settings)
    return client


def follow_up_pending(settings: Settings) -> dict[str, Any]:
    """Query the portal for the declaration versions waiting for a final answer, answer the
    partners of the final ones and of those past their deadline (gateway.waiting); the counts
    and what still waits, with its age."""
    with open_services(settings) as services:
        now = dt.datetime.now(dt.UTC)
        counts = follow_up(settings, services.ledger, services.connector, services.transport, now)
        return {**counts, "still_waiting": waiting_report(services.ledger, now)}


def plan_batches(
    settings: Settings, reprocess: list[int] | None = None, requester: Requester | None = None
) -> list[dict[str, Any]]:
    """The batches of ``plan_run`` (without the idle batch of a run with nothing to do)."""
    return [b for b in plan_run(settings, reprocess, requester) if not is_idle(b) and "unlisted" not in b]


def plan_run(
    settings: Settings, reprocess: list[int] | None = None, requester: Requester | None = None
) -> list[dict[str, Any]]:
    """The run's batches: the inbox files of every configured partner cut into
    batches of ``batch_size`` and, per partner, the files to resume from processing/:
    claims whose worker is gone (lease ended), parked files whose park delay ended, and
    the files named in ``reprocess`` (the DAG param: quarantined files go back to the
    inbox, parked ones are due at once; the ledger keeps their history; an unknown id is
    logged and the others still served; each is written to the audit trail as asked by
    ``requester``, by default the DAG's); and, for each partner whose channel could not
    be listed (server down, bad credentials, a missing connection), a batch saying so
    (``unlisted``: why), whose task fails (``run_batch``) while the other partners are
    still served.

    A run with nothing to do gets one idle batch (``gateway.run_outcome.idle_batch``):
    its task succeeds at once instead of a mapped task skipped for want of input."""
    registry = load_partners(settings)
    ledger = Ledger(settings.ledger_database_url())
    unlisted: dict[str, str] = {}
    try:
        with open_transport(settings, registry) as transport:
            if reprocess:
                asked = requester or Requester("airflow", "dag")
                for note in prepare_reprocess(ledger, transport, [int(i) for i in reprocess], asked):
                    log.warning("reprocess: %s", note)
            batches = plan(settings, ledger, transport, registry=registry, unlisted=unlisted)
    finally:
        ledger.dispose()
    batches += [unlisted_batch(partner, why) for partner, why in unlisted.items()]
    return batches or [idle_batch()]


def plan(
    settings: Settings,
    ledger: Ledger,
    transport: Transport,
    partner: str | None = None,
    registry: PartnerRegistry | None = None,
    unlisted: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The batches of one run (of every partner, or of ``partner``): first the files
    to resume from processing/, then the complete inbox files (``gateway.quiet``:
    the run may wait up to the longest quiet period once), ``batch_size`` at a time.
    An inbox batch carries what the planner saw of each file (``observed``): a file
    changed by the time its batch runs is left for the next run. Partners whose inbox
    cannot be listed go into ``unlisted``. First it sweeps the outboxes' temporaries
    that killed writers left (``sweep_temporaries``)."""
    names = [partner] if partner else transport.partners()
    sweep_temporaries(transport, names, settings.claim_lease_seconds)
    known = set(registry.ids()) if registry is not None else set()
    rules = {
        name: completion(registry.get(name) if registry is not None and name in known else None, settings.quiet_seconds)
        for name in names
    }
    inboxes = complete_files(transport, rules, unlisted)
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
    """Resume the batch's files left in processing/, then claim and process its inbox files;
    one log line per file at its level (``gateway.run_outcome.log_file``). The idle batch
    of a run with nothing to do opens nothing."""
    if "unlisted" in batch:
        raise InboxUnlisted(f"partner {batch['partner']}: its inbox could not be listed: {batch['unlisted']}")
    if is_idle(batch):
        return {"partner": batch["partner"], "label": batch["label"], "files": []}
    with open_pipeline(settings, task=task) as pipeline:
        processed = work_batch(pipeline, batch, run_id)
        files = summarize_files(pipeline.ledger, processed)
    for entry in files:
        log_file(batch["partner"], entry)
    return {"partner": batch["partner"], "label": batch["label"], "files": files}


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
        return {"notes": notes, "files": summarize_files(ledger, results), "unknown": unknown}
