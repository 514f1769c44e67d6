"""The audition's web server: the page and its API on 127.0.0.1, safe on a shared machine.

The standard library's ThreadingHTTPServer serves it: one user, a handful of routes, no keep-alive, and
every check below written out where it can be read and tested (a framework would add a dependency tree
for less). The checks, as Jupyter makes them:
- bound to 127.0.0.1 only; the Host header must name localhost, 127.0.0.1 or [::1] with our port, so a
  DNS-rebinding page that reaches the port under its own name is refused;
- a random token, given once in the URL and exchanged for an HttpOnly, SameSite=Strict cookie, on every
  request; requests that change anything also carry it in a header, and the page's own Origin;
- sources are looked up by name in the audition's table, never by a path from the request; the page's
  files come from a fixed table too; request bodies are capped;
- a Content-Security-Policy of 'self': nothing from a CDN, no inline script.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
import socket
import threading
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import numpy as np

from tuss_fx.audition.session import Audition, AuditionError
from tuss_fx.errors import TussFxError

HOST = "127.0.0.1"
MAX_BODY_BYTES = 64 * 1024  # gains and a file name; anything bigger is not from the page
TOKEN_HEADER = "X-Tuss-Token"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# the page's files: URL path -> (file in tuss_fx/audition/page, content type)
PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
              "/audition.js": ("audition.js", "text/javascript; charset=utf-8"),
              "/graph.js": ("graph.js", "text/javascript; charset=utf-8"),
              "/audition.css": ("audition.css", "text/css; charset=utf-8")}
TOKEN_META = "{{TOKEN}}"


class AuditionServer(ThreadingHTTPServer):
    """Serves one Audition. Request threads are joined on close, so a stop never cuts a save in half."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, audition: Audition, port: int = 0, token: str | None = None) -> None:
        self.audition = audition
        self.token = token or secrets.token_urlsafe(32)
        self.lock = threading.Lock()  # one preview render or save at a time
        # connections that have sent no request yet: a browser opens spare ones ahead of need, and a
        # stop must not wait for them to time out before it joins the threads that are working
        self.idle: set[socket.socket] = set()
        self.idle_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def server_close(self) -> None:
        with self.idle_lock:
            for connection in self.idle:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # closed by the browser meanwhile
        super().server_close()

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        """The page's address with the token, the one thing to hand the browser."""
        return f"http://{HOST}:{self.port}/?token={self.token}"

    @property
    def cookie_name(self) -> str:
        return f"tuss_fx_audition_{self.port}"  # one per port: two auditions on one machine keep their own

    def allowed_hosts(self) -> set[str]:
        return {f"{name}:{self.port}" for name in ("localhost", "127.0.0.1", "[::1]")}


