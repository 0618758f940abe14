"""The collection's PowerShell scripts, implemented against the simulated machine.

A script is recognised by its marker line `# vmrepair.azure script: <name> v<version>` and gets
its parameters from the line `$VmrepairParams = ConvertFrom-Json '<json, single quotes doubled>'`
(both may be indented or come after other lines, e.g. Ansible's Set-StrictMode prefix). Anything
else fails as PowerShell would fail a script it cannot run: an error record on stderr (CLIXML, as
powershell.exe -EncodedCommand writes it) and exit code 1 — never a silent success.
"""

from __future__ import annotations

import json
import re
from types import ModuleType

from .. import clixml
from ..machine import Machine
from ..process import Process, StdinBuffer
from . import enable_winrm_https, find_dumps, hash_file, read_file_chunks, upload_to_blob
from ._common import Output, ScriptError, ScriptRun

SCRIPTS: dict[str, ModuleType] = {module.NAME: module for module in
                                  (enable_winrm_https, find_dumps, hash_file, read_file_chunks, upload_to_blob)}
MARKER = re.compile(
    r"^[ \t]*#[ \t]*vmrepair\.azure script:[ \t]*(?P<name>[A-Za-z0-9_]+)[ \t]+v(?P<version>\d+)[ \t]*$", re.MULTILINE)
PARAMS = re.compile(
    r"^[ \t]*\$VmrepairParams[ \t]*=[ \t]*ConvertFrom-Json[ \t]+'(?P<json>(?:[^']|'')*)'[ \t]*;?[ \t]*$",
    re.MULTILINE | re.IGNORECASE)


def run(machine: Machine, script_text: str, start_delay: float = 0.0) -> Process:
    """Start the script on `machine` (after `start_delay` seconds of powershell.exe start-up); its
    output comes from the returned Process."""
    return Process(lambda _stdin: produce(machine, script_text), name=f"script@{machine.name}",
                   start_delay=start_delay)


def produce(machine: Machine, script_text: str) -> ScriptRun:
    """The script's output as a generator (returns the exit code)."""
    marker = MARKER.search(script_text)
    if marker is None:
        return (yield from _unknown("the script has no '# vmrepair.azure script: <name> v<version>' marker"))
    name, version = marker["name"], int(marker["version"])
    module = SCRIPTS.get(name)
    if module is None or version != module.VERSION:
        return (yield from _unknown(f"'{name} v{version}' is not a script the emulator implements"))
    try:
        params = _params(script_text)
    except ValueError as exc:
        return (yield from _failed(str(exc)))
    try:
        return (yield from module.run(machine, params))
    except ScriptError as exc:
        return (yield from _failed(str(exc)))


def from_stdin(machine: Machine, stdin: StdinBuffer) -> ScriptRun:
    """powershell.exe -Command -: the script is whatever arrives on stdin."""
    text = stdin.read_to_end().decode("utf-8", errors="replace")
    return (yield from produce(machine, text))


def _params(script_text: str) -> dict | None:
    match = PARAMS.search(script_text)
    if match is None:
        return None
    try:
        value = json.loads(match["json"].replace("''", "'"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"Conversion from JSON failed with error: {exc.msg} (position {exc.pos}).") from None
    if not isinstance(value, dict):
        raise ValueError("$VmrepairParams must be a JSON object.")
    return value


def _failed(message: str) -> ScriptRun:
    """The scripts' own trap: [Console]::Error.WriteLine($_.Exception.Message); exit 1."""
    yield "stderr", (message + "\r\n").encode("utf-8")
    return 1


def _unknown(reason: str) -> ScriptRun:
    implemented = ", ".join(f"{name} v{module.VERSION}" for name, module in sorted(SCRIPTS.items()))
    message = (f"vmrepair emulator: cannot run this PowerShell script: {reason}. PowerShell is not available "
               f"here; the emulator runs only the vmrepair.azure scripts it implements ({implemented}).")
    yield "stderr", clixml.error_record(
        message, position="At line:1 char:1\n+ <script>\n+ ~~~~~~~~",
        category="NotImplemented: (:) [], NotSupportedException", error_id="VmrepairEmulatorUnknownScript")
    return 1


__all__ = ["MARKER", "PARAMS", "SCRIPTS", "Output", "ScriptError", "from_stdin", "produce", "run"]
