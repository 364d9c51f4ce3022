"""The tariff reference table: duty and excise rates per HS code and tariff treatment.

The CSV (fixtures/reference/tariff.csv) has one row per (hs_code, treatment,
valid_from); treatment ``*`` is the default for treatments not listed. Rates are
percent, but for the specific rate: CAD per ``specific_unit`` (a UN/ECE Rec. 20 code),
the duty being the ad valorem part plus the specific part. The two specific columns
came with format 2; a table with the first format's eight columns still loads (no
specific rates). Lines starting with ``#`` are comments; ``# tariff-version: X`` names
the table's version and ``# tariff-scope: full`` says it is the whole Customs Tariff
(without it the table is an excerpt, as the shipped one is, and an HS code missing
from it may still be in the tariff). The treatment codes themselves are reference
data (``fixtures/reference/tariff_treatments.csv``, ``validators.reference_data``).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from domain.identifiers import is_ascii_digits
from duties.memo import BoundedMemo

DEFAULT_TREATMENT = "*"
_VERSION_PREFIX = "# tariff-version:"
_SCOPE_PREFIX = "# tariff-scope:"
_SCOPES = ("excerpt", "full")
_FIRST_COLUMNS = ("hs_code", "treatment", "description", "unit", "duty_rate", "excise_rate", "gst_exempt", "valid_from")
_COLUMNS = (*_FIRST_COLUMNS, "specific_rate", "specific_unit")


def normalize_treatment(code: str) -> str:
    """``"02"`` and ``"2"`` are the same treatment; the table uses the short form."""
    return str(int(code)) if is_ascii_digits(code) else code


@dataclass(frozen=True)
class TariffRow:
    hs_code: str
    treatment: str
    description: str
    unit: str
    duty_rate: Decimal
    excise_rate: Decimal
    gst_exempt: bool
    valid_from: dt.date
    specific_rate: Decimal | None = None  # CAD per specific_unit
    specific_unit: str | None = None

    def describe_duty(self) -> str:
        """``18 %``, ``0.0187 CAD per LTR`` or ``6 % + 0.0187 CAD per LTR``."""
        specific = f"{self.specific_rate} CAD per {self.specific_unit}" if self.specific_rate is not None else ""
        if specific and not self.duty_rate:
            return specific
        return f"{self.duty_rate} %" + (f" + {specific}" if specific else "")


class Tariff:
    """Rate look-ups by HS code, tariff treatment and date."""

    def __init__(self, rows: list[TariffRow], version: str | None = None, *, excerpt: bool = True) -> None:
        self.version = version
        self.excerpt = excerpt  # False only for a table that declares itself the whole tariff
        self._rows: dict[tuple[str, str], list[TariffRow]] = defaultdict(list)
        for row in rows:
            self._rows[(row.hs_code, row.treatment)].append(row)
        for versions in self._rows.values():
            versions.sort(key=lambda row: row.valid_from, reverse=True)
        self._found: BoundedMemo[tuple[str, str, dt.date], TariffRow | None] = BoundedMemo(self._look_up)
        """``row``'s answers: a file's lines name a few HS codes, treatments and release dates."""

    @classmethod
    def load(cls, path: Path) -> Tariff:
        lines = path.read_text(encoding="utf-8").splitlines()
        version = next(
            (line.removeprefix(_VERSION_PREFIX).strip() for line in lines if line.startswith(_VERSION_PREFIX)),
            None,
        )
        scope = next(
            (line.removeprefix(_SCOPE_PREFIX).strip() for line in lines if line.startswith(_SCOPE_PREFIX)), "excerpt"
        )
        if scope not in _SCOPES:
            raise ValueError(f"{path}: tariff-scope must be one of {', '.join(_SCOPES)}, not {scope!r}")
        numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
        reader = csv.DictReader(line for _, line in numbered)
        if tuple(reader.fieldnames or ()) not in (_COLUMNS, _FIRST_COLUMNS):
            raise ValueError(f"{path}: columns must be {','.join(_COLUMNS)} (or the first eight)")
        rows = []
        seen: set[tuple[str, str, dt.date]] = set()
        for (number, _), record in zip(numbered[1:], reader, strict=True):
            row = _parse_row(record, f"{path}:{number}")
            key = (row.hs_code, row.treatment, row.valid_from)
            if key in seen:
                raise ValueError(f"{path}:{number}: duplicate row for {key}")
            seen.add(key)
            rows.append(row)
        return cls(rows, version, excerpt=scope == "excerpt")

    @property
    def described(self) -> str:
        """``the loaded tariff excerpt (version V)`` or ``the tariff (version V)``, for messages."""
        return f"the {'loaded tariff excerpt' if self.excerpt else 'tariff'} (version {self.version or 'unnamed'})"

    def first_listed(self, hs_code: str) -> dt.date | None:
        """The earliest date any row of ``hs_code`` applies from; None when the table has none."""
        dates = [row.valid_from for (code, _), rows in self._rows.items() if code == hs_code for row in rows]
        return min(dates, default=None)

    def row(self, hs_code: str, treatment: str, as_of: dt.date) -> TariffRow | None:
        """The row in force on ``as_of`` for the treatment, else the default row."""
        return self._found[(hs_code, treatment, as_of)]

    def _look_up(self, key: tuple[str, str, dt.date]) -> TariffRow | None:
        hs_code, treatment, as_of = key
        for rows_of in ((hs_code, normalize_treatment(treatment)), (hs_code, DEFAULT_TREATMENT)):
            for row in self._rows.get(rows_of, ()):
                if row.valid_from <= as_of:
                    return row
        return None


def _parse_row(record: dict[str, str], where: str) -> TariffRow:
    try:
        hs_code = record["hs_code"].strip()
        if len(hs_code) != 10 or not is_ascii_digits(hs_code):
            raise ValueError(f"hs_code {hs_code!r} is not 10 digits")
        gst_exempt = record["gst_exempt"].strip().lower()
        if gst_exempt not in ("true", "false"):
            raise ValueError(f"gst_exempt must be true or false, not {gst_exempt!r}")
        treatment = record["treatment"].strip()
        specific_rate = (record.get("specific_rate") or "").strip()
        specific_unit = (record.get("specific_unit") or "").strip()
        if bool(specific_rate) != bool(specific_unit):
            raise ValueError("specific_rate and specific_unit go together")
        return TariffRow(
            hs_code=hs_code,
            treatment=treatment if treatment == DEFAULT_TREATMENT else normalize_treatment(treatment),
            description=record["description"].strip(),
            unit=record["unit"].strip(),
            duty_rate=Decimal(record["duty_rate"]),
            excise_rate=Decimal(record["excise_rate"]),
            gst_exempt=gst_exempt == "true",
            valid_from=dt.date.fromisoformat(record["valid_from"].strip()),
            specific_rate=Decimal(specific_rate) if specific_rate else None,
            specific_unit=specific_unit or None,
        )
    except (ValueError, InvalidOperation) as error:
        raise ValueError(f"{where}: {error}") from error
