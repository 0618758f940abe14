# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's PowerShell scripts (powershell/<name>.ps1), ready to send.

Each script starts with the marker line `# vmrepair.azure script: <name> v<version>`; its
contract is powershell/<name>.md. render_script() puts the parameters in, as one line right after
the marker: `$VmrepairParams = ConvertFrom-Json '<json>'` (single quotes doubled, the only
escaping a PowerShell single-quoted string needs). The JSON is ASCII-only and on one line, so the
line survives Ansible's PowerShell encoding, which strips every line and drops empty ones.

The files are read on the controller (action plugins); a module, which runs from an AnsiballZ
payload that carries only Python, gets the script text from its action plugin and renders it
with render_script_text().
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# plugins/module_utils/_scripts.py -> the collection root is three directories up.
COLLECTION_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = COLLECTION_ROOT / "powershell"
MARKER_PREFIX = "# vmrepair.azure script: "
PARAMS_VARIABLE = "$VmrepairParams"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ScriptNotFoundError(LookupError):
    """No powershell/<name>.ps1 in the collection, or it lacks its marker line."""


def script_path(name: str) -> Path:
    if not _NAME.match(name):
        raise ScriptNotFoundError(f"not a script name: {name!r}")
    path = SCRIPTS_DIR / f"{name}.ps1"
    if not path.is_file():
        raise ScriptNotFoundError(f"no script {name!r} in {SCRIPTS_DIR}")
    return path


def script_version(name: str) -> int:
    """The version the script's marker line declares."""
    return _marker(name, _read(name))[1]


def params_line(params: dict) -> str:
    text = json.dumps(params, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return f"{PARAMS_VARIABLE} = ConvertFrom-Json '{text.replace(chr(39), chr(39) * 2)}'"


def render_script(name: str, params: dict) -> str:
    """powershell/<name>.ps1 with the parameter line inserted after its marker line."""
    return render_script_text(name, load_script(name), params)


def render_script_text(name: str, text: str, params: dict) -> str:
    """A script's text (as load_script() read it) with the parameter line inserted after its marker line."""
    if not isinstance(params, dict):
        raise TypeError("script parameters are a dict (they become a JSON object)")
    lines = text.splitlines()
    _marker(name, lines[0] if lines else "")
    return "\n".join([lines[0], params_line(params), *lines[1:]]) + "\n"


def load_script(name: str) -> str:
    """The text of powershell/<name>.ps1."""
    return _read(name)


def _read(name: str) -> str:
    return script_path(name).read_text(encoding="utf-8")


def _marker(name: str, text: str) -> tuple[str, int]:
    first = text.splitlines()[0] if text else ""
    match = re.match(r"^# vmrepair\.azure script: (?P<name>[a-z0-9_]+) v(?P<version>\d+)\s*$", first)
    if match is None or match["name"] != name:
        raise ScriptNotFoundError(f"{SCRIPTS_DIR / (name + '.ps1')} does not start with '{MARKER_PREFIX}{name} v<n>'")
    return match["name"], int(match["version"])
