"""Posts in flight (docs/reliability.md, "Posts in flight"): the portal's latency knob
overlaps requests, the client bounds the posts in flight and paces them, the
post-and-answer loop answers in message order whatever order the portal answers
in, and stops cleanly at a failed post. Exactly-once under the fault matrix with
posts in flight: tests/test_fault_matrix.py (every fault at concurrency 1 and 4)."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from domain import Declaration, DeclarationOutcome, OutcomeStatus
from domain.identifiers import transaction_check_digit
from domain.outcome import PortalError
from gateway.flows.answering import post_and_answer
from gateway.flows.contract import FlowOptions
from gateway.flows.dispatch import check_stream
from gateway.flows.spool import SpooledDeclaration
from gateway.pipeline import Pipeline
from gateway.report import DocumentReport
from gateway.settings import Settings
from ledger import Ledger
from mappings.cusdec_declaration import source_location
from mappings.declaration_cusdec import IDENTIFIER, cusdec_segments
from mappings.edifact_writer import InterchangeWriter
from portal.client import PortalClient, RateLimit
from portal.server import PortalServer
from tests.ack_reader import read_cusres
from tests.builders import declaration
from tests.conftest import FIXTURES
from tests.xml_helpers import MemorySink
from transports.base import ClaimedFile, InboundFile
from transports.local import LocalFolderTransport
from transports.serialized import SerializedTransport

TARIFF = FIXTURES / "reference" / "tariff.csv"
RECEIVED = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)


def transaction(number: int) -> str:
    body = f"30{number:011d}"
    return body + str(transaction_check_digit(body))


def declarations(count: int) -> list[Declaration]:
    return [declaration(transaction_number=transaction(n)) for n in range(1, count + 1)]


def interchange(items: list[Declaration], control_reference: str = "IF1") -> bytes:
    out = io.BytesIO()
    writer = InterchangeWriter(
        out, sender=("BROKER01", "ZZZ"), recipient=("CARMGW", "ZZZ"), control_reference=control_reference
    )
    for number, item in enumerate(items, start=1):
        writer.write_message(str(number), IDENTIFIER, cusdec_segments(item))
    writer.close()
    return out.getvalue()


class SlowPortal:
    """A poster whose answers come back in reverse order: the first post waits longest.
    Declaration ``reject`` is rejected with a pointer; every outcome carries its own
    total, so an answer placed under the wrong declaration shows."""

    def __init__(self, count: int, reject: str | None = None, fail: str | None = None) -> None:
        self.count = count
        self.reject = reject
        self.fail = fail
        self.posted: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, item: Declaration, key: str) -> DeclarationOutcome:
        with self._lock:
            self.posted.append(item.transaction_number)
            position = len(self.posted)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.02 * (self.count - position + 1))
            if item.transaction_number == self.fail:
                raise RuntimeError(f"injected failure posting {item.transaction_number}")
            number = int(item.transaction_number[2:13])
            rejected = item.transaction_number == self.reject
            return DeclarationOutcome(
                transaction_number=item.transaction_number,
                version=item.version,
                status=OutcomeStatus.REJECTED if rejected else OutcomeStatus.ACCEPTED,
                received_at=RECEIVED,
                total_duty=Decimal(number),
                errors=[PortalError(code="E52", message="injected rejection", pointer="lines[0].hs_code")]
                if rejected
                else [],
            )
        finally:
            with self._lock:
                self.in_flight -= 1


def answered(window: int, portal: SlowPortal, data: bytes) -> dict[str, bytes]:
    sink = MemorySink()
    options = FlowOptions(poster=portal, sink=sink, seed="posts", now=lambda: RECEIVED, posts_in_flight=window)
    check_stream(io.BytesIO(data), "many.edi", options)
    return sink.files


def test_answers_are_in_message_order_and_the_same_bytes_as_one_post_at_a_time() -> None:
    items = declarations(7)
    data = interchange(items)
    rejected = items[2].transaction_number
    serial = SlowPortal(7, reject=rejected)
    one_at_a_time = answered(1, serial, data)
    overlapped = SlowPortal(7, reject=rejected)
    in_flight = answered(4, overlapped, data)
    assert serial.most_in_flight == 1
    assert overlapped.most_in_flight == 4  # the window was used: answers came back out of order
    assert in_flight == one_at_a_time  # CONTRL, CUSRES and report: byte for byte
    [messages] = read_cusres(next(v for k, v in in_flight.items() if k.endswith(".cusres.edi")))
    assert [m["ref"] for m in messages] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [m["reference"] for m in messages] == [f"{i.transaction_number}00001" for i in items]
    assert [m["status"] for m in messages] == ["40", "40", "41", "40", "40", "40", "40"]
    assert [e["code"] for e in messages[2]["errors"]] == ["E52"]


def test_a_window_holds_at_most_its_size_and_a_failed_post_stops_the_posting() -> None:
    """Window 3, the 4th of 9 posts fails: posts 5 and 6 may be in flight by then and are
    waited for; nothing after them starts, nothing after post 3 is answered, and the
    spool is never read more than the window ahead of the answers."""
    items = declarations(9)
    portal = SlowPortal(9, fail=items[3].transaction_number)
    read: list[int] = []
    answers: list[str] = []

    def spooled() -> object:
        for number, item in enumerate(items, start=1):
            read.append(number)
            assert len(read) - len(answers) <= 3, "read further ahead than the window"
            yield SpooledDeclaration(str(number), "CUSDEC", item), DocumentReport(str(number), "CUSDEC", "accepted")

    def answer(item: SpooledDeclaration, outcome: DeclarationOutcome | None, _: object) -> None:
        assert outcome is not None and outcome.transaction_number == item.declaration.transaction_number  # type: ignore[union-attr]
        answers.append(item.ref)

    with pytest.raises(RuntimeError, match="injected failure"):
        post_and_answer(spooled(), portal, lambda item, _p: source_location(item.ref, None), answer, window=3)  # type: ignore[arg-type]
    assert answers == ["1", "2", "3"]
    assert portal.posted[:4] == [i.transaction_number for i in items[:4]]
    assert set(portal.posted) <= {i.transaction_number for i in items[:6]}
    assert portal.in_flight == 0  # every post that started was waited for
    assert portal.most_in_flight <= 3


def test_the_latency_knob_overlaps_posts_in_flight(tmp_path: Path) -> None:
    """8 posts to a portal answering after 500 ms: one at a time they take at least 8 × 500 ms;
    8 in flight take about 500 ms, under half of that (a ratio, not a deadline: on a loaded
    machine both runs pay the same per-request overhead)."""
    items = declarations(16)
    with PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", TARIFF, latency_ms=500) as portal:
        with PortalClient(portal.url, concurrency=8) as client:
            started = time.perf_counter()
            threads = [
                threading.Thread(target=client.submit_declaration, args=(item, f"key-{item.transaction_number}"))
                for item in items[:8]
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            overlapped = time.perf_counter() - started
        with PortalClient(portal.url, concurrency=1) as client:
            started = time.perf_counter()
            threads = [
                threading.Thread(target=client.submit_declaration, args=(item, f"key-{item.transaction_number}"))
                for item in items[8:]
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            one_at_a_time = time.perf_counter() - started
        with PortalClient(portal.url) as client:
            stored = [len(client.get_declaration(i.transaction_number)["versions"]) for i in items]
    assert stored == [1] * 16  # every post reached the portal once
    assert one_at_a_time >= 8 * 0.5  # concurrency 1: the client lets one request through at a time
    assert 0.5 <= overlapped < one_at_a_time / 2  # the latency applies, and the 8 posts overlap


def test_the_rate_limit_spaces_requests() -> None:
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))

    limit = RateLimit(4, clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        limit.wait()  # three callers at the same instant: the next three slots, 0.25 s apart
    assert slept == [0.25, 0.5]
    clock[0] = 110.0  # long after: no wait
    limit.wait()
    assert slept == [0.25, 0.5]
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit(-1)


def test_the_client_keeps_to_its_rate_limit(tmp_path: Path) -> None:
    """10 requests from 10 threads at 20 per second: 9 gaps of 50 ms at least."""
    with (
        PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", TARIFF) as portal,
        PortalClient(portal.url, concurrency=10, rate_limit=20) as client,
    ):
        started = time.perf_counter()
        threads = [threading.Thread(target=client.delegations) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    assert elapsed >= 9 / 20


def test_a_negative_latency_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="latency_ms must be 0 or more"):
        PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", TARIFF, latency_ms=-1)


class ProbeChannel:
    """A transport that notes how many of its calls (and its streams' calls) overlap."""

    def __init__(self) -> None:
        self.in_call = 0
        self.most = 0
        self.calls = 0
        self._count = threading.Lock()

    @contextmanager
    def call(self) -> Iterator[None]:
        with self._count:
            self.in_call += 1
            self.calls += 1
            self.most = max(self.most, self.in_call)
        time.sleep(0.005)
        with self._count:
            self.in_call -= 1
        yield

    def list_inbox(self, partner: str) -> list[InboundFile]:
        with self.call():
            return [InboundFile(partner, "a.edi", 3)]

    def open(self, claimed: ClaimedFile) -> BinaryIO:
        with self.call():
            return ProbeStream(self)  # type: ignore[return-value]  # the reading part of BinaryIO

    @contextmanager
    def write_outbox(self, partner: str, name: str) -> Iterator[BinaryIO]:
        with self.call():
            pass
        yield ProbeStream(self)  # type: ignore[misc]  # the writing part of BinaryIO
        with self.call():  # the commit
            pass


class ProbeStream:
    def __init__(self, channel: ProbeChannel) -> None:
        self.channel = channel

    def read(self, size: int = -1) -> bytes:
        with self.channel.call():
            return b"abc"

    def write(self, data: bytes) -> int:
        with self.channel.call():
            return len(data)

    def __enter__(self) -> ProbeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        with self.channel.call():
            pass


def test_the_serialized_transport_lets_one_call_through_at_a_time() -> None:
    probe = ProbeChannel()
    transport = SerializedTransport(probe)  # type: ignore[arg-type]  # the protocol's calls the threads make
    claimed = ClaimedFile(InboundFile("p", "a.edi", 3), "c", "processing/a.edi")

    def work() -> None:
        for _ in range(5):
            assert transport.list_inbox("p")[0].name == "a.edi"
            with transport.open(claimed) as stream:
                assert stream.read() == b"abc"
            with transport.write_outbox("p", "a.edi.1.contrl.edi") as out:
                out.write(b"UNB")

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert probe.calls == 6 * 5 * 7  # list, open, read, close, upload open, write, commit
    assert probe.most == 1


class DelayedPortal:
    """Accepts every post after its transaction's delay (``slow``; else ``fast``), noting
    when each post started and ended."""

    def __init__(self, slow: dict[str, float], fast: float) -> None:
        self.slow, self.fast = slow, fast
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}

    def __call__(self, item: Declaration, key: str) -> DeclarationOutcome:
        self.started[item.transaction_number] = time.monotonic()
        time.sleep(self.slow.get(item.transaction_number, self.fast))
        self.ended[item.transaction_number] = time.monotonic()
        return DeclarationOutcome(
            transaction_number=item.transaction_number,
            version=item.version,
            status=OutcomeStatus.ACCEPTED,
            received_at=RECEIVED,
            total_duty=Decimal("1.00"),
        )


