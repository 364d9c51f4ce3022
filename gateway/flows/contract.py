"""The contract every flow works under: its options, the protocols it writes
through, and the deterministic keys (a retry posts and answers with the same
ones)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from domain import Declaration, DeclarationOutcome
from domain.declaration import canonical_json
from domain.payment import Payment, PaymentOutcome
from gateway.flows.spool import Spool
from gateway.partners import Partner
from mappings.contrl import ReceivedContrl
from validators.rules import RuleContext

Poster = Callable[[Declaration, str], DeclarationOutcome]
PaymentPoster = Callable[[Payment, str], PaymentOutcome]


class AckSink(Protocol):
    """Where acknowledgements go: an atomic writer per file name."""

    def open(self, name: str) -> AbstractContextManager[BinaryIO]: ...


class SenderReference(Protocol):
    """What duplicate detection keys on: an interchange header, or a file's or a
    payment message's id in the same shape."""

    @property
    def sender(self) -> str: ...

    @property
    def sender_qualifier(self) -> str: ...

    @property
    def control_reference(self) -> str: ...


class InterchangeRegistry(Protocol):
    def register(self, header: SenderReference) -> bool:
        """False when this sender used this control reference before."""

    def release(self, header: SenderReference) -> None:
        """Forget this file's registration of ``header``: its interchange was
        refused, so the sender's legitimate interchange with that reference is
        not a duplicate."""


@dataclass(frozen=True)
class SentInterchange:
    """An interchange the gateway wrote to a partner (a CONTRL, a receipt, CUSRES or APERAK)."""

    control_reference: str  # our UNB 0020
    kind: str  # "contrl", "contrl-receipt", "cusres" or "aperak"
    recipient: str  # UNB 0010: the partner's EDI id
    message_references: tuple[str, ...]  # UNH 0062 of each message in it
    answers: str  # UNB 0020 of the inbound interchange it answers
    file: str  # the inbound file it answers


class AcknowledgementRegistry(Protocol):
    """Remembers what the gateway sent, so partners' CONTRLs can be matched to it."""

    def record_sent(self, sent: SentInterchange) -> None: ...

    def match_received(self, received: ReceivedContrl) -> SentInterchange | None:
        """Record the partner's verdict on the interchange UCI 0020 names and
        return what that interchange was; None when we never sent it."""


@dataclass(frozen=True)
class PendingAnswer:
    """A declaration version the portal has not decided yet (CARM 200 or 42), with what
    its final answer to the partner needs: the answer's kind ("cusres" or "cadout"), to whom
    (UNB 0010/0007 of the inbound interchange; a CAD-IN's sender) and about what (its UNB 0020
    and UNH 0062; a CAD-IN's ApplicationReferenceID and the declaration's position)."""

    transaction_number: str
    version: int
    status: str  # the portal's interim status
    kind: str
    recipient: tuple[str, str]
    inbound_interchange: str
    inbound_message: str
    filer_reference: str | None
    syntax: tuple[str, str]
    name: str  # the final answer's file in the partner's outbox
    starts: tuple[int, ...] = (0,)  # where each invoice's lines start (a CAD-OUT's pointers are XPaths)


class PendingRegistry(Protocol):
    def wait(self, pending: PendingAnswer) -> None:
        """Remember to query this version and answer the partner once it is final."""


@dataclass
class FlowOptions:
    our_id: tuple[str, str] = ("CARMGW", "ZZZ")
    poster: Poster | None = None  # None: check only, post nothing
    posts_in_flight: int = 1  # the poster is called from this many threads at once (answers stay in order)
    sink: AckSink | None = None  # None: write no acknowledgements
    outbox_stem: str = ""  # how this delivery's acknowledgements are named, unique per delivery; "": the file's name
    registry: InterchangeRegistry | None = None  # None: no duplicate detection
    partner_id: str = "UNKNOWN"
    seed: str = ""  # e.g. the file's SHA-256: makes our control references stable
    receipt_contrl: bool = False  # also send a receipt CONTRL (UCI 0083 = 8) per interchange, before the verdict
    acknowledgements: AcknowledgementRegistry | None = None  # None: sent interchanges are not recorded
    rules_context: RuleContext | None = None  # None: the rules that need no reference beyond the file
    payment_poster: PaymentPoster | None = None  # None: payments are checked, not posted
    partner: Partner | None = None  # the inbox owner: whose sender ids and importer accounts are allowed
    pending: PendingRegistry | None = None  # None: an answer that is not final is not followed up
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))

    @property
    def answers(self) -> bool:
        """Whether phase 2 does anything with an accepted interchange's declarations: post them
        or answer them. ``carm-edi check`` does neither, so its flows keep no spool."""
        return self.poster is not None or self.sink is not None

    def spool(self) -> Spool:
        """The spool of a flow's phase 1 run with these options: it keeps the field sources only
        when the flow posts (they locate the portal's findings) and the declarations only when
        phase 2 reads them back (to post them or to answer them); ``carm-edi check`` does neither."""
        return Spool(sources=self.poster is not None, declarations=self.poster is not None or self.sink is not None)


def acknowledgement_name(options: FlowOptions, file_name: str, suffix: str) -> str:
    """The name of one of a file's acknowledgements (``suffix``: "contrl.edi",
    "report.json" ...): the delivery's outbox stem, so two deliveries under one
    name (or two names that sanitise alike) never answer into the same file."""
    return f"{options.outbox_stem or file_name}.{suffix}"


def idempotency_key(declaration: Declaration) -> str:
    """Deterministic per document version and content: a retry sends the same key,
    and so does a release whose model changed shape (``canonical_json``)."""
    digest = hashlib.sha256(canonical_json(declaration).encode()).hexdigest()[:16]
    return f"cad-{declaration.transaction_number}-{declaration.version:05d}-{digest}"


def payment_idempotency_key(payment: Payment) -> str:
    """Deterministic per payment content: a retried file posts with the same key."""
    digest = hashlib.sha256(payment.model_dump_json().encode()).hexdigest()[:32]
    return f"pay-{digest}"


def control_reference(seed: str) -> str:
    """A 14-character interchange reference derived from what it answers, so a
    rerun writes the same acknowledgement."""
    return hashlib.sha256(seed.encode()).hexdigest()[:14].upper()


@dataclass(frozen=True)
class MessageReference:
    """A file's or a payment message's id in the registry's shape (``SenderReference``)."""

    sender: str
    sender_qualifier: str
    control_reference: str


def register_reference(options: FlowOptions, sender: str, qualifier: str, reference: str | None) -> bool:
    """False when this sender sent this id before (gateway ledger); an id longer
    than the registry's 32 characters is kept as its hash."""
    registry = options.registry
    if registry is None or not reference:
        return True
    return registry.register(_registry_key(sender, qualifier, reference))


def release_reference(options: FlowOptions, sender: str, qualifier: str, reference: str | None) -> None:
    """Undo ``register_reference`` for a file or message that was refused."""
    if options.registry is not None and reference:
        options.registry.release(_registry_key(sender, qualifier, reference))


def _registry_key(sender: str, qualifier: str, reference: str) -> MessageReference:
    if len(reference) > 32:
        reference = hashlib.sha256(reference.encode()).hexdigest()[:32]
    return MessageReference(sender, qualifier, reference)
