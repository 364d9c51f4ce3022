"""Reading typed values out of EDIFACT data elements (numbers and dates)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from domain.identifiers import is_ascii_digits

_NUMBER = re.compile(r"^[0-9]+(?:[.,][0-9]+)?$")  # ASCII digits: \d takes any script's


class ValueProblem(ValueError):
    """A value that does not fit; ``code`` is the 0085 syntax error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_decimal(text: str, decimal_mark: str = ".") -> Decimal:
    """An EDIFACT numeric value (no sign, no exponent, no thousands separator).

    Either the declared decimal mark or ``.``/``,`` is accepted as ISO 9735 allows
    both as the representation of the decimal mark in numeric data.
    """
    if decimal_mark == "." and text.isascii():  # the common case, without the pattern: ASCII digits, one "."
        if text.isdigit():
            return Decimal(text)
        whole, point, fraction = text.partition(".")
        if point and whole.isdigit() and fraction.isdigit():
            return Decimal(text)
    if not _NUMBER.match(text):
        if any(char.isalpha() for char in text):
            raise ValueProblem("37", f"{text!r} is not a number")
        raise ValueProblem("12", f"{text!r} is not a decimal number")
    try:
        return Decimal(text.replace(decimal_mark, ".").replace(",", "."))
    except InvalidOperation as error:  # pragma: no cover - regex already guards
        raise ValueProblem("12", f"{text!r} is not a decimal number") from error


def parse_date_102(text: str) -> dt.date:
    """A date in format 102 (``CCYYMMDD``)."""
    if len(text) != 8 or not is_ascii_digits(text):
        raise ValueProblem("12", f"{text!r} is not a date in format 102 (CCYYMMDD)")
    try:
        return dt.date.fromisoformat(text)  # CCYYMMDD is ISO 8601's basic format
    except ValueError as error:
        raise ValueProblem("12", f"{text!r} is not a calendar date") from error
