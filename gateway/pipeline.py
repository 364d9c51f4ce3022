"""Processing claimed files: the work the DAG's tasks and ``carm-edi process`` do.

For each file: claim it, record it in the ledger with its SHA-256, run it
through the flow for its format (acknowledgements to the partner's outbox),
then archive it — or quarantine it when nothing in it could be accepted.

An unexpected error out of a file's flow (a poison file) is that file's alone:
the attempt is counted in the ledger, the file goes back to the inbox and the
run goes on with the other files; at ``max_failed_attempts`` (the partner's, else the settings') the file
ends ``failed`` ("failed: internal error"), quarantined and answered. An error
of the partner's channel is not the file's: the file is given back and the
error stops the run, as a dropped connection stops every file after it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing, contextmanager, nullcontext, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, BinaryIO

from diagnostics import Finding, Location, Severity
from domain import Declaration, DeclarationOutcome
from gateway.flows.contract import (
    FlowOptions,
    PaymentPoster,
    PendingAnswer,
    Poster,
    SenderReference,
    SentInterchange,
    acknowledgement_name,
)
from gateway.flows.dispatch import check_stream
from gateway.flows.refusal import INTERNAL, refuse
from gateway.partners import Partner, PartnerRegistry
from gateway.quiet import Observation, observation, unchanged
from gateway.report import FileReport
from gateway.settings import Settings
from gateway.sniff import Sniffed, sniff
from gateway.stored_report import StoredReport, stored_summary
from ledger import Ledger
from ledger.store import FileState, as_utc
from ledger.tables import utcnow
from mappings.contrl import ReceivedContrl
from portal.client import PortalUnavailable
from transports.base import ClaimedFile, InboundFile, Transport, new_claim_id
from transports.local import is_plain_name, safe_name
from transports.serialized import SerializedTransport
from validators.rules import RuleContext
from validators.rules.base import TransactionHistory

log = logging.getLogger(__name__)


@dataclass
class ProcessedFile:
    partner: str
    name: str
    state: str
    report: FileReport | StoredReport
    file_id: int | None = None  # the ledger's id of the file

    def to_dict(self) -> dict[str, object]:
        return {"partner": self.partner, "name": self.name, "state": self.state, "report": self.report.to_dict()}


def file_digest(stream: BinaryIO) -> tuple[str, int]:
    """SHA-256 and size, read in chunks; the stream is rewound."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest.hexdigest(), size


class _LedgerRegistry:
    def __init__(self, ledger: Ledger, file_id: int) -> None:
        self._ledger = ledger
        self._file_id = file_id

    def register(self, header: SenderReference) -> bool:
        return self._ledger.register_interchange(
            self._file_id, header.sender, header.sender_qualifier, header.control_reference
        )

    def release(self, header: SenderReference) -> None:
        self._ledger.release_interchange(
            self._file_id, header.sender, header.sender_qualifier, header.control_reference
        )


class LedgerAcknowledgements:
    """The flow's ``AcknowledgementRegistry`` on the ledger's ``sent_interchanges``."""

    def __init__(self, ledger: Ledger, partner: str, file_id: int | None) -> None:
        self._ledger = ledger
        self._partner = partner
        self._file_id = file_id

    def record_sent(self, sent: SentInterchange) -> None:
        self._ledger.record_sent_interchange(
            partner=self._partner,
            control_reference=sent.control_reference,
            kind=sent.kind,
            recipient=sent.recipient,
            message_references=list(sent.message_references),
            file_id=self._file_id,
            answers_reference=sent.answers,
        )

    def match_received(self, received: ReceivedContrl) -> SentInterchange | None:
        rejections = [
            {"message_ref": m.reference, "code": m.code or next(iter(m.errors), "")} for m in received.rejected
        ]
        record = self._ledger.record_contrl_verdict(
            partner=self._partner,
            control_reference=received.interchange,
            action=received.action,
            code=received.code,
            rejections=rejections,
            file_id=self._file_id,
        )
        if record is None:
            return None
        answered = self._ledger.file(record.file_id).name if record.file_id else ""
        return SentInterchange(
            record.control_reference,
            record.kind,
            record.recipient,
            tuple(record.message_references),
            record.answers_reference,
            answered,
        )


class LedgerPending:
    """The flows' ``PendingRegistry``: a waiting version in the ledger (``gateway.waiting`` follows it
    up), first queried ``pending_first_query_seconds`` and given up ``pending_deadline_hours`` after ``now``."""

    def __init__(self, ledger: Ledger, settings: Settings, file_id: int | None, partner: str, now: dt.datetime) -> None:
        self._ledger, self._settings, self._file_id, self._partner, self._now = ledger, settings, file_id, partner, now

    def wait(self, pending: PendingAnswer) -> None:
        self._ledger.wait(
            self._file_id,
            self._partner,
            pending.transaction_number,
            pending.version,
            status=pending.status,
            answer=dataclasses.asdict(pending),
            next_query_at=self._now + dt.timedelta(seconds=self._settings.pending_first_query_seconds),
            deadline=self._now + dt.timedelta(hours=self._settings.pending_deadline_hours),
        )


