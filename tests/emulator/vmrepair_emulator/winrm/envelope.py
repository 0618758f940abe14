"""WS-Management namespaces and the response envelope Windows sends.

Built with xml.etree. The namespace prefixes are the ones Windows uses in its
answers (s:, a:, w:, rsp:, p:, x:), so captured traffic reads like a real server's.
"""
from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_WSMAN_MS = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_WSMAN_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
NS_WMI_ERROR = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError"
NS_CIM_BINDING = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
NS_CIM_COMMON = "http://schemas.dmtf.org/wbem/wscim/1/common"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_XML = "http://www.w3.org/XML/1998/namespace"

ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
RESOURCE_URI_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

for _prefix, _uri in (("s", NS_SOAP), ("a", NS_ADDRESSING), ("w", NS_WSMAN), ("p", NS_WSMAN_MS),
                      ("x", NS_TRANSFER), ("rsp", NS_SHELL), ("f", NS_WSMAN_FAULT),
                      ("b", NS_CIM_BINDING), ("cim", NS_CIM_COMMON), ("xsi", NS_XSI)):
    ET.register_namespace(_prefix, _uri)


def q(namespace: str, local: str) -> str:
    """Clark notation for ElementTree: {namespace}local."""
    return f"{{{namespace}}}{local}"


def response_envelope(action: str, relates_to: str | None, body_children: list[ET.Element]) -> ET.Element:
    """A response envelope with the addressing headers Windows sends."""
    envelope = ET.Element(q(NS_SOAP, "Envelope"), {q(NS_XML, "lang"): "en-US"})
    header = ET.SubElement(envelope, q(NS_SOAP, "Header"))
    ET.SubElement(header, q(NS_ADDRESSING, "Action")).text = action
    ET.SubElement(header, q(NS_ADDRESSING, "MessageID")).text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(header, q(NS_ADDRESSING, "To")).text = ANONYMOUS
    if relates_to:
        ET.SubElement(header, q(NS_ADDRESSING, "RelatesTo")).text = relates_to
    body = ET.SubElement(envelope, q(NS_SOAP, "Body"))
    body.extend(body_children)
    return envelope


def serialize(envelope: ET.Element) -> bytes:
    return ET.tostring(envelope, encoding="utf-8", xml_declaration=False)


def format_duration(seconds: float) -> str:
    """Seconds -> xs:duration in the PT7200.000S form Windows writes."""
    return f"PT{seconds:.3f}S"
