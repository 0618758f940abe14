"""powershell/enable_winrm_https.ps1 v1: self-signed certificate, HTTPS listener on 5986, firewall
rule, NTLM on and Basic off; prints {"thumbprint", "certificate", "listener"}."""

from __future__ import annotations

from ..machine import Machine
from ._common import ScriptError, ScriptRun, json_line, param

NAME = "enable_winrm_https"
VERSION = 1


def run(machine: Machine, params: dict | None) -> ScriptRun:
    value = param(params, "subject_names")
    # @($VmrepairParams.subject_names | Where-Object { $_ }): a single value is a list of one; empty entries go.
    names = [str(n) for n in (value if isinstance(value, list) else [value]) if n]
    if not names:
        raise ScriptError("subject_names must name at least one IP address or DNS name.")
    yield "stdout", json_line(machine.enable_winrm_https(names))
    return 0
