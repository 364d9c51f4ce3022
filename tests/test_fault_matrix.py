"""The fault matrix (docs/reliability.md): each fault injected into a real run of the
gateway (the embedded portal over HTTP, the ledger and the portal on SQLite and on
the machine's PostgreSQL, real sshd and SeaweedFS where the fault is about them),
then the run is repeated as Airflow's next run would, and the final state of
ledger, portal, outbox and archive is checked: 0 files lost, 0 duplicate posts,
exactly one CONTRL per interchange and one CUSRES message per declaration (or,
with the portal down, every file parked and reported).

SIGKILL faults run the gateway in a child process whose pipeline is given a
checkpoint hook that kills it at a named point (``tests.faults.kill_at``); the
rerun happens here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from gateway import service
from gateway.operator import Requester
from gateway.pipeline import Pipeline, ProcessedFile
from gateway.portal_lookups import PortalClientLookups
from gateway.service import reprocess
from gateway.settings import Settings
from ledger import Ledger
from ledger.store import FileState
from portal.client import PortalClient
from portal.server import PortalServer
from tests.ack_reader import ack_name, has_ack, read_contrls, read_cusres
from tests.conftest import FIXTURES, PROJECT_ROOT, fixture_file
from tests.databases import BACKENDS, database
from tests.faults import FaultyHTTPTransport, FaultyPoster, FaultyTransport
from transports.local import TEMPORARY
from validators.rules.lookups import portal_context

PARTNER = "broker01"
FILES = {"v01_single.edi": 1, "v02_multi_message.edi": 3}  # name -> declarations in it (one interchange each)
V02_SECOND = "10207000300036"  # the transaction of v02's second declaration (BGM 1004)
LEASE = 1.0  # seconds: a killed worker's claim is resumable this long after its last heartbeat

CHILD = """
import sys
from gateway import service
from gateway.settings import Settings
from tests.faults import kill_spec
with service.open_pipeline(Settings(), task="child", checkpoint=kill_spec(sys.argv[1])) as pipeline:
    pipeline.resume_stale(run_id="run-killed")
    pipeline.process_inbox(run_id="run-killed")
raise SystemExit(3)  # never reached when the checkpoint kills us
"""

CHILD_MID_UPLOAD = """
import os, signal, sys
from gateway import service
from gateway.settings import Settings
from tests.faults import FaultyTransport
with service.open_pipeline(Settings(), task="child") as pipeline:
    kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
    pipeline.transport = FaultyTransport(pipeline.transport).cut_write(after=int(sys.argv[1]), nth=1, on_cut=kill)
    pipeline.process_inbox(run_id="run-killed")
raise SystemExit(3)  # never reached: the first acknowledgement's upload kills us
"""


# --- the world: one gateway, one portal, one ledger -------------------------------------------


@dataclass
class World:
    backend: str
    root: Path
    settings: Settings
    ledger_url: str
    portal_db: str
    server: PortalServer
    concurrency: int

    @property
    def serial(self) -> bool:
        """One post and one file at a time: every checkpoint is passed in the files' order."""
        return self.concurrency == 1

    @property
    def partner_dir(self) -> Path:
        return self.settings.resolved_data_dir / "partners" / PARTNER

    def deliver(self, *names: str) -> None:
        inbox = self.partner_dir / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(fixture_file(name), inbox / name)

    @contextmanager
    def pipeline(self) -> Iterator[Pipeline]:
        with service.open_pipeline(self.settings, task="test") as pipeline:
            yield pipeline

    def run(self, run_id: str = "run-2", setup: Callable[[Pipeline], None] | None = None) -> list[ProcessedFile]:
        """What the next DAG run does: resume what is left in processing/, then the inbox."""
        with self.pipeline() as pipeline:
            if setup is not None:
                setup(pipeline)
            return pipeline.resume_stale(run_id=run_id) + pipeline.process_inbox(run_id=run_id)

    def run_killed(self, point: str) -> None:
        """The gateway in a child process, SIGKILLed at ``point`` (``name[:nth]``)."""
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", CHILD, point], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == -9, (
            f"child was not killed at {point}: rc={result.returncode}\n{result.stderr[-3000:]}"
        )
        time.sleep(LEASE + 0.2)  # the dead worker's lease ends

    def run_killed_mid_upload(self, after: int) -> None:
        """The gateway in a child process, SIGKILLed ``after`` bytes into its first acknowledgement."""
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", CHILD_MID_UPLOAD, str(after)],
            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert result.returncode == -9, (
            f"child was not killed mid-upload: rc={result.returncode}\n{result.stderr[-3000:]}"
        )
        time.sleep(LEASE + 0.2)  # the dead worker's lease ends, and its temporary is older than a lease

    def ledger(self) -> Ledger:
        return Ledger(self.ledger_url)

    def portal_rows(self) -> dict[str, int]:
        engine = create_engine(self.portal_db)
        try:
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT transaction_number, version FROM portal_declarations")).all()
                keys = connection.execute(text("SELECT COUNT(*) FROM portal_idempotency_keys")).scalar_one()
        finally:
            engine.dispose()
        return {"declarations": len(rows), "versions": len(set(rows)), "keys": int(keys)}


