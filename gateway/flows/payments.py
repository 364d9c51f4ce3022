"""What every payment flow shares (docs/formats/payments.md): a domain ``Payment``
is checked with the payment rules (``validators.rules.payments``), then posted to
the portal's ``/v1/payments`` with a deterministic Idempotency-Key (the portal
applies it to the account ledger, or rejects it: unknown account, duplicate
end-to-end reference ...); and what the JSON report says about it.

A message id (GrpHdr/MsgId, BGM 1004) seen before from the same sender is a
duplicate (through the gateway ledger's registry, as interchanges are): the whole
message is rejected (PAY-DUPM, pain.002 DU01). A repeated end-to-end reference is
caught within the file (PAY-DUPE) and, across files, by the portal (P404): nothing is
applied twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from diagnostics import Finding, Location, Severity
from domain.payment import Payment, PaymentOutcome
from gateway.flows.contract import FlowOptions, payment_idempotency_key
from validators.rules import RuleContext
from validators.rules.payments import check_payment

DUPLICATE_MESSAGE = "PAY-DUPM"
NOT_PROCESSED = "PAY-NOTP"


@dataclass
class Decision:
    accepted: bool
    findings: list[Finding] = field(default_factory=list)
    outcome: PaymentOutcome | None = None


def decide(payment: Payment, locate: Callable[[str | None], Location], options: FlowOptions) -> Decision:
    """The payment rules, then (when they pass and there is a poster) the portal."""
    findings = [
        Finding(v.rule_id, v.message, locate(v.pointer), v.severity) for v in check_payment(payment, RuleContext())
    ]
    if any(f.severity is Severity.ERROR for f in findings):
        return Decision(False, findings)
    poster = options.payment_poster
    if poster is None:
        return Decision(True, findings)
    outcome = poster(payment, payment_idempotency_key(payment))
    findings.extend(Finding(e.code, e.message, locate(e.pointer)) for e in outcome.errors)
    return Decision(outcome.status.accepted, findings, outcome)


def summary(payment: Payment | None, decision: Decision | None, end_to_end: str | None = None) -> dict[str, Any]:
    """What the JSON report says about one payment."""
    data: dict[str, Any] = {"end_to_end_reference": payment.end_to_end_reference if payment else end_to_end}
    if payment is not None:
        data.update(
            amount=str(payment.amount),
            currency=payment.currency,
            value_date=payment.value_date.isoformat(),
            accounts=payment.accounts,
        )
    if decision is not None and decision.outcome is not None:
        outcome = decision.outcome
        data["portal_status"] = outcome.status.value
        data["payment_id"] = outcome.payment_id
        data["applied"] = [
            {"account": a.account, "transaction_number": a.transaction_number, "amount": str(a.amount)}
            for a in outcome.applications
        ]
    return data


def applied_text(payment: Payment, decision: Decision) -> str:
    outcome = decision.outcome
    if outcome is None:
        return f"payment {payment.amount} {payment.currency} passed every check (not posted)"
    parts = [f"{a.amount} to {a.transaction_number}" for a in outcome.applications if a.transaction_number]
    unapplied = outcome.unapplied
    text = f"applied {payment.amount} {payment.currency}" + (": " + ", ".join(parts) if parts else "")
    if unapplied:
        text += f"; {unapplied} unapplied on {', '.join(payment.accounts)}"
    return text
