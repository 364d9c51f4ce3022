"""docs/rules.md, generated from the rule catalogue so that it cannot drift:

    python -m validators.rules.catalogue > docs/rules.md

(tests/test_rules.py checks that the committed docs/rules.md equals this output).
"""

from __future__ import annotations

from typing import Any

from domain import Declaration
from validators.reference_data import default_reference
from validators.rules.base import Rule
from validators.rules.payments import PAYMENT_RULES
from validators.rules.registry import RULES

_PREAMBLE = """\
# Business rules

Generated from `validators/rules/catalogue.py` by `python -m validators.rules.catalogue > docs/rules.md`;
do not edit by hand (`tests/test_rules.py` fails when this file and the code differ).

The rules apply to the domain `Declaration`, so EDIFACT (CUSDEC) and XML (CAD-IN) submissions get
the same rules. Each violation carries the rule id (at most 8 characters: it is the CUSRES `ERC`
code and the CAD-OUT validation code), a severity, a message and a **pointer**: a path in the domain
model (`lines[1].hs_code`, 0-based: a line by its place in the declaration, whatever its invoice;
`invoices[0].currency`) that each channel maps back to its own position (segment and element through
the CUSDEC mapper's sources; an XPath in the XML channel).

Every rule can be written in both formats and has a passing and a failing fixture in each:
`fixtures/rules/<rule>_pass.edi` and `_fail.edi` (CUSDEC), and their CAD-IN twins, the same
declarations, in `fixtures/rules/cadin/` (`tests/test_rules.py` checks the verdict, the CUSDEC
position and the XPath of each).

**Errors** reject the declaration; **warnings** are reported and do not reject it. **Source** names
the public text a rule rests on (a D-memo, the Customs Tariff, a customs notice `CN yy-nn`, a
regulation section, the project's domain brief `carm-brief §n`), or says `unverified: our choice,
docs/decisions.md` where no public text was found.

## Context

`check_declaration(declaration, context=None)`. The `RuleContext` holds:

| Field | Default | Without it |
|---|---|---|
| `reference` | the shipped tables in `fixtures/reference/` (`validators.reference_data`) | — |
| `today` | today in Eastern time | — |
| `history` | `None` | rules that need **history** are skipped, with no finding |
| `delegation` | `None` | rules that need **delegation** are skipped, with no finding |
| `portal_prechecks` | `True` | `False` skips the rules with a portal code (the portal checks them when posted) |
| `warnings` | `True` | `False` returns errors only |

Called with no context (`check_declaration(declaration)`), the rules run with
`COMPATIBLE_CONTEXT = RuleContext(portal_prechecks=False, warnings=False)`: errors only, and not the
checks the portal makes itself, so a caller that rejects on every violation and then posts keeps
its behaviour. Offline (`carm-edi check`) there is no history and no delegation lookup: those rules
are skipped. A lookup that raises `ContextUnavailable` (portal unreachable) skips its rule too.

## Rounding

All arithmetic is `Decimal`, with the formulas of `duties/assessment.py` (the portal assesses with them too):
every amount is rounded **half-up to the cent on its line**; value for tax uses the rounded duty
and excise; totals are the **sums of the rounded line amounts**. A declared amount must equal the
computed one to the cent (no tolerance).

```
value for duty = round(invoice amount × its invoice's exchange rate) + additions − deductions
customs duty   = round(value for duty × duty rate / 100)
excise tax     = round(value for duty × excise rate / 100)     (ad valorem simplification)
value for tax  = value for duty + customs duty + excise tax     (SIMA is not modelled)
GST            = round(value for tax × 5 / 100), or 0.00 for GST-exempt tariff rows
```

## Deadlines

Business days are Monday to Friday except the days in `holidays.csv`.
Accounting is due 5 business days after release. Billing periods run from the 18th to the 17th;
the payment due date is the 10th *weekday* after the 17th that ends the release's period
(SOR/86-1062 s.10.3(3) as amended by SOR/2024-41, in force 2024-10-21): holidays count as
weekdays, so the period ending 2024-12-17 is due 2024-12-31. A due date that falls on a holiday
moves to the next business day (Interpretation Act s.26). The calendar is data:
`billing_calendar.csv` in the reference directory (period end day, number of days, whether
holidays count, whether a due date on a holiday moves). A change on or before the due date is a
correction, after it an adjustment. A CAD is accounted late after 5 business days, except courier
low-value shipments and CSA importers (`DAT-LATE`, `accounting_deadlines.csv`). Late amounts bear
interest at the specified rate on the portal's statement ([portal API](portal-api.md)).

## Corrections and adjustments

The embedded portal tells them apart by the **time it receives** a change or a cancellation, not
by the amendment kind the filer declares: on or before 23:59:59 Eastern time (America/Toronto) on
the payment due date of the original's release it is a **correction**, accepted at once (status
`40`); after it an **adjustment**, assessed and stored **pending** (status `42`, HTTP 202) without
touching the ledger until an operator approves or refuses it (`POST
/v1/declarations/{transaction_number}/versions/{version}/decision`, `carm-edi portal
approve|refuse`; recorded with who and when). While one is pending the transaction takes no other
version (`P107`). A refused adjustment stays in the history as status `41` (`P120` with the
operator's note); version numbers count every stored version, so it is never reused. The portal
checks a change's reason code against the same `reason_codes.csv` as `VER-RSN` (`P108` unknown,
`P109` reserved to CBSA).

On the statement a transaction's **declaration** line is its latest version accepted as original or
correction, on the original's billing period and due date. Each **approved adjustment** adds a line:
its assessed total less the accepted version's before it, on the billing period holding the
approval day (Eastern time), due on that period's due date, with interest at the specified rate
from the day after the **original's** due date (Customs Act s.33.4(1): the amount was owing since
then). A negative difference is a credit: it bears no interest and first settles its transaction's
earlier lines (as of the original's due date, so what it removed bears none either); what is left
is owed back. Payments naming the transaction pay its lines oldest due first; pending adjustments are listed on the statement, outside every total.
"""


