# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Extra pywinrm sessions to a host, built from the options of its Ansible winrm connection.

Bulk transfer opens several WinRM shells in parallel with exactly the settings the host's
connection uses (address, port, scheme, path, user, password, transport, the pinned CA in
``ansible_winrm_ca_trust_path``, ``server_cert_validation``, timeouts and every other
``ansible_winrm_*`` pywinrm argument), and reads a script's output as it arrives instead of
buffering it (pywinrm's ``run_ps`` keeps everything in memory).

The password lives only in ``WinrmSettings.password`` (kept out of repr) and in the pywinrm
objects; every message this module raises has it replaced by ``********``.
"""

from __future__ import annotations

import base64
import collections.abc
import html
import inspect
import json
import re
import time
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urlunsplit

try:
    from winrm.exceptions import WinRMOperationTimeoutError
    from winrm.protocol import Protocol
    HAS_PYWINRM = True
    PYWINRM_IMPORT_ERROR: Exception | None = None
except ImportError as _import_error:  # reported by the action plugin that needs it
    Protocol = None  # type: ignore[assignment,misc]

    class WinRMOperationTimeoutError(Exception):  # type: ignore[no-redef]
        """Stand-in so that the receive loop below still names a class when pywinrm is missing."""

    HAS_PYWINRM = False
    PYWINRM_IMPORT_ERROR = _import_error

REDACTED = "********"
# How Ansible's PowerShell shell plugin starts an encoded script (and what the emulator accepts).
POWERSHELL_COMMAND = "PowerShell"
POWERSHELL_ARGUMENTS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Unrestricted", "-EncodedCommand")
# Ansible's winrm plugin passes these itself; they are not pywinrm keyword arguments from extras.
_INTERNAL_ARGUMENTS = frozenset({"self", "endpoint", "transport", "username", "password", "scheme", "path",
                                 "kinit_mode", "kinit_cmd"})
_STDERR_KEEP = 64 * 1024
# A command that prints nothing for this long is considered hung.
DEFAULT_IDLE_TIMEOUT_SEC = 600


# winrm/config MaxEnvelopeSizekb default on Windows Server: the largest envelope a stock service accepts.
WINDOWS_MAX_ENVELOPE_BYTES = 500 * 1024


class WinrmSessionError(Exception):
    """A WinRM shell could not be opened or a command failed on the remote side."""


class RemoteCommandError(WinrmSessionError):
    """The remote script ended with a non-zero exit code."""

    def __init__(self, message: str, exit_code: int, stderr: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.stderr = stderr


def redact(text: str, secrets: t.Iterable[str | None]) -> str:
    """``text`` with every non-empty secret replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


@dataclass(frozen=True)
class WinrmSettings:
    """Everything needed to open a pywinrm Protocol like the host's connection does."""

    endpoint: str
    transports: tuple[str, ...]
    username: str | None
    password: str | None = field(repr=False)
    extra_kwargs: dict[str, t.Any] = field(default_factory=dict)

    def protocol_kwargs(self, transport: str) -> dict[str, t.Any]:
        """Keyword arguments for winrm.protocol.Protocol (contains the password: never log them)."""
        kwargs = dict(self.extra_kwargs)
        kwargs.update(endpoint=self.endpoint, transport=transport, username=self.username, password=self.password)
        return kwargs

    def describe(self) -> str:
        return f"{self.username}@{self.endpoint} ({'/'.join(self.transports)})"


def _supported_protocol_arguments() -> set[str]:
    if Protocol is None:
        return set()
    return set(inspect.signature(Protocol.__init__).parameters)


def settings_from_options(options: collections.abc.Mapping[str, t.Any],
                          extras: collections.abc.Mapping[str, t.Any] | None = None,
                          supported_arguments: set[str] | None = None) -> WinrmSettings:
    """Build WinrmSettings from winrm connection option values and ``ansible_winrm_*`` extras.

    ``options`` holds the connection plugin's options (remote_addr, port, scheme, path,
    remote_user, remote_password, transport, connection_timeout); ``extras`` the
    ``ansible_winrm_*`` variables, passed to pywinrm when it has an argument of that name, as the
    winrm connection plugin does.
    """
    host = options.get("remote_addr")
    if not host:
        raise WinrmSessionError("the winrm connection has no remote_addr (ansible_host)")
    port = int(options.get("port") or 5986)
    scheme = options.get("scheme") or ("http" if port == 5985 else "https")
    path = options.get("path") or "/wsman"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    endpoint = urlunsplit((scheme, f"{host}:{port}", path, "", ""))

    user = options.get("remote_user")
    transports = options.get("transport")
    if isinstance(transports, str):
        transports = [part.strip() for part in transports.split(",") if part.strip()]
    if not transports or transports[0] is None:
        # The winrm connection plugin's own default.
        if user and "@" in user:
            transports = ["kerberos"]
        else:
            transports = ["ssl"] if scheme == "https" else ["plaintext"]

    supported = supported_arguments if supported_arguments is not None else _supported_protocol_arguments()
    extra_kwargs: dict[str, t.Any] = {}
    for name, value in (extras or {}).items():
        argument = name.replace("ansible_winrm_", "", 1)
        if argument in supported and argument not in _INTERNAL_ARGUMENTS:
            extra_kwargs[argument] = value
    timeout = options.get("connection_timeout")
    if timeout:
        extra_kwargs["operation_timeout_sec"] = int(timeout)
        extra_kwargs["read_timeout_sec"] = int(timeout) + 10
    return WinrmSettings(endpoint=endpoint, transports=tuple(transports), username=user,
                         password=options.get("remote_password"), extra_kwargs=extra_kwargs)


_OPTION_NAMES = ("remote_addr", "port", "scheme", "path", "remote_user", "remote_password", "transport",
                 "connection_timeout")


def settings_from_connection(connection: t.Any) -> WinrmSettings:
    """WinrmSettings from a live Ansible winrm connection plugin (``self._connection``)."""
    options = {}
    for name in _OPTION_NAMES:
        try:
            options[name] = connection.get_option(name)
        except KeyError:
            options[name] = None
    try:
        extras = connection.get_option("_extras") or {}
    except KeyError:
        extras = {}
    return settings_from_options(options, extras)


def encode_powershell(script: str) -> list[str]:
    """PowerShell arguments that run ``script``, encoded as Ansible's winrm connection encodes it."""
    lines = [line.strip() for line in script.splitlines() if line.strip()]
    encoded = base64.b64encode("\n".join(lines).encode("utf-16-le")).decode("ascii")
    return [*POWERSHELL_ARGUMENTS, encoded]


_CLIXML_ERROR = re.compile(r'<S S="Error">(.*?)</S>', re.DOTALL)
_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def clixml_to_text(stderr: str) -> str:
    """The error text of PowerShell's CLIXML stderr (plain stderr is returned as is)."""
    if not stderr.startswith("#< CLIXML"):
        return stderr
    parts = [html.unescape(m) for m in _CLIXML_ERROR.findall(stderr)]
    text = "".join(parts)
    return _CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text).strip()


