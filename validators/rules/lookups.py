"""Context lookups backed by the portal API (``portal.client.PortalClient``).

    from validators.rules.lookups import portal_context
    context = portal_context(client)            # history + delegation, today, shipped reference data
    violations = check_declaration(declaration, context)

A portal that cannot be reached makes the lookups raise ``ContextUnavailable``: the rules
that need them are skipped and the portal enforces the same checks when the declaration
is posted.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from validators.rules.base import ContextUnavailable, RuleContext, TransactionHistory

if TYPE_CHECKING:
    from portal.client import PortalClient


def portal_history(client: PortalClient) -> Any:
    """A ``HistoryLookup``: GET /v1/declarations/{n} (+ version 1 for its release date)."""
    from portal.client import PortalRequestError, PortalUnavailable

    def lookup(transaction_number: str) -> TransactionHistory | None:
        try:
            record = client.get_declaration(transaction_number)
            versions = sorted(summary["version"] for summary in record["versions"])
            first = record["latest"] if versions[0] == record["latest"]["version"] else client.get_version(transaction_number, versions[0])
        except PortalRequestError as error:
            if error.status_code == 404:
                return None
            raise ContextUnavailable(str(error)) from error
        except PortalUnavailable as error:
            raise ContextUnavailable(str(error)) from error
        return TransactionHistory(
            transaction_number=transaction_number,
            latest_version=record["latest"]["version"],
            cancelled=bool(record["cancelled"]),
            release_date=dt.date.fromisoformat(first["declaration"]["release_date"]),
        )

    return lookup


def portal_delegation(client: PortalClient) -> Any:
    """A ``DelegationLookup``: ``client.delegation_active`` (cached by the client)."""
    from portal.client import PortalRequestError, PortalUnavailable

    def lookup(importer: str, declarant: str) -> bool:
        try:
            return client.delegation_active(importer, declarant)
        except (PortalRequestError, PortalUnavailable) as error:
            raise ContextUnavailable(str(error)) from error

    return lookup


def portal_context(client: PortalClient, **overrides: Any) -> RuleContext:
    """A full context: the portal's history and delegations, plus ``overrides``
    (``reference``, ``today``, ``portal_prechecks``, ``warnings``)."""
    return RuleContext(history=portal_history(client), delegation=portal_delegation(client), **overrides)
