"""Alembic migrations of the ledger (``Ledger(url)`` upgrades to head on first use)."""
