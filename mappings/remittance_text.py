"""Remittance items read out of unstructured remittance text (pain.001 ``Ustrd``,
PAYMUL/REMADV ``FTX+PMD``), for payments that give no structured items."""

from __future__ import annotations

import re

from domain.payment import RemittanceItem

_BN15 = re.compile(r"(?<![0-9])([0-9]{9})\s?RM\s?([0-9]{4})(?![0-9])")
_TXN = re.compile(r"(?<![0-9A-Z])([0-9]{14})(?![0-9])")
_SOA = re.compile(r"\bSOA\s*[:#]?\s*([0-9]{4}-[0-9]{2})\b")


def items_from_text(text: str) -> list[RemittanceItem]:
    """Every BN15 RM account named, with the transaction numbers and statement
    named anywhere in the text (one account: all of them)."""
    accounts = list(dict.fromkeys(f"{a}RM{b}" for a, b in _BN15.findall(text.upper())))
    if not accounts:
        return []
    masked = _BN15.sub(" ", text.upper())
    numbers = list(dict.fromkeys(_TXN.findall(masked)))
    period = _SOA.search(masked)
    if len(accounts) > 1:
        return [RemittanceItem(account=account) for account in accounts]
    return [
        RemittanceItem(account=accounts[0], transaction_numbers=numbers, statement=period.group(1) if period else None)
    ]
