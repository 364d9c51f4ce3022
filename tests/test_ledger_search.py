"""The operators' file queries (``ledger.search``) on SQLite and PostgreSQL: each outcome,
the received-day bounds, text, paging and the partners' activity, on records written
through the ledger's own API with known states and times."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ledger import Ledger
from ledger.search import FileQuery, partner_activity, search_files
from ledger.store import FileState
from ledger.tables import FileRecord
from tests.databases import BACKENDS, database

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def add(
    ledger: Ledger, partner: str, name: str, state: str, accepted: bool | None, received: dt.datetime, **fields: object
) -> int:
    claim = ledger.claim_file(partner, name, name.ljust(64, "0")[:64], 10, claim_id=name, location=f"processing/{name}")
    ledger.move_file(claim.file_id, state, accepted=accepted, **fields)
    with ledger.session() as s:
        s.get_one(FileRecord, claim.file_id).received_at = received
    return claim.file_id


@pytest.mark.parametrize("backend", BACKENDS)
def test_outcomes_days_text_paging_and_activity(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path, "search") as url:
        ledger = Ledger(url)
        try:
            yesterday = NOW - dt.timedelta(days=1)
            ids = {
                "ok.edi": add(ledger, "b1", "ok.edi", FileState.ARCHIVED, True, NOW),
                "refused.edi": add(ledger, "b1", "refused.edi", FileState.ARCHIVED, False, NOW),
                "bad_date.edi": add(ledger, "b1", "bad_date.edi", FileState.QUARANTINED, False, yesterday, note="month 13"),
                "failed.edi": add(ledger, "b2", "failed.edi", FileState.FAILED, False, yesterday),
                "parked.edi": add(ledger, "b2", "parked.edi", FileState.PARKED, None, NOW),
                "held.edi": add(ledger, "b2", "held.edi", FileState.POSTED, None, NOW, lease_until=NOW - dt.timedelta(minutes=1)),
            }  # fmt: skip
            ledger.record_documents(
                ids["ok.edi"], [{"message_reference": "1", "transaction_number": "10207000300014", "status": "40"}]
            )

            def names(**filters: object) -> list[str]:
                return sorted(row.record.name for row in search_files(ledger, FileQuery(**filters)).rows)

            assert names(outcome="accepted") == ["ok.edi"]
            assert names(outcome="rejected") == ["bad_date.edi", "refused.edi"]
            assert names(outcome="failed") == ["failed.edi"]
            assert names(outcome="parked") == ["parked.edi"]
            assert names(outcome="in progress") == ["held.edi"]
            assert names(partner="b2", received_from=NOW.date()) == ["held.edi", "parked.edi"]
            assert names(received_to=yesterday.date()) == ["bad_date.edi", "failed.edi"]
            assert names(text="MONTH") == ["bad_date.edi"]  # the note, any case
            assert names(text="_date") == ["bad_date.edi"]  # "_" is a plain character, not a LIKE wildcard
            assert names(text="10207000300014") == ["ok.edi"]
            page = search_files(ledger, FileQuery(per_page=4, page=2))
            assert (page.total, page.pages, len(page.rows)) == (6, 2, 2)
            assert [r.record.received_at.date() for r in page.rows] == [yesterday.date()] * 2  # newest first

            activity = partner_activity(ledger, NOW)
            assert (activity["b1"].received_today, activity["b1"].quarantined, activity["b1"].parked) == (2, 1, 0)
            assert (activity["b2"].received_today, activity["b2"].parked, activity["b2"].overdue) == (2, 1, 1)
            assert activity["b1"].last_seen == NOW
        finally:
            ledger.dispose()
