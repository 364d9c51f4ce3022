"""The files the benchmarks check: what users send, built from a valid fixture.

A benchmark of ``carm-edi check`` means something only on declarations that pass every rule
(a rejected declaration skips work an accepted one does, and a file the rules reject is not what
a broker sends). So the inputs are not synthesised from random values: the declarations of a
fixture that ``carm-edi check`` accepts (``fixtures/cusdec/valid/v02_multi_message.edi``,
``fixtures/xml/valid/v02_multi_declaration.xml``: HS codes from the shipped tariff, amounts
that add up) are repeated until the file reaches its size, each copy with

* a fresh message reference (EDIFACT ``UNH``/``UNT``) and a fresh transaction number whose check
  digit is right (``transaction_check_digit``), so no two declarations are the same transaction;
* a fresh filer reference and invoice number;
* today's release date (Eastern time, as the rules read it) and an invoice dated the day before,
  so the accounting-deadline rule (``DAT-LATE``) has nothing to say;
* the amounts recomputed at the reference exchange rate in force today (the fixtures' 1.35 is
  2024's illustrative rate): value for duty = invoice amount × rate, duty = its declared
  percentage of that, GST 5 % of value for duty + duty, each rounded half-up to the cent.

``faulty_every=N`` makes every N-th declaration fail one rule (a wrong transaction-number check
digit, ``ID-TXN``): the "1 % faulty" variant is ``faulty_every=100``. Files are written once per
day (the date is in their name, since the release date is).

    from benchmarks.user_inputs import cusdec_file, cad_in_file
    path = cusdec_file(Path(".bench"), 10_000_000)           # 10 MB, every declaration valid
    path = cad_in_file(Path(".bench"), 25_000_000, faulty_every=100)
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from domain.identifiers import transaction_check_digit  # noqa: E402 (after the path is set)
from validators.reference_data import default_reference  # noqa: E402
from validators.rules.base import RuleContext  # noqa: E402


def _today() -> dt.date:
    """The filing date the rules use (Eastern time)."""
    return RuleContext().filing_date


CUSDEC_FIXTURE = ROOT / "fixtures" / "cusdec" / "valid" / "v02_multi_message.edi"
CAD_IN_FIXTURE = ROOT / "fixtures" / "xml" / "valid" / "v02_multi_declaration.xml"
TRANSACTION_PREFIX = "10207"  # the fixtures' carrier code; 8 digits of sequence follow, then the check digit
GENERATOR_VERSION = 2  # bump when the generated content changes (cached files are rewritten)


@dataclass(frozen=True)
class Copy:
    """What makes one repeated declaration fresh."""

    index: int  # 1-based, over the whole file
    release: dt.date
    faulty: bool

    @property
    def transaction_number(self) -> str:
        body = f"{TRANSACTION_PREFIX}{self.index:08d}"
        digit = transaction_check_digit(body)
        return body + str((digit + 1) % 10 if self.faulty else digit)

    @property
    def filer_reference(self) -> str:
        return f"BRK-{self.release.year}-{self.index}"

    @property
    def invoice(self) -> str:
        return f"INV-{self.index}"

    @property
    def invoice_date(self) -> dt.date:
        return self.release - dt.timedelta(days=1)


def _copies(today: dt.date, faulty_every: int | None) -> Iterator[Copy]:
    index = 0
    while True:
        index += 1
        yield Copy(index, today, faulty_every is not None and index % faulty_every == 0)


def _write_until(path: Path, size_bytes: int, head: str, bodies: list[Callable[[Copy], str]], tail: str, **kw) -> int:
    """Write ``head``, then the bodies in turn (one per copy) until ``size_bytes``, then ``tail``;
    the number of declarations written."""
    today = _today()
    written = 0
    part = path.with_suffix(".part")
    with open(part, "w", encoding=kw.get("encoding", "utf-8"), newline="") as out:
        out.write(head)
        size = len(head.encode())
        for copy in _copies(today, kw.get("faulty_every")):
            text = bodies[(copy.index - 1) % len(bodies)](copy)
            out.write(text)
            size += len(text.encode(kw.get("encoding", "utf-8")))
            written += 1
            if size >= size_bytes:
                break
        out.write(tail.replace("{count}", str(written)))
    part.replace(path)
    return written


def _name(directory: Path, stem: str, size_bytes: int, faulty_every: int | None, suffix: str) -> Path:
    label = f"{size_bytes / 1e6:g}".replace(".", "_")
    fault = f"_faulty{faulty_every}" if faulty_every else ""
    return directory / f"{stem}_{label}mb{fault}_{_today():%Y%m%d}_v{GENERATOR_VERSION}{suffix}"


def _found(pattern: str, text: str) -> str:
    """The first group of ``pattern``'s first match in the fixture text (which has one)."""
    match = re.search(pattern, text, re.M)
    assert match is not None, f"the fixture has no {pattern}"
    return match[1]


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _today_rate(currency: str = "USD") -> Decimal:
    rate = default_reference().exchange_rates.rate(currency, _today())
    assert rate is not None, f"the shipped reference data has no {currency} rate for today"
    return rate


