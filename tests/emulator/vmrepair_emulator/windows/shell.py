"""What a WinRM Command runs on the simulated machine.

Known: powershell.exe (also `PowerShell`, `powershell`) with -EncodedCommand <base64 UTF-16LE>
(pywinrm's run_ps sends `powershell -encodedcommand X` as the command; Ansible's winrm connection
sends `PowerShell` with the arguments), -Command <text> and -Command - (script on stdin). The
script goes to windows.scripts. Anything else fails as cmd.exe or powershell.exe would.
"""

from __future__ import annotations

import base64
import binascii

from . import ansible_exec, scripts
from .machine import Machine
from .process import Process, finished

# powershell.exe parameters (Windows PowerShell 5.1), each with the number of values it takes.
_PARAMETERS = {
    "command": -1, "encodedcommand": 1, "executionpolicy": 1, "file": -1, "inputformat": 1, "mta": 0,
    "noexit": 0, "nologo": 0, "noninteractive": 0, "noprofile": 0, "outputformat": 1, "psconsolefile": 1,
    "sta": 0, "version": 1, "windowstyle": 1, "configurationname": 1, "encodedarguments": 1,
}
_ALIASES = {"e": "encodedcommand", "ec": "encodedcommand", "enc": "encodedcommand", "c": "command",
            "ep": "executionpolicy", "ex": "executionpolicy", "f": "file", "nop": "noprofile",
            "noni": "noninteractive", "nol": "nologo", "w": "windowstyle", "v": "version"}
_POWERSHELL = {"powershell", "powershell.exe"}
_BAD_PARAMETER_EXIT = 1


def execute(machine: Machine, command: str, arguments: list[str] | tuple[str, ...] = ()) -> Process:
    words = _split_command_line(command) + list(arguments)
    if not words:
        return finished(1, stderr=b"The syntax of the command is incorrect.\r\n")
    program = words[0].strip('"')
    if program.lower().rsplit("\\", 1)[-1] not in _POWERSHELL:
        return finished(1, stderr=(f"'{program}' is not recognized as an internal or external command,\r\n"
                                   "operable program or batch file.\r\n").encode())
    return _powershell(machine, words[1:])


def _powershell(machine: Machine, args: list[str]) -> Process:
    i = 0
    while i < len(args):
        word = args[i]
        if not word.startswith(("-", "/")):
            # A bare word starts the command text, as -Command would.
            return scripts.run(machine, " ".join(args[i:]), machine.powershell_start())
        name = _parameter(word[1:])
        if name is None:
            return finished(_BAD_PARAMETER_EXIT, stderr=(
                f"-{word[1:]} : The term '-{word[1:]}' is not recognized as the name of a cmdlet, function, "
                "script file, or operable program. Check the spelling of the name, or if a path was included, "
                "verify that the path is correct and try again.\r\n").encode())
        if name == "encodedcommand":
            if i + 1 >= len(args):
                return _missing_value(word)
            return _encoded(machine, args[i + 1])
        if name == "command":
            rest = args[i + 1:]
            if rest == ["-"]:
                return Process(lambda stdin: scripts.from_stdin(machine, stdin), name=f"ps-stdin@{machine.name}",
                               start_delay=machine.powershell_start())
            return scripts.run(machine, " ".join(rest), machine.powershell_start())
        if name == "file":
            target = args[i + 1] if i + 1 < len(args) else ""
            return finished(_BAD_PARAMETER_EXIT, stderr=(
                f"The argument '{target}' to the -File parameter does not exist. Provide the path to an existing "
                "'.ps1' file as an argument to the -File parameter.\r\n").encode())
        count = _PARAMETERS[name]
        if i + count >= len(args):
            return _missing_value(word)
        i += 1 + count
    return finished(1, stderr=b"vmrepair emulator: an interactive PowerShell session is not available.\r\n")


def _encoded(machine: Machine, value: str) -> Process:
    try:
        script = base64.b64decode(value, validate=True).decode("utf-16-le")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return finished(_BAD_PARAMETER_EXIT, stderr=(
            b"Cannot process the command because the value specified with -EncodedCommand is not properly "
            b"encoded. The value must be Base64 encoded.\r\n"))
    if ansible_exec.is_bootstrap(script):
        return Process(lambda stdin: ansible_exec.run(machine, stdin), name=f"ansible@{machine.name}",
                       start_delay=machine.powershell_start())
    return scripts.run(machine, script, machine.powershell_start())


def _missing_value(word: str) -> Process:
    return finished(_BAD_PARAMETER_EXIT, stderr=(
        f"Missing an argument for parameter '{word[1:]}'. Specify a parameter of type 'System.String' "
        "and try again.\r\n").encode())


def _parameter(word: str) -> str | None:
    """powershell.exe accepts any unambiguous prefix of a parameter name, and a few short aliases."""
    key = word.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key in _PARAMETERS:
        return key
    matches = [name for name in _PARAMETERS if name.startswith(key)]
    return matches[0] if len(matches) == 1 else None


def _split_command_line(command: str) -> list[str]:
    """Windows command-line words: whitespace separates, double quotes group (no escapes needed here)."""
    words, current, quoted, has_word = [], [], False, False
    for char in command.strip():
        if char == '"':
            quoted = not quoted
            has_word = True
        elif char in " \t" and not quoted:
            if has_word:
                words.append("".join(current))
                current, has_word = [], False
        else:
            current.append(char)
            has_word = True
    if has_word:
        words.append("".join(current))
    return words
