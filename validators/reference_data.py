"""Reference data for the business rules: code lists, exchange rates, treatments, holidays, tariff.

Every table is a small CSV file in one directory (by default ``fixtures/reference/``,
shipped with the project as **illustrative subsets**). ``ReferenceData.load(directory)``
takes any directory with the same file names, so it can be pointed at a full extract.
Lines starting with ``#`` are comments; ``# reference-version: X`` (``# tariff-version: X``
in ``tariff.csv``) names a table's version, reported in ``versions``.

| File | Columns |
|---|---|
| ``offices.csv`` | ``code,name`` — 4-digit offices of release |
| ``countries.csv`` | ``code,name`` — ISO 3166 alpha-2, plus ``XK`` |
| ``currencies.csv`` | ``code,name`` — ISO 4217 |
| ``units.csv`` | ``code,name`` — UN/ECE Rec. 20 |
| ``exchange_rates.csv`` | ``currency,valid_from,rate`` — CAD per unit, in force until the next row |
| ``tariff_treatments.csv`` | ``code,abbreviation,name,origins,subset,source`` — the one list of treatment codes; origins ``*`` (any, ``-XX`` excludes) or ISO codes |
| ``holidays.csv`` | ``date,name`` — non-business days besides weekends |
| ``billing_calendar.csv`` | ``period_end_day,due_days,count,on_holiday,source`` — one row: the billing period's last day and its payment due date (``count``: ``weekdays`` or ``business_days``; ``on_holiday``: ``next_business_day`` or ``stays``) |
| ``accounting_deadlines.csv`` | ``kind,code,name,source`` — CAD types of courier low-value shipments (``cad_type``) and BN9s of CSA importers (``csa_importer``): rule ``DAT-LATE``'s exceptions |
| ``reason_codes.csv`` | ``code,use,description,source`` — D17-2-1 Appendix A reason codes of a change; ``use`` ``importer`` or ``cbsa`` (reserved): rule ``VER-RSN`` |
| ``prescribed_rates.csv`` | ``valid_from,prescribed_rate,source`` — the prescribed interest rate (% a year) by quarter; read by the portal's statement (``load_prescribed_rates``) |
| ``tariff.csv`` | loaded by ``duties.tariff.Tariff`` |
| ``excise_codes.csv``, ``surtax_orders.csv``, ``gst_status_codes.csv`` | loaded by ``duties.charges.Charges`` |
"""

from __future__ import annotations

import csv
import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from pathlib import Path

from domain.identifiers import is_ascii_digits
from domain.payment import DEFAULT_CALENDAR, BillingCalendar
from duties.charges import Charges
from duties.memo import BoundedMemo
from duties.tariff import Tariff, normalize_treatment

DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / "fixtures" / "reference"
_VERSION_PREFIXES = ("# reference-version:", "# tariff-version:")
ANY_ORIGIN = "*"
TREATMENT_COLUMNS = ("code", "abbreviation", "name", "origins", "subset", "source")
REASON_CODE_USES = ("importer", "cbsa")
_ONE = Decimal("1")
MFN, GT = "2", "3"
"""The treatments goods get without a preference claim: the General Tariff for the countries it
lists (North Korea), the Most-Favoured-Nation Tariff for every other origin."""


@dataclass(frozen=True)
class Table:
    """One CSV file: its version and its records (dicts keyed by column)."""

    path: Path
    version: str | None
    records: list[tuple[int, dict[str, str]]]  # (line number, record)


