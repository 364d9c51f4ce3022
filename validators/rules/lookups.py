"""What the business rules ask the portal, as a protocol the rules own.

    from validators.rules.lookups import portal_context
    context = portal_context(lookups)           # history + delegation, today, shipped reference data
    violations = check_declaration(declaration, context)

The gateway answers ``PortalLookups`` with its portal client
(``gateway.portal_lookups.PortalClientLookups``), so the rules know nothing of HTTP. A portal
that cannot be reached makes a lookup raise ``ContextUnavailable``: the rules that need it are
skipped and the portal enforces the same checks when the declaration is posted.
"""

from __future__ import annotations

from typing import Any, Protocol

from validators.rules.base import RuleContext, TransactionHistory


class PortalLookups(Protocol):
    """The portal's answers the version-history and delegation rules need.

    Both methods raise ``ContextUnavailable`` when the portal cannot answer.
    """

    def history(self, transaction_number: str) -> TransactionHistory | None:
        """The portal's accepted versions of a transaction; None when it knows none."""

    def delegation_active(self, importer: str, declarant: str) -> bool:
        """True when the declarant (broker account) holds an active delegation from the importer."""


def portal_context(lookups: PortalLookups, **overrides: Any) -> RuleContext:
    """A full context: the portal's history and delegations, plus ``overrides``
    (``reference``, ``today``, ``portal_prechecks``, ``warnings``)."""
    return RuleContext(history=lookups.history, delegation=lookups.delegation_active, **overrides)
