"""Partner areas on an SFTP server, through Airflow's ``SFTPHook`` (credentials in the Airflow connection).

Per partner, an ``SftpChannel`` names the connection and five directories
(inbox, outbox, archive, quarantine, processing; absolute, or relative to the
login directory). Protocol (docs/transports.md):

* claim: ``posix-rename@openssh.com`` of ``inbox/<name>`` to
  ``processing/<claim id>__<safe name>``. That is rename(2) on the server, so of
  two workers renaming the same file exactly one succeeds; the other gets "no
  such file" and skips it.
* acknowledgements: written to ``outbox/.<name>.<random>.part``, then
  posix-renamed over ``outbox/<name>``: the partner sees the whole file or nothing.
  A writer killed (or cut off) mid-upload leaves its temporary behind;
  ``sweep_temporaries`` removes it once it is older than a lease.
* archive / quarantine: renamed into ``<area>/YYYY/MM/DD/``.

Remote names are never used as paths: a name from the inbox listing may only
be a single path component, every name we build goes through ``safe_name``,
and entries that are not regular files (directories, symlinks, devices) are
not listed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import io
import logging
import posixpath
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

from transports.base import ClaimedFile, InboundFile, new_claim_id
from transports.channels import SftpChannel
from transports.local import TEMPORARY, safe_name, temporary_name
from transports.remote_reader import RemoteReader

if TYPE_CHECKING:
    from paramiko import SFTPClient, SFTPFile

log = logging.getLogger(__name__)

HookFactory = Callable[[str], Any]  # connection id -> SFTPHook
READ_WINDOW = 1 << 20  # bytes fetched per pipelined round of SFTP reads


def default_hook_factory(connection_id: str) -> Any:
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    return SFTPHook(ssh_conn_id=connection_id)


def is_plain_name(name: str) -> bool:
    """A single path component we can address in a directory: no separators, not '.' or '..'."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\x00" not in name


class _SftpReader(RemoteReader):
    """A seekable, streaming view of a remote file: windows of ``READ_WINDOW`` bytes,
    each fetched with pipelined requests (paramiko ``readv``), so memory stays bounded
    however large the file is (paramiko's whole-file ``prefetch`` would buffer it all)."""

    def __init__(self, handle: SFTPFile, size: int, window: int = READ_WINDOW) -> None:
        super().__init__(size)
        self._handle = handle
        self._window = window
        self._buffer = b""
        self._buffer_start = 0

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        offset = self._pos - self._buffer_start
        if not 0 <= offset < len(self._buffer):
            length = min(self._window, self._size - self._pos)
            self._buffer = b"".join(self._handle.readv([(self._pos, length)]))
            self._buffer_start = self._pos
            offset = 0
            if not self._buffer:
                return 0
        view = memoryview(buffer)
        count = min(len(view), len(self._buffer) - offset)
        view[:count] = self._buffer[offset : offset + count]
        self._pos += count
        return count

    def close(self) -> None:
        if not self.closed:
            try:
                self._handle.close()
            finally:
                self._buffer = b""
                super().close()


