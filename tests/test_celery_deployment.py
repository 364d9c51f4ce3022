"""Exactly-once under real concurrency: Airflow's CeleryExecutor with two workers, PostgreSQL, Redis.

The deployment (``tests/deployment.py``) runs the project's DAG and its twin over the
same three inboxes (local, SFTP, S3): every file is planned by both DAGs, so two runs on
two workers race for it. Mid-way one worker is SIGKILLed with its task processes and
restarted, and later the portal is stopped and restarted. The scaled-down proof of
issue 21 (``benchmarks/scale_out.py`` runs the 2,000-file one).
"""

from __future__ import annotations

import time

import pytest

from domain.identifiers import transaction_check_digit
from tests.deployment import PARTNERS, WORKERS, deployment
from tests.scale_out import ACK_KINDS, SETTINGS, audit, deliver, drive, file_name
from tests.servers import S3Server, SshServer

FILES_PER_PARTNER = 80
DECLARATIONS = 2


@pytest.mark.timeout(600)
def test_two_celery_workers_two_dags_a_killed_worker_and_a_portal_outage(sshd: SshServer, s3_server: S3Server) -> None:
    started = time.monotonic()
    with deployment(sshd, s3_server, **SETTINGS) as deploy:
        ready = time.monotonic() - started
        deliver(deploy, FILES_PER_PARTNER, DECLARATIONS)
        total = FILES_PER_PARTNER * len(PARTNERS)
        run = drive(deploy, total, kill_at=0.25, outage_at=0.5, timeout=420)
        worker_starts = {name: deploy.worker_starts(name) for name in WORKERS}
        portal_up = deploy.services["portal"].running()
        facts = audit(deploy)
    print(f"\nready in {ready:.0f} s, {total} files in {run.seconds:.0f} s, runs {run.runs}", *run.events, sep="\n")
    print(
        f"overlapping runs {run.overlapping_runs()}, lost claim races {facts.lost_claim_races}, take-overs {facts.resumed}, parked {facts.parked}"
    )
    print(f"temporary files a killed write left in outboxes: {facts.outbox_temporaries}")

    names = {file_name(n) for n in range(FILES_PER_PARTNER)}
    # 0 files lost: nothing left behind, every original archived exactly once, one final record each
    assert facts.left == {f"{p} {a}": 0 for p in PARTNERS for a in ("inbox", "processing")}
    for partner in PARTNERS:
        assert facts.archived[partner] == {name: 1 for name in names}, partner
    assert set(facts.ledger_files) == {(p, n) for p in PARTNERS for n in names}
    records = [rows[0] for rows in facts.ledger_files.values()]
    assert all(len(rows) == 1 for rows in facts.ledger_files.values())
    assert {(r["state"], r["duplicate_of"]) for r in records} == {("archived", None)}

    # 0 declarations posted twice: one portal version and one idempotency key per declaration delivered
    expected_transactions = {
        body + str(transaction_check_digit(body))
        for series in (1, 2, 3)
        for number in range(FILES_PER_PARTNER)
        for body in (f"2{series}{number:06d}{message:05d}" for message in range(1, DECLARATIONS + 1))
    }
    assert facts.portal_transactions == expected_transactions
    assert facts.portal_declarations == facts.portal_versions == len(expected_transactions) == total * DECLARATIONS
    assert facts.portal_keys == total * DECLARATIONS

    # every file acknowledged exactly once: one CONTRL, one CUSRES, one report, under its own ledger id
    ids = {(r["partner"], r["name"]): r["id"] for r in records}
    for partner in PARTNERS:
        assert set(facts.outbox[partner]) == names, partner
        for name, answers in facts.outbox[partner].items():
            assert sorted(answers) == [(ids[(partner, name)], kind) for kind in sorted(ACK_KINDS)], (partner, name)
    assert facts.ledger_acknowledgements == {file_id: len(ACK_KINDS) for file_id in ids.values()}

    # the ledger's history is consistent: every move follows from the state before it, one archiving each
    assert facts.broken_chains == []
    assert facts.archived_events == {file_id: 1 for file_id in ids.values()}

    # the faults and the races really happened
    assert worker_starts == {"worker1": 2, "worker2": 1} and portal_up  # worker 1 killed and back, the portal back
    assert run.runs["carm_inbound"] >= 1 and run.runs["carm_inbound_twin"] >= 1  # how many: the machine's pace
    assert run.overlapping_runs() > 0  # the two DAGs' runs, each planning every file, ran at the same time
    assert facts.resumed > 0  # the killed worker's claims (or parked files) were taken over
    assert facts.parked > 0  # the outage parked files, and they were posted once after it
