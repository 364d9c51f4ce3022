"""The partner registry: who may send us what, over which channel, and how we answer.

A TOML file (``settings.partners_path``, default ``fixtures/partners.toml``)
validated by the pydantic models below. One ``[[partners]]`` table per
partner::

    [[partners]]
    id = "broker01"
    edifact_senders = [{ id = "BROKER01", qualifier = "ZZZ" }]
    xml_senders = ["BROKER01"]
    importer_accounts = ["123456782RM0001"]
    channel = { type = "sftp", connection_id = "partner_broker01_sftp", inbox = "inbox" }
    acknowledgements = { contrl = true, syntax_version = 4, charset = "UNOC" }
    uploads = { mode = "rename" }   # or { quiet_seconds = 10 }: when an upload is complete

Channels (``local``, ``sftp``, ``s3``) are the transports' models
(``transports.channels``). Credentials never live here: they are in the Airflow
connections. See docs/transports.md.
"""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.identifiers import bn9_valid, is_program_account
from transports.channels import Channel, LocalChannel, SftpChannel

PARTNER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# UNB 0004 / 0007 (an..35 / an..4) and our own limit on XML sender ids.
_SENDER_ID = Annotated[str, Field(min_length=1, max_length=35)]


class RegistryError(ValueError):
    """The registry file is missing, is not TOML, or does not validate; the message says where."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EdifactIdentity(_Model):
    """An interchange sender identification: UNB 0004 with its qualifier 0007 (None: sent without one)."""

    id: _SENDER_ID
    qualifier: Annotated[str, Field(min_length=1, max_length=4)] | None = None

    @field_validator("id", "qualifier")
    @classmethod
    def _no_syntax_characters(cls, value: str | None) -> str | None:
        if value is not None and (value != value.strip() or any(c in value for c in "+:'?*")):
            raise ValueError("must not have surrounding spaces or EDIFACT separators (+ : ' ? *)")
        return value

    def __str__(self) -> str:
        return f"{self.id}:{self.qualifier}" if self.qualifier else self.id


class AckPreferences(_Model):
    """How the partner wants to be answered. None: as in the interchange received."""

    contrl: bool = Field(default=True, description="Send a CONTRL for every interchange (rejections are always sent).")
    syntax_version: Literal[3, 4] | None = None
    charset: Literal["UNOA", "UNOB", "UNOC", "UNOD", "UNOE", "UNOF", "UNOW", "UNOY"] | None = None


class Uploads(_Model):
    """When a file the partner uploads is complete and may be claimed (docs/transports.md, "Complete files only")."""

    mode: Literal["in_place", "rename"] = Field(
        default="in_place",
        description="in_place: written under its final name, claimed once it held still for quiet_seconds; "
        "rename: uploaded under a temporary name and renamed when done, so a listed file is claimed at once.",
    )
    quiet_seconds: Annotated[float, Field(ge=0, le=300)] | None = Field(
        default=None, description="in_place: seconds the size and modification time must hold still (None: settings)."
    )
    temporary_names: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["*.part", "*.filepart", "*.partial", "*.tmp"],
        description="Names (glob patterns, any case) of uploads in progress: never claimed. A leading dot always is one.",
    )

    @model_validator(mode="after")
    def _quiet_for_in_place(self) -> Uploads:
        if self.mode == "rename" and self.quiet_seconds is not None:
            raise ValueError("quiet_seconds applies to mode 'in_place' only: a renamed upload is complete at once")
        return self


class Partner(_Model):
    id: Annotated[str, Field(pattern=PARTNER_ID_PATTERN)]
    name: str | None = None
    edifact_senders: list[EdifactIdentity] = Field(default_factory=list)
    xml_senders: list[_SENDER_ID] = Field(default_factory=list)
    importer_accounts: list[str] = Field(
        default_factory=list, description="RM program accounts (BN15) it may file for."
    )
    channel: Channel
    acknowledgements: AckPreferences = AckPreferences()
    uploads: Uploads = Uploads()
    edifact_line_breaks: Literal["layout", "data"] = Field(
        default="layout",
        description="CR/LF inside EDIFACT segments: layout to drop (wrapped files), or data the partner really sends.",
    )
    max_file_bytes: int | None = Field(
        default=None, ge=1, description="Larger files are refused unread; None: settings.max_file_bytes."
    )
    max_failed_attempts: int | None = Field(
        default=None, ge=1, description="Internal errors before a file is failed; None: settings.max_failed_attempts."
    )
    retention_years: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Full calendar years after the year of receipt that its files are kept; None: settings.retention_years.",
    )
    expected_interval_minutes: float | None = Field(
        default=None,
        gt=0,
        description="The partner sends at least one file this often: longer without one, an alert says it is silent "
        "(once per silence); None: no expectation.",
    )

    @field_validator("importer_accounts")
    @classmethod
    def _rm_accounts(cls, accounts: list[str]) -> list[str]:
        for account in accounts:
            if not is_program_account(account, "RM"):
                raise ValueError(f"{account!r} is not an RM program account (9 digits, 'RM', 4 digits)")
            if not bn9_valid(account[:9]):
                raise ValueError(f"{account!r}: the business number {account[:9]} fails its check digit")
        return accounts

    @model_validator(mode="after")
    def _some_identity(self) -> Partner:
        if not self.edifact_senders and not self.xml_senders:
            raise ValueError(f"partner {self.id!r} has no edifact_senders and no xml_senders: it could send nothing")
        return self


class PartnerRegistry(_Model):
    partners: list[Partner] = Field(min_length=1)

    @model_validator(mode="after")
    def _unambiguous(self) -> PartnerRegistry:
        seen: dict[str, str] = {}
        for partner in self.partners:
            if partner.id in seen:
                raise ValueError(f"partner id {partner.id!r} appears twice")
            seen[partner.id] = partner.id
        owners: dict[tuple[str, str | None], str] = {}
        for partner in self.partners:
            for identity in partner.edifact_senders:
                key = (identity.id, identity.qualifier)
                if key in owners and owners[key] != partner.id:
                    raise ValueError(f"EDIFACT sender {identity} is claimed by both {owners[key]!r} and {partner.id!r}")
                owners[key] = partner.id
        areas: dict[tuple[str, ...], str] = {}
        for partner in self.partners:
            for area in _channel_area_keys(partner.channel):
                if area in areas:
                    raise ValueError(
                        f"partners {areas[area]!r} and {partner.id!r} share the channel area {'/'.join(area[1:])}"
                    )
                areas[area] = partner.id
        return self

    def __iter__(self) -> Iterator[Partner]:  # type: ignore[override]  # the registry iterates its partners, not pydantic's (field, value) pairs
        return iter(self.partners)

    def ids(self) -> list[str]:
        return [p.id for p in self.partners]

    def channels(self) -> dict[str, Channel]:
        """Partner id → its channel, what the transports need of the registry."""
        return {p.id: p.channel for p in self.partners}

    def get(self, partner_id: str) -> Partner:
        for partner in self.partners:
            if partner.id == partner_id:
                return partner
        raise KeyError(f"no partner {partner_id!r} in the registry")


def _channel_area_keys(channel: Channel) -> list[tuple[str, ...]]:
    """Identities of the places a channel writes to; two partners must never share one."""
    if isinstance(channel, LocalChannel):
        return [("local", str(channel.path))]
    if isinstance(channel, SftpChannel):
        return [("sftp", channel.connection_id, d) for d in channel.areas().values()]
    return [("s3", channel.connection_id, channel.bucket, p) for p in channel.areas().values()]


def _format_errors(error: ValidationError, data: object) -> str:
    """One line per problem: ``partners[1] (id 'broker02').channel.sftp.inbox: message``."""
    lines = []
    for item in error.errors():
        location = ""
        for part in item["loc"]:
            location += f"[{part}]" if isinstance(part, int) else f".{part}" if location else str(part)
        loc = item["loc"]
        if len(loc) >= 2 and loc[0] == "partners" and isinstance(loc[1], int) and isinstance(data, dict):
            with contextlib.suppress(KeyError, IndexError, TypeError):
                location = location.replace(
                    f"partners[{loc[1]}]", f"partners[{loc[1]}] (id {data['partners'][loc[1]]['id']!r})", 1
                )
        lines.append(f"  {location or '(top level)'}: {item['msg']}")
    return "\n".join(lines)


def parse_registry(text: str, source: str = "<registry>") -> PartnerRegistry:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RegistryError(f"{source}: not valid TOML: {error}") from None
    try:
        return PartnerRegistry.model_validate(data)
    except ValidationError as error:
        raise RegistryError(f"{source}: invalid partner registry:\n{_format_errors(error, data)}") from None


def load_registry(path: Path | str) -> PartnerRegistry:
    """Read and validate the registry; every problem is a ``RegistryError`` naming the file and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RegistryError(f"{path}: cannot read the partner registry: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise RegistryError(f"{path}: not UTF-8: {error}") from None
    return parse_registry(text, str(path))


def _norm(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def owns_sender(partner: Partner, sender_id: str | None, qualifier: str | None) -> bool:
    """True when ``partner`` may send interchanges as UNB 0004 ``sender_id`` with 0007 ``qualifier``.

    Exact, case-sensitive match of the id; the qualifier must match too (a
    configured identity without a qualifier matches only interchanges without one).
    """
    sender = _norm(sender_id)
    if sender is None:
        return False
    wanted = (sender, _norm(qualifier))
    return any((identity.id, identity.qualifier) == wanted for identity in partner.edifact_senders)


def owns_xml_sender(partner: Partner, sender_id: str | None) -> bool:
    """True when ``partner`` may send XML documents with this sender id."""
    sender = _norm(sender_id)
    return sender is not None and sender in partner.xml_senders


def may_file_for(partner: Partner, importer_account: str | None) -> bool:
    """True when ``partner`` may file for this importer RM account."""
    return importer_account is not None and importer_account.strip() in partner.importer_accounts
