"""Ansible's PowerShell bootstrap, as far as the emulator runs it.

ansible-core runs its own PowerShell through `powershell -EncodedCommand <bootstrap_wrapper.ps1>`
with its input on stdin: a JSON line naming the exec wrapper, a line of four NUL characters, then
the exec manifest (the scripts and the actions to run). The emulator runs one action of it:
`winrm_fetch_file.ps1`, which the winrm connection plugin's fetch_file (behind
ansible.builtin.fetch) sends once for every 512 KiB of a file, each time in a new powershell.exe.
That lets benchmarks measure Ansible's own transfer against the same endpoint. Any other action
(modules, put_file) fails as an unknown script does.
"""

from __future__ import annotations

import base64
import json

from . import clixml
from .machine import Machine, count_read
from .process import StdinBuffer
from .scripts._common import ScriptError, ScriptRun, volume_for

# Lines of ansible-core's bootstrap_wrapper.ps1 that identify it (2.17 to 2.19).
_BOOTSTRAP_MARKERS = ("ConvertFrom-Json -InputObject $codeJson", '[string]::Equals($in, "`0`0`0`0")')
_SEPARATOR = b"\n\0\0\0\0\n"
_FETCH_SCRIPT_MARKER = "[Convert]::ToBase64String($buffer, 0, $read)"
_MAX_BUFFER = 16 << 20


def is_bootstrap(script: str) -> bool:
    return all(marker in script for marker in _BOOTSTRAP_MARKERS)


def run(machine: Machine, stdin: StdinBuffer) -> ScriptRun:
    parts = stdin.read_to_end(timeout=300).split(_SEPARATOR)
    try:
        bootstrap = json.loads(parts[0])
        manifest = json.loads(parts[1]) if len(parts) > 1 else {}
        action = manifest["actions"][0]
        name = action["name"]
        script = base64.b64decode(manifest["scripts"][name]["script"]).decode("utf-8", errors="replace")
    except (ValueError, KeyError, IndexError, TypeError):
        return (yield from _unsupported("its input is not an Ansible exec manifest"))
    if bootstrap.get("name") != "exec_wrapper":
        return (yield from _unsupported(f"the bootstrap names {bootstrap.get('name')!r}, not the exec wrapper"))
    if name != "winrm_fetch_file.ps1" or _FETCH_SCRIPT_MARKER not in str(script):
        return (yield from _unsupported(f"the action {name!r} is not one the emulator runs (only winrm_fetch_file.ps1)"))
    return (yield from _fetch_file(machine, action.get("params") or {}))


def _fetch_file(machine: Machine, params: dict) -> ScriptRun:
    path, size, offset = str(params.get("Path") or ""), int(params.get("BufferSize") or 0), int(params.get("Offset") or 0)
    if not 0 < size <= _MAX_BUFFER or offset < 0:
        yield "stderr", b"Cannot process argument: BufferSize or Offset is out of range.\r\n"
        return 1
    try:
        with volume_for(machine, path) as (volume, inner):
            if not volume.exists(inner):
                yield "stderr", f"{path} does not exist\r\n".encode("utf-8")
                return 1
            if volume.stat(inner).is_dir:
                yield "stdout", b"[DIR]\r\n"
                return 0
            with volume.open(inner) as stream:
                stream.seek(offset)
                data = stream.read(size)
    except ScriptError:
        yield "stderr", f"{path} does not exist\r\n".encode("utf-8")
        return 1
    count_read(machine, path, len(data))
    if data:
        # A string on the pipeline: written with the console's newline.
        yield "stdout", base64.b64encode(data) + b"\r\n"
    return 0


def _unsupported(reason: str) -> ScriptRun:
    message = (f"vmrepair emulator: cannot run this Ansible PowerShell payload: {reason}. PowerShell is not "
               "available here.")
    yield "stderr", clixml.error_record(
        message, position="At line:1 char:1\n+ <script>\n+ ~~~~~~~~",
        category="NotImplemented: (:) [], NotSupportedException", error_id="VmrepairEmulatorUnknownScript")
    return 1
