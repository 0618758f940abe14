# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring a large file from the repair VM to the controller: parallel, chunk-verified, resumable.

The file is cut into chunks of ``chunk_size`` bytes. The pending chunks are shared among N
streams; each stream runs the ``read_file_chunks`` script for its byte ranges and reads its output
line by line as it arrives:

    <offset> <length> <sha256 of the raw chunk> <none|deflate> <base64 of the (compressed) chunk>
    ...
    END <bytes sent>

Every chunk is decoded, its SHA-256 checked, and only then written at its offset into
``<dest>.part``; its offset goes into ``<dest>.part.manifest.json`` (see _transfer_manifest), so
an interrupted run resumes with the chunks it lacks. A chunk whose hash does not match is fetched
again, never accepted. At the end the SHA-256 of the whole file, computed on the controller, must
equal the one the repair VM computed before the transfer; then ``.part`` becomes ``dest``.

Memory use is bounded by streams x one chunk, whatever the size of the file.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import hashlib
import ntpath
import os
import re
import shutil
import threading
import time
import typing as t
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ansible_collections.vmrepair.azure.plugins.module_utils._transfer_manifest import (
    TransferManifest,
    load_manifest,
    manifest_path,
    save_manifest,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._winrm_session import WinrmSessionError

MIB = 1024 * 1024
DEFAULT_CHUNK_SIZE = 2 * MIB  # what a killed transfer re-sends is at most streams x one chunk in flight
MIN_CHUNK_SIZE = 64 * 1024
MAX_CHUNK_SIZE = 16 * MIB  # read_file_chunks refuses larger chunks
MAX_STREAMS = 16
COMPRESSIONS = ("none", "deflate")
PART_SUFFIX = ".part"
LOCK_SUFFIX = ".lock"
# A chunk that fails this many times (bad hash, broken stream) stops the transfer.
MAX_CHUNK_ATTEMPTS = 3
# The manifest is rewritten as chunks are verified (at most every MANIFEST_SAVE_INTERVAL_SEC: it lists
# every verified offset, so rewriting it per chunk would cost time quadratic in the file's size), so
# that a killed run re-sends little more than what was in flight; it is made durable (data and
# manifest fsynced) at most every MANIFEST_SYNC_INTERVAL_SEC, against a machine crash. A crash between
# two syncs can leave the manifest ahead of the data: the whole-file SHA-256 then fails, and the partial
# file is discarded, never trusted.
MANIFEST_SAVE_INTERVAL_SEC = 0.05
MANIFEST_SYNC_INTERVAL_SEC = 0.5
_HASH_BLOCK = MIB
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_READ_SCRIPT = "read_file_chunks"


class TransferError(Exception):
    """The transfer cannot go on; the message says why and what to do."""


class ChunkLineError(TransferError):
    """A line of read_file_chunks output that does not follow the contract."""


class ChunkMismatchError(TransferError):
    """A chunk whose decoded bytes do not match its length or SHA-256."""


class RangeReadError(TransferError):
    """A reader could not deliver a range (a broken connection, a service error): it is read again."""


@dataclass(frozen=True)
class RemoteFile:
    """The file on the repair VM, as hash_file reported it before the transfer."""

    path: str
    size: int
    sha256: str
    last_write_time_utc: str | None = None

    @classmethod
    def from_hash_output(cls, data: t.Any) -> RemoteFile:
        """From hash_file's JSON: {"path", "size", "sha256", "last_write_time_utc"}."""
        if not isinstance(data, dict):
            raise TransferError(f"hash_file returned {type(data).__name__}, not an object")
        try:
            size = int(data["size"])
            sha256 = str(data["sha256"]).lower()
            path = str(data["path"])
        except (KeyError, TypeError, ValueError) as error:
            raise TransferError(f"hash_file output lacks {error}") from None
        if size < 0 or not _SHA256_HEX.match(sha256):
            raise TransferError(f"hash_file reported size {size} and SHA-256 {sha256!r}: not a file's hash")
        return cls(path=path, size=size, sha256=sha256, last_write_time_utc=data.get("last_write_time_utc"))


@dataclass(frozen=True)
class ChunkLine:
    offset: int
    length: int
    sha256: str
    compression: str
    payload: bytes  # base64 text


@dataclass(frozen=True)
class EndLine:
    bytes_sent: int


@dataclass(frozen=True)
class RawChunk:
    """A chunk a reader already holds as bytes (the storage relay), with the SHA-256 it must have."""

    offset: int
    length: int
    sha256: str
    data: bytes


def parse_chunk_line(line: bytes) -> ChunkLine | EndLine:
    """One line of read_file_chunks output (without its line end)."""
    fields = line.strip().split(b" ")
    if len(fields) == 2 and fields[0] == b"END":
        try:
            return EndLine(int(fields[1]))
        except ValueError:
            raise ChunkLineError(f"END line with a bad byte count: {line[:80]!r}") from None
    if len(fields) != 5:
        raise ChunkLineError(f"expected 5 fields or 'END <n>', got {len(fields)}: {line[:80]!r}")
    offset_text, length_text, digest, compression, payload = fields
    try:
        offset, length = int(offset_text), int(length_text)
    except ValueError:
        raise ChunkLineError(f"offset or length is not a number: {line[:80]!r}") from None
    digest_text = digest.decode("ascii", errors="replace")
    compression_text = compression.decode("ascii", errors="replace")
    if offset < 0 or length <= 0 or not _SHA256_HEX.match(digest_text) or compression_text not in COMPRESSIONS:
        raise ChunkLineError(f"not a chunk line: {line[:120]!r}")
    return ChunkLine(offset, length, digest_text, compression_text, payload)


def decode_chunk(chunk: ChunkLine, expected_length: int) -> bytes:
    """The raw bytes of a chunk, only if their length and SHA-256 are the announced ones."""
    if chunk.length != expected_length:
        raise ChunkMismatchError(f"chunk at offset {chunk.offset} has {chunk.length} bytes; expected {expected_length}")
    try:
        data = base64.b64decode(chunk.payload, validate=True)
    except (binascii.Error, ValueError):
        raise ChunkMismatchError(f"chunk at offset {chunk.offset} is not valid base64") from None
    if chunk.compression == "deflate":
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw RFC 1951, as .NET's DeflateStream writes
        try:
            # Never inflate more than the chunk can hold (a damaged or hostile stream).
            data = inflater.decompress(data, expected_length + 1)
        except zlib.error as error:
            raise ChunkMismatchError(f"chunk at offset {chunk.offset} does not inflate: {error}") from None
    if len(data) != expected_length:
        raise ChunkMismatchError(
            f"chunk at offset {chunk.offset} decodes to {len(data)} bytes; expected {expected_length}")
    if hashlib.sha256(data).hexdigest() != chunk.sha256:
        raise ChunkMismatchError(f"chunk at offset {chunk.offset} does not match its SHA-256")
    return data


def verify_raw_chunk(chunk: RawChunk, expected_length: int) -> bytes:
    """The chunk's bytes, only if their length and SHA-256 are the expected ones."""
    if chunk.length != expected_length or len(chunk.data) != expected_length:
        raise ChunkMismatchError(
            f"chunk at offset {chunk.offset} has {len(chunk.data)} bytes; expected {expected_length}")
    if hashlib.sha256(chunk.data).hexdigest() != chunk.sha256:
        raise ChunkMismatchError(f"chunk at offset {chunk.offset} does not match its SHA-256")
    return chunk.data


def chunk_offsets(size: int, chunk_size: int) -> list[int]:
    return list(range(0, size, chunk_size))


def chunk_length(offset: int, size: int, chunk_size: int) -> int:
    return min(chunk_size, size - offset)


def contiguous_runs(offsets: t.Iterable[int], size: int, chunk_size: int) -> list[tuple[int, int]]:
    """Sorted chunk offsets grouped into (offset, length) byte ranges without gaps."""
    runs: list[tuple[int, int]] = []
    for offset in sorted(offsets):
        length = chunk_length(offset, size, chunk_size)
        if runs and runs[-1][0] + runs[-1][1] == offset:
            runs[-1] = (runs[-1][0], runs[-1][1] + length)
        else:
            runs.append((offset, length))
    return runs


def split_among_streams(offsets: t.Sequence[int], streams: int) -> list[list[int]]:
    """The pending chunks cut into at most ``streams`` contiguous groups of near-equal count."""
    ordered = sorted(offsets)
    count = min(max(1, streams), len(ordered))
    if count == 0:
        return []
    base, extra = divmod(len(ordered), count)
    groups, start = [], 0
    for index in range(count):
        end = start + base + (1 if index < extra else 0)
        groups.append(ordered[start:end])
        start = end
    return groups


def resolve_dest(dest: str, remote_path: str) -> str:
    """``dest`` itself, or ``dest/<file name of remote_path>`` when dest is a directory."""
    name = ntpath.basename(remote_path.rstrip("\\/"))
    dest = os.path.expanduser(dest)
    if dest.endswith(("/", os.sep)) or os.path.isdir(dest):
        if not name:
            raise TransferError(f"cannot name a file after {remote_path!r}")
        return os.path.join(dest, name)
    return dest


def resolve_compression(compression: str) -> str:
    if compression == "auto":
        return "deflate"
    if compression not in COMPRESSIONS:
        raise TransferError(f"compression must be auto, none or deflate, not {compression!r}")
    return compression


def sha256_of_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} bytes"


