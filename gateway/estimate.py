"""``carm-edi estimate FILE``: what the gateway computes for each CUSDEC line — customs duty (its
specific part apart), excise duties and taxes, SIMA anti-dumping and countervailing duty, surtax,
safeguard, value for tax, GST and totals, by the portal's own formulas (portal/assessment.py) at
the reference tariff and charge tables — next to what the file declares, with every difference
flagged. The text table shows the columns beyond VFD, duty, excise tax, VFT and GST only when a
line has such an amount. A line whose
origin is not entitled to the treatment it claims (TAR-ORG) is flagged and computed under the
treatment its goods get without a claim (MFN, or GT for the General Tariff's countries); an unknown
treatment code (TAR-TT) is flagged too.

Exit codes: 0 every declared amount matches, 1 a difference or a flagged line (no tariff row,
an unknown treatment, a treatment the origin may not claim), 2 the file cannot be read as CUSDEC.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain import Declaration, DeclarationLine
from duties.assessment import assess_line, to_cents
from duties.charges import Charges
from duties.tariff import Tariff
from mappings.cusdec_declaration import is_guide_message, map_cusdec
from parsers.edifact.model import InterchangeStart, MessageRead
from parsers.edifact.reader import read_edifact
from validators.reference_data import ReferenceData, default_reference

AMOUNTS = (
    "value_for_duty",
    "customs_duty",
    "specific_duty",
    "excise_duty",
    "excise_tax",
    "anti_dumping_duty",
    "countervailing_duty",
    "surtax",
    "safeguard",
    "value_for_tax",
    "gst",
)
DUE = tuple(n for n in AMOUNTS if n not in ("value_for_duty", "specific_duty", "value_for_tax"))
"""The amounts owed: their sum is the total due (the specific duty is part of the customs duty)."""
_ALWAYS = ("value_for_duty", "customs_duty", "excise_tax", "value_for_tax", "gst")
_LABELS = {
    "value_for_duty": "VFD",
    "customs_duty": "Duty",
    "specific_duty": "of it specific",
    "excise_duty": "Excise duty",
    "excise_tax": "Excise",
    "anti_dumping_duty": "ADD",
    "countervailing_duty": "CVD",
    "surtax": "Surtax",
    "safeguard": "Safeguard",
    "value_for_tax": "VFT",
    "gst": "GST",
}
_ZERO = Decimal("0.00")


@dataclass
class LineEstimate:
    line_number: int
    hs_code: str
    tariff_treatment: str
    declared: dict[str, Decimal | None]
    computed: dict[str, Decimal] | None  # None: no tariff row in force
    problem: str | None = None

    @property
    def differences(self) -> list[str]:
        if self.computed is None:
            return []
        return [
            name for name in AMOUNTS if self.declared[name] is not None and self.declared[name] != self.computed[name]
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "line_number": self.line_number,
            "hs_code": self.hs_code,
            "tariff_treatment": self.tariff_treatment,
            "declared": {k: None if v is None else str(v) for k, v in self.declared.items()},
            "computed": None if self.computed is None else {k: str(v) for k, v in self.computed.items()},
            "differences": self.differences,
            "problem": self.problem,
        }


@dataclass
class DeclarationEstimate:
    message_ref: str
    reference: str | None
    lines: list[LineEstimate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the message could not be mapped

    def total(self, name: str, which: str) -> Decimal | None:
        values = [getattr(line, which) for line in self.lines]
        if which == "computed":
            return sum((v[name] for v in values if v is not None), _ZERO)
        declared = [v[name] for v in values]
        return None if all(v is None for v in declared) else sum((v for v in declared if v is not None), _ZERO)

    def has(self, name: str) -> bool:
        """Whether some line declares or computes a non-zero ``name``."""
        return any(line.declared[name] or (line.computed is not None and line.computed[name]) for line in self.lines)

    @property
    def clean(self) -> bool:
        return not self.problems and all(not line.differences and line.problem is None for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        totals: dict[str, Any] = {}
        for name in AMOUNTS[1:]:
            declared = self.total(name, "declared")
            totals[name] = {
                "declared": None if declared is None else str(declared),
                "computed": str(self.total(name, "computed")),
            }
        computed_due = sum((self.total(n, "computed") or _ZERO for n in DUE), _ZERO)
        totals["total_due"] = {"computed": str(computed_due)}
        return {
            "message_ref": self.message_ref,
            "reference": self.reference,
            "clean": self.clean,
            "lines": [line.to_dict() for line in self.lines],
            "totals": totals,
            "problems": self.problems,
        }


def _entitled_treatment(treatment: str, origin: str, reference: ReferenceData) -> tuple[str | None, str | None]:
    """The treatment to compute under and the problem to report: the claimed one when the origin
    is entitled to it, else the default for the origin; an unknown code is flagged and computed at
    the tariff's default row, as before."""
    claimed = reference.treatment(treatment)
    if claimed is None:
        return treatment, f"tariff treatment {treatment} is not a treatment code: computed at the tariff's default rate"
    if claimed.allows(origin):
        return treatment, None
    fallback = reference.default_treatment(origin)
    problem = f"{claimed.label} does not apply to goods originating in {origin}"
    if fallback is None:
        return None, problem
    return fallback.code, f"{problem}: computed under {fallback.label}"


