"""The charge tables besides the tariff: excise codes, surtax orders and GST status codes.

Three small CSV files next to ``tariff.csv`` (``fixtures/reference/``), each an **illustrative
subset** whose version line says so; a full extract of the same shape replaces them.

| File | Columns |
|---|---|
| ``excise_codes.csv`` | ``code,kind,name,basis,rate,unit,source`` — kind ``duty`` (Excise Act, 2001) or ``tax`` (Excise Tax Act); basis ``percent`` (of the value for duty) or ``unit`` (CAD per ``unit``) |
| ``surtax_orders.csv`` | ``code,name,rate,origins,hs_prefixes,valid_from,source`` — rate percent of the value for duty; origins and HS prefixes space-separated |
| ``gst_status_codes.csv`` | ``code,name,rate,source`` — the GST rate in percent (0 for an exempt code) |

Lines starting with ``#`` are comments; ``# reference-version: X`` names the table's version.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path

from domain.identifiers import is_ascii_digits
from duties.memo import BoundedMemo

_VERSION_PREFIX = "# reference-version:"
EXCISE_COLUMNS = ("code", "kind", "name", "basis", "rate", "unit", "source")
SURTAX_COLUMNS = ("code", "name", "rate", "origins", "hs_prefixes", "valid_from", "source")
GST_COLUMNS = ("code", "name", "rate", "source")
EXCISE_KINDS = ("duty", "tax")
EXCISE_BASES = ("percent", "unit")


@dataclass(frozen=True)
class ExciseCode:
    """One excise duty or excise tax (CN 24-35): ad valorem (percent of the value for duty)
    or specific (CAD per ``unit``)."""

    code: str
    kind: str  # "duty" or "tax"
    name: str
    basis: str  # "percent" or "unit"
    rate: Decimal
    unit: str | None

    def describe_rate(self) -> str:
        return f"{self.rate} %" if self.basis == "percent" else f"{self.rate} CAD per {self.unit}"


@dataclass(frozen=True)
class SurtaxOrder:
    """A surtax order (Customs Tariff s.53, s.55, s.63): goods of ``origins`` classified under
    one of ``hs_prefixes`` pay ``rate`` % of the value for duty from ``valid_from``."""

    code: str
    name: str
    rate: Decimal
    origins: frozenset[str]
    hs_prefixes: tuple[str, ...]
    valid_from: dt.date

    def covers(self, hs_code: str, origin: str, on: dt.date) -> bool:
        return on >= self.valid_from and origin in self.origins and hs_code.startswith(self.hs_prefixes)


@dataclass(frozen=True)
class GstStatus:
    """A GST status code (D17-1-10 Appendix H) and the GST rate it sets (0: exempt)."""

    code: str
    name: str
    rate: Decimal


@dataclass(frozen=True)
class Charges:
    """The three tables; empty ones (``Charges()``) know no code and no order."""

    excise: dict[str, ExciseCode] = field(default_factory=dict)
    surtax_orders: tuple[SurtaxOrder, ...] = ()
    gst_statuses: dict[str, GstStatus] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)

    def surtax_order(self, hs_code: str, origin: str, on: dt.date) -> SurtaxOrder | None:
        """The order in force on ``on`` that covers the goods (the latest in force when several do)."""
        if origin not in self._orders_by_origin:  # the common case: no order names the origin
            return None
        return self._found_orders[(hs_code, origin, on)]

    @cached_property
    def _found_orders(self) -> BoundedMemo[tuple[str, str, dt.date], SurtaxOrder | None]:
        """``surtax_order``'s answers for the origins some order names (asked twice per line)."""
        return BoundedMemo(self._covering)

    def _covering(self, key: tuple[str, str, dt.date]) -> SurtaxOrder | None:
        hs_code, origin, on = key
        covering = [order for order in self._orders_by_origin[origin] if order.covers(hs_code, origin, on)]
        return max(covering, key=lambda order: order.valid_from, default=None)

    @cached_property
    def _orders_by_origin(self) -> dict[str, tuple[SurtaxOrder, ...]]:
        """The orders naming each origin, in table order: every line of every declaration asks
        ``surtax_order`` (the assessment and ``AMT-SUR``), and most origins are under none."""
        found: dict[str, list[SurtaxOrder]] = {}
        for order in self.surtax_orders:
            for origin in order.origins:
                found.setdefault(origin, []).append(order)
        return {origin: tuple(orders) for origin, orders in found.items()}

    @classmethod
    def load(cls, directory: Path) -> Charges:
        versions: dict[str, str | None] = {}
        excise: dict[str, ExciseCode] = {}
        for where, record in _read(directory / "excise_codes.csv", EXCISE_COLUMNS, versions):
            code = _excise(record, where)
            if code.code in excise:
                raise ValueError(f"{where}: excise code {code.code} listed twice")
            excise[code.code] = code
        orders = tuple(
            _surtax(record, where) for where, record in _read(directory / "surtax_orders.csv", SURTAX_COLUMNS, versions)
        )
        statuses: dict[str, GstStatus] = {}
        for where, record in _read(directory / "gst_status_codes.csv", GST_COLUMNS, versions):
            status = GstStatus(record["code"], record["name"], _decimal(record["rate"], "rate", where))
            if status.code in statuses:
                raise ValueError(f"{where}: GST status code {status.code} listed twice")
            statuses[status.code] = status
        return cls(excise, orders, statuses, versions)


