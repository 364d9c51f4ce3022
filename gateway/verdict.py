"""The run's verdict, the DAG's last task: alert on what needs an operator, then fail
the run when something did (``gateway.run_outcome.causes``), after every partner was
served; partners silent past their expected interval are alerted once per silence
(each alert in the audit trail); and the deadline alert's callback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from gateway.notifier import Alert, notify
from gateway.partners import PartnerRegistry, load_registry
from gateway.run_outcome import RunFailed, causes
from gateway.settings import Settings
from ledger import Ledger
from ledger.search import partner_activity
from ledger.store import as_utc
from ledger.tables import utcnow

ALERT_ACTION = "alert: silent"
"""The audit trail's action of a silent-partner alert (who: the gateway)."""


def judge_run(settings: Settings, summary: Mapping[str, Any] | None, run_id: str | None) -> list[str]:
    """Alert, then raise ``RunFailed`` listing the causes when the run must fail; the
    silent partners alerted (a silence alone does not fail the run: no file is lost)."""
    found = causes(summary)
    if found:
        notify(settings, Alert("run-failed", f"carm_inbound run failed: {len(found)} causes", found, run_id))
    silent = alert_silent_partners(settings, run_id)
    if found:
        raise RunFailed("the run needs an operator:\n" + "\n".join(f"- {cause}" for cause in found))
    return silent


def alert_silent_partners(settings: Settings, run_id: str | None = None, now: dt.datetime | None = None) -> list[str]:
    """Partners with an expected interval whose last file (or, never seen, whose first) is
    overdue, not alerted since their last file: one alert naming them, each recorded."""
    now = now or utcnow()
    registry: PartnerRegistry = load_registry(settings.partners_path)
    ledger = Ledger(settings.ledger_database_url())
    try:
        activity = partner_activity(ledger, now)
        lines, silent = [], []
        for partner in registry.partners:
            if partner.expected_interval_minutes is None:
                continue
            interval = dt.timedelta(minutes=partner.expected_interval_minutes)
            seen = activity.get(partner.id)
            last = seen.last_seen if seen is not None else None
            if last is not None and now - last <= interval:
                continue
            target = f"partner {partner.id}"
            alerted = ledger.actions(target=target, limit=1)
            if alerted and alerted[0].action == ALERT_ACTION and (last is None or as_utc(alerted[0].at) >= last):
                continue  # this silence was alerted already
            since = f"no file since {last:%Y-%m-%d %H:%M} UTC" if last else "no file ever received"
            line = f"partner {partner.id}: {since}; expected at least every {partner.expected_interval_minutes:g} min"
            ledger.record_action(who="carm_inbound", action=ALERT_ACTION, target=target, source="dag", detail=line)
            lines.append(line)
            silent.append(partner.id)
    finally:
        ledger.dispose()
    if lines:
        notify(settings, Alert("partner-silent", f"{len(lines)} partners silent", lines, run_id))
    return silent


def run_overdue(settings: Settings, run_id: str | None, deadline: str | None = None) -> None:
    """The deadline alert's callback: the run is still going past its deadline."""
    line = f"the run has not finished by its deadline{f' ({deadline})' if deadline else ''}"
    notify(settings, Alert("run-overdue", "carm_inbound run overdue", [line], run_id))


__all__ = ["RunFailed", "alert_silent_partners", "judge_run", "run_overdue"]