@dataclass
class _Line:
    """One line's amounts, worked out as its segments or elements come."""

    rate: Decimal
    value_for_duty: Decimal = Decimal(0)
    duty: Decimal = Decimal(0)

    def priced(self, invoice_amount: Decimal) -> Decimal:
        self.value_for_duty = _cents(invoice_amount * self.rate)
        return self.value_for_duty

    def dutied(self, percent: Decimal) -> Decimal:
        self.duty = _cents(self.value_for_duty * percent / 100)
        return self.duty

    @property
    def tax_base(self) -> Decimal:
        return self.value_for_duty + self.duty

    @property
    def gst(self) -> Decimal:
        return _cents(self.tax_base * Decimal(5) / 100)


# EDIFACT CUSDEC -------------------------------------------------------------------------------


def _cusdec_parts(text: str) -> tuple[str, list[str], str]:
    """The fixture cut into its header (UNA, UNB), its messages (UNH..UNT) and its UNZ; one
    segment per line in the fixture."""
    head, messages, current = [], [], None
    for line in text.splitlines(keepends=True):
        if line.startswith("UNH+"):
            current = [line]
        elif current is not None:
            current.append(line)
            if line.startswith("UNT+"):
                messages.append("".join(current))
                current = None
        elif line.startswith(("UNA", "UNB")):
            head.append(line)
    return "".join(head), messages, "UNZ+{count}+" + _found(r"^UNB\+(?:[^+]*\+){4}([^+']*)", text) + "'\n"


def _cusdec_repriced(message: str, rate: Decimal) -> str:
    """The message's exchange rate and CAD amounts at ``rate`` (one segment per line)."""
    out, line, tax = [], _Line(rate), ""
    for segment in message.splitlines(keepends=True):
        if segment.startswith("CUX+"):
            segment = re.sub(r"\+[0-9.]+'", f"+{rate.normalize()}'", segment)
        elif segment.startswith("CST+"):
            line = _Line(rate)
        elif segment.startswith("MOA+38:"):
            line.priced(Decimal(segment.split(":")[1]))
        elif segment.startswith("MOA+40:"):
            segment = f"MOA+40:{line.value_for_duty}:CAD'\n"
        elif segment.startswith("TAX+7+"):
            tax = segment.split("+")[2]
            if tax == "CUD":
                line.dutied(Decimal(segment.rstrip("'\n").split(":")[-1]))
        elif segment.startswith("MOA+124:"):
            segment = f"MOA+124:{line.duty if tax == 'CUD' else line.gst}'\n"
        elif segment.startswith("MOA+125:"):
            segment = f"MOA+125:{line.tax_base}'\n"
        out.append(segment)
    return "".join(out)


def _cusdec_body(message: str) -> Callable[[Copy], str]:
    """A template of one fixture message: its reference, transaction, filer reference, invoice and dates made fresh."""
    template = _cusdec_repriced(message, _today_rate())
    template = re.sub(r"^UNH\+[^+]+\+", "UNH+{ref}+", template, flags=re.M)
    template = re.sub(r"^(UNT\+\d+)\+[^']+'", r"\1+{ref}'", template, flags=re.M)
    template = re.sub(r"^BGM\+929\+\d{14}(\d{5})", r"BGM+929+{txn}\1", template, flags=re.M)
    template = re.sub(r"^RFF\+ABE:[^']*'", "RFF+ABE:{filer}'", template, flags=re.M)
    template = re.sub(r"^DOC\+380\+[^']*'", "DOC+380+{invoice}'", template, flags=re.M)
    template = re.sub(r"^DTM\+271:\d{8}:102'", "DTM+271:{release}:102'", template, flags=re.M)
    template = re.sub(r"^DTM\+3:\d{8}:102'", "DTM+3:{invoiced}:102'", template, flags=re.M)
    for field in ("{ref}", "{txn}", "{filer}", "{invoice}", "{release}", "{invoiced}"):
        assert field in template, f"{CUSDEC_FIXTURE.name}: no place for {field} in a message"

    def body(copy: Copy) -> str:
        return template.format(
            ref=copy.index,
            txn=copy.transaction_number,
            filer=copy.filer_reference,
            invoice=copy.invoice,
            release=f"{copy.release:%Y%m%d}",
            invoiced=f"{copy.invoice_date:%Y%m%d}",
        )

    return body


