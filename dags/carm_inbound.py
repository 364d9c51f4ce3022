"""``carm_inbound``: every partner inbox, in batches of files, through the gateway.

``list_batches`` cuts the complete inbox files into batches (a file written in
place must first hold still for its partner's quiet period, measured within the
task: docs/transports.md, "Complete files only"), ``process_batch`` is mapped
over them (one task instance per batch of files, labelled with the batch in the
UI) and ``summary`` adds up the results. Batches may run in any order (in
parallel under a real executor); within a batch, ``portal_concurrency`` files are worked at
once (at 1, one at a time in name order). The DAG is wiring only: the work is in
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

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

log = logging.getLogger(__name__)


@dag(
    dag_id="carm_inbound",
    schedule=timedelta(minutes=5),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["carm", "edi"],
    doc_md=__doc__,
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
        from gateway.service import plan_batches
        from gateway.settings import Settings

        context = get_current_context()
        reprocess = context["params"].get("reprocess") or []
        # the audit trail's who: the user who triggered the run (a scheduled run has none)
        who = getattr(context["dag_run"], "triggering_user_name", None) or "airflow"
        return plan_batches(Settings(), reprocess=list(reprocess), requester=Requester(who, "dag"))

    @task(map_index_template="{{ batch_label }}")
    def process_batch(batch: dict[str, Any]) -> dict[str, Any]:
        from gateway.service import run_batch
        from gateway.settings import Settings

        context = get_current_context()
        # map_index_template renders from the context: Airflow's documented way to name a mapped instance
        context["batch_label"] = batch["label"]  # type: ignore[typeddict-unknown-key]  # Context does not list our key
        return run_batch(Settings(), batch, context["run_id"], task=f"process_batch[{context['ti'].map_index}]")

    @task
    def summary(results: Sequence[dict[str, Any]]) -> dict[str, Any]:  # a lazy XCom sequence, not a list
        from gateway.service import summarize

        # One slice request; iterating the lazy XCom sequence instead probes past its
        # end and Airflow 3.3.2 logs that probe as an "XCom not found" error.
        batches = list(results[:])
        for batch in batches:
            for item in batch["files"]:
                first_error = item["errors"][0] if item["errors"] else ""
                log.info(
                    "%s/%s: %s, %d/%d documents accepted %s",
                    batch["partner"], item["name"], item["state"],
                    item["documents_accepted"], item["documents"], first_error,
                )  # fmt: skip
        return summarize(batches)

    @task
    def follow_up() -> dict[str, Any]:
        """Declarations whose portal answer was not final (200, 42): query, answer the final ones."""
        from gateway.service import follow_up_pending
        from gateway.settings import Settings

        return follow_up_pending(Settings())

    summary(process_batch.expand(batch=list_batches()))  # type: ignore[arg-type]  # an XComArg: Task.__call__ is typed with the resolved value
    follow_up()


carm_inbound()