CONCURRENCY = (1, 4)
"""Every fault with one post at a time and with posts (and files) in flight."""


@pytest.fixture(
    params=[(backend, concurrency) for backend in BACKENDS for concurrency in CONCURRENCY],
    ids=lambda param: f"{param[0]}-posts{param[1]}",
)
def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    backend, concurrency = request.param
    with (
        database(backend, tmp_path, "portal") as portal_db,
        database(backend, tmp_path, "ledger") as ledger_url,
        PortalServer(portal_db, FIXTURES / "reference" / "tariff.csv") as server,
    ):
        values = {
            "data_dir": str(tmp_path / "data"),
            "ledger_url": ledger_url,
            "portal_url": server.url,
            "portal_backoff_seconds": "0.01",
            "portal_timeout_seconds": "5",
            "claim_lease_seconds": str(LEASE),
            "park_seconds": "0",
            "portal_concurrency": str(concurrency),
        }
        for name, value in values.items():
            monkeypatch.setenv(f"CARM_{name.upper()}", value)
        settings = Settings()
        Ledger(ledger_url).dispose()  # migrated before any worker starts
        yield World(backend, tmp_path, settings, ledger_url, portal_db, server, concurrency)


# --- checks -------------------------------------------------------------------------------------


def visible(folder: Path) -> dict[str, bytes]:
    """Files under ``folder`` as a partner sees them (hidden temporary uploads left out)."""
    if not folder.exists():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def local_areas(world: World) -> Callable[[str], dict[str, bytes]]:
    return lambda area: visible(world.partner_dir / area)


def assert_final(world: World, areas: Callable[[str], dict[str, bytes]], files: dict[str, int] = FILES) -> None:
    """0 lost, 0 duplicate posts, exactly one answer per interchange and per declaration."""
    assert areas("inbox") == {}
    assert areas("processing") == {}, "a file was left in processing/"
    archived = sorted(name.rsplit("/", 1)[-1].split("__", 1)[1] for name in areas("archive"))
    assert archived == sorted(files), "every file archived exactly once"
    outbox = areas("outbox")
    kinds = ("contrl.edi", "cusres.edi", "report.json")
    assert sorted(outbox) == sorted(ack_name(outbox, name, kind) for name in files for kind in kinds)  # one each
    for name, declarations in files.items():
        [contrl] = read_contrls(outbox[ack_name(outbox, name, "contrl.edi")])  # one CONTRL for the one interchange
        assert contrl["uci"]["action"] == "7"
        [messages] = read_cusres(outbox[ack_name(outbox, name, "cusres.edi")])
        assert len(messages) == declarations and all(m["status"] == "40" for m in messages)
    total = sum(files.values())
    assert world.portal_rows() == {"declarations": total, "versions": total, "keys": total}, (
        "a declaration was posted twice"
    )
    ledger = world.ledger()
    try:
        records = [r for r in ledger.files() if r.duplicate_of is None]
        assert sorted((r.name, r.state) for r in records) == sorted((name, "archived") for name in files)
        for record in records:
            documents = ledger.documents(record.id)
            assert len(documents) == files[record.name]
            assert all(d.idempotency_key for d in documents) and len({d.idempotency_key for d in documents}) == len(
                documents
            )
            assert sorted(a.kind for a in ledger.acknowledgements(record.id)) == ["contrl", "cusres", "report"]
    finally:
        ledger.dispose()


