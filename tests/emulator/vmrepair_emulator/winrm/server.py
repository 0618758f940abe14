"""The HTTPS side of one WinRM listener: TLS, HTTP/1.1 keep-alive, connection-bound NTLM.

As on Windows (HTTP.sys + the WinRM service): POST /wsman only, an unauthenticated
request gets 401 with `WWW-Authenticate: Negotiate`, the NTLM handshake runs over
401 responses on one TCP connection, which then stays authenticated; SOAP faults are
HTTP 500. Over HTTPS the SOAP is not NTLM-sealed (application/soap+xml;charset=UTF-8).
"""
from __future__ import annotations

import base64
import binascii
import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from .faults import WsmanFault
from .ntlm_auth import ConnectionAuthenticator
from .request import parse_request
from .service import Caller, ShellService

SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
_log = logging.getLogger(__name__)
_AUTH_SCHEMES = ("negotiate", "ntlm")


class WinrmHTTPServer(ThreadingHTTPServer):
    """One listener: threaded, a daemon thread per TCP connection, TLS handshake in that thread."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], ssl_context: ssl.SSLContext, service: ShellService,
                 new_authenticator: Callable[[], ConnectionAuthenticator], request_log: Any) -> None:
        self.ssl_context = ssl_context
        self.service = service
        self.new_authenticator = new_authenticator
        self.request_log = request_log
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # admit(client_ip) -> bool, asked for each TCP connection before TLS; False closes it at once
        # (what a client sees when an NSG drops its SYN is a timeout; a close fails faster, same outcome).
        self.admit: Callable[[str], bool] | None = None
        super().__init__(address, WinrmRequestHandler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if self.admit is None or self.admit(client_address[0]):
            return True
        if self.request_log is not None:
            self.request_log.record("winrm", "CONNECT", f"{self.server_address[0]}:{self.server_address[1]}", 0,
                                    refused="nsg", client=client_address[0])
        return False

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(WinrmRequestHandler.timeout)
        # Headers and body leave as two TLS records: without this, Nagle holds the body back
        # until the client's delayed ACK of the headers (up to 40 ms per Receive).
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not trust the certificate aborts the handshake
        with self._connections_lock:
            self._connections.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            pass
        finally:
            with self._connections_lock:
                self._connections.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that go away mid-request are normal

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"winrm-{self.server_address[0]}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, drop every open connection, release the address."""
        self.shutdown()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)


class WinrmRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    timeout = 300  # idle keep-alive connections are closed after this many seconds
    server: WinrmHTTPServer

    def setup(self) -> None:
        super().setup()
        self.auth = self.server.new_authenticator()  # per TCP connection

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # every request goes to the RequestLog instead

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        started = time.monotonic()
        body = self._read_body()
        if body is None:
            return
        log: dict[str, Any] = {"bytes_in": len(body)}
        status, payload, headers = self._respond(body, log)
        log["bytes_out"] = len(payload)
        log["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        # Recorded before the answer leaves: a client that has its answer finds it in the log.
        self._record(status, log)
        self._send(status, payload, headers)

    def _not_allowed(self) -> None:
        self._record(405, {})
        self._send(405, b"", {"Allow": "POST"})

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed  # noqa: N815

    # --- one request --------------------------------------------------------------------

    def _respond(self, body: bytes, log: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        if self.path.split("?", 1)[0].lower() != "/wsman":
            return 404, b"", {}
        authorization = self.headers.get("Authorization")
        if authorization:
            scheme, _space, encoded = authorization.strip().partition(" ")
            if scheme.lower() not in _AUTH_SCHEMES:
                return self._unauthorized(log, f"unsupported scheme {scheme}")
            try:
                token = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error:
                return self._unauthorized(log, "malformed token")
            step = self.auth.step(token)
            if step.outcome == "challenge":
                log["auth"] = "challenge"
                return 401, b"", {"WWW-Authenticate": f"{scheme} {base64.b64encode(step.token or b'').decode()}"}
            if step.outcome == "denied":
                return self._unauthorized(log, step.reason)
            log["auth"] = "accepted"
        elif self.auth.principal is None:
            return self._unauthorized(log, None)
        log["principal"] = self.auth.principal

        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/soap+xml":
            return 415, b"", {}
        request = None
        try:
            request = parse_request(body)
            log["winrm_action"] = request.action_name
            caller = Caller(user=self.auth.user or "", client_ip=self.client_address[0],
                            endpoint=f"https://{self.headers.get('Host') or self.server.server_address[0]}/wsman")
            return 200, self.server.service.handle(request, caller, log), {"Content-Type": SOAP_CONTENT_TYPE}
        except Exception as exc:  # the executor failing must not drop the connection
            fault = exc if isinstance(exc, WsmanFault) else WsmanFault.internal_error(f"{type(exc).__name__}: {exc}")
            if not isinstance(exc, WsmanFault):
                _log.exception("WinRM request failed on %s", self.server.service.machine.computer_name)
            log["fault"] = fault.subcode
            log["fault_code"] = fault.wsman_code
            relates_to = request.message_id if request is not None else None
            payload = fault.to_xml(relates_to, self.server.service.machine.computer_name)
            return fault.http_status, payload, {"Content-Type": SOAP_CONTENT_TYPE}

    def _unauthorized(self, log: dict[str, Any], reason: str | None) -> tuple[int, bytes, dict[str, str]]:
        if reason:
            log["auth"] = "denied"
            log["auth_error"] = reason
        return 401, b"", {"WWW-Authenticate": "Negotiate"}

    # --- HTTP plumbing ------------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            # HTTP.sys wants a length (pywinrm and requests always send one).
            self._send(411, b"", {})
            self.close_connection = True
            return None
        try:
            return self.rfile.read(int(length)) if int(length) > 0 else b""
        except ValueError:
            self._send(400, b"", {})
            self.close_connection = True
            return None

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    def _record(self, status: int, fields: dict[str, Any]) -> None:
        log = self.server.request_log
        if log is None:
            return
        log.record("winrm", self.command, self.path, status,
                   machine=getattr(self.server.service.machine, "name", None),
                   user_agent=self.headers.get("User-Agent") if self.headers else None,
                   client_ip=self.client_address[0], **fields)