class RangeReader(t.Protocol):
    """A stream to the repair VM that returns read_file_chunks output lines for a byte range."""

    def read_range(self, offset: int, length: int) -> t.Iterator[bytes]: ...

    def close(self) -> None: ...


class ScriptRangeReader:
    """RangeReader over a WinrmShell: renders read_file_chunks and streams its output."""

    def __init__(self, shell: t.Any, render: t.Callable[[str, dict], str], remote_path: str, chunk_size: int,
                 compression: str) -> None:
        self._shell = shell
        self._render = render
        self._remote_path = remote_path
        self._chunk_size = chunk_size
        self._compression = compression

    def read_range(self, offset: int, length: int) -> t.Iterator[bytes]:
        script = self._render(_READ_SCRIPT, {
            "path": self._remote_path,
            "offset": offset,
            "length": length,
            "chunk_size": self._chunk_size,
            "compression": self._compression,
        })
        # A chunk line is base64 of at most a chunk (deflate can grow it slightly) plus a short prefix.
        return self._shell.stream_lines(script, max_line_bytes=2 * self._chunk_size + 256)

    def close(self) -> None:
        self._shell.close()


# Errors after which a range is fetched again: the remote side or the wire, not the controller.
_RETRYABLE = (WinrmSessionError, ChunkLineError, ChunkMismatchError, RangeReadError)


