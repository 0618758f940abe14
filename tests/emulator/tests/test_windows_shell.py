"""windows.shell.execute: what powershell.exe accepts, and how everything else fails."""

from __future__ import annotations

import base64

import pytest
from ansible.plugins.shell.powershell import ShellModule, _parse_clixml

from vmrepair_emulator.windows import shell
from vmrepair_emulator.windows.machine import Machine

FIND_DUMPS = "# vmrepair.azure script: find_dumps v2\n$VmrepairParams = ConvertFrom-Json '{}'\nGet-Disk\n"


@pytest.fixture
def machine() -> Machine:
    return Machine("repair-vm", "REPAIR-VM", "127.0.0.1", "vmrepair", "pw")


def _encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def test_ansible_encoded_command(machine: Machine) -> None:
    parts = ShellModule()._encode_script(FIND_DUMPS, as_list=True, strict_mode=True, preserve_rc=True)
    assert parts[0] == "PowerShell" and "-EncodedCommand" in parts
    code, out, err = shell.execute(machine, parts[0], parts[1:]).communicate()
    assert (code, err) == (0, b"")
    assert out.startswith(b'{"windows_volumes":[]')


def test_pywinrm_run_ps_command_line(machine: Machine) -> None:
    """pywinrm's run_ps puts everything in the command: 'powershell -encodedcommand <b64>'."""
    code, out, _err = shell.execute(machine, f"powershell -encodedcommand {_encoded(FIND_DUMPS)}", []).communicate()
    assert code == 0 and b'"dumps":[]' in out


@pytest.mark.parametrize("program, flag", [
    ("powershell.exe", "-e"),
    ("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "-EncodedCommand"),
    ("POWERSHELL", "-enc"),
    ("PowerShell", "/EncodedCommand"),
])
def test_spellings_powershell_accepts(machine: Machine, program: str, flag: str) -> None:
    args = ["-NoLogo", "-ExecutionPolicy", "Bypass", flag, _encoded(FIND_DUMPS)]
    code, out, _err = shell.execute(machine, program, args).communicate()
    assert code == 0 and out.endswith(b"\n")


def test_command_from_stdin(machine: Machine) -> None:
    process = shell.execute(machine, "PowerShell", ["-NoProfile", "-Command", "-"])
    process.write_stdin(FIND_DUMPS.encode("utf-8")[:20])
    process.write_stdin(FIND_DUMPS.encode("utf-8")[20:], end=True)
    code, out, _err = process.communicate()
    assert code == 0 and b'"windows_volumes"' in out


def test_other_programs_fail_like_cmd(machine: Machine) -> None:
    code, out, err = shell.execute(machine, "ipconfig", ["/all"]).communicate()
    assert (code, out) == (1, b"")
    assert err == (b"'ipconfig' is not recognized as an internal or external command,\r\n"
                   b"operable program or batch file.\r\n")


def test_scripts_powershell_cannot_run_fail_with_a_clixml_error(machine: Machine) -> None:
    parts = ShellModule()._encode_script("Get-ChildItem C:\\", as_list=True)
    code, out, err = shell.execute(machine, parts[0], parts[1:]).communicate()
    assert (code, out) == (1, b"")
    assert err.startswith(b"#< CLIXML\r\n")
    message = _parse_clixml(err).decode()
    assert "cannot run this PowerShell script" in message and "find_dumps v2" in message


def test_plain_command_text_goes_to_the_script_dispatcher(machine: Machine) -> None:
    code, _out, err = shell.execute(machine, "powershell", ["-Command", "Get-Date"]).communicate()
    assert code == 1 and b"CLIXML" in err


def test_bad_base64(machine: Machine) -> None:
    code, _out, err = shell.execute(machine, "powershell", ["-EncodedCommand", "not base64!"]).communicate()
    assert code == 1 and b"not properly encoded" in err


def test_unknown_parameter_and_missing_value(machine: Machine) -> None:
    code, _out, err = shell.execute(machine, "powershell", ["-Bogus", "x"]).communicate()
    assert code == 1 and b"'-Bogus'" in err
    code, _out, err = shell.execute(machine, "powershell", ["-EncodedCommand"]).communicate()
    assert code == 1 and b"Missing an argument" in err
    code, _out, err = shell.execute(machine, "powershell", ["-File", "C:\\x.ps1"]).communicate()
    assert code == 1 and b"-File" in err


def test_no_command_is_not_a_silent_success(machine: Machine) -> None:
    code, _out, _err = shell.execute(machine, "powershell", ["-NoProfile"]).communicate()
    assert code == 1
