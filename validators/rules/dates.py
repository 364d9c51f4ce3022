"""Date and version rules (carm-brief §1): release date, the accounting deadline, and a
change or cancellation against the transaction's history in the portal.

The history rules need ``RuleContext.history``; without it (``carm-edi check``, offline)
they are skipped with no finding — the portal enforces the same checks (P102-P105) when
the declaration is posted. The correction/adjustment rule has no portal counterpart.
"""

from __future__ import annotations

import datetime as dt

from domain import Declaration, DeclarationFunction
from domain.declaration import AmendmentKind
from domain.identifiers import bn9_of
from validators.reference_data import ReferenceData
from validators.rules.base import (
    ContextUnavailable,
    RuleContext,
    TransactionHistory,
    accounting_due_date,
    payment_due_date,
)
from validators.rules.facts import facts


def release_not_in_future(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    today = facts(d, ctx).filing_date
    if d.release_date > today:
        found.append(
            (
                "release_date",
                f"release date {d.release_date.isoformat()} is in the future (today is {today.isoformat()})",
            )
        )
    return found


def _24th_of_next_month(release: dt.date) -> dt.date:
    year, month = (release.year + 1, 1) if release.month == 12 else (release.year, release.month + 1)
    return dt.date(year, month, 24)


def accounting_deadline(d: Declaration, ref: ReferenceData) -> tuple[dt.date, str]:
    """When the CAD is due and why: 5 business days after release (SOR/86-1062 s.10(a)); a courier
    low-value shipment by the 24th of the month after release (s.10(b)); a CSA importer by its
    payment due date (s.10.3(3)), or for a courier low-value shipment the 24th when later (s.10.31)."""
    courier = d.type_code in ref.courier_low_value_types
    csa = bn9_of(d.importer.account) in ref.csa_importers
    if csa:
        due, why = payment_due_date(d.release_date, ref), "the payment due date of a CSA importer's billing period"
        if courier and _24th_of_next_month(d.release_date) > due:
            return _24th_of_next_month(d.release_date), "the 24th of the month after release (CSA courier low-value)"
        return due, why
    if courier:
        return _24th_of_next_month(d.release_date), (
            f"the 24th of the month after release for a courier low-value shipment, CAD type {d.type_code}"
        )
    return accounting_due_date(d.release_date, ref), "5 business days after release"


def accounted_in_time(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if d.function is not DeclarationFunction.ORIGINAL:
        return found
    shared = facts(d, ctx)
    due, why = accounting_deadline(d, shared.ref)
    today = shared.filing_date
    if today > due:
        found.append(
            (
                "release_date",
                (
                    f"the CAD for goods released on {d.release_date.isoformat()} was due on {due.isoformat()} "
                    f"({why}); filed on {today.isoformat()}, it is late and interest may apply"
                ),
            )
        )
    return found


def change_has_reason(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if d.function is not DeclarationFunction.CHANGE:
        return found
    if d.amendment is None:
        found.append(("amendment", "a change (correction or adjustment) must carry a reason code"))
        return found
    code = d.amendment.reason_code
    use = ctx.ref.reason_codes.get(code)
    if use is None:
        found.append(
            (
                "amendment.reason_code",
                f"reason code {code!r} is not a D17-2-1 Appendix A reason code (not in the loaded reason_codes.csv)",
            )
        )
    elif use == "cbsa":
        found.append(
            (
                "amendment.reason_code",
                f"reason code {code!r} is reserved to CBSA (D17-2-1 Appendix A); a filer may not use it",
            )
        )
    return found


def original_is_version_one(d: Declaration, _: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if d.function is DeclarationFunction.ORIGINAL and d.version != 1:
        found.append(("version", f"an original declaration is version 1, not {d.version}"))
    return found


def _history(d: Declaration, ctx: RuleContext) -> TransactionHistory | None:
    if ctx.history is None:  # Rule.applies keeps this from happening
        raise ContextUnavailable("no history lookup")
    return ctx.history(d.transaction_number)


def _is_follow_up(d: Declaration) -> bool:
    return d.function in (DeclarationFunction.CHANGE, DeclarationFunction.CANCELLATION)


def _kind(d: Declaration) -> str:
    return "change" if d.function is DeclarationFunction.CHANGE else "cancellation"


def original_is_new(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if d.function is not DeclarationFunction.ORIGINAL:
        return found
    history = _history(d, ctx)
    if history is not None:
        found.append(
            (
                "transaction_number",
                (
                    f"transaction {d.transaction_number} already exists (latest version {history.latest_version}); "
                    "an original needs a new transaction number"
                ),
            )
        )
    return found


def follow_up_exists(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if _is_follow_up(d) and _history(d, ctx) is None:
        found.append(
            (
                "transaction_number",
                (
                    f"{_kind(d)} of transaction {d.transaction_number}, which does not exist: "
                    "only a declaration that was accepted can be changed or cancelled"
                ),
            )
        )
    return found


def follow_up_not_cancelled(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not _is_follow_up(d):
        return found
    history = _history(d, ctx)
    if history is not None and history.cancelled:
        found.append(
            (
                "transaction_number",
                (
                    f"{_kind(d)} of transaction {d.transaction_number}, which was cancelled in version {history.latest_version}"
                ),
            )
        )
    return found


def follow_up_is_next_version(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not _is_follow_up(d):
        return found
    history = _history(d, ctx)
    if history is not None and not history.cancelled and d.version != history.latest_version + 1:
        found.append(
            (
                "version",
                (
                    f"{_kind(d)} is version {d.version}; the next version of transaction {d.transaction_number} "
                    f"is {history.latest_version + 1} (latest accepted: {history.latest_version})"
                ),
            )
        )
    return found


def correction_before_due_date(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if d.function is not DeclarationFunction.CHANGE:
        return found
    if d.amendment is not None and d.amendment.kind is AmendmentKind.ADJUSTMENT:
        return found  # declared an adjustment: allowed at any time, CBSA decides
    history = _history(d, ctx)
    if history is None or history.cancelled:
        return found
    due = payment_due_date(history.release_date, ctx.ref)
    today = facts(d, ctx).filing_date
    if today > due:
        found.append(
            (
                "function",
                (
                    f"change filed on {today.isoformat()}, after the payment due date {due.isoformat()} of transaction "
                    f"{d.transaction_number} (released {history.release_date.isoformat()}): it is no longer a correction "
                    "but an adjustment, which needs CBSA approval and may carry interest; declare it an adjustment "
                    "(EDIFACT FTX+CHG+…+ADJ, XML Amendment/AdditionalInformation/StatementTypeCode ADJ)"
                ),
            )
        )
    return found
