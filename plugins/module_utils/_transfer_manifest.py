# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifest beside a partial download: which chunks of which remote file are verified.

``<dest>.part`` holds the chunks received so far at their offsets; ``<dest>.part.manifest.json``
names the remote file (path, size, SHA-256, last write time) and the chunk size, and lists the
offsets of the chunks whose SHA-256 matched. A re-run resumes only when the manifest names the
same remote file; otherwise the partial file belongs to something else and is never appended to.
"""

from __future__ import annotations

import json
import os
import typing as t
from dataclasses import dataclass, field

MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(part_path: str) -> str:
    """Where the manifest of a partial file lives."""
    return part_path + MANIFEST_SUFFIX


@dataclass
class TransferManifest:
    """What is known about a partial file. ``verified`` holds chunk offsets."""

    remote_path: str
    size: int
    remote_sha256: str
    last_write_time_utc: str | None
    chunk_size: int
    verified: set[int] = field(default_factory=set)

    def to_json(self) -> dict[str, t.Any]:
        return {
            "version": MANIFEST_VERSION,
            "remote_path": self.remote_path,
            "size": self.size,
            "remote_sha256": self.remote_sha256,
            "last_write_time_utc": self.last_write_time_utc,
            "chunk_size": self.chunk_size,
            "verified_offsets": sorted(self.verified),
        }

    @classmethod
    def from_json(cls, data: t.Any) -> TransferManifest:
        """Rebuild a manifest; ValueError when the data is not one this version wrote."""
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            raise ValueError("not a version-1 transfer manifest")
        try:
            size = int(data["size"])
            chunk_size = int(data["chunk_size"])
            offsets = {int(o) for o in data["verified_offsets"]}
            manifest = cls(
                remote_path=str(data["remote_path"]),
                size=size,
                remote_sha256=str(data["remote_sha256"]).lower(),
                last_write_time_utc=data.get("last_write_time_utc"),
                chunk_size=chunk_size,
                verified=offsets,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"transfer manifest is incomplete: {error}") from None
        if size < 0 or chunk_size <= 0:
            raise ValueError("transfer manifest has a negative size or a non-positive chunk size")
        if any(o < 0 or o >= max(size, 1) or o % chunk_size for o in offsets):
            raise ValueError("transfer manifest lists an offset that is not a chunk of the file")
        return manifest

    def mismatch(self, remote_path: str, size: int, remote_sha256: str, last_write_time_utc: str | None) -> str | None:
        """Why this manifest does not describe the given remote file, or None when it does."""
        if self.remote_path.lower() != remote_path.lower():
            return f"it is for {self.remote_path}, not {remote_path}"
        if self.size != size:
            return f"it is for a {self.size}-byte file, and {remote_path} now has {size} bytes"
        if self.remote_sha256 != remote_sha256.lower():
            return f"it is for a file with SHA-256 {self.remote_sha256}, and {remote_path} now has {remote_sha256.lower()}"
        if (self.last_write_time_utc or None) != (last_write_time_utc or None):
            return (f"it is for a file last written {self.last_write_time_utc}, and {remote_path} was last "
                    f"written {last_write_time_utc}")
        return None

    def verified_bytes(self) -> int:
        return sum(min(self.chunk_size, self.size - offset) for offset in self.verified)


def load_manifest(path: str) -> TransferManifest | None:
    """The manifest at ``path``; None when there is none. ValueError when it is unreadable."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"unreadable transfer manifest: {error}") from None
    return TransferManifest.from_json(data)


def save_manifest(path: str, manifest: TransferManifest, durable: bool = True) -> None:
    """Write the manifest atomically (temp file, rename): a killed run leaves the old or the new one.

    ``durable`` also fsyncs it, so that it survives a crash of the machine, not only of the process.
    """
    temp = f"{path}.tmp"
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(manifest.to_json(), handle, separators=(",", ":"))
        handle.flush()
        if durable:
            os.fsync(handle.fileno())
    os.replace(temp, path)