def assert_stopped(world: World, serial: dict[str, str]) -> None:
    """The ledger after a run stopped by a fault: one post and one file at a time, exactly
    ``serial``; with posts and files in flight the point is passed in no fixed order, so
    only: some file was stopped before its end, and each recorded file is held under a
    lease, released or archived (the final state after the rerun is what proves the rest)."""
    states = ledger_states(world)
    if world.serial:
        assert states == serial
        return
    assert set(states) <= set(FILES)
    assert any(state != "archived" for state in states.values()), states
    assert all(state in (*FileState.IN_FLIGHT, "released", "archived") for state in states.values()), states


def ledger_states(world: World) -> dict[str, str]:
    ledger = world.ledger()
    try:
        return {r.name: r.state for r in ledger.files() if r.duplicate_of is None}
    finally:
        ledger.dispose()


# --- the portal ---------------------------------------------------------------------------------


def _install(
    plan: Callable[[int, Any], str | None], match: Callable[[Any], bool] | None = None, store: list[Any] | None = None
) -> Callable[[Pipeline], None]:
    def setup(pipeline: Pipeline) -> None:
        client: PortalClient = pipeline.poster.__self__  # type: ignore[union-attr]  # the poster is the bound submit_declaration of the real client
        faulty = FaultyHTTPTransport.install(client, plan, match)
        if store is not None:
            store.append((faulty, client))

    return setup


def test_portal_500_is_retried_with_the_same_key(world: World) -> None:
    world.deliver(*FILES)
    seen: list[Any] = []
    results = world.run(setup=_install(lambda n, _r: "500" if n in (1, 2, 4) else None, store=seen))
    faulty, _client = seen[0]
    assert faulty.faults["500"] == 3 and faulty.forwarded == 4
    assert [r.state for r in results] == ["archived", "archived"]
    assert_final(world, local_areas(world))


def test_portal_timeout_after_the_portal_answered_is_replayed(world: World) -> None:
    world.deliver(*FILES)
    seen: list[Any] = []
    world.run(setup=_install(lambda n, _r: "timeout" if n in (1, 3) else None, store=seen))
    faulty, _client = seen[0]
    assert faulty.faults["timeout"] == 2
    assert faulty.forwarded == 6  # 4 posts + 2 retries answered from the idempotency records
    assert_final(world, local_areas(world))


def test_connection_reset_mid_response_is_replayed(world: World) -> None:
    world.deliver(*FILES)
    seen: list[Any] = []
    world.run(setup=_install(lambda n, _r: "reset" if n == 2 else None, store=seen))
    assert seen[0][0].faults["reset"] == 1
    assert_final(world, local_areas(world))


def test_portal_down_for_the_whole_run_parks_every_file(world: World) -> None:
    world.deliver(*FILES)
    seen: list[Any] = []
    results = world.run(setup=_install(lambda _n, _r: "down", match=lambda _r: True, store=seen))
    faulty, client = seen[0]
    # Parked, reported, nothing answered, nothing lost: the originals wait in processing/.
    assert [(r.name, r.state) for r in results] == [(name, "parked") for name in FILES]
    summary = service.summarize([{"files": [service.file_summary(r) for r in results]}])
    assert summary["parked"] == 2 and summary["parked_files"] == list(FILES)
    assert all("portal unavailable" in r.report.errors[0].message for r in results)
    assert ledger_states(world) == {name: "parked" for name in FILES}
    assert visible(world.partner_dir / "outbox") == {}
    assert len(visible(world.partner_dir / "processing")) == 2
    # The circuit opened: the second file cost no retries (8 failed attempts open it).
    assert client.circuit.opened >= 1
    assert faulty.calls <= client.circuit.failures + 1
    # The portal is back: the operator reprocesses the parked files; history is kept.
    result = reprocess(world.settings, Requester("tester", "cli"), parked=True)
    assert [f["state"] for f in result["files"]] == ["archived", "archived"]
    assert_final(world, local_areas(world))
    ledger = world.ledger()
    try:
        moves = [(e.from_state, e.to_state) for e in ledger.events(ledger.files()[0].id)]
    finally:
        ledger.dispose()
    assert moves[:4] == [
        ("received", "claiming"),
        ("claiming", "claimed"),
        ("claimed", "parsed"),
        ("parsed", "parked"),
    ]  # parked at its first post
    assert ("parked", "claimed") in moves and moves[-1] == ("acknowledged", "archived")


