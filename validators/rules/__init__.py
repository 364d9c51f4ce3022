"""Business rules on the domain ``Declaration`` — one catalogue for every channel.

``check_declaration(declaration, context=None) -> list[Violation]``; the rules are listed
in ``validators.rules.registry.RULES`` and documented in docs/rules.md (generated).
"""

from __future__ import annotations

from domain import Declaration
from validators.rules.base import (
    COMPATIBLE_CONTEXT,
    Check,
    ContextUnavailable,
    DelegationLookup,
    HistoryLookup,
    Needs,
    Rule,
    RuleContext,
    TransactionHistory,
    Violation,
    accounting_due_date,
    payment_due_date,
)
from validators.rules.facts import SHARED, DeclarationFacts
from validators.rules.registry import RULES


def check_declaration(declaration: Declaration, context: RuleContext | None = None) -> list[Violation]:
    """Every violation of every rule that applies in ``context``, in catalogue order.

    Without a context: ``COMPATIBLE_CONTEXT`` (errors only; not the checks the portal makes).
    """
    context = context if context is not None else COMPATIBLE_CONTEXT
    violations: list[Violation] = []
    token = SHARED.set(DeclarationFacts(declaration, context))
    try:
        # ``Rule.run`` for each rule, inlined: every declaration runs every rule, and most find nothing
        for rule, check in _applicable(context):
            try:
                found = check(declaration, context)
            except ContextUnavailable:
                continue
            if found:
                violations += rule.violations(found, context)
    finally:
        SHARED.reset(token)
    return violations


_last_applicable: tuple[RuleContext, list[tuple[Rule[Declaration], Check[Declaration]]]] | None = None


def _applicable(context: RuleContext) -> list[tuple[Rule[Declaration], Check[Declaration]]]:
    """The rules that apply in ``context``, in catalogue order, each with its check; worked out
    once for the context a flow checks all its declarations in (one entry: a tuple read at once,
    safe across threads)."""
    global _last_applicable
    last = _last_applicable
    if last is not None and last[0] is context:
        return last[1]
    rules = [(rule, rule.check) for rule in RULES if rule.applies(context)]
    _last_applicable = (context, rules)
    return rules


def rule(rule_id: str) -> Rule[Declaration]:
    for candidate in RULES:
        if candidate.rule_id == rule_id:
            return candidate
    raise KeyError(rule_id)


__all__ = [
    "COMPATIBLE_CONTEXT",
    "RULES",
    "ContextUnavailable",
    "DelegationLookup",
    "HistoryLookup",
    "Needs",
    "Rule",
    "RuleContext",
    "TransactionHistory",
    "Violation",
    "accounting_due_date",
    "check_declaration",
    "payment_due_date",
    "rule",
]
