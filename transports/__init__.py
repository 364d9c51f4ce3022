"""Transports: where partner files come from and where acknowledgements go."""

from transports.base import ClaimedFile, InboundFile, Transport
from transports.local import LocalFolderTransport

__all__ = ["ClaimedFile", "InboundFile", "LocalFolderTransport", "Transport"]
