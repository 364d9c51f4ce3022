"""Delegation rule (carm-brief §6): a broker files for an importer only under an active
delegation for the importer's RM account. The portal enforces it (412 / validation code 69,
415 / 90 for an unknown declarant); the gateway pre-checks through ``RuleContext.delegation``
(e.g. ``PortalClient.delegation_active``, cached) and skips the rule without it."""

from __future__ import annotations

from domain import Declaration
from domain.identifiers import bn9_of, bn9_valid, is_program_account
from validators.rules.base import ContextUnavailable, RuleContext


def declarant_delegated(d: Declaration, ctx: RuleContext) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    importer, declarant = d.importer.account, d.declarant.account
    if not is_program_account(importer, "RM") or not bn9_valid(bn9_of(importer)) or not bn9_valid(bn9_of(declarant)):
        return found  # ID-RM / ID-BN9-* report these; a delegation cannot be looked up
    if bn9_of(importer) == bn9_of(declarant):
        return found  # the importer files for itself
    if ctx.delegation is None:
        raise ContextUnavailable("no delegation lookup")
    if not ctx.delegation(importer, declarant):
        found.append(
            (
                "declarant.account",
                (
                    f"declarant {declarant} holds no active delegation from importer {importer}: "
                    "CARM rejects the declaration (sender does not match, 412 / validation code 69)"
                ),
            )
        )
    return found
