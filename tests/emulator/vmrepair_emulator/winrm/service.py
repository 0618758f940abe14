"""The WinRS shell service of one machine: Create, Command, Send, Receive, Signal, Delete.

Request and response shapes are those of MS-WSMV 3.1.4 as Windows Server answers them
(ShellId/CommandId upper-case GUIDs, rsp:Stream base64 with End="true" on the last
Receive, CommandState Running/Done with ExitCode, the OperationTimeout fault when a
Receive finds no output in time).
"""
from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable
from xml.sax.saxutils import escape as xml_escape

from .cmdline import split_command_line
from .codepage import DEFAULT_CODE_PAGE, codec_for
from .command import ReceiveResult, base64_length
from .envelope import (NS_ADDRESSING, NS_SHELL, NS_TRANSFER, NS_WSMAN, RESOURCE_URI_CMD, format_duration, q,
                       response_envelope, serialize)
from .executor import Executor
from .faults import WsmanFault
from .request import SERVER_MAX_ENVELOPE_BYTES, WsmanRequest, parse_duration
from .shells import ShellTable

TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
STATE_RUNNING = SHELL + "CommandState/Running"
STATE_DONE = SHELL + "CommandState/Done"
SIGNAL_TERMINATE = SHELL + "signal/terminate"
SIGNALS_INTERRUPT = (SHELL + "signal/ctrl_c", SHELL + "signal/ctrl_break")
# Windows' server MaxTimeoutms default (60 s) caps a client's OperationTimeout.
MAX_OPERATION_TIMEOUT_S = 60.0
# WS-Management: a MaxEnvelopeSize below 8192 octets is refused with EncodingLimit.
MIN_ENVELOPE_SIZE = 8192


@dataclass
class ServiceResult:
    body: bytes
    log: dict[str, Any] = field(default_factory=dict)


@dataclass
class Caller:
    """Who is asking, from the authenticated connection."""

    user: str  # user name as authenticated (no domain)
    client_ip: str
    endpoint: str  # https://host:port/wsman as the client addressed us


