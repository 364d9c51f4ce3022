"""The run's state tells the truth (issue 19): ``dag.test()`` runs of ``carm_inbound``.

* A partner whose inbox cannot be listed (its SFTP server refuses connections) fails
  the run, after the other partner's files were served, logged one line each at their
  level and counted in an asset event of their inbox and in the run's note; the operators are alerted on a
  real webhook and by e-mail through Airflow's SMTP connection to a real SMTP server
  (tests/servers.py), and a partner silent past its expected interval once.
* Files parked for a portal outage fail the run, named.
* An idle run is green: no skipped task.
* Neither the SFTP connection's password nor the portal API key appears in the
  captured logs or in any XCom of the run.

Expected counts are worked out from the fixtures: v01 is accepted (one declaration, a
late warning), i10's only message has a bad date (rejected).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import Settings
from tests.servers import free_ports, set_connection, smtp_server, webhook_server
from tests.test_dag import stored_note

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"
DAG_ID = "carm_inbound"
PASSWORD = f"sftp-secret-{uuid.uuid4().hex}"
API_KEY = f"portal-key-{uuid.uuid4().hex}"

REGISTRY = """
[[partners]]
id = "broker01"
edifact_senders = [{ id = "BROKER01", qualifier = "ZZZ" }]
importer_accounts = ["123456782RM0001"]
channel = { type = "local", path = "partners/broker01" }
acknowledgements = { contrl = true }

[[partners]]
id = "broker02"
edifact_senders = [{ id = "BROKER02", qualifier = "ZZZ" }]
importer_accounts = ["123456782RM0001"]
[partners.channel]
type = "sftp"
connection_id = "carm_verdict_sftp"

[[partners]]
id = "broker03"
edifact_senders = [{ id = "BROKER03", qualifier = "ZZZ" }]
importer_accounts = ["123456782RM0001"]
expected_interval_minutes = 60
channel = { type = "local", path = "partners/broker03" }
"""


@pytest.fixture
def alerts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The registry above, a webhook and an SMTP server receiving the alerts, the SFTP
    connection (a password, a port nobody listens on) and a portal API key."""
    registry = tmp_path / "partners.toml"
    registry.write_text(REGISTRY)
    (closed,) = free_ports(1)
    set_connection(
        "carm_verdict_sftp",
        {"conn_type": "sftp", "host": "127.0.0.1", "port": closed, "login": "carm", "password": PASSWORD},
    )
    with webhook_server() as (url, posts), smtp_server() as (port, mails):
        set_connection(
            "carm_verdict_smtp",
            {"conn_type": "smtp", "host": "127.0.0.1", "port": port,
             "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "gateway@example.com"}},
        )  # fmt: skip
        for name, value in {
            "PARTNERS_PATH": str(registry),
            "NOTIFY_WEBHOOK_URL": url,
            "NOTIFY_EMAIL_TO": '["ops@example.com"]',
            "NOTIFY_SMTP_CONN_ID": "carm_verdict_smtp",
            "PORTAL_API_KEY": API_KEY,
        }.items():
            monkeypatch.setenv(f"CARM_{name}", value)
        yield {"posts": posts, "mails": mails}
    monkeypatch.delenv("AIRFLOW_CONN_CARM_VERDICT_SFTP")
    monkeypatch.delenv("AIRFLOW_CONN_CARM_VERDICT_SMTP")


def run_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER)).dags[DAG_ID].test()


def task_states(run: Any) -> dict[str, str]:
    return {
        (f"{ti.task_id}[{ti.rendered_map_index}]" if ti.map_index >= 0 else ti.task_id): ti.state
        for ti in run.get_task_instances()
    }


def xcoms(run: Any) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=DAG_ID))
        return {f"{x.task_id}[{x.map_index}]/{x.key}": XComModel.deserialize_value(x) for x in rows}


def asset_events(run: Any) -> dict[str, dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.name, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == run.run_id)
        )
        return {name: dict(extra) for name, extra in rows}