# --- SIGKILL ------------------------------------------------------------------------------------


def test_killed_after_the_post_before_the_ack(world: World) -> None:
    world.deliver(*FILES)
    world.run_killed("posted:2")  # v01's post, then v02's first post: killed before any v02 answer
    assert_stopped(world, {"v01_single.edi": "archived", "v02_multi_message.edi": "posted"})
    if world.serial:
        assert world.portal_rows()["declarations"] == 2
    assert not has_ack(visible(world.partner_dir / "outbox"), "v02_multi_message.edi", "cusres.edi")
    results = world.run()
    if world.serial:
        assert [(r.name, r.state) for r in results] == [("v02_multi_message.edi", "archived")]
    assert_final(world, local_areas(world))


def test_killed_after_the_ack_before_archiving(world: World) -> None:
    world.deliver(*FILES)
    world.run_killed("acknowledged:1")
    assert_stopped(world, {"v01_single.edi": "acknowledged"})
    before = visible(world.partner_dir / "outbox")
    seen: list[Any] = []
    world.run(setup=_install(lambda _n, _r: None, store=seen))
    assert_final(world, local_areas(world))
    after = visible(world.partner_dir / "outbox")
    assert {k: after[k] for k in before} == before  # v01's answers untouched
    if world.serial:
        assert seen[0][0].calls == 3  # only v02's three posts: v01 was only filed away


def test_killed_between_the_archive_move_and_the_ledger(world: World) -> None:
    world.deliver(*FILES)
    world.run_killed("archived:1")
    assert_stopped(world, {"v01_single.edi": "acknowledged"})
    world.run()
    assert_final(world, local_areas(world))


def test_killed_right_after_the_claim(world: World) -> None:
    world.deliver(*FILES)
    world.run_killed("recorded:1")
    assert_stopped(world, {"v01_single.edi": "claimed"})
    world.run()
    assert_final(world, local_areas(world))


def test_killed_between_the_move_and_its_ledger_record(world: World) -> None:
    """The claim is recorded as an intent before the move: a worker killed after the
    move, before the ledger says so, leaves a 'claiming' record; the rerun finds the
    file in processing/ by its claim id and finishes it."""
    world.deliver(*FILES)
    world.run_killed("moved:1")
    assert_stopped(world, {"v01_single.edi": "claiming"})
    if world.serial:
        assert len(list((world.partner_dir / "processing").iterdir())) == 1
    world.run()
    assert_final(world, local_areas(world))


def temporaries(folder: Path) -> list[str]:
    """The hidden temporaries of atomic writes (``.<name>.<8 hex>.part``) under ``folder``."""
    return sorted(p.name for p in folder.rglob("*") if TEMPORARY.match(p.name))


def test_killed_mid_upload_the_next_run_sweeps_the_temporary(world: World) -> None:
    """A SIGKILL in the middle of an acknowledgement's upload leaves its hidden ``.part``
    in the outbox; the next run (planned as the DAG and ``carm-edi process`` plan) removes
    it, since nothing wrote to it for a lease, and answers the file exactly once."""
    world.deliver(*FILES)
    world.run_killed_mid_upload(after=200)
    outbox = world.partner_dir / "outbox"
    left = temporaries(outbox)
    assert left, "the killed write left no temporary"  # one per upload in progress (several with files in flight)
    # A write in progress: written to within the lease (dated 30 s ahead, so that a slow
    # start of the run below cannot age it past the 1 s lease): kept.
    fresh = outbox / ".v01_single.edi.99.cusres.edi.0123abcd.part"
    fresh.write_bytes(b"UNA")
    os.utime(fresh, (time.time() + 30, time.time() + 30))
    service.process_once(world.settings, run_id="run-2")
    assert temporaries(outbox) == [fresh.name]
    fresh.unlink()
    assert_final(world, local_areas(world))
    assert temporaries(world.partner_dir) == []


