"""Duties and taxes: the tariff table and CARM's assessment formulas.

Below both the business rules (``validators/``), which check declared amounts against them,
and the portal (``portal/``), which assesses accepted declarations with them; it knows only
the domain model.
"""
