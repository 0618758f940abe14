"""powershell/find_dumps.ps1 v1: bring offline disks online, find the Windows volumes other than
the system drive, list <vol>\\Windows\\MEMORY.DMP and <vol>\\Windows\\Minidump\\*.dmp."""

from __future__ import annotations

from ..machine import SYSTEM_DRIVE, Machine
from ._common import ScriptRun, json_line

NAME = "find_dumps"
VERSION = 1
_HIVE = "Windows\\System32\\config\\SYSTEM"


def run(machine: Machine, params: dict | None) -> ScriptRun:
    machine.bring_offline_disks_online()
    volumes, dumps = [], []
    for mounted in machine.volumes():
        if mounted.drive_letter == SYSTEM_DRIVE:
            continue
        letter = mounted.drive_letter
        windows = f"{letter}:\\Windows"
        with machine.open_volume(letter) as volume:
            if not _is_file(volume, _HIVE):
                continue
            volumes.append({"disk_number": mounted.disk_number, "drive_letter": letter, "windows_dir": windows})
            if _is_file(volume, "Windows\\MEMORY.DMP"):
                dumps.append(_dump(f"{windows}\\MEMORY.DMP", "memory", volume.stat("Windows\\MEMORY.DMP")))
            if _is_dir(volume, "Windows\\Minidump"):
                for entry in volume.list_dir("Windows\\Minidump"):
                    if not entry.is_dir and entry.name.lower().endswith(".dmp"):
                        dumps.append(_dump(f"{windows}\\Minidump\\{entry.name}", "minidump", entry))
    yield "stdout", json_line({"windows_volumes": volumes, "dumps": dumps})
    return 0


def _dump(path: str, kind: str, info) -> dict:
    return {"path": path, "kind": kind, "size": info.size, "last_write_time_utc": info.last_write_time_utc}


def _is_file(volume, path: str) -> bool:
    return volume.exists(path) and not volume.stat(path).is_dir


def _is_dir(volume, path: str) -> bool:
    return volume.exists(path) and volume.stat(path).is_dir