def _read(path: Path, columns: tuple[str, ...], versions: dict[str, str | None]) -> list[tuple[str, dict[str, str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    versions[path.name] = next(
        (line.removeprefix(_VERSION_PREFIX).strip() for line in lines if line.startswith(_VERSION_PREFIX)), None
    )
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(line for _, line in numbered)
    if tuple(reader.fieldnames or ()) != columns:
        raise ValueError(f"{path}: columns must be {','.join(columns)}")
    return [
        (f"{path}:{number}", {k: (v or "").strip() for k, v in record.items()})
        for (number, _), record in zip(numbered[1:], reader, strict=True)
    ]


def _decimal(text: str, name: str, where: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{where}: {name} {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{where}: {name} {text!r} is not a non-negative number")
    return value


def _excise(record: dict[str, str], where: str) -> ExciseCode:
    if record["kind"] not in EXCISE_KINDS:
        raise ValueError(f"{where}: kind must be one of {', '.join(EXCISE_KINDS)}, not {record['kind']!r}")
    if record["basis"] not in EXCISE_BASES:
        raise ValueError(f"{where}: basis must be one of {', '.join(EXCISE_BASES)}, not {record['basis']!r}")
    unit = record["unit"] or None
    if (record["basis"] == "unit") != (unit is not None):
        raise ValueError(f"{where}: a unit is given exactly when the basis is unit")
    return ExciseCode(
        record["code"], record["kind"], record["name"], record["basis"], _decimal(record["rate"], "rate", where), unit
    )


def _surtax(record: dict[str, str], where: str) -> SurtaxOrder:
    origins = record["origins"].split()
    prefixes = record["hs_prefixes"].split()
    if not origins or not all(len(c) == 2 and c.isascii() and c.isupper() for c in origins):
        raise ValueError(f"{where}: origins must be ISO 3166 alpha-2 codes, not {record['origins']!r}")
    if not prefixes or not all(is_ascii_digits(p) and 2 <= len(p) <= 10 for p in prefixes):
        raise ValueError(f"{where}: hs_prefixes must be 2 to 10 digits each, not {record['hs_prefixes']!r}")
    try:
        valid_from = dt.date.fromisoformat(record["valid_from"])
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error
    return SurtaxOrder(
        record["code"],
        record["name"],
        _decimal(record["rate"], "rate", where),
        frozenset(origins),
        tuple(prefixes),
        valid_from,
    )
