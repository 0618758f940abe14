"""What the script implementations share: errors, parameters, paths and output lines.

Each collection script traps terminating errors and writes `$_.Exception.Message` to stderr with
[Console]::Error.WriteLine (CR LF), then exits 1; ScriptError stands for that. The messages are
the ones PowerShell or the .ps1 itself would print.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any
from collections.abc import Generator, Iterator

from ..machine import DriveNotFoundError, Machine, ReadableVolume

Output = tuple[str, bytes]
ScriptRun = Generator[Output, None, int]


class ScriptError(Exception):
    """A terminating error inside a collection script: message on stderr, exit code 1."""


def json_line(value: Any) -> bytes:
    """ConvertTo-Json -Compress, then "`n" (the scripts write LF, not Environment.NewLine)."""
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def param(params: dict | None, name: str) -> Any:
    """$VmrepairParams.<name> under Set-StrictMode -Version Latest."""
    if params is None:
        raise ScriptError("The variable '$VmrepairParams' cannot be retrieved because it has not been set.")
    if name not in params:
        raise ScriptError(f"The property '{name}' cannot be found on this object. Verify that the property exists.")
    return params[name]


def int_param(params: dict | None, name: str) -> int:
    """A JSON integer (ConvertFrom-Json gives [int] or [long]); anything else is refused."""
    value = param(params, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScriptError(f"{name} must be an integer, not {json.dumps(value)}.")
    return value


def str_param(params: dict | None, name: str) -> str:
    value = param(params, name)
    if not isinstance(value, str) or not value:
        raise ScriptError(f"{name} must be a non-empty string.")
    return value


@contextmanager
def volume_for(machine: Machine, path: str) -> Iterator[tuple[ReadableVolume, str]]:
    """The volume holding an absolute path ('F:\\Windows\\MEMORY.DMP') and the path inside it."""
    try:
        letter, inner = machine.split_path(path)
        volume = machine.open_volume(letter)
    except (DriveNotFoundError, FileNotFoundError) as exc:
        raise ScriptError(str(exc)) from None
    try:
        yield volume, inner
    finally:
        volume.close()


@contextmanager
def regular_file(machine: Machine, path: str) -> Iterator[tuple[ReadableVolume, str, Any]]:
    """(volume, path inside it, FileInfo) of an existing file, else the error PowerShell would give."""
    with volume_for(machine, path) as (volume, inner):
        if not volume.exists(inner):
            raise not_found(path)
        info = volume.stat(inner)
        if info.is_dir:
            raise ScriptError(f"'{windows_path(path)}' is a directory, not a file.")
        yield volume, inner, info


def read_full(stream: Any, size: int) -> bytes:
    """`size` bytes, or fewer only at the end of the stream (a read may return less than asked)."""
    parts, left = [], size
    while left > 0:
        data = stream.read(left)
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def windows_path(path: str) -> str:
    """How PowerShell prints a path it was given (backslashes; the case as typed)."""
    return path.replace("/", "\\")


def not_found(path: str) -> ScriptError:
    return ScriptError(f"Cannot find path '{windows_path(path)}' because it does not exist.")
