"""Retention: files received long ago are purged (original, answers, ledger rows) through
their partner's real channel (a local folder, SeaweedFS over S3, OpenSSH over SFTP), by
``carm-edi ledger purge`` in a subprocess and by the ``carm_retention`` DAG (``dag.test()``);
each purge leaves an audit row; files not yet due keep everything.

Files are processed for real (the embedded portal over HTTP); "received long ago" is set by
moving the ledger's ``received_at`` back (the only thing a test cannot wait for). Which
files are due is worked out here from the rule (kept 6 full calendar years after the year
received: received 2018 → kept through 2024-12-31), not taken from the code under test."""

from __future__ import annotations

import datetime as dt
import getpass
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gateway import service
from gateway.operator import Requester
from gateway.retention import purge
from gateway.settings import Settings
from ledger import Ledger
from tests.conftest import DAGS_FOLDER
from tests.servers import SshServer
from tests.test_operations_page import page  # noqa: F401  (the fixture: the plugin's app signed in)
from tests.test_operator_cli import cli

LONG_AGO = dt.datetime(2018, 6, 1, 12, 0, tzinfo=dt.UTC)  # kept through 2024-12-31
TABLES = ("file_events", "documents", "acknowledgements", "interchanges")


def ledger_of(settings: Settings) -> Ledger:
    return Ledger(settings.ledger_database_url())


def ids_by_name(settings: Settings) -> dict[str, int]:
    ledger = ledger_of(settings)
    try:
        return {f"{r.partner}/{r.name}": r.id for r in ledger.files()}
    finally:
        ledger.dispose()


def received_long_ago(settings: Settings, file_ids: list[int], when: dt.datetime = LONG_AGO) -> None:
    ledger = ledger_of(settings)
    try:
        with ledger.engine.begin() as connection:
            for file_id in file_ids:
                connection.execute(
                    text("UPDATE files SET received_at = :when WHERE id = :id"), {"when": when, "id": file_id}
                )
    finally:
        ledger.dispose()


def rows_of(settings: Settings, file_id: int) -> dict[str, int]:
    """How many rows each table holds for the file (``files`` itself included)."""
    ledger = ledger_of(settings)
    try:
        with ledger.engine.connect() as connection:
            counts = {
                "files": connection.execute(
                    text("SELECT count(*) FROM files WHERE id = :id"), {"id": file_id}
                ).scalar_one()
            }
            for table in TABLES:
                counts[table] = connection.execute(
                    text(f"SELECT count(*) FROM {table} WHERE file_id = :id"), {"id": file_id}
                ).scalar_one()
            return counts
    finally:
        ledger.dispose()


def stored(settings: Settings, file_id: int) -> tuple[str | None, list[str]]:
    """The file's original location and its acknowledgements' locations, as the ledger has them."""
    ledger = ledger_of(settings)
    try:
        return ledger.file(file_id).location, [a.location for a in ledger.acknowledgements(file_id)]
    finally:
        ledger.dispose()


def purge_actions(settings: Settings) -> list[Any]:
    ledger = ledger_of(settings)
    try:
        return [a for a in ledger.actions(limit=1000) if a.action == "purge"]
    finally:
        ledger.dispose()


# --- a local folder, through the CLI ------------------------------------------------------------


@pytest.fixture
def local(gateway_settings: Settings, deliver: Callable[..., Path]) -> dict[str, Any]:
    """Three files processed; v01 (archived) and i10 (quarantined) received in 2018, v03 today."""
    deliver("v01_single.edi", "i10_bad_date.edi", "v03_multi_line.edi")
    service.process_once(gateway_settings)
    ids = ids_by_name(gateway_settings)
    old = [ids["broker01/v01_single.edi"], ids["broker01/i10_bad_date.edi"]]
    received_long_ago(gateway_settings, old)
    return {"ids": ids, "old": old, "new": ids["broker01/v03_multi_line.edi"]}


