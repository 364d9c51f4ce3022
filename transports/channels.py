"""Where a partner's files live: the channel models of the partner registry.

``local`` (a folder, relative paths are taken under ``data_dir``), ``sftp`` (an Airflow SFTP
connection id and remote directories) and ``s3`` (an Airflow AWS connection id, a bucket and key
prefixes). The registry (``gateway.partners``) names one per partner; the transports read them.
Credentials never live here: they are in the Airflow connections (docs/transports.md).
"""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _ChannelModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative_remote_dir(value: str) -> str:
    """A remote directory: absolute or relative to the login directory, never with ``..``."""
    if not value or "\\" in value or "\x00" in value:
        raise ValueError("must be a non-empty POSIX path")
    if ".." in PurePosixPath(value).parts:
        raise ValueError("must not contain '..'")
    normalized = posixpath.normpath(value)
    if normalized in (".", "/"):
        raise ValueError("must name a directory below the login or root directory")
    return normalized


def _prefix(value: str) -> str:
    """An S3 key prefix: no leading slash, no ``..`` or ``.`` segments, ending with ``/``."""
    stripped = value.strip("/")
    if not stripped:
        raise ValueError("must not be empty (use e.g. 'inbox/')")
    parts = stripped.split("/")
    if any(part in ("", ".", "..") for part in parts) or "\\" in stripped:
        raise ValueError("must be plain segments separated by '/', without '.', '..' or '//'")
    return stripped + "/"


class LocalChannel(_ChannelModel):
    """A folder holding inbox/, outbox/, archive/, quarantine/ and processing/."""

    type: Literal["local"] = "local"
    path: Path = Field(description="The partner's folder; relative paths are under settings.data_dir.")

    def folder(self, data_dir: Path) -> Path:
        return self.path if self.path.is_absolute() else data_dir / self.path


class SftpChannel(_ChannelModel):
    """Directories on an SFTP server reached through an Airflow SFTP connection."""

    type: Literal["sftp"] = "sftp"
    connection_id: Annotated[str, Field(min_length=1)]
    inbox: str = "inbox"
    outbox: str = "outbox"
    archive: str = "archive"
    quarantine: str = "quarantine"
    processing: str = "processing"

    _check_dirs = field_validator("inbox", "outbox", "archive", "quarantine", "processing")(_relative_remote_dir)

    @model_validator(mode="after")
    def _distinct(self) -> SftpChannel:
        dirs = [self.inbox, self.outbox, self.archive, self.quarantine, self.processing]
        if len(set(dirs)) != len(dirs):
            raise ValueError(f"inbox, outbox, archive, quarantine and processing must be distinct directories: {dirs}")
        return self

    def areas(self) -> dict[str, str]:
        return {a: getattr(self, a) for a in ("inbox", "outbox", "archive", "quarantine", "processing")}


class S3Channel(_ChannelModel):
    """Key prefixes in one bucket reached through an Airflow AWS connection."""

    type: Literal["s3"] = "s3"
    connection_id: Annotated[str, Field(min_length=1)]
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    inbox_prefix: str = "inbox/"
    outbox_prefix: str = "outbox/"
    archive_prefix: str = "archive/"
    quarantine_prefix: str = "quarantine/"
    processing_prefix: str = "processing/"

    _check_prefixes = field_validator(
        "inbox_prefix", "outbox_prefix", "archive_prefix", "quarantine_prefix", "processing_prefix"
    )(_prefix)

    @model_validator(mode="after")
    def _disjoint(self) -> S3Channel:
        # A prefix inside another would make e.g. the inbox listing see the processing area.
        prefixes = self.areas()
        for name, prefix in prefixes.items():
            for other_name, other in prefixes.items():
                if name != other_name and other.startswith(prefix):
                    raise ValueError(f"{other_name} {other!r} lies inside {name} {prefix!r}: prefixes must be disjoint")
        return self

    def areas(self) -> dict[str, str]:
        return {a: getattr(self, f"{a}_prefix") for a in ("inbox", "outbox", "archive", "quarantine", "processing")}


Channel = Annotated[LocalChannel | SftpChannel | S3Channel, Field(discriminator="type")]
