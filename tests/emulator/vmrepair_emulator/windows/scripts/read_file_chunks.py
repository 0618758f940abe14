"""powershell/read_file_chunks.ps1 v1: stream a byte range as lines
`<offset> <length> <sha256 of the raw chunk> <compression> <base64 of the (compressed) chunk>\\n`,
then `END <bytes sent>\\n`. The range stops at the end of the file. One chunk in memory at a time."""

from __future__ import annotations

import base64
import hashlib
import zlib

from ..machine import Machine, count_read, take_corruption
from ._common import ScriptError, ScriptRun, int_param, param, read_full, regular_file, str_param

NAME = "read_file_chunks"
VERSION = 1
MAX_CHUNK_SIZE = 16 * 1024 * 1024
COMPRESSIONS = ("none", "deflate")


def run(machine: Machine, params: dict | None) -> ScriptRun:
    path = str_param(params, "path")
    offset = int_param(params, "offset")
    length = int_param(params, "length")
    chunk_size = int_param(params, "chunk_size")
    compression = param(params, "compression")
    if offset < 0 or length < 0:
        raise ScriptError("offset and length must not be negative.")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ScriptError(f"chunk_size must be between 1 and {MAX_CHUNK_SIZE} bytes.")
    if compression not in COMPRESSIONS:
        raise ScriptError(f"compression must be 'none' or 'deflate', not '{compression}'.")

    with regular_file(machine, path) as (volume, inner, _info):
        with volume.open(inner) as stream:
            stream.seek(offset)
            position, end, sent = offset, offset + length, 0
            while position < end:
                chunk = read_full(stream, min(chunk_size, end - position))
                if not chunk:
                    break
                count_read(machine, path, len(chunk))
                digest = hashlib.sha256(chunk).hexdigest()
                if take_corruption(machine):
                    # A fault: one bit flipped after the hash was taken, as damage on the way would.
                    chunk = bytes([chunk[0] ^ 0x01]) + chunk[1:]
                payload = _deflate(chunk) if compression == "deflate" else chunk
                line = (f"{position} {len(chunk)} {digest} {compression} "
                        f"{base64.b64encode(payload).decode('ascii')}\n")
                yield "stdout", line.encode("ascii")
                position += len(chunk)
                sent += len(chunk)
    yield "stdout", f"END {sent}\n".encode("ascii")
    return 0


def _deflate(data: bytes) -> bytes:
    """Raw RFC 1951 deflate, what System.IO.Compression.DeflateStream writes (no zlib header)."""
    compressor = zlib.compressobj(level=1, wbits=-15)
    return compressor.compress(data) + compressor.flush()
