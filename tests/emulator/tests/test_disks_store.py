"""DiskStore: copies leave the source untouched and unrecorded, holes stay holes, ids are case-insensitive."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from vmrepair_emulator.disks import vhd
from vmrepair_emulator.disks.image import build_os_disk_image
from vmrepair_emulator.disks.reader import Volume
from vmrepair_emulator.disks.store import DiskExistsError, DiskStore, UnknownDiskError

MIB = 1024 * 1024
SOURCE = "/subscriptions/s/resourceGroups/prod-rg/providers/Microsoft.Compute/disks/web-01_OsDisk_1"
COPY = "/subscriptions/s/resourceGroups/vmrepair-rg/providers/Microsoft.Compute/disks/web-01-repair-copy"
SPEC = {"volume_size_mb": 48, "memory_dump": {"size_mb": 8, "dump_type": "kernel"},
        "minidumps": [], "files": {}}


@pytest.fixture(scope="module")
def os_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_os_disk_image(SPEC, tmp_path_factory.getbasetemp() / "os-images")


@pytest.fixture
def store(tmp_path: Path, os_image: Path) -> DiskStore:
    disks = DiskStore(tmp_path / "disks")
    disks.adopt(SOURCE, os_image)
    return disks


def test_copy_reads_the_source_only(store: DiskStore) -> None:
    before = store.sha256(SOURCE)
    writes_before = store.writes
    store.copy(SOURCE, COPY)
    assert store.sha256(SOURCE) == before
    assert store.sha256(COPY) == before
    new_writes = store.writes[len(writes_before):]
    assert [w.disk_id for w in new_writes] == [COPY]
    assert store.writes_to(SOURCE) == writes_before  # only its own creation
    with Volume(store.path(COPY)) as volume:
        assert volume.stat("Windows/MEMORY.DMP").size == 8 * MIB


def test_copy_keeps_holes(store: DiskStore) -> None:
    store.copy(SOURCE, COPY)
    source, copied = store.path(SOURCE).stat(), store.path(COPY).stat()
    assert copied.st_size == source.st_size
    assert copied.st_blocks * 512 < copied.st_size / 2, "the copy was written out in full"
    assert copied.st_blocks <= source.st_blocks + 64


def test_writes_are_recorded_with_a_reason(store: DiskStore) -> None:
    store.copy(SOURCE, COPY)
    with store.open_write(COPY, "enable crash dump") as fh:
        fh.seek(MIB)
        fh.write(b"x")
    reasons = [w.reason for w in store.writes_to(COPY)]
    assert reasons == [f"copy of {SOURCE}", "enable crash dump"]
    assert store.sha256(COPY) != store.sha256(SOURCE)


def test_ids_are_case_insensitive_and_unique(store: DiskStore) -> None:
    assert store.path(SOURCE.upper()) == store.path(SOURCE)
    assert SOURCE.lower() in store
    with pytest.raises(DiskExistsError):
        store.copy(SOURCE, SOURCE.upper())
    with pytest.raises(UnknownDiskError):
        store.copy("/subscriptions/s/nope", COPY)
    assert COPY not in store


def test_create_empty_is_a_fixed_vhd_of_that_size(store: DiskStore) -> None:
    path = store.create_empty("data-1", 32 * MIB)
    footer = vhd.read_footer(path)
    assert footer["current_size"] == 32 * MIB == store.size("data-1")
    assert path.stat().st_blocks * 512 < MIB  # sparse
    with pytest.raises(ValueError):
        store.create_empty("data-2", 32 * MIB + 512)


def test_delete(store: DiskStore) -> None:
    store.copy(SOURCE, COPY)
    path = store.path(COPY)
    store.delete(COPY)
    assert not path.exists() and COPY not in store
    with pytest.raises(UnknownDiskError):
        store.delete(COPY)
    store.copy(SOURCE, COPY)  # the id is free again


def test_parallel_copies(store: DiskStore) -> None:
    errors: list[BaseException] = []

    def copy(i: int) -> None:
        try:
            store.copy(SOURCE, f"copy-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=copy, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    digest = store.sha256(SOURCE)
    assert {store.sha256(f"copy-{i}") for i in range(6)} == {digest}
    assert not list(store.root.glob("*.partial"))


def test_describe_for_the_control_api(store: DiskStore) -> None:
    store.copy(SOURCE, COPY)
    described = store.describe()
    assert set(described) == {SOURCE, COPY}
    assert described[COPY]["sha256"] == described[SOURCE]["sha256"]
    assert os.path.exists(described[COPY]["path"])
    assert [w["reason"] for w in described[SOURCE]["writes"]] == ["create from image"]