def test_a_file_starts_as_soon_as_any_file_in_flight_is_done(tmp_path: Path) -> None:
    """Two files in flight: a.edi's post is slow; b.edi is done long before it, so c.edi starts
    then, not once a.edi is done. The results still come in the files' order."""
    local = LocalFolderTransport(tmp_path / "partners")
    local.ensure_partner("broker01")
    inbox = local.area("broker01", "inbox")
    for number, name in enumerate(("a.edi", "b.edi", "c.edi"), start=1):
        (inbox / name).write_bytes(interchange([declaration(transaction_number=transaction(number))], f"IF{number}"))
    portal = DelayedPortal({transaction(1): 1.5}, fast=0.01)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        settings = Settings(data_dir=tmp_path, portal_concurrency=8, files_in_flight=2)
        results = Pipeline(settings, local, ledger, portal).process_inbox("broker01")
    finally:
        ledger.dispose()
    assert [(r.name, r.state) for r in results] == [("a.edi", "archived"), ("b.edi", "archived"), ("c.edi", "archived")]
    assert portal.started[transaction(3)] < portal.ended[transaction(1)]


def test_files_in_flight_never_exceed_the_posts_in_flight() -> None:
    assert Settings(portal_concurrency=32, files_in_flight=8).files_at_once == 8
    assert Settings(portal_concurrency=1, files_in_flight=8).files_at_once == 1  # one post, one file, in order