_HEADER = "| Id | Severity | Field | Needs | Portal code | Rule | Source |\n|---|---|---|---|---|---|---|\n"


def _row(rule: Rule[Any]) -> str:
    needs = ", ".join(need.value for need in rule.needs) or "—"
    portal = f"`{rule.portal_code}`" if rule.portal_code else "—"
    summary = rule.summary + (f" — {rule.notes}" if rule.notes else "")
    return (
        f"| `{rule.rule_id}` | {rule.severity.value} | `{rule.field}` | {needs} | {portal} | {summary} "
        f"| {rule.source} |"
    )


def _treatments() -> str:
    """The treatment list (TAR-TT) and who may claim each (TAR-ORG), from tariff_treatments.csv."""
    reference = default_reference()
    rows = [
        f"| {info.label} | {info.name} | {info.describe_origins()} | {info.source} |"
        for info in sorted(reference.treatments.values(), key=lambda info: int(info.code))
    ]
    return (
        "\n## Tariff treatments\n\n"
        "The codes `TAR-TT` accepts and the origins `TAR-ORG` accepts for each, from "
        "`fixtures/reference/tariff_treatments.csv` "
        f"(version {reference.versions.get('tariff_treatments.csv')}), the one list of treatment codes "
        "(the embedded portal's `P202` and `carm-edi estimate` read it too). A declaration may give a code "
        "with or without its leading zero (`2` or `02`).\n\n"
        "| Treatment | Name | Origins entitled | Source |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def render() -> str:
    """docs/rules.md."""
    parts = [_PREAMBLE]
    groups: dict[str, list[Rule[Declaration]]] = {}
    for rule in RULES:
        groups.setdefault(rule.group, []).append(rule)
    for group, rules in groups.items():
        parts.append(f"\n## {group}\n\n{_HEADER}")
        parts.append("\n".join(_row(rule) for rule in rules) + "\n")
    parts.append(
        "\n## Payments\n\nOn the domain `Payment` (`validators/rules/payments.py`, `check_payment`), for pain.001, PAYMUL "
        "and REMADV alike; they run in every context (the portal code is the portal's own check of the same thing). "
        "The file-level checks (control sum, number of transactions, duplicate message id) and the pain.002 reason "
        "codes are in [formats/payments.md](formats/payments.md).\n\n" + _HEADER
    )
    parts.append("\n".join(_row(rule) for rule in PAYMENT_RULES) + "\n")
    parts.append(_treatments())
    parts.append(
        "\nReference tables (`validators/reference_data.py`; versions are the `# reference-version:` comments) "
        "ship as illustrative subsets; point `ReferenceData.load(directory)` at a full extract.\n"
    )
    return "".join(parts)


def main() -> None:
    print(render(), end="")


if __name__ == "__main__":
    main()
