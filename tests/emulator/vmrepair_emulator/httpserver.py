"""Threaded HTTPS HTTP/1.1 keep-alive server with a tiny regex router.

Serves ARM, Entra ID, the metadata endpoint and the control API on one port. The TLS
handshake runs in the connection's own thread so that a slow client never blocks accept().
"""
from __future__ import annotations

import json
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from requests.structures import CaseInsensitiveDict


class DropConnection(Exception):
    """Raised by a handler to close the TCP connection without any response (fault injection)."""


@dataclass
class HttpRequest:
    method: str
    target: str  # path + query as sent
    path: str  # percent-decoded path without the query
    query: dict[str, str]
    headers: CaseInsensitiveDict
    body: bytes
    client_address: tuple[str, int]
    base_url: str  # https://host:port as the client addressed us
    connection_id: int  # stable for one TCP connection (NTLM-style per-connection state)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> "HttpResponse":
        hdrs = {"Content-Type": "application/json; charset=utf-8"}
        hdrs.update(headers or {})
        return cls(status, json.dumps(payload).encode("utf-8"), hdrs)


Handler = Callable[..., HttpResponse]


@dataclass
class _RouteEntry:
    methods: frozenset[str] | None
    regex: re.Pattern[str]
    handler: Handler


class Router:
    """First matching (method, regex on path) wins; named groups become keyword arguments."""

    def __init__(self) -> None:
        self._routes: list[_RouteEntry] = []

    def add(self, methods: str | list[str] | None, pattern: str, handler: Handler) -> None:
        if isinstance(methods, str):
            methods = [methods]
        allowed = frozenset(m.upper() for m in methods) if methods else None
        self._routes.append(_RouteEntry(allowed, re.compile(pattern, re.IGNORECASE), handler))

    def dispatch(self, request: HttpRequest) -> HttpResponse:
        path_matched = False
        for entry in self._routes:
            match = entry.regex.match(request.path)
            if not match:
                continue
            path_matched = True
            if entry.methods is None or request.method in entry.methods:
                return entry.handler(request, **match.groupdict())
        if path_matched:
            return HttpResponse.json(405, {"error": {"code": "MethodNotAllowed",
                                                     "message": f"The requested resource does not support http method '{request.method}'."}})
        return HttpResponse.json(404, {"error": {"code": "NotFound", "message": f"No route for {request.path}"}})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "EmulatorHTTPServer"
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 300

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the RequestLog records requests; stderr noise helps nobody

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        from urllib.parse import unquote

        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        request = HttpRequest(
            method=self.command,
            target=self.path,
            path=unquote(split.path),
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=CaseInsensitiveDict(self.headers.items()),
            body=body,
            client_address=self.client_address,
            base_url=f"https://{host}",
            connection_id=id(self.connection),
        )
        try:
            response = self.server.router.dispatch(request)
        except DropConnection:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        except Exception as exc:  # a bug in a handler must not kill the connection thread silently
            import traceback

            traceback.print_exc()
            response = HttpResponse.json(500, {"error": {"code": "InternalServerError",
                                                         "message": f"emulator error: {exc!r}"}})
        self._send(response)

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        has_length = False
        for name, value in response.headers.items():
            if name.lower() == "content-length":
                has_length = True
            self.send_header(name, str(value))
        if not has_length:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)
        self.wfile.flush()

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class EmulatorHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer over TLS; every connection gets a daemon thread."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], router: Router, ssl_context: ssl.SSLContext) -> None:
        self.router = router
        self.ssl_context = ssl_context
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(address, _Handler)

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        # Handshake here, in the per-connection thread, not in the accept loop.
        request.settimeout(_Handler.timeout)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self._open_lock:
            self._open.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            pass
        finally:
            with self._open_lock:
                self._open.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that vanish mid-request are normal (dropped-connection faults, tests)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> "EmulatorHTTPServer":
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"https-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every open keep-alive connection, release the port."""
        self.shutdown()
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)