def test_files_in_flight_are_recorded_in_the_order_they_were_listed(tmp_path: Path) -> None:
    """The first file's claim is slow to record: with files in flight, the ledger ids (and the
    answers named after them) still follow the batch's order, as one file at a time."""
    local = LocalFolderTransport(tmp_path / "partners")
    local.ensure_partner("broker01")
    inbox = local.area("broker01", "inbox")
    for number, name in enumerate(("a.edi", "b.edi", "c.edi"), start=1):
        (inbox / name).write_bytes(interchange([declaration(transaction_number=transaction(number))], f"IF{number}"))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    record_claim = ledger.record_claim

    def slow_for_a(partner: str, name: str, *args: Any, **kwargs: Any) -> int:
        if name == "a.edi":
            time.sleep(0.5)
        return record_claim(partner, name, *args, **kwargs)

    ledger.record_claim = slow_for_a  # type: ignore[method-assign]
    try:
        settings = Settings(data_dir=tmp_path, portal_concurrency=8, files_in_flight=3)
        results = Pipeline(settings, local, ledger, DelayedPortal({}, fast=0.01)).process_inbox("broker01")
    finally:
        ledger.dispose()
    assert [(r.name, r.file_id) for r in results] == [("a.edi", 1), ("b.edi", 2), ("c.edi", 3)]