class _Handler(BaseHTTPRequestHandler):
    server: AuditionServer
    server_version = "tuss-fx-audition"
    timeout = 60  # seconds a connection may sit without sending a request

    def setup(self) -> None:
        super().setup()
        with self.server.idle_lock:
            self.server.idle.add(self.connection)

    def parse_request(self) -> bool:
        with self.server.idle_lock:
            self.server.idle.discard(self.connection)  # a request has arrived: a stop waits for its answer
        return super().parse_request()

    def finish(self) -> None:
        with self.server.idle_lock:
            self.server.idle.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: stdout holds the URL alone, and requests are not news."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        url = urlsplit(self.path)
        if not self._host_ok():
            return self._refuse("unknown Host")
        query = parse_qs(url.query)
        if url.path == "/" and "token" in query:
            return self._exchange_token(query["token"][0])
        if not self._cookie_ok():
            return self._refuse("no valid token")
        if url.path in PAGE_FILES:
            return self._page_file(url.path)
        if url.path == "/api/overview":
            return self._json(self.server.audition.overview())
        if url.path.startswith("/api/audio/"):
            return self._audio(url.path.removeprefix("/api/audio/"), query)
        self._error(HTTPStatus.NOT_FOUND, "no such page")

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if not self._host_ok():
            return self._refuse("unknown Host")
        if not (self._cookie_ok() and self._header_token_ok() and self._origin_ok()):
            return self._refuse("a change needs the token and the page's own Origin")
        actions = {"/api/loudness": self._loudness, "/api/preview": self._preview, "/api/save": self._save}
        if url.path not in actions:
            return self._error(HTTPStatus.NOT_FOUND, "no such action")
        body = self._body()
        if body is None:
            return
        try:
            with self.server.lock:
                result = actions[url.path](body)
        except (AuditionError, TussFxError) as exc:
            return self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except (KeyError, TypeError, ValueError) as exc:
            return self._error(HTTPStatus.BAD_REQUEST, f"bad request ({exc})")
        self._json(result)

    def _loudness(self, body: dict) -> dict:
        return self.server.audition.loudness(int(body["start"]), int(body["frames"]), body["gains_db"])

    def _preview(self, body: dict) -> dict:
        return self.server.audition.render_preview(int(body["start"]), int(body["frames"]), body["gains_db"])

    def _save(self, body: dict) -> dict:
        return self.server.audition.save(body["gains_db"], body.get("name"), bool(body.get("overwrite")),
                                         bool(body.get("automation")))

    # checks

    def _host_ok(self) -> bool:
        return self.headers.get("Host", "") in self.server.allowed_hosts()

    def _cookie_ok(self) -> bool:
        try:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            return False
        morsel = cookie.get(self.server.cookie_name)
        return morsel is not None and hmac.compare_digest(morsel.value, self.server.token)

    def _header_token_ok(self) -> bool:
        return hmac.compare_digest(self.headers.get(TOKEN_HEADER, ""), self.server.token)

    def _origin_ok(self) -> bool:
        return self.headers.get("Origin", "") in {f"http://{host}" for host in self.server.allowed_hosts()}

    def _body(self) -> dict | None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(HTTPStatus.LENGTH_REQUIRED, "a body needs its Content-Length")
            return None
        if not 0 <= length <= MAX_BODY_BYTES:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"bodies are at most {MAX_BODY_BYTES} bytes")
            return None
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._error(HTTPStatus.BAD_REQUEST, "the body is a JSON object")
            return None
        return body

    # answers

    def _exchange_token(self, token: str) -> None:
        """The URL's token becomes the cookie, and the address bar loses it (no token in history)."""
        if not hmac.compare_digest(token, self.server.token):
            return self._refuse("wrong token")
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Set-Cookie", f"{self.server.cookie_name}={self.server.token}; HttpOnly; "
                                       "SameSite=Strict; Path=/")
        self.send_header("Location", "/")
        self._common_headers()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _page_file(self, path: str) -> None:
        name, content_type = PAGE_FILES[path]
        text = resources.files("tuss_fx.audition.page").joinpath(name).read_text()
        if name == "index.html":
            text = text.replace(TOKEN_META, self.server.token)  # for the header of changes; same origin only
        self._send(HTTPStatus.OK, text.encode(), content_type)

    def _audio(self, name: str, query: dict) -> None:
        """A source over a region: (2, n) float32 little-endian, planar (left, then right)."""
        try:
            start, frames = int(query.get("start", [""])[0]), int(query.get("frames", [""])[0])
        except ValueError:
            return self._error(HTTPStatus.BAD_REQUEST, "start and frames are whole numbers of frames")
        try:
            audio = self.server.audition.listen(name, start, frames)
        except KeyError:
            return self._error(HTTPStatus.NOT_FOUND, "no such source")
        except AuditionError as exc:
            return self._error(HTTPStatus.BAD_REQUEST, str(exc))
        self._send(HTTPStatus.OK, np.ascontiguousarray(audio, dtype="<f4").tobytes(), "application/octet-stream")

    def _json(self, value) -> None:
        self._send(HTTPStatus.OK, json.dumps(value, default=_json_default).encode(), "application/json")

    def _refuse(self, why: str) -> None:
        self._error(HTTPStatus.FORBIDDEN, why)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._send(status, json.dumps({"error": message}).encode(), "application/json")

    def _send(self, status: HTTPStatus, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self._common_headers()
        self.end_headers()
        self.wfile.write(payload)

    def _common_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")


def _json_default(value):
    """numpy numbers and non-finite floats as JSON can carry them."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"{type(value).__name__} is not JSON")
