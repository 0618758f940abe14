"""powershell/hash_file.ps1 v1: SHA-256 of a whole file, streamed; prints {"path", "size",
"sha256", "last_write_time_utc"}. A missing file is a terminating error."""

from __future__ import annotations

import hashlib

from ..machine import Machine
from ._common import ScriptRun, json_line, regular_file, str_param, windows_path

NAME = "hash_file"
VERSION = 1
_READ = 1 << 20


def run(machine: Machine, params: dict | None) -> ScriptRun:
    path = str_param(params, "path")
    with regular_file(machine, path) as (volume, inner, info):
        digest = hashlib.sha256()
        with volume.open(inner) as stream:
            while chunk := stream.read(_READ):
                digest.update(chunk)
    yield "stdout", json_line({"path": windows_path(path), "size": info.size, "sha256": digest.hexdigest(),
                               "last_write_time_utc": info.last_write_time_utc})
    return 0
