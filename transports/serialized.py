"""A transport shared by threads, used by one of them at a time.

When a worker has several files in flight (``Settings.files_in_flight``), their
threads share the partner's channel; an SFTP session (paramiko) is not safe for
concurrent requests from threads. Every call on the transport, and every call on
a stream it opened (a read, a write, the close that commits an upload), holds one
lock, so the channel sees the same interleaving of calls a single thread working
several files would make. The calls are short: the files' posts to the portal,
which are not the channel's, overlap freely."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, BinaryIO, cast

from transports.base import ClaimedFile, InboundFile, Transport


class _Serialized:
    """An object whose method calls hold ``lock`` (its context manager's too)."""

    def __init__(self, inner: Any, lock: threading.RLock) -> None:
        self._inner = inner
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return value(*args, **kwargs)

        return call

    def __enter__(self) -> Any:
        with self._lock:
            entered = self._inner.__enter__()
        return self if entered is self._inner else _Serialized(entered, self._lock)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> bool | None:
        with self._lock:
            return cast(bool | None, self._inner.__exit__(exc_type, exc, traceback))


class SerializedTransport:
    """``inner`` (any ``Transport``), one call at a time whichever thread makes it."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:  # what a channel offers beyond the protocol (its SFTP client ...)
        return getattr(_Serialized(self.inner, self._lock), name)

    def partners(self) -> list[str]:
        with self._lock:
            return self.inner.partners()

    def list_inbox(self, partner: str) -> list[InboundFile]:
        with self._lock:
            return self.inner.list_inbox(partner)

    def claim(self, inbound: InboundFile, claim_id: str | None = None) -> ClaimedFile | None:
        with self._lock:
            return self.inner.claim(inbound, claim_id)

    def reclaim(self, inbound: InboundFile, claim_id: str) -> ClaimedFile | None:
        with self._lock:
            return self.inner.reclaim(inbound, claim_id)

    def open(self, claimed: ClaimedFile) -> BinaryIO:
        with self._lock:
            return cast(BinaryIO, _Serialized(self.inner.open(claimed), self._lock))

    def write_outbox(self, partner: str, name: str) -> AbstractContextManager[BinaryIO]:
        with self._lock:
            upload = self.inner.write_outbox(partner, name)
        return cast(AbstractContextManager[BinaryIO], _Serialized(upload, self._lock))

    def sweep_temporaries(self, partner: str, older_than: float) -> list[str]:
        with self._lock:
            return self.inner.sweep_temporaries(partner, older_than)

    def archive(self, claimed: ClaimedFile) -> str:
        with self._lock:
            return self.inner.archive(claimed)

    def quarantine(self, claimed: ClaimedFile, reason: str) -> str:
        with self._lock:
            return self.inner.quarantine(claimed, reason)

    def release(self, claimed: ClaimedFile) -> None:
        with self._lock:
            self.inner.release(claimed)
