"""RS256 access tokens: issued by the token endpoint, verified by ARM on every call."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
import uuid
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


class TokenRejected(Exception):
    """Why ARM refuses a bearer token: ARM's error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _arm_time(ts: float) -> str:
    """ARM's timestamp style in token errors: 11/24/2026 9:05:03 PM."""
    t = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    hour = t.hour % 12 or 12
    return f"{t.month}/{t.day}/{t.year} {hour}:{t.minute:02d}:{t.second:02d} {'AM' if t.hour < 12 else 'PM'}"


class TokenIssuer:
    """One signing key per emulator run; the JWKS endpoint publishes its public half."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.base_url = ""  # set when the HTTPS server knows its port
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vmrepair emulator token signing")])
        now = dt.datetime.now(dt.timezone.utc)
        self._cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                      .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                      .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
                      .sign(self._key, hashes.SHA256()))
        der = self._cert.public_bytes(serialization.Encoding.DER)
        self.kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
        self._x5c = base64.b64encode(der).decode()

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/v2.0"

    def issue(self, client_id: str, object_id: str, audience: str, lifetime_s: int, scope: str) -> str:
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime_s),
            "aio": uuid.uuid4().hex,
            "appid": client_id,
            "azp": client_id,
            "appidacr": "1",
            "azpacr": "1",
            "idp": self.issuer,
            "idtyp": "app",
            "oid": object_id,
            "sub": object_id,
            "tid": self.tenant_id,
            "uti": uuid.uuid4().hex[:22],
            "ver": "2.0",
            "xms_scope": scope,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})

    def verify(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """Claims of a token this issuer signed for one of `audiences`; TokenRejected otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, self._key.public_key(), algorithms=["RS256"],
                                options={"verify_exp": False, "verify_aud": False, "verify_nbf": False,
                                         "verify_iss": False})
        except jwt.PyJWTError:
            raise TokenRejected("InvalidAuthenticationToken", "The access token is invalid.") from None
        if header.get("kid") != self.kid:
            raise TokenRejected("InvalidAuthenticationToken", "The access token is invalid.")
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)):
            raise TokenRejected("InvalidAuthenticationToken", "The access token is invalid.")
        if exp <= now:
            raise TokenRejected("ExpiredAuthenticationToken",
                                f"The access token expiry UTC time '{_arm_time(exp)}' is earlier than current UTC "
                                f"time '{_arm_time(now)}'.")
        if claims.get("nbf", 0) > now + 300:
            raise TokenRejected("InvalidAuthenticationToken", "The access token is not yet valid.")
        if claims.get("aud") not in audiences:
            allowed = ",".join(f"'{a}'" for a in audiences)
            raise TokenRejected("InvalidAuthenticationTokenAudience",
                                f"The access token has been obtained for wrong audience or resource "
                                f"'{claims.get('aud')}'. It should exactly match with one of the allowed audiences "
                                f"{allowed}.")
        if claims.get("iss") != self.issuer or claims.get("tid") != self.tenant_id:
            raise TokenRejected("InvalidAuthenticationTokenTenant",
                                f"The access token is from the wrong issuer '{claims.get('iss')}'. It must match the "
                                f"tenant '{self.issuer}' associated with this subscription. Please use the authority "
                                f"(URL) '{self.base_url}/{self.tenant_id}' to get the token.")
        return claims

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": jwk["n"], "e": jwk["e"],
                          "x5c": [self._x5c], "issuer": self.issuer}]}