class SftpTransport:
    """The ``Transport`` for partners whose channel is SFTP.

    One SFTP session per connection id, opened on first use and kept until
    ``close()`` (use the transport as a context manager). Not thread-safe: one
    transport per worker (a worker with files in flight wraps it in
    ``transports.serialized.SerializedTransport``).
    """

    def __init__(self, channels: Mapping[str, SftpChannel], hook_factory: HookFactory | None = None) -> None:
        self.channels = dict(channels)
        self._hook_factory = hook_factory or default_hook_factory
        self._stack = ExitStack()
        self._clients: dict[str, SFTPClient] = {}
        self._ready: set[str] = set()
        self._lock = threading.Lock()
        self._folders: set[tuple[str, str]] = set()  # (partner, dated folder) known to exist: no mkdir -p per file

    # --- sessions -------------------------------------------------------------------------

    def __enter__(self) -> SftpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._clients.clear()
        self._ready.clear()
        self._folders.clear()
        self._stack.close()

    def _channel(self, partner: str) -> SftpChannel:
        try:
            return self.channels[partner]
        except KeyError:
            raise KeyError(f"partner {partner!r} has no SFTP channel") from None

    def client(self, partner: str) -> SFTPClient:
        channel = self._channel(partner)
        with self._lock:
            client = self._clients.get(channel.connection_id)
            if client is None:
                hook = self._hook_factory(channel.connection_id)
                client = self._stack.enter_context(hook.get_managed_conn())
                self._clients[channel.connection_id] = client
            if partner not in self._ready:
                for directory in channel.areas().values():
                    _makedirs(client, directory)
                self._ready.add(partner)
        return client

    # --- the Transport protocol -----------------------------------------------------------

    def partners(self) -> list[str]:
        return sorted(self.channels)

    def list_inbox(self, partner: str) -> list[InboundFile]:
        client = self.client(partner)
        files = []
        for entry in client.listdir_attr(self._channel(partner).inbox):
            name = entry.filename
            if name.startswith(".") or not is_plain_name(name):
                continue  # hidden (uploads in progress by convention) or not addressable
            if entry.st_mode is None or not stat.S_ISREG(entry.st_mode):
                log.info("%s: skipping inbox entry %r: not a regular file", partner, name)
                continue
            files.append(InboundFile(partner, name, entry.st_size or 0, entry.st_mtime))
        return sorted(files, key=lambda f: f.name)

    def claim(self, inbound: InboundFile, claim_id: str | None = None) -> ClaimedFile | None:
        if not is_plain_name(inbound.name):
            log.warning("%s: refusing to claim %r: not a plain file name", inbound.partner, inbound.name)
            return None
        channel = self._channel(inbound.partner)
        client = self.client(inbound.partner)
        claim_id = claim_id or new_claim_id()
        source = posixpath.join(channel.inbox, inbound.name)
        target = posixpath.join(channel.processing, f"{claim_id}__{safe_name(inbound.name)}")
        try:
            client.posix_rename(source, target)
        except OSError as error:
            if _missing(error):
                return None  # another worker renamed it first
            raise
        attributes = client.lstat(target)
        if attributes.st_mode is None or not stat.S_ISREG(attributes.st_mode):
            # Swapped for a link or directory between listing and claim: never read through it.
            self._move(client, target, channel.quarantine, f"{target} is not a regular file")
            return None
        return ClaimedFile(inbound, claim_id, target)

    def reclaim(self, inbound: InboundFile, claim_id: str) -> ClaimedFile | None:
        channel = self._channel(inbound.partner)
        target = posixpath.join(channel.processing, f"{claim_id}__{safe_name(inbound.name)}")
        try:
            attributes = self.client(inbound.partner).lstat(target)
        except OSError as error:
            if _missing(error):
                return None
            raise
        if attributes.st_mode is None or not stat.S_ISREG(attributes.st_mode):
            return None
        return ClaimedFile(inbound, claim_id, target)

    def open(self, claimed: ClaimedFile) -> BinaryIO:
        client = self.client(claimed.inbound.partner)
        handle = client.open(claimed.location, "rb")
        size = handle.stat().st_size or 0
        return io.BufferedReader(_SftpReader(handle, size), buffer_size=64 * 1024)

    @contextmanager
    def write_outbox(self, partner: str, name: str) -> Iterator[BinaryIO]:
        channel = self._channel(partner)
        client = self.client(partner)
        with _atomic_write(client, channel.outbox, safe_name(name)) as stream:
            yield stream

    def sweep_temporaries(self, partner: str, older_than: float) -> list[str]:
        """Remove the outbox's temporaries (``transports.local.TEMPORARY``) not written to for
        ``older_than`` seconds; the names removed. The age is the server's modification time
        against this machine's clock: a server clock behind by more than ``older_than`` could
        take a live upload's temporary, whose rename then fails and the file is retried."""
        channel = self._channel(partner)
        client = self.client(partner)
        cutoff = time.time() - older_than
        swept = []
        for entry in client.listdir_attr(channel.outbox):
            if (
                TEMPORARY.match(entry.filename)
                and stat.S_ISREG(entry.st_mode or 0)
                and entry.st_mtime is not None
                and entry.st_mtime < cutoff
            ):
                try:
                    client.remove(posixpath.join(channel.outbox, entry.filename))
                except OSError as error:
                    if not _missing(error):  # another run's sweep took it first
                        raise
                    continue
                swept.append(entry.filename)
        return sorted(swept)

    def read_outbox(self, partner: str, name: str) -> BinaryIO | None:
        client = self.client(partner)
        try:
            handle = client.open(posixpath.join(self._channel(partner).outbox, safe_name(name)), "rb")
        except FileNotFoundError:
            return None
        return io.BufferedReader(_SftpReader(handle, handle.stat().st_size or 0), buffer_size=64 * 1024)

    def archive(self, claimed: ClaimedFile) -> str:
        partner = claimed.inbound.partner
        return self._move(partner, claimed.location, self._channel(partner).archive)

    def quarantine(self, claimed: ClaimedFile, reason: str) -> str:
        partner = claimed.inbound.partner
        return self._move(partner, claimed.location, self._channel(partner).quarantine, reason)

    def release(self, claimed: ClaimedFile) -> None:
        channel = self._channel(claimed.inbound.partner)
        client = self.client(claimed.inbound.partner)
        name = claimed.inbound.name if is_plain_name(claimed.inbound.name) else safe_name(claimed.inbound.name)
        try:
            # Plain SFTP rename refuses to overwrite: a new upload under the same name stays intact.
            client.rename(claimed.location, posixpath.join(channel.inbox, name))
        except OSError:
            client.posix_rename(
                claimed.location, posixpath.join(channel.inbox, f"{claimed.claim_id}__{safe_name(name)}")
            )

    def delete_filed(self, partner: str, location: str) -> bool:
        channel = self._channel(partner)
        normalized = posixpath.normpath(location)
        if normalized != location or not any(
            normalized.startswith(posixpath.normpath(area) + "/") for area in (channel.archive, channel.quarantine)
        ):
            raise ValueError(f"{location} is not in the archive or quarantine of {partner}")
        client = self.client(partner)
        with contextlib.suppress(FileNotFoundError):
            client.remove(f"{location}.reason.txt")
        try:
            client.remove(location)
        except FileNotFoundError:
            return False
        return True

    def delete_outbox(self, partner: str, name: str) -> bool:
        try:
            self.client(partner).remove(posixpath.join(self._channel(partner).outbox, safe_name(name)))
        except FileNotFoundError:
            return False
        return True

    # --- helpers --------------------------------------------------------------------------

    def _move(self, partner: str, location: str, area: str, reason: str | None = None) -> str:
        """Into the area's folder of the day. The folder is made (``mkdir -p``: a stat per
        component) the first time a session moves a file there; after that the move is
        one rename, unless the folder has gone (removed on the server): then it is made again."""
        client = self.client(partner)
        folder = posixpath.join(area, dt.datetime.now(dt.UTC).strftime("%Y/%m/%d"))
        target = posixpath.join(folder, safe_name(posixpath.basename(location)))
        if (partner, folder) not in self._folders:
            _makedirs(client, folder)
            self._folders.add((partner, folder))
        try:
            client.posix_rename(location, target)
        except OSError as error:
            if not _missing(error):
                raise
            self._folders.discard((partner, folder))
            _makedirs(client, folder)  # a missing original still fails the rename below, as before
            self._folders.add((partner, folder))
            client.posix_rename(location, target)
        if reason is not None:
            with _atomic_write(client, folder, f"{posixpath.basename(target)}.reason.txt") as out:
                out.write(reason.encode("utf-8", "replace") + b"\n")
        return target


