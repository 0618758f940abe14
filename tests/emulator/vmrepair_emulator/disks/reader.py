"""Read-only access to the NTFS volumes inside a fixed VHD (dissect.hypervisor, .volume, .ntfs).

Paths are relative to the volume root, with `\\` or `/`, matched case-insensitively as NTFS does.
Files are opened as seekable streams that read on demand: nothing reads a whole file.
Each Volume owns its own file handle; dissect's streams are not safe to share between threads,
so give every concurrent reader its own Volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path
from typing import BinaryIO

from dissect.hypervisor.disk.vhd import VHD
from dissect.ntfs import NTFS
from dissect.ntfs.exceptions import Error as NtfsError
from dissect.volume.disk import Disk
from dissect.volume.exceptions import Error as VolumeError

from .vhd import read_footer

_FIRST_USER_RECORD = 24  # MFT records 0-23 are NTFS metadata ($MFT, $Bitmap, the root's "." ...)


class NotAVolumeError(ValueError):
    """The file is not a fixed VHD, has no partition table, or no NTFS partition."""


@dataclass(frozen=True)
class PartitionInfo:
    number: int  # 1-based, as Get-Partition numbers them
    offset: int
    size: int
    type: int | str


@dataclass(frozen=True)
class FileInfo:
    name: str
    is_dir: bool
    size: int
    last_write_time: datetime  # UTC

    @property
    def last_write_time_utc(self) -> str:
        return self.last_write_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _disk(vhd_path: Path, fh) -> Disk:
    try:
        read_footer(vhd_path)
        return Disk(VHD(fh))
    except (ValueError, VolumeError, EOFError) as exc:
        raise NotAVolumeError(f"{vhd_path}: {exc}") from None


def list_partitions(vhd_path: Path) -> list[PartitionInfo]:
    """The disk's partitions; none when it has no partition table (a blank disk)."""
    with open(vhd_path, "rb") as fh:
        try:
            disk = _disk(Path(vhd_path), fh)
        except NotAVolumeError:
            read_footer(vhd_path)  # still refuses a file that is not a VHD at all
            return []
        return [PartitionInfo(p.number, p.offset, p.size, p.type if isinstance(p.type, int) else str(p.type))
                for p in disk.partitions]


class Volume:
    """One NTFS partition of a VHD, opened read-only."""

    def __init__(self, vhd_path: Path, partition_number: int | None = None) -> None:
        self.vhd_path = Path(vhd_path)
        self._fh = open(self.vhd_path, "rb")  # noqa: SIM115 - owned by the Volume until close()
        try:
            disk = _disk(self.vhd_path, self._fh)
            candidates = [(p.number, p) for p in disk.partitions]
            if partition_number is not None:
                candidates = [(n, p) for n, p in candidates if n == partition_number]
            for number, partition in candidates:
                try:
                    self._fs = NTFS(partition.open())
                except (NtfsError, EOFError, ValueError):
                    continue
                self.partition_number = number
                self.size = partition.size
                break
            else:
                raise NotAVolumeError(f"{self.vhd_path}: no NTFS volume"
                                      + (f" in partition {partition_number}" if partition_number else ""))
        except BaseException:
            self._fh.close()
            raise

    def __enter__(self) -> Volume:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    @property
    def label(self) -> str:
        return self._fs.volume_name or ""

    @property
    def serial(self) -> int:
        return self._fs.serial

    def _record(self, path: str):
        clean = "\\".join(p for p in path.replace("/", "\\").split("\\") if p)
        if not clean:
            return self._fs.mft.root
        try:
            return self._fs.mft.get(clean)
        except NotADirectoryError as exc:
            raise FileNotFoundError(path) from exc
        except KeyError as exc:
            raise FileNotFoundError(path) from exc

    def exists(self, path: str) -> bool:
        try:
            self._record(path)
            return True
        except FileNotFoundError:
            return False

    def stat(self, path: str) -> FileInfo:
        record = self._record(path)
        names = record.filenames(ignore_dos=True) if record.segment >= _FIRST_USER_RECORD else []
        return self._info(record, names[0] if names else "\\")

    def list_dir(self, path: str = "") -> list[FileInfo]:
        """Entries of a directory (long names only, NTFS metadata files left out), sorted by name."""
        record = self._record(path)
        if not record.is_dir():
            raise NotADirectoryError(path)
        seen: dict[int, FileInfo] = {}
        for entry in record.iterdir(ignore_dos=True):
            child = entry.dereference()
            segment = child.segment
            if segment < _FIRST_USER_RECORD or segment in seen:
                continue
            seen[segment] = self._info(child, entry.attribute.file_name)
        return sorted(seen.values(), key=lambda info: info.name.lower())

    def open(self, path: str) -> BinaryIO:
        """A seekable, read-on-demand stream of the file's data."""
        record = self._record(path)
        if record.is_dir():
            raise IsADirectoryError(path)
        return record.open()

    @staticmethod
    def _info(record, name: str) -> FileInfo:
        is_dir = record.is_dir()
        standard = record.attributes.STANDARD_INFORMATION
        modified = standard[0].last_modification_time if standard else datetime(1601, 1, 1, tzinfo=UTC)
        return FileInfo(name=name, is_dir=is_dir, size=0 if is_dir else record.size(),
                        last_write_time=modified.astimezone(UTC))