if Protocol is not None:
    class LargeEnvelopeProtocol(Protocol):  # type: ignore[misc,valid-type]
        """pywinrm's Protocol asking for ``max_env_sz`` in every request: pywinrm writes a fixed 153600."""

        def build_wsman_header(self, *args: t.Any, **kwargs: t.Any) -> dict[str, t.Any]:
            header = super().build_wsman_header(*args, **kwargs)
            header["env:Header"]["w:MaxEnvelopeSize"]["#text"] = str(self.max_env_sz)
            return header

        _get_soap_header = build_wsman_header
else:
    LargeEnvelopeProtocol = None  # type: ignore[assignment,misc]


class WinrmShell:
    """One WinRM shell on the host; runs PowerShell scripts and streams their stdout by line."""

    def __init__(self, settings: WinrmSettings, idle_timeout_sec: float = DEFAULT_IDLE_TIMEOUT_SEC,
                 protocol_factory: t.Callable[..., t.Any] | None = None) -> None:
        if protocol_factory is None and not HAS_PYWINRM:
            raise WinrmSessionError(f"pywinrm is required on the controller: {PYWINRM_IMPORT_ERROR}")
        self._settings = settings
        self._idle_timeout = idle_timeout_sec
        self._protocol_factory = protocol_factory or LargeEnvelopeProtocol
        self._protocol: t.Any = None
        self._shell_id: str | None = None

    def _redact(self, text: str) -> str:
        return redact(text, [self._settings.password])

    def open(self) -> None:
        if self._shell_id is not None:
            return
        errors = []
        for transport in self._settings.transports:
            try:
                protocol = self._protocol_factory(**self._settings.protocol_kwargs(transport))
                self._shell_id = self._open_shell(protocol)
                self._protocol = protocol
                return
            except Exception as error:  # each transport may fail differently; report them all
                errors.append(f"{transport}: {self._redact(str(error)) or type(error).__name__}")
        raise WinrmSessionError(f"cannot open a WinRM shell to {self._settings.describe()}: {'; '.join(errors)}")

    @staticmethod
    def _open_shell(protocol: t.Any) -> str:
        """Open the shell asking for Windows' default envelope (500 KiB): a third of the Receive round trips
        of pywinrm's 150 KiB. A service configured lower refuses it with EncodingLimit: then its default."""
        default = getattr(protocol, "max_env_sz", None)
        if default is not None:
            protocol.max_env_sz = max(default, WINDOWS_MAX_ENVELOPE_BYTES)
        try:
            shell_id = protocol.open_shell(codepage=65001)  # UTF-8 output, as Ansible's plugin
        except Exception as error:  # pylint: disable=broad-except  # retried once with pywinrm's envelope
            if default is None or "EncodingLimit" not in str(error) and "MaxEnvelopeSize" not in str(error):
                raise
            protocol.max_env_sz = default
            shell_id = protocol.open_shell(codepage=65001)
        session = getattr(getattr(protocol, "transport", None), "session", None)
        if session is not None:
            # pywinrm resolved proxies and the CA when it built the session; without this, requests scans the
            # environment and ~/.netrc again on every Receive (a measurable share of a transfer's CPU).
            session.trust_env = False
        return shell_id

    def close(self) -> None:
        protocol, shell_id = self._protocol, self._shell_id
        self._protocol = self._shell_id = None
        if protocol is not None and shell_id is not None:
            try:
                protocol.close_shell(shell_id)
            except Exception:  # the shell may already be gone (connection dropped): nothing to undo
                pass

    def __enter__(self) -> WinrmShell:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def stream_lines(self, script: str, max_line_bytes: int | None = None) -> t.Iterator[bytes]:
        """Run a PowerShell script; yield its stdout lines (without line ends) as they arrive.

        Raises RemoteCommandError when the script exits non-zero (after its output was yielded),
        WinrmSessionError when the connection fails, the command prints nothing for too long, or
        prints a line longer than ``max_line_bytes`` (which bounds the memory a stream can take).
        """
        self.open()
        protocol, shell_id = self._protocol, self._shell_id
        try:
            command_id = protocol.run_command(shell_id, POWERSHELL_COMMAND, encode_powershell(script))
        except Exception as error:
            raise WinrmSessionError(f"cannot start a command on {self._settings.endpoint}: "
                                    f"{self._redact(str(error))}") from None
        buffer = bytearray()
        stderr = bytearray()
        last_output = time.monotonic()
        finished = False
        try:
            while True:
                try:
                    stdout, err, exit_code, done = protocol.get_command_output_raw(shell_id, command_id)
                except WinRMOperationTimeoutError:
                    # pywinrm's Receive timed out without output: normal for a slow command.
                    if time.monotonic() - last_output > self._idle_timeout:
                        raise WinrmSessionError(
                            f"the command on {self._settings.endpoint} printed nothing for "
                            f"{self._idle_timeout:.0f} s") from None
                    continue
                except WinrmSessionError:
                    raise
                except Exception as error:
                    raise WinrmSessionError(f"lost the command's output from {self._settings.endpoint}: "
                                            f"{self._redact(str(error)) or type(error).__name__}") from None
                if stdout or err:
                    last_output = time.monotonic()
                if err and len(stderr) < _STDERR_KEEP:
                    stderr += err[:_STDERR_KEEP - len(stderr)]
                if stdout:
                    # Only the new bytes can hold a line end: a long line is not rescanned per Receive.
                    scan = len(buffer)
                    buffer += stdout
                    start = 0
                    while True:
                        newline = buffer.find(b"\n", max(start, scan))
                        if newline < 0:
                            break
                        yield bytes(buffer[start:newline]).rstrip(b"\r")
                        start = newline + 1
                    del buffer[:start]
                    if max_line_bytes is not None and len(buffer) > max_line_bytes:
                        raise WinrmSessionError(f"the command on {self._settings.endpoint} printed a line longer "
                                                f"than {max_line_bytes} bytes")
                if done:
                    finished = True
                    break
            if buffer:
                yield bytes(buffer).rstrip(b"\r")
            if exit_code != 0:
                text = self._redact(clixml_to_text(stderr.decode("utf-8", errors="replace")))
                raise RemoteCommandError(
                    f"the script exited with code {exit_code} on {self._settings.endpoint}: {text.strip() or '(no stderr)'}",
                    exit_code, text)
        finally:
            self._cleanup_command(protocol, shell_id, command_id, finished)

    def _cleanup_command(self, protocol: t.Any, shell_id: str, command_id: str, finished: bool) -> None:
        try:
            protocol.cleanup_command(shell_id, command_id)
        except Exception:
            if not finished:
                # The connection is probably broken: drop the shell so the next use opens a new one.
                self._protocol = self._shell_id = None


def parse_json_output(stdout: bytes | str) -> t.Any:
    """The JSON document a collection script printed: its last line that parses as JSON."""
    text = stdout.decode("utf-8", errors="replace") if isinstance(stdout, bytes) else stdout
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line:
            continue
        try:
            return json.loads(line)
        except ValueError:
            continue
    raise WinrmSessionError(f"the script printed no JSON: {text[:300]!r}")


def run_json_script(connection: t.Any, script: str) -> t.Any:
    """Run a collection script through the host's own connection; its JSON output.

    The winrm connection plugin encodes the script as PowerShell -EncodedCommand. A non-zero
    exit code raises RemoteCommandError carrying the script's stderr.
    """
    exit_code, stdout, stderr = connection.exec_command(script)
    if exit_code != 0:
        text = clixml_to_text(stderr.decode("utf-8", errors="replace") if isinstance(stderr, bytes) else stderr)
        raise RemoteCommandError(f"the script exited with code {exit_code}: {text.strip() or '(no stderr)'}",
                                 exit_code, text)
    return parse_json_output(stdout)
