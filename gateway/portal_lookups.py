"""The business rules' portal lookups (``validators.rules.lookups.PortalLookups``) answered
by the gateway's portal client.

A transaction the portal does not know (404) has no history; any other refusal, and a portal
that cannot be reached, is ``ContextUnavailable``: the rule is skipped and the portal enforces.
"""

from __future__ import annotations

import datetime as dt

from portal.client import PortalClient, PortalRequestError, PortalUnavailable
from validators.rules.base import ContextUnavailable, TransactionHistory


class PortalClientLookups:
    def __init__(self, client: PortalClient) -> None:
        self._client = client

    def history(self, transaction_number: str) -> TransactionHistory | None:
        """GET /v1/declarations/{n} (+ version 1 for its release date)."""
        client = self._client
        try:
            record = client.get_declaration(transaction_number)
            versions = sorted(summary["version"] for summary in record["versions"])
            first = (
                record["latest"]
                if versions[0] == record["latest"]["version"]
                else client.get_version(transaction_number, versions[0])
            )
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

    def delegation_active(self, importer: str, declarant: str) -> bool:
        """``PortalClient.delegation_active`` (cached by the client)."""
        try:
            return self._client.delegation_active(importer, declarant)
        except (PortalRequestError, PortalUnavailable) as error:
            raise ContextUnavailable(str(error)) from error
