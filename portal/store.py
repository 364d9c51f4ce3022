"""Persistence for the embedded portal (SQLAlchemy 2; SQLite or PostgreSQL).

Two tables: the declaration versions that passed the rules (accepted, status 40, or
adjustments pending an operator's decision, 42, which stay as 41 when refused), unique
per (transaction_number, version), and the idempotency records, unique per key. A new version and its
idempotency record are written in one transaction, so a lost race on either
unique constraint leaves nothing behind and surfaces as ``StoreConflict``.

The operators' decisions on adjustments (who, when, approve or refuse, the note) have
their own table, one decision per version (docs/rules.md "Corrections and adjustments").

Two more for delegation (carm-brief §6): the parties (importers by BN15 RM account,
brokers by BN9 or BN15) and the delegations from an importer account to a broker,
with their validity dates and revocation; seeded from ``fixtures/reference/delegations.csv``.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Engine, Integer, String, Text, UniqueConstraint, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from domain.declaration import Declaration
from domain.outcome import DeclarationOutcome, OutcomeStatus
from storage import create_database_engine


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


class _DecisionRow(_Base):
    __tablename__ = "portal_adjustment_decisions"
    __table_args__ = (UniqueConstraint("transaction_number", "version", name="uq_portal_decision_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_number: Mapped[str] = mapped_column(String(14), index=True)
    version: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(8), doc="approve or refuse")
    operator: Mapped[str] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class _PartyRow(_Base):
    __tablename__ = "portal_parties"

    account: Mapped[str] = mapped_column(String(15), primary_key=True, doc="BN15, or BN9 for a broker")
    role: Mapped[str] = mapped_column(String(8), doc="importer or broker")
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class _DelegationRow(_Base):
    __tablename__ = "portal_delegations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    importer: Mapped[str] = mapped_column(String(15), index=True, doc="the importer's BN15 RM account")
    broker: Mapped[str] = mapped_column(String(15), index=True, doc="BN9 (every account of the broker) or BN15")
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


PARTY_ROLES = ("importer", "broker")


@dataclass(frozen=True)
class Party:
    account: str
    role: str
    name: str | None


@dataclass(frozen=True)
class Delegation:
    id: int
    importer: str
    broker: str
    valid_from: dt.date
    valid_to: dt.date | None
    revoked_at: dt.datetime | None

    def active_on(self, day: dt.date) -> bool:
        """Not revoked, and ``day`` within [valid_from, valid_to] (open-ended without valid_to)."""
        return self.revoked_at is None and self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def _covering(account: str) -> list[str]:
    """The keys a party or delegation may be recorded under for an account: itself and its BN9."""
    return [account, account[:9]] if len(account) == 15 else [account]


def _delegation(row: _DelegationRow) -> Delegation:
    revoked = _utc(row.revoked_at) if row.revoked_at is not None else None
    return Delegation(row.id, row.importer, row.broker, row.valid_from, row.valid_to, revoked)


@dataclass(frozen=True)
class StoredVersion:
    transaction_number: str
    version: int
    function: str
    body: dict[str, Any]
    status: str
    outcome: dict[str, Any]
    received_at: dt.datetime


class Decision(StrEnum):
    APPROVE = "approve"
    REFUSE = "refuse"


@dataclass(frozen=True)
class AdjustmentDecision:
    """An operator's decision on one adjustment version."""

    transaction_number: str
    version: int
    decision: Decision
    operator: str
    note: str | None
    decided_at: dt.datetime


class NotPending(Exception):
    """The version is not an adjustment waiting for a decision."""


class DecidedOtherwise(Exception):
    """The adjustment was already decided the other way."""

    def __init__(self, decided: AdjustmentDecision) -> None:
        super().__init__(f"version {decided.version} of {decided.transaction_number} was already {decided.decision}d")
        self.decided = decided


