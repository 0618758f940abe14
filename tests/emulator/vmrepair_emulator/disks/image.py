"""Build the fixed VHD of a scenario VM's Windows OS disk (cached by content).

Layout: MBR at LBA 0, one NTFS partition (type 0x07, active) from LBA 2048 (1 MiB) to the end of
the disk, then the VHD footer. The NTFS volume is made by mkntfs (hidden sectors = 2048) and filled
through an ntfs-3g mount: Windows\\System32\\config\\SYSTEM, Windows\\MEMORY.DMP (dumpgen),
Windows\\Minidump\\*.dmp and the spec's extra files, with their last-write times. The SYSTEM hive is a
real registry hive (disks/regf.py) whose Select\\Current names the ControlSet with the spec's
CrashControl; the other ControlSet holds different, stale values, so a reader that does not
follow Select\\Current gets them wrong. A `files` entry for the hive's path replaces it.

The image depends only on the spec's content keys (volume size, dumps, files, OS build), not on
the disk's name, SKU or reported size, so a fleet of identical VMs shares one build.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import re
import shutil
import tempfile
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from .. import dumpgen
from . import ntfs3g, regf
from .mbr import SECTOR, MbrPartition, build_mbr
from .vhd import build_footer

# Bump when the layout or the generated contents change, so that cached images are rebuilt.
IMAGE_FORMAT_VERSION = 2
PARTITION_START_LBA = 2048
MIB = 1024 * 1024
SYSTEM_HIVE_PATH = "Windows/System32/config/SYSTEM"
FILES_TIME = datetime(2026, 11, 1, 8, 0, 0, tzinfo=UTC)  # last write of files not otherwise dated
_CONTENT_KEYS = ("volume_size_mb", "memory_dump", "minidumps", "files", "os_build", "crash_control")
DEFAULT_CRASH_CONTROL = {"current_control_set": 1, "crash_dump_enabled": 7, "dump_file": "%SystemRoot%\\MEMORY.DMP",
                         "minidump_dir": "%SystemRoot%\\Minidump", "dedicated_dump_file": None, "filter_pages": None}
_WRITE_CHUNK = 1 << 20


def image_key(os_disk_spec: dict[str, Any]) -> str:
    content = {key: os_disk_spec.get(key) for key in _CONTENT_KEYS}
    content["os_build"] = str(content["os_build"] or "20348")
    content["format"] = IMAGE_FORMAT_VERSION
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def build_os_disk_image(os_disk_spec: dict[str, Any], cache_dir: Path) -> Path:
    """The path of the cached fixed VHD for this spec, building it first if needed.

    `os_disk_spec` is a scenario's os_disk mapping (see ARCHITECTURE.md), optionally with
    `os_build` (the VM's build, written into the dumps' headers; default 20348).
    Safe to call from several threads or processes at once: one builds, the others wait.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = image_key(os_disk_spec)
    target = cache_dir / f"os-disk-{key}.vhd"
    if target.exists():
        return target
    with open(cache_dir / f"os-disk-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        work = Path(tempfile.mkdtemp(prefix=f"build-{key}-", dir=cache_dir))
        try:
            partial = work / "disk.vhd"
            _build(os_disk_spec, key, work, partial)
            os.replace(partial, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _build(spec: dict[str, Any], key: str, work: Path, out: Path) -> None:
    volume_bytes = int(spec.get("volume_size_mb") or 64) * MIB
    volume = work / "volume.ntfs"
    with open(volume, "wb") as fh:
        fh.truncate(volume_bytes)
    ntfs3g.make_ntfs(volume, partition_start_lba=PARTITION_START_LBA)
    with ntfs3g.mounted(volume, work) as root:
        _populate(root, spec, seed=int(key[:8], 16))

    disk_bytes = PARTITION_START_LBA * SECTOR + volume_bytes
    key_bytes = bytes.fromhex(key)
    mbr = build_mbr(int.from_bytes(key_bytes[:4], "little"),
                    [MbrPartition(PARTITION_START_LBA, volume_bytes // SECTOR, bootable=True)])
    _assemble(out, mbr, volume, disk_bytes, build_footer(disk_bytes, key_bytes[:16]))


def _assemble(out: Path, mbr: bytes, volume: Path, disk_bytes: int, footer: bytes) -> None:
    """MBR, then the volume's data extents at the partition offset (holes stay holes), then the footer."""
    offset = PARTITION_START_LBA * SECTOR
    src_fd = os.open(volume, os.O_RDONLY)
    dst_fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(dst_fd, disk_bytes)
        os.pwrite(dst_fd, mbr, 0)
        size = os.fstat(src_fd).st_size
        position = 0
        while position < size:
            try:
                start = os.lseek(src_fd, position, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(src_fd, start, os.SEEK_HOLE)
            while start < end:
                chunk = os.pread(src_fd, min(_WRITE_CHUNK, end - start), start)
                os.pwrite(dst_fd, chunk, offset + start)
                start += len(chunk)
            position = end
        os.pwrite(dst_fd, footer, disk_bytes)
        os.fsync(dst_fd)
    finally:
        os.close(src_fd)
        os.close(dst_fd)


def _populate(root: Path, spec: dict[str, Any], seed: int) -> None:
    os_build = spec.get("os_build") or 20348
    for directory in ("Windows/System32/config", "Windows/Temp", "Users/Public", "Program Files"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    crash_control = dict(DEFAULT_CRASH_CONTROL, **(spec.get("crash_control") or {}))

    hive = _place(root, SYSTEM_HIVE_PATH)
    hive.write_bytes(build_system_hive(crash_control))
    _set_time(hive, FILES_TIME)
    files = dict(spec.get("files") or {})
    for rel_path, entry in sorted(files.items()):
        target = _place(root, rel_path)
        if isinstance(entry, str):
            target.write_bytes(entry.encode("utf-8"))
        else:
            _write_pseudo_random(target, int(float(entry["size_kb"]) * 1024), seed ^ _path_seed(rel_path))
        _set_time(target, FILES_TIME)

    memory_dump = spec.get("memory_dump")
    crash_time = FILES_TIME
    if memory_dump:
        dump_spec = dumpgen.spec_from_scenario(memory_dump, os_build=os_build, seed=seed)
        crash_time = dump_spec.system_time
        target = _place(root, memory_dump.get("path") or "Windows/MEMORY.DMP")
        with open(target, "wb") as fh:
            written = memory_dump.get("written") or "complete"
            if written != "empty":
                dumpgen.write_crash_dump(fh, dump_spec)
            if written == "partial":
                # The machine stopped while writing: the header promises more than the file holds.
                fh.truncate(max(fh.tell() // 2, 8192))
        _set_time(target, dump_spec.system_time)

    minidump_dir = volume_path(crash_control["minidump_dir"]) or "Windows/Minidump"
    for index, minidump in enumerate(spec.get("minidumps") or []):
        dump_spec = dumpgen.minidump_spec_from_scenario(minidump, os_build=os_build, system_time=crash_time,
                                                        seed=seed + 1 + index)
        target = _place(root, f"{minidump_dir}/{minidump['name']}")
        with open(target, "wb") as fh:
            dumpgen.write_crash_dump(fh, dump_spec)
        _set_time(target, dump_spec.system_time)


def volume_path(windows_path: str) -> str | None:
    """The path inside the OS volume of a path as the broken VM saw it (C:), or None when elsewhere."""
    expanded = re.sub(r"%systemroot%", r"C:\\Windows", windows_path, flags=re.IGNORECASE)
    if not re.match(r"^[cC]:\\", expanded):
        return None
    return expanded[3:].replace("\\", "/")


def build_system_hive(crash_control: dict[str, Any]) -> bytes:
    """The SYSTEM hive: Select, the current ControlSet with `crash_control`, a stale other ControlSet."""
    current = int(crash_control["current_control_set"])
    other = current + 1 if current < 9 else current - 1
    root = regf.Key("ROOT")
    select = root.key("Select")
    for name, value in (("Current", current), ("Default", current), ("LastKnownGood", other), ("Failed", 0)):
        select.set_dword(name, value)
    for number, values in ((current, crash_control), (other, STALE_CRASH_CONTROL)):
        control = root.key(f"ControlSet{number:03d}\\Control")
        crash = control.key("CrashControl")
        crash.set_dword("CrashDumpEnabled", int(values["crash_dump_enabled"]))
        crash.set_string("DumpFile", values["dump_file"], expand=True)
        crash.set_string("MinidumpDir", values["minidump_dir"], expand=True)
        crash.set_dword("AutoReboot", 1)
        crash.set_dword("Overwrite", 1)
        if values.get("dedicated_dump_file"):
            crash.set_string("DedicatedDumpFile", values["dedicated_dump_file"])
        if values.get("filter_pages") is not None:
            crash.set_dword("FilterPages", int(values["filter_pages"]))
    return regf.build_hive(root, file_name="\\SystemRoot\\System32\\Config\\SYSTEM",
                           written=FILES_TIME.timestamp())


# What the ControlSet that Select\\Current does not name holds: a reader that takes it gets these.
STALE_CRASH_CONTROL = {"crash_dump_enabled": 0, "dump_file": "%SystemRoot%\\STALE.DMP",
                       "minidump_dir": "%SystemRoot%\\StaleMinidump"}


def _place(root: Path, rel_path: str) -> Path:
    parts = [p for p in rel_path.replace("\\", "/").split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"not a path inside the volume: {rel_path!r}")
    target = root.joinpath(*parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _write_pseudo_random(target: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(target, "wb") as fh:
        left = size
        while left > 0:
            n = min(_WRITE_CHUNK, left)
            fh.write(rng.randbytes(n))
            left -= n


def _path_seed(rel_path: str) -> int:
    return int.from_bytes(hashlib.sha256(rel_path.lower().encode()).digest()[:4], "little")


def _set_time(target: Path, moment: datetime) -> None:
    stamp = moment.timestamp()
    os.utime(target, (stamp, stamp))
