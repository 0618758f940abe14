"""Throw-away certificate authority for every HTTPS endpoint of the emulator.

One CA is made per emulator process; tests trust it through REQUESTS_CA_BUNDLE
(the CA PEM written to <state-dir>/ca.pem).
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class IssuedCert:
    """A leaf certificate with its key, as PEM bytes (chain = leaf first, then the CA)."""

    cert_pem: bytes
    key_pem: bytes
    chain_pem: bytes

    def write(self, cert_path: Path, key_path: Path) -> tuple[Path, Path]:
        """Write the chain and the key to files (Azurite and other child processes read files)."""
        cert_path.write_bytes(self.chain_pem)
        key_path.write_bytes(self.key_pem)
        key_path.chmod(0o600)
        return cert_path, key_path


class EmulatorTLS:
    """The emulator's CA and the server certificates it issues."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA(organization_name="vmrepair emulator")
        self.ca_path = self.state_dir / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))
        self.loopback = self.issue("127.0.0.1", "localhost")

    @property
    def ca_pem(self) -> bytes:
        return self._ca.cert_pem.bytes()

    def issue(self, *names: str) -> IssuedCert:
        """Issue a server certificate for IP addresses and/or DNS names (subjectAltName)."""
        if not names:
            raise ValueError("a certificate needs at least one name")
        leaf = self._ca.issue_cert(*names)
        chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
        return IssuedCert(
            cert_pem=leaf.cert_chain_pems[0].bytes(),
            key_pem=leaf.private_key_pem.bytes(),
            chain_pem=chain,
        )

    def server_context(self, cert: IssuedCert | None = None) -> ssl.SSLContext:
        """An SSLContext for a server presenting `cert` (default: the 127.0.0.1/localhost cert)."""
        cert = cert or self.loopback
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # ssl wants files; keep them under the state dir so they can be inspected.
        tls_dir = self.state_dir / "tls"
        tls_dir.mkdir(exist_ok=True)
        name = f"server-{abs(hash(cert.cert_pem)):x}"
        cert_path, key_path = cert.write(tls_dir / f"{name}.crt", tls_dir / f"{name}.key")
        ctx.load_cert_chain(str(cert_path), str(key_path))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """An SSLContext that trusts this CA (for the emulator's own probes)."""
        return ssl.create_default_context(cadata=self.ca_pem.decode())
