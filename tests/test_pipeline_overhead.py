"""What one file costs the channel and the ledger (docs/performance.md, "Per-file
overhead"): the claimed file is opened once (hashed, rewound, read by the flow), each
acknowledgement reaches the channel in one write, and the SQLite ledger commits in WAL mode."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from gateway.pipeline import Pipeline
from gateway.settings import Settings
from ledger import Ledger
from portal.client import PortalClient
from portal.server import PortalServer
from tests.edifact_helpers import CUSDEC, FIXTURES
from transports.base import ClaimedFile
from transports.local import LocalFolderTransport

PARTNER = "broker01"


class _CountedWrites:
    def __init__(self, inner: BinaryIO, counts: Counter[str], name: str) -> None:
        self._inner = inner
        self._counts = counts
        self._name = name

    def write(self, data: bytes) -> int:
        self._counts[self._name] += 1
        return self._inner.write(data)


class CountingTransport:
    """A local folder transport that counts the opens of claimed files and the writes
    to each outbox file."""

    def __init__(self, inner: LocalFolderTransport) -> None:
        self.inner = inner
        self.opens = 0
        self.writes: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def open(self, claimed: ClaimedFile) -> BinaryIO:
        self.opens += 1
        return self.inner.open(claimed)

    @contextmanager
    def write_outbox(self, partner: str, name: str) -> Iterator[BinaryIO]:
        with self.inner.write_outbox(partner, name) as stream:
            yield _CountedWrites(stream, self.writes, name)  # type: ignore[misc]  # the write the sink uses


def test_a_file_is_opened_once_and_each_acknowledgement_written_in_one_piece(tmp_path: Path) -> None:
    local = LocalFolderTransport(tmp_path / "partners")
    local.ensure_partner(PARTNER)
    shutil.copy(CUSDEC / "valid" / "v02_multi_message.edi", local.area(PARTNER, "inbox") / "v02.edi")
    transport = CountingTransport(local)
    settings = Settings(data_dir=tmp_path)  # the default: posts and files in flight
    assert settings.portal_concurrency > 1
    with PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", FIXTURES / "reference" / "tariff.csv") as server:
        client = PortalClient(server.url)
        ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
        try:
            [result] = Pipeline(settings, transport, ledger, client.submit_declaration).process_inbox(PARTNER)  # type: ignore[arg-type]  # a Transport by its methods
            documents = ledger.documents(ledger.files()[0].id)
        finally:
            client.close()
            ledger.dispose()
    assert result.state == "archived"
    assert [d.status for d in documents] == ["40", "40", "40"]
    assert transport.opens == 1  # hashed and read by the flow from the same handle
    kinds = sorted(name.rsplit(".", 2)[-2] for name in transport.writes)
    assert kinds == ["contrl", "cusres", "report"]
    assert set(transport.writes.values()) == {1}, transport.writes  # buffered: one write per acknowledgement


def test_the_sqlite_ledger_commits_in_wal_mode(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        with ledger.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        file_id = ledger.record_claim(PARTNER, "a.edi", "", 10, "run-1")
        assert ledger.file(file_id).state == "claimed"
        assert (tmp_path / "ledger.sqlite-wal").exists()  # the commit went to the write-ahead log
    finally:
        ledger.dispose()


class ReadsNoted(Ledger):
    """The ledger, noting which files' earlier attempts were read back (posts, reprocess count)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.read_back: list[int] = []

    def posted_versions(self, file_id: int) -> dict[str, set[int]]:
        self.read_back.append(file_id)
        return super().posted_versions(file_id)


def test_a_new_claim_reads_no_earlier_attempt_and_a_resumed_one_does(tmp_path: Path) -> None:
    local = LocalFolderTransport(tmp_path / "partners")
    local.ensure_partner(PARTNER)
    shutil.copy(CUSDEC / "valid" / "v02_multi_message.edi", local.area(PARTNER, "inbox") / "v02.edi")
    settings = Settings(data_dir=tmp_path, claim_lease_seconds=0.01)
    with PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", FIXTURES / "reference" / "tariff.csv") as server:
        client = PortalClient(server.url)
        ledger = ReadsNoted(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
        try:
            pipeline = Pipeline(settings, local, ledger, client.submit_declaration)
            [first] = pipeline.process_inbox(PARTNER)
            assert first.state == "archived"
            assert ledger.read_back == []  # this claim's own record: nothing posted before it
            ledger.move_file(first.file_id or 0, "posted")  # as if killed after its posts: resumed by a later run
            [again] = pipeline.resume_stale(PARTNER)
        finally:
            client.close()
            ledger.dispose()
    assert again.file_id == first.file_id
    assert ledger.read_back == [first.file_id]  # the resumed attempt reads what was posted before it