class ChannelWatch:
    """Whether the partner's channel failed during one attempt at a file: an error
    then is the channel's (the file is given back, the run stops), not the file's."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def note(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error

    @contextmanager
    def watch(self) -> Iterator[None]:
        try:
            yield
        except BaseException as error:
            self.note(error)
            raise


class _WatchedStream:
    """The claimed file's stream as the flow reads it: an error out of a call on it
    (a read, a seek) is the channel's."""

    def __init__(self, inner: BinaryIO, channel: ChannelWatch) -> None:
        self._inner = inner
        self._channel = channel

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._channel.watch():
                return value(*args, **kwargs)

        return call


class _HashingWriter:
    """Writes to the outbox stream, ``BUFFER`` bytes at a time, and hashes what passes;
    a failed write is the channel's. The acknowledgement writers write a segment at a
    time: buffered, a small acknowledgement is one write on the channel, which files
    in flight share one call at a time (``SerializedTransport``), not one per segment."""

    BUFFER = 64 * 1024

    def __init__(self, out: BinaryIO, channel: ChannelWatch) -> None:
        self._out = out
        self._channel = channel
        self._pending = bytearray()
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self._pending += data
        if len(self._pending) >= self.BUFFER:
            self.flush()
        return len(data)

    def flush(self) -> None:
        """What is buffered, onto the outbox stream."""
        if self._pending:
            with self._channel.watch():
                self._out.write(bytes(self._pending))
            self._pending.clear()


