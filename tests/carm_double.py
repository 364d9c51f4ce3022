"""A scripted CARM declaration API over real HTTPS on 127.0.0.1, for answers the embedded portal
never gives (a once-pending version refused with CARM's pointers and statements): each post is
answered ``posted``, each query by transaction number the next of ``queries`` (the last repeats).
The API key is checked as CARM does (401 without the right ``x-api-key``)."""

from __future__ import annotations

import datetime as dt
import io
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from mappings.cadout import CadOutResponse, write_cadout
from tests.tls import ServerCertificate

CAD_PATH = "/carm/v1/cad"


def cadout(response: CadOutResponse) -> bytes:
    out = io.BytesIO()
    write_cadout(out, [response], sender_id="CBSA-DOUBLE", application_reference=None, issued=dt.datetime.now(dt.UTC))
    return out.getvalue()


class ScriptedCarm:
    def __init__(
        self,
        certificate: ServerCertificate,
        api_key: str,
        posted: tuple[int, CadOutResponse],
        queries: list[tuple[int, CadOutResponse]],
    ) -> None:
        self.posts: list[bytes] = []
        self.queries: list[str] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _refused(self) -> bool:
                if self.headers.get("x-api-key") == api_key:
                    return False
                self._answer(401, b"<error>unknown API key</error>")
                return True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self._refused():
                    return
                script.posts.append(body)
                status, response = posted
                self._answer(status, cadout(response))

            def do_GET(self) -> None:
                if self._refused():
                    return
                script.queries.append(self.path)
                status, response = queries[min(len(script.queries), len(queries)) - 1]
                self._answer(status, cadout(response))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate.chain, certificate.key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="carm-double", daemon=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ScriptedCarm:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
