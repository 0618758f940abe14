"""Backing files of managed disks and snapshots: `<root>/<name>-<hash>.vhd`, fixed VHDs.

Every open of a disk file for writing goes through this store and is recorded in `writes` (disk
id, reason, time), so tests can prove that the source VM's OS disk was never written. Copies
open the source read-only and keep holes (or reflink where the filesystem can).
Disk ids are compared case-insensitively, as ARM resource ids are.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO
from collections.abc import Iterator

from .sparse_copy import copy_sparse
from .vhd import FOOTER_SIZE, build_footer

_MIB = 1024 * 1024
_HASH_CHUNK = 4 << 20


class UnknownDiskError(KeyError):
    pass


class DiskExistsError(ValueError):
    pass


@dataclass(frozen=True)
class DiskWrite:
    disk_id: str
    reason: str
    at: float  # time.time()

    def to_dict(self) -> dict:
        return asdict(self)


class DiskStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._paths: dict[str, Path] = {}
        self._ids: dict[str, str] = {}  # key -> disk id as first given
        self._pending: set[str] = set()
        self._writes: list[DiskWrite] = []

    # --- queries -----------------------------------------------------------------------------

    def path(self, disk_id: str) -> Path:
        with self._lock:
            try:
                return self._paths[_key(disk_id)]
            except KeyError:
                raise UnknownDiskError(disk_id) from None

    def __contains__(self, disk_id: object) -> bool:
        with self._lock:
            return isinstance(disk_id, str) and _key(disk_id) in self._paths

    def ids(self) -> list[str]:
        with self._lock:
            return [self._ids[key] for key in self._paths]

    @property
    def writes(self) -> list[DiskWrite]:
        """Every open-for-write so far (a copy of the list)."""
        with self._lock:
            return list(self._writes)

    def writes_to(self, disk_id: str) -> list[DiskWrite]:
        key = _key(disk_id)
        return [w for w in self.writes if _key(w.disk_id) == key]

    def size(self, disk_id: str) -> int:
        """The disk's virtual size (the file without its VHD footer)."""
        return self.path(disk_id).stat().st_size - FOOTER_SIZE

    def sha256(self, disk_id: str) -> str:
        digest = hashlib.sha256()
        with self.open_read(disk_id) as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def describe(self) -> dict[str, dict]:
        """For the control API: {disk_id: {"path", "sha256", "writes"}}."""
        result = {}
        for disk_id in self.ids():
            try:
                result[disk_id] = {"path": str(self.path(disk_id)), "sha256": self.sha256(disk_id),
                                   "writes": [w.to_dict() for w in self.writes_to(disk_id)]}
            except (UnknownDiskError, FileNotFoundError):
                continue  # deleted meanwhile
        return result

    def open_read(self, disk_id: str) -> BinaryIO:
        return open(self.path(disk_id), "rb")

    # --- changes -----------------------------------------------------------------------------

    def adopt(self, disk_id: str, source: Path, reason: str = "create from image") -> Path:
        """Make a new disk whose content is a copy of the file `source` (e.g. a cached OS image)."""
        with self._creating(disk_id, reason) as target:
            copy_sparse(Path(source), target)
        return self.path(disk_id)

    def create_empty(self, disk_id: str, size_bytes: int, reason: str = "create empty") -> Path:
        """A new all-zero disk of `size_bytes` (a whole number of MiB, as Azure requires)."""
        if size_bytes <= 0 or size_bytes % _MIB:
            raise ValueError(f"a disk's size is a positive whole number of MiB, not {size_bytes} bytes")
        with self._creating(disk_id, reason) as target, open(target, "xb") as fh:
            fh.truncate(size_bytes)
            fh.seek(size_bytes)
            fh.write(build_footer(size_bytes, os.urandom(16)))
        return self.path(disk_id)

    def copy(self, src_id: str, dst_id: str, reason: str = "copy") -> Path:
        """A new disk `dst_id` with the content of `src_id`; the source is only read."""
        source = self.path(src_id)
        with self._creating(dst_id, f"{reason} of {src_id}") as target:
            copy_sparse(source, target)
        return self.path(dst_id)

    @contextmanager
    def open_write(self, disk_id: str, reason: str) -> Iterator[BinaryIO]:
        """Open an existing disk for writing (recorded)."""
        path = self.path(disk_id)
        self._record(disk_id, reason)
        with open(path, "r+b") as fh:
            yield fh

    def delete(self, disk_id: str) -> None:
        with self._lock:
            key = _key(disk_id)
            path = self._paths.pop(key, None)
            self._ids.pop(key, None)
        if path is None:
            raise UnknownDiskError(disk_id)
        path.unlink(missing_ok=True)

    # --- internals ---------------------------------------------------------------------------

    @contextmanager
    def _creating(self, disk_id: str, reason: str) -> Iterator[Path]:
        """Reserve `disk_id`, let the caller write the file (outside the lock), then publish it."""
        key = _key(disk_id)
        with self._lock:
            if key in self._paths or key in self._pending:
                raise DiskExistsError(f"disk {disk_id} already exists")
            self._pending.add(key)
        target = self.root / _file_name(disk_id)
        partial = target.with_suffix(".partial")
        try:
            self._record(disk_id, reason)
            partial.unlink(missing_ok=True)
            yield partial
            os.replace(partial, target)
            with self._lock:
                self._paths[key] = target
                self._ids[key] = disk_id
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            with self._lock:
                self._pending.discard(key)

    def _record(self, disk_id: str, reason: str) -> None:
        with self._lock:
            self._writes.append(DiskWrite(disk_id, reason, time.time()))


def _key(disk_id: str) -> str:
    return disk_id.lower()


def _file_name(disk_id: str) -> str:
    """`<last id segment>-<8 hex of the id>.vhd`: readable, and unique across resource groups."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", disk_id.rstrip("/").rsplit("/", 1)[-1])[:80] or "disk"
    return f"{name}-{hashlib.sha1(_key(disk_id).encode()).hexdigest()[:8]}.vhd"
