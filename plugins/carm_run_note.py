"""The run's note of ``carm_inbound``: what became of each partner inbox's files, in words
(``gateway.run_outcome.run_note``), written when the run ends.

A task cannot set its run's note in Airflow 3.3 (docs/decisions.md, "The run's note"), so
this is an Airflow listener: Airflow calls it where the run's state changes, in the
scheduler (or ``dag.test()``), with the run bound to the session that records the new
state; the note is set on that run and committed with it. It reads the ``summary`` task's
XCom. A note an operator wrote (one with a user) is kept. Nothing here may fail the run:
an error is logged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun

DAG_ID = "carm_inbound"
SUMMARY_TASK = "summary"

log = logging.getLogger("carm_edi.run_note")


def write_note(dag_run: DagRun) -> None:
    """Sets the note of a finished ``carm_inbound`` run from its summary's XCom, in the
    session that records the run's new state (not committed here: committing the
    scheduler's session, or writing in a second one while it holds the run's row, is not
    ours to do). ``dag.test()`` hands over the run detached and records its state in the
    thread's scoped session: the run is taken from that one."""
    if dag_run.dag_id != DAG_ID:
        return
    try:
        from airflow import settings
        from airflow.models.dagrun import DagRun
        from airflow.models.xcom import XComModel
        from sqlalchemy.orm import object_session

        from gateway.run_outcome import run_note

        attached = object_session(dag_run)
        session = attached or settings.get_session()()
        run = dag_run if attached is not None else session.get(DagRun, dag_run.id)
        if run is None or (run.dag_run_note is not None and run.dag_run_note.user_id is not None):
            return  # not stored, or an operator's note
        query = XComModel.get_many(
            run_id=run.run_id, key="return_value", task_ids=SUMMARY_TASK, dag_ids=DAG_ID, map_indexes=-1
        )
        row = session.scalars(query).first()
        run.note = run_note(XComModel.deserialize_value(row) if row is not None else None)
    except Exception:
        log.exception("run %s: its note could not be written", dag_run.run_id)


class RunNoteListener:
    """The dag-run hooks Airflow calls (``airflow/listeners/spec/dagrun.py``)."""

    @hookimpl
    def on_dag_run_success(self, dag_run: DagRun, msg: str) -> None:
        write_note(dag_run)

    @hookimpl
    def on_dag_run_failed(self, dag_run: DagRun, msg: str) -> None:
        write_note(dag_run)


class CarmRunNotePlugin(AirflowPlugin):
    name = "carm_run_note"
    listeners = [RunNoteListener()]  # noqa: RUF012  (Airflow's declared shape)
