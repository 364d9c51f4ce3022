"""The scale-out proof on a running ``tests.deployment``: deliver, drive runs through faults, audit.

``deliver`` puts ``files`` CUSDEC interchanges (``declarations`` single-line
declarations each, every transaction number unique) in each partner's inbox: the local
folder, over SFTP (OpenSSH's ``sftp``, a temporary name then a rename) and S3 (boto3).
``drive`` keeps one run of each DAG (the project's and its twin) going through the
api-server until the ledger holds every file final, and injects the faults on the way:
one Celery worker SIGKILLed (with its task processes) once ``kill_at`` of the files are
archived, restarted ``restart_after`` seconds later; the portal stopped once
``outage_at`` are archived, restarted ``outage_seconds`` later. ``audit`` reads what
came out (partners' folders and buckets, the portal's and the ledger's databases) and
states it as facts that the test compares with values computed from the delivery.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.deployment import DAG_ID, PARTNERS, TWIN_DAG_ID, WORKERS, Deployment

IMPORTER = "123456782RM0001"
ACK_KINDS = ("contrl.edi", "cusres.edi", "report.json")  # CONTRL requested by every partner, CUSRES, JSON report
SETTINGS = {  # the gateway's settings for the proof (CARM_*): short enough that a run sees leases and park delays end
    "quiet_seconds": "0",  # every file is whole before the first run
    "batch_size": "20",
    "claim_lease_seconds": "30",  # a killed worker's claims are resumed 30 s later
    "park_seconds": "5",  # files parked in the outage are retried 5 s later
    "portal_backoff_seconds": "0.05",
    "portal_circuit_cooldown_seconds": "5",
}
TEMPORARY = re.compile(r"^\..*\.part$")
OUTBOX_NAME = re.compile(r"^(?P<name>f\d{5}\.edi)\.(?P<id>\d+)\.(?P<kind>.+)$")


def interchange(sender: str, series: int, number: int, declarations: int) -> bytes:
    """One interchange of single-line declarations; transaction numbers unique per (series, number, message)."""
    from domain.identifiers import transaction_check_digit
    from mappings.declaration_cusdec import IDENTIFIER, cusdec_segments
    from mappings.edifact_writer import InterchangeWriter
    from tests.builders import declaration

    out = io.BytesIO()
    writer = InterchangeWriter(
        out, sender=(sender, "ZZZ"), recipient=("CARMGW", "ZZZ"), control_reference=f"B{series}{number:07d}"
    )
    for message in range(1, declarations + 1):
        body = f"2{series}{number:06d}{message:05d}"
        writer.write_message(
            str(message),
            IDENTIFIER,
            cusdec_segments(declaration(transaction_number=body + str(transaction_check_digit(body)))),
        )
    writer.close()
    return out.getvalue()


def file_name(number: int) -> str:
    return f"f{number:05d}.edi"


def deliver(deploy: Deployment, files: int, declarations: int) -> None:
    """``files`` interchanges into each partner's inbox (series 1, 2, 3: the partners' order)."""
    staging = deploy.work / "staging"
    for series, partner in enumerate(PARTNERS, start=1):
        folder = staging / partner
        folder.mkdir(parents=True)
        for number in range(files):
            (folder / file_name(number)).write_bytes(interchange(partner.upper(), series, number, declarations))
    local_inbox = deploy.work / "data" / "partners" / "local01" / "inbox"
    for path in sorted((staging / "local01").iterdir()):
        part = local_inbox / f".{path.name}.part"
        part.write_bytes(path.read_bytes())
        part.rename(local_inbox / path.name)
    inbox = f"{deploy.sftp_base}/inbox"
    deploy.sftp.sftp_batch(
        "".join(
            f'put {path} "{inbox}/.{path.name}.part"\nrename "{inbox}/.{path.name}.part" "{inbox}/{path.name}"\n'
            for path in sorted((staging / "sftp01").iterdir())
        )
    )
    s3 = deploy.s3.client()
    for path in sorted((staging / "s301").iterdir()):
        s3.put_object(Bucket=deploy.bucket, Key=f"inbox/{path.name}", Body=path.read_bytes())


def ledger_states(deploy: Deployment) -> Counter[str]:
    engine = create_engine(deploy.ledger_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT state, count(*) FROM files GROUP BY state")).all()
    except Exception:  # the first task has not created the schema yet
        return Counter()
    finally:
        engine.dispose()
    return Counter({state: count for state, count in rows})


@dataclass
class Drive:
    seconds: float = 0.0
    runs: dict[str, int] = field(default_factory=dict)  # DAG id -> its runs (scheduled and triggered)
    events: list[str] = field(default_factory=list)
    spans: dict[str, list[tuple[dt.datetime, dt.datetime]]] = field(default_factory=dict)  # runs' start and end

    def overlapping_runs(self) -> int:
        """Pairs of runs, one of each DAG, that ran at the same time (both planned every inbox file)."""
        first, second = (self.spans.get(dag_id, []) for dag_id in (DAG_ID, TWIN_DAG_ID))
        return sum(1 for a0, a1 in first for b0, b1 in second if a0 < b1 and b0 < a1)


def drive(
    deploy: Deployment,
    expected: int,
    *,
    kill_at: float | None = 0.25,
    restart_after: float = 5.0,
    outage_at: float | None = 0.5,
    outage_seconds: float = 10.0,
    timeout: float = 600.0,
    progress: bool = True,
) -> Drive:
    """Keep both DAGs running until ``expected`` files are final in the ledger, with the faults on the way."""
    result = Drive()
    started = time.monotonic()
    killed_at = outage_started = None
    last = -10.0
    while True:
        now = time.monotonic() - started
        states = ledger_states(deploy)
        archived = states["archived"]
        if sum(states[s] for s in ("archived", "quarantined", "failed")) >= expected and archived == sum(
            states.values()
        ):
            break
        if now > timeout:
            raise AssertionError(f"not done after {timeout} s: ledger {dict(states)}\n" + deploy.logs())
        if kill_at is not None and killed_at is None and archived >= kill_at * expected:
            deploy.kill(WORKERS[0])
            killed_at = now
            result.events.append(f"{now:.0f} s: SIGKILL {WORKERS[0]} at {dict(states)}")
        if killed_at is not None and not deploy.services[WORKERS[0]].running() and now >= killed_at + restart_after:
            deploy.start_worker(WORKERS[0])
            result.events.append(f"{now:.0f} s: {WORKERS[0]} restarted")
        if outage_at is not None and outage_started is None and archived >= outage_at * expected:
            deploy.services["portal"].stop()
            outage_started = now
            result.events.append(f"{now:.0f} s: portal stopped at {dict(states)}")
        if (
            outage_started is not None
            and not deploy.services["portal"].running()
            and now >= outage_started + outage_seconds
        ):
            deploy.start_portal()
            result.events.append(f"{now:.0f} s: portal restarted")
        if progress and int(now) // 10 != int(last) // 10:
            print(f"{now:.0f} s: {dict(states)}", flush=True)
        last = now
        for dag_id in (DAG_ID, TWIN_DAG_ID):
            if deploy.active_runs(dag_id) == 0:
                deploy.trigger(dag_id)
        time.sleep(1.0)
    result.seconds = time.monotonic() - started
    for dag_id in (DAG_ID, TWIN_DAG_ID):
        runs = deploy.runs(dag_id)
        result.runs[dag_id] = len(runs)
        result.spans[dag_id] = [
            (dt.datetime.fromisoformat(r["start_date"]), dt.datetime.fromisoformat(r["end_date"]))
            for r in runs
            if r["start_date"] and r["end_date"]
        ]
    return result


# --- what came out ---------------------------------------------------------------------------


def partner_objects(deploy: Deployment, partner: str, area: str) -> list[str]:
    """Every file (or object) under a partner's area, as a path relative to it."""
    if partner == "s301":
        pages = deploy.s3.client().get_paginator("list_objects_v2").paginate(Bucket=deploy.bucket, Prefix=f"{area}/")
        return [item["Key"][len(area) + 1 :] for page in pages for item in page.get("Contents", [])]
    root = (
        deploy.work / "data" / "partners" / "local01" / area
        if partner == "local01"
        else deploy.sftp.root / deploy.sftp_base / area
    )
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]