def test_an_unexpected_error_after_a_post_is_one_failed_attempt(world: World) -> None:
    """The poster raises something unexpected at v02's second post (after its first
    was made): the file is given back with one failed attempt, v01 is not held up,
    and the next run finishes v02 without posting anything twice."""
    world.deliver(*FILES)

    def poison(pipeline: Pipeline) -> None:
        pipeline.poster = FaultyPoster(pipeline.poster, {V02_SECOND: RuntimeError("injected: not a portal outage")})

    results = world.run(run_id="run-1", setup=poison)
    assert [(r.name, r.state) for r in results] == [
        ("v01_single.edi", "archived"),
        ("v02_multi_message.edi", "released"),
    ]
    ledger = world.ledger()
    try:
        [v02] = [r for r in ledger.files() if r.name == "v02_multi_message.edi"]
        assert v02.failures == 1 and "RuntimeError: injected" in (v02.note or "")
        documents = len(ledger.documents(v02.id))
    finally:
        ledger.dispose()
    # Every post the portal took is recorded (with posts in flight, v02's third may have gone too).
    assert world.portal_rows()["declarations"] == 1 + documents
    if world.serial:
        assert documents == 1  # the post made before the error stays recorded
    world.run()
    assert_final(world, local_areas(world))


def test_carm_edi_process_resumes_what_a_killed_run_left_in_processing(world: World) -> None:
    """``carm-edi process`` plans as the DAG does: a claim whose worker was killed
    (lease ended) is resumed, not left in processing/ for ever."""
    world.deliver(*FILES)
    world.run_killed("recorded:1")
    assert_stopped(world, {"v01_single.edi": "claimed"})
    if world.serial:
        assert len(visible(world.partner_dir / "processing")) == 1
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "process"],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "v01_single.edi: archived, 1/1 documents accepted" in result.stdout.splitlines()
    assert_final(world, local_areas(world))


def test_an_intent_whose_move_never_happened_is_forgotten(world: World) -> None:
    """An intent recorded, then the worker died before the move: the file is still in
    the inbox; the rerun drops the intent and claims the file afresh."""
    world.deliver(*FILES)
    ledger = world.ledger()
    try:
        ledger.record_claim(
            PARTNER, "v01_single.edi", "", 1, "dead-run", claim_id="deadbeef0000", lease_seconds=0, intent=True
        )
    finally:
        ledger.dispose()
    world.run()
    assert_final(world, local_areas(world))


def test_a_rerun_writes_the_same_bytes(world: World) -> None:
    """Killed after v02's last post, then resumed: the answers are then written again
    in full by a forced second pass over the same record (its original moved back
    to processing/ and the record parked), and they are the same bytes: control
    references come from the SHA-256, dates from the record's received_at."""
    world.deliver(*FILES)
    world.run_killed("posted:4")
    world.run()
    first = visible(world.partner_dir / "outbox")
    ledger = world.ledger()
    try:
        record = next(r for r in ledger.files() if r.name == "v02_multi_message.edi")
        processing = world.partner_dir / "processing" / Path(record.location).name
        os.replace(record.location, processing)
        ledger.move_file(record.id, "parked", note="test: once more", location=str(processing), lease_until=None)
    finally:
        ledger.dispose()
    [again] = world.run(run_id="run-3")
    assert again.state == "archived"
    assert visible(world.partner_dir / "outbox") == first
    assert_final(world, local_areas(world))


# --- duplicates and races -----------------------------------------------------------------------


