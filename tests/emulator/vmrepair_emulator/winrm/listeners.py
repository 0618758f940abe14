"""The WinRM HTTPS listeners of the simulated Windows machines: one per machine, on
<private ip>:5986, started when the machine's enable_winrm_https script runs."""
from __future__ import annotations

import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .executor import Executor, default_executor
from .ntlm_auth import ConnectionAuthenticator, CredentialFile, tls_server_end_point
from .quotas import WinrsQuotas
from .server import WinrmHTTPServer
from .service import ShellService
from .shells import ShellTable

WINRM_HTTPS_PORT = 5986


@dataclass
class _Listener:
    server: WinrmHTTPServer
    shells: ShellTable
    credentials: CredentialFile
    public_server: WinrmHTTPServer | None = None  # the same listener reached through the VM's public IP


class ListenerManager:
    """Starts and stops the listeners.

    `tls` is the emulator's EmulatorTLS (its server_context() gives every HTTPS endpoint the
    same TLS policy) or None (a TLS 1.2+ context is built here). `request_log` has
    `record(service, method, path, status, **fields)`. `executor` runs WinRS commands
    (default: windows.shell.execute, imported on first use).
    """

    def __init__(self, tls: Any, request_log: Any, *, executor: Executor | None = None,
                 quotas: WinrsQuotas | None = None, port: int = WINRM_HTTPS_PORT) -> None:
        self._tls = tls
        self._request_log = request_log
        self._executor = executor
        self.quotas = quotas or WinrsQuotas()
        self.port = port
        self._listeners: dict[str, _Listener] = {}
        self._lock = threading.Lock()
        # Per-machine NTLM user files (passwords): mode 0700, made on first start, removed by
        # stop_all() or, failing that, when the interpreter exits.
        self._secrets: tempfile.TemporaryDirectory[str] | None = None

    def start(self, machine: Any, cert_pem: bytes, key_pem: bytes, *, public_address: str | None = None,
              admit_public: Callable[[str], bool] | None = None) -> tuple[str, int]:
        """Listen on machine.private_ip with the machine's certificate; a listener already there
        is replaced (the script ran again with a new certificate). Returns (host, port).

        With `public_address` (the VM's public IP, a loopback address too) the same shells are
        also served there; each connection to it is first put to `admit_public(client_ip)` (the
        NSG check), refused connections are closed before TLS."""
        self.stop(machine)
        context = self._ssl_context(cert_pem, key_pem)
        credentials = CredentialFile(self._secrets_dir(), machine)
        bindings = tls_server_end_point(cert_pem)
        shells = ShellTable(self.quotas)
        service = ShellService(machine, shells, self._resolve_executor)
        try:
            server = WinrmHTTPServer((machine.private_ip, self.port), context, service,
                                     lambda: ConnectionAuthenticator(credentials, bindings), self._request_log)
        except OSError:
            credentials.remove()
            raise
        public_server = None
        if public_address:
            try:
                public_server = WinrmHTTPServer((public_address, self.port), context, service,
                                                lambda: ConnectionAuthenticator(credentials, bindings),
                                                self._request_log)
            except OSError:
                server.server_close()
                credentials.remove()
                raise
            public_server.admit = admit_public
        server.start()
        if public_server is not None:
            public_server.start()
        with self._lock:
            self._listeners[machine.private_ip] = _Listener(server, shells, credentials, public_server)
        host, port = server.server_address[:2]
        return host, port

    def stop(self, machine: Any) -> None:
        with self._lock:
            listener = self._listeners.pop(machine.private_ip, None)
        if listener is not None:
            _shut(listener)

    def stop_all(self) -> None:
        with self._lock:
            listeners = list(self._listeners.values())
            self._listeners.clear()
        for listener in listeners:
            _shut(listener)
        with self._lock:
            secrets, self._secrets = self._secrets, None
        if secrets is not None:
            secrets.cleanup()

    def is_listening(self, machine: Any) -> bool:
        with self._lock:
            return machine.private_ip in self._listeners

    def open_shells(self, machine: Any) -> int:
        """Shells open on the machine (tests assert the collection closes what it opens)."""
        with self._lock:
            listener = self._listeners.get(machine.private_ip)
        return listener.shells.count() if listener else 0

    def _secrets_dir(self) -> Path:
        with self._lock:
            if self._secrets is None:
                self._secrets = tempfile.TemporaryDirectory(prefix="vmrepair-winrm-")
            return Path(self._secrets.name)

    def _resolve_executor(self) -> Executor:
        if self._executor is None:
            self._executor = default_executor()
        return self._executor

    def _ssl_context(self, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
        if self._tls is not None:
            from vmrepair_emulator.tls import IssuedCert

            # Self-signed: the chain is the certificate itself.
            return self._tls.server_context(IssuedCert(cert_pem=cert_pem, key_pem=key_pem, chain_pem=cert_pem))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        cert_path = self._secrets_dir() / f"cert-{id(cert_pem):x}.pem"
        key_path = self._secrets_dir() / f"key-{id(key_pem):x}.pem"
        cert_path.write_bytes(cert_pem)
        key_path.write_bytes(key_pem)
        key_path.chmod(0o600)
        try:
            context.load_cert_chain(str(cert_path), str(key_path))
        finally:
            cert_path.unlink(missing_ok=True)
            key_path.unlink(missing_ok=True)
        return context


def _shut(listener: _Listener) -> None:
    listener.server.stop()
    if listener.public_server is not None:
        listener.public_server.stop()
    listener.shells.close_all()
    listener.credentials.remove()