def read_table(path: Path, columns: tuple[str, ...]) -> Table:
    """Read a commented CSV; the header must be exactly ``columns``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    version = None
    for line in lines:
        for prefix in _VERSION_PREFIXES:
            if line.startswith(prefix):
                version = line.removeprefix(prefix).strip()
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(line for _, line in numbered)
    if tuple(reader.fieldnames or ()) != columns:
        raise ValueError(f"{path}: columns must be {','.join(columns)}")
    records = [
        (number, {k: (v or "").strip() for k, v in record.items()})
        for (number, _), record in zip(numbered[1:], reader, strict=True)
    ]
    return Table(path, version, records)


@dataclass(frozen=True)
class TreatmentInfo:
    """A tariff treatment and the origins entitled to it (``tariff_treatments.csv``)."""

    code: str  # the short form: "2" for MFN 02
    abbreviation: str
    name: str
    origins: frozenset[str] | None  # None: any origin not in ``excluded``
    excluded: frozenset[str] = frozenset()
    subset: bool = False  # the origins are an illustrative subset of the entitled ones
    source: str = ""

    @property
    def label(self) -> str:
        """How a broker names it: the abbreviation and the two-digit code, ``MFN (02)``."""
        return f"{self.abbreviation} ({int(self.code):02d})"

    def allows(self, country: str) -> bool:
        if country in self.excluded:
            return False
        return self.origins is None or country in self.origins

    def describe_origins(self) -> str:
        """``US PR``; ``any origin except KP``; a subset says so."""
        if self.origins is None:
            excluded = " ".join(sorted(self.excluded))
            return f"any origin except {excluded}" if excluded else "any origin"
        listed = " ".join(sorted(self.origins))
        return f"{listed} (an illustrative subset of its beneficiaries)" if self.subset else listed


def _treatment(number: int, record: dict[str, str], path: Path) -> TreatmentInfo:
    """One row of ``tariff_treatments.csv``, checked."""
    where = f"{path}:{number}"
    if not is_ascii_digits(record["code"]):
        raise ValueError(f"{where}: treatment code {record['code']!r} is not digits")
    tokens = record["origins"].split()
    any_origin = tokens[:1] == [ANY_ORIGIN]
    excluded = [token[1:] for token in tokens[1:]] if any_origin else []
    listed = [] if any_origin else tokens
    if any_origin and not all(token.startswith("-") for token in tokens[1:]):
        raise ValueError(f"{where}: after * only exclusions (-XX) may follow")
    if not tokens or not all(len(c) == 2 and c.isascii() and c.isupper() for c in excluded + listed):
        raise ValueError(f"{where}: origins must be * or ISO 3166 alpha-2 codes, not {record['origins']!r}")
    if record["subset"] not in ("true", "false"):
        raise ValueError(f"{where}: subset must be true or false, not {record['subset']!r}")
    return TreatmentInfo(
        code=normalize_treatment(record["code"]),
        abbreviation=record["abbreviation"],
        name=record["name"],
        origins=None if any_origin else frozenset(listed),
        excluded=frozenset(excluded),
        subset=record["subset"] == "true",
        source=record["source"],
    )


class ExchangeRates:
    """CAD per unit of a currency, by date: the latest row not after the date."""

    def __init__(self, rows: dict[str, list[tuple[dt.date, Decimal]]]) -> None:
        self._rows = {currency: sorted(values) for currency, values in rows.items()}
        self._days = {currency: [day for day, _ in values] for currency, values in self._rows.items()}
        self._found: BoundedMemo[tuple[str, dt.date], Decimal | None] = BoundedMemo(self._look_up)
        """``rate``'s answers: a file's invoices name a few currencies and dates, each asked by
        two rules (``AMT-FX``, ``AMT-FXD``)."""

    def rate(self, currency: str, on: dt.date) -> Decimal | None:
        return self._found[(currency, on)]

    def _look_up(self, key: tuple[str, dt.date]) -> Decimal | None:
        currency, on = key
        if currency == "CAD":
            return _ONE
        rows = self._rows.get(currency)
        if not rows:
            return None
        index = bisect_right(self._days[currency], on)
        return rows[index - 1][1] if index else None

    def currencies(self) -> list[str]:
        return sorted(self._rows)

    def latest(self) -> dt.date | None:
        """The latest date any rate applies from: the table's rate date."""
        return max((rows[-1][0] for rows in self._rows.values() if rows), default=None)

    def rate_date(self, currency: str, on: dt.date) -> dt.date | None:
        """The date the rate used for ``currency`` on ``on`` applies from (None: no rate, or CAD)."""
        rows = self._rows.get(currency)
        if currency == "CAD" or not rows:
            return None
        index = bisect_right(self._days[currency], on)
        return rows[index - 1][0] if index else None


