"""powershell/find_dumps.ps1 v2: bring offline disks online, find the Windows volumes other than the
system drive, read CrashControl from each one's offline SYSTEM hive (the ControlSet Select\\Current
names), and list the dumps it configures with the first bytes of each."""

from __future__ import annotations

import base64
import re

from dissect.regf import RegistryHive

from ..machine import SYSTEM_DRIVE, Machine
from ._common import ScriptRun, json_line

NAME = "find_dumps"
VERSION = 2
_HIVE = "Windows\\System32\\config\\SYSTEM"
_DEFAULT_DUMP_FILE = "%SystemRoot%\\MEMORY.DMP"
_DEFAULT_MINIDUMP_DIR = "%SystemRoot%\\Minidump"
_DEFAULT_HEADER_BYTES = 12288
# What reg.exe load prints for a file that is not a hive (ERROR_BADDB).
_BAD_HIVE = "ERROR: The configuration registry database is corrupt."


def run(machine: Machine, params: dict | None) -> ScriptRun:
    header_bytes = int((params or {}).get("header_bytes", _DEFAULT_HEADER_BYTES))
    machine.bring_offline_disks_online()
    volumes: list[dict] = []
    dumps: list[dict] = []
    not_found: list[dict] = []
    for mounted in machine.volumes():
        if mounted.drive_letter == SYSTEM_DRIVE:
            continue
        letter = mounted.drive_letter
        windows = f"{letter}:\\Windows"
        with machine.open_volume(letter) as volume:
            if not _is_file(volume, _HIVE):
                continue
            control, error = _crash_control(volume, f"{windows}\\System32\\config\\SYSTEM")
            volumes.append({"disk_number": mounted.disk_number, "drive_letter": letter, "windows_dir": windows,
                            "crash_control": control, "crash_control_error": error})
            seen: set[str] = set()

            def add(path: str, kind: str, source: str) -> None:
                place, why = _resolve(path, letter)
                if place is None:
                    not_found.append({"path": path, "kind": kind, "source": source, "why": why})
                    return
                if place.lower() in seen:
                    return
                seen.add(place.lower())
                inside = place[3:]
                if not _is_file(volume, inside):
                    not_found.append({"path": place, "kind": kind, "source": source, "why": "no such file"})
                    return
                info = volume.stat(inside)
                dumps.append({"path": place, "kind": kind, "source": source, "size": info.size,
                              "last_write_time_utc": info.last_write_time_utc,
                              "header_base64": _header(volume, inside, info.size, header_bytes)})

            dump_file, minidump_dir = _DEFAULT_DUMP_FILE, _DEFAULT_MINIDUMP_DIR
            if control:
                dump_file = control["dump_file"] or dump_file
                minidump_dir = control["minidump_dir"] or minidump_dir
                if control["dedicated_dump_file"]:
                    add(control["dedicated_dump_file"], "dedicated", "DedicatedDumpFile")
            add(dump_file, "memory", "DumpFile" if control and control["dump_file"] else "default")
            add(_DEFAULT_DUMP_FILE, "memory", "default")
            place, why = _resolve(minidump_dir, letter)
            if place is None:
                not_found.append({"path": minidump_dir, "kind": "minidump", "source": "MinidumpDir", "why": why})
            elif _is_dir(volume, place[3:]):
                for entry in sorted(volume.list_dir(place[3:]), key=lambda e: e.name):
                    if not entry.is_dir and entry.name.lower().endswith(".dmp"):
                        add(f"C:\\{place[3:]}\\{entry.name}", "minidump", "MinidumpDir")
    yield "stdout", json_line({"windows_volumes": volumes, "dumps": dumps, "not_found": not_found})
    return 0


def _crash_control(volume, hive_path: str) -> tuple[dict | None, str | None]:
    try:
        with volume.open(_HIVE) as stream:
            hive = RegistryHive(stream)
            try:
                current = int(hive.open("Select").value("Current").value)
            except Exception:  # dissect raises its own not-found errors
                return None, f"{hive_path} has no Select key"
            set_name = f"ControlSet{current:03d}"
            try:
                crash = hive.open(f"{set_name}\\Control\\CrashControl")
            except Exception:
                return None, (f"{hive_path} has no {set_name}\\Control\\CrashControl key "
                              f"(Select\\Current = {current})")
            values = {value.name.lower(): value.value for value in crash.values()}
    except Exception:  # not a hive at all: reg.exe load refuses it
        return None, f"reg.exe load of {hive_path} failed: {_BAD_HIVE}"
    enabled = values.get("crashdumpenabled")
    filter_pages = values.get("filterpages")
    return {
        "control_set": set_name,
        "crash_dump_enabled": enabled,
        "dump_type": _dump_type(enabled, filter_pages),
        "dump_file": values.get("dumpfile"),
        "minidump_dir": values.get("minidumpdir"),
        "dedicated_dump_file": values.get("dedicateddumpfile"),
        "filter_pages": filter_pages,
    }, None


def _dump_type(enabled, filter_pages) -> str:
    if enabled == 1:
        return "active" if filter_pages == 1 else "complete"
    return {0: "none", 2: "kernel", 3: "small", 7: "automatic"}.get(enabled, f"unknown ({enabled})")


def _resolve(path: str, letter: str) -> tuple[str | None, str | None]:
    """Resolve-BrokenPath: the broken VM's C: is the attached volume."""
    expanded = re.sub(r"%systemroot%", lambda _m: "C:\\Windows", path, flags=re.IGNORECASE)
    match = re.match(r"^[Cc]:\\(.*)$", expanded)
    if match:
        return f"{letter}:\\{match[1]}", None
    drive = re.match(r"^([A-Za-z]):", expanded)
    if drive:
        name = drive[1].upper()
        why = f"it is on drive {name}: of the broken VM, not on its OS disk"
        if name == "D":
            why += " (on Azure, D: is the temporary disk, which is not kept)"
        return None, why
    return None, f"'{path}' is not a path this script can place on the OS disk"


def _header(volume, path: str, size: int, header_bytes: int) -> str:
    if size <= 0 or header_bytes <= 0:
        return ""
    with volume.open(path) as stream:
        return base64.b64encode(stream.read(min(header_bytes, size))).decode("ascii")


def _is_file(volume, path: str) -> bool:
    return volume.exists(path) and not volume.stat(path).is_dir


def _is_dir(volume, path: str) -> bool:
    return volume.exists(path) and volume.stat(path).is_dir