def test_an_unlisted_partner_fails_the_run_after_the_others_are_served(
    airflow_db: None,
    gateway_settings: Settings,
    deliver: Callable[..., Path],
    alerts: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    deliver("v01_single.edi", "i10_bad_date.edi", partner="broker01")
    caplog.set_level(logging.INFO)
    run = run_dag()

    assert run.state == "failed"
    states = task_states(run)
    assert states["process_batch[broker01 batch 1 (2 files)]"] == "success"  # served in spite of broker02
    assert states["process_batch[broker02: inbox not listed]"] == "failed"
    assert (states["summary"], states["verdict"], states["follow_up"]) == ("success", "failed", "success")

    summary = xcoms(run)["summary[-1]/return_value"]
    assert summary["files"] == 2 and summary["accepted"] == 1 and summary["rejected"] == 1
    assert summary["inboxes"] == {
        "broker01": {"files": 2, "accepted": 1, "rejected": 1, "documents": 2, "documents_accepted": 1}
    }
    assert list(summary["unlisted_partners"]) == ["broker02"]
    # the business outcomes as an asset event of the partner's inbox, with its counts, and in the run's note
    assert asset_events(run) == {"carm_inbox_broker01": summary["inboxes"]["broker01"]}
    assert stored_note(run) == "broker01: 2 files — 1 accepted, 1 rejected; broker02: inbox not listed"

    # one line per file, at its level, with its ledger id, outcome word and first error's code and place
    lines = {
        r.getMessage().split(":")[0]: (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name == "carm_edi.files"
    }
    assert lines["broker01/v01_single.edi"][0] == "INFO"
    assert "accepted, 1/1 documents accepted" in lines["broker01/v01_single.edi"][1]
    level, line = lines["broker01/i10_bad_date.edi"]
    assert level == "WARNING"
    assert "rejected, 0/1 documents accepted; first error [12] at message 1, segment 5 (DTM)" in line
    assert "ledger file " in line

    # the alerts: the run's causes on the webhook and by e-mail, broker03's silence once
    kinds = {post["kind"]: post for post in alerts["posts"]}
    assert set(kinds) == {"run-failed", "partner-silent"}
    assert kinds["run-failed"]["run_id"] == run.run_id
    assert any(
        line.startswith("partner broker02: its inbox could not be listed") for line in kinds["run-failed"]["lines"]
    )
    assert kinds["partner-silent"]["lines"] == [
        "partner broker03: no file ever received; expected at least every 60 min"
    ]
    subjects = sorted(m["data"].split("Subject: ", 1)[1].split("\n", 1)[0].strip() for m in alerts["mails"])
    assert subjects == ["[carm-edi] 1 partners silent", "[carm-edi] carm_inbound run failed: 1 causes"]
    assert all(m["to"] == ["<ops@example.com>"] for m in alerts["mails"])

    # no credential anywhere: logs, XComs, alerts
    captured = capfd.readouterr()
    seen = "\n".join(
        [captured.out, captured.err, caplog.text, json.dumps(xcoms(run)), json.dumps(alerts["posts"])]
        + [m["data"] for m in alerts["mails"]]
    )
    assert "could not be listed" in seen and "carm_verdict_sftp" in seen  # what was said, the connection's id
    assert PASSWORD not in seen and API_KEY not in seen

    # a second run: broker02 still down, broker03 still silent, alerted once per silence
    alerts["posts"].clear()
    second = run_dag()
    assert second.state == "failed"
    assert [p["kind"] for p in alerts["posts"]] == ["run-failed"]


def test_parked_files_fail_the_run(
    airflow_db: None,
    gateway_settings: Settings,
    deliver: Callable[..., Path],
    alerts: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The portal down (nobody listens on its port): the file is parked, the run fails naming it."""
    (tmp_path / "partners.toml").write_text(REGISTRY.split('[[partners]]\nid = "broker02"')[0])
    (closed,) = free_ports(1)
    monkeypatch.setenv("CARM_PORTAL_URL", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("CARM_PORTAL_MAX_ATTEMPTS", "1")
    deliver("v01_single.edi", partner="broker01")
    run = run_dag()

    assert run.state == "failed"
    states = task_states(run)
    assert states["process_batch[broker01 batch 1 (1 files)]"] == "success"
    assert states["verdict"] == "failed"
    summary = xcoms(run)["summary[-1]/return_value"]
    assert summary["parked"] == 1 and summary["parked_files"] == ["broker01/v01_single.edi"]
    [failed] = [p for p in alerts["posts"] if p["kind"] == "run-failed"]
    assert failed["lines"] == ["1 files parked, the portal unavailable: broker01/v01_single.edi"]


def test_an_idle_run_is_green_without_skipped_tasks(airflow_db: None, gateway_settings: Settings) -> None:
    run = run_dag()
    assert run.state == "success"
    assert task_states(run) == {
        "list_batches": "success",
        "process_batch[no files waiting]": "success",
        "summary": "success",
        "verdict": "success",
        "follow_up": "success",
    }
    assert asset_events(run) == {}
    assert stored_note(run) == "no files"


def test_a_run_airflow_timed_out_is_alerted_once(alerts: dict[str, Any]) -> None:
    """The DAG's failure callback as Airflow's dag processor calls it (context: run_id, reason):
    a timed-out run alerts; a run failed by its verdict was alerted by the verdict already."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags[DAG_ID]
    assert dag.dagrun_timeout == timedelta(hours=1)
    callbacks = dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    for callback in callbacks:
        callback({"run_id": "scheduled__2026-12-07T04:00:00+00:00", "reason": "timed_out"})
        callback({"run_id": "scheduled__2026-12-07T04:05:00+00:00", "reason": "task_failure"})
    [post] = alerts["posts"]
    assert (post["kind"], post["run_id"]) == ("run-overdue", "scheduled__2026-12-07T04:00:00+00:00")
    assert post["lines"] == ["the run has not finished by its deadline (1:00:00 after it started)"]
    [mail] = alerts["mails"]
    assert "Subject: [carm-edi] carm_inbound run overdue" in mail["data"]


def test_a_failed_batch_is_named_with_its_files_and_the_others_still_counted() -> None:
    """The summary of a run whose second batch task failed (no result): the first batch's file is
    counted, the lost batch's files are named from the plan, and the verdict says so."""
    from gateway.run_outcome import causes, summarize

    plan = [
        {"partner": "broker01", "files": ["a.edi"], "label": "broker01 batch 1 (1 files)"},
        {"partner": "broker01", "files": ["b.edi", "c.edi"], "label": "broker01 batch 2 (2 files)"},
        {"partner": "broker01", "files": [], "resume": [7], "label": "broker01 resume 1 (1 files)"},
    ]
    served = {"name": "a.edi", "outcome": "rejected", "state": "quarantined", "documents": 1, "documents_accepted": 0}
    results = [
        {"partner": "broker01", "label": "broker01 batch 1 (1 files)", "files": [served]},
        {"partner": "broker01", "label": "broker01 resume 1 (1 files)", "files": []},
    ]
    summary = summarize(results, plan)
    assert (summary["files"], summary["rejected"]) == (1, 1)
    assert summary["failed_batches"] == [
        {"label": "broker01 batch 2 (2 files)", "partner": "broker01", "files": ["b.edi", "c.edi"], "resume": []}
    ]
    assert causes(summary) == ["batch 'broker01 batch 2 (2 files)' failed (see its log); its files: b.edi, c.edi"]
    assert causes({"files": 1, "rejected": 1}) == []  # a rejection is a business outcome, not a failed run
