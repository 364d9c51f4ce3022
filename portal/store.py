"""Persistence for the embedded portal (SQLAlchemy 2; SQLite or PostgreSQL).

Two tables: the accepted declaration versions, unique per (transaction_number,
version), and the idempotency records, unique per key. A new version and its
idempotency record are written in one transaction, so a lost race on either
unique constraint leaves nothing behind and surfaces as ``StoreConflict``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, Integer, String, Text, UniqueConstraint, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from domain.declaration import Declaration
from domain.outcome import DeclarationOutcome


class StoreConflict(Exception):
    """A concurrent write won a unique constraint; re-read and decide again."""


class _Base(DeclarativeBase):
    pass


class _DeclarationRow(_Base):
    __tablename__ = "portal_declarations"
    __table_args__ = (UniqueConstraint("transaction_number", "version", name="uq_portal_declaration_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_number: Mapped[str] = mapped_column(String(14), index=True)
    version: Mapped[int] = mapped_column(Integer)
    function: Mapped[str] = mapped_column(String(1))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(3))
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class _IdempotencyRow(_Base):
    __tablename__ = "portal_idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text, doc="The exact JSON text answered, replayed byte for byte.")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class StoredVersion:
    transaction_number: str
    version: int
    function: str
    body: dict[str, Any]
    status: str
    outcome: dict[str, Any]
    received_at: dt.datetime


@dataclass(frozen=True)
class IdempotencyRecord:
    key: str
    request_sha256: str
    status_code: int
    response_body: str


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite drops the time zone of stored datetimes; everything here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _stored(row: _DeclarationRow) -> StoredVersion:
    return StoredVersion(
        transaction_number=row.transaction_number,
        version=row.version,
        function=row.function,
        body=row.body,
        status=row.status,
        outcome=row.outcome,
        received_at=_utc(row.received_at),
    )


def create_portal_engine(database_url: str) -> Engine:
    """An engine for the URL; SQLite gets a created parent folder and thread-safe settings."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if url.database in (None, "", ":memory:"):
        return create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, connect_args={"check_same_thread": False})


class PortalStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, database_url: str) -> PortalStore:
        store = cls(create_portal_engine(database_url))
        store.create_schema()
        return store

    def create_schema(self) -> None:
        _Base.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def idempotency_record(self, key: str) -> IdempotencyRecord | None:
        with Session(self.engine) as session:
            row = session.get(_IdempotencyRow, key)
            if row is None:
                return None
            return IdempotencyRecord(row.key, row.request_sha256, row.status_code, row.response_body)

    def versions(self, transaction_number: str) -> list[StoredVersion]:
        """All accepted versions of a transaction, oldest first."""
        query = (
            select(_DeclarationRow)
            .where(_DeclarationRow.transaction_number == transaction_number)
            .order_by(_DeclarationRow.version)
        )
        with Session(self.engine) as session:
            return [_stored(row) for row in session.scalars(query)]

    def version(self, transaction_number: str, version: int) -> StoredVersion | None:
        query = select(_DeclarationRow).where(
            _DeclarationRow.transaction_number == transaction_number, _DeclarationRow.version == version
        )
        with Session(self.engine) as session:
            row = session.scalars(query).one_or_none()
            return None if row is None else _stored(row)

    def record_submission(
        self,
        *,
        key: str,
        request_sha256: str,
        status_code: int,
        response_body: str,
        declaration: Declaration,
        outcome: DeclarationOutcome,
    ) -> None:
        """Store the answer under the key and, when accepted, the declaration version.

        Raises ``StoreConflict`` when another request stored the same key or the
        same (transaction_number, version) first; nothing is written then.
        """
        received_at = outcome.received_at or dt.datetime.now(dt.UTC)
        try:
            with Session(self.engine) as session, session.begin():
                if outcome.status.accepted:
                    session.add(
                        _DeclarationRow(
                            transaction_number=declaration.transaction_number,
                            version=declaration.version,
                            function=declaration.function.value,
                            body=declaration.model_dump(mode="json"),
                            status=outcome.status.value,
                            outcome=outcome.model_dump(mode="json"),
                            received_at=received_at,
                        )
                    )
                session.add(
                    _IdempotencyRow(
                        key=key,
                        request_sha256=request_sha256,
                        status_code=status_code,
                        response_body=response_body,
                        created_at=received_at,
                    )
                )
        except IntegrityError as error:
            raise StoreConflict(str(error.orig)) from error
