"""A reader of CBSA's downloadable Customs Tariff schedule, saved as CSV (or tab-separated).

CBSA publishes the schedule as a table of five columns (docs/reference-data.md says what could
be read of it and what was chosen)::

    Tariff Item | Description of Goods | Unit of Measure | MFN Tariff | Applicable Preferential Tariffs
    53.10         | Woven fabrics of jute …  |     |      |
    5310.90.99    | Other                    | KGM | 12 % | LDCT, UST, MT, CIAT, CT, CRT, IT, NT, SLT, PT: Free
    5310.90.99.00 | Other                    | KGM | 12 % |

Only a 10-digit classification number becomes ``tariff.csv`` rows: a ``*`` row at the MFN rate
and one row per preferential treatment. Rates are set per 8-digit tariff item, so a 10-digit row
whose rate cells are empty takes them from its tariff item's row above it. Shorter numbers are
headings, skipped and counted. A rate that cannot be read exactly ("256 % but not less than
$36.67/hl", "See …") is never turned into a number: its classification number is left out,
named in a comment of the cached table, counted, and the table is then an excerpt (so a finding
about it says "not in the loaded tariff excerpt"). A treatment abbreviation the gateway does not
know (``tariff_treatments.csv``) is skipped with a counted warning. The file is read row by row
and written to the cache as it is read, never held whole in memory.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from reference_sources.cache import CacheInfo, ReferenceCache, now_utc
from reference_sources.http import SourceError
from reference_sources.tariff_service import COLUMNS, MFN_CODE, TABLE, write_header
from validators.reference_data import DEFAULT_DIRECTORY, ReferenceData

ITEM, DESCRIPTION, UNIT, MFN, PREFERENTIAL = (
    "Tariff Item",
    "Description of Goods",
    "Unit of Measure",
    "MFN Tariff",
    "Applicable Preferential Tariffs",
)
_HEADER_NAMES = {
    "tariff item": ITEM,
    "description of goods": DESCRIPTION,
    "unit of measure": UNIT,
    "units of measure": UNIT,  # as CBSA's chapter tables spell it
    "mfn tariff": MFN,
    "applicable preferential tariffs": PREFERENTIAL,
}
SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods")
_NO_UNIT = frozenset({"", "-", "\u2013", "\u2014"})
ALIASES = {"MT": "MXT"}
"""Older spellings of an abbreviation: the Mexico Tariff (11) was ``MT`` before CUSMA (CBSA's list
as at 2016-08-01) and is ``MXT`` in tariff_treatments.csv."""
CHAPTERS = frozenset(range(1, 100)) - {77}  # chapter 77 is reserved in the Harmonized System
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_PERCENT = re.compile(rf"({_NUMBER})\s*%")
_SPECIFIC = re.compile(rf"(?:\$\s*({_NUMBER})|({_NUMBER})\s*¢)\s*/\s*(.+)")
_BOTH = re.compile(rf"({_NUMBER})\s*%\s*(?:\+|plus)\s*(.+)", re.IGNORECASE)
SPECIFIC_UNITS = {
    "kg": "KGM",
    "g": "GRM",
    "tonne": "TNE",
    "litre": "LTR",
    "hl": "HLT",
    "litre of absolute ethyl alcohol": "LPA",
    "m": "MTR",
    "m²": "MTK",
    "m2": "MTK",
    "m³": "MTQ",
    "m3": "MTQ",
    "dozen": "DZN",
    "pair": "PR",
}
"""The units of specific rates as the schedule writes them (after ``/``), and their UN/ECE Rec. 20 codes."""


class UnreadableRate(ValueError):
    """A rate whose text is not one of the forms read exactly."""


@dataclass(frozen=True)
class Rate:
    ad_valorem: Decimal  # percent
    specific: Decimal | None = None  # CAD per ``unit``
    unit: str | None = None


def _amount(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def _specific(text: str, units: dict[str, str]) -> Rate:
    match = _SPECIFIC.fullmatch(text)
    if match is None:
        raise UnreadableRate("not Free, N %, $N/unit, N¢/unit or N % + one of the last two")
    dollars, cents, unit_text = match.groups()
    unit = SPECIFIC_UNITS.get(unit_text.strip().lower())
    if unit is None or unit not in units:
        raise UnreadableRate(f"unit {unit_text.strip()!r} has no code in units.csv")
    return Rate(Decimal(0), _amount(dollars) if dollars else _amount(cents).scaleb(-2), unit)


def parse_rate(text: str, units: dict[str, str]) -> Rate:
    """``Free``, ``12 %``, ``2.43¢/kg``, ``$1.23/litre`` or ``6 % + 2.43¢/kg``; anything else
    (a minimum or maximum, "See …", a rate with conditions) raises ``UnreadableRate``."""
    text = " ".join(text.replace("\u00a0", " ").split())
    if text.lower() == "free":
        return Rate(Decimal(0))
    if match := _PERCENT.fullmatch(text):
        return Rate(_amount(match.group(1)))
    if match := _BOTH.fullmatch(text):
        specific = _specific(match.group(2), units)
        return Rate(_amount(match.group(1)), specific.specific, specific.unit)
    return _specific(text, units)


def preferential_entries(text: str, where: str) -> list[tuple[list[str], str]]:
    """``CODES: rate`` entries of a preferential cell, separated by ``;`` or line breaks (a line
    ending with a comma continues on the next); the abbreviations and the rate text of each."""
    text = re.sub(r",\s*[\r\n]+\s*", ", ", text.replace("\u00a0", " "))
    entries = []
    for entry in (part.strip() for part in re.split(r"[;\r\n]+", text)):
        if not entry:
            continue
        codes, colon, rate = entry.partition(":")
        abbreviations = [code.strip() for code in codes.split(",")]
        if not colon or not rate.strip() or not all(re.fullmatch(r"[A-Z]{1,6}", code) for code in abbreviations):
            raise SourceError(f"{where}: {entry!r} is not 'TREATMENTS: rate' (abbreviations separated by commas)")
        entries.append((abbreviations, rate.strip()))
    return entries


@dataclass(frozen=True)
class Layout:
    """How a schedule file is laid out: its delimiter and the position of each column."""

    delimiter: str
    columns: dict[str, int]


def _first_line(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8-sig") as source:
            return next((line for line in source if line.strip()), None)
    except OSError as error:
        raise SourceError(f"{path}: cannot read it ({error})") from error
    except UnicodeDecodeError as error:
        raise SourceError(f"{path}: not UTF-8 text ({error}); save it as 'CSV UTF-8'") from error


def schedule_layout(path: Path) -> Layout | None:
    """The layout when ``path`` is CBSA's schedule (told by its header), None for another table.
    A spreadsheet, an empty file and a header with only some of the schedule's columns are refused."""
    if path.suffix.lower() in SPREADSHEETS:
        raise SourceError(f"{path}: a spreadsheet cannot be read (openpyxl is not installed); save it as CSV UTF-8")
    line = _first_line(path)
    if line is None:
        raise SourceError(f"{path}: the file is empty")
    delimiter = "\t" if "\t" in line else ","
    header = next(csv.reader([line], delimiter=delimiter))
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        name = _HEADER_NAMES.get(" ".join(cell.split()).lower())
        if name is not None:
            if name in columns:
                raise SourceError(f"{path}, row 1: column {name!r} appears twice")
            columns[name] = index
    if not columns:
        return None
    missing = [name for name in (ITEM, DESCRIPTION, UNIT, MFN, PREFERENTIAL) if name not in columns]
    if missing:
        raise SourceError(
            f"{path}, row 1: not CBSA's schedule header, missing {', '.join(repr(m) for m in missing)} "
            f"(expected {ITEM}, {DESCRIPTION}, {UNIT}, {MFN}, {PREFERENTIAL})"
        )
    return Layout(delimiter, columns)


