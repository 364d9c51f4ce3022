"""Findings: the one shape every layer uses to say what is wrong with an input, and where."""

from diagnostics.findings import Finding, Location, Severity

__all__ = ["Finding", "Location", "Severity"]
