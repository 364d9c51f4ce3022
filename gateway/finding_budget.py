"""How many findings one file's report lists in full.

Bad input can hold a finding per segment: a 50 MB file of stray segments would
otherwise make a report (and a CONTRL) of hundreds of megabytes and hold every
finding in memory until the file is done. A file's report therefore lists its
first ``LISTED_FINDINGS`` findings in full, wherever they stand (the file's own
errors, its interchanges', its documents'), and past that keeps only a count
per finding code (``findings_omitted`` in the JSON report).

A ``Findings`` collection is one report entry's list under its file's budget:
the findings it holds are the listed ones, ``found`` counts every finding it
was given. A verdict never depends on the list being complete: document and
interchange statuses are set explicitly by the flows, and what asks "were
there any findings?" asks ``found``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import SupportsIndex, overload

from diagnostics import Finding

LISTED_FINDINGS = 1000
"""Findings a file's report lists in full (issue 15: "findings listed in full up to 1,000 per file")."""

QUOTED_CHARACTERS = 500
"""The longest message or location text a listed finding keeps (and the longest
identifier a report entry shows): findings quote the input, and junk can hand
them a "value", a "tag" or a message reference of megabytes."""


class FindingBudget:
    """The listing budget of one file: the first ``limit`` findings are listed,
    the rest counted per code."""

    def __init__(self, limit: int = LISTED_FINDINGS) -> None:
        self.limit = limit
        self.listed = 0
        self.omitted: Counter[str] = Counter()

    def admit(self, finding: Finding) -> bool:
        """Whether ``finding`` is listed; if not, it is counted under its code."""
        if self.listed < self.limit:
            self.listed += 1
            return True
        self.omitted[finding.code] += 1
        return False

    @property
    def omitted_total(self) -> int:
        return sum(self.omitted.values())

    def sentence(self) -> str | None:
        """What the report says about the findings it does not list (None: it lists them all)."""
        if not self.omitted:
            return None
        codes = ", ".join(f"{code}: {count:,}" for code, count in self.omitted.most_common())
        return (
            f"{self.listed + self.omitted_total:,} findings: the first {self.listed:,} are listed in full, "
            f"{self.omitted_total:,} more are only counted per code ({codes})"
        )


class Findings(list[Finding]):
    """The findings one report entry lists, under its file's ``FindingBudget``.

    Adding goes through the budget (``append``, ``extend``, ``+=``, ``insert``):
    a finding past the budget is counted, not stored. ``found`` is how many
    were added, ``first`` the first of them (listed or not: a CONTRL's UCI
    names it). Share one collection between the report and a flow rather than
    copying it: a copy added to another collection is budgeted (and counted) twice.
    """

    def __init__(self, budget: FindingBudget | None = None, findings: Iterable[Finding] = ()) -> None:
        super().__init__()
        self.budget = budget if budget is not None else FindingBudget()
        self.found = 0
        self.first: Finding | None = None
        if findings:  # most collections start empty (a report entry's, for one)
            self.extend(findings)

    @classmethod
    def restored(cls, budget: FindingBudget, listed: Iterable[Finding], found: int, first: Finding | None) -> Findings:
        """A collection as it was saved (``listed``, already admitted by
        ``budget``): nothing is counted again."""
        findings = cls(budget)
        list.extend(findings, listed)
        findings.found = found
        findings.first = first
        return findings

    def append(self, finding: Finding) -> None:
        self.found += 1
        if self.first is None:
            self.first = _bounded(finding)
        if self.budget.admit(finding):
            super().append(_bounded(finding))

    def extend(self, findings: Iterable[Finding]) -> None:
        for finding in findings:
            self.append(finding)

    def __iadd__(self, findings: Iterable[Finding]) -> Findings:  # type: ignore[override,misc]
        self.extend(findings)
        return self

    def insert(self, index: SupportsIndex, finding: Finding) -> None:
        self.found += 1
        if self.first is None or index == 0:
            self.first = _bounded(finding)
        if self.budget.admit(finding):
            super().insert(index, _bounded(finding))

    def head(self) -> list[Finding]:
        """The first finding found as a one-item list ([] when none was found)."""
        return [self.first] if self.first is not None else []


def _bounded(finding: Finding) -> Finding:
    """``finding`` with its message and location texts cut to ``QUOTED_CHARACTERS``."""
    location = finding.location
    texts = (finding.message, location.message_ref, location.tag, location.field, location.xpath)
    if all(text is None or len(text) <= QUOTED_CHARACTERS for text in texts):
        return finding
    return dataclasses.replace(
        finding,
        message=quoted(finding.message),
        location=dataclasses.replace(
            location,
            message_ref=quoted(location.message_ref),
            tag=quoted(location.tag),
            field=quoted(location.field),
            xpath=quoted(location.xpath),
        ),
    )


@overload
def quoted(text: str) -> str: ...
@overload
def quoted(text: None) -> None: ...
def quoted(text: str | None) -> str | None:
    """``text`` as a report quotes what it read: cut to ``QUOTED_CHARACTERS``."""
    if text is None or len(text) <= QUOTED_CHARACTERS:
        return text
    return f"{text[:QUOTED_CHARACTERS]}… ({len(text):,} characters)"
