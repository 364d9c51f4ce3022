"""Running the portal with uvicorn: blocking for the CLI, or in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from portal.adjustments import OnDecision
from portal.app import create_app
from validators.reference_data import DEFAULT_DIRECTORY

_START_TIMEOUT_SECONDS = 10.0


def serve(
    host: str,
    port: int,
    database_url: str,
    tariff_path: Path | str,
    *,
    api_key: str | None = None,
    reference_dir: Path | str = DEFAULT_DIRECTORY,
    latency_ms: float = 0.0,
    on_decision: OnDecision | None = None,
) -> None:
    """Serve the portal until interrupted (Ctrl-C / SIGTERM); ``latency_ms`` delays every answer;
    ``on_decision`` is told of the adjustment decisions (``create_app``)."""
    app = create_app(
        database_url,
        tariff_path,
        api_key=api_key,
        reference_dir=reference_dir,
        latency_ms=latency_ms,
        on_decision=on_decision,
    )
    uvicorn.run(app, host=host, port=port)


class PortalServer:
    """The portal on a background thread, for tests and the demo.

    ``latency_ms`` delays every answer (the portal's round trip, for tests and benchmarks).
    ``port=0`` binds a free port; ``url`` is known once the context is entered.
    Leaving the context stops uvicorn and waits for its thread.
    """

    def __init__(
        self,
        database_url: str,
        tariff_path: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        reference_dir: Path | str = DEFAULT_DIRECTORY,
        latency_ms: float = 0.0,
        certificate: tuple[Path, Path] | None = None,
        on_decision: OnDecision | None = None,
    ) -> None:
        """``certificate``: (certificate chain, private key) PEM files: serve HTTPS;
        ``on_decision``: told of the adjustment decisions (``create_app``)."""
        self._app = create_app(
            database_url,
            tariff_path,
            api_key=api_key,
            reference_dir=reference_dir,
            latency_ms=latency_ms,
            on_decision=on_decision,
        )
        self._certificate = certificate
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def __enter__(self) -> PortalServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        host, port = sock.getsockname()[:2]
        chain, key = self._certificate or (None, None)
        config = uvicorn.Config(self._app, log_level="warning", lifespan="on", ssl_certfile=chain, ssl_keyfile=key)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"portal-{port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._stop()
                raise RuntimeError(f"the portal did not start on {host}:{port}")
            time.sleep(0.01)
        self.url = f"{'https' if self._certificate else 'http'}://{host}:{port}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join()