def _missing(error: OSError) -> bool:
    return isinstance(error, FileNotFoundError) or error.errno == errno.ENOENT


def _makedirs(client: SFTPClient, directory: str) -> None:
    """``mkdir -p`` over SFTP (each missing component; racing creators are fine)."""
    path = "/" if directory.startswith("/") else ""
    for part in [p for p in directory.split("/") if p]:
        path = posixpath.join(path, part) if path else part
        try:
            attributes = client.stat(path)
        except OSError as error:
            if not _missing(error):
                raise
            try:
                client.mkdir(path)
            except OSError:
                if not stat.S_ISDIR(client.stat(path).st_mode or 0):
                    raise
        else:
            if not stat.S_ISDIR(attributes.st_mode or 0):
                raise NotADirectoryError(f"SFTP path {path!r} exists and is not a directory")


@contextmanager
def _atomic_write(client: SFTPClient, directory: str, name: str) -> Iterator[BinaryIO]:
    """Write to a hidden temporary name, then posix-rename over the final name."""
    final = posixpath.join(directory, safe_name(name))
    temporary = posixpath.join(directory, temporary_name(safe_name(name)))
    done = False
    try:
        with client.open(temporary, "wb") as handle:
            handle.set_pipelined(True)  # one round trip per write is ~30x slower
            yield handle
            handle.flush()  # before close(), which then waits for every pipelined write's status
            written = handle.tell()
        size = client.stat(temporary).st_size
        if size != written:
            raise OSError(f"SFTP write of {final} incomplete: {size} of {written} bytes")
        client.posix_rename(temporary, final)
        done = True
    finally:
        if not done:
            with contextlib.suppress(OSError):
                client.remove(temporary)
