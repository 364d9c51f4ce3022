"""The rule machinery: ``Rule``, ``Violation``, the ``RuleContext`` a check runs in, and the
deadline arithmetic shared by the date and version rules."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from diagnostics import Severity
from domain.payment import DEFAULT_CALENDAR
from validators.reference_data import ReferenceData, default_reference


@dataclass(frozen=True)
class Violation:
    rule_id: str
    message: str
    pointer: str
    severity: Severity = Severity.ERROR


class Needs(StrEnum):
    """What a rule needs beyond the declaration and the reference data."""

    HISTORY = "history"  # RuleContext.history: the portal's versions of the transaction
    DELEGATION = "delegation"  # RuleContext.delegation: the portal's delegations


@dataclass(frozen=True)
class TransactionHistory:
    """What the portal knows about one transaction number (its accepted versions)."""

    transaction_number: str
    latest_version: int
    cancelled: bool
    release_date: dt.date  # of the original (version 1): the payment due date counts from it


HistoryLookup = Callable[[str], "TransactionHistory | None"]
"""Transaction number → its history, or None when the portal does not know it."""

DelegationLookup = Callable[[str, str], bool]
"""(importer account, declarant account) → True when the declarant holds an active delegation."""


class ContextUnavailable(Exception):
    """A lookup could not answer (portal down): the rule is skipped, the portal enforces."""


def _today_eastern() -> dt.date:
    """CARM's deadlines are in Eastern time (carm-brief §1). Asked once per declaration
    checked, the clock and the zone are read again only once the day read last has ended."""
    global _today_until
    cached = _today_until
    now = time.time()
    if cached is not None and now < cached[0]:
        return cached[1]
    try:
        from zoneinfo import ZoneInfo

        zone: dt.tzinfo = ZoneInfo("America/Toronto")
    except Exception:  # no time-zone database: UTC is at most a day off
        zone = dt.UTC
    today = dt.datetime.fromtimestamp(now, zone).date()
    midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=zone).timestamp()
    _today_until = (midnight, today)
    return today


_today_until: tuple[float, dt.date] | None = None
"""The date ``_today_eastern`` read last and the time (seconds since the epoch) its day ends."""


@dataclass(frozen=True)
class RuleContext:
    """Everything a rule may consult besides the declaration.

    - ``reference``: the reference tables; None → the shipped subsets (``default_reference()``).
    - ``today``: the filing date for deadlines; None → today in Eastern time.
    - ``history``: portal history lookup; None → the version-history rules are skipped.
    - ``delegation``: delegation lookup; None → the delegation pre-check is skipped.
    - ``portal_prechecks``: False skips the rules the portal also enforces (``Rule.portal_code``),
      so that a flow that posts anyway gets the portal's own codes for them.
    - ``warnings``: False returns errors only.
    """

    reference: ReferenceData | None = None
    today: dt.date | None = None
    history: HistoryLookup | None = None
    delegation: DelegationLookup | None = None
    portal_prechecks: bool = True
    warnings: bool = True

    @property
    def ref(self) -> ReferenceData:
        return self.reference if self.reference is not None else default_reference()

    @property
    def filing_date(self) -> dt.date:
        return self.today if self.today is not None else _today_eastern()


COMPATIBLE_CONTEXT = RuleContext(portal_prechecks=False, warnings=False)
"""The context of ``check_declaration(declaration)`` (no context given): errors only, and
not the rules the portal enforces itself — what callers that reject on every violation
and post to the portal expect (the EDIFACT flow before it passes a context)."""

Subject = TypeVar("Subject")
"""What a rule checks: the ``Declaration`` (registry.py) or the ``Payment`` (payments.py)."""

Check = Callable[[Subject, RuleContext], Sequence[tuple[str, str] | tuple[str, str, Severity]]]
"""A rule's check returns ``(pointer, message)`` for every violation it finds, or
``(pointer, message, severity)`` when the rule's verdict depends on the case (a
warning unless the file declares what would explain the difference). A list, not a
generator: every rule runs on every declaration and most find nothing, and an empty
list costs less than a generator run to its end."""


@dataclass(frozen=True)
class Rule(Generic[Subject]):
    rule_id: str  # at most 8 characters: it is the CUSRES ERC code
    summary: str
    check: Check[Subject]
    severity: Severity = Severity.ERROR
    field: str = ""  # the domain path(s) the violations point at
    needs: tuple[Needs, ...] = ()
    portal_code: str | None = None  # the portal's validation code for the same check, if any
    group: str = ""
    notes: str = ""
    source: str = ""  # the public text the rule rests on, or "unverified: our choice, docs/decisions.md"

    def __post_init__(self) -> None:
        if len(self.rule_id) > 8:
            raise ValueError(f"rule id {self.rule_id!r} is longer than 8 characters")

    def run(self, subject: Subject, context: RuleContext) -> list[Violation]:
        """The rule's violations; none when a lookup it needs is unavailable."""
        try:
            found = self.check(subject, context)
        except ContextUnavailable:
            return []
        return self.violations(found, context) if found else []

    def violations(
        self, found: Sequence[tuple[str, str] | tuple[str, str, Severity]], context: RuleContext
    ) -> list[Violation]:
        """What the check found, as violations (a warning only when ``context`` wants warnings)."""
        graded = [(item[0], item[1], item[2] if len(item) == 3 else self.severity) for item in found]
        return [
            Violation(self.rule_id, message, pointer, severity)
            for pointer, message, severity in graded
            if severity is not Severity.WARNING or context.warnings
        ]

    def applies(self, context: RuleContext) -> bool:
        if self.severity is Severity.WARNING and not context.warnings:
            return False
        if self.portal_code is not None and not context.portal_prechecks:
            return False
        if Needs.HISTORY in self.needs and context.history is None:
            return False
        return not (Needs.DELEGATION in self.needs and context.delegation is None)


# deadlines (carm-brief §1) ----------------------------------------------------------------

ACCOUNTING_BUSINESS_DAYS = 5


def accounting_due_date(release: dt.date, reference: ReferenceData) -> dt.date:
    """The CAD is due within 5 business days of release."""
    return reference.add_business_days(release, ACCOUNTING_BUSINESS_DAYS)


def billing_period_end(release: dt.date, reference: ReferenceData | None = None) -> dt.date:
    """The last day of the release's billing period (18th of one month to the 17th of the next
    unless the reference's ``billing_calendar.csv`` says otherwise)."""
    calendar = reference.calendar if reference is not None else DEFAULT_CALENDAR
    return calendar.period(release)[1]


def payment_due_date(release: dt.date, reference: ReferenceData) -> dt.date:
    """The payment due date of the release's billing period: the 10th weekday after its
    17th (SOR/86-1062 s.10.3(3)), per the reference's billing calendar."""
    return reference.calendar.due_date(billing_period_end(release, reference), reference.holidays)
