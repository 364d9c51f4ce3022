"""A production-shaped deployment on this machine, started for real (tests and benchmarks).

Airflow on CeleryExecutor: its metadata database on PostgreSQL (a fresh database),
Redis as the Celery broker (a dedicated db number, flushed first), the Celery result
backend on that PostgreSQL database; ``airflow db migrate``, then the scheduler, the
dag-processor, the api-server and two ``airflow celery worker`` processes, each a
separate process in its own process group with its own log, every port off the
defaults. The gateway beside it: the ledger on PostgreSQL, the embedded portal as its
own HTTP server (``carm-edi portal serve``, its database on PostgreSQL too), and three
partners: a local folder, SFTP (the real sshd of ``tests/servers.py``) and S3
(SeaweedFS). The gateway's settings and the Airflow connections reach the tasks as
environment variables of the worker processes, as a Helm chart's ``env`` would.

The DAG folder holds the project's ``dags/carm_inbound.py`` as it is and a **twin**: the
same file with another DAG id (``carm_inbound_twin``). Both plan over the same inboxes,
so their batches overlap on purpose: two runs race for every file and every stale claim
(``max_active_runs=1`` only keeps one DAG's own runs apart). Runs are triggered through
the api-server's REST API. Everything is stopped on exit, process group by process
group, and the databases are dropped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psutil

from tests.databases import database
from tests.servers import S3_CONN_ID, SFTP_CONN_ID, S3Server, SshServer, free_ports

PROJECT = Path(__file__).resolve().parents[1]
DAG_ID = "carm_inbound"
TWIN_DAG_ID = "carm_inbound_twin"
REDIS_DB = 13  # the test's Redis database (the benchmark uses 14): flushed at start and at the end
AREAS = ("inbox", "outbox", "archive", "quarantine", "processing")
WORKERS = ("worker1", "worker2")
PARTNERS = ("local01", "sftp01", "s301")
START_TIMEOUT = 240.0


@dataclass
class Service:
    """One process of the deployment: its command, its log and its process group."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (kept open for the process's life)
        self.process = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=PROJECT, start_new_session=True
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the process group and every descendant that left it (a worker's task processes)."""
        if self.process is None:
            return
        descendants: list[psutil.Process] = []
        with suppress(psutil.NoSuchProcess):
            descendants = psutil.Process(self.process.pid).children(recursive=True)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        for child in descendants:
            with suppress(psutil.NoSuchProcess):
                child.send_signal(sig)

    def stop(self, wait: bool = True) -> None:
        """SIGTERM, then SIGKILL after 20 s; ``wait=False``: only send the SIGTERM (stop several at once)."""
        if self.process is not None and self.process.poll() is None:
            self.kill(signal.SIGTERM)
            if not wait:
                return
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.process.wait(timeout=20)
        elif self.process is not None:
            with suppress(ProcessLookupError):  # the leader is gone: reap what is left of its group
                os.killpg(self.process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"
        return f"--- {self.name} ({self.log_path}) ---\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class Deployment:
    work: Path
    env: dict[str, str]
    api_url: str
    portal_url: str
    ledger_url: str
    portal_database_url: str
    sftp: SshServer
    s3: S3Server
    bucket: str
    sftp_base: str
    portal_latency_ms: float = 0.0  # the embedded portal's delay on every answer (``portal serve --latency-ms``)
    services: dict[str, Service] = field(default_factory=dict)
    _token: str | None = None
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    # --- processes ---------------------------------------------------------------------------

    def service(self, name: str, argv: list[str]) -> Service:
        service = Service(name, argv, self.work / "logs" / f"{name}.log", self.env)
        self.services[name] = service
        service.start()
        return service

    def start_portal(self) -> None:
        port = self.portal_url.rsplit(":", 1)[1]
        argv = [sys.executable, "-m", "gateway.cli", "portal", "serve", "--port", port]
        argv += ["--latency-ms", str(self.portal_latency_ms)]
        self.service("portal", [*argv, "--database-url", self.portal_database_url])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self._check_alive("portal")
            with suppress(httpx.HTTPError):
                if self._http.get(f"{self.portal_url}/docs", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("the portal did not start\n" + self.services["portal"].tail())

    def start_worker(self, name: str, concurrency: int = 2) -> None:
        argv = [sys.executable, "-m", "airflow", "celery", "worker", "--celery-hostname", f"{name}@carm"]
        self.service(name, [*argv, "--concurrency", str(concurrency), "--skip-serve-logs", "--without-mingle"])

    def worker_starts(self, name: str) -> int:
        """How many times a Celery worker came up (its log is appended to across restarts)."""
        return self.services[name].log_path.read_text(errors="replace").count(f"{name}@carm ready.")

    def kill(self, name: str) -> None:
        """SIGKILL a service and everything it started, at once (no clean-up)."""
        service = self.services[name]
        service.kill(signal.SIGKILL)
        if service.process is not None:
            service.process.wait(timeout=20)
        service.stop()  # reaps what is left of its group, closes its log

    def _check_alive(self, *names: str) -> None:
        for name in names:
            if not self.services[name].running():
                raise RuntimeError(f"{name} exited\n" + self.services[name].tail())

    def stop_all(self) -> None:
        """Every service asked to stop at once, then each waited for (and killed when it lingers)."""
        for service in self.services.values():
            service.stop(wait=False)
        for service in self.services.values():
            service.stop()

    def logs(self) -> str:
        return "\n".join(service.tail() for service in self.services.values())

    # --- the REST API ------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._token is None:
            answer = self._http.post(f"{self.api_url}/auth/token", json={"username": "admin", "password": "admin"})
            answer.raise_for_status()
            self._token = answer.json()["access_token"]
        for attempt in range(3):  # a loaded 2-core machine can stall the api-server past a timeout
            try:
                response = self._http.request(
                    method, f"{self.api_url}/api/v2{path}", headers={"Authorization": f"Bearer {self._token}"}, **kwargs
                )
                break
            except httpx.TimeoutException:
                if attempt == 2:
                    raise
        response.raise_for_status()
        return response.json()

    def wait_for_dags(self, *dag_ids: str, timeout: float = START_TIMEOUT) -> None:
        """Until the dag-processor has parsed every DAG (they are created paused), then unpause them."""
        deadline = time.monotonic() + timeout
        for dag_id in dag_ids:
            while True:
                self._check_alive("scheduler", "dag-processor", "api-server")
                try:
                    self.api("GET", f"/dags/{dag_id}")
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"DAG {dag_id} not parsed in {timeout} s\n" + self.logs()) from None
                    time.sleep(1)
            self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str) -> str:
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        return str(run["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])

    def active_runs(self, dag_id: str) -> int:
        return sum(1 for run in self.runs(dag_id) if run["state"] in ("queued", "running"))


def _airflow_env(
    work: Path, airflow_db: str, redis_db: int, dags: Path, api_port: int, log_ports: list[int]
) -> dict[str, str]:
    home = work / "airflow"
    home.mkdir()
    (home / "passwords.json").write_text(json.dumps({"admin": "admin"}))
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__MAX_MAP_LENGTH": "4096",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": airflow_db,  # psycopg 3 is async too (no asyncpg)
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{airflow_db}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": "carm-deployment-test-jwt-secret-" + "0123456789abcdef" * 3,
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_ports[0]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(log_ports[1]),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # a SIGKILLed worker's task instances are failed after this long without a heartbeat
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    }


def _dag_folder(work: Path) -> Path:
    """The project's DAG file as it is, and its twin under another DAG id (same inboxes)."""
    folder = work / "dags"
    folder.mkdir()
    source = (PROJECT / "dags" / "carm_inbound.py").read_text()
    (folder / "carm_inbound.py").write_text(source)
    marker = f'dag_id="{DAG_ID}"'
    if source.count(marker) != 1:
        raise RuntimeError(f"dags/carm_inbound.py no longer names its DAG as {marker}")
    (folder / "carm_inbound_twin.py").write_text(source.replace(marker, f'dag_id="{TWIN_DAG_ID}"'))
    return folder


def registry(data_dir: Path, sftp_base: str, bucket: str) -> str:
    """Three partners: a local folder, an SFTP login directory, an S3 bucket (CONTRL requested by all)."""
    senders = {partner: partner.upper() for partner in PARTNERS}
    sftp = "\n".join(f'{area} = "{sftp_base}/{area}"' for area in AREAS)
    s3 = "\n".join(f'{area}_prefix = "{area}/"' for area in AREAS)
    channels = {
        "local01": f'type = "local"\npath = "{data_dir / "partners" / "local01"}"',
        "sftp01": f'type = "sftp"\nconnection_id = "{SFTP_CONN_ID}"\n{sftp}',
        "s301": f'type = "s3"\nconnection_id = "{S3_CONN_ID}"\nbucket = "{bucket}"\n{s3}',
    }
    return "".join(
        f'[[partners]]\nid = "{partner}"\nedifact_senders = [{{ id = "{senders[partner]}", qualifier = "ZZZ" }}]\n'
        f'importer_accounts = ["123456782RM0001"]\nacknowledgements = {{ contrl = true }}\n'
        f"[partners.channel]\n{channels[partner]}\n\n"
        for partner in PARTNERS
    )


def _flush_redis(db: int) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=db)
    try:
        client.flushdb()
    finally:
        client.close()


@contextmanager
def deployment(
    sftp: SshServer,
    s3: S3Server,
    workers: int = len(WORKERS),
    redis_db: int = REDIS_DB,
    portal_latency_ms: float = 0.0,
    **gateway: str,
) -> Iterator[Deployment]:
    """The whole deployment, started and ready (both DAGs parsed and unpaused, the workers started).

    ``workers``: how many Celery workers (1 or 2, for the scaling figure); ``redis_db``: the
    broker's database, flushed (two deployments at once need two); ``portal_latency_ms``:
    the embedded portal answers this late (a distant portal's round trip); ``gateway``:
    extra ``CARM_*`` settings for the tasks (e.g. ``park_seconds="5"``)."""
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="carm-deploy-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        (work / "logs").mkdir()
        airflow_db = stack.enter_context(database("postgresql", work, "airflow"))
        ledger_url = stack.enter_context(database("postgresql", work, "ledger"))
        portal_db = stack.enter_context(database("postgresql", work, "portal"))
        _flush_redis(redis_db)
        stack.callback(_flush_redis, redis_db)
        api_port, portal_port, *log_ports = free_ports(4)
        data_dir = work / "data"
        for area in AREAS:
            (data_dir / "partners" / "local01" / area).mkdir(parents=True)
        tag = uuid.uuid4().hex[:8]
        bucket, sftp_base = f"carm-deploy-{tag}", f"deploy-{tag}"
        s3.client().create_bucket(Bucket=bucket)
        sftp.sftp_batch("".join(f'mkdir "{sftp_base}{suffix}"\n' for suffix in ["", *(f"/{a}" for a in AREAS)]))
        (work / "partners.toml").write_text(registry(data_dir, sftp_base, bucket))
        portal_url = f"http://127.0.0.1:{portal_port}"
        env = {
            # the test session's own Airflow settings (unit-test mode, its SQLite home) stay out
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            **_airflow_env(work, airflow_db, redis_db, _dag_folder(work), api_port, log_ports),
            "PYTHONPATH": str(PROJECT),  # this checkout's gateway in every process (the venv's is editable elsewhere)
            f"AIRFLOW_CONN_{SFTP_CONN_ID.upper()}": json.dumps(sftp.connection()),
            f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(s3.connection()),
            "CARM_DATA_DIR": str(data_dir),
            "CARM_PARTNERS_PATH": str(work / "partners.toml"),
            "CARM_LEDGER_URL": ledger_url,
            "CARM_PORTAL_URL": portal_url,
            "CARM_PORTAL_DATABASE_URL": portal_db,
            **{f"CARM_{name.upper()}": value for name, value in gateway.items()},
        }
        deploy = Deployment(
            work,
            env,
            f"http://127.0.0.1:{api_port}",
            portal_url,
            ledger_url,
            portal_db,
            sftp,
            s3,
            bucket,
            sftp_base,
            portal_latency_ms,
        )
        stack.callback(deploy._http.close)
        stack.callback(deploy.stop_all)
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=env, cwd=PROJECT, capture_output=True, timeout=300
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stdout[-3000:]!r}\n{migrate.stderr[-3000:]!r}")
        deploy.start_portal()
        airflow = [sys.executable, "-m", "airflow"]
        deploy.service("api-server", [*airflow, "api-server", "--port", str(api_port), "--host", "127.0.0.1"])
        deploy.service("scheduler", [*airflow, "scheduler"])
        deploy.service("dag-processor", [*airflow, "dag-processor"])
        for worker in WORKERS[:workers]:
            deploy.start_worker(worker)
        deploy.wait_for_dags(DAG_ID, TWIN_DAG_ID)
        try:
            yield deploy
        except BaseException:
            print(deploy.logs())
            raise
