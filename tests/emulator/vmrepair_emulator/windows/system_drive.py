"""The repair VM's own drives (C: system, D: temporary storage), simulated in memory.

No real disk backs them: they hold only what scripts may look at, with the same read interface
as disks.reader.Volume (exists, stat, list_dir, open).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import BinaryIO

from ..disks.reader import FileInfo

_INSTALLED = datetime(2026, 10, 14, 9, 30, 0, tzinfo=UTC)
_TEMP_DISK_README = (
    "WARNING: THIS IS A TEMPORARY DISK.\r\n\r\n"
    "Any data stored on this drive is SUBJECT TO LOSS and THERE IS NO WAY TO RECOVER IT.\r\n\r\n"
    "Please do not use this disk for storing any personal or application data.\r\n"
).encode("ascii")


@dataclass(frozen=True)
class _Node:
    content: bytes | None  # None: a directory


class SimulatedVolume:
    def __init__(self, label: str, files: dict[str, bytes], directories: tuple[str, ...] = ()) -> None:
        self.label = label
        self._nodes: dict[str, tuple[str, _Node]] = {"": ("\\", _Node(None))}
        for directory in directories:
            self._add_dirs(directory)
        for path, content in files.items():
            parent, _backslash, name = _clean(path).rpartition("\\")
            self._add_dirs(parent)
            self._nodes[_key(path)] = (name, _Node(content))

    def _add_dirs(self, path: str) -> None:
        parts = [p for p in _clean(path).split("\\") if p]
        for i in range(1, len(parts) + 1):
            self._nodes.setdefault(_key("\\".join(parts[:i])), (parts[i - 1], _Node(None)))

    def _node(self, path: str) -> tuple[str, _Node]:
        try:
            return self._nodes[_key(path)]
        except KeyError:
            raise FileNotFoundError(path) from None

    def exists(self, path: str) -> bool:
        return _key(path) in self._nodes

    def stat(self, path: str) -> FileInfo:
        name, node = self._node(path)
        return _info(name, node)

    def list_dir(self, path: str = "") -> list[FileInfo]:
        _name, node = self._node(path)
        if node.content is not None:
            raise NotADirectoryError(path)
        prefix = _key(path)
        children = [(name, child) for key, (name, child) in self._nodes.items()
                    if key and key.rpartition("\\")[0] == prefix]
        return sorted((_info(name, child) for name, child in children), key=lambda i: i.name.lower())

    def open(self, path: str) -> BinaryIO:
        _name, node = self._node(path)
        if node.content is None:
            raise IsADirectoryError(path)
        return io.BytesIO(node.content)

    def close(self) -> None:
        pass

    def __enter__(self) -> SimulatedVolume:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def system_volume() -> SimulatedVolume:
    """C: of a Windows Server 2022 repair VM, as far as the collection's scripts can see."""
    return SimulatedVolume("Windows", {
        "Windows\\System32\\config\\SYSTEM": b"regf" + bytes(4092),
        "Windows\\System32\\drivers\\etc\\hosts": b"# Copyright (c) 1993-2009 Microsoft Corp.\r\n",
    }, directories=("Windows\\Temp", "Users\\Public", "Program Files", "WindowsAzure"))


def temporary_volume() -> SimulatedVolume:
    """D: "Temporary Storage", the VM's local resource disk."""
    return SimulatedVolume("Temporary Storage", {"DATALOSS_WARNING_README.txt": _TEMP_DISK_README})


def _clean(path: str) -> str:
    return "\\".join(p for p in path.replace("/", "\\").split("\\") if p)


def _key(path: str) -> str:
    return _clean(path).lower()


def _info(name: str, node: _Node) -> FileInfo:
    is_dir = node.content is None
    return FileInfo(name=name, is_dir=is_dir, size=0 if is_dir else len(node.content or b""),
                    last_write_time=_INSTALLED)