@dataclass
class _Item:
    """The last 8-digit tariff item row read: the rates of the classification numbers under it."""

    number: str
    row: int
    description: str
    mfn: str
    preferential: str


def _ranges(numbers: list[int]) -> str:
    """``1-52, 54-60`` for sorted chapter numbers."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(f"{a:02d}" if a == b else f"{a:02d}-{b:02d}" for a, b in spans)


class _Reader:
    """Turns the schedule's rows into ``tariff.csv`` rows, counting what it skips."""

    def __init__(self, path: Path, layout: Layout, effective: dt.date, reference: ReferenceData) -> None:
        self.path = path
        self.layout = layout
        self.effective = effective.isoformat()
        self.units = reference.units
        self.codes = {info.abbreviation: info.code for info in reference.treatments.values()}
        self.item: _Item | None = None
        self.seen: dict[str, int] = {}
        self.chapters: set[int] = set()
        self.counts: Counter[str] = Counter()
        self.unknown: dict[str, list[int]] = {}  # abbreviation → [rows, first row]
        self.odd_units: dict[str, list[int]] = {}

    def where(self, row: int, column: str) -> str:
        return f"{self.path}, row {row}, column {column!r}"

    def cell(self, record: list[str], column: str) -> str:
        index = self.layout.columns[column]
        return record[index].strip() if index < len(record) else ""

    def read(self, row: int, record: list[str], writer: Any, out: TextIO) -> None:
        item_text = self.cell(record, ITEM)
        if not item_text:
            if any(cell.strip() for cell in record):
                self.counts["rows_without_item"] += 1
            return
        digits = item_text.replace(".", "").replace(" ", "")
        if not (digits.isascii() and digits.isdigit() and len(digits) in (4, 6, 7, 8, 9, 10)):
            raise SourceError(
                f"{self.where(row, ITEM)}: {item_text!r} is not a heading, tariff item or 10-digit number"
            )
        if len(digits) == 8:
            self.item = _Item(
                digits, row, self.cell(record, DESCRIPTION), self.cell(record, MFN), self.cell(record, PREFERENTIAL)
            )
        if len(digits) < 10:
            self.counts["headings_skipped"] += 1
            return
        if digits in self.seen:
            raise SourceError(
                f"{self.where(row, ITEM)}: {item_text} is listed again (first at row {self.seen[digits]})"
            )
        self.seen[digits] = row
        self._classification(row, record, digits, writer, out)

    def _item_of(self, digits: str) -> _Item | None:
        """The tariff item row above a classification number, when it is its own."""
        return self.item if self.item is not None and self.item.number == digits[:8] else None

    def _inherited(self, row: int, record: list[str], column: str, digits: str) -> tuple[str, int]:
        """The cell's text and the row it comes from: its own, else its tariff item's."""
        own = self.cell(record, column)
        item = self._item_of(digits)
        if own or item is None:
            return own, row
        return (item.mfn if column == MFN else item.preferential), item.row

    def _classification(self, row: int, record: list[str], digits: str, writer: Any, out: TextIO) -> None:
        mfn_text, mfn_row = self._inherited(row, record, MFN, digits)
        if not mfn_text:
            raise SourceError(
                f"{self.where(row, MFN)}: no MFN rate, on this row or on a row of its tariff item "
                f"{digits[:4]}.{digits[4:6]}.{digits[6:8]} above it"
            )
        preferential, preferential_row = self._inherited(row, record, PREFERENTIAL, digits)
        rates: list[tuple[str, Rate]] = []
        source = (mfn_row, MFN, mfn_text)
        try:
            rates.append(("*", parse_rate(mfn_text, self.units)))
            claimed: set[str] = set()
            for abbreviations, text in preferential_entries(preferential, self.where(preferential_row, PREFERENTIAL)):
                source = (preferential_row, PREFERENTIAL, text)
                for abbreviation in abbreviations:
                    code = self.codes.get(ALIASES.get(abbreviation, abbreviation))
                    if code is None:
                        self._note(self.unknown, abbreviation, preferential_row)
                        continue
                    if code == MFN_CODE or code in claimed:
                        raise SourceError(
                            f"{self.where(preferential_row, PREFERENTIAL)}: treatment {abbreviation} is "
                            + ("the MFN Tariff's column" if code == MFN_CODE else "given twice")
                        )
                    claimed.add(code)
                    rates.append((code, parse_rate(text, self.units)))
        except UnreadableRate as error:
            at_row, column, text = source
            self.counts["unreadable_skipped"] += 1
            out.write(
                f"# not loaded: {digits} (row {row}): {column} {' '.join(text.split())!r} at row {at_row} "
                f"cannot be read exactly ({error})\n"
            )
            return
        unit = self.cell(record, UNIT)
        unit = "" if unit in _NO_UNIT else unit
        if unit and unit not in self.units:
            self._note(self.odd_units, unit, row)
        item = self._item_of(digits)
        description = " ".join((self.cell(record, DESCRIPTION) or (item.description if item else "")).split())
        for treatment, rate in rates:
            duty = str(rate.ad_valorem)
            specific = ("", "") if rate.specific is None else (str(rate.specific), rate.unit or "")
            writer.writerow([digits, treatment, description, unit, duty, "0", "false", self.effective, *specific])
        self.counts["classification_numbers"] += 1
        self.counts["rows"] += len(rates)
        self.chapters.add(int(digits[:2]))

    @staticmethod
    def _note(table: dict[str, list[int]], key: str, row: int) -> None:
        table.setdefault(key, [0, row])[0] += 1

    def warnings(self) -> list[str]:
        found = [
            f"treatment {code} is not in tariff_treatments.csv: skipped in {count} classification numbers "
            f"(first at row {first}, column {PREFERENTIAL!r})"
            for code, (count, first) in sorted(self.unknown.items())
        ]
        found += [
            f"unit {unit} is not in units.csv: kept as written in {count} classification numbers "
            f"(first at row {first}, column {UNIT!r})"
            for unit, (count, first) in sorted(self.odd_units.items())
        ]
        return found

    def scope(self) -> tuple[bool, str | None]:
        """Whether the table is the whole tariff, and why not."""
        missing = sorted(CHAPTERS - self.chapters)
        reasons = []
        if self.counts["unreadable_skipped"]:
            reasons.append(f"{self.counts['unreadable_skipped']} classification numbers not loaded (unreadable rates)")
        if missing:
            reasons.append(f"chapters {_ranges(missing)} absent")
        return not reasons, "; ".join(reasons) or None


