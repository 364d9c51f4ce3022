"""With posts in flight, a transaction's versions still reach the portal in the partner's
order: a correction waits for its original, whether the original is earlier in the same
file or in a file before it in the batch (the portal refuses a version whose previous one
it does not have)."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from decimal import Decimal
from pathlib import Path

from domain import Declaration, DeclarationOutcome, OutcomeStatus
from gateway.flows.contract import FlowOptions
from gateway.flows.dispatch import check_stream
from gateway.pipeline import Pipeline
from gateway.settings import Settings
from ledger import Ledger
from tests.builders import declaration
from tests.test_posts_in_flight import interchange, transaction
from tests.xml_helpers import MemorySink
from transports.local import LocalFolderTransport

PARTNER = "broker01"
RECEIVED = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
REASON = {"reason_code": "R2-74-1-E.TC", "explanation": "treatment corrected", "kind": "adjustment"}
CHANGED = transaction(99)


class TimedPortal:
    """A poster that accepts everything after ``delay`` seconds and notes when each post of
    a (transaction, version) started and ended."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.started: dict[tuple[str, int], float] = {}
        self.ended: dict[tuple[str, int], float] = {}
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, item: Declaration, key: str) -> DeclarationOutcome:
        with self._lock:
            self.started[(item.transaction_number, item.version)] = time.monotonic()
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
            self.ended[(item.transaction_number, item.version)] = time.monotonic()
        return DeclarationOutcome(
            transaction_number=item.transaction_number,
            version=item.version,
            status=OutcomeStatus.ACCEPTED,
            received_at=RECEIVED,
            total_duty=Decimal("1.00"),
        )

    def waited(self, later: tuple[str, int], earlier: tuple[str, int]) -> bool:
        """Whether the post of ``later`` started only after ``earlier``'s was answered."""
        return self.started[later] >= self.ended[earlier]


def original(number: int) -> Declaration:
    return declaration(transaction_number=transaction(number))


def correction() -> Declaration:
    return declaration(transaction_number=CHANGED, version=2, function="4", amendment=REASON)


def test_a_correction_after_its_original_in_one_file_waits_for_its_answer() -> None:
    items = [declaration(transaction_number=CHANGED), original(1), original(2), correction(), original(3)]
    portal = TimedPortal(0.2)
    options = FlowOptions(poster=portal, sink=MemorySink(), seed="order", now=lambda: RECEIVED, posts_in_flight=4)
    check_stream(io.BytesIO(interchange(items)), "order.edi", options)
    assert len(portal.started) == 5  # every declaration was posted
    assert portal.most_in_flight >= 3  # the window was used around them
    assert portal.waited((CHANGED, 2), (CHANGED, 1))


def test_a_correction_in_a_later_file_of_the_batch_waits_for_the_files_before_it(tmp_path: Path) -> None:
    """The original is the 12th declaration of a.edi (with 4 in flight, posted after two rounds
    of answers); b.edi's correction would otherwise be posted at once, before it."""
    local = LocalFolderTransport(tmp_path / "partners")
    local.ensure_partner(PARTNER)
    inbox = local.area(PARTNER, "inbox")
    first = [original(n) for n in range(1, 12)] + [declaration(transaction_number=CHANGED)]
    (inbox / "a.edi").write_bytes(interchange(first))
    (inbox / "b.edi").write_bytes(interchange([correction()], "IF2"))
    portal = TimedPortal(0.1)
    ledger = RenewalsNoted(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        # A lease shorter than a.edi's posts: b.edi's claim is renewed while its correction waits.
        settings = Settings(data_dir=tmp_path, portal_concurrency=4, claim_lease_seconds=0.15)
        results = Pipeline(settings, local, ledger, portal).process_inbox(PARTNER)
        [waiting_file] = [f.id for f in ledger.files(PARTNER) if f.name == "b.edi"]
    finally:
        ledger.dispose()
    assert [r.state for r in results] == ["archived", "archived"]
    assert len(portal.started) == 13
    assert portal.waited((CHANGED, 2), (CHANGED, 1))
    assert waiting_file in ledger.renewed


class RenewalsNoted(Ledger):
    """The ledger, noting which files' leases were renewed."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.renewed: set[int] = set()

    def renew_lease(self, file_id: int, seconds: float) -> None:
        self.renewed.add(file_id)
        super().renew_lease(file_id, seconds)
