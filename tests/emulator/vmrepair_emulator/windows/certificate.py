"""The self-signed certificate New-SelfSignedCertificate makes for a WinRM HTTPS listener."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class SelfSignedCertificate:
    cert_pem: bytes
    key_pem: bytes
    der: bytes

    @property
    def thumbprint(self) -> str:
        """What Windows shows: SHA-1 of the DER certificate, upper-case hex."""
        return x509.load_der_x509_certificate(self.der).fingerprint(hashes.SHA1()).hex().upper()


def make_self_signed(subject_names: list[str], *, days: int = 30, key_size: int = 2048) -> SelfSignedCertificate:
    """Subject CN = the first name; SAN = every name (IP addresses as iPAddress entries); RSA
    2048; server and client authentication; valid from ten minutes ago (as Windows does, against
    clock skew) for `days` days. Like Windows' certificate it has no basic constraints: a client
    that trusts exactly this certificate as its CA bundle accepts it (OpenSSL takes a self-signed
    certificate in the trust store as a trust anchor, also under VERIFY_X509_STRICT)."""
    if not subject_names:
        raise ValueError("subject_names must name at least one IP address or DNS name")
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_names[0])])
    now = datetime.now(UTC)
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=10))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in subject_names]), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                     content_commitment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return SelfSignedCertificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
        der=cert.public_bytes(serialization.Encoding.DER),
    )


def _general_name(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)