def test_duplicate_delivery_of_the_same_file(world: World) -> None:
    world.deliver(*FILES)
    world.run()
    answers = visible(world.partner_dir / "outbox")
    world.deliver("v01_single.edi")  # the partner (or a twice-fired trigger) delivers it again
    [result] = world.run(run_id="run-3")
    assert result.state == "quarantined" and result.report.errors[0].code == "DUP"
    assert visible(world.partner_dir / "outbox") == answers  # nothing overwritten, nothing added
    quarantined = [n for n in visible(world.partner_dir / "quarantine") if not n.endswith(".reason.txt")]
    assert [n.split("__", 1)[1] for n in quarantined] == ["v01_single.edi"]
    assert_final(world, local_areas(world))
    ledger = world.ledger()
    try:
        duplicates = [r for r in ledger.files() if r.duplicate_of is not None]
    finally:
        ledger.dispose()
    assert [(r.name, r.state) for r in duplicates] == [("v01_single.edi", "quarantined")]


def test_two_workers_claiming_the_same_files(world: World) -> None:
    world.deliver(*FILES)
    barrier = threading.Barrier(2)
    results: list[list[ProcessedFile]] = [[], []]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            with world.pipeline() as pipeline:
                inbound = pipeline.transport.list_inbox(PARTNER)
                barrier.wait()
                for file in inbound:  # both race for every file, in the same order
                    result = pipeline.process(file, f"run-{index}")
                    if result is not None:
                        results[index].append(result)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(r.name for run in results for r in run) == sorted(FILES)  # each processed exactly once
    assert_final(world, local_areas(world))


def test_two_workers_resuming_the_same_stale_claim(world: World) -> None:
    world.deliver("v02_multi_message.edi")
    world.run_killed("posted:1")
    [stale] = world.ledger().resumable()
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def worker() -> None:
        with world.pipeline() as pipeline:
            barrier.wait()
            outcomes.append(pipeline.resume(stale.id, "run-race"))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(o is None for o in outcomes) == [False, True]  # exactly one took it over
    assert_final(world, local_areas(world), {"v02_multi_message.edi": 3})


# --- SFTP: the real sshd ------------------------------------------------------------------------


def _sftp_pipeline(world: World, transport: Any) -> Pipeline:
    client = PortalClient.from_settings(world.settings)
    ledger = Ledger(world.ledger_url)
    return Pipeline(
        world.settings,
        transport,
        ledger,
        client.submit_declaration,
        portal_context(PortalClientLookups(client), portal_prechecks=False),
        None,
        task="test",
    )


@pytest.fixture
def sftp(sshd: Any, world: World) -> Iterator[dict[str, Any]]:
    from tests.servers import SFTP_CONN_ID
    from transports.channels import SftpChannel
    from transports.sftp import SftpTransport

    base = f"fm-{uuid.uuid4().hex[:8]}"
    channel = SftpChannel(
        connection_id=SFTP_CONN_ID, inbox=f"{base}/inbox", outbox=f"{base}/outbox", archive=f"{base}/archive",
        quarantine=f"{base}/quarantine", processing=f"{base}/processing",
    )  # fmt: skip

    def transport() -> SftpTransport:
        return SftpTransport({PARTNER: channel})

    with transport() as uploader:
        for name in FILES:
            with uploader.client(PARTNER).open(f"{channel.inbox}/{name}", "wb") as handle:
                handle.write(fixture_file(name).read_bytes())
    yield {"transport": transport, "areas": lambda area: visible(sshd.root / base / area), "root": sshd.root / base}


def _drop_ssh(transport: Any) -> Callable[[], None]:
    return lambda: transport.client(PARTNER).get_channel().get_transport().close()


def _sftp_run(world: World, transport: Any) -> list[ProcessedFile]:
    pipeline = _sftp_pipeline(world, transport)
    try:
        return pipeline.resume_stale(run_id="run-2") + pipeline.process_inbox(PARTNER, run_id="run-2")
    finally:
        pipeline.ledger.dispose()


