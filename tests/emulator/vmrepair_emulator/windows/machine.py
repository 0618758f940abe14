"""A simulated Windows Server 2022 repair VM: its disks, volumes and drive letters, and WinRM.

Disks as Get-Disk numbers them: 0 = OS disk (C:), 1 = temporary disk (D:), then the attached
data disks from 2 in LUN order. Data disks come up offline (SAN policy OfflineShared, the
Windows Server default); bringing one online gives each of its NTFS partitions the next free
drive letter from F:. C: and D: are simulated in memory (system_drive.py); data disks are real
fixed VHDs read through disks.reader.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from collections.abc import Callable

from ..disks.reader import FileInfo, Volume, list_partitions
from .certificate import SelfSignedCertificate, make_self_signed
from .system_drive import SimulatedVolume, system_volume, temporary_volume

SYSTEM_DRIVE = "C"
TEMP_DRIVE = "D"
FIRST_DATA_LETTER = "F"
WINRM_HTTPS_PORT = 5986
# MBR types and the GPT "basic data" type that Windows mounts (NTFS, FAT32, FAT16, exFAT/NTFS).
_MOUNTABLE_TYPES = {0x07, 0x0B, 0x0C, 0x06, 0x0E, "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"}

WinRmEnabled = Callable[["Machine", bytes, bytes], None]


class ReadableVolume(Protocol):
    def exists(self, path: str) -> bool: ...
    def stat(self, path: str) -> FileInfo: ...
    def list_dir(self, path: str = "") -> list[FileInfo]: ...
    def open(self, path: str): ...
    def close(self) -> None: ...


class DriveNotFoundError(FileNotFoundError):
    pass


@dataclass(frozen=True)
class AttachedDisk:
    lun: int
    disk_id: str
    vhd_path: Path
    read_only: bool = False  # what Windows reports as IsReadOnly


@dataclass
class DiskState:
    number: int
    kind: str  # "os" | "temp" | "data"
    is_offline: bool = False
    is_read_only: bool = False
    attached: AttachedDisk | None = None
    letters: dict[int, str] = field(default_factory=dict)  # partition number -> drive letter


@dataclass(frozen=True)
class MountedVolume:
    drive_letter: str
    disk_number: int
    partition_number: int
    kind: str  # "system" | "temp" | "data"
    vhd_path: Path | None = None


class Machine:
    def __init__(self, name: str, computer_name: str, private_ip: str, admin_username: str, admin_password: str,
                 data_disks: list[AttachedDisk] | tuple[AttachedDisk, ...] = (), *,
                 on_winrm_enabled: WinRmEnabled | None = None, os_build: str = "20348",
                 has_temp_disk: bool = True) -> None:
        self.name = name
        self.computer_name = computer_name
        self.private_ip = private_ip
        self.admin_username = admin_username
        self.admin_password = admin_password
        self.os_build = os_build
        # Seconds each powershell.exe takes to start (the emulator's powershell_start_s knob); 0 in unit tests.
        self.powershell_start: Callable[[], float] = lambda: 0.0
        self.lock = threading.RLock()
        # Bytes the scripts read from each file (path, lower case): how much a transfer really sent.
        self.file_reads: dict[str, int] = {}
        # Fault injection: the next N chunks read_file_chunks sends are damaged after their hash was taken.
        self.corrupt_chunks = 0
        # The CA file the machine trusts for outgoing HTTPS (in Azure: the public roots that sign
        # *.blob.core.windows.net; here the emulator's CA, which signs Azurite's certificate).
        self.trusted_ca_file: Path | None = None
        self._on_winrm_enabled = on_winrm_enabled
        self.winrm_certificate: SelfSignedCertificate | None = None
        self._system = system_volume()
        self._temp = temporary_volume() if has_temp_disk else None
        self._disks: list[DiskState] = [DiskState(0, "os", letters={1: SYSTEM_DRIVE})]
        if has_temp_disk:
            self._disks.append(DiskState(1, "temp", letters={1: TEMP_DRIVE}))
        for disk in sorted(data_disks, key=lambda d: d.lun):
            self.attach_disk(disk)

    # --- disks -------------------------------------------------------------------------------

    def attach_disk(self, disk: AttachedDisk) -> DiskState:
        """A data disk arrives: it gets the lowest free disk number and stays offline."""
        with self.lock:
            if any(d.attached and d.attached.lun == disk.lun for d in self._disks):
                raise ValueError(f"LUN {disk.lun} is already in use on {self.name}")
            used = {d.number for d in self._disks}
            number = next(n for n in range(len(used) + 1) if n not in used)
            state = DiskState(number, "data", is_offline=True, is_read_only=disk.read_only, attached=disk)
            self._disks.append(state)
            self._disks.sort(key=lambda d: d.number)
            return state

    def detach_disk(self, lun: int) -> None:
        with self.lock:
            self._disks = [d for d in self._disks if not (d.attached and d.attached.lun == lun)]

    def disks(self) -> list[DiskState]:
        with self.lock:
            return list(self._disks)

    def set_disk_offline(self, number: int, offline: bool) -> None:
        """Set-Disk -Number n -IsOffline $offline. Online: each mountable partition gets a letter."""
        with self.lock:
            disk = self._disk(number)
            if disk.kind != "data":
                if offline:
                    raise PermissionError(f"disk {number} holds the system or page file and cannot be taken offline")
                return
            disk.is_offline = offline
            if offline:
                disk.letters.clear()
                return
            for partition in list_partitions(disk.attached.vhd_path):
                if partition.type in _MOUNTABLE_TYPES and partition.number not in disk.letters:
                    disk.letters[partition.number] = self._next_free_letter()

    def bring_offline_disks_online(self) -> list[int]:
        """Get-Disk | Where-Object IsOffline | Set-Disk -IsOffline $false. Returns the numbers."""
        with self.lock:
            numbers = [d.number for d in self._disks if d.is_offline]
            for number in numbers:
                self.set_disk_offline(number, False)
            return numbers

    def _disk(self, number: int) -> DiskState:
        for disk in self._disks:
            if disk.number == number:
                return disk
        raise LookupError(f"No MSFT_Disk objects found with property 'Number' equal to '{number}'.")

    def _next_free_letter(self) -> str:
        used = {letter for d in self._disks for letter in d.letters.values()}
        for code in range(ord(FIRST_DATA_LETTER), ord("Z") + 1):
            if chr(code) not in used:
                return chr(code)
        raise RuntimeError("no free drive letter")

    # --- volumes and paths -------------------------------------------------------------------

    def volumes(self) -> list[MountedVolume]:
        """Every volume with a drive letter, by letter (Get-Partition | Where-Object DriveLetter)."""
        with self.lock:
            result = []
            for disk in self._disks:
                for partition, letter in disk.letters.items():
                    kind = {"os": "system", "temp": "temp"}.get(disk.kind, "data")
                    result.append(MountedVolume(letter, disk.number, partition, kind,
                                                disk.attached.vhd_path if disk.attached else None))
            return sorted(result, key=lambda v: v.drive_letter)

    def open_volume(self, drive_letter: str) -> ReadableVolume:
        """A reader for the volume behind `drive_letter`; close it when done (one per user/thread)."""
        letter = drive_letter.rstrip(":").upper()
        if letter == SYSTEM_DRIVE:
            return self._system
        if letter == TEMP_DRIVE and self._temp is not None:
            return self._temp
        for volume in self.volumes():
            if volume.drive_letter == letter and volume.vhd_path is not None:
                return Volume(volume.vhd_path, volume.partition_number)
        raise DriveNotFoundError(f"Cannot find drive. A drive with the name '{letter}' does not exist.")

    @staticmethod
    def split_path(path: str) -> tuple[str, str]:
        """'F:\\Windows\\MEMORY.DMP' -> ('F', 'Windows\\MEMORY.DMP'). Only absolute drive paths."""
        clean = path.replace("/", "\\")
        if len(clean) < 2 or clean[1] != ":" or not clean[0].isalpha():
            raise FileNotFoundError(f"Cannot find path '{path}' because it does not exist.")
        rest = "\\".join(p for p in clean[2:].split("\\") if p)
        if any(p in (".", "..") for p in rest.split("\\")):
            raise FileNotFoundError(f"Cannot find path '{path}' because it does not exist.")
        return clean[0].upper(), rest

    # --- WinRM -------------------------------------------------------------------------------

    def enable_winrm_https(self, subject_names: list[str]) -> dict[str, str]:
        """New self-signed certificate, HTTPS listener on 5986 with it (replacing any earlier one)."""
        certificate = make_self_signed(list(subject_names))
        with self.lock:
            self.winrm_certificate = certificate
        if self._on_winrm_enabled is not None:
            self._on_winrm_enabled(self, certificate.cert_pem, certificate.key_pem)
        return {"thumbprint": certificate.thumbprint,
                "certificate": _b64(certificate.der),
                "listener": f"https://{_url_host(subject_names[0])}:{WINRM_HTTPS_PORT}/wsman"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _url_host(name: str) -> str:
    return f"[{name}]" if ":" in name else name


def take_corruption(machine: "Machine") -> bool:
    """Whether to damage the chunk being sent (consumes one of machine.corrupt_chunks)."""
    with machine.lock:
        if machine.corrupt_chunks <= 0:
            return False
        machine.corrupt_chunks -= 1
        return True


def count_read(machine: "Machine", path: str, size: int) -> None:
    """Add `size` bytes read from `path` to the machine's file_reads."""
    key = path.replace("/", "\\").lower()
    with machine.lock:
        machine.file_reads[key] = machine.file_reads.get(key, 0) + size


__all__ = ["AttachedDisk", "count_read", "take_corruption", "DiskState", "DriveNotFoundError", "Machine", "MountedVolume", "SimulatedVolume"]