def _declared(line: DeclarationLine, charges: Charges) -> dict[str, Decimal | None]:
    """What the line declares of each amount: the excise duty is the sum of the declared amounts
    of its excise codes that the table names duties; no file declares the specific part apart."""
    declared = {name: getattr(line, name, None) for name in AMOUNTS}
    declared["value_for_duty"] = to_cents(line.value_for_duty)
    duties = [
        charge.amount
        for charge in line.excise
        if charge.amount is not None and (code := charges.excise.get(charge.code)) is not None and code.kind == "duty"
    ]
    declared["excise_duty"] = sum(duties, _ZERO) if duties else None
    return declared


def estimate_declaration(
    declaration: Declaration, tariff: Tariff, message_ref: str = "1", reference: ReferenceData | None = None
) -> DeclarationEstimate:
    """``reference``: the treatment list (None: the shipped one)."""
    reference = reference if reference is not None else default_reference()
    result = DeclarationEstimate(message_ref, declaration.reference)
    for line in declaration.lines:
        declared = _declared(line, reference.charges)
        treatment, problem = _entitled_treatment(line.tariff_treatment, line.country_of_origin, reference)
        row = None if treatment is None else tariff.row(line.hs_code, treatment, declaration.release_date)
        if row is None:
            problem = problem or (
                f"HS code {line.hs_code} is not in {tariff.described} on {declaration.release_date.isoformat()}"
            )
            result.lines.append(
                LineEstimate(line.line_number, line.hs_code, line.tariff_treatment, declared, None, problem)
            )
            continue
        assessed = assess_line(line, row, reference.charges, declaration.release_date)
        computed = {name: getattr(assessed, name) for name in AMOUNTS}
        result.lines.append(
            LineEstimate(line.line_number, line.hs_code, line.tariff_treatment, declared, computed, problem)
        )
    return result


def estimate_bytes(data: bytes, tariff: Tariff) -> list[DeclarationEstimate]:
    """One estimate per CUSDEC message of the file (messages of other types are ignored)."""
    estimates = []
    decimal = "."
    for event in read_edifact(io.BytesIO(data)):
        if isinstance(event, InterchangeStart):
            decimal = event.header.delimiters.decimal
        elif isinstance(event, MessageRead) and is_guide_message(event.message):
            mapping = map_cusdec(event.message, decimal)
            if mapping.declaration is None:
                estimate = DeclarationEstimate(event.message.reference, None)
                estimate.problems = [str(finding) for finding in mapping.findings]
            else:
                estimate = estimate_declaration(mapping.declaration, tariff, event.message.reference)
            estimates.append(estimate)
    return estimates


def _cell(declared: Decimal | None, computed: Decimal | None, differs: bool | None = None) -> str:
    if computed is None:
        return f"{declared if declared is not None else '-'} / ?"
    if declared is None:
        return f"- / {computed}"
    flag = " ≠" if (declared != computed if differs is None else differs) else ""
    return f"{declared} / {computed}{flag}"


def render_text(name: str, estimates: list[DeclarationEstimate], tariff_version: str | None = None) -> str:
    """A per-line table: each cell is 'declared / computed', '≠' marks a difference."""
    out = [
        f"{name}: amounts as declared / as computed (portal formulas, tariff version {tariff_version or 'unnamed'}); "
        "≠ marks a difference;",
        "a declared total covers only the lines that declare the amount",
    ]
    if not estimates:
        out.append("  no CUSDEC message found")
    for estimate in estimates:
        out.append(f"\nmessage {estimate.message_ref} {estimate.reference or ''}".rstrip())
        for problem in estimate.problems:
            out.append(f"  cannot map: {problem}")
        if not estimate.lines:
            continue
        shown = [n for n in AMOUNTS if n in _ALWAYS or estimate.has(n)]
        header = ["Line", "HS code", "TT", *(_LABELS[n] for n in shown)]
        rows = [header]
        for line in estimate.lines:
            computed = line.computed or {}
            rows.append(
                [
                    str(line.line_number),
                    line.hs_code,
                    line.tariff_treatment,
                    *(_cell(line.declared[n], computed.get(n)) for n in shown),
                ]
            )
        # a total is flagged only when a line differs: lines may declare some amounts and not others
        totals = ["Total", "", "", ""]
        for n in shown[1:]:
            differs = any(n in line.differences for line in estimate.lines)
            totals.append(_cell(estimate.total(n, "declared"), estimate.total(n, "computed"), differs))
        rows.append(totals)
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            out.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        due = sum((estimate.total(n, "computed") or _ZERO for n in DUE), _ZERO)
        owed = [_LABELS[n] for n in DUE if n in shown]
        what = "duty + excise + GST" if owed == ["Duty", "Excise", "GST"] else " + ".join(owed)
        out.append(f"  computed total due ({what}): {due}")
        for line in estimate.lines:
            if line.problem:
                out.append(f"  line {line.line_number}: {line.problem}")
            for difference in line.differences:
                out.append(
                    f"  line {line.line_number}: {_LABELS[difference]} declared {line.declared[difference]}, "
                    f"computed {(line.computed or {})[difference]}"
                )
    return "\n".join(out) + "\n"