def test_sftp_connection_dropped_mid_download(world: World, sftp: dict[str, Any]) -> None:
    with sftp["transport"]() as real:
        faulty = FaultyTransport(real).cut_read(after=100, nth=1, on_cut=_drop_ssh(real))
        with pytest.raises(Exception):  # noqa: B017  # paramiko's or the OS's error, as the session drops: the state after it is what is tested
            _sftp_run(world, faulty)
    assert len(sftp["areas"]("processing")) >= 1  # the claimed file could not even be released
    assert_stopped(world, {"v01_single.edi": "claimed"})
    with sftp["transport"]() as fresh:  # the next run, a new session
        _sftp_run(world, fresh)
    assert_final(world, sftp["areas"])


def test_sftp_connection_dropped_mid_upload(world: World, sftp: dict[str, Any]) -> None:
    with sftp["transport"]() as real:
        # The CUSRES upload starts before the first post (its UNB); 200 bytes in, the post is made.
        faulty = FaultyTransport(real).cut_write(after=200, nth=1, on_cut=_drop_ssh(real))
        with pytest.raises(Exception):  # noqa: B017  # paramiko's or the OS's error, as the session drops: the state after it is what is tested
            _sftp_run(world, faulty)
    assert_stopped(world, {"v01_single.edi": "posted"})
    if world.serial:
        assert world.portal_rows()["declarations"] == 1
    outbox = sftp["root"] / "outbox"
    assert temporaries(outbox), "the cut upload left no temporary"  # its session was gone before it could remove it
    time.sleep(LEASE + 0.2)  # older than a lease
    with sftp["transport"]() as fresh:  # the next run, planned as the DAG plans (the sweep first)
        pipeline = _sftp_pipeline(world, fresh)
        try:
            for batch in service.plan(world.settings, pipeline.ledger, fresh, PARTNER):
                service.work_batch(pipeline, batch, run_id="run-2")
        finally:
            pipeline.ledger.dispose()
    assert temporaries(outbox) == []
    assert_final(world, sftp["areas"])


# --- S3: SeaweedFS ------------------------------------------------------------------------------


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def test_s3_500_on_put(world: World, s3_server: Any) -> None:
    from botocore.awsrequest import AWSResponse

    from tests.servers import S3_CONN_ID
    from transports.channels import S3Channel
    from transports.s3 import S3Transport

    bucket = f"carm-faults-{uuid.uuid4().hex[:8]}"
    admin = s3_server.client()
    admin.create_bucket(Bucket=bucket)
    base = "broker01"
    channel = S3Channel(
        connection_id=S3_CONN_ID,
        bucket=bucket,
        **{f"{a}_prefix": f"{base}/{a}/" for a in ("inbox", "outbox", "archive", "quarantine", "processing")},
    )
    for name in FILES:
        admin.put_object(Bucket=bucket, Key=f"{base}/inbox/{name}", Body=fixture_file(name).read_bytes())
    failing = {"on": True, "count": 0}

    def answer_500(request: Any, **_: Any) -> Any:
        if failing["on"] and "/outbox/" in request.url:
            failing["count"] += 1
            body = b"<?xml version='1.0'?><Error><Code>InternalError</Code><Message>injected</Message></Error>"
            return AWSResponse(request.url, 500, {"Content-Type": "application/xml"}, _Body(body))
        return None

    def areas(area: str) -> dict[str, bytes]:
        found = {}
        for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{base}/{area}/"):
            for item in page.get("Contents", []):
                key = item["Key"][len(f"{base}/{area}/") :]
                if not key.startswith(".") and "/." not in key:
                    found[key] = admin.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found

    with S3Transport({PARTNER: channel}) as real:
        real.client(PARTNER).meta.events.register("before-send.s3.PutObject", answer_500)
        with pytest.raises(Exception, match=r"InternalError|500"):
            _sftp_run(world, real)
        assert failing["count"] >= 1
        assert_stopped(world, {"v01_single.edi": "released"})  # back in the inbox, posted once
        assert set(areas("inbox")) == set(FILES) and areas("outbox") == {}
        failing["on"] = False
        _sftp_run(world, real)
        _sftp_run(world, real)  # the first rerun stops nowhere; a second finds nothing to do
    assert_final(world, areas)
