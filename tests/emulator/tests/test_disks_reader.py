"""disks.reader.Volume: listing, stat, case-insensitive paths, streaming reads at offsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmrepair_emulator.disks.image import build_os_disk_image
from vmrepair_emulator.disks.reader import NotAVolumeError, Volume, list_partitions
from vmrepair_emulator.disks.store import DiskStore

SPEC = {"volume_size_mb": 32, "memory_dump": None,
        "minidumps": [{"name": "010126-1000-01.dmp", "size_kb": 64}, {"name": "010226-1000-01.dmp", "size_kb": 96}],
        "files": {"Windows/System32/config/SYSTEM": {"size_kb": 300}, "Windows/Logs/a.log": "line 1\r\nline 2\r\n"}}


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory):
    path = build_os_disk_image(SPEC, tmp_path_factory.getbasetemp() / "os-images")
    with Volume(path) as opened:
        yield opened


def test_list_dir_hides_ntfs_metadata(volume: Volume) -> None:
    root = [entry.name for entry in volume.list_dir("")]
    assert "Windows" in root
    assert not [name for name in root if name.startswith("$") or name == "."]
    minidumps = volume.list_dir("Windows\\Minidump")
    assert [(e.name, e.size, e.is_dir) for e in minidumps] == [
        ("010126-1000-01.dmp", 64 * 1024, False), ("010226-1000-01.dmp", 96 * 1024, False)]


def test_paths_are_case_insensitive_and_accept_both_separators(volume: Volume) -> None:
    assert volume.stat("WINDOWS/system32\\CONFIG/system").name == "SYSTEM"
    assert volume.exists("windows\\logs\\A.LOG")
    assert not volume.exists("Windows/nope")
    assert volume.stat("Windows").is_dir


def test_missing_paths_and_wrong_kinds(volume: Volume) -> None:
    with pytest.raises(FileNotFoundError):
        volume.stat("Windows/MEMORY.DMP")
    with pytest.raises(FileNotFoundError):
        volume.open("Windows/Logs/a.log/child")
    with pytest.raises(IsADirectoryError):
        volume.open("Windows")
    with pytest.raises(NotADirectoryError):
        volume.list_dir("Windows/Logs/a.log")


def test_reads_at_offsets_match_the_whole(volume: Volume) -> None:
    with volume.open("Windows/System32/config/SYSTEM") as stream:
        whole = stream.read()
    assert len(whole) == 300 * 1024
    with volume.open("Windows/System32/config/SYSTEM") as stream:
        for offset, length in ((0, 10), (4095, 2), (123_457, 70_001), (300 * 1024 - 5, 100)):
            stream.seek(offset)
            assert stream.read(length) == whole[offset:offset + length]


def test_two_volumes_on_one_file_read_independently(volume: Volume) -> None:
    with Volume(volume.vhd_path) as other:
        a, b = volume.open("Windows/Logs/a.log"), other.open("Windows/Logs/a.log")
        a.seek(8)
        assert b.read(6) == b"line 1"
        assert a.read(6) == b"line 2"


def test_not_a_volume(tmp_path: Path) -> None:
    junk = tmp_path / "junk.vhd"
    junk.write_bytes(b"\0" * 4096)
    with pytest.raises(NotAVolumeError):
        Volume(junk)
    with pytest.raises(ValueError):
        list_partitions(junk)
    blank = DiskStore(tmp_path / "disks").create_empty("blank", 8 * 1024 * 1024)
    assert list_partitions(blank) == []
    with pytest.raises(NotAVolumeError):
        Volume(blank)