@dataclass(frozen=True)
class ReferenceData:
    offices: dict[str, str]
    countries: dict[str, str]
    currencies: dict[str, str]
    units: dict[str, str]
    exchange_rates: ExchangeRates
    treatments: dict[str, TreatmentInfo]
    holidays: frozenset[dt.date]
    tariff: Tariff
    directory: Path
    charges: Charges = field(default_factory=Charges)
    calendar: BillingCalendar = DEFAULT_CALENDAR
    courier_low_value_types: frozenset[str] = frozenset()
    csa_importers: frozenset[str] = frozenset()
    reason_codes: dict[str, str] = field(default_factory=dict)
    """Reason code → its use: ``importer`` or ``cbsa`` (reserved to CBSA)."""
    versions: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        directory: Path | str,
        *,
        tariff_path: Path | None = None,
        exchange_rates_path: Path | None = None,
    ) -> ReferenceData:
        """Load every table from ``directory`` (the shipped subsets or a full extract); the tariff
        and the exchange rates from the given files instead when given (a fetched cache)."""
        directory = Path(directory)
        versions: dict[str, str | None] = {}
        paths = {"tariff.csv": tariff_path, "exchange_rates.csv": exchange_rates_path}

        def table(name: str, columns: tuple[str, ...]) -> Table:
            loaded = read_table(paths.get(name) or directory / name, columns)
            versions[name] = loaded.version
            return loaded

        def codes(name: str) -> dict[str, str]:
            return {record["code"]: record["name"] for _, record in table(name, ("code", "name")).records}

        rates: dict[str, list[tuple[dt.date, Decimal]]] = defaultdict(list)
        rate_table = table("exchange_rates.csv", ("currency", "valid_from", "rate"))
        for number, record in rate_table.records:
            try:
                rates[record["currency"]].append((dt.date.fromisoformat(record["valid_from"]), Decimal(record["rate"])))
            except (ValueError, InvalidOperation) as error:
                raise ValueError(f"{rate_table.path}:{number}: {error}") from error

        treatment_table = table("tariff_treatments.csv", TREATMENT_COLUMNS)
        treatments: dict[str, TreatmentInfo] = {}
        for number, record in treatment_table.records:
            info = _treatment(number, record, treatment_table.path)
            if info.code in treatments:
                raise ValueError(f"{treatment_table.path}:{number}: treatment code {info.code} listed twice")
            treatments[info.code] = info

        holidays = frozenset(
            dt.date.fromisoformat(record["date"]) for _, record in table("holidays.csv", ("date", "name")).records
        )
        calendar = _calendar(table("billing_calendar.csv", CALENDAR_COLUMNS))
        deadlines: dict[str, set[str]] = {"cad_type": set(), "csa_importer": set()}
        deadline_table = table("accounting_deadlines.csv", ("kind", "code", "name", "source"))
        for number, record in deadline_table.records:
            if record["kind"] not in deadlines:
                raise ValueError(
                    f"{deadline_table.path}:{number}: kind {record['kind']!r} is not one of {', '.join(deadlines)}"
                )
            deadlines[record["kind"]].add(record["code"])
        reason_codes = _reason_codes(table("reason_codes.csv", REASON_CODE_COLUMNS))
        tariff = Tariff.load(tariff_path or directory / "tariff.csv")
        versions["tariff.csv"] = tariff.version
        charges = Charges.load(directory)
        versions |= charges.versions
        return cls(
            offices=codes("offices.csv"),
            countries=codes("countries.csv"),
            currencies=codes("currencies.csv"),
            units=codes("units.csv"),
            exchange_rates=ExchangeRates(rates),
            treatments=treatments,
            holidays=holidays,
            tariff=tariff,
            directory=directory,
            charges=charges,
            calendar=calendar,
            courier_low_value_types=frozenset(deadlines["cad_type"]),
            csa_importers=frozenset(deadlines["csa_importer"]),
            reason_codes=reason_codes,
            versions=versions,
        )

    def treatment(self, code: str) -> TreatmentInfo | None:
        found = self._treatment_spellings.get(code)
        if found is not None:
            return found
        return self.treatments.get(normalize_treatment(code)) if is_ascii_digits(code) else None

    @cached_property
    def _treatment_spellings(self) -> dict[str, TreatmentInfo]:
        """Each treatment under every way a file writes its code (``2``, ``02``, ``002``): every
        line asks ``treatment``, and a code read this way needs no normalising."""
        return {
            spelling: info
            for code, info in self.treatments.items()
            for spelling in (code, code.zfill(2), code.zfill(3))
            if is_ascii_digits(spelling) and normalize_treatment(spelling) == code
        }

    def treatment_label(self, code: str) -> str:
        """``MFN (02)`` for a known code; an unknown one as declared."""
        info = self.treatment(code)
        return info.label if info is not None else code

    def accepted_treatments(self) -> str:
        """Every treatment, by code: ``MFN (02), GT (03), …``."""
        return ", ".join(info.label for info in sorted(self.treatments.values(), key=lambda info: int(info.code)))

    def default_treatment(self, country: str) -> TreatmentInfo | None:
        """The treatment goods from ``country`` get without a preference: GT where it lists the
        country, else MFN; None when the loaded list has neither."""
        general = self.treatments.get(GT)
        if general is not None and general.origins is not None and country in general.origins:
            return general
        return self.treatments.get(MFN)

    def treatments_for(self, country: str) -> list[TreatmentInfo]:
        """The treatments goods originating in ``country`` may claim, by code."""
        return sorted((i for i in self.treatments.values() if i.allows(country)), key=lambda info: int(info.code))

    # business-day calendar (Monday to Friday, minus holidays) ---------------------
    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def add_business_days(self, start: dt.date, days: int) -> dt.date:
        """The ``days``-th business day after ``start`` (``start`` itself not counted)."""
        return _business_days_after(self.holidays, start, days)


