"""Parse a WS-Management request envelope (through defusedxml: no DTDs, no entity expansion)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as safe_fromstring

from .envelope import NS_ADDRESSING, NS_SOAP, NS_WSMAN, q
from .faults import WsmanFault

# Server defaults (winrm get winrm/config): MaxEnvelopeSizekb=500, MaxTimeoutms=60000.
SERVER_MAX_ENVELOPE_BYTES = 500 * 1024
DEFAULT_OPERATION_TIMEOUT_S = 60.0


@dataclass
class WsmanRequest:
    """What the shell service needs from one request envelope."""

    action: str
    message_id: str
    resource_uri: str
    max_envelope_size: int
    operation_timeout_s: float
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    body: ET.Element | None = None  # the first child of s:Body, if any

    @property
    def action_name(self) -> str:
        """The last path segment of the action URI: Create, Command, Receive ..."""
        return self.action.rstrip("/").rsplit("/", 1)[-1]


_DURATION = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: str) -> float:
    """xs:duration as WS-Management uses it (PT20S, PT60.000S, P0DT0H0M5S) -> seconds."""
    text = text.strip()
    match = _DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"not an xs:duration: {text!r}")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def parse_request(data: bytes) -> WsmanRequest:
    """Parse and check a request envelope; malformed input -> the fault Windows gives."""
    if len(data) > SERVER_MAX_ENVELOPE_BYTES:
        raise WsmanFault.encoding_limit()
    try:
        root = safe_fromstring(data)
    except (ParseError, ValueError) as exc:  # defusedxml's DTD/entity refusals are ValueErrors
        raise WsmanFault.schema_validation(f"The request XML is not well formed: {exc}") from None
    if root.tag != q(NS_SOAP, "Envelope"):
        raise WsmanFault.schema_validation("The root element is not a SOAP 1.2 Envelope.")
    header = root.find(q(NS_SOAP, "Header"))
    if header is None:
        raise WsmanFault.schema_validation("The SOAP Header is missing.")

    def text_of(ns: str, local: str) -> str | None:
        element = header.find(q(ns, local))
        return element.text.strip() if element is not None and element.text else None

    action = text_of(NS_ADDRESSING, "Action")
    message_id = text_of(NS_ADDRESSING, "MessageID")
    if not action or not message_id:
        raise WsmanFault.schema_validation("The Action and MessageID headers are required.")

    max_envelope_text = text_of(NS_WSMAN, "MaxEnvelopeSize")
    try:
        max_envelope = int(max_envelope_text) if max_envelope_text else SERVER_MAX_ENVELOPE_BYTES
    except ValueError:
        raise WsmanFault.schema_validation("MaxEnvelopeSize is not an integer.") from None

    timeout_text = text_of(NS_WSMAN, "OperationTimeout")
    try:
        timeout = parse_duration(timeout_text) if timeout_text else DEFAULT_OPERATION_TIMEOUT_S
    except ValueError:
        raise WsmanFault.schema_validation("OperationTimeout is not a valid xs:duration.") from None

    selectors = {sel.get("Name", ""): (sel.text or "").strip()
                 for sel in header.iterfind(f"{q(NS_WSMAN, 'SelectorSet')}/{q(NS_WSMAN, 'Selector')}")}
    options = {opt.get("Name", ""): (opt.text or "").strip()
               for opt in header.iterfind(f"{q(NS_WSMAN, 'OptionSet')}/{q(NS_WSMAN, 'Option')}")}

    body = root.find(q(NS_SOAP, "Body"))
    first = body[0] if body is not None and len(body) else None
    return WsmanRequest(action=action, message_id=message_id, resource_uri=text_of(NS_WSMAN, "ResourceURI") or "",
                        max_envelope_size=max_envelope, operation_timeout_s=timeout,
                        selectors=selectors, options=options, body=first)
