"""What the portal answers for one declaration version.

Status codes follow CARM's CAD-OUT ``Response/Status/NameCode`` where known
(41 rejected, 42 pending, 400 syntax, 412 sender mismatch, 415 unknown
partner); CARM's code for "accepted" is not public, we use 40 (docs/decisions.md).
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

    @property
    def accepted(self) -> bool:
        return self is OutcomeStatus.ACCEPTED


class PortalError(BaseModel):
    """A business error with a CARM-style validation code and a pointer to the
    offending field (a domain path such as ``lines[1].hs_code``)."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    pointer: str | None = None


class AssessedLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_number: int
    value_for_duty: Decimal
    customs_duty: Decimal
    excise_tax: Decimal
    value_for_tax: Decimal
    gst: Decimal


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
    errors: list[PortalError] = Field(default_factory=list)

    @property
    def total_due(self) -> Decimal:
        return self.total_duty + self.total_excise + self.total_gst
