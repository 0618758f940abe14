"""Chunk verification, planning, manifest-based resume and the transfer loop (pure logic).

The remote side is a local stand-in that writes read_file_chunks lines from a local file, with
knobs to corrupt chunks and break streams; the real WinRM path is covered by
test_dump_transfer_winrm.py against the emulator.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import tracemalloc
import zlib

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._dump_transfer import (
    ChunkLine,
    ChunkLineError,
    ChunkMismatchError,
    DumpTransfer,
    EndLine,
    RemoteFile,
    TransferError,
    chunk_offsets,
    contiguous_runs,
    decode_chunk,
    parse_chunk_line,
    resolve_dest,
    split_among_streams,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._transfer_manifest import load_manifest
from ansible_collections.vmrepair.azure.plugins.module_utils._winrm_session import WinrmSessionError

CHUNK = 64 * 1024


def deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(level=1, wbits=-15)
    return packer.compress(data) + packer.flush()


def chunk_line(offset: int, data: bytes, compression: str = "none", digest: str | None = None) -> bytes:
    payload = deflate(data) if compression == "deflate" else data
    digest = digest or hashlib.sha256(data).hexdigest()
    return f"{offset} {len(data)} {digest} {compression} ".encode() + base64.b64encode(payload)


# --- lines and chunks ------------------------------------------------------------------------

def test_parse_chunk_and_end_lines():
    line = chunk_line(4096, b"abc", "none")
    parsed = parse_chunk_line(line)
    assert parsed == ChunkLine(4096, 3, hashlib.sha256(b"abc").hexdigest(), "none", base64.b64encode(b"abc"))
    assert parse_chunk_line(b"END 12345") == EndLine(12345)
    assert parse_chunk_line(b"END 7\r") == EndLine(7)


@pytest.mark.parametrize("line", [
    b"", b"garbage", b"END x", b"1 2 3 none", b"-1 3 " + b"a" * 64 + b" none YWJj",
    b"0 3 " + b"A" * 64 + b" none YWJj",  # upper-case hex is not the contract
    b"0 3 " + b"a" * 64 + b" gzip YWJj", b"0 0 " + b"a" * 64 + b" none ",
])
def test_malformed_lines_are_refused(line):
    with pytest.raises(ChunkLineError):
        parse_chunk_line(line)


@pytest.mark.parametrize("compression", ["none", "deflate"])
def test_decode_chunk_returns_verified_bytes(compression):
    data = os.urandom(1000) + bytes(3000)
    assert decode_chunk(parse_chunk_line(chunk_line(0, data, compression)), len(data)) == data


def test_decode_chunk_refuses_a_wrong_hash():
    data = b"x" * 100
    line = chunk_line(0, data, digest=hashlib.sha256(b"y" * 100).hexdigest())
    with pytest.raises(ChunkMismatchError, match="SHA-256"):
        decode_chunk(parse_chunk_line(line), 100)


def test_decode_chunk_refuses_a_flipped_bit():
    data = bytes(range(256)) * 4
    payload = bytearray(data)
    payload[10] ^= 1
    line = f"0 {len(data)} {hashlib.sha256(data).hexdigest()} none ".encode() + base64.b64encode(bytes(payload))
    with pytest.raises(ChunkMismatchError):
        decode_chunk(parse_chunk_line(line), len(data))


def test_decode_chunk_refuses_a_wrong_length_and_never_inflates_past_it():
    data = bytes(10_000)
    with pytest.raises(ChunkMismatchError, match="expected 5000"):
        decode_chunk(parse_chunk_line(chunk_line(0, data)), 5000)
    # A deflate stream that inflates to far more than announced stops at the announced length + 1.
    bomb = f"0 100 {hashlib.sha256(bytes(100)).hexdigest()} deflate ".encode() + base64.b64encode(deflate(bytes(10**7)))
    with pytest.raises(ChunkMismatchError, match="decodes to 101 bytes"):
        decode_chunk(parse_chunk_line(bomb), 100)


def test_decode_chunk_refuses_bad_base64_and_bad_deflate():
    digest = "a" * 64
    with pytest.raises(ChunkMismatchError, match="base64"):
        decode_chunk(ChunkLine(0, 3, digest, "none", b"!!!!"), 3)
    with pytest.raises(ChunkMismatchError, match="inflate"):
        decode_chunk(ChunkLine(0, 3, digest, "deflate", base64.b64encode(b"\xff\xff\xff\xff")), 3)


# --- planning --------------------------------------------------------------------------------

def test_chunk_grid_and_runs():
    size = 10 * CHUNK + 5
    offsets = chunk_offsets(size, CHUNK)
    assert len(offsets) == 11 and offsets[-1] == 10 * CHUNK
    runs = contiguous_runs([o for o in offsets if o not in (3 * CHUNK, 4 * CHUNK)], size, CHUNK)
    assert runs == [(0, 3 * CHUNK), (5 * CHUNK, 5 * CHUNK + 5)]


def test_split_among_streams_is_balanced_and_complete():
    offsets = list(range(0, 10 * CHUNK, CHUNK))
    groups = split_among_streams(offsets, 4)
    assert [len(g) for g in groups] == [3, 3, 2, 2]
    assert sorted(o for g in groups for o in g) == offsets
    assert split_among_streams(offsets[:2], 8) == [[0], [CHUNK]]
    assert split_among_streams([], 4) == []


def test_resolve_dest(tmp_path):
    assert resolve_dest(str(tmp_path), "F:\\Windows\\MEMORY.DMP") == str(tmp_path / "MEMORY.DMP")
    assert resolve_dest(str(tmp_path / "new") + "/", "F:\\Windows\\Minidump\\a.dmp") == str(tmp_path / "new" / "a.dmp")
    assert resolve_dest(str(tmp_path / "web-01.dmp"), "F:\\Windows\\MEMORY.DMP") == str(tmp_path / "web-01.dmp")


# --- the transfer loop -----------------------------------------------------------------------

class LocalChunkServer:
    """Plays the repair VM's read_file_chunks from a local file, with faults on request."""

    def __init__(self, path: str, compression: str = "deflate", chunk_size: int = CHUNK):
        self.path = path
        self.compression = compression
        self.chunk_size = chunk_size
        self.requests: list[tuple[int, int]] = []
        self.corrupt: dict[int, int] = {}  # chunk offset -> how many more times to corrupt it
        self.break_after_lines: int | None = None  # raise after this many chunk lines (all streams)
        self.lines_sent = 0
        self.lines_lock = threading.Lock()  # streams run in threads: count lines atomically
        self.readers_opened = 0
        self.stop_quietly_after: int | None = None  # end the next output after N chunk lines, without END

    def remote(self) -> RemoteFile:
        digest = hashlib.sha256()
        with open(self.path, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
        data_hash = digest.hexdigest()
        return RemoteFile("F:\\Windows\\MEMORY.DMP", os.path.getsize(self.path), data_hash, "2026-11-20T03:14:15Z")

    def reader(self) -> "LocalReader":
        self.readers_opened += 1
        return LocalReader(self)


class LocalReader:
    def __init__(self, server: LocalChunkServer):
        self.server = server
        self.closed = False

    def read_range(self, offset: int, length: int):
        server = self.server
        server.requests.append((offset, length))
        with open(server.path, "rb") as handle:
            handle.seek(offset)
            position, sent = offset, 0
            while position < offset + length:
                data = handle.read(min(server.chunk_size, offset + length - position))
                if not data:
                    break
                with server.lines_lock:
                    if server.break_after_lines is not None and server.lines_sent >= server.break_after_lines:
                        raise WinrmSessionError("connection reset by peer")
                    server.lines_sent += 1
                if server.stop_quietly_after is not None and (position - offset) // server.chunk_size >= server.stop_quietly_after:
                    server.stop_quietly_after = None
                    return
                line = chunk_line(position, data, server.compression)
                if server.corrupt.get(position):
                    server.corrupt[position] -= 1
                    line = chunk_line(position, data[:-1] + bytes([data[-1] ^ 0xFF]), server.compression,
                                      digest=hashlib.sha256(data).hexdigest())
                yield line
                position += len(data)
                sent += len(data)
        yield f"END {sent}".encode()

    def close(self):
        self.closed = True


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "remote.bin"
    # Compressible and incompressible parts, and a tail shorter than a chunk.
    path.write_bytes(bytes(3 * CHUNK) + os.urandom(5 * CHUNK + 1234) + b"PAGE" * (CHUNK // 2))
    return path


def run_transfer(server: LocalChunkServer, dest, **options) -> dict:
    options.setdefault("chunk_size", CHUNK)
    return DumpTransfer(server.remote(), str(dest), server.reader, **options).run()


@pytest.mark.parametrize(("streams", "compression"), [(1, "none"), (4, "deflate"), (3, "auto")])
def test_transfer_writes_a_verified_copy(tmp_path, source, streams, compression):
    server = LocalChunkServer(str(source), "none" if compression == "none" else "deflate")
    progress = []
    dest = tmp_path / "out" / "MEMORY.DMP"
    dest.parent.mkdir()
    result = run_transfer(server, dest, streams=streams, compression=compression,
                          progress=lambda done, total: progress.append((done, total)))
    assert dest.read_bytes() == source.read_bytes()
    assert result["sha256"] == result["remote_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert result["checksum_match"] is True and result["changed"] is True
    assert result["chunks"] == len(chunk_offsets(source.stat().st_size, CHUNK))
    assert (result["chunks_resumed"], result["bytes_resumed"], result["chunks_refetched"]) == (0, 0, 0)
    assert result["streams"] == streams
    assert result["compression"] == ("none" if compression == "none" else "deflate")
    assert result["bytes_received"] > 0
    assert len(server.requests) == min(streams, result["chunks"])
    assert progress[-1] == (source.stat().st_size, source.stat().st_size)
    assert not (tmp_path / "out" / "MEMORY.DMP.part").exists()
    assert not (tmp_path / "out" / "MEMORY.DMP.part.manifest.json").exists()


def test_deflate_sends_fewer_bytes_for_compressible_data(tmp_path):
    path = tmp_path / "zeros.bin"
    path.write_bytes(bytes(8 * CHUNK))
    plain = run_transfer(LocalChunkServer(str(path), "none"), tmp_path / "a", compression="none")
    packed = run_transfer(LocalChunkServer(str(path), "deflate"), tmp_path / "b", compression="deflate")
    assert packed["bytes_received"] * 20 < plain["bytes_received"]


def test_a_corrupted_chunk_is_fetched_again_never_accepted(tmp_path, source):
    server = LocalChunkServer(str(source))
    server.corrupt = {2 * CHUNK: 1, 6 * CHUNK: 2}
    result = run_transfer(server, tmp_path / "MEMORY.DMP", streams=2)
    assert (tmp_path / "MEMORY.DMP").read_bytes() == source.read_bytes()
    assert result["chunks_refetched"] == 3
    # The re-requests ask for the bad chunk alone.
    assert (2 * CHUNK, CHUNK) in server.requests and server.requests.count((6 * CHUNK, CHUNK)) == 2


def test_a_chunk_that_never_matches_stops_the_transfer(tmp_path, source):
    server = LocalChunkServer(str(source))
    server.corrupt = {CHUNK: 99}
    with pytest.raises(TransferError, match=f"offset {CHUNK} .* failed 3 times.*SHA-256"):
        run_transfer(server, tmp_path / "MEMORY.DMP", streams=1)
    assert not (tmp_path / "MEMORY.DMP").exists()
    manifest = load_manifest(str(tmp_path / "MEMORY.DMP.part.manifest.json"))
    assert CHUNK not in manifest.verified and 0 in manifest.verified


def test_a_broken_stream_is_reopened_and_resumes_its_range(tmp_path, source):
    server = LocalChunkServer(str(source))
    server.break_after_lines = 3
    original = LocalReader.read_range

    def heal_after_break(self, offset, length):
        # The connection comes back once a new reader is opened.
        if server.readers_opened > 1:
            server.break_after_lines = None
        return original(self, offset, length)

    LocalReader.read_range = heal_after_break
    try:
        result = run_transfer(server, tmp_path / "MEMORY.DMP", streams=1)
    finally:
        LocalReader.read_range = original
    assert (tmp_path / "MEMORY.DMP").read_bytes() == source.read_bytes()
    assert server.readers_opened == 2
    assert server.requests[1][0] == 3 * CHUNK  # the retry starts at the first missing chunk
    assert result["chunks_refetched"] == result["chunks"] - 3


def test_an_interrupted_transfer_resumes_without_resending_verified_chunks(tmp_path, source):
    dest = tmp_path / "MEMORY.DMP"
    server = LocalChunkServer(str(source))
    server.break_after_lines = 4  # the link stays down: the first run fails
    with pytest.raises(TransferError, match="connection reset.*re-run resumes"):
        run_transfer(server, dest, streams=2, max_chunk_attempts=1)
    manifest = load_manifest(str(dest) + ".part.manifest.json")
    verified_first = set(manifest.verified)
    # Two streams share the 4 lines sent before the link breaks; a line in flight when the other
    # stream fails may be dropped, so 1..4 chunks are verified, never more than were sent.
    assert 1 <= len(verified_first) <= 4
    assert manifest.remote_sha256 == server.remote().sha256 and manifest.chunk_size == CHUNK

    again = LocalChunkServer(str(source))
    result = run_transfer(again, dest, streams=2)
    assert dest.read_bytes() == source.read_bytes()
    assert result["chunks_resumed"] == len(verified_first)
    assert result["bytes_resumed"] == sum(min(CHUNK, source.stat().st_size - o) for o in verified_first)
    assert f"resumed: {len(verified_first)} of" in result["resume_note"]
    requested = {o for start, length in again.requests for o in range(start, start + length, CHUNK)}
    assert requested.isdisjoint(verified_first)
    assert requested | verified_first == set(chunk_offsets(source.stat().st_size, CHUNK))


def test_a_resumed_transfer_keeps_the_manifest_chunk_size(tmp_path, source):
    dest = tmp_path / "MEMORY.DMP"
    server = LocalChunkServer(str(source))
    server.break_after_lines = 2
    with pytest.raises(TransferError):
        run_transfer(server, dest, streams=1, max_chunk_attempts=1)
    result = run_transfer(LocalChunkServer(str(source)), dest, streams=1, chunk_size=4 * CHUNK)
    assert result["chunk_size"] == CHUNK and result["chunks_resumed"] == 2
    assert dest.read_bytes() == source.read_bytes()


def test_a_partial_file_of_another_dump_is_never_appended_to(tmp_path, source):
    dest = tmp_path / "MEMORY.DMP"
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(source.stat().st_size))
    server = LocalChunkServer(str(other))
    server.break_after_lines = 3
    with pytest.raises(TransferError):
        run_transfer(server, dest, streams=1, max_chunk_attempts=1)
    result = run_transfer(LocalChunkServer(str(source)), dest, streams=2)
    assert dest.read_bytes() == source.read_bytes()
    assert result["chunks_resumed"] == 0
    assert result["resume_note"].startswith("started over: the partial file is not this file's")
    assert "SHA-256" in result["resume_note"]


def test_a_partial_file_without_manifest_is_not_trusted(tmp_path, source):
    dest = tmp_path / "MEMORY.DMP"
    (tmp_path / "MEMORY.DMP.part").write_bytes(b"\xff" * source.stat().st_size)
    result = run_transfer(LocalChunkServer(str(source)), dest)
    assert dest.read_bytes() == source.read_bytes()
    assert "no manifest" in result["resume_note"]


def test_resume_off_starts_over(tmp_path, source):
    dest = tmp_path / "MEMORY.DMP"
    server = LocalChunkServer(str(source))
    server.break_after_lines = 3
    with pytest.raises(TransferError):
        run_transfer(server, dest, streams=1, max_chunk_attempts=1)
    again = LocalChunkServer(str(source))
    result = run_transfer(again, dest, resume=False)
    assert result["chunks_resumed"] == 0 and "resume is off" in result["resume_note"]
    assert again.requests[0][0] == 0


def test_a_damaged_manifest_means_starting_over(tmp_path, source):
    dest = tmp_path / "MEMORY.DMP"
    (tmp_path / "MEMORY.DMP.part").write_bytes(bytes(source.stat().st_size))
    (tmp_path / "MEMORY.DMP.part.manifest.json").write_text(json.dumps({"version": 1, "size": "x"}))
    result = run_transfer(LocalChunkServer(str(source)), dest)
    assert dest.read_bytes() == source.read_bytes()
    assert "manifest is unusable" in result["resume_note"]


def test_not_enough_space_fails_before_sending_anything(tmp_path, source):
    server = LocalChunkServer(str(source))
    with pytest.raises(TransferError, match=r"has 1\.0 KiB free; the dump needs .* more"):
        DumpTransfer(server.remote(), str(tmp_path / "MEMORY.DMP"), server.reader, chunk_size=CHUNK,
                     disk_free=lambda path: 1024).run()
    assert server.requests == []


def test_whole_file_hash_mismatch_discards_the_partial_file(tmp_path, source):
    server = LocalChunkServer(str(source))
    remote = server.remote()
    wrong = RemoteFile(remote.path, remote.size, hashlib.sha256(b"another file").hexdigest(), remote.last_write_time_utc)
    with pytest.raises(TransferError, match="differs from the repair VM's"):
        DumpTransfer(wrong, str(tmp_path / "MEMORY.DMP"), server.reader, chunk_size=CHUNK).run()
    assert not (tmp_path / "MEMORY.DMP").exists()
    assert not (tmp_path / "MEMORY.DMP.part").exists()
    assert not (tmp_path / "MEMORY.DMP.part.manifest.json").exists()


def test_an_identical_dest_is_left_alone(tmp_path, source):
    dest = tmp_path / "MEMORY.DMP"
    dest.write_bytes(source.read_bytes())
    server = LocalChunkServer(str(source))
    result = run_transfer(server, dest)
    assert result["changed"] is False and result["bytes_received"] == 0
    assert server.requests == []


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    result = run_transfer(LocalChunkServer(str(empty)), tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == b"" and result["chunks"] == 0


@pytest.mark.parametrize(("options", "message"), [
    ({"chunk_size": 1000}, "chunk_size"), ({"chunk_size": 17 * 1024 * 1024}, "chunk_size"),
    ({"streams": 0}, "streams"), ({"streams": 17}, "streams"), ({"compression": "gzip"}, "compression")])
def test_bad_options(tmp_path, source, options, message):
    server = LocalChunkServer(str(source))
    options.setdefault("chunk_size", CHUNK)
    with pytest.raises(TransferError, match=message):
        DumpTransfer(server.remote(), str(tmp_path / "x"), server.reader, **options)


def test_memory_does_not_grow_with_the_file(tmp_path):
    def peak_for(size_mib: int) -> int:
        path = tmp_path / f"{size_mib}.bin"
        with open(path, "wb") as handle:
            for _mib in range(size_mib):
                handle.write(os.urandom(512 * 1024) + bytes(512 * 1024))
        server = LocalChunkServer(str(path), chunk_size=4 * CHUNK)
        tracemalloc.start()
        try:
            run_transfer(server, tmp_path / f"{size_mib}.copy", streams=4, chunk_size=4 * CHUNK)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak_for(8), peak_for(40)
    assert large < small * 1.5 + 1024 * 1024, (small, large)
    assert large < 16 * 1024 * 1024  # a few chunks per stream, well under the 40 MiB file


def test_output_that_ends_without_its_end_line_is_completed(tmp_path, source):
    server = LocalChunkServer(str(source))
    server.stop_quietly_after = 2
    result = run_transfer(server, tmp_path / "MEMORY.DMP", streams=1)
    assert (tmp_path / "MEMORY.DMP").read_bytes() == source.read_bytes()
    assert server.requests[1][0] == 2 * CHUNK
    assert result["chunks_refetched"] == result["chunks"] - 2


def test_a_second_transfer_into_the_same_dest_is_refused_while_one_runs(tmp_path, source):
    import fcntl
    import os

    dest = tmp_path / "MEMORY.DMP"
    # Another process (an interrupted run whose worker still runs) holds the lock.
    holder = os.open(str(dest) + ".part.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(TransferError, match="another transfer is writing"):
            run_transfer(LocalChunkServer(str(source)), dest)
        assert (tmp_path / "MEMORY.DMP.part.lock").exists(), "the holder's lock file was removed"
    finally:
        os.close(holder)
    run_transfer(LocalChunkServer(str(source)), dest)
    assert dest.read_bytes() == source.read_bytes()
    assert not (tmp_path / "MEMORY.DMP.part.lock").exists()