@contextlib.contextmanager
def _exclusive(lock_path: str, dest: str) -> t.Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` while writing ``dest``: two transfers into one partial
    file (a re-run while an interrupted one still runs) would corrupt each other."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield
        return
    directory = os.path.dirname(os.path.abspath(lock_path))
    os.makedirs(directory, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)  # the holder's lock file stays
        raise TransferError(f"another transfer is writing {dest} right now (it holds {lock_path}); wait for it "
                            "to end or stop it, then run again") from None
    try:
        yield
    finally:
        try:
            os.unlink(lock_path)
        except FileNotFoundError:
            pass
        os.close(fd)


class DumpTransfer:
    """One transfer of ``remote`` to ``dest`` (see the module docstring)."""

    def __init__(self, remote: RemoteFile, dest: str, reader_factory: t.Callable[[], RangeReader], *,
                 streams: int = 4, chunk_size: int = DEFAULT_CHUNK_SIZE, compression: str = "deflate",
                 resume: bool = True, progress: t.Callable[[int, int], None] | None = None,
                 max_chunk_attempts: int = MAX_CHUNK_ATTEMPTS,
                 disk_free: t.Callable[[str], int] | None = None) -> None:
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise TransferError(f"chunk_size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} bytes, "
                                f"not {chunk_size}")
        if not 1 <= streams <= MAX_STREAMS:
            raise TransferError(f"streams must be between 1 and {MAX_STREAMS}, not {streams}")
        self.remote = remote
        self.dest = dest
        self.part = dest + PART_SUFFIX
        self.manifest_file = manifest_path(self.part)
        self._reader_factory = reader_factory
        self.streams = streams
        self.chunk_size = chunk_size
        self.compression = resolve_compression(compression)
        self.resume = resume
        self._progress = progress
        self._max_attempts = max_chunk_attempts
        self._disk_free = disk_free or (lambda path: shutil.disk_usage(path).free)
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._fd = -1
        self._manifest: TransferManifest | None = None
        self._last_save = 0.0
        self._last_sync = 0.0
        self._done_bytes = 0
        self._wire_bytes = 0
        self._refetched = 0

    # -- preparation -------------------------------------------------------------------------

    def _discard_partial(self) -> None:
        for path in (self.part, self.manifest_file, self.manifest_file + ".tmp"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def _resumable_manifest(self) -> tuple[TransferManifest | None, str | None]:
        """The manifest to resume from, or None and why the partial file (if any) is not used."""
        has_part = os.path.exists(self.part)
        if not self.resume:
            return None, "resume is off: the partial file was discarded" if has_part else None
        try:
            manifest = load_manifest(self.manifest_file)
        except ValueError as error:
            return None, f"started over: the partial file's manifest is unusable ({error})"
        if manifest is None:
            return None, "started over: the partial file has no manifest, so none of it can be trusted" if has_part else None
        if not has_part:
            return None, "started over: the manifest's partial file is missing"
        why = manifest.mismatch(self.remote.path, self.remote.size, self.remote.sha256, self.remote.last_write_time_utc)
        if why:
            return None, f"started over: the partial file is not this file's ({why})"
        if os.path.getsize(self.part) != self.remote.size:
            return None, "started over: the partial file does not have the size its manifest names"
        return manifest, None

    def _prepare(self) -> tuple[TransferManifest, str | None]:
        manifest, note = self._resumable_manifest()
        if manifest is None:
            self._discard_partial()
            manifest = TransferManifest(self.remote.path, self.remote.size, self.remote.sha256,
                                        self.remote.last_write_time_utc, self.chunk_size)
        elif manifest.chunk_size != self.chunk_size:
            # Keep the recorded chunk grid so that the verified chunks stay usable.
            self.chunk_size = manifest.chunk_size
        if manifest.verified:
            note = (f"resumed: {len(manifest.verified)} of {len(chunk_offsets(self.remote.size, self.chunk_size))} "
                    f"chunks were already verified")
        needed = self.remote.size - manifest.verified_bytes()
        directory = os.path.dirname(os.path.abspath(self.dest))
        free = self._disk_free(directory)
        if free < needed:
            raise TransferError(
                f"{directory} has {human_bytes(free)} free; the dump needs {human_bytes(needed)} "
                f"({needed} bytes) more. Free space there or choose another dest")
        return manifest, note

    # -- chunk bookkeeping -------------------------------------------------------------------

    def _save_manifest(self, durable: bool = True) -> None:
        if durable:
            # Data first, then the manifest that vouches for it.
            os.fsync(self._fd)
            self._last_sync = time.monotonic()
        save_manifest(self.manifest_file, self._manifest, durable=durable)
        self._last_save = time.monotonic()

    def _accept(self, offset: int, data: bytes) -> None:
        os.pwrite(self._fd, data, offset)
        with self._lock:
            self._manifest.verified.add(offset)
            self._done_bytes += len(data)
            done = self._done_bytes
            now = time.monotonic()
            if now - self._last_sync >= MANIFEST_SYNC_INTERVAL_SEC:
                self._save_manifest(durable=True)
            elif now - self._last_save >= MANIFEST_SAVE_INTERVAL_SEC:
                self._save_manifest(durable=False)
        if self._progress is not None:
            self._progress(done, self.remote.size)

    def _count_wire(self, count: int) -> None:
        with self._lock:
            self._wire_bytes += count

    # -- one stream --------------------------------------------------------------------------

    def _fetch_run(self, reader: RangeReader, offset: int, length: int) -> tuple[set[int], Exception | None]:
        """Stream one byte range; the verified chunk offsets, and the error that cut it short."""
        size, chunk_size = self.remote.size, self.chunk_size
        expected = {o: chunk_length(o, size, chunk_size) for o in range(offset, offset + length, chunk_size)}
        got: set[int] = set()
        error: Exception | None = None
        end: EndLine | None = None
        lines = reader.read_range(offset, length)
        try:
            for line in lines:
                if isinstance(line, (RawChunk, EndLine)):
                    parsed: ChunkLine | EndLine | RawChunk = line
                    self._count_wire(line.length if isinstance(line, RawChunk) else 0)
                else:
                    self._count_wire(len(line) + 1)
                    parsed = parse_chunk_line(line)
                if self._abort.is_set():
                    break
                if isinstance(parsed, EndLine):
                    end = parsed
                    continue
                if parsed.offset not in expected or parsed.offset in got:
                    raise ChunkLineError(f"chunk at offset {parsed.offset} was not asked for in "
                                         f"[{offset}, {offset + length})")
                try:
                    if isinstance(parsed, RawChunk):
                        data = verify_raw_chunk(parsed, expected[parsed.offset])
                    else:
                        data = decode_chunk(parsed, expected[parsed.offset])
                except ChunkMismatchError as mismatch:
                    # Never accepted; the chunk is fetched again below.
                    error = mismatch
                    continue
                self._accept(parsed.offset, data)
                got.add(parsed.offset)
        except _RETRYABLE as failure:
            error = failure
        finally:
            close = getattr(lines, "close", None)
            if close is not None:
                close()
        if error is None and end is None and not self._abort.is_set():
            # The contract: no END line means the output is incomplete (the missing chunks are retried).
            error = ChunkLineError(f"the output for [{offset}, {offset + length}) ended without its END line")
        return got, error

    def _worker(self, offsets: list[int]) -> None:
        size, chunk_size = self.remote.size, self.chunk_size
        queue = collections.deque(contiguous_runs(offsets, size, chunk_size))
        attempts: collections.Counter[int] = collections.Counter()
        reader: RangeReader | None = None
        try:
            while queue and not self._abort.is_set():
                offset, length = queue.popleft()
                if reader is None:
                    reader = self._reader_factory()
                got, error = self._fetch_run(reader, offset, length)
                if self._abort.is_set():
                    return
                missing = [o for o in range(offset, offset + length, chunk_size) if o not in got]
                if isinstance(error, (WinrmSessionError, RangeReadError)):
                    # The shell or connection may be broken: the retry opens a fresh one.
                    reader.close()
                    reader = None
                if not missing:
                    continue
                for chunk in missing:
                    attempts[chunk] += 1
                    if attempts[chunk] >= self._max_attempts:
                        raise TransferError(
                            f"the chunk at offset {chunk} of {self.remote.path} failed {attempts[chunk]} times; "
                            f"last error: {error or 'it was not in the output'}")
                with self._lock:
                    self._refetched += len(missing)
                queue.extendleft(reversed(contiguous_runs(missing, size, chunk_size)))
        except BaseException:
            self._abort.set()
            raise
        finally:
            if reader is not None:
                reader.close()

    # -- the whole transfer ------------------------------------------------------------------

    def _already_there(self) -> bool:
        return (os.path.isfile(self.dest) and os.path.getsize(self.dest) == self.remote.size
                and sha256_of_file(self.dest) == self.remote.sha256)

    def run(self) -> dict[str, t.Any]:
        """Transfer the file; the result dict of dump_fetch. Raises TransferError on failure."""
        with _exclusive(self.part + LOCK_SUFFIX, self.dest):
            return self._run()

    def _run(self) -> dict[str, t.Any]:
        started = time.monotonic()
        total_chunks = len(chunk_offsets(self.remote.size, self.chunk_size))
        if self._already_there():
            return self._result(started, changed=False, chunks=total_chunks, resumed_bytes=0, resumed_chunks=0,
                                note="dest already holds this file (same size and SHA-256): nothing sent")
        self._manifest, note = self._prepare()
        total_chunks = len(chunk_offsets(self.remote.size, self.chunk_size))
        resumed_chunks = len(self._manifest.verified)
        resumed_bytes = self._manifest.verified_bytes()
        self._done_bytes = resumed_bytes

        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0)
        self._fd = os.open(self.part, flags, 0o600)
        try:
            os.ftruncate(self._fd, self.remote.size)  # sparse where the file system allows
            self._save_manifest()
            pending = [o for o in chunk_offsets(self.remote.size, self.chunk_size) if o not in self._manifest.verified]
            groups = split_among_streams(pending, self.streams)
            errors: list[BaseException] = []
            if groups:
                with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="dump-fetch") as pool:
                    futures = [pool.submit(self._worker, group) for group in groups]
                    for future in futures:
                        failure = future.exception()
                        if failure is not None:
                            errors.append(failure)
            with self._lock:
                self._save_manifest()
        finally:
            os.close(self._fd)
            self._fd = -1
        if errors:
            first = errors[0]
            verified = len(self._manifest.verified)
            raise TransferError(f"{first} ({verified} of {total_chunks} chunks are verified in {self.part}; "
                                "a re-run resumes from there)") from None

        local_sha256 = sha256_of_file(self.part)
        if local_sha256 != self.remote.sha256:
            self._discard_partial()
            raise TransferError(
                f"the received file's SHA-256 {local_sha256} differs from the repair VM's {self.remote.sha256} "
                f"although every chunk matched: {self.remote.path} changed during the transfer or the partial file "
                "was damaged. The partial file was discarded; a re-run starts over")
        os.replace(self.part, self.dest)
        for path in (self.manifest_file, self.manifest_file + ".tmp"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return self._result(started, changed=True, chunks=total_chunks, resumed_bytes=resumed_bytes,
                            resumed_chunks=resumed_chunks, note=note, local_sha256=local_sha256)

    def _result(self, started: float, *, changed: bool, chunks: int, resumed_bytes: int, resumed_chunks: int,
                note: str | None, local_sha256: str | None = None) -> dict[str, t.Any]:
        seconds = max(time.monotonic() - started, 1e-6)
        sent = self.remote.size - resumed_bytes if changed else 0
        sha256 = local_sha256 or self.remote.sha256
        return {
            "changed": changed,
            "dest": self.dest,
            "src": self.remote.path,
            "size": self.remote.size,
            "sha256": sha256,
            "remote_sha256": self.remote.sha256,
            "checksum_match": sha256 == self.remote.sha256,
            "chunks": chunks,
            "chunk_size": self.chunk_size,
            "chunks_resumed": resumed_chunks,
            "chunks_refetched": self._refetched,
            "bytes_received": self._wire_bytes,
            "bytes_resumed": resumed_bytes,
            "seconds": round(seconds, 3),
            "throughput_mib_s": round(sent / MIB / seconds, 2),
            "streams": self.streams,
            "compression": self.compression,
            "resume_note": note,
        }
