"""OS disk images: fixed VHD, MBR + NTFS at 1 MiB, the Windows layout, dumps read back byte for byte."""

from __future__ import annotations

import copy
import hashlib
import io
import struct
import subprocess
import threading
import tracemalloc
from datetime import datetime, UTC
from pathlib import Path

import pytest
from dissect.regf import RegistryHive
from dissect.hypervisor.disk.vhd import VHD
from dissect.ntfs import NTFS
from dissect.volume.disk import Disk

from vmrepair_emulator import dumpgen
from vmrepair_emulator.disks import vhd
from vmrepair_emulator.disks.image import build_os_disk_image, image_key
from vmrepair_emulator.disks.reader import Volume, list_partitions

MIB = 1024 * 1024
SPEC = {
    "name": "web-01_OsDisk_1_3f1c",
    "size_gb": 127,
    "sku": "Premium_LRS",
    "volume_size_mb": 64,
    "memory_dump": {"path": "Windows/MEMORY.DMP", "size_mb": 16, "dump_type": "kernel",
                    "bugcheck_code": "0xC000021A",
                    "bugcheck_parameters": ["0xFFFFC00012345678", "0xFFFFFFFFC0000005", "0x0", "0x0"],
                    "system_time": "2026-11-20T03:14:15Z", "processors": 2},
    "minidumps": [{"name": "112026-10000-01.dmp", "size_kb": 256, "bugcheck_code": "0xC000021A"}],
    "files": {"Windows/System32/config/SYSTEM": {"size_kb": 64},
              "Windows/Panther/unattend.xml": "<unattend>hello</unattend>"},
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "os-images"


@pytest.fixture(scope="module")
def built(cache_dir: Path) -> Path:
    return build_os_disk_image(SPEC, cache_dir)


def _sha256_stream(stream, chunk: int = MIB) -> str:
    digest = hashlib.sha256()
    while data := stream.read(chunk):
        digest.update(data)
    return digest.hexdigest()


def test_memory_dump_reads_back_byte_for_byte(built: Path) -> None:
    seed = int(image_key(SPEC)[:8], 16)
    expected = hashlib.sha256()
    for part in dumpgen.iter_crash_dump(dumpgen.spec_from_scenario(SPEC["memory_dump"], seed=seed)):
        expected.update(part)
    with Volume(built) as volume:
        info = volume.stat("Windows/MEMORY.DMP")
        assert info.size == 16 * MIB
        assert info.last_write_time == datetime(2026, 11, 20, 3, 14, 15, tzinfo=UTC)
        with volume.open("Windows\\MEMORY.DMP") as stream:
            assert _sha256_stream(stream) == expected.hexdigest()
            stream.seek(0x38)
            assert struct.unpack("<I", stream.read(4))[0] == 0xC000021A


def test_windows_layout(built: Path) -> None:
    with Volume(built) as volume:
        assert volume.label == "Windows"
        assert volume.stat("Windows/System32/config/SYSTEM").size == 64 * 1024
        minidump = volume.stat("Windows/Minidump/112026-10000-01.dmp")
        assert minidump.size == 256 * 1024
        with volume.open("Windows/Minidump/112026-10000-01.dmp") as stream:
            header = stream.read(0x1000)
        assert header[:8] == b"PAGEDU64" and struct.unpack_from("<I", header, 0xF98)[0] == 4
        with volume.open("Windows/Panther/unattend.xml") as stream:
            assert stream.read() == b"<unattend>hello</unattend>"


def test_fixed_vhd_with_mbr_and_ntfs_at_one_mib(built: Path) -> None:
    footer = vhd.read_footer(built)
    assert footer["disk_type"] == vhd.DISK_TYPE_FIXED
    assert footer["current_size"] == built.stat().st_size - 512 == MIB + 64 * MIB
    assert footer["current_size"] % MIB == 0
    partitions = list_partitions(built)
    assert [(p.number, p.offset, p.size, p.type) for p in partitions] == [(1, MIB, 64 * MIB, 0x07)]
    with open(built, "rb") as fh:
        disk = Disk(VHD(fh))
        boot = disk.partitions[0].open().read(512)
        assert boot[3:11] == b"NTFS    "
        assert struct.unpack_from("<I", boot, 0x1C)[0] == 2048  # hidden sectors = partition start
        NTFS(disk.partitions[0].open())  # parses


def test_qemu_reads_it_as_a_vhd_of_the_same_size(built: Path) -> None:
    qemu_img = subprocess.run(["qemu-img", "info", "--output=json", "-f", "vpc", str(built)],
                              capture_output=True, text=True, check=True)
    assert f'"virtual-size": {MIB + 64 * MIB}' in qemu_img.stdout


def test_built_once_per_content(built: Path, cache_dir: Path) -> None:
    stamp = built.stat().st_mtime_ns
    renamed = dict(SPEC, name="other-vm_OsDisk_1_0000", sku="Standard_LRS", size_gb=256)
    assert build_os_disk_image(renamed, cache_dir) == built
    assert built.stat().st_mtime_ns == stamp
    changed = copy.deepcopy(SPEC)
    changed["memory_dump"]["bugcheck_code"] = "0xEF"
    assert image_key(changed) != image_key(SPEC)


def test_no_dump_and_custom_files(cache_dir: Path) -> None:
    spec = {"volume_size_mb": 32, "memory_dump": None, "minidumps": [],
            "files": {"Windows/Temp/notes.txt": "hi"}}
    path = build_os_disk_image(spec, cache_dir)
    with Volume(path) as volume:
        assert not volume.exists("Windows/MEMORY.DMP")
        assert not volume.exists("Windows/Minidump")
        # Without crash_control the hive holds Windows' defaults in the ControlSet Select\\Current names.
        with volume.open("Windows/System32/config/SYSTEM") as stream:
            hive = RegistryHive(io.BytesIO(stream.read()))
        assert hive.open("Select").value("Current").value == 1
        crash = hive.open("ControlSet001\\Control\\CrashControl")
        assert crash.value("CrashDumpEnabled").value == 7
        assert crash.value("DumpFile").value == "%SystemRoot%\\MEMORY.DMP"
        assert hive.open("ControlSet002\\Control\\CrashControl").value("CrashDumpEnabled").value == 0
        with volume.open("windows/temp/NOTES.TXT") as stream:
            assert stream.read() == b"hi"


def test_concurrent_builders_share_one_build(tmp_path: Path) -> None:
    spec = {"volume_size_mb": 24, "files": {"Windows/a.txt": "a"}}
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(build_os_disk_image(spec, tmp_path)))
               for _thread_number in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 3
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".vhd") == [results[0].name]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("build-")]


def test_memory_use_does_not_grow_with_the_dump(tmp_path: Path) -> None:
    spec = {"volume_size_mb": 96, "memory_dump": {"size_mb": 64, "dump_type": "full"}}
    tracemalloc.start()
    try:
        build_os_disk_image(spec, tmp_path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * MIB, f"peak Python allocation {peak / MIB:.1f} MiB for a 64 MiB dump"
