"""The CARM domain model: declarations, identities and outcomes. Knows no file format."""

from domain.declaration import (
    Amendment,
    Declaration,
    DeclarationFunction,
    DeclarationLine,
    ExciseCharge,
    Invoice,
    Party,
    Vendor,
)
from domain.outcome import AssessedCharge, AssessedLine, DeclarationOutcome, OutcomeStatus, PortalError
from domain.payment import (
    Application,
    Payment,
    PaymentChannel,
    PaymentOutcome,
    PaymentStatus,
    RemittanceItem,
    Statement,
)

__all__ = [
    "Amendment",
    "Application",
    "AssessedCharge",
    "AssessedLine",
    "Declaration",
    "DeclarationFunction",
    "DeclarationLine",
    "DeclarationOutcome",
    "ExciseCharge",
    "Invoice",
    "OutcomeStatus",
    "Party",
    "Payment",
    "PaymentChannel",
    "PaymentOutcome",
    "PaymentStatus",
    "PortalError",
    "RemittanceItem",
    "Statement",
    "Vendor",
]
