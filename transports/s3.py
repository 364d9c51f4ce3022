"""Partner areas in an S3 bucket, through Airflow's ``S3Hook`` (credentials in the Airflow connection).

Per partner, an ``S3Channel`` names the connection, the bucket and five
disjoint key prefixes (inbox, outbox, archive, quarantine, processing).

Claiming (docs/transports.md, "S3 claim protocol"). S3 has no rename, and the
claimed copy's key carries the claimer's own claim id, so a conditional write
on it cannot decide between two workers. The decision is a *claim marker*:

1. PUT ``<processing>/.claims/<sha256 of the inbox key>`` with
   ``If-None-Match: *``. The server creates it for exactly one of any number of
   concurrent claimers; the others get 412 and skip the file.
2. The holder HEADs the inbox object (gone: someone finished claiming it
   before us, skip), copies it to ``<processing>/<claim id>__<safe name>`` with
   ``x-amz-copy-source-if-match: <etag>``, and deletes the inbox object with
   ``If-Match: <etag>`` (a newer upload under the same name is kept for the next run).
3. The holder deletes its marker (``If-Match`` its own marker's ETag).

Because the inbox object is deleted before the marker is released, a later
claimer that takes the marker finds the object gone: one file, one winner.
A marker left by a crashed worker is broken after ``claim_lease_seconds``
(conditional delete on that marker's ETag, then a new conditional PUT).

Acknowledgements are buffered in a ``SpooledTemporaryFile`` and sent with one
PUT: S3 makes a PUT visible whole or not at all. Archive/quarantine: copy to
``<area>/YYYY/MM/DD/`` then delete.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import io
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, BinaryIO

from transports.base import ClaimedFile, InboundFile, new_claim_id
from transports.channels import S3Channel
from transports.local import safe_name
from transports.remote_reader import RemoteReader

log = logging.getLogger(__name__)

HookFactory = Callable[[str], Any]  # connection id -> S3Hook
SINGLE_COPY_LIMIT = 5 * 1024**3  # CopyObject's limit; larger objects use a multipart copy
SPOOL_BYTES = 8 * 1024**2


def default_hook_factory(connection_id: str) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=connection_id)


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code or str(status or "")


def _is(error: Exception, *codes: str) -> bool:
    response = getattr(error, "response", None) or {}
    status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return _code(error) in codes or status in codes


_MISSING = ("NoSuchKey", "404", "NotFound")
_PRECONDITION = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


def is_addressable(name: str) -> bool:
    """Relative key below a prefix with no empty, '.' or '..' segment (servers may normalize those)."""
    return bool(name) and "\x00" not in name and all(part not in ("", ".", "..") for part in name.split("/"))


class _S3Reader(RemoteReader):
    """A seekable, streaming view of one object: a ranged GET from the current position,
    re-issued after a seek; ``If-Match`` pins the version that was claimed."""

    def __init__(self, client: Any, bucket: str, key: str, size: int, etag: str) -> None:
        super().__init__(size)
        self._client, self._bucket, self._key = client, bucket, key
        self._etag = etag
        self._body: Any = None

    def _moved(self) -> None:
        self._drop_body()

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        if self._body is None:
            response = self._client.get_object(
                Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-", IfMatch=self._etag
            )
            self._body = response["Body"]
        data = self._body.read(len(buffer))
        if not data:
            raise OSError(f"s3://{self._bucket}/{self._key}: stream ended at {self._pos} of {self._size} bytes")
        memoryview(buffer)[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        if not self.closed:
            self._drop_body()
            super().close()


class S3Transport:
    """The ``Transport`` for partners whose channel is S3. One client per connection id."""

    def __init__(
        self,
        channels: Mapping[str, S3Channel],
        hook_factory: HookFactory | None = None,
        claim_lease_seconds: float = 600.0,
    ) -> None:
        self.channels = dict(channels)
        self._hook_factory = hook_factory or default_hook_factory
        self.claim_lease_seconds = claim_lease_seconds
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._owner = f"{socket.gethostname()}:{os.getpid()}"

    def __enter__(self) -> S3Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._clients.clear()

    def _channel(self, partner: str) -> S3Channel:
        try:
            return self.channels[partner]
        except KeyError:
            raise KeyError(f"partner {partner!r} has no S3 channel") from None

    def client(self, partner: str) -> Any:
        connection_id = self._channel(partner).connection_id
        with self._lock:
            if connection_id not in self._clients:
                self._clients[connection_id] = self._hook_factory(connection_id).get_conn()
            return self._clients[connection_id]

    # --- the Transport protocol -----------------------------------------------------------

    def partners(self) -> list[str]:
        return sorted(self.channels)

    def list_inbox(self, partner: str) -> list[InboundFile]:
        channel = self._channel(partner)
        client = self.client(partner)
        files = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=channel.bucket, Prefix=channel.inbox_prefix
        ):
            for item in page.get("Contents", []):
                name = item["Key"][len(channel.inbox_prefix) :]
                if not name or name.endswith("/") or name.rsplit("/", 1)[-1].startswith("."):
                    continue  # folder placeholder or hidden upload
                if not is_addressable(name):
                    log.warning("%s: skipping inbox key %r: it cannot be addressed safely", partner, item["Key"])
                    continue
                modified = item.get("LastModified")
                stamp = modified.timestamp() if modified is not None else None
                # An object appears only once its PUT (or multipart upload) completed: whole when listed.
                files.append(InboundFile(partner, name, int(item.get("Size", 0)), stamp, whole=True))
        return sorted(files, key=lambda f: f.name)

    def claim(self, inbound: InboundFile, claim_id: str | None = None) -> ClaimedFile | None:
        if not is_addressable(inbound.name):
            log.warning("%s: refusing to claim %r: not an addressable name", inbound.partner, inbound.name)
            return None
        channel = self._channel(inbound.partner)
        client = self.client(inbound.partner)
        bucket = channel.bucket
        source = channel.inbox_prefix + inbound.name
        marker = f"{channel.processing_prefix}.claims/{hashlib.sha256(source.encode()).hexdigest()[:40]}"
        claim_id = claim_id or new_claim_id()
        marker_etag = self._take_marker(client, bucket, marker, claim_id)
        if marker_etag is None:
            return None
        try:
            try:
                head = client.head_object(Bucket=bucket, Key=source)
            except Exception as error:
                if _is(error, *_MISSING):
                    return None  # claimed and removed by another worker before we held the marker
                raise
            etag = head["ETag"]
            target = f"{channel.processing_prefix}{claim_id}__{safe_name(inbound.name)}"
            try:
                self._copy(client, bucket, source, target, int(head.get("ContentLength", 0)), if_match=etag)
            except Exception as error:
                if _is(error, *_MISSING, *_PRECONDITION):
                    return None  # replaced or removed since the listing: the next run sees the new state
                raise
            try:
                client.delete_object(Bucket=bucket, Key=source, IfMatch=etag)
            except Exception as error:
                if _is(error, "NotImplemented", "501"):
                    client.delete_object(Bucket=bucket, Key=source)
                elif not _is(error, *_MISSING, *_PRECONDITION):
                    client.delete_object(Bucket=bucket, Key=target)
                    raise
                # 412: a newer upload under the same name replaced it; it stays for the next run.
            return ClaimedFile(inbound, claim_id, target)
        finally:
            try:
                client.delete_object(Bucket=bucket, Key=marker, IfMatch=marker_etag)
            except Exception as error:  # broken as stale by another worker: not ours any more
                log.warning("%s: could not remove claim marker %s: %s", inbound.partner, marker, error)

    def reclaim(self, inbound: InboundFile, claim_id: str) -> ClaimedFile | None:
        channel = self._channel(inbound.partner)
        target = f"{channel.processing_prefix}{claim_id}__{safe_name(inbound.name)}"
        try:
            self.client(inbound.partner).head_object(Bucket=channel.bucket, Key=target)
        except Exception as error:
            if _is(error, *_MISSING):
                return None
            raise
        return ClaimedFile(inbound, claim_id, target)

    def _take_marker(self, client: Any, bucket: str, marker: str, claim_id: str) -> str | None:
        """The marker's ETag when this worker now holds it, None when another worker does."""
        body = f"{claim_id} {self._owner} {dt.datetime.now(dt.UTC).isoformat()}\n".encode()
        for _attempt in range(2):
            try:
                return str(client.put_object(Bucket=bucket, Key=marker, Body=body, IfNoneMatch="*")["ETag"])
            except Exception as error:
                if not _is(error, *_PRECONDITION):
                    raise
            if not self._break_stale_marker(client, bucket, marker):
                return None
        return None

    def _break_stale_marker(self, client: Any, bucket: str, marker: str) -> bool:
        """Delete a marker older than the lease (its holder crashed); True when it is gone."""
        try:
            head = client.head_object(Bucket=bucket, Key=marker)
        except Exception as error:
            if _is(error, *_MISSING):
                return True  # released meanwhile: try again
            raise
        server_now = email.utils.parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"])
        age = (server_now - head["LastModified"]).total_seconds()
        if age < self.claim_lease_seconds:
            return False
        log.warning("breaking claim marker %s, %.0f s old", marker, age)
        try:
            client.delete_object(Bucket=bucket, Key=marker, IfMatch=head["ETag"])
        except Exception as error:
            if not _is(error, *_MISSING, *_PRECONDITION):
                raise
        return True

    def open(self, claimed: ClaimedFile) -> BinaryIO:
        channel = self._channel(claimed.inbound.partner)
        client = self.client(claimed.inbound.partner)
        head = client.head_object(Bucket=channel.bucket, Key=claimed.location)
        reader = _S3Reader(client, channel.bucket, claimed.location, int(head["ContentLength"]), head["ETag"])
        return io.BufferedReader(reader, buffer_size=1 << 20)

    @contextmanager
    def write_outbox(self, partner: str, name: str) -> Iterator[BinaryIO]:
        channel = self._channel(partner)
        client = self.client(partner)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            yield spool  # type: ignore[misc]  # a SpooledTemporaryFile[bytes] has every BinaryIO method; typeshed does not derive it from BinaryIO
            spool.seek(0)
            client.put_object(Bucket=channel.bucket, Key=channel.outbox_prefix + safe_name(name), Body=spool)

    def sweep_temporaries(self, partner: str, older_than: float) -> list[str]:
        """Nothing to sweep: an acknowledgement is one PUT of a local spool, so an object
        appears whole or not at all, and a killed write leaves nothing in the bucket."""
        return []

    def read_outbox(self, partner: str, name: str) -> BinaryIO | None:
        channel = self._channel(partner)
        client = self.client(partner)
        key = channel.outbox_prefix + safe_name(name)
        try:
            head = client.head_object(Bucket=channel.bucket, Key=key)
        except Exception as error:
            if _is(error, *_MISSING):
                return None
            raise
        reader = _S3Reader(client, channel.bucket, key, int(head["ContentLength"]), head["ETag"])
        return io.BufferedReader(reader, buffer_size=1 << 20)

    def archive(self, claimed: ClaimedFile) -> str:
        return self._move(claimed, self._channel(claimed.inbound.partner).archive_prefix)

    def quarantine(self, claimed: ClaimedFile, reason: str) -> str:
        target = self._move(claimed, self._channel(claimed.inbound.partner).quarantine_prefix)
        channel = self._channel(claimed.inbound.partner)
        self.client(claimed.inbound.partner).put_object(
            Bucket=channel.bucket, Key=target + ".reason.txt", Body=reason.encode("utf-8", "replace") + b"\n"
        )
        return target

    def release(self, claimed: ClaimedFile) -> None:
        channel = self._channel(claimed.inbound.partner)
        client = self.client(claimed.inbound.partner)
        name = claimed.inbound.name if is_addressable(claimed.inbound.name) else safe_name(claimed.inbound.name)
        size = int(client.head_object(Bucket=channel.bucket, Key=claimed.location)["ContentLength"])
        try:  # never overwrite a newer upload under the same name
            self._copy(client, channel.bucket, claimed.location, channel.inbox_prefix + name, size, if_none_match=True)
        except Exception as error:
            if not _is(error, *_PRECONDITION):
                raise
            fallback = f"{channel.inbox_prefix}{claimed.claim_id}__{safe_name(name)}"
            self._copy(client, channel.bucket, claimed.location, fallback, size)
        client.delete_object(Bucket=channel.bucket, Key=claimed.location)

    def delete_filed(self, partner: str, location: str) -> bool:
        channel = self._channel(partner)
        if not location.startswith((channel.archive_prefix, channel.quarantine_prefix)) or not is_addressable(location):
            raise ValueError(f"{location} is not in the archive or quarantine of {partner}")
        client = self.client(partner)
        client.delete_object(Bucket=channel.bucket, Key=f"{location}.reason.txt")  # S3 deletes a missing key quietly
        return self._delete(client, channel.bucket, location)

    def delete_outbox(self, partner: str, name: str) -> bool:
        channel = self._channel(partner)
        return self._delete(self.client(partner), channel.bucket, channel.outbox_prefix + safe_name(name))

    @staticmethod
    def _delete(client: Any, bucket: str, key: str) -> bool:
        """Delete ``key``; False when it was not there (a DELETE says nothing of that: HEAD first)."""
        try:
            client.head_object(Bucket=bucket, Key=key)
        except Exception as error:
            if _is(error, *_MISSING):
                return False
            raise
        client.delete_object(Bucket=bucket, Key=key)
        return True

    # --- helpers --------------------------------------------------------------------------

    def _move(self, claimed: ClaimedFile, area_prefix: str) -> str:
        channel = self._channel(claimed.inbound.partner)
        client = self.client(claimed.inbound.partner)
        day = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
        target = f"{area_prefix}{day}/{safe_name(claimed.location.rsplit('/', 1)[-1])}"
        size = int(client.head_object(Bucket=channel.bucket, Key=claimed.location)["ContentLength"])
        self._copy(client, channel.bucket, claimed.location, target, size)
        client.delete_object(Bucket=channel.bucket, Key=claimed.location)
        return target

    @staticmethod
    def _copy(
        client: Any,
        bucket: str,
        source: str,
        target: str,
        size: int,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> None:
        conditions: dict[str, str] = {}
        if if_match:
            conditions["CopySourceIfMatch"] = if_match
        if if_none_match:
            conditions["IfNoneMatch"] = "*"
        if size <= SINGLE_COPY_LIMIT:
            client.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": source}, **conditions)
        else:  # managed multipart copy (IfNoneMatch is not carried: S3 checks it on completion only)
            extra = {k: v for k, v in conditions.items() if k == "CopySourceIfMatch"}
            client.copy({"Bucket": bucket, "Key": source}, bucket, target, ExtraArgs=extra)
