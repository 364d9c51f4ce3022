"""Local folders, the embedded default: ``<root>/<partner>/{inbox,outbox,archive,quarantine,processing}``.

Claiming is an atomic ``rename`` into ``processing/`` under a claim id, so two
workers never own one file. Acknowledgements are written to a hidden temporary
name in the outbox (``.<name>.<8 hex>.part``) and renamed into place; a write cut
short by a SIGKILL leaves its temporary behind, which ``sweep_temporaries`` removes
once it is older than a lease.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from transports.base import ClaimedFile, InboundFile, new_claim_id

AREAS = ("inbox", "outbox", "archive", "quarantine", "processing")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
TEMPORARY = re.compile(r"^\.[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.[0-9a-f]{8}\.part$")
"""The hidden name of an atomic write in progress (``temporary_name``), and nothing else."""


def temporary_name(final: str) -> str:
    """The hidden name ``final`` (a ``safe_name``) is written under before it is renamed into place."""
    return f".{final}.{uuid.uuid4().hex[:8]}.part"


def is_plain_name(name: str) -> bool:
    """A file name that names nothing outside its folder: no path separator,
    no ``..``, no leading dot, no control character."""
    return (
        bool(name)
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".")
        and all(ord(char) >= 32 for char in name)
    )


def safe_name(name: str) -> str:
    """A file name that cannot leave its folder: anything else is replaced by ``_``."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "unnamed"
    return cleaned[:200] if _SAFE_NAME.match(cleaned[:200]) else "unnamed"


class LocalFolderTransport:
    def __init__(self, root: Path) -> None:
        self.root = root

    def area(self, partner: str, area: str) -> Path:
        path = self.root / safe_name(partner) / area
        path.mkdir(parents=True, exist_ok=True)
        return path

    def ensure_partner(self, partner: str) -> None:
        for area in AREAS:
            self.area(partner, area)

    def partners(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "inbox").is_dir())

    def list_inbox(self, partner: str) -> list[InboundFile]:
        inbox = self.area(partner, "inbox")
        files = []
        for entry in sorted(os.scandir(inbox), key=lambda e: e.name):
            if entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
                status = entry.stat(follow_symlinks=False)
                files.append(InboundFile(partner, entry.name, status.st_size, status.st_mtime))
        return files

    def claim(self, inbound: InboundFile, claim_id: str | None = None) -> ClaimedFile | None:
        claim_id = claim_id or new_claim_id()
        source = self.area(inbound.partner, "inbox") / inbound.name
        target = self._claimed(inbound, claim_id)
        try:
            os.rename(source, target)
        except FileNotFoundError:
            return None
        return ClaimedFile(inbound, claim_id, str(target))

    def reclaim(self, inbound: InboundFile, claim_id: str) -> ClaimedFile | None:
        target = self._claimed(inbound, claim_id)
        return ClaimedFile(inbound, claim_id, str(target)) if target.is_file() else None

    def _claimed(self, inbound: InboundFile, claim_id: str) -> Path:
        return self.area(inbound.partner, "processing") / f"{claim_id}__{safe_name(inbound.name)}"

    def open(self, claimed: ClaimedFile) -> BinaryIO:
        return open(claimed.location, "rb")

    @contextmanager
    def write_outbox(self, partner: str, name: str) -> Iterator[BinaryIO]:
        outbox = self.area(partner, "outbox")
        final = outbox / safe_name(name)
        temporary = outbox / temporary_name(final.name)
        try:
            with open(temporary, "wb") as stream:
                yield stream
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)

    def sweep_temporaries(self, partner: str, older_than: float) -> list[str]:
        """Remove the outbox's temporaries (``TEMPORARY``) not written to for ``older_than``
        seconds: their writer was killed; the names removed."""
        outbox = self.area(partner, "outbox")
        cutoff = time.time() - older_than
        swept = []
        for entry in os.scandir(outbox):
            if TEMPORARY.match(entry.name) and entry.is_file(follow_symlinks=False):
                with suppress(FileNotFoundError):  # another run's sweep took it first
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        swept.append(entry.name)
        return sorted(swept)

    def read_outbox(self, partner: str, name: str) -> BinaryIO | None:
        try:
            return open(self.area(partner, "outbox") / safe_name(name), "rb")
        except FileNotFoundError:
            return None

    def _file_away(self, claimed: ClaimedFile, area: str) -> str:
        day = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
        folder = self.area(claimed.inbound.partner, area) / day
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / Path(claimed.location).name
        os.replace(claimed.location, target)
        return str(target)

    def archive(self, claimed: ClaimedFile) -> str:
        return self._file_away(claimed, "archive")

    def quarantine(self, claimed: ClaimedFile, reason: str) -> str:
        target = self._file_away(claimed, "quarantine")
        Path(target + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        return target

    def delete_filed(self, partner: str, location: str) -> bool:
        """Delete an original under archive/ or quarantine/ (and its reason), then the day
        folders it leaves empty."""
        areas = [self.area(partner, area).resolve() for area in ("archive", "quarantine")]
        path = Path(location).resolve()
        if not any(path.is_relative_to(area) and path != area for area in areas):
            raise ValueError(f"{location} is not in the archive or quarantine of {partner}")
        Path(f"{path}.reason.txt").unlink(missing_ok=True)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        for folder in path.parents:
            if folder in areas:
                break
            try:
                folder.rmdir()
            except OSError:  # not empty: other files of that day are kept
                break
        return True

    def delete_outbox(self, partner: str, name: str) -> bool:
        try:
            (self.area(partner, "outbox") / safe_name(name)).unlink()
        except FileNotFoundError:
            return False
        return True

    def release(self, claimed: ClaimedFile) -> None:
        os.replace(claimed.location, self.area(claimed.inbound.partner, "inbox") / claimed.inbound.name)