def test_a_dry_run_lists_what_is_due_and_deletes_nothing(gateway_settings: Settings, local: dict[str, Any]) -> None:
    before = {i: (stored(gateway_settings, i), rows_of(gateway_settings, i)) for i in [*local["old"], local["new"]]}
    code, result = cli("ledger", "purge", "--dry-run", "--json")
    assert code == 0
    assert result["dry_run"] is True and result["purged"] == [] and result["failed"] == []
    assert sorted(r["id"] for r in result["due"]) == sorted(local["old"])
    assert {r["kept_until"] for r in result["due"]} == {"2024-12-31"}
    assert {r["state"] for r in result["due"]} == {"archived", "quarantined"}
    after = {i: (stored(gateway_settings, i), rows_of(gateway_settings, i)) for i in before}
    assert after == before
    for (original, _acks), _rows in after.values():
        assert original is not None and Path(original).is_file()
    assert purge_actions(gateway_settings) == []
    code, listing = cli("ledger", "purge", "--dry-run")
    assert code == 0 and "2 files due for purge" in listing and "v01_single.edi" in listing


def test_a_purge_deletes_originals_answers_and_rows_and_keeps_an_audit_row(
    gateway_settings: Settings, local: dict[str, Any]
) -> None:
    data = gateway_settings.resolved_data_dir / "partners" / "broker01"
    old = {i: stored(gateway_settings, i) for i in local["old"]}
    kept_original, kept_acks = stored(gateway_settings, local["new"])
    kept_rows = rows_of(gateway_settings, local["new"])
    quarantined = old[local["ids"]["broker01/i10_bad_date.edi"]][0]
    assert quarantined is not None and Path(f"{quarantined}.reason.txt").is_file()
    for _original, acks in old.values():
        assert {a.rsplit(".", 2)[-2] for a in acks} >= {"contrl", "report"}

    code, result = cli("ledger", "purge", "--json")
    assert code == 0, result
    assert sorted(r["id"] for r in result["purged"]) == sorted(local["old"]) and result["failed"] == []

    for file_id, (original, acks) in old.items():
        assert original is not None and not Path(original).exists()
        for location in acks:
            assert not (data / "outbox" / location.split("/", 2)[2]).exists()
        assert rows_of(gateway_settings, file_id) == dict.fromkeys(("files", *TABLES), 0)
    assert not Path(f"{quarantined}.reason.txt").exists()
    # the file received today keeps everything
    assert kept_original is not None and Path(kept_original).is_file()
    assert all((data / "outbox" / a.split("/", 2)[2]).is_file() for a in kept_acks)
    assert rows_of(gateway_settings, local["new"]) == kept_rows
    # the audit trail: one row per purged file, with who, from where and what went
    actions = {a.target: a for a in purge_actions(gateway_settings)}
    assert set(actions) == {f"file {i}" for i in local["old"]}
    v01 = actions[f"file {local['ids']['broker01/v01_single.edi']}"]
    assert (v01.who, v01.source) == (getpass.getuser(), "cli")
    assert "broker01/v01_single.edi" in v01.detail and "received 2018-06-01" in v01.detail
    assert "kept until 2024-12-31" in v01.detail and "ledger rows removed" in v01.detail
    assert "contrl.edi" in v01.detail and "report.json" in v01.detail

    code, again = cli("ledger", "purge", "--json")  # nothing left to do
    assert code == 0 and again["due"] == [] and len(purge_actions(gateway_settings)) == 2


def test_an_answer_the_partner_collected_is_no_error(gateway_settings: Settings, local: dict[str, Any]) -> None:
    v01 = local["ids"]["broker01/v01_single.edi"]
    _original, acks = stored(gateway_settings, v01)
    collected = gateway_settings.resolved_data_dir / "partners" / "broker01" / "outbox" / acks[0].split("/", 2)[2]
    collected.unlink()  # the partner took it from its outbox
    result = purge(gateway_settings, Requester("alice", "cli"))
    assert v01 in [r["id"] for r in result["purged"]]
    [action] = [a for a in purge_actions(gateway_settings) if a.target == f"file {v01}"]
    assert f"already gone: {acks[0]}" in action.detail


def test_a_file_whose_original_cannot_be_deleted_is_kept_and_the_others_purged(
    gateway_settings: Settings, local: dict[str, Any], tmp_path: Path
) -> None:
    v01, i10 = local["ids"]["broker01/v01_single.edi"], local["ids"]["broker01/i10_bad_date.edi"]
    outside = tmp_path / "elsewhere.edi"
    outside.write_bytes(b"not the gateway's")
    ledger = ledger_of(gateway_settings)
    try:  # a ledger row pointing outside the partner's archive and quarantine (edited by hand)
        with ledger.engine.begin() as connection:
            connection.execute(text("UPDATE files SET location = :l WHERE id = :id"), {"l": str(outside), "id": v01})
    finally:
        ledger.dispose()
    code, result = cli("ledger", "purge", "--json")
    assert code == 1
    assert [r["id"] for r in result["purged"]] == [i10]
    [failed] = result["failed"]
    assert failed["id"] == v01 and "not in the archive or quarantine of broker01" in failed["error"]
    assert outside.read_bytes() == b"not the gateway's"
    assert rows_of(gateway_settings, v01)["files"] == 1 and rows_of(gateway_settings, i10)["files"] == 0


