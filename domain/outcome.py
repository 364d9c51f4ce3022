"""What the portal answers for one declaration version.

Status codes follow CARM's CAD-OUT ``Response/Status/NameCode`` where known
(200 functional acknowledgement, 41 rejected, 42 pending, 400 syntax, 412 sender
mismatch, 415 unknown partner, 503 schema error); CARM's code for "accepted" is not
public, we use 40 (docs/decisions.md). 200 and 42 are not final: CARM answers again
later (the gateway queries the version until it does).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class OutcomeStatus(StrEnum):
    ACCEPTED = "40"
    REJECTED = "41"
    PENDING = "42"
    SYNTAX_ERROR = "400"
    SENDER_MISMATCH = "412"
    UNKNOWN_PARTNER = "415"
    ACKNOWLEDGED = "200"  # CARM's functional acknowledgement: received, not yet decided
    SCHEMA_ERROR = "503"  # CARM's XSD validation error: a final rejection, not a transport failure

    @property
    def accepted(self) -> bool:
        return self is OutcomeStatus.ACCEPTED

    @property
    def final(self) -> bool:
        """False while CARM has yet to decide (200, 42): the answer to the partner waits."""
        return self not in (OutcomeStatus.ACKNOWLEDGED, OutcomeStatus.PENDING)


class PortalError(BaseModel):
    """A business error with a CARM-style validation code and a pointer to the
    offending field (a domain path such as ``lines[1].hs_code``)."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    pointer: str | None = None


_ZERO = Decimal("0.00")


class AssessedCharge(BaseModel):
    """One excise duty or excise tax of a line, by its code (CN 24-35)."""

    model_config = ConfigDict(frozen=True)

    code: str
    kind: str  # "duty" (Excise Act, 2001) or "tax" (Excise Tax Act)
    amount: Decimal


class AssessedLine(BaseModel):
    """Every amount of one line (duties.assessment). ``customs_duty`` is the ad valorem
    plus the specific duty; ``excise_tax`` the tariff's ad valorem excise plus every
    coded excise tax, ``excise_duty`` every coded excise duty (``excise`` lists them).
    The fields after ``gst`` came with the full set of duties and taxes: stored
    answers without them read as zero."""

    model_config = ConfigDict(frozen=True)

    line_number: int
    value_for_duty: Decimal
    customs_duty: Decimal
    excise_tax: Decimal
    value_for_tax: Decimal
    gst: Decimal
    specific_duty: Decimal = _ZERO
    specific_rate: Decimal | None = None  # CAD per specific_unit, the tariff's
    specific_unit: str | None = None
    excise_duty: Decimal = _ZERO
    excise: list[AssessedCharge] = Field(default_factory=list)
    anti_dumping_duty: Decimal = _ZERO
    countervailing_duty: Decimal = _ZERO
    surtax: Decimal = _ZERO
    surtax_code: str | None = None
    safeguard: Decimal = _ZERO
    safeguard_code: str | None = None
    gst_status_code: str | None = None


class DeclarationOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    transaction_number: str
    version: int
    status: OutcomeStatus
    received_at: datetime | None = None
    lines: list[AssessedLine] = Field(default_factory=list)
    total_duty: Decimal = Decimal("0.00")
    total_excise: Decimal = Decimal("0.00")
    total_gst: Decimal = Decimal("0.00")
    total_excise_duty: Decimal = _ZERO
    total_anti_dumping: Decimal = _ZERO
    total_countervailing: Decimal = _ZERO
    total_surtax: Decimal = _ZERO
    total_safeguard: Decimal = _ZERO
    errors: list[PortalError] = Field(default_factory=list)
    warnings: list[PortalError] = Field(
        default_factory=list,
        exclude_if=lambda found: not found,
        description="What an accepted declaration should heed (RPP security, portal/rpp.py); left out when none",
    )
    tariff_version: str | None = None  # the tariff the assessment used (an accepted outcome)

    @property
    def total_due(self) -> Decimal:
        return sum((getattr(self, name) for name in TOTALS), _ZERO)


TOTALS = (
    "total_duty",
    "total_excise",
    "total_excise_duty",
    "total_anti_dumping",
    "total_countervailing",
    "total_surtax",
    "total_safeguard",
    "total_gst",
)
"""Every total of a ``DeclarationOutcome``; the amount due is their sum."""

LINE_AMOUNTS = {
    "total_duty": "customs_duty",
    "total_excise": "excise_tax",
    "total_excise_duty": "excise_duty",
    "total_anti_dumping": "anti_dumping_duty",
    "total_countervailing": "countervailing_duty",
    "total_surtax": "surtax",
    "total_safeguard": "safeguard",
    "total_gst": "gst",
}
"""Each total and the ``AssessedLine`` amount it sums."""