def load_schedule(
    cache: ReferenceCache,
    path: Path,
    *,
    effective: dt.date,
    version: str | None = None,
    layout: Layout | None = None,
    reference: ReferenceData | None = None,
) -> CacheInfo:
    """Install CBSA's schedule from ``path`` (CSV or tab-separated) into the cache, its rates in
    force from ``effective``; the version defaults to ``cbsa-schedule-<effective>``."""
    layout = layout or schedule_layout(path)
    if layout is None:
        raise SourceError(f"{path}, row 1: not CBSA's schedule header ({ITEM}, {DESCRIPTION}, {UNIT}, {MFN}, …)")
    version = version or f"cbsa-schedule-{effective.isoformat()}"
    reader = _Reader(path, layout, effective, reference or ReferenceData.load(DEFAULT_DIRECTORY))
    try:
        with cache.writing(TABLE) as out, path.open(encoding="utf-8-sig", newline="") as source:
            write_header(out, version, str(path), full=False)
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(COLUMNS)
            records = csv.reader(source, delimiter=layout.delimiter)
            next(records)  # the header, checked by schedule_layout
            for row, record in enumerate(records, 2):
                reader.read(row, record, writer, out)
            if not reader.counts["classification_numbers"]:
                raise SourceError(f"{path}: no 10-digit classification number with readable rates in the schedule")
            full, why = reader.scope()
            out.write("# tariff-scope: full\n" if full else f"# tariff-scope: excerpt\n# an excerpt: {why}\n")
    except UnicodeDecodeError as error:
        raise SourceError(f"{path}: not UTF-8 text ({error}); save it as 'CSV UTF-8'") from error
    except csv.Error as error:
        raise SourceError(f"{path}: not a readable CSV ({error})") from error
    counts = dict(reader.counts)
    counts.setdefault("headings_skipped", 0)
    counts.setdefault("unreadable_skipped", 0)
    counts["unknown_treatments_skipped"] = sum(count for count, _ in reader.unknown.values())
    warnings = reader.warnings() + ([] if full else [f"the table is an excerpt: {why}"])
    info = CacheInfo(
        TABLE, str(path.resolve()), version, now_utc(), counts["rows"], effective.isoformat(), counts, warnings
    )
    cache.install(info)
    return info
