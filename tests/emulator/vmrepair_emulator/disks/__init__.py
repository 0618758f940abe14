"""Managed-disk backing files: fixed VHDs holding an MBR and an NTFS volume (see ARCHITECTURE.md).

- store.DiskStore: the files of managed disks and snapshots, every write recorded.
- image.build_os_disk_image: a scenario VM's Windows OS disk, built once per content.
- reader.Volume: read-only NTFS access inside a VHD (dissect), streaming.
"""

from .image import build_os_disk_image
from .store import DiskStore

__all__ = ["DiskStore", "build_os_disk_image"]
