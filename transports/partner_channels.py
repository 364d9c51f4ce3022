"""One ``Transport`` over every partner of the registry, each on its own channel.

``PartnerChannels`` takes every partner's channel (partner id → channel, from the
partner registry) and dispatches each call to the implementation of the
partner's channel (local folder, SFTP, S3), so one ``Pipeline`` can run over
all configured partners at once. Only partners in the registry exist: a
folder or prefix nobody configured is never read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

from transports.base import ClaimedFile, InboundFile, StoredFiles, Transport
from transports.channels import Channel, LocalChannel, S3Channel, SftpChannel
from transports.local import AREAS, LocalFolderTransport
from transports.s3 import HookFactory as S3HookFactory
from transports.s3 import S3Transport
from transports.sftp import HookFactory as SftpHookFactory
from transports.sftp import SftpTransport


class PartnerFolderTransport(LocalFolderTransport):
    """A local channel: one partner's folder holding inbox/, outbox/, archive/, quarantine/, processing/."""

    def __init__(self, partner: str, folder: Path) -> None:
        super().__init__(folder.parent)
        self.partner = partner
        self.folder = folder

    def area(self, partner: str, area: str) -> Path:
        if partner != self.partner or area not in AREAS:
            raise KeyError(f"{partner}/{area} is not an area of this channel")
        path = self.folder / area
        path.mkdir(parents=True, exist_ok=True)
        return path

    def partners(self) -> list[str]:
        return [self.partner]


class PartnerChannels:
    def __init__(
        self,
        channels: Mapping[str, Channel],
        data_dir: Path,
        sftp_hook_factory: SftpHookFactory | None = None,
        s3_hook_factory: S3HookFactory | None = None,
    ) -> None:
        self.channels = dict(channels)
        self._routes: dict[str, Transport] = {}
        sftp: dict[str, SftpChannel] = {}
        s3: dict[str, S3Channel] = {}
        for partner_id, channel in self.channels.items():
            if isinstance(channel, LocalChannel):
                self._routes[partner_id] = PartnerFolderTransport(partner_id, channel.folder(data_dir))
            elif isinstance(channel, SftpChannel):
                sftp[partner_id] = channel
            else:
                s3[partner_id] = channel
        self.sftp = SftpTransport(sftp, sftp_hook_factory) if sftp else None
        self.s3 = S3Transport(s3, s3_hook_factory) if s3 else None
        for transport in (self.sftp, self.s3):
            if transport is not None:
                for partner_id in transport.channels:
                    self._routes[partner_id] = transport

    def __enter__(self) -> PartnerChannels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for transport in (self.sftp, self.s3):
            if transport is not None:
                transport.close()

    def route(self, partner: str) -> Transport:
        try:
            return self._routes[partner]
        except KeyError:
            raise KeyError(f"partner {partner!r} is not in the registry") from None

    def partners(self) -> list[str]:
        return list(self.channels)

    def list_inbox(self, partner: str) -> list[InboundFile]:
        return self.route(partner).list_inbox(partner)

    def claim(self, inbound: InboundFile, claim_id: str | None = None) -> ClaimedFile | None:
        return self.route(inbound.partner).claim(inbound, claim_id)

    def reclaim(self, inbound: InboundFile, claim_id: str) -> ClaimedFile | None:
        return self.route(inbound.partner).reclaim(inbound, claim_id)

    def open(self, claimed: ClaimedFile) -> BinaryIO:
        return self.route(claimed.inbound.partner).open(claimed)

    @contextmanager
    def write_outbox(self, partner: str, name: str) -> Iterator[BinaryIO]:
        with self.route(partner).write_outbox(partner, name) as stream:
            yield stream

    def read_outbox(self, partner: str, name: str) -> BinaryIO | None:
        return self.route(partner).read_outbox(partner, name)

    def sweep_temporaries(self, partner: str, older_than: float) -> list[str]:
        return self.route(partner).sweep_temporaries(partner, older_than)

    def archive(self, claimed: ClaimedFile) -> str:
        return self.route(claimed.inbound.partner).archive(claimed)

    def quarantine(self, claimed: ClaimedFile, reason: str) -> str:
        return self.route(claimed.inbound.partner).quarantine(claimed, reason)

    def delete_filed(self, partner: str, location: str) -> bool:
        return self._stored(partner).delete_filed(partner, location)

    def delete_outbox(self, partner: str, name: str) -> bool:
        return self._stored(partner).delete_outbox(partner, name)

    def _stored(self, partner: str) -> StoredFiles:
        return cast(StoredFiles, self.route(partner))  # every channel of the registry implements it

    def release(self, claimed: ClaimedFile) -> None:
        self.route(claimed.inbound.partner).release(claimed)

    def describe(self, partner: str) -> dict[str, Any]:
        """Where a partner's files live, for logs (no credentials: only the connection id)."""
        return self.channels[partner].model_dump(mode="json")
