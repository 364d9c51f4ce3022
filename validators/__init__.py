"""Validators: envelope, message and business rules. No Airflow, no transports."""
