"""Database engines shared by the ledger and the embedded portal."""

from storage.engines import create_database_engine

__all__ = ["create_database_engine"]