def outbox_stem(name: str, file_id: int) -> str:
    """How a delivery's acknowledgements are named in the outbox: the file's name
    with anything but letters, digits, ``.``, ``_`` and ``-`` made ``_`` (a path's
    ``/`` too: ``old/inv1.edi`` reads ``old_inv1.edi``), then its ledger file id:
    ``inv1.edi.17`` → ``inv1.edi.17.contrl.edi``. Two deliveries never share it
    (the same name twice, two names that sanitise alike); a rerun of the same
    delivery rewrites the same files."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip("._-")[:150] or "unnamed"
    return f"{cleaned}.{file_id}"


class OutboxSink:
    """Acknowledgements into the partner's outbox, each recorded in the ledger
    under the name it was written as."""

    def __init__(
        self, transport: Transport, partner: str, ledger: Ledger, file_id: int | None, channel: ChannelWatch
    ) -> None:
        self._transport = transport
        self._partner = partner
        self._ledger = ledger
        self._file_id = file_id
        self._channel = channel

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        name = safe_name(name)  # what the transport writes: the location the ledger records exists
        from_flow: list[BaseException] = []
        try:
            with self._transport.write_outbox(self._partner, name) as out:
                writer = _HashingWriter(out, self._channel)
                try:
                    yield writer  # type: ignore[misc]  # writes and hashes: the part of BinaryIO the acknowledgement writers use
                except BaseException as error:
                    from_flow.append(error)
                    raise
                writer.flush()
        except BaseException as error:
            if not from_flow or error is not from_flow[0]:  # opening or committing the upload failed
                self._channel.note(error)
            raise
        kind = name.rsplit(".", 2)[-2]
        self._ledger.record_acknowledgement(
            self._file_id, kind, f"{self._partner}/outbox/{name}", writer.digest.hexdigest()
        )


_EARLIER_FILES: ContextVar[list[threading.Event] | None] = ContextVar("earlier_files", default=None)
"""Set while a batch's file is worked with other files in flight (``Pipeline.process_all``):
the events of the files before it in the batch, each set when that file is done. A correction
waits for them before its post, so the portal sees an original filed earlier in the batch first."""

_CLAIM_TURN: ContextVar[tuple[threading.Event | None, threading.Event] | None] = ContextVar("claim_turn", default=None)
"""Set with ``_EARLIER_FILES``: the event set once the file before this one has recorded its claim
(None for the batch's first) and this file's own. Files in flight record their claims one after the
other in the batch's order, so their ledger ids (and the answers named after them) follow the
order the files were listed in, as they do one file at a time."""


class _LedgerPoster:
    """The flow's poster, recording each post in the ledger the moment the portal
    answers (before any acknowledgement), renewing the claim's lease and calling
    the ``posted`` checkpoint. The first post moves the file to ``parsed`` (its
    interchange was read to the end and found sound) before it is sent, and the
    first answer's record moves it to ``posted`` (one transaction).

    After an operator's reprocess (``reprocessed`` requests so far), a declaration
    version this file never had accepted goes under its key suffixed ``-r<n>``: the
    portal replays whatever it answered a key before, and the refusal's cause (a
    delegation, a tariff item) may have been fixed since. A version the portal
    accepted keeps its key, so it is replayed, never accepted twice.

    The flow calls it from several threads when posts are in flight: the posts
    overlap; the file's moves and records are made under one lock, each answer's
    record as soon as it arrives. With other files of the batch in flight, a version
    after the first (a correction or adjustment) is posted only once the files before
    this one are done (``_EARLIER_FILES``): its original may be in one of them."""

    def __init__(
        self,
        pipeline: Pipeline,
        poster: Poster,
        file_id: int,
        run_id: str | None,
        hidden: set[tuple[str, int]],
        reprocessed: int = 0,
    ) -> None:
        self._pipeline = pipeline
        self._poster = poster
        self._file_id = file_id
        self._run_id = run_id
        self._hidden = hidden
        self._accepted = set(hidden)
        self._reprocessed = reprocessed
        self.keys: dict[str, str] = {}  # CARM reference (transaction + version) → idempotency key
        self._parsed = False
        self._posted = False
        self._lock = threading.Lock()
        self._earlier_files = _EARLIER_FILES.get()  # read on the file's thread, called on the posts'

    def __call__(self, declaration: Declaration, key: str) -> DeclarationOutcome:
        ledger = self._pipeline.ledger
        if declaration.version > 1 and self._earlier_files:
            self._wait_for_earlier_files(self._earlier_files)
        with self._lock:
            if not self._parsed:
                ledger.move_file(self._file_id, FileState.PARSED, run_id=self._run_id, task=self._pipeline.task)
                self._parsed = True
            self._hidden.discard((declaration.transaction_number, declaration.version))
            if self._reprocessed and (declaration.transaction_number, declaration.version) not in self._accepted:
                key = f"{key}-r{self._reprocessed}"
        outcome = self._poster(declaration, key)
        with self._lock:
            self.keys[declaration.reference] = key
            ledger.record_post(
                self._file_id, idempotency_key=key, message_reference=declaration.reference[:32],
                transaction_number=declaration.transaction_number, version=declaration.version,
                status=outcome.status.value, response=outcome.model_dump(mode="json"),
                lease_seconds=self._pipeline.settings.claim_lease_seconds,
                move_to=None if self._posted else FileState.POSTED, run_id=self._run_id, task=self._pipeline.task,
            )  # fmt: skip
            self._posted = True
        self._pipeline._checkpoint("posted")
        return outcome

    def _wait_for_earlier_files(self, earlier: list[threading.Event]) -> None:
        """Until the files before this one are done, renewing this file's claim every third of
        a lease (an earlier file may take longer than a lease: this one is not abandoned)."""
        lease = self._pipeline.settings.claim_lease_seconds
        for event in earlier:
            while not event.wait(timeout=lease / 3):
                self._pipeline.ledger.renew_lease(self._file_id, lease)


def _history_before_own_posts(
    lookup: Callable[[str], TransactionHistory | None], hidden: set[tuple[str, int]]
) -> Callable[[str], TransactionHistory | None]:
    """The portal's history as this file saw it on its first attempt: versions an
    earlier, interrupted attempt of this file posted (``hidden``) are left out
    until this attempt posts them again, so the rerun's pre-checks (an original
    must be new, a change must be the next version) decide as they did then."""

    def lookup_before(transaction_number: str) -> TransactionHistory | None:
        history = lookup(transaction_number)
        mine = sorted(version for txn, version in hidden if txn == transaction_number)
        if history is None or not mine:
            return history
        if mine[0] <= 1:
            return None
        if history.latest_version >= mine[0]:
            return dataclasses.replace(history, latest_version=mine[0] - 1, cancelled=False)
        return history

    return lookup_before


Checkpoint = Callable[[str], None]
"""Called at named points of the work ("moved", "recorded", "posted",
"acknowledged", "archived"): the fault-injection tests kill the process there."""


def _cancel(futures: Iterable[Future[Any]]) -> None:
    """Those of ``futures`` not started yet never start (the ones running finish)."""
    for future in futures:
        future.cancel()


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        transport: Transport,
        ledger: Ledger,
        poster: Poster | None,
        rules_context: RuleContext | None = None,
        registry: PartnerRegistry | None = None,
        task: str | None = None,
        payment_poster: PaymentPoster | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.settings = settings
        self.transport: Transport = SerializedTransport(transport) if settings.files_at_once > 1 else transport
        self.ledger = ledger
        self.poster = poster
        self.payment_poster = payment_poster
        self.rules_context = rules_context
        self.registry = registry
        self.task = task
        self.checkpoint = checkpoint

    def _checkpoint(self, name: str) -> None:
        if self.checkpoint is not None:
            self.checkpoint(name)

    def process_names(
        self,
        partner: str,
        names: Iterable[str],
        run_id: str | None = None,
        observed: Mapping[str, Observation] | None = None,
    ) -> list[ProcessedFile]:
        """Claim and process the named inbox files; names already taken are skipped,
        and so is a file no longer as the planner ``observed`` it (its upload went
        on): the next run looks at it again."""
        wanted = set(names)
        inbound_files = []
        for inbound in self.transport.list_inbox(partner):
            if inbound.name not in wanted:
                continue
            seen = (observed or {}).get(inbound.name)
            if seen is not None and not unchanged(inbound, seen):
                log.info(
                    "%s/%s: changed since the run was planned (size, modified %s, now %s): left for the next run",
                    partner, inbound.name, list(seen), observation(inbound),
                )  # fmt: skip
                continue
            inbound_files.append(inbound)
        return self.process_all(inbound_files, run_id)

    def process_inbox(self, partner: str | None = None, run_id: str | None = None) -> list[ProcessedFile]:
        """Claim and process every listed inbox file at once, without the planner's
        check that it is complete (``gateway.quiet``): for inboxes whose files are."""
        partners = [partner] if partner else self.transport.partners()
        return [result for name in partners for result in self.process_all(self.transport.list_inbox(name), run_id)]

    def process_all(self, inbound_files: Iterable[InboundFile], run_id: str | None = None) -> list[ProcessedFile]:
        """``process`` each file, ``settings.files_at_once`` at a time, so their posts overlap
        (each file's own posts are ``portal_concurrency`` at a time; the portal client bounds the
        worker's posts in flight). A file starts as soon as any file in flight is done, not only
        the oldest: one slow file (a long read, a post retried) does not hold the others back.
        Results come in the files' order. The channel is shared by the threads
        (``SerializedTransport``). An error out of a file (its channel's) stops the run as it
        does one file at a time: no further file starts, the files in flight finish, the first
        error in the files' order is raised."""
        files = self.settings.files_at_once
        if files == 1:
            return [r for r in (self.process(inbound, run_id) for inbound in inbound_files) if r is not None]
        started: list[Future[ProcessedFile | None]] = []
        done: list[threading.Event] = []
        claimed: list[threading.Event] = []
        with ThreadPoolExecutor(max_workers=files, thread_name_prefix="file") as pool:
            running: set[Future[ProcessedFile | None]] = set()
            try:
                for inbound in inbound_files:
                    if len(running) >= files:
                        finished, running = wait(running, return_when=FIRST_COMPLETED)
                        if any(future.exception() is not None for future in finished):
                            _cancel(running)  # no further file starts
                            break
                    done.append(threading.Event())
                    turn = (claimed[-1] if claimed else None, threading.Event())
                    claimed.append(turn[1])
                    started.append(pool.submit(self._process_in_order, inbound, run_id, done[:-1], done[-1], turn))
                    running.add(started[-1])
            except BaseException:
                _cancel(running)
                raise
        return [r for r in (future.result() for future in started if not future.cancelled()) if r is not None]

    def _process_in_order(
        self,
        inbound: InboundFile,
        run_id: str | None,
        earlier: list[threading.Event],
        done: threading.Event,
        turn: tuple[threading.Event | None, threading.Event],
    ) -> ProcessedFile | None:
        """``process`` one of several files in flight; ``earlier``: the events of the files
        submitted before it (each running or done: the pool holds as many threads as files in
        flight, so a file never waits for one that has not started), ``done`` its own;
        ``turn``: its place in the order the claims are recorded (``_CLAIM_TURN``)."""
        token = _EARLIER_FILES.set(earlier)
        turn_token = _CLAIM_TURN.set(turn)
        try:
            return self.process(inbound, run_id)
        finally:
            _CLAIM_TURN.reset(turn_token)
            _EARLIER_FILES.reset(token)
            turn[1].set()  # also when the file failed before its claim was recorded
            done.set()

    def process(self, inbound: InboundFile, run_id: str | None = None) -> ProcessedFile | None:
        """Claim one inbox file and do its work. The claim is recorded as an intent
        before the file moves, so a worker killed between the move and the record
        still leaves a trace: the next run finds the file by its claim id."""
        claim_id = new_claim_id()
        turn = _CLAIM_TURN.get()
        if turn is not None and turn[0] is not None:
            turn[0].wait()
        try:
            file_id = self.ledger.record_claim(
                inbound.partner, inbound.name, "", inbound.size, run_id, task=self.task,
                claim_id=claim_id, lease_seconds=self.settings.claim_lease_seconds, intent=True,
            )  # fmt: skip
        finally:
            if turn is not None:
                turn[1].set()
        try:
            claimed = self.transport.claim(inbound, claim_id)
        except BaseException:
            self.ledger.forget(file_id)
            raise
        if claimed is None:  # another worker took it first
            self.ledger.forget(file_id)
            return None
        self._checkpoint("moved")
        self.ledger.confirm_claim(file_id, claimed.location, run_id=run_id, task=self.task)
        self._checkpoint("recorded")
        return self._identify_and_work(claimed, file_id, run_id, new_record=True)

    def _identify_and_work(
        self, claimed: ClaimedFile, file_id: int, run_id: str | None, new_record: bool = False
    ) -> ProcessedFile:
        """Hash the claimed file (refused files are not read), let the ledger say
        whether it continues an earlier record or duplicates one, then do the work
        (``new_record``: ``file_id`` was recorded by this claim; unless the ledger
        continues an earlier record with it, no attempt came before this one).
        The stream that was hashed is rewound and read by the flow: the file is
        opened once (a remote reader's window still holds a small file: no second
        download, no second open, size and close over the channel)."""
        refusal = self._refusal(claimed.inbound)
        sha256, size = "", claimed.inbound.size
        stream: BinaryIO | None = None
        if refusal is None:  # refused unread: nothing is downloaded or hashed
            try:
                stream = self.transport.open(claimed)
                sha256, size = file_digest(stream)
            except BaseException as error:
                if stream is not None:
                    with suppress(Exception):  # the error that stopped the read is the one raised
                        stream.close()
                self._give_back(claimed, file_id, error, run_id)
                raise
        with closing(stream) if stream is not None else nullcontext():
            if size != claimed.inbound.size:
                return self._still_written(claimed, file_id, size, run_id)
            claim = self.ledger.identify(file_id, sha256, size)
            if claim.duplicate_of is not None:
                return self._duplicate(claimed, claim.file_id, claim.duplicate_of, run_id)
            first = new_record and not claim.resumed
            return self._work(claimed, claim.file_id, sha256, refusal, claim.received_at, run_id, stream, first)

    def resume(self, file_id: int, run_id: str | None = None, force: bool = False) -> ProcessedFile | None:
        """Finish a file an earlier run left in processing/ (its worker died, its
        channel dropped, or it was parked): None when another worker has it or its
        lease has not ended (``force``: an operator's reprocess). From
        ``acknowledged`` only the filing away is left; otherwise the flow runs
        again: posts are answered from the portal's idempotency records, the
        acknowledgements are rewritten with the same bytes."""
        record = self.ledger.take_over(
            file_id, run_id=run_id, task=self.task, lease_seconds=self.settings.claim_lease_seconds, force=force
        )
        if record is None:
            return None
        inbound = InboundFile(record.partner, record.name, record.size)
        if record.state == FileState.CLAIMING:  # killed around the move: did it happen?
            found = self.transport.reclaim(inbound, record.claim_id or "")
            if found is None:  # no: the file is still in the inbox, claimed afresh by a later run
                self.ledger.forget(file_id)
                return None
            self.ledger.confirm_claim(file_id, found.location, run_id=run_id, task=self.task)
            record.location = found.location
        claimed = ClaimedFile(inbound, record.claim_id or "", record.location or "")
        log.warning(
            "%s/%s: resuming file %d from %s (attempt %d)",
            record.partner,
            record.name,
            file_id,
            record.state,
            record.attempts,
        )
        if record.state == FileState.ACKNOWLEDGED:
            return self._file_away(
                claimed, file_id, StoredReport.from_ledger(record.summary), run_id, record.outcome, record.note
            )
        refusal = self._refusal(inbound)
        if not record.sha256 and refusal is None:  # killed (or cut off) before it was hashed
            return self._identify_and_work(claimed, file_id, run_id)
        return self._work(claimed, file_id, record.sha256, refusal, as_utc(record.received_at), run_id)

    def resume_stale(self, partner: str | None = None, run_id: str | None = None) -> list[ProcessedFile]:
        """Resume every file whose holder is gone and every parked file that is due."""
        results = []
        for record in self.ledger.resumable(partner):
            result = self.resume(record.id, run_id)
            if result is not None:
                results.append(result)
        return results

    def _work(
        self,
        claimed: ClaimedFile,
        file_id: int,
        sha256: str,
        refusal: Finding | None,
        received_at: dt.datetime,
        run_id: str | None,
        stream: BinaryIO | None = None,
        first_attempt: bool = False,
    ) -> ProcessedFile:
        """The file's flow (``stream``: the claimed file, already open and rewound;
        None: opened here; ``first_attempt``: see ``_run``), its ``acknowledged`` move
        and its filing away."""
        channel = ChannelWatch()
        try:
            report, documents = self._run(
                claimed, file_id, sha256, refusal, channel, received_at, run_id, stream, first_attempt
            )
        except PortalUnavailable as error:  # retries exhausted or circuit open: park, do not fail the task
            return self._park(claimed, file_id, error, run_id)
        except Exception as error:
            if channel.error is None:  # out of the flow: this file's, not the run's
                return self._failed_attempt(claimed, file_id, sha256, received_at, error, run_id)
            self._give_back(claimed, file_id, error, run_id)
            raise
        except BaseException as error:
            self._give_back(claimed, file_id, error, run_id)
            raise
        nothing_accepted = not any(i.accepted for i in report.interchanges)
        outcome = "quarantine" if nothing_accepted else "archive"
        reason = None
        if nothing_accepted:
            errors = [f for f in report.all_errors() if f.severity is not Severity.WARNING]  # warnings rejected nothing
            reason = "; ".join(str(f) for f in errors[:5]) or "nothing in the file could be accepted"
        self.ledger.move_file(
            file_id, FileState.ACKNOWLEDGED, run_id=run_id, task=self.task, outcome=outcome, note=reason,
            format=report.format, accepted=report.accepted, summary=stored_summary(report), documents=documents,
        )  # fmt: skip
        self._checkpoint("acknowledged")
        return self._file_away(claimed, file_id, report, run_id, outcome, reason)

    def _give_back(
        self, claimed: ClaimedFile, file_id: int, error: BaseException, run_id: str | None, why: str | None = None
    ) -> None:
        """After an error: the file back to the inbox (``released``); when even that
        fails (the channel dropped), the claim is abandoned: its lease ends now and
        the next run resumes the file from processing/."""
        why = why or f"{type(error).__name__}: {error}"[:2000]
        try:
            self.transport.release(claimed)
        except Exception as failure:
            log.warning(
                "%s: cannot release %s (%s); the next run resumes it",
                claimed.inbound.partner,
                claimed.location,
                failure,
            )
            self.ledger.abandon(file_id, why)
            return
        self.ledger.move_file(file_id, FileState.RELEASED, run_id=run_id, task=self.task, note=why, lease_until=None)

    def _failed_attempt(
        self,
        claimed: ClaimedFile,
        file_id: int,
        sha256: str,
        received_at: dt.datetime,
        error: Exception,
        run_id: str | None,
    ) -> ProcessedFile:
        """An unexpected error out of the file's flow: counted in the ledger; below
        the limit the file goes back to the inbox for the next run, at the limit it
        fails. Either way the run goes on with the other files."""
        partner, name = claimed.inbound.partner, claimed.inbound.name
        log.error("%s/%s: internal error in file %d", partner, name, file_id, exc_info=error)
        limit = self._max_failed_attempts(partner)
        failures = self.ledger.record_failure(
            file_id, f"{type(error).__name__}: {error}"[:2000], run_id=run_id, task=self.task
        )
        why = f"internal error (failed attempt {failures} of {limit}): {type(error).__name__}: {error}"[:2000]
        if failures >= limit:
            return self._fail(claimed, file_id, sha256, received_at, why, run_id)
        self._give_back(claimed, file_id, error, run_id, why=f"{why}; the next run tries again")
        report = FileReport(file=name, format="")
        report.errors.append(Finding("INTERNAL", why, Location()))
        return ProcessedFile(partner, name, FileState.RELEASED, report, file_id=file_id)

    def _fail(
        self,
        claimed: ClaimedFile,
        file_id: int,
        sha256: str,
        received_at: dt.datetime,
        why: str,
        run_id: str | None,
    ) -> ProcessedFile:
        """Failed: internal error. The partner is answered as for a file refused
        unread (a rejecting acknowledgement in its format, the JSON report) saying the gateway could not
        process it, without the error's details (those are the ledger's and the
        log's); the file is quarantined and never retried unless an operator asks.
        What earlier attempts posted stays recorded."""
        partner, name = claimed.inbound.partner, claimed.inbound.name
        finding = Finding(
            INTERNAL,
            f"the gateway could not process this file (an internal error, {self._max_failed_attempts(partner)} "
            f"attempts); it is quarantined and the operator alerted: ledger file {file_id}",
            Location(),
        )
        channel = ChannelWatch()
        try:
            report, _ = self._run(claimed, file_id, sha256, finding, channel, received_at, run_id)
        except Exception as error:
            if channel.error is not None:  # the channel dropped: the next run fails the file again and answers it
                self._give_back(claimed, file_id, error, run_id, why=f"{why}; answering it failed: {error}"[:2000])
                raise
            # The refusal itself could not be made: the ledger and the quarantine still say why.
            log.exception("%s/%s: cannot answer failed file %d", partner, name, file_id)
            report = FileReport(file=name, format="")
            report.errors.append(finding)
        self.ledger.move_file(
            file_id, FileState.ACKNOWLEDGED, run_id=run_id, task=self.task, outcome="failed", note=why,
            format=report.format, accepted=False, summary=stored_summary(report),
        )  # fmt: skip
        self._checkpoint("acknowledged")
        return self._file_away(claimed, file_id, report, run_id, "failed", why)

    def _still_written(self, claimed: ClaimedFile, file_id: int, size: int, run_id: str | None) -> ProcessedFile:
        """The claimed file is not the size it was listed at: its writer still had it
        open and wrote on after the claim moved it. It is not answered (half a file
        would be rejected, and its rest quarantined after it); it goes back to the
        inbox (``released``) for a later run to claim once it held still."""
        inbound = claimed.inbound
        why = (
            f"still being written: listed at {inbound.size} bytes, {size} bytes when read after the claim; "
            "back in the inbox unanswered, a later run takes it once it is complete"
        )
        log.warning("%s/%s: %s", inbound.partner, inbound.name, why)
        self._give_back(claimed, file_id, ValueError(why), run_id, why=why)
        report = FileReport(file=inbound.name, format="")
        report.errors.append(Finding("PARTIAL", why, Location()))
        return ProcessedFile(inbound.partner, inbound.name, FileState.RELEASED, report, file_id=file_id)

    def _park(self, claimed: ClaimedFile, file_id: int, error: PortalUnavailable, run_id: str | None) -> ProcessedFile:
        until = utcnow() + dt.timedelta(seconds=self.settings.park_seconds)
        why = f"portal unavailable, parked until {until:%Y-%m-%d %H:%M:%S} UTC: {error}"[:2000]
        log.warning("%s/%s: %s", claimed.inbound.partner, claimed.inbound.name, why)
        self.ledger.move_file(file_id, FileState.PARKED, run_id=run_id, task=self.task, note=why, lease_until=until)
        report = FileReport(file=claimed.inbound.name, format="")
        report.errors.append(Finding("PARKED", why, Location()))
        return ProcessedFile(claimed.inbound.partner, claimed.inbound.name, FileState.PARKED, report, file_id=file_id)

    def _duplicate(self, claimed: ClaimedFile, file_id: int, original: int, run_id: str | None) -> ProcessedFile:
        """The same content again (a partner's resend, an event fired twice): the
        first delivery answers it; this copy is quarantined, nothing is posted or written."""
        why = f"duplicate delivery: the same content (SHA-256) is file {original} in the ledger, which answers it"
        location = self.transport.quarantine(claimed, why)
        self.ledger.move_file(
            file_id,
            FileState.QUARANTINED,
            run_id=run_id,
            task=self.task,
            note=why,
            location=location,
            lease_until=None,
            accepted=False,
        )
        report = FileReport(file=claimed.inbound.name, format="")
        report.errors.append(Finding("DUP", why, Location()))
        return ProcessedFile(
            claimed.inbound.partner, claimed.inbound.name, FileState.QUARANTINED, report, file_id=file_id
        )

    def _partner(self, partner_id: str) -> Partner | None:
        """The registry's entry for a partner (None: no registry, or not in it)."""
        if self.registry is None:
            return None
        try:
            return self.registry.get(partner_id)
        except KeyError:
            return None

    def _max_file_bytes(self, partner_id: str) -> int:
        partner = self._partner(partner_id)
        limit = partner.max_file_bytes if partner is not None else None
        return limit if limit is not None else self.settings.max_file_bytes

    def _max_failed_attempts(self, partner_id: str) -> int:
        partner = self._partner(partner_id)
        limit = partner.max_failed_attempts if partner is not None else None
        return limit if limit is not None else self.settings.max_failed_attempts

    def _refusal(self, inbound: InboundFile) -> Finding | None:
        """Why a file is refused without being read, if it is (its size is the listing's: nothing is opened)."""
        limit = self._max_file_bytes(inbound.partner)
        if inbound.size > limit:
            return Finding(
                "SIZE",
                f"file of {inbound.size} bytes exceeds the limit of {limit} bytes; it was not read",
                Location(),
            )
        if not is_plain_name(inbound.name):
            return Finding(
                "NAME",
                f"file name {inbound.name!r} is not a plain file name (path separators, '..' or a leading dot); it was not read",
                Location(),
            )
        return None

    def _run(
        self,
        claimed: ClaimedFile,
        file_id: int,
        sha256: str,
        refusal: Finding | None,
        channel: ChannelWatch,
        received_at: dt.datetime | None = None,
        run_id: str | None = None,
        stream: BinaryIO | None = None,
        first_attempt: bool = False,
    ) -> tuple[FileReport, Iterable[dict[str, Any]] | None]:
        """The file's flow (or its refusal) and its report: the report and the rows
        of its documents for the ledger (None for a refusal: no documents of its
        own), recorded by the caller with the file's ``acknowledged`` move.
        ``first_attempt``: the record is this claim's own, new: no earlier attempt
        posted anything and no operator reprocessed it, so neither is read back."""
        partner_id = claimed.inbound.partner
        name = claimed.inbound.name
        sink = OutboxSink(self.transport, partner_id, self.ledger, file_id, channel)
        hidden: set[tuple[str, int]] = set()  # what an interrupted attempt of this file posted
        reprocessed = 0
        if not first_attempt:
            hidden = {(txn, v) for txn, versions in self.ledger.posted_versions(file_id).items() for v in versions}
            reprocessed = self.ledger.file(file_id).reprocessed or 0
        poster = (
            _LedgerPoster(self, self.poster, file_id, run_id, hidden, reprocessed) if self.poster is not None else None
        )
        rules = self.rules_context
        if rules is not None and rules.history is not None and hidden:
            rules = dataclasses.replace(rules, history=_history_before_own_posts(rules.history, hidden))
        prepared = received_at or utcnow()
        options = FlowOptions(
            our_id=(self.settings.gateway_id, self.settings.gateway_id_qualifier),
            poster=poster,
            posts_in_flight=self.settings.portal_concurrency,
            sink=sink,
            registry=_LedgerRegistry(self.ledger, file_id),
            acknowledgements=LedgerAcknowledgements(self.ledger, partner_id, file_id),
            partner_id=partner_id,
            outbox_stem=outbox_stem(name, file_id),
            seed=sha256 or f"{partner_id}:{name}:{file_id}",
            rules_context=rules,
            partner=self.registry.get(partner_id) if self.registry else None,
            payment_poster=self.payment_poster,
            pending=LedgerPending(self.ledger, self.settings, file_id, partner_id, utcnow()),
            now=lambda: prepared,  # when the file was first received: a rerun writes the same bytes
        )
        if refusal is not None:
            report = refuse(name, options, [refusal], self._sniff_refused(claimed, refusal))
        else:
            if stream is None:
                with channel.watch():
                    stream = self.transport.open(claimed)
            with stream:
                report = check_stream(_WatchedStream(stream, channel), name, options)  # type: ignore[arg-type]  # a BinaryIO whose calls are watched
        self._write_report(sink, report, options)
        if refusal is not None:  # no documents of its own; what an earlier attempt posted stays recorded
            return report, None
        keys = poster.keys if poster is not None else {}
        return (
            report,
            (  # read from the report's log as they are inserted
                {
                    "message_reference": document.message_ref,
                    "transaction_number": document.reference[:14] if document.reference else None,
                    "version": int(document.reference[14:]) if document.reference else None,
                    "idempotency_key": keys.get(document.reference) if document.reference else None,
                    "status": document.carm_status or document.status,
                    "response": document.to_dict(),
                }
                for document in report.documents
            ),
        )

    def _sniff_refused(self, claimed: ClaimedFile, refusal: Finding) -> Sniffed | None:
        """The format of a refused or failed file from its first bytes, so it is
        answered in it; None (the partner's registered formats decide) for a
        file whose name is unsafe, which is never opened, or whose head cannot
        be read."""
        if refusal.code == "NAME":
            return None
        try:
            with self.transport.open(claimed) as stream:
                return sniff(stream)
        except Exception as error:
            log.warning(
                "%s: cannot look at %s to tell its format (%s)", claimed.inbound.partner, claimed.location, error
            )
            return None

    def _write_report(self, sink: OutboxSink, report: FileReport, options: FlowOptions) -> None:
        """A JSON report beside the EDI acknowledgements, for machines and people."""
        name = acknowledgement_name(options, report.file, "report.json")
        report.acknowledgements.append(name)
        with sink.open(name) as out:
            report.write_json(lambda text: out.write(text.encode()))  # never the whole report in memory

    def _file_away(
        self,
        claimed: ClaimedFile,
        file_id: int,
        report: FileReport | StoredReport,
        run_id: str | None = None,
        outcome: str | None = None,
        reason: str | None = None,
    ) -> ProcessedFile:
        if outcome is None:
            outcome = "archive" if any(i.accepted for i in report.interchanges) else "quarantine"
        state = {"archive": FileState.ARCHIVED, "failed": FileState.FAILED}.get(outcome, FileState.QUARANTINED)
        try:
            if state == FileState.ARCHIVED:
                location = self.transport.archive(claimed)
            else:
                location = self.transport.quarantine(claimed, reason or "nothing in the file could be accepted")
        except FileNotFoundError:
            # Resumed after a kill between the move and the ledger update: already filed away.
            location = claimed.location
            log.warning("%s: %s was already filed away", claimed.inbound.partner, claimed.location)
        self._checkpoint("archived")
        self.ledger.move_file(file_id, state, run_id=run_id, task=self.task, location=location, lease_until=None)
        return ProcessedFile(claimed.inbound.partner, claimed.inbound.name, state, report, file_id=file_id)
