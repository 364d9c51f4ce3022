"""The ledger's schema comes from Alembic migrations (ledger/migrations), on SQLite
and on PostgreSQL: a new ledger is upgraded to head on first use (once, even when
workers start together), a ledger created before migrations is stamped and
upgraded with its rows kept, the ORM matches the migrated schema, and a
downgrade/upgrade round trip works."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from ledger import Ledger
from ledger.store import alembic_config, head_revision, upgrade_schema
from ledger.tables import Base
from tests.databases import BACKENDS, database


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_new_ledger_is_migrated_to_head_and_matches_the_orm(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path, "ledger") as url:
        ledger = Ledger(url)
        try:
            assert head_revision() == "0006"
            assert _revision(url) == "0006"
            with ledger.engine.connect() as connection:
                diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            assert diffs == []
            # Two files may carry the same declaration version: the key is not unique...
            first = ledger.claim_file("p", "a.edi", "1" * 64, 1, claim_id="c1", location="x")
            second = ledger.claim_file("p", "b.edi", "2" * 64, 1, claim_id="c2", location="y")
            for claim in (first, second):
                ledger.record_documents(
                    claim.file_id, [{"message_reference": "1", "idempotency_key": "cad-same", "status": "40"}]
                )
            # ...and an acknowledgement is one row per file and location.
            ledger.record_acknowledgement(first.file_id, "contrl", "p/outbox/a.edi.contrl.edi", "0" * 64)
            ledger.record_acknowledgement(first.file_id, "contrl", "p/outbox/a.edi.contrl.edi", "f" * 64)
            assert [a.sha256 for a in ledger.acknowledgements(first.file_id)] == ["f" * 64]
            with pytest.raises(IntegrityError), ledger.session() as s:
                s.execute(
                    text(
                        "INSERT INTO acknowledgements (file_id, kind, location, sha256, created_at) VALUES (:f, 'contrl', 'p/outbox/a.edi.contrl.edi', 'x', CURRENT_TIMESTAMP)"
                    ),
                    {"f": first.file_id},
                )
        finally:
            ledger.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_ledger_from_before_migrations_is_stamped_and_upgraded(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path, "ledger") as url:
        engine = create_engine(url)
        upgrade_schema(engine, "0001")  # the tables as create_all made them ...
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE alembic_version"))  # ... with no version table
            connection.execute(text(
                "INSERT INTO files (partner, name, sha256, size, state, received_at, updated_at) "
                "VALUES ('broker01', 'old.edi', 'abc', 3, 'archived', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ))  # fmt: skip
            for n in range(2):  # the same key twice was impossible before 0002; a repeated acknowledgement row was not
                connection.execute(
                    text(
                        "INSERT INTO acknowledgements (file_id, kind, location, sha256, created_at) VALUES (1, 'contrl', 'l', :s, CURRENT_TIMESTAMP)"
                    ),
                    {"s": str(n)},
                )
        engine.dispose()
        ledger = Ledger(url)
        try:
            assert _revision(url) == "0006"
            [record] = ledger.files()
            assert (record.name, record.state, record.attempts) == ("old.edi", "archived", 0)
            assert [a.sha256 for a in ledger.acknowledgements(1)] == ["1"]  # the later row kept
        finally:
            ledger.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_starting_together_migrate_once(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path, "ledger") as url:
        errors: list[BaseException] = []
        barrier = threading.Barrier(6)

        def start() -> None:
            try:
                barrier.wait()
                Ledger(url).dispose()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=start) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert _revision(url) == "0006"


@pytest.mark.parametrize("backend", BACKENDS)
def test_downgrade_and_upgrade_round_trip(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path, "ledger") as url:
        Ledger(url).dispose()
        engine = create_engine(url)
        try:
            tables, columns = _downgraded(engine, "0005")
            assert "result" not in columns
            tables, columns = _downgraded(engine, "0004")
            assert "waiting" not in tables
            tables, columns = _downgraded(engine, "0003")
            assert not {"operator_actions", "acknowledgement_resends"} & tables
            tables, columns = _downgraded(engine, "0002")
            assert "failures" not in columns
            tables, columns = _downgraded(engine, "0001")
            assert "file_events" not in tables
            upgrade_schema(engine)
            with engine.connect() as connection:
                assert "file_events" in inspect(connection).get_table_names()
                assert "failures" in {c["name"] for c in inspect(connection).get_columns("files")}
                assert {"operator_actions", "acknowledgement_resends", "waiting"} <= set(
                    inspect(connection).get_table_names()
                )
        finally:
            engine.dispose()
        assert _revision(url) == "0006"


def _downgraded(engine: Engine, revision: str) -> tuple[set[str], set[str]]:
    """Downgrade the ledger to ``revision``; then its table names and the columns of ``files``."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)
    with engine.connect() as connection:
        schema = inspect(connection)
        return set(schema.get_table_names()), {c["name"] for c in schema.get_columns("files")}


def _summary(statuses: dict[str, int], interchanges: tuple[int, int], first: str | None = None) -> str:
    """A stored report (format 3) with these document statuses, (count, accepted) interchanges, first error."""
    errors = [{"code": first, "severity": "error", "message": "m", "where": ""}] if first else []
    return json.dumps({
        "report_format": 3, "documents": {"count": sum(statuses.values()), "statuses": statuses},
        "interchanges": {"count": interchanges[0], "accepted": interchanges[1]}, "errors": errors,
    })  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_revision_0006_gives_existing_files_their_outcome_words(backend: str, tmp_path: Path) -> None:
    """Files recorded before revision 0006 get the word their recorded facts say."""
    rows = [  # name, state, accepted, duplicate_of, summary -> the word expected
        ("all-good.edi", "archived", True, None, _summary({"accepted": 2}, (1, 1)), "accepted"),
        (
            "one-of-two.edi",
            "archived",
            False,
            None,
            _summary({"accepted": 1, "rejected": 1}, (1, 1)),
            "partly rejected",
        ),
        ("portal-said-no.edi", "archived", False, None, _summary({"rejected": 1}, (1, 1)), "rejected"),
        ("broken.edi", "quarantined", False, None, _summary({"rejected": 1}, (1, 0)), "rejected"),
        ("huge.edi", "quarantined", False, None, _summary({}, (0, 0), "SIZE"), "refused"),
        ("again.edi", "quarantined", False, 1, None, "duplicate"),
        ("adjusted.edi", "archived", False, None, _summary({"pending": 1}, (1, 1)), "pending"),
        ("waiting.edi", "parked", None, None, None, "parked"),
        ("poison.edi", "failed", False, None, _summary({}, (0, 0), "INTERNAL"), "failed"),
        ("busy.edi", "claimed", None, None, None, "in progress"),
    ]
    with database(backend, tmp_path, "ledger") as url:
        engine = create_engine(url)
        upgrade_schema(engine, "0005")
        with engine.begin() as connection:
            for name, state, accepted, duplicate_of, summary, _ in rows:
                connection.execute(
                    text(
                        "INSERT INTO files (partner, name, sha256, size, state, accepted, duplicate_of, summary, "
                        "received_at, updated_at, attempts, failures, reprocessed) VALUES ('p', :name, 'x', 1, "
                        ":state, :accepted, :dup, :summary, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, 0, 0)"
                    ),
                    {"name": name, "state": state, "accepted": accepted, "dup": duplicate_of, "summary": summary},
                )
        engine.dispose()
        ledger = Ledger(url)
        try:
            assert {r.name: r.result for r in ledger.files()} == {name: word for name, *_, word in rows}
        finally:
            ledger.dispose()
