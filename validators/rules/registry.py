"""The rule catalogue: every rule, in the order the rules run (docs/rules.md is generated
from it by ``python -m validators.rules.catalogue``)."""

from __future__ import annotations

from diagnostics import Severity
from domain import Declaration
from validators.rules import amounts, dates, identifiers, parties
from validators.rules.base import Needs, Rule

W = Severity.WARNING
H, D = (Needs.HISTORY,), (Needs.DELEGATION,)

RULES: tuple[Rule[Declaration], ...] = (
    # identifiers
    Rule("ID-BN9-I", "Importer BN9 passes Luhn", identifiers.importer_bn9, field="importer.account", group="Identifiers"),
    Rule("ID-BN9-D", "Declarant BN9 passes Luhn", identifiers.declarant_bn9, field="declarant.account", group="Identifiers"),
    Rule("ID-RM", "Importer account is an RM program account (#########RM####)", identifiers.importer_program, field="importer.account", group="Identifiers",
         notes="The portal rejects the same with P301; kept in every context (a v1 rule)."),
    Rule("ID-PGM", "Declarant account's program identifier is RC, RM, RP or RT", identifiers.declarant_program, field="declarant.account", group="Identifiers"),
    Rule("ID-TXN", "Transaction number check digit (sum mod 10, every second digit doubled)", identifiers.transaction_check_digit, field="transaction_number", group="Identifiers"),
    Rule("ID-OFF", "Office of release is in the office list", identifiers.office_known, field="office_of_release", group="Identifiers"),
    Rule("ID-CCN", "Cargo control number starts with a 4-character carrier code followed by the carrier's reference", identifiers.cargo_control_number, field="cargo_control_number", group="Identifiers",
         notes="Length 5-25 and the characters A-Z, 0-9, '-' are the model's syntax check."),
    Rule("ID-CTY", "Countries (origin, vendor) are ISO 3166 codes (XK included)", identifiers.countries_known, field="lines[i].country_of_origin, vendor.country", group="Identifiers"),
    Rule("ID-CUR", "Invoice currency is an ISO 4217 code", identifiers.currency_known, field="currency", group="Identifiers"),
    Rule("ID-UOM", "Units of measure are UN/ECE Rec. 20 codes", identifiers.units_known, field="lines[i].unit", group="Identifiers"),
    Rule("LIN-SEQ", "Lines are numbered 1..n in order", identifiers.lines_numbered, field="lines[i].line_number", group="Identifiers"),
    # tariff and amounts
    Rule("TAR-HS", "HS code has a tariff row in force on the release date", amounts.hs_in_tariff, field="lines[i].hs_code", portal_code="P201", group="Tariff and amounts"),
    Rule("TAR-TT", "Tariff treatment code is known", amounts.treatment_known, field="lines[i].tariff_treatment", portal_code="P202", group="Tariff and amounts"),
    Rule("TAR-ORG", "Tariff treatment applies to the country of origin", amounts.treatment_for_origin, severity=W, field="lines[i].tariff_treatment", group="Tariff and amounts",
         notes="A warning: origin is one condition of a preference, not proof of it, and the shipped treatment list leaves GPT, LDCT and CCCT unconstrained."),
    Rule("AMT-FX", "Exchange rate equals the reference rate for the currency on the release date", amounts.exchange_rate, field="exchange_rate", group="Tariff and amounts",
         notes="No finding when the reference table has no rate for the currency and date."),
    Rule("AMT-VFD", "Value for duty = invoice amount × exchange rate", amounts.value_for_duty, field="lines[i].value_for_duty", group="Tariff and amounts",
         notes="Only lines that declare their invoice amount."),
    Rule("AMT-RATE", "Declared duty rate equals the tariff rate", amounts.duty_rate, field="lines[i].duty_rate", group="Tariff and amounts"),
    Rule("AMT-DUTY", "Declared customs duty = duty rate × value for duty", amounts.customs_duty, field="lines[i].customs_duty", group="Tariff and amounts"),
    Rule("AMT-EXC", "Declared excise tax = excise rate × value for duty", amounts.excise_tax, field="lines[i].excise_tax", group="Tariff and amounts"),
    Rule("AMT-VFT", "Declared value for tax = value for duty + duty + excise", amounts.value_for_tax, field="lines[i].value_for_tax", group="Tariff and amounts"),
    Rule("AMT-GST", "Declared GST = 5 % of the value for tax, or 0 for GST-exempt goods", amounts.gst, field="lines[i].gst", group="Tariff and amounts",
         notes="Names the mistake when the GST was computed on the value for duty."),
    Rule("AMT-TOT", "Invoice total equals the sum of the line invoice amounts", amounts.header_total, severity=W, field="invoice.total_amount", group="Tariff and amounts",
         notes="A warning: existing partner files carry invoice totals of the whole commercial invoice."),
    # dates and versions
    Rule("DAT-FUT", "Release date is not in the future", dates.release_not_in_future, field="release_date", group="Dates and versions"),
    Rule("DAT-LATE", "An original is filed within 5 business days of release", dates.accounted_in_time, severity=W, field="release_date", group="Dates and versions",
         notes="The message gives the due date."),
    Rule("VER-RSN", "A change carries a reason code", dates.change_has_reason, field="amendment", group="Dates and versions",
         notes="The portal rejects the same with P106; kept in every context (a v1 rule)."),
    Rule("VER-ORIG", "An original is version 1", dates.original_is_version_one, field="version", group="Dates and versions",
         notes="The portal rejects the same with P101; kept in every context (a v1 rule)."),
    Rule("VER-DUP", "An original uses a new transaction number", dates.original_is_new, field="transaction_number", needs=H, portal_code="P102", group="Dates and versions"),
    Rule("VER-UNK", "A change or cancellation references an existing transaction", dates.follow_up_exists, field="transaction_number", needs=H, portal_code="P103", group="Dates and versions"),
    Rule("VER-CNCL", "A change or cancellation references a transaction that is not cancelled", dates.follow_up_not_cancelled, field="transaction_number", needs=H, portal_code="P105", group="Dates and versions"),
    Rule("VER-NEXT", "A change or cancellation is the latest version + 1", dates.follow_up_is_next_version, field="version", needs=H, portal_code="P104", group="Dates and versions"),
    Rule("VER-ADJ", "A change is filed by the payment due date (a correction); after it, it is an adjustment", dates.correction_before_due_date, field="function", needs=H, group="Dates and versions",
         notes="Payment due date = 10 business days after the 17th that ends the billing period of the original's release. A change declared an adjustment (amendment kind `adjustment`: EDIFACT FTX+CHG C107 4441 `ADJ`, XML StatementTypeCode `ADJ`) passes at any time; CBSA approves it."),
    # parties
    Rule("DLG-ACT", "A broker declarant holds an active delegation for the importer's RM account", parties.declarant_delegated, field="declarant.account", needs=D, portal_code="69", group="Delegation",
         notes="The portal answers 412 / code 69 (no delegation) or 415 / code 90 (unknown declarant)."),
)
