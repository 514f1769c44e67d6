"""The audition's web server: the page and its API on 127.0.0.1, safe on a shared machine.

The standard library's ThreadingHTTPServer serves it: one user, a handful of routes, no keep-alive, and
every check below written out where it can be read and tested (a framework would add a dependency tree
for less). The checks:
- bound to 127.0.0.1 only; the Host header must name localhost, 127.0.0.1 or [::1] with our port, so a
  DNS-rebinding page that reaches the port under its own name is refused;
- a random token, given in the URL's fragment (never sent to a server, a log or a Referer), which the page
  keeps in memory and sends as a header with every API request, reads included. No cookie: browsers send
  a cookie of 127.0.0.1 to every port of it, so any other local program's page would carry it. Requests
  that change anything also carry the page's own Origin;
- sources are looked up by name in the audition's table, never by a path from the request; the page's
  files come from a fixed table too (they hold nothing secret); request bodies are capped, numbers in them
  must be finite;
- resources are bounded: at most MAX_CONNECTIONS connections, each with REQUEST_DEADLINE_SECONDS to send its
  request and body (slow senders are closed, as is everything still reading at shutdown), and at most
  MAX_AUDIO_READS audio reads at once;
- an error nobody planned for is a JSON 500 and one log line, never a traceback or a dropped connection;
- a Content-Security-Policy of 'self': nothing from a CDN, no inline script.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import secrets
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from tuss_fx.audition.session import Audition, AuditionError
from tuss_fx.errors import TussFxError

LOG = logging.getLogger(__name__)
HOST = "127.0.0.1"
MAX_BODY_BYTES = 64 * 1024  # gains and a file name; anything bigger is not from the page
TOKEN_HEADER = "X-Tuss-Token"
# a browser keeps about six connections to a host; a few tabs of the page fit, a flood does not
MAX_CONNECTIONS = 24
REQUEST_DEADLINE_SECONDS = 10.0  # from connecting to the end of the request's body
IDLE_READ_SECONDS = 5.0  # the longest one read of a request may wait
# each read holds a region of the stems in memory (5 min of 5.1 float at 48 kHz is 350 MB): two at once,
# the page's other sources wait their turn, for at most AUDIO_WAIT_SECONDS
MAX_AUDIO_READS = 2
AUDIO_WAIT_SECONDS = 60.0
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# the page's files: URL path -> (file in tuss_fx/audition/page, content type)
PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
              "/audition.js": ("audition.js", "text/javascript; charset=utf-8"),
              "/graph.js": ("graph.js", "text/javascript; charset=utf-8"),
              "/audition.css": ("audition.css", "text/css; charset=utf-8")}


class BadRequest(ValueError):
    """A request the server refuses: what the message says is wrong with it, answered with `status` (400
    unless a more precise one fits)."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


class AuditionServer(ThreadingHTTPServer):
    """Serves one Audition. Request threads are joined on close, so a stop never cuts a save in half."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, audition: Audition, port: int = 0, token: str | None = None) -> None:
        self.audition = audition
        self.token = token or secrets.token_urlsafe(32)
        self.lock = threading.Lock()  # one preview render or save at a time
        self.audio_reads = threading.BoundedSemaphore(MAX_AUDIO_READS)
        # connections still sending their request, with their deadlines: a browser opens spare ones ahead
        # of need, a slow client may never finish; past its deadline, or at a stop, each is shut down
        self.reading: dict[socket.socket, float] = {}
        self.connections = 0
        self.connections_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def process_request(self, request, client_address) -> None:
        with self.connections_lock:
            if self.connections >= MAX_CONNECTIONS:
                self.shutdown_request(request)  # refused at once: no thread, no read
                return
            self.connections += 1
            self.reading[request] = time.monotonic() + REQUEST_DEADLINE_SECONDS
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.connections_lock:
                self.connections -= 1
                self.reading.pop(request, None)

    def done_reading(self, connection: socket.socket) -> None:
        """The request and its body are in: the connection works now, and a stop waits for its answer."""
        with self.connections_lock:
            self.reading.pop(connection, None)

    def service_actions(self) -> None:
        """Between polls of serve_forever: close the connections past their deadline."""
        now = time.monotonic()
        with self.connections_lock:
            late = [connection for connection, deadline in self.reading.items() if deadline < now]
        _shut(late)

    def server_close(self) -> None:
        with self.connections_lock:
            reading = list(self.reading)
        _shut(reading)
        super().server_close()

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        """The page's address with the token in its fragment, which the browser never sends anywhere."""
        return f"http://{HOST}:{self.port}/#token={self.token}"

    def allowed_hosts(self) -> set[str]:
        return {f"{name}:{self.port}" for name in ("localhost", "127.0.0.1", "[::1]")}


def _shut(connections: list[socket.socket]) -> None:
    for connection in connections:
        try:
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # closed by the client meanwhile


