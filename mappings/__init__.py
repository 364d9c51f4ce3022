"""Mappings between syntax trees, the domain model and acknowledgements."""