@lru_cache(maxsize=4096)
def _business_days_after(holidays: frozenset[dt.date], start: dt.date, days: int) -> dt.date:
    """``ReferenceData.add_business_days``, remembered: a file's declarations share a few release
    dates, and the accounting-deadline rule asks for each declaration."""
    day = start
    while days > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            days -= 1
    return day


REASON_CODE_COLUMNS = ("code", "use", "description", "source")


def _reason_codes(table: Table) -> dict[str, str]:
    """Reason code → its use (``importer`` or ``cbsa``) from ``reason_codes.csv``."""
    found: dict[str, str] = {}
    for number, record in table.records:
        if record["use"] not in REASON_CODE_USES:
            raise ValueError(f"{table.path}:{number}: use {record['use']!r} is not one of importer, cbsa")
        found[record["code"]] = record["use"]
    return found


def load_reason_codes(directory: Path | str = DEFAULT_DIRECTORY) -> dict[str, str]:
    """The D17-2-1 Appendix A reason codes of a reference directory (the portal reads them alone)."""
    return _reason_codes(read_table(Path(directory) / "reason_codes.csv", REASON_CODE_COLUMNS))


CALENDAR_COLUMNS = ("period_end_day", "due_days", "count", "on_holiday", "source")
_COUNTS = {"weekdays": True, "business_days": False}
_ON_HOLIDAY = {"next_business_day": True, "stays": False}


def _calendar(table: Table) -> BillingCalendar:
    """The one row of ``billing_calendar.csv``."""
    if len(table.records) != 1:
        raise ValueError(f"{table.path}: expected exactly one calendar row, found {len(table.records)}")
    number, record = table.records[0]
    for column, allowed in (("count", _COUNTS), ("on_holiday", _ON_HOLIDAY)):
        if record[column] not in allowed:
            raise ValueError(f"{table.path}:{number}: {column} {record[column]!r} is not one of {', '.join(allowed)}")
    try:
        return BillingCalendar(
            int(record["period_end_day"]),
            int(record["due_days"]),
            _COUNTS[record["count"]],
            _ON_HOLIDAY[record["on_holiday"]],
        )
    except ValueError as error:
        raise ValueError(f"{table.path}:{number}: {error}") from error


def load_calendar(directory: Path | str = DEFAULT_DIRECTORY) -> BillingCalendar:
    """The billing calendar of a reference directory (the portal reads it alone)."""
    return _calendar(read_table(Path(directory) / "billing_calendar.csv", CALENDAR_COLUMNS))


@dataclass(frozen=True)
class PrescribedRates:
    """The prescribed rate of interest (% a year), each in force from its day until the next."""

    path: Path
    starts: tuple[dt.date, ...]
    rates: tuple[Decimal, ...]

    def __call__(self, day: dt.date) -> Decimal:
        index = bisect_right(self.starts, day) - 1
        if index < 0:
            raise ValueError(
                f"{self.path}: no prescribed rate for {day.isoformat()} (the first is from {self.starts[0]})"
            )
        return self.rates[index]


def load_prescribed_rates(directory: Path | str = DEFAULT_DIRECTORY) -> PrescribedRates:
    """``prescribed_rates.csv``: days ascending, rates as decimals."""
    table = read_table(Path(directory) / "prescribed_rates.csv", ("valid_from", "prescribed_rate", "source"))
    rows: list[tuple[dt.date, Decimal]] = []
    for number, record in table.records:
        try:
            rows.append((dt.date.fromisoformat(record["valid_from"]), Decimal(record["prescribed_rate"])))
        except (ValueError, InvalidOperation) as error:
            raise ValueError(f"{table.path}:{number}: {error}") from error
        if len(rows) > 1 and rows[-1][0] <= rows[-2][0]:
            raise ValueError(f"{table.path}:{number}: valid_from {rows[-1][0]} is not after the row before")
    if not rows:
        raise ValueError(f"{table.path}: no rates")
    return PrescribedRates(table.path, tuple(d for d, _ in rows), tuple(r for _, r in rows))


@lru_cache(maxsize=1)
def default_reference() -> ReferenceData:
    """The shipped illustrative tables (``fixtures/reference/``), loaded once."""
    return ReferenceData.load(DEFAULT_DIRECTORY)
