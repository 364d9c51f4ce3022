"""Business rules on the domain ``Declaration`` — kept as the import path the flows use.

The rules live in ``validators.rules`` (one catalogue, docs/rules.md); this module
re-exports ``check_declaration``, ``Rule``, ``Violation``, ``RuleContext`` and ``RULES``.
"""

from validators.rules import (
    COMPATIBLE_CONTEXT,
    RULES,
    ContextUnavailable,
    Rule,
    RuleContext,
    TransactionHistory,
    Violation,
    check_declaration,
)

__all__ = [
    "COMPATIBLE_CONTEXT",
    "RULES",
    "ContextUnavailable",
    "Rule",
    "RuleContext",
    "TransactionHistory",
    "Violation",
    "check_declaration",
]
