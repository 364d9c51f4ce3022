"""Validation of UN/EDIFACT messages against our own directory definitions
(D.96B messages and CONTRL): see validator.py and docs/formats/directory.md."""

from validators.directory.validator import DirectoryValidator, default_validator, validate_message

__all__ = ["DirectoryValidator", "default_validator", "validate_message"]