def test_the_calendar_year_rule_and_a_partner_s_own_retention(
    gateway_settings: Settings, deliver: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = (Path(gateway_settings.partners_path).read_text()).replace(
        'id = "bank01"', 'id = "bank01"\nretention_years = 1', 1
    )
    (tmp_path / "partners.toml").write_text(registry)
    monkeypatch.setenv("CARM_PARTNERS_PATH", str(tmp_path / "partners.toml"))
    settings = Settings()
    deliver("v01_single.edi")
    deliver("v03_multi_line.edi", partner="bank01")  # BROKER01's interchange in bank01's inbox: refused, quarantined
    service.process_once(settings)
    ids = ids_by_name(settings)
    late_2019 = dt.datetime(2019, 12, 31, 23, 59, tzinfo=dt.UTC)
    received_long_ago(settings, [ids["broker01/v01_single.edi"]], late_2019)
    bank = [i for name, i in ids.items() if name.startswith("bank01/")]
    assert bank
    received_long_ago(settings, bank, dt.datetime(2024, 3, 1, tzinfo=dt.UTC))

    def due(now: dt.datetime) -> list[int]:
        return sorted(r["id"] for r in purge(settings, Requester("alice", "cli"), dry_run=True, now=now)["due"])

    # broker01 (6 years): received 2019-12-31 23:59 UTC, kept through 2025-12-31
    assert ids["broker01/v01_single.edi"] not in due(dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC))
    assert ids["broker01/v01_single.edi"] in due(dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC))
    # bank01 (its own 1 year): received 2024-03-01, kept through 2025-12-31
    assert not set(bank) & set(due(dt.datetime(2025, 12, 31, tzinfo=dt.UTC)))
    assert set(bank) <= set(due(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))


# --- S3 (SeaweedFS) and SFTP (OpenSSH), through the CLI -------------------------------------------


def s3_keys(s3: Any, bucket: str, prefix: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}


def sftp_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.mark.parametrize("channel", ["s3", "sftp"])
def test_a_purge_deletes_through_s3_and_sftp_channels(
    channel: str, request: pytest.FixtureRequest, gateway_settings: Settings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from tests.test_channels_end_to_end import registry_text, upload_s3, upload_sftp

    base, bucket = f"ret-{uuid.uuid4().hex[:8]}", f"carm-ret-{uuid.uuid4().hex[:8]}"
    partner = {"s3": "broker03", "sftp": "broker02"}[channel]
    files = {"v01_single.edi": "v01_single.edi", "v03_multi_line.edi": "v03_multi_line.edi"}
    if channel == "s3":
        s3 = request.getfixturevalue("s3_server").client()
        s3.create_bucket(Bucket=bucket)
        upload_s3(s3, bucket, files)
        listing: Callable[[], set[str]] = lambda: s3_keys(s3, bucket, f"{partner}/")  # noqa: E731
        exists: Callable[[str], bool] = lambda key: key in s3_keys(s3, bucket, key)  # noqa: E731
    else:
        sshd: SshServer = request.getfixturevalue("sshd")
        sshd.sftp_batch(f"mkdir {base}\nmkdir {base}/{partner}\nmkdir {base}/{partner}/inbox\n")
        upload_sftp(sshd, base, files, tmp_path)
        listing = lambda: {f"{base}/{p}" for p in sftp_files(sshd.root / base)}  # noqa: E731
        exists = lambda path: (sshd.root / path).is_file()  # noqa: E731
    registry = tmp_path / "partners.toml"
    registry.write_text(registry_text(base, bucket))
    monkeypatch.setenv("CARM_PARTNERS_PATH", str(registry))
    settings = Settings()
    processed = service.process_once(settings, partner)
    assert sorted(p.state for p in processed) == ["archived", "archived"]  # both accepted
    ids = ids_by_name(settings)
    old, new = ids[f"{partner}/v01_single.edi"], ids[f"{partner}/v03_multi_line.edi"]
    received_long_ago(settings, [old])
    old_original, old_acks = stored(settings, old)
    new_original, new_acks = stored(settings, new)

    def key(location: str) -> str:  # an answer's ledger location <partner>/outbox/<name> on the channel
        name = location.split("/", 2)[2]
        return f"{partner}/outbox/{name}" if channel == "s3" else f"{base}/{partner}/outbox/{name}"

    before = listing()
    assert old_original in before and new_original in before
    assert {key(a) for a in old_acks + new_acks} <= before

    code, result = cli("ledger", "purge", "--json")
    assert code == 0, result
    assert [r["id"] for r in result["purged"]] == [old]
    after = listing()
    assert old_original is not None and not exists(old_original)
    assert not {key(a) for a in old_acks} & after
    assert before - after == {old_original, *(key(a) for a in old_acks)}  # nothing else went
    assert rows_of(settings, old) == dict.fromkeys(("files", *TABLES), 0)
    assert rows_of(settings, new)["files"] == 1
    [action] = purge_actions(settings)
    assert (action.target, action.source) == (f"file {old}", "cli") and old_original in action.detail


# --- the scheduled task ---------------------------------------------------------------------------


def purge_xcom(run: Any) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run.run_id, key="return_value", task_ids="purge", dag_ids="carm_retention")
        return XComModel.deserialize_value(session.scalars(query).one())


