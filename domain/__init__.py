"""The CARM domain model: declarations, identities and outcomes. Knows no file format."""

from domain.declaration import (
    Amendment,
    Declaration,
    DeclarationFunction,
    DeclarationLine,
    Invoice,
    Party,
    Vendor,
)
from domain.outcome import AssessedLine, DeclarationOutcome, OutcomeStatus, PortalError

__all__ = [
    "Amendment",
    "AssessedLine",
    "Declaration",
    "DeclarationFunction",
    "DeclarationLine",
    "DeclarationOutcome",
    "Invoice",
    "OutcomeStatus",
    "Party",
    "PortalError",
    "Vendor",
]
