"""What a triage of a scenario VM should conclude, from what the emulator serves for it.

The scenario spec decides the console (tests/emulator/README.md, virtual_machines[]): this says which
status, stop code and source a correct triage reports for it, for tests and benchmarks that check the
collection's answers VM by VM. It follows the broken_vms inventory plugin's rules: only running Windows
VMs are triaged, and a serial log that shows EMS on without a stop record means no stop since boot.
"""
from __future__ import annotations

from typing import Any


def expected_triage(vm: dict[str, Any]) -> tuple[str, str | None, str | None] | None:
    """(triage status, stop code, source) for a scenario VM; None when the plugin lists no host for it."""
    if vm["os_type"] != "Windows" or vm["power_state"] != "running":
        return None
    if vm["boot_diagnostics"] == "disabled":
        return ("unknown", None, None)
    if vm["serial_log"] == "auto" and vm["ems"]:
        # The SAC banner, and the BLUESCREEN record when Windows stopped.
        return ("stop_screen", vm["stop_code"], "serial_log_ems") if vm["stop_code"] else ("no_stop_screen", None, None)
    shows = vm["screenshot"] if vm["screenshot"] != "auto" else ("stop" if vm["stop_code"] else "lock")
    if shows == "stop":
        return ("stop_screen", vm["stop_code"], "screenshot_ocr")  # OCR: stop_screen or stop_screen_uncertain
    if shows in ("lock", "boot_manager"):
        return ("no_stop_screen", None, None)
    return ("unknown", None, None)  # blank, or no screenshot yet


def plain(value: Any) -> Any:
    """ansible-inventory writes untrusted strings as {"__ansible_unsafe": ...}: the values themselves."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