class ShellService:
    def __init__(self, machine: Any, shells: ShellTable, executor: Callable[[], Executor]) -> None:
        self.machine = machine
        self.shells = shells
        self._executor = executor
        self._handlers: dict[str, Callable[[WsmanRequest, Caller, dict[str, Any]], list[ET.Element]]] = {
            TRANSFER + "Create": self._create,
            TRANSFER + "Delete": self._delete,
            SHELL + "Command": self._command,
            SHELL + "Send": self._send,
            SHELL + "Receive": self._receive,
            SHELL + "Signal": self._signal,
        }

    def handle(self, request: WsmanRequest, caller: Caller, log: dict[str, Any]) -> bytes:
        """The response envelope for one request; raises WsmanFault. Fills `log` as it learns
        (shell_id, command_id) so that faults are logged with them too."""
        handler = self._handlers.get(request.action)
        if handler is None:
            raise WsmanFault.action_not_supported(request.action)
        if request.resource_uri.lower() != RESOURCE_URI_CMD:
            raise WsmanFault.invalid_resource_uri(request.resource_uri)
        if request.max_envelope_size < MIN_ENVELOPE_SIZE:
            raise WsmanFault.encoding_limit()
        log["shell_id"] = request.selectors.get("ShellId")
        children = handler(request, caller, log)
        return serialize(response_envelope(request.action + "Response", request.message_id, children))

    # --- Create / Delete ----------------------------------------------------------------

    def _create(self, request: WsmanRequest, caller: Caller, log: dict[str, Any]) -> list[ET.Element]:
        spec = request.body
        if spec is None or spec.tag != q(NS_SHELL, "Shell"):
            raise WsmanFault.schema_validation("Create needs an rsp:Shell body.")
        input_streams = _text(spec, "InputStreams", "stdin").split()
        output_streams = _text(spec, "OutputStreams", "stdout stderr").split()
        idle_text = _text(spec, "IdleTimeOut", "")
        code_page_text = request.options.get("WINRS_CODEPAGE", str(DEFAULT_CODE_PAGE))
        try:
            code_page = int(code_page_text)
            idle = _duration_or_ms(idle_text) if idle_text else None
        except ValueError:
            raise WsmanFault.schema_validation("WINRS_CODEPAGE or IdleTimeOut is not valid.") from None
        codec = codec_for(code_page)
        if codec is None:
            raise WsmanFault.code_page_not_supported()
        shell = self.shells.create(caller.user.lower(), caller.user, caller.client_ip, input_streams,
                                   output_streams, code_page, codec, idle)
        log["shell_id"] = shell.id

        created = ET.Element(q(NS_TRANSFER, "ResourceCreated"))
        ET.SubElement(created, q(NS_ADDRESSING, "Address")).text = caller.endpoint
        reference = ET.SubElement(created, q(NS_ADDRESSING, "ReferenceParameters"))
        ET.SubElement(reference, q(NS_WSMAN, "ResourceURI")).text = RESOURCE_URI_CMD
        selectors = ET.SubElement(reference, q(NS_WSMAN, "SelectorSet"))
        ET.SubElement(selectors, q(NS_WSMAN, "Selector"), {"Name": "ShellId"}).text = shell.id

        info = ET.Element(q(NS_SHELL, "Shell"))
        for name, value in (("ShellId", shell.id), ("ResourceUri", RESOURCE_URI_CMD), ("Owner", shell.owner_display),
                            ("ClientIP", shell.client_ip), ("IdleTimeOut", format_duration(shell.idle_timeout_s)),
                            ("InputStreams", " ".join(input_streams)), ("OutputStreams", " ".join(output_streams)),
                            ("ShellRunTime", "P0DT0H0M0S"), ("ShellInactivity", "P0DT0H0M0S")):
            ET.SubElement(info, q(NS_SHELL, name)).text = value
        return [created, info]

    def _delete(self, request: WsmanRequest, caller: Caller, log: dict[str, Any]) -> list[ET.Element]:
        self.shells.delete(request.selectors.get("ShellId"))
        return []

    # --- Command ------------------------------------------------------------------------

    def _command(self, request: WsmanRequest, caller: Caller, log: dict[str, Any]) -> list[ET.Element]:
        shell = self.shells.get(request.selectors.get("ShellId"))
        line = request.body
        if line is None or line.tag != q(NS_SHELL, "CommandLine"):
            raise WsmanFault.schema_validation("Command needs an rsp:CommandLine body.")
        parts = [_text(line, "Command", "")] + [(a.text or "") for a in line.iterfind(q(NS_SHELL, "Arguments"))]
        argv = split_command_line(" ".join(p for p in parts if p))
        if not argv:
            raise WsmanFault.schema_validation("The command line is empty.")
        executor = self._executor()
        command = self.shells.start_command(shell, line.get("CommandId"),
                                            lambda: executor(self.machine, argv[0], argv[1:]))
        log["command_id"] = command.id
        log["command"] = argv[0]
        response = ET.Element(q(NS_SHELL, "CommandResponse"))
        ET.SubElement(response, q(NS_SHELL, "CommandId")).text = command.id
        return [response]

    # --- Send ---------------------------------------------------------------------------

    def _send(self, request: WsmanRequest, caller: Caller, log: dict[str, Any]) -> list[ET.Element]:
        shell = self.shells.get(request.selectors.get("ShellId"))
        send = request.body
        if send is None or send.tag != q(NS_SHELL, "Send"):
            raise WsmanFault.schema_validation("Send needs an rsp:Send body.")
        sent = 0
        for stream in send.iterfind(q(NS_SHELL, "Stream")):
            if stream.get("Name") not in shell.input_streams:
                raise WsmanFault.schema_validation(f"{stream.get('Name')!r} is not an input stream of the shell.")
            command = shell.command(stream.get("CommandId", ""))
            log["command_id"] = command.id
            try:
                data = base64.b64decode(stream.text or "", validate=True)
            except binascii.Error:
                raise WsmanFault.schema_validation("The stream content is not valid base64.") from None
            command.send(data, (stream.get("End") or "false").lower() == "true")
            sent += len(data)
        log["stdin_bytes"] = sent
        return [ET.Element(q(NS_SHELL, "SendResponse"))]

    # --- Receive ------------------------------------------------------------------------

    def _receive(self, request: WsmanRequest, caller: Caller, log: dict[str, Any]) -> list[ET.Element]:
        shell = self.shells.get(request.selectors.get("ShellId"))
        receive = request.body
        desired = receive.find(q(NS_SHELL, "DesiredStream")) if receive is not None else None
        if receive is None or receive.tag != q(NS_SHELL, "Receive") or desired is None:
            raise WsmanFault.schema_validation("Receive needs an rsp:Receive/rsp:DesiredStream body.")
        command = shell.command(desired.get("CommandId", ""))
        log["command_id"] = command.id

        base, per_element = _receive_overhead(request.message_id, command.id, shell.output_streams)
        # The service never answers with more than its own MaxEnvelopeSizekb, whatever the client asks.
        budget = min(request.max_envelope_size, SERVER_MAX_ENVELOPE_BYTES) - base
        if budget < per_element + 4:
            raise WsmanFault.encoding_limit()
        timeout = min(request.operation_timeout_s, MAX_OPERATION_TIMEOUT_S)
        with command.receive_lock:
            result = command.receive(budget, per_element, timeout)
        shell.touch()
        log["stdout_bytes"] = sum(len(d) for s, d in result.chunks if s == "stdout")
        log["stderr_bytes"] = sum(len(d) for s, d in result.chunks if s == "stderr")
        log["command_done"] = result.done
        return [_receive_response(command.id, result, shell.output_streams)]

    # --- Signal -------------------------------------------------------------------------

    def _signal(self, request: WsmanRequest, caller: Caller, log: dict[str, Any]) -> list[ET.Element]:
        shell = self.shells.get(request.selectors.get("ShellId"))
        signal = request.body
        if signal is None or signal.tag != q(NS_SHELL, "Signal"):
            raise WsmanFault.schema_validation("Signal needs an rsp:Signal body.")
        command_id = signal.get("CommandId", "")
        code = _text(signal, "Code", "")
        log["command_id"] = command_id.upper() or None
        log["signal"] = code.rsplit("/", 1)[-1]
        if code == SIGNAL_TERMINATE:
            self.shells.forget_command(shell, command_id).terminate()
        elif code in SIGNALS_INTERRUPT:
            shell.command(command_id).terminate()
        else:
            raise WsmanFault.schema_validation(f"Unknown signal code {code!r}.")
        return [ET.Element(q(NS_SHELL, "SignalResponse"))]


