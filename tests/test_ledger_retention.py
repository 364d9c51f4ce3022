"""The ledger's side of retention on SQLite and PostgreSQL (foreign keys enforced there):
which files are due under per-partner cutoffs, and ``Ledger.purge`` deleting every row of a
file (events, interchanges, documents, acknowledgements and resends, waiting versions, the
interchanges sent in answer, a partner's CONTRL verdict pointing at it) with its audit row,
leaving other files' rows alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger import Ledger
from ledger.retention import Cutoffs, cutoff, due_counts, due_files, kept_until, outbox_locations
from ledger.store import FileState
from ledger.tables import FileRecord
from tests.databases import BACKENDS, database

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def add(ledger: Ledger, partner: str, name: str, state: str, received: dt.datetime) -> int:
    claim = ledger.claim_file(partner, name, name.ljust(64, "0")[:64], 10, claim_id=name, location=f"processing/{name}")
    ledger.move_file(claim.file_id, state, accepted=state == FileState.ARCHIVED, location=f"archive/{name}")
    with ledger.session() as s:
        s.get_one(FileRecord, claim.file_id).received_at = received
    return claim.file_id


def everything(ledger: Ledger, file_id: int) -> None:
    """Every kind of row the pipeline writes for a file."""
    ledger.register_interchange(file_id, "B1", "ZZZ", f"IC{file_id}")
    ledger.record_documents(file_id, [{"message_reference": "1", "transaction_number": "10207000300014",
                                       "version": 1, "status": "40"}])  # fmt: skip
    ledger.record_acknowledgement(file_id, "contrl", f"b1/outbox/f{file_id}.contrl.edi", "0" * 64)
    [ack] = ledger.acknowledgements(file_id)
    ledger.record_resend(ack.id, f"b1/outbox/f{file_id}.r1.contrl.edi", "0" * 64, "cli: alice")
    ledger.wait(file_id, "b1", f"1020700030{file_id:04d}", 1, status="42", answer={}, next_query_at=NOW, deadline=NOW)
    with ledger.session() as s:
        s.execute(text("UPDATE waiting SET location = :l WHERE file_id = :id"),
                  {"l": f"b1/outbox/f{file_id}.final.cusres.edi", "id": file_id})  # fmt: skip
    ledger.record_sent_interchange(partner="b1", control_reference=f"OUT{file_id}", kind="contrl", recipient="B1",
                                   message_references=["1"], file_id=file_id, answers_reference=f"IC{file_id}")  # fmt: skip


def counts(ledger: Ledger, file_id: int) -> dict[str, int]:
    with ledger.engine.connect() as connection:
        found = {
            "files": connection.execute(text("SELECT count(*) FROM files WHERE id = :i"), {"i": file_id}).scalar_one()
        }
        for table in ("file_events", "interchanges", "documents", "acknowledgements", "acknowledgement_resends",
                      "waiting", "sent_interchanges"):  # fmt: skip
            found[table] = connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE file_id = :i"), {"i": file_id}
            ).scalar_one()
        return found


def test_cutoff_and_kept_until_by_the_calendar_year() -> None:
    assert cutoff(NOW, 6) == dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    assert cutoff(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 6) == dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    assert cutoff(dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC), 6) == dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
    assert kept_until(dt.datetime(2019, 12, 31, 23, 59, tzinfo=dt.UTC), 6) == dt.date(2025, 12, 31)
    assert kept_until(dt.datetime(2019, 1, 1, tzinfo=dt.UTC), 0) == dt.date(2019, 12, 31)


@pytest.mark.parametrize("backend", BACKENDS)
def test_due_files_and_a_purge_of_every_row(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path, "retention") as url:
        ledger = Ledger(url)
        try:
            old, late_2019 = dt.datetime(2019, 6, 1, tzinfo=dt.UTC), dt.datetime(2019, 12, 31, 23, 0, tzinfo=dt.UTC)
            ids = {
                "old": add(ledger, "b1", "old.edi", FileState.ARCHIVED, old),
                "old_quarantined": add(ledger, "b1", "bad.edi", FileState.QUARANTINED, old),
                "old_parked": add(ledger, "b1", "parked.edi", FileState.PARKED, old),  # not final: never due
                "new": add(ledger, "b1", "new.edi", FileState.ARCHIVED, dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
                "short": add(ledger, "t1", "test.edi", FileState.FAILED, dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
                "gone_partner": add(ledger, "x9", "x.edi", FileState.ARCHIVED, late_2019),
            }
            # b1 and x9 (no longer configured) under the default 6 years; t1 keeps 1 year
            cutoffs = Cutoffs(default=cutoff(NOW, 6), partners={"b1": cutoff(NOW, 6), "t1": cutoff(NOW, 1)})
            due = [r.id for r in due_files(ledger, cutoffs)]
            assert sorted(due) == sorted([ids["old"], ids["old_quarantined"], ids["short"], ids["gone_partner"]])
            assert due_counts(ledger, cutoffs) == {"b1": 2, "t1": 1, "x9": 1}
            assert [r.id for r in due_files(ledger, cutoffs, "t1")] == [ids["short"]]

            everything(ledger, ids["old"])
            everything(ledger, ids["new"])
            # a partner's CONTRL, carried by the old file, on an interchange we sent for the new one
            ledger.record_contrl_verdict(partner="b1", control_reference=f"OUT{ids['new']}", action="7", code=None,
                                         rejections=[], file_id=ids["old"])  # fmt: skip
            assert outbox_locations(ledger, ids["old"]) == [
                f"b1/outbox/f{ids['old']}.contrl.edi", f"b1/outbox/f{ids['old']}.r1.contrl.edi",
                f"b1/outbox/f{ids['old']}.final.cusres.edi",
            ]  # fmt: skip
            kept = counts(ledger, ids["new"])
            assert all(kept.values())

            assert ledger.purge(ids["old"], who="alice", source="cli", detail="b1/old.edi: deleted archive/old.edi")
            assert counts(ledger, ids["old"]) == dict.fromkeys(kept, 0)
            assert counts(ledger, ids["new"]) == kept
            [sent] = ledger.sent_interchanges()
            assert (sent.file_id, sent.ack_action, sent.ack_file_id) == (ids["new"], "7", None)
            [action] = ledger.actions(target=f"file {ids['old']}")
            assert (action.who, action.action, action.source, action.detail) == (
                "alice", "purge", "cli", "b1/old.edi: deleted archive/old.edi",
            )  # fmt: skip
            assert not ledger.purge(ids["old"], who="alice", source="cli", detail="again")  # gone: nothing done
            assert not ledger.purge(ids["old_parked"], who="alice", source="cli", detail="not final")
            assert counts(ledger, ids["old_parked"])["files"] == 1
            assert len(ledger.actions()) == 1
        finally:
            ledger.dispose()
