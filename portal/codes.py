"""Every validation code the portal answers, in one place.

CARM publishes very few of its ValidationCodes; the only public one we use is
``077`` (carm-brief §3). All ``P`` codes are our own choice and are listed in
docs/portal-api.md: ``P0xx`` request problems, ``P1xx`` version rules (with the
adjustments and their decisions), ``P2xx`` classification, ``P3xx`` parties.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.outcome import PortalError


@dataclass(frozen=True)
class ValidationCode:
    code: str
    title: str

    def error(self, pointer: str | None = None, message: str | None = None) -> PortalError:
        """A ``PortalError`` with this code; ``message`` defaults to the title."""
        return PortalError(code=self.code, message=message or self.title, pointer=pointer)


# CARM's public code (carm-brief §3).
NOT_FOUND = ValidationCode("077", "No Data Found or Access Denied")

# Request problems (our choices).
SCHEMA_INVALID = ValidationCode("P001", "The request does not match the declaration schema")
IDEMPOTENCY_KEY_MISSING = ValidationCode("P002", "The Idempotency-Key header is required")
IDEMPOTENCY_KEY_REUSED = ValidationCode("P003", "The Idempotency-Key was already used with a different request body")
API_KEY_INVALID = ValidationCode("P004", "The x-api-key header is missing or invalid")
TRY_AGAIN = ValidationCode("P005", "Concurrent writes on this transaction; retry with the same key")
ONE_DECLARATION = ValidationCode("P006", "The CAD API takes one Declaration per call (CAD-IN, /carm/v1/cad)")

# Version rules.
ORIGINAL_NOT_VERSION_1 = ValidationCode("P101", "An original declaration must be version 1")
TRANSACTION_EXISTS = ValidationCode("P102", "The transaction number already exists")
TRANSACTION_UNKNOWN = ValidationCode("P103", "The transaction number does not exist")
VERSION_NOT_NEXT = ValidationCode("P104", "The version must be the latest version + 1")
TRANSACTION_CANCELLED = ValidationCode("P105", "The transaction has been cancelled")
AMENDMENT_MISSING = ValidationCode("P106", "A change must carry an amendment with a reason code")
ADJUSTMENT_PENDING = ValidationCode(
    "P107", "An adjustment of the transaction awaits an operator's decision: no other version until it is decided"
)
REASON_CODE_UNKNOWN = ValidationCode("P108", "The reason code is not a D17-2-1 Appendix A reason code")
REASON_CODE_RESERVED = ValidationCode("P109", "The reason code is reserved to CBSA (D17-2-1 Appendix A)")

# Operators' decisions on adjustments (docs/portal-api.md "Adjustments").
NOT_PENDING = ValidationCode("P110", "The version is not an adjustment awaiting a decision")
DECIDED_OTHERWISE = ValidationCode("P111", "The adjustment was already decided the other way")
REFUSAL_NOTE_MISSING = ValidationCode("P112", "A refusal needs a note saying why")
ADJUSTMENT_REFUSED = ValidationCode("P120", "The adjustment was refused by CBSA")

# Classification.
HS_CODE_UNKNOWN = ValidationCode("P201", "The HS code is not in the tariff")
TARIFF_TREATMENT_UNKNOWN = ValidationCode("P202", "The tariff treatment code is unknown")

# Parties.
IMPORTER_NOT_RM = ValidationCode("P301", "The importer account must be an RM program account")

# Sender and delegation (CARM's status/validation pairs, carm-brief §3 and §6).
SENDER_MISMATCH = ValidationCode(
    "69", "Sender ID inconsistent with the declaration: the declarant holds no active delegation from the importer"
)
UNKNOWN_PARTNER = ValidationCode("90", "Trading partner profile does not exist: the declarant is not registered")
PARTY_UNKNOWN = ValidationCode("P302", "The importer or broker is not registered with the portal")
DELEGATION_DATES = ValidationCode("P303", "A delegation's valid_to is before its valid_from")
