"""The run's note (issue 19): its text from a run's summary (``gateway.run_outcome.run_note``,
summaries written by hand here), and the listener (``plugins/carm_run_note.py``) called as the
scheduler calls it: with a real run of a ``dag.test()``, bound to the caller's session, which
commits the note with the run's state. tests/test_dag.py and tests/test_run_verdict.py check
the note ``dag.test()`` itself has the listener write, in a green run and in a failed one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.run_outcome import NOTE_LIMIT, run_note
from gateway.settings import Settings

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"


def test_a_note_counts_each_inbox_s_files_by_outcome_word() -> None:
    summary = {
        "files": 13, "accepted": 10, "rejected": 2, "refused": 1, "documents": 20, "documents_accepted": 17,
        "inboxes": {
            "broker02": {"files": 1, "accepted": 1, "documents": 1, "documents_accepted": 1},
            "broker01": {"files": 12, "rejected": 2, "accepted": 9, "refused": 1,
                         "documents": 19, "documents_accepted": 16},
        },
    }  # fmt: skip
    assert run_note(summary) == "broker01: 12 files — 9 accepted, 2 rejected, 1 refused; broker02: 1 file — 1 accepted"


def test_a_note_names_the_inboxes_not_listed_and_the_batches_that_failed() -> None:
    summary = {
        "files": 0, "documents": 0, "documents_accepted": 0,
        "unlisted_partners": {"broker02": "connection refused by 127.0.0.1:2222 (password secret)"},
        "failed_batches": [{"label": "broker01 batch 1 (3 files)", "partner": "broker01",
                            "files": ["a.edi"], "resume": []}],
    }  # fmt: skip
    note = run_note(summary)
    assert note == "broker02: inbox not listed; broker01 batch 1 (3 files): batch failed"
    assert "secret" not in note  # the reason (which may quote a connection) stays in the logs


def test_an_idle_run_and_a_missing_summary_say_so() -> None:
    assert run_note({"files": 0, "documents": 0, "documents_accepted": 0}) == "no files"
    assert run_note(None) == "no summary: the summary task failed (see its log)"


def test_a_long_note_is_cut_at_a_partner_and_says_how_many_more() -> None:
    inboxes = {f"broker{i:03d}": {"files": 2, "accepted": 1, "rejected": 1} for i in range(100)}
    note = run_note({"files": 200, "inboxes": inboxes})
    # each part is "brokerNNN: 2 files — 1 accepted, 1 rejected" (43 characters), each followed
    # by "; ": 22 parts and "… 78 more" take 22 * 45 + 9 = 999; a 23rd part would make it 1044
    assert len("broker000: 2 files — 1 accepted, 1 rejected") == 43
    assert note.endswith("; broker021: 2 files — 1 accepted, 1 rejected; … 78 more")
    assert len(note) == 999 <= NOTE_LIMIT
    assert run_note({"files": 200, "inboxes": inboxes}, limit=30) == "… 100 more"


@pytest.fixture
def finished_run(airflow_db: None, gateway_settings: Settings) -> Any:
    """A real, idle ``carm_inbound`` run (``dag.test()``), its note removed again."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRunNote
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    run = DagBag(dag_folder=str(DAGS_FOLDER)).dags["carm_inbound"].test()
    with create_session(scoped=False) as session:
        session.execute(delete(DagRunNote).where(DagRunNote.dag_run_id == run.id))
    return run


def _note(run_id: int) -> tuple[str | None, str | None] | None:
    from airflow.models.dagrun import DagRunNote
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session(scoped=False) as session:
        row = session.execute(
            select(DagRunNote.content, DagRunNote.user_id).where(DagRunNote.dag_run_id == run_id)
        ).one_or_none()
        return None if row is None else (row[0], row[1])


def test_the_listener_writes_in_the_callers_session_and_keeps_an_operators_note(finished_run: Any) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    from plugins.carm_run_note import RunNoteListener

    listener = RunNoteListener()
    with create_session(scoped=False) as session:
        run = session.get(DagRun, finished_run.id)
        listener.on_dag_run_success(dag_run=run, msg="success")
        assert _note(finished_run.id) is None  # not committed by the listener: the caller commits
    assert _note(finished_run.id) == ("no files", None)

    with create_session(scoped=False) as session:  # an operator's note, as the UI's PATCH writes it
        written = session.get(DagRun, finished_run.id).dag_run_note  # type: ignore[union-attr]
        written.content, written.user_id = "checked with broker01", "admin"
    with create_session(scoped=False) as session:
        listener.on_dag_run_failed(dag_run=session.get(DagRun, finished_run.id), msg="task_failure")
    assert _note(finished_run.id) == ("checked with broker01", "admin")
