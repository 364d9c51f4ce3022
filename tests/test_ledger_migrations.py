"""The ledger's schema comes from Alembic migrations (ledger/migrations), on SQLite
and on PostgreSQL: a new ledger is upgraded to head on first use (once, even when
workers start together), a ledger created before migrations is stamped and
upgraded with its rows kept, the ORM matches the migrated schema, and a
downgrade/upgrade round trip works."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
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
            assert head_revision() == "0004"
            assert _revision(url) == "0004"
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
            assert _revision(url) == "0004"
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
        assert _revision(url) == "0004"


@pytest.mark.parametrize("backend", BACKENDS)
def test_downgrade_and_upgrade_round_trip(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path, "ledger") as url:
        Ledger(url).dispose()
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                command.downgrade(alembic_config(connection), "0003")
            with engine.connect() as connection:
                tables = set(inspect(connection).get_table_names())
                assert not {"operator_actions", "acknowledgement_resends"} & tables
            with engine.begin() as connection:
                command.downgrade(alembic_config(connection), "0002")
            with engine.connect() as connection:
                assert "failures" not in {c["name"] for c in inspect(connection).get_columns("files")}
            with engine.begin() as connection:
                command.downgrade(alembic_config(connection), "0001")
            with engine.connect() as connection:
                assert "file_events" not in inspect(connection).get_table_names()
            upgrade_schema(engine)
            with engine.connect() as connection:
                assert "file_events" in inspect(connection).get_table_names()
                assert "failures" in {c["name"] for c in inspect(connection).get_columns("files")}
                assert {"operator_actions", "acknowledgement_resends"} <= set(inspect(connection).get_table_names())
        finally:
            engine.dispose()
        assert _revision(url) == "0004"
