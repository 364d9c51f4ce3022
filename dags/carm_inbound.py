"""``carm_inbound``: every partner inbox, in batches of files, through the gateway.

``list_batches`` cuts the complete inbox files into batches (a file written in
place must first hold still for its partner's quiet period, measured within the
task: docs/transports.md, "Complete files only"), ``process_batch`` is mapped
over them (one task instance per batch of files, labelled with the batch in the
UI; each logs one line per file at its level: INFO accepted, WARNING rejected,
refused, duplicate or parked, ERROR failed), ``summary`` counts the outcome words
(accepted, partly rejected, rejected, refused, duplicate, pending, parked, failed)
and records an asset event per partner inbox with its counts (the run's note says
the same when the run ends: plugins/carm_run_note.py), and ``verdict`` fails
the run, after every batch has run, when a partner's inbox could not be listed, a
batch failed, files were parked or a file failed (internal error), alerting the
operators (gateway/notifier.py). A run with nothing to do has one idle batch that
succeeds: no skipped tasks. A run still going ``RUN_TIMEOUT`` after it started is
stopped by Airflow (``dagrun_timeout``; its files are resumed by the next run) and
alerted (docs/decisions.md: why not a ``DeadlineAlert``). Batches may run in any order (in
parallel under a real executor); within a batch, ``files_in_flight`` files are worked at
once (with ``portal_concurrency`` 1, one at a time in name order). The DAG is wiring only: the work is in
``gateway.service``, imported inside the tasks so that parsing this file opens
no database, no HTTP client and no folder. Reruns are safe: a file is claimed
(moved out of the inbox) before it is processed, so a file already taken is
skipped. No task retries: the portal client already retries transient errors,
and a file whose processing fails is released back to the inbox, where the
next run (five minutes later) takes it again; an unexpected error in one file
does not stop the others, and after ``max_failed_attempts`` such errors the file
ends failed (quarantined and answered). A file a killed task left in
processing/ (its lease ended) and a file parked during a portal outage are
resumed by a later run from the ledger's state (docs/reliability.md).

``follow_up`` queries the portal for declarations whose answer was not final
(CARM 200 or 42) and answers the partner once it is (gateway.waiting), with
backoff between queries and a deadline.

Param ``reprocess``: ledger file ids to process again (a quarantined file goes
back to the inbox, a parked one is resumed at once), e.g. ``{"reprocess": [12]}``;
an id the ledger does not know is logged and the rest of the run goes on. Each
request is written to the ledger's audit trail (who triggered the run, source ``dag``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, AssetAlias, Param, dag, get_current_context, task

INBOXES = AssetAlias("carm_inboxes")
"""The asset events of the run, one per partner inbox that had files (``carm_inbox_<partner>``)."""

RUN_TIMEOUT = timedelta(hours=1)
"""A run not finished this long after it started is failed by Airflow and alerted."""


def run_timed_out(context: Any) -> None:
    """The run's failure callback: a run Airflow timed out is alerted (a run failed by its
    ``verdict`` task was alerted by it, with its causes)."""
    if context.get("reason") != "timed_out":
        return
    from gateway.settings import Settings
    from gateway.verdict import run_overdue

    run_overdue(Settings(), context.get("run_id"), f"{RUN_TIMEOUT} after it started")


@dag(
    dag_id="carm_inbound",
    schedule=timedelta(minutes=5),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["carm", "edi"],
    doc_md=__doc__,
    dagrun_timeout=RUN_TIMEOUT,
    on_failure_callback=run_timed_out,
    params={
        "reprocess": Param(
            [],
            type="array",
            items={"type": "integer"},
            description="Ledger file ids to reprocess (quarantined or parked files); history is kept.",
        ),
    },
)
def carm_inbound() -> None:
    @task
    def list_batches() -> list[dict[str, Any]]:
        from gateway.operator import Requester
        from gateway.service import plan_run
        from gateway.settings import Settings

        context = get_current_context()
        reprocess = context["params"].get("reprocess") or []
        # the audit trail's who: the user who triggered the run (a scheduled run has none)
        who = getattr(context["dag_run"], "triggering_user_name", None) or "airflow"
        return plan_run(Settings(), reprocess=list(reprocess), requester=Requester(who, "dag"))

    @task(map_index_template="{{ batch_label }}")
    def process_batch(batch: dict[str, Any]) -> dict[str, Any]:
        from gateway.service import run_batch
        from gateway.settings import Settings

        context = get_current_context()
        # map_index_template renders from the context: Airflow's documented way to name a mapped instance
        context["batch_label"] = batch["label"]  # type: ignore[typeddict-unknown-key]  # Context does not list our key
        return run_batch(Settings(), batch, context["run_id"], task=f"process_batch[{context['ti'].map_index}]")

    @task(trigger_rule="all_done", outlets=[INBOXES])
    def summary(
        batches: list[dict[str, Any]], results: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:  # results: a lazy XCom sequence of the batches that succeeded
        from gateway.run_outcome import log_summary, summarize

        # One slice request; iterating the lazy XCom sequence instead probes past its
        # end and Airflow 3.3.2 logs that probe as an "XCom not found" error.
        found = summarize(list(results[:]), batches)
        log_summary(found)
        events = get_current_context()["outlet_events"]
        for partner, counts in sorted((found.get("inboxes") or {}).items()):
            events[INBOXES].add(Asset(name=f"carm_inbox_{partner}", uri=f"carm-inbox://{partner}"), extra=counts)
        return found

    @task(trigger_rule="all_done")
    def verdict(found: dict[str, Any] | None) -> list[str]:
        """Fails the run when something needs an operator (after every batch ran); the silent partners alerted."""
        from gateway.settings import Settings
        from gateway.verdict import judge_run

        return judge_run(Settings(), found, get_current_context()["run_id"])

    @task
    def follow_up() -> dict[str, Any]:
        """Declarations whose portal answer was not final (200, 42): query, answer the final ones."""
        from gateway.service import follow_up_pending
        from gateway.settings import Settings

        return follow_up_pending(Settings())

    batches = list_batches()
    results = process_batch.expand(batch=batches)
    # XComArgs: Task.__call__ is typed with the resolved values
    verdict(summary(batches, results))  # type: ignore[arg-type]
    follow_up()


carm_inbound()
