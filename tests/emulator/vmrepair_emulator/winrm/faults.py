"""WS-Management faults as Windows' WinRM service returns them (HTTP 500 + SOAP Fault).

Codes are the HRESULTs of wsmerror.h (ERROR_WSMAN_* / ERROR_WINRS_*); subcodes and
texts follow captured Windows responses. pywinrm reads `f:WSManFault/@Code`
(2150858793 = OperationTimeout -> WinRMOperationTimeoutError, which it retries) and
`MSFT_WmiError/error_Code` (Ansible re-creates its shell on 0x803381A6).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from .envelope import (ACTION_FAULT, NS_ADDRESSING, NS_CIM_BINDING, NS_CIM_COMMON, NS_SOAP, NS_WMI_ERROR,
                       NS_WSMAN, NS_WSMAN_FAULT, NS_XML, NS_XSI, q, response_envelope, serialize)

ET.register_namespace("wmi", NS_WMI_ERROR)

FAULT_DETAIL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"

# HRESULTs (wsmerror.h)
ERROR_WSMAN_ACTION_NOT_SUPPORTED = 0x80338013
ERROR_WSMAN_OPERATION_TIMEDOUT = 0x80338029
ERROR_WSMAN_ENCODING_LIMIT = 0x80338035
ERROR_WSMAN_INVALID_RESOURCE_URI = 0x8033803B
ERROR_WSMAN_SCHEMA_VALIDATION_ERROR = 0x80338041
ERROR_WSMAN_UNEXPECTED_SELECTORS = 0x8033805B
ERROR_WINRS_CODE_PAGE_NOT_SUPPORTED = 0x80338140
ERROR_WSMAN_QUOTA_MAX_SHELLS = 0x803381A5
ERROR_WSMAN_QUOTA_MAX_OPERATIONS = 0x803381A6
E_FAIL = 0x80004005


@dataclass(eq=False)
class WsmanFault(Exception):
    """One SOAP fault. `wmi_error` selects the MSFT_WmiError detail form (quota faults on
    Windows Server 2012+) instead of f:WSManFault."""

    code: str  # s:Sender | s:Receiver
    subcode: str  # w:TimedOut, w:InvalidSelectors, a:ActionNotSupported ...
    reason: str
    wsman_code: int
    message: str
    fault_detail: str | None = None
    wmi_error: bool = False
    http_status: int = 500

    def __str__(self) -> str:
        return f"{self.subcode} ({self.wsman_code}): {self.message}"

    def to_xml(self, relates_to: str | None, machine: str) -> bytes:
        fault = ET.Element(q(NS_SOAP, "Fault"))
        code = ET.SubElement(fault, q(NS_SOAP, "Code"))
        ET.SubElement(code, q(NS_SOAP, "Value")).text = self.code
        subcode = ET.SubElement(code, q(NS_SOAP, "Subcode"))
        ET.SubElement(subcode, q(NS_SOAP, "Value")).text = self.subcode
        reason = ET.SubElement(fault, q(NS_SOAP, "Reason"))
        ET.SubElement(reason, q(NS_SOAP, "Text"), {q(NS_XML, "lang"): "en-US"}).text = self.reason
        detail = ET.SubElement(fault, q(NS_SOAP, "Detail"))
        if self.fault_detail:
            ET.SubElement(detail, q(NS_WSMAN, "FaultDetail")).text = FAULT_DETAIL + self.fault_detail
        if self.wmi_error:
            detail.append(self._wmi_error())
        else:
            wsman_fault = ET.SubElement(detail, q(NS_WSMAN_FAULT, "WSManFault"),
                                        {"Code": str(self.wsman_code), "Machine": machine})
            ET.SubElement(wsman_fault, q(NS_WSMAN_FAULT, "Message")).text = self.message
        envelope = response_envelope(ACTION_FAULT, relates_to, [fault])
        # The Value texts are QNames: their prefixes must be declared even when no element uses them.
        _declare_prefix(envelope, "w", NS_WSMAN)
        _declare_prefix(envelope, "a", NS_ADDRESSING)
        return serialize(envelope)

    def _wmi_error(self) -> ET.Element:
        def prop(name: str, cim_type: str, value: str | None) -> None:
            attrs = {q(NS_XSI, "type"): f"cim:{cim_type}"}
            if value is None:
                attrs[q(NS_XSI, "nil")] = "true"
            ET.SubElement(error, q(NS_WMI_ERROR, name), attrs).text = value

        error = ET.Element(q(NS_WMI_ERROR, "MSFT_WmiError"),
                           {q(NS_CIM_BINDING, "IsCIM_Error"): "true", q(NS_XSI, "type"): "wmi:MSFT_WmiError_Type"})
        prop("CIMStatusCode", "cimUnsignedInt", "27")
        prop("CIMStatusCodeDescription", "cimString", None)
        prop("ErrorSource", "cimString", None)
        prop("ErrorSourceFormat", "cimUnsignedShort", "0")
        prop("ErrorType", "cimUnsignedShort", "0")
        prop("Message", "cimString", self.message)
        prop("MessageID", "cimString", f"HRESULT 0x{self.wsman_code:08x}")
        prop("OtherErrorSourceFormat", "cimString", None)
        prop("OtherErrorType", "cimString", None)
        prop("OwningEntity", "cimString", None)
        prop("PerceivedSeverity", "cimUnsignedShort", "0")
        prop("ProbableCause", "cimUnsignedShort", "0")
        prop("ProbableCauseDescription", "cimString", None)
        prop("error_Category", "cimUnsignedInt", "30")
        prop("error_Code", "cimUnsignedInt", str(self.wsman_code))
        prop("error_Type", "cimString", "HRESULT")
        prop("error_WindowsErrorMessage", "cimString", self.message)
        _declare_prefix(error, "cim", NS_CIM_COMMON)
        return error

    # --- the faults the shell service raises -------------------------------------------

    @classmethod
    def operation_timed_out(cls) -> "WsmanFault":
        text = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout. "
        return cls("s:Receiver", "w:TimedOut", text, ERROR_WSMAN_OPERATION_TIMEDOUT, text)

    @classmethod
    def shell_not_found(cls, shell_id: str) -> "WsmanFault":
        return cls("s:Sender", "w:InvalidSelectors",
                   "The WS-Management service cannot process the request because the request contained invalid "
                   "selectors for the resource. ",
                   ERROR_WSMAN_UNEXPECTED_SELECTORS,
                   f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was "
                   "not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no "
                   "longer exists on the server. Provide the correct ShellId or create a new shell and retry the "
                   "operation. ",
                   fault_detail="UnexpectedSelectors")

    @classmethod
    def command_not_found(cls) -> "WsmanFault":
        return cls("s:Sender", "w:InvalidSelectors",
                   "The WS-Management service cannot process the request because the request contained invalid "
                   "selectors for the resource. ",
                   ERROR_WSMAN_UNEXPECTED_SELECTORS,
                   "The Windows Remote Shell received a request to perform an operation on a command identifier that "
                   "does not exist. Either the command has completed execution or the client specified an invalid "
                   "command identifier. ",
                   fault_detail="UnexpectedSelectors")

    @classmethod
    def max_shells(cls, limit: int) -> "WsmanFault":
        return cls("s:Sender", "w:QuotaLimit",
                   "The WS-Management service cannot process the request. The maximum number of concurrent shells "
                   "for this user has been exceeded. Close existing shells or raise the quota for this user. ",
                   ERROR_WSMAN_QUOTA_MAX_SHELLS,
                   f"The WS-Management service cannot process the request. This user is allowed a maximum number of "
                   f"{limit} concurrent shells, which has been exceeded. Close existing shells or raise the quota "
                   "for this user. ")

    @classmethod
    def max_operations(cls, limit: int) -> "WsmanFault":
        text = (f"The WS-Management service cannot process the request. This user is allowed a maximum number of "
                f"{limit} concurrent operations, which has been exceeded. Close existing operations for this user, "
                "or raise the quota for this user. ")
        return cls("s:Receiver", "w:InternalError", text, ERROR_WSMAN_QUOTA_MAX_OPERATIONS, text, wmi_error=True)

    @classmethod
    def encoding_limit(cls) -> "WsmanFault":
        return cls("s:Sender", "w:EncodingLimit",
                   "The WS-Management service cannot process the request because the encoding of the request "
                   "exceeds an internal encoding limit. Reconfigure the client to send messages which fit the "
                   "encoding limits of the service. ",
                   ERROR_WSMAN_ENCODING_LIMIT,
                   "The WS-Management service cannot process the request because the request size exceeded the "
                   "configured MaxEnvelopeSize quota. ",
                   fault_detail="MaxEnvelopeSize")

    @classmethod
    def schema_validation(cls, detail: str) -> "WsmanFault":
        return cls("s:Sender", "w:SchemaValidationError",
                   "The SOAP XML in the message does not match the corresponding XML schema definition. Change the "
                   "XML and retry. ",
                   ERROR_WSMAN_SCHEMA_VALIDATION_ERROR, detail)

    @classmethod
    def action_not_supported(cls, action: str) -> "WsmanFault":
        return cls("s:Sender", "a:ActionNotSupported",
                   "The action is not supported by the service. ",
                   ERROR_WSMAN_ACTION_NOT_SUPPORTED,
                   f"The WS-Management service does not support the action specified in the request: {action} ",
                   fault_detail="ActionMismatch")

    @classmethod
    def invalid_resource_uri(cls, resource_uri: str) -> "WsmanFault":
        return cls("s:Sender", "a:DestinationUnreachable",
                   "The WS-Management service cannot process the request because the resource URI is not valid. ",
                   ERROR_WSMAN_INVALID_RESOURCE_URI,
                   f"The WS-Management service cannot process the request. The resource URI is missing or it has an "
                   f"incorrect format: {resource_uri!r} ",
                   fault_detail="InvalidResourceURI")

    @classmethod
    def code_page_not_supported(cls) -> "WsmanFault":
        text = ("The WinRS client cannot process the request. The server cannot set Code Page. You may want to use "
                "the CHCP command to change the client Code Page to 437 and receive the results in English. ")
        return cls("s:Receiver", "w:InternalError", text, ERROR_WINRS_CODE_PAGE_NOT_SUPPORTED, text)

    @classmethod
    def internal_error(cls, detail: str) -> "WsmanFault":
        """Anything the shell plugin failed at unexpectedly (the executor raised)."""
        return cls("s:Receiver", "w:InternalError",
                   "The WS-Management service cannot process the request. ", E_FAIL, detail)


def _declare_prefix(element: ET.Element, prefix: str, uri: str) -> None:
    """Declare `prefix` on `element` unless ElementTree will already declare it because some
    element or attribute in the tree lives in `uri` (a second declaration would be invalid XML)."""
    marker = f"{{{uri}}}"
    for node in element.iter():
        if node.tag.startswith(marker) or any(name.startswith(marker) for name in node.attrib):
            return
    element.set(f"xmlns:{prefix}", uri)
