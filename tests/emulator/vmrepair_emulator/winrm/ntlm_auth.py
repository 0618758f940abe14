"""NTLM (in HTTP Negotiate or NTLM) authentication of one WinRM listener, through pyspnego's acceptor.

pyspnego's NTLM acceptor looks the user up in the file named by the NTLM_USER_FILE
environment variable, reading the variable and the file at the moment it checks the
AUTHENTICATE message. A line matches when user and domain both equal (case-insensitive)
what the client sent: a bare "admin" arrives with an empty domain, ".\\admin" with ".",
"WEB-01\\admin" with "WEB-01". Each machine therefore gets its own file with its local
administrator under those three domains (what Windows accepts for a local account), and
every acceptor step runs under one process-wide lock with NTLM_USER_FILE pointing at its
machine's file: several machines with the same user name and different passwords
authenticate side by side in one process.

Channel binding: the listener passes its tls-server-end-point binding (RFC 5929) to the
acceptor, so a client whose NTLMv2 response carries a different binding (a TLS proxy in
between) is refused, and so is one that sends none (CbtHardeningLevel=Strict).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from spnego.channel_bindings import GssChannelBindings

_USER_FILE_VARIABLE = "NTLM_USER_FILE"
# Serialises every acceptor step of the process: NTLM_USER_FILE is process-wide.
_ACCEPTOR_LOCK = threading.Lock()


class CredentialFile:
    """The NTLM_USER_FILE of one machine (DOMAIN:user:password lines, mode 0600)."""

    def __init__(self, directory: Path, machine: Any) -> None:
        self.username: str = machine.admin_username
        self.computer_name: str = machine.computer_name
        self.path = Path(directory) / f"ntlm-users-{machine.private_ip}"
        domains = ["", ".", machine.computer_name.upper()]
        lines = "".join(f"{domain}:{machine.admin_username}:{machine.admin_password}\n" for domain in domains)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(lines)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def tls_server_end_point(cert_pem: bytes) -> GssChannelBindings:
    """RFC 5929 tls-server-end-point: hash of the DER certificate with its signature hash
    (SHA-256 when that is MD5 or SHA-1), as Windows and requests-ntlm compute it."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert.public_bytes(Encoding.DER))
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest.finalize())


@dataclass
class AuthStep:
    """challenge: answer 401 with `token`; accepted: serve the request; denied: 401."""

    outcome: str  # "challenge" | "accepted" | "denied"
    token: bytes | None = None
    reason: str | None = None


def _is_initial_token(token: bytes) -> bool:
    # A raw NTLM NEGOTIATE message, or an SPNEGO NegTokenInit (GSS-API InitialContextToken,
    # ASN.1 [APPLICATION 0] = 0x60): the client starts a new handshake on this connection.
    return token.startswith(b"NTLMSSP\x00\x01\x00\x00\x00") or token[:1] == b"\x60"


class ConnectionAuthenticator:
    """Authentication state of one TCP connection: NTLM authenticates connections, not requests."""

    def __init__(self, credentials: CredentialFile, bindings: GssChannelBindings) -> None:
        self._credentials = credentials
        self._bindings = bindings
        self._context: Any = None
        self.principal: str | None = None  # DOMAIN\user as pyspnego reports it, once authenticated
        self.user: str | None = None

    def step(self, token: bytes) -> AuthStep:
        if _is_initial_token(token) or self._context is None:
            self._context = None
            self.principal = self.user = None
        try:
            with _ACCEPTOR_LOCK:
                os.environ[_USER_FILE_VARIABLE] = str(self._credentials.path)
                if self._context is None:
                    self._context = spnego.server(protocol="negotiate", channel_bindings=self._bindings)
                out = self._context.step(token)
        except Exception as exc:  # SpnegoError for bad credentials; garbage tokens raise anything
            self._context = None
            return AuthStep("denied", reason=str(exc))
        if not self._context.complete:
            return AuthStep("challenge", token=out)
        principal = self._context.client_principal or ""
        self._context = None
        self.principal = principal
        self.user = principal.rsplit("\\", 1)[-1]
        return AuthStep("accepted", token=out)