def test_the_retention_dag_purges_what_is_due_and_audits_it(
    airflow_db: None, gateway_settings: Settings, local: dict[str, Any]
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags["carm_retention"]
    assert dag.task_ids == ["purge"] and dag.catchup is False and dag.max_active_runs == 1
    run = dag.test()
    assert run.state == "success"
    assert purge_xcom(run) == {"due": 2, "purged": 2, "kept": 0, "changed": 0}  # counts only: no names in XCom
    for file_id in local["old"]:
        assert rows_of(gateway_settings, file_id)["files"] == 0
    assert rows_of(gateway_settings, local["new"])["files"] == 1
    actions = purge_actions(gateway_settings)
    assert sorted(a.target for a in actions) == sorted(f"file {i}" for i in local["old"])
    assert {(a.who, a.source) for a in actions} == {("dag:carm_retention", "dag")}


def test_a_run_that_could_not_purge_a_file_fails_and_names_it(
    airflow_db: None, gateway_settings: Settings, local: dict[str, Any]
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    v01 = local["ids"]["broker01/v01_single.edi"]
    ledger = ledger_of(gateway_settings)
    try:  # the original's row points outside the partner's areas: never deleted
        with ledger.engine.begin() as connection:
            connection.execute(text("UPDATE files SET location = '/etc/hostname' WHERE id = :id"), {"id": v01})
    finally:
        ledger.dispose()
    run = DagBag(dag_folder=str(DAGS_FOLDER)).dags["carm_retention"].test()
    assert run.state == "failed"
    assert rows_of(gateway_settings, v01)["files"] == 1  # kept for the next run
    assert rows_of(gateway_settings, local["ids"]["broker01/i10_bad_date.edi"])["files"] == 0  # the other went
    assert Path("/etc/hostname").is_file()


# --- the operations page and ledger list ----------------------------------------------------------


def test_the_page_and_ledger_list_show_what_is_due_for_purge(
    local: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    admin = request.getfixturevalue("page")("admin")  # the plugin's app, signed in (tests/test_operations_page.py)
    partners = {p["partner"]: p for p in admin.get("/api/partners").json()}
    assert partners["broker01"]["due_for_purge"] == 2 and partners["bank01"]["due_for_purge"] == 0
    html = admin.get("/files").text
    assert 'href="/carm/files?partner=broker01&amp;due=yes">2</a>' in html  # the count links to the list
    due = admin.get("/files", params={"partner": "broker01", "due": "yes"}).text
    assert sorted(int(i) for i in re.findall(r'data-file="(\d+)"', due)) == sorted(local["old"])
    assert 'name="due" value="yes" checked' in due
    listing = admin.get("/api/files", params={"due": "yes"}).json()
    assert sorted(f["id"] for f in listing["files"]) == sorted(local["old"]) and listing["total"] == 2
    everything = admin.get("/api/files").json()
    assert everything["total"] == 3
    assert admin.get("/api/files", params={"due": "maybe"}).status_code == 400
    code, listed = cli("ledger", "list", "--due", "--json")
    assert code == 0 and sorted(f["id"] for f in listed["files"]) == sorted(local["old"])