def _decision(row: _DecisionRow) -> AdjustmentDecision:
    return AdjustmentDecision(
        row.transaction_number, row.version, Decision(row.decision), row.operator, row.note, _utc(row.decided_at)
    )


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
    """The portal's engine (SQLite in WAL mode by default; see storage.engines)."""
    return create_database_engine(database_url)


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
        """Every stored version of a transaction (accepted, pending or refused adjustments), oldest first."""
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
        """Store the answer under the key and, when accepted or pending (an adjustment), the declaration version.

        Raises ``StoreConflict`` when another request stored the same key or the
        same (transaction_number, version) first; nothing is written then.
        """
        received_at = outcome.received_at or dt.datetime.now(dt.UTC)
        try:
            with Session(self.engine) as session, session.begin():
                if outcome.status in (OutcomeStatus.ACCEPTED, OutcomeStatus.PENDING):
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

    # adjustments and the operators' decisions -----------------------------------------

    def decide(
        self,
        transaction_number: str,
        version: int,
        decision: Decision,
        *,
        operator: str,
        note: str | None,
        decided_at: dt.datetime,
        decided_outcome: Callable[[DeclarationOutcome, AdjustmentDecision], DeclarationOutcome],
    ) -> tuple[AdjustmentDecision, bool] | None:
        """Record an operator's decision on a pending adjustment and set the version's status
        and outcome to ``decided_outcome``'s, in one transaction. Returns the decision and
        whether it was made now; None for an unknown version. The same decision again is
        answered with the first, unchanged; ``DecidedOtherwise`` for the other one,
        ``NotPending`` for a version that is no adjustment, ``StoreConflict`` on a lost race."""
        query = select(_DeclarationRow).where(
            _DeclarationRow.transaction_number == transaction_number, _DeclarationRow.version == version
        )
        try:
            with Session(self.engine) as session, session.begin():
                row = session.scalars(query).one_or_none()
                if row is None:
                    return None
                existing = session.scalars(
                    select(_DecisionRow).where(
                        _DecisionRow.transaction_number == transaction_number, _DecisionRow.version == version
                    )
                ).one_or_none()
                if existing is not None:
                    decided = _decision(existing)
                    if decided.decision is not decision:
                        raise DecidedOtherwise(decided)
                    return decided, False
                if row.status != OutcomeStatus.PENDING.value:
                    raise NotPending(f"version {version} of {transaction_number} has status {row.status}")
                made = AdjustmentDecision(transaction_number, version, decision, operator, note, decided_at)
                outcome = decided_outcome(DeclarationOutcome.model_validate(row.outcome), made)
                row.status = outcome.status.value
                row.outcome = outcome.model_dump(mode="json")
                session.add(
                    _DecisionRow(
                        transaction_number=transaction_number,
                        version=version,
                        decision=decision.value,
                        operator=operator,
                        note=note,
                        decided_at=decided_at,
                    )
                )
        except IntegrityError as error:
            raise StoreConflict(str(error.orig)) from error
        return made, True

    def decisions(self, transaction_number: str | None = None) -> dict[tuple[str, int], AdjustmentDecision]:
        """Every decision (of one transaction), by (transaction_number, version)."""
        query = select(_DecisionRow).order_by(_DecisionRow.id)
        if transaction_number is not None:
            query = query.where(_DecisionRow.transaction_number == transaction_number)
        with Session(self.engine) as session:
            return {(row.transaction_number, row.version): _decision(row) for row in session.scalars(query)}

    def all_versions(self) -> list[StoredVersion]:
        """Every stored version of every transaction, by transaction then version."""
        query = select(_DeclarationRow).order_by(_DeclarationRow.transaction_number, _DeclarationRow.version)
        with Session(self.engine) as session:
            return [_stored(row) for row in session.scalars(query)]

    # parties and delegations ---------------------------------------------------------

    def add_party(self, account: str, role: str, name: str | None = None) -> tuple[Party, bool]:
        """Register a party; returns it and whether it was created (an existing one is kept)."""
        if role not in PARTY_ROLES:
            raise ValueError(f"role must be one of {PARTY_ROLES}")
        with Session(self.engine) as session, session.begin():
            row = session.get(_PartyRow, account)
            if row is not None:
                return Party(row.account, row.role, row.name), False
            session.add(_PartyRow(account=account, role=role, name=name, created_at=dt.datetime.now(dt.UTC)))
        return Party(account, role, name), True

    def party(self, account: str) -> Party | None:
        """The party registered under the account, or under its BN9."""
        with Session(self.engine) as session:
            for key in _covering(account):
                row = session.get(_PartyRow, key)
                if row is not None:
                    return Party(row.account, row.role, row.name)
        return None

    def add_delegation(
        self, importer: str, broker: str, valid_from: dt.date, valid_to: dt.date | None = None
    ) -> Delegation:
        with Session(self.engine) as session, session.begin():
            row = _DelegationRow(
                importer=importer,
                broker=broker,
                valid_from=valid_from,
                valid_to=valid_to,
                revoked_at=None,
                created_at=dt.datetime.now(dt.UTC),
            )
            session.add(row)
            session.flush()
            return _delegation(row)

    def delegation(self, delegation_id: int) -> Delegation | None:
        with Session(self.engine) as session:
            row = session.get(_DelegationRow, delegation_id)
            return None if row is None else _delegation(row)

    def revoke_delegation(self, delegation_id: int, at: dt.datetime) -> Delegation | None:
        """Revoke (once: a second revocation keeps the first time); None when unknown."""
        with Session(self.engine) as session, session.begin():
            row = session.get(_DelegationRow, delegation_id)
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = at
            session.flush()
            return _delegation(row)

    def delegations(self, importer: str | None = None, broker: str | None = None) -> list[Delegation]:
        """Delegations that cover the importer account and the broker account (each optional):
        a delegation recorded for a BN9 covers every account of that BN9."""
        query = select(_DelegationRow).order_by(_DelegationRow.id)
        if importer:
            query = query.where(_DelegationRow.importer.in_(_covering(importer)))
        if broker:
            query = query.where(_DelegationRow.broker.in_(_covering(broker)))
        with Session(self.engine) as session:
            return [_delegation(row) for row in session.scalars(query)]

    def seed_delegations(self, path: Path) -> bool:
        """Load parties and delegations from the CSV when no party is registered yet
        (so a restart does not duplicate them); True when it seeded."""
        with Session(self.engine) as session:
            if session.scalar(select(func.count()).select_from(_PartyRow)):
                return False
        lines = [
            line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")
        ]
        for record in csv.DictReader(lines):
            values = {key: (value or "").strip() for key, value in record.items()}
            if values["kind"] == "party":
                self.add_party(values["account"], values["role"], values["name"] or None)
            elif values["kind"] == "delegation":
                self.add_delegation(
                    values["account"],
                    values["broker"],
                    dt.date.fromisoformat(values["valid_from"]),
                    dt.date.fromisoformat(values["valid_to"]) if values["valid_to"] else None,
                )
            else:
                raise ValueError(f"{path}: unknown kind {values['kind']!r}")
        return True
