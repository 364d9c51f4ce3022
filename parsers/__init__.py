"""Parsers: bytes in, syntax trees out. No Airflow, no transports, no domain."""
