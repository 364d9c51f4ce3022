"""The one small interface every channel implements (local folders now; SFTP and S3 next)."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class InboundFile:
    partner: str
    name: str  # the file name as the partner gave it; never used as a path unchecked
    size: int
    modified: float | None = None  # modification time (POSIX seconds) as listed; None when the channel gives none
    whole: bool = False  # the channel shows the file only once it is complete (an S3 object); else it may be growing


@dataclass(frozen=True)
class ClaimedFile:
    """A file this worker owns: moved out of the inbox under a claim id."""

    inbound: InboundFile
    claim_id: str
    location: str  # where the claimed bytes are now (transport-specific)


class Transport(Protocol):
    def partners(self) -> list[str]: ...

    def list_inbox(self, partner: str) -> list[InboundFile]: ...

    def claim(self, inbound: InboundFile, claim_id: str | None = None) -> ClaimedFile | None:
        """Take the file atomically under ``claim_id`` (a new one when None);
        None when another worker took it first."""

    def reclaim(self, inbound: InboundFile, claim_id: str) -> ClaimedFile | None:
        """The file an earlier claim under ``claim_id`` moved into processing/,
        or None when that claim never happened (the file is still in the inbox)."""

    def open(self, claimed: ClaimedFile) -> BinaryIO: ...

    def write_outbox(self, partner: str, name: str) -> AbstractContextManager[BinaryIO]:
        """A stream whose content appears in the outbox atomically on success."""

    def read_outbox(self, partner: str, name: str) -> BinaryIO | None:
        """An acknowledgement still in the outbox, or None once the partner has taken it."""

    def sweep_temporaries(self, partner: str, older_than: float) -> list[str]:
        """Remove the hidden temporaries of outbox writes not written to for ``older_than``
        seconds (their writer was killed mid-upload); the names removed."""

    def archive(self, claimed: ClaimedFile) -> str: ...

    def quarantine(self, claimed: ClaimedFile, reason: str) -> str: ...

    def release(self, claimed: ClaimedFile) -> None:
        """Put a claimed file back in the inbox (the work will be retried)."""


class StoredFiles(Protocol):
    """Deleting what a channel keeps once its retention has ended (``gateway.retention``):
    an original filed away in archive/ or quarantine/ (with a quarantine's reason beside
    it) and an answer in the outbox. Each returns False when there was nothing left to
    delete (a partner collects its answers from the outbox); a location outside the
    partner's archive and quarantine areas is refused (``ValueError``), never deleted."""

    def delete_filed(self, partner: str, location: str) -> bool: ...

    def delete_outbox(self, partner: str, name: str) -> bool: ...


def new_claim_id() -> str:
    """A claim id: unique among the claims of a partner's processing area."""
    return uuid.uuid4().hex[:12]