class _Handler(BaseHTTPRequestHandler):
    server: AuditionServer
    server_version = "tuss-fx-audition"
    timeout = IDLE_READ_SECONDS  # one read; the whole request has REQUEST_DEADLINE_SECONDS (service_actions)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: stdout holds the URL alone, and requests are not news (errors are logged by _guarded)."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._guarded(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._guarded(self._post)

    def _guarded(self, route) -> None:
        """Run a route; a refusal it raises is a JSON 400, anything unplanned a JSON 500 and one log line."""
        try:
            route()
        except BadRequest as exc:
            self._error(exc.status, str(exc))
        except (ConnectionError, TimeoutError):
            pass  # the client left, or sent too slowly: nobody to answer
        except Exception as exc:
            LOG.error("%s %s: %s: %s", self.command, urlsplit(self.path).path, type(exc).__name__, exc)
            try:
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error (logged by tuss-fx audition)")
            except OSError:
                pass  # the answer had begun, or the client left

    def _get(self) -> None:
        url = urlsplit(self.path)
        self.server.done_reading(self.connection)
        if not self._host_ok():
            return self._refuse("unknown Host")
        if url.path in PAGE_FILES:
            return self._page_file(url.path)
        if not self._token_ok():
            return self._refuse("no valid token")
        if url.path == "/api/overview":
            return self._json(self.server.audition.overview())
        if url.path.startswith("/api/audio/"):
            return self._audio(unquote(url.path.removeprefix("/api/audio/")), parse_qs(url.query))
        self._error(HTTPStatus.NOT_FOUND, "no such page")

    def _post(self) -> None:
        url = urlsplit(self.path)
        if not self._host_ok():
            return self._refuse("unknown Host")
        if not (self._token_ok() and self._origin_ok()):
            return self._refuse("a change needs the token and the page's own Origin")
        actions = {"/api/loudness": self._loudness, "/api/preview": self._preview, "/api/save": self._save}
        if url.path not in actions:
            return self._error(HTTPStatus.NOT_FOUND, "no such action")
        body = self._body()
        self.server.done_reading(self.connection)
        try:
            with self.server.lock:
                result = actions[url.path](body)
        except (AuditionError, TussFxError) as exc:
            raise BadRequest(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequest(f"bad request ({exc})") from None
        self._json(result)

    def _loudness(self, body: dict) -> dict:
        return self.server.audition.loudness(_frames(body, "start"), _frames(body, "frames"), body["gains_db"])

    def _preview(self, body: dict) -> dict:
        return self.server.audition.render_preview(_frames(body, "start"), _frames(body, "frames"), body["gains_db"])

    def _save(self, body: dict) -> dict:
        return self.server.audition.save(body["gains_db"], body.get("name"), bool(body.get("overwrite")),
                                         bool(body.get("automation")))

    # checks

    def _host_ok(self) -> bool:
        return self.headers.get("Host", "") in self.server.allowed_hosts()

    def _token_ok(self) -> bool:
        # compared as bytes: compare_digest refuses str that is not ASCII, and any page can send such a header
        given = self.headers.get(TOKEN_HEADER, "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self.server.token.encode())

    def _origin_ok(self) -> bool:
        return self.headers.get("Origin", "") in {f"http://{host}" for host in self.server.allowed_hosts()}

    def _body(self) -> dict:
        """The request's JSON object: at most MAX_BODY_BYTES, its numbers finite."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BadRequest("a body needs its Content-Length", HTTPStatus.LENGTH_REQUIRED) from None
        if not 0 <= length <= MAX_BODY_BYTES:
            raise BadRequest(f"bodies are at most {MAX_BODY_BYTES} bytes", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        data = self.rfile.read(length)
        if len(data) != length:
            raise BadRequest(f"the body ended after {len(data)} of its {length} bytes")
        try:
            body = json.loads(data, parse_constant=_not_a_number, parse_float=_finite_float, parse_int=_bounded_int)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
            raise BadRequest(f"the body is not JSON ({type(exc).__name__})") from None
        if not isinstance(body, dict):
            raise BadRequest("the body is a JSON object")
        return body

    # answers

    def _page_file(self, path: str) -> None:
        name, content_type = PAGE_FILES[path]
        text = resources.files("tuss_fx.audition.page").joinpath(name).read_text()
        self._send(HTTPStatus.OK, text.encode(), content_type)

    def _audio(self, name: str, query: dict) -> None:
        """A source over a region: (2, n) float32 little-endian, planar (left, then right)."""
        try:
            start, frames = int(query.get("start", [""])[0]), int(query.get("frames", [""])[0])
        except ValueError:
            raise BadRequest("start and frames are whole numbers of frames") from None
        if not self.server.audio_reads.acquire(timeout=AUDIO_WAIT_SECONDS):
            return self._error(HTTPStatus.SERVICE_UNAVAILABLE, "busy reading other sources; ask again")
        try:
            audio = self.server.audition.listen(name, start, frames)
        except KeyError:
            return self._error(HTTPStatus.NOT_FOUND, "no such source")
        except AuditionError as exc:
            raise BadRequest(str(exc)) from None
        finally:
            self.server.audio_reads.release()
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


def _frames(body: dict, key: str) -> int:
    """A whole number of frames from a request body (the parser has made every number finite)."""
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise BadRequest(f"{key} is a whole number of frames, not {value!r}")
    return int(value)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is past a float's range")
    return value


def _bounded_int(text: str) -> int:
    """A JSON integer a float can hold exactly: 10**400 would overflow every float conversion after it."""
    value = int(text)
    if abs(value) > 2**53:
        raise ValueError(f"{text[:20]}... is past the integers a request may carry")
    return value


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a number a request may carry")


def _json_default(value):
    """numpy numbers and non-finite floats as JSON can carry them."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"{type(value).__name__} is not JSON")