@dataclass
class Audit:
    left: dict[str, int]  # files left in inboxes and processing/ (all partners)
    archived: dict[str, Counter[str]]  # partner -> original name -> copies in archive/
    outbox: dict[str, dict[str, list[tuple[int, str]]]]  # partner -> original name -> (ledger id, kind)
    outbox_temporaries: list[str]  # hidden .part files a killed write left behind (not answers)
    portal_declarations: int
    portal_versions: int  # distinct (transaction number, version)
    portal_transactions: set[str]
    portal_keys: int
    ledger_files: dict[tuple[str, str], list[dict[str, Any]]]  # (partner, name) -> its records
    ledger_acknowledgements: Counter[int]  # file id -> rows
    broken_chains: list[str]
    archived_events: Counter[int]  # file id -> events into archived
    lost_claim_races: int  # claim intents forgotten: ids the sequence gave out and no record keeps
    resumed: int  # take-overs of a stale claim (a killed worker's files) or a parked file
    parked: int


def audit(deploy: Deployment) -> Audit:
    left = {
        f"{partner} {area}": len(partner_objects(deploy, partner, area))
        for partner in PARTNERS
        for area in ("inbox", "processing")
    }
    archived = {
        partner: Counter(Path(p).name.split("__", 1)[1] for p in partner_objects(deploy, partner, "archive"))
        for partner in PARTNERS
    }
    outbox: dict[str, dict[str, list[tuple[int, str]]]] = {}
    temporaries: list[str] = []
    for partner in PARTNERS:
        per_name: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for name in partner_objects(deploy, partner, "outbox"):
            if TEMPORARY.match(
                name
            ):  # an atomic write cut short by the SIGKILL: a hidden temporary name, never an answer
                temporaries.append(f"{partner}/outbox/{name}")
                continue
            match = OUTBOX_NAME.match(name)
            if match is None:
                raise AssertionError(f"{partner}: unexpected outbox file {name!r}")
            per_name[match["name"]].append((int(match["id"]), match["kind"]))
        outbox[partner] = dict(per_name)
    portal = create_engine(deploy.portal_database_url)
    try:
        with portal.connect() as c:
            declarations, versions = c.execute(
                text("SELECT count(*), count(DISTINCT (transaction_number, version)) FROM portal_declarations")
            ).one()
            transactions = set(c.execute(text("SELECT transaction_number FROM portal_declarations")).scalars())
            keys = c.execute(text("SELECT count(*) FROM portal_idempotency_keys")).scalar_one()
    finally:
        portal.dispose()
    ledger = create_engine(deploy.ledger_url)
    try:
        with ledger.connect() as c:
            files = (
                c.execute(text("SELECT id, partner, name, state, duplicate_of FROM files ORDER BY id")).mappings().all()
            )
            events = (
                c.execute(text("SELECT file_id, from_state, to_state, note FROM file_events ORDER BY id"))
                .mappings()
                .all()
            )
            acks = c.execute(text("SELECT file_id, count(*) FROM acknowledgements GROUP BY file_id")).all()
            given_out = c.execute(text("SELECT last_value FROM files_id_seq")).scalar_one()
    finally:
        ledger.dispose()
    ledger_files: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in files:
        ledger_files[(row["partner"], row["name"])].append(dict(row))
    chains: dict[int, list[Any]] = defaultdict(list)
    for event in events:
        chains[event["file_id"]].append(event)
    broken = []
    for file in files:
        state = "received"
        for event in chains[file["id"]]:
            if event["from_state"] != state:
                broken.append(f"file {file['id']}: {event['from_state']} -> {event['to_state']} after {state}")
            state = event["to_state"]
        if state != file["state"]:
            broken.append(f"file {file['id']}: history ends {state}, record says {file['state']}")
    notes = [str(e["note"] or "") for e in events]
    return Audit(
        left=left,
        archived=archived,
        outbox=outbox,
        outbox_temporaries=temporaries,
        portal_declarations=declarations,
        portal_versions=versions,
        portal_transactions=transactions,
        portal_keys=keys,
        ledger_files=dict(ledger_files),
        ledger_acknowledgements=Counter({file_id: count for file_id, count in acks}),
        broken_chains=broken,
        archived_events=Counter(e["file_id"] for e in events if e["to_state"] == "archived"),
        lost_claim_races=given_out - len(files),
        resumed=sum(1 for note in notes if note.startswith("resumed")),
        parked=sum(1 for e in events if e["to_state"] == "parked"),
    )


def findings(facts: Audit, files_per_partner: int, declarations: int) -> dict[str, int]:
    """The proof's counts for a report (the benchmark): each must be 0."""
    names = {file_name(n) for n in range(files_per_partner)}
    records = [row for rows in facts.ledger_files.values() for row in rows]
    expected = files_per_partner * len(PARTNERS) * declarations
    return {
        "files left in inbox or processing/": sum(facts.left.values()),
        "files not archived exactly once": sum(
            1 for partner in PARTNERS for name in names if facts.archived[partner][name] != 1
        ),
        "ledger records not archived": sum(1 for r in records if r["state"] != "archived"),
        "extra ledger records": len(records) - len(names) * len(PARTNERS),
        "declarations missing or posted twice": abs(facts.portal_declarations - expected)
        + (facts.portal_declarations - facts.portal_versions),
        "idempotency keys not one per declaration": abs(facts.portal_keys - expected),
        "files not answered exactly once": sum(
            1
            for partner in PARTNERS
            for name in names
            if sorted(kind for _, kind in facts.outbox[partner].get(name, [])) != sorted(ACK_KINDS)
        ),
        "broken ledger histories": len(facts.broken_chains),
    }
