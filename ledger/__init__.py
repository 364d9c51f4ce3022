"""The gateway's own record of files, interchanges, documents and acknowledgements."""

from ledger.store import Ledger

__all__ = ["Ledger"]