def cusdec_file(directory: Path, size_bytes: int, faulty_every: int | None = None) -> Path:
    """One CUSDEC interchange of at least ``size_bytes`` (written unless today's is there)."""
    path = _name(directory, "cusdec", size_bytes, faulty_every, ".edi")
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        head, messages, tail = _cusdec_parts(CUSDEC_FIXTURE.read_text(encoding="latin-1"))
        _write_until(
            path,
            size_bytes,
            head,
            [_cusdec_body(m) for m in messages],
            tail,
            encoding="latin-1",
            faulty_every=faulty_every,
        )
    return path


# CAD-IN XML -----------------------------------------------------------------------------------


def _cad_in_commodity_repriced(commodity: str, rate: Decimal) -> str:
    line = _Line(rate)
    line.priced(Decimal(_found(r"<ItemChargeAmount[^>]*>([^<]+)<", commodity)))
    duty = re.search(r"<TypeCode>CUD</TypeCode>\s*<TaxRateNumeric>([^<]+)<", commodity)
    if duty:
        line.dutied(Decimal(duty[1]))

    def tax(match: re.Match[str]) -> str:
        amount = line.duty if match[1] == "CUD" else line.gst
        fee = re.sub(r"(<TaxAssessedAmount[^>]*>)[^<]+<", rf"\g<1>{amount}<", match[0])
        return re.sub(r"(<AdValoremTaxBaseAmount[^>]*>)[^<]+<", rf"\g<1>{line.tax_base}<", fee)

    commodity = re.sub(r"(<CustomsValueAmount[^>]*>)[^<]+<", rf"\g<1>{line.value_for_duty}<", commodity)
    return re.sub(r"<DutyTaxFee>\s*<TypeCode>(\w+)</TypeCode>.*?</DutyTaxFee>", tax, commodity, flags=re.S)


def _cad_in_repriced(declaration: str, rate: Decimal) -> str:
    declaration = re.sub(r"<RateNumeric>[^<]+<", f"<RateNumeric>{rate.normalize()}<", declaration)
    return re.sub(
        r"<Commodity>.*?</Commodity>", lambda m: _cad_in_commodity_repriced(m[0], rate), declaration, flags=re.S
    )


def _cad_in_body(declaration: str) -> Callable[[Copy], str]:
    template = _cad_in_repriced(declaration, _today_rate()).replace("{", "{{").replace("}", "}}")
    replacements = (
        (
            r"<FunctionalReferenceID>[^<]*</FunctionalReferenceID>",
            "<FunctionalReferenceID>{filer}</FunctionalReferenceID>",
        ),
        (r"<ID>\d{14}</ID>", "<ID>{txn}</ID>"),
        (r"<ReleaseDateTime>\d{8}</ReleaseDateTime>", "<ReleaseDateTime>{release}</ReleaseDateTime>"),
        (r"<Invoice>(\s*)<ID>[^<]*</ID>", r"<Invoice>\1<ID>{invoice}</ID>"),
        (r"<IssueDateTime>\d{8}</IssueDateTime>", "<IssueDateTime>{invoiced}</IssueDateTime>"),
    )
    for pattern, replacement in replacements:
        template, found = re.subn(pattern, replacement, template)
        assert found, f"{CAD_IN_FIXTURE.name}: no {pattern} in a declaration"

    def body(copy: Copy) -> str:
        return template.format(
            txn=copy.transaction_number,
            filer=copy.filer_reference,
            invoice=copy.invoice,
            release=f"{copy.release:%Y%m%d}",
            invoiced=f"{copy.invoice_date:%Y%m%d}",
        )

    return body


def cad_in_file(directory: Path, size_bytes: int, faulty_every: int | None = None) -> Path:
    """One CAD-IN batch file of at least ``size_bytes`` (written unless today's is there)."""
    path = _name(directory, "cad_in", size_bytes, faulty_every, ".xml")
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        text = re.sub(r"\s*<!--.*?-->", "", CAD_IN_FIXTURE.read_text(encoding="utf-8"), flags=re.S)
        first, last = text.index("<Declaration>"), text.rindex("</Declaration>") + len("</Declaration>")
        declarations = re.findall(r"<Declaration>.*?</Declaration>\s*", text[first:last] + "\n", flags=re.S)
        head, tail = text[:first], text[last:].lstrip()
        _write_until(path, size_bytes, head, [_cad_in_body(d) for d in declarations], tail, faulty_every=faulty_every)
    return path