def _receive_overhead(message_id: str, command_id: str, output_streams: list[str]) -> tuple[int, int]:
    """(bytes of the largest data-less Receive response, bytes one more rsp:Stream adds besides
    its base64 text), measured on the real serialization rather than estimated."""
    # Only the (escaped) length of the message id matters: cache on it.
    return _measure_receive_overhead(len(xml_escape(message_id)), command_id, tuple(output_streams))


@lru_cache(maxsize=256)
def _measure_receive_overhead(message_id_length: int, command_id: str, output_streams: tuple[str, ...]) -> tuple[int, int]:
    placeholder = "0" * message_id_length

    def size(chunks: list[tuple[str, bytes]]) -> int:
        element = _receive_response(command_id, ReceiveResult(chunks, True, 0xFFFFFFFF), list(output_streams))
        return len(serialize(response_envelope(SHELL + "ReceiveResponse", placeholder, [element])))

    longest = max(output_streams, key=len, default="stdout")
    base = size([])
    return base, size([(longest, b"abc")]) - base - base64_length(3)


def _receive_response(command_id: str, result: ReceiveResult, output_streams: list[str]) -> ET.Element:
    response = ET.Element(q(NS_SHELL, "ReceiveResponse"))
    for stream, data in result.chunks:
        ET.SubElement(response, q(NS_SHELL, "Stream"), {"Name": stream, "CommandId": command_id}).text = \
            base64.b64encode(data).decode("ascii")
    if result.done:
        for stream in output_streams:
            ET.SubElement(response, q(NS_SHELL, "Stream"), {"Name": stream, "CommandId": command_id, "End": "true"})
        state = ET.SubElement(response, q(NS_SHELL, "CommandState"), {"CommandId": command_id, "State": STATE_DONE})
        exit_code = result.exit_code if result.exit_code is not None else -1
        ET.SubElement(state, q(NS_SHELL, "ExitCode")).text = str(exit_code & 0xFFFFFFFF)  # a DWORD on Windows
    else:
        ET.SubElement(response, q(NS_SHELL, "CommandState"), {"CommandId": command_id, "State": STATE_RUNNING})
    return response


def _text(parent: ET.Element, local: str, default: str) -> str:
    element = parent.find(q(NS_SHELL, local))
    return (element.text or "").strip() if element is not None else default


def _duration_or_ms(text: str) -> float:
    """rsp:IdleTimeOut: an xs:duration (PT600S) or, as pywinrm sends it, milliseconds."""
    return float(text) / 1000.0 if text.isdigit() else parse_duration(text)
