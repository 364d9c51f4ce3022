"""Alerts to the people who run the gateway: a JSON POST to a webhook and/or an e-mail
through Airflow's SMTP connection (the smtp provider's ``SmtpHook``), as configured in
settings (``notify_webhook_url``, ``notify_email_to``, ``notify_smtp_conn_id``).

An alert that cannot be delivered is logged and the others still go: a notifier never
fails the work it reports on. An alert carries sentences written by the gateway (causes,
file names, partner ids), never a credential or a document's content."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from html import escape

import httpx

from gateway.settings import Settings

log = logging.getLogger("carm_edi.alerts")


@dataclass(frozen=True)
class Alert:
    kind: str  # run-failed, partner-silent, run-overdue
    subject: str
    lines: list[str] = field(default_factory=list)
    run_id: str | None = None
    dag_id: str = "carm_inbound"


def notify(settings: Settings, alert: Alert) -> list[str]:
    """Send ``alert`` on every configured channel; the channels that failed (each logged)."""
    log.warning("alert %s: %s%s", alert.kind, alert.subject, "".join(f"\n  {line}" for line in alert.lines))
    failed = []
    if settings.notify_webhook_url:
        try:
            response = httpx.post(
                settings.notify_webhook_url, json=asdict(alert), timeout=settings.notify_timeout_seconds
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            log.error("alert %s: the webhook did not take it: %s", alert.kind, type(error).__name__)
            failed.append("webhook")
    if settings.notify_email_to:
        try:
            _email(settings, alert)
        except Exception as error:  # the SMTP server, the connection or its settings: logged, not raised
            log.error("alert %s: the e-mail could not be sent: %s: %s", alert.kind, type(error).__name__, error)
            failed.append("email")
    return failed


def _email(settings: Settings, alert: Alert) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    items = "".join(f"<li>{escape(line)}</li>" for line in alert.lines)
    run = f"<p>Run {escape(alert.run_id)} of {escape(alert.dag_id)}</p>" if alert.run_id else ""
    with SmtpHook(smtp_conn_id=settings.notify_smtp_conn_id) as hook:
        hook.send_email_smtp(
            to=settings.notify_email_to,
            subject=f"[carm-edi] {alert.subject}",
            html_content=f"<p>{escape(alert.subject)}</p>{run}<ul>{items}</ul>",
            from_email=settings.notify_email_from,
            custom_headers={"X-Carm-Alert": alert.kind},
        )
