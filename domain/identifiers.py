"""CARM identifiers: business numbers, program accounts and transaction numbers.

Formats are enforced by the pydantic types; check digits are separate functions
because a wrong check digit is a business finding to report, not a shape error.
Rules: ../shared/domain/carm-brief.md §5.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated

from pydantic import StringConstraints

# [0-9], not \d: \d takes any Unicode digit (٣, ²) in Python's re and in pydantic's patterns.
BN9_PATTERN = r"^[0-9]{9}$"
PROGRAM_ACCOUNT_PATTERN = r"^[0-9]{9}[A-Z]{2}[0-9]{4}$"
TRANSACTION_NUMBER_PATTERN = r"^[0-9]{14}$"

BN9 = Annotated[str, StringConstraints(pattern=BN9_PATTERN)]
ProgramAccount = Annotated[str, StringConstraints(pattern=PROGRAM_ACCOUNT_PATTERN)]
"""BN15: BN9 + two-letter program id + four-digit reference, e.g. ``123456782RM0001``."""
TransactionNumber = Annotated[str, StringConstraints(pattern=TRANSACTION_NUMBER_PATTERN)]

_PROGRAM_ACCOUNT_RE = re.compile(PROGRAM_ACCOUNT_PATTERN)


def is_ascii_digits(text: str) -> bool:
    """One or more of the ASCII digits 0-9. ``str.isdigit`` also takes other
    scripts' digits and superscripts (``٣``, ``²``), some of which ``int`` reads
    and some it refuses; an identifier or count in a file is ASCII digits only."""
    return text.isascii() and text.isdigit()


def luhn_valid(digits: str) -> bool:
    """Standard Luhn (mod 10) over a string of digits."""
    if not is_ascii_digits(digits):
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@lru_cache(maxsize=4096)  # a file names a few accounts many times
def bn9_valid(bn9: str) -> bool:
    """A BN9 is nine digits that pass Luhn."""
    return len(bn9) == 9 and luhn_valid(bn9)


def bn9_of(account: str) -> str:
    """The BN9 part of a BN9 or BN15."""
    return account[:9]


def is_program_account(value: str, program: str | None = None) -> bool:
    """True for a well-formed BN15, optionally of one program (``RM``)."""
    if not _PROGRAM_ACCOUNT_RE.match(value):
        return False
    return program is None or value[9:11] == program


def transaction_check_digit(first13: str) -> int:
    """CBSA transaction-number check digit over the first 13 digits.

    Digits at odd 0-based positions are doubled (digits of a two-digit product
    added); the check digit is the sum mod 10 — not ``10 - sum mod 10``.
    """
    if len(first13) != 13 or not is_ascii_digits(first13):
        raise ValueError("a transaction number's body is 13 digits")
    return _check_digit(first13)


def _check_digit(digits: str) -> int:
    """The check digit of the first 13 of ``digits`` (ASCII digits): those at even positions as
    they are, those at odd positions replaced by their doubled digit sums; the digits' sum is
    their bytes' sum less 13 × ord("0"). Every declaration is checked: no Python loop or call
    per digit."""
    return (sum((digits[0:13:2] + digits[1:13:2].translate(_DOUBLED)).encode("ascii")) - _THIRTEEN_ZEROS) % 10


_DOUBLED = str.maketrans({str(digit): str((2 * digit) // 10 + (2 * digit) % 10) for digit in range(10)})
"""A digit's double with its two digits added (7 → 14 → 5), character for character."""
_THIRTEEN_ZEROS = 13 * ord("0")


def transaction_number_valid(number: str) -> bool:
    """14 digits whose last one is the check digit of the first 13."""
    return len(number) == 14 and is_ascii_digits(number) and _check_digit(number) == int(number[13])
