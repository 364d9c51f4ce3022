"""``carm_retention``: once a day, purge the files whose retention has ended.

A file's original, answers (acknowledgements, the JSON report, their resends) and ledger
rows are kept ``retention_years`` full calendar years after the year it was received
(settings, or the partner's own in the registry; default 6, the customs record-keeping
rules: docs/decisions.md "Retention"), then deleted through the partner's channel; each
purge is written to the ledger's audit trail as ``dag:carm_retention``. A file whose
stored bytes cannot be deleted (a channel down) keeps its rows and fails the run, so the
next day's run tries again and the failure is seen. The DAG is wiring only: the work is
``gateway.retention.purge``, imported inside the task (nothing happens at parse time).
``carm-edi ledger purge --dry-run`` lists what is due; so does the operations page.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

log = logging.getLogger(__name__)


@dag(
    dag_id="carm_retention",
    schedule=timedelta(days=1),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["carm", "retention"],
    doc_md=__doc__,
)
def carm_retention() -> None:
    @task
    def purge() -> dict[str, Any]:
        from gateway.retention import DAG_REQUESTER, purge_or_fail
        from gateway.settings import Settings

        return purge_or_fail(Settings(), DAG_REQUESTER)

    purge()


carm_retention()
