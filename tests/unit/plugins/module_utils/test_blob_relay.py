"""The storage relay's pure parts: names, the upload record, the range reader's chunks."""
from __future__ import annotations

import hashlib

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError
from ansible_collections.vmrepair.azure.plugins.module_utils._blob_relay import (
    BlobRangeReader,
    UploadRecord,
    blob_name,
    load_upload_record,
    save_upload_record,
    validate_container,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._dump_transfer import (
    EndLine,
    RangeReadError,
    RawChunk,
    RemoteFile,
    TransferError,
)

DATA = bytes(range(256)) * 640  # 2.5 blocks of 64 KiB
BLOCK = 65536
BLOCKS = [DATA[i:i + BLOCK] for i in range(0, len(DATA), BLOCK)]
REMOTE = RemoteFile("F:\\Windows\\MEMORY.DMP", len(DATA), hashlib.sha256(DATA).hexdigest())
OUTPUT = {"path": REMOTE.path, "size": len(DATA), "block_size": BLOCK, "blocks": 3, "sha256": REMOTE.sha256,
          "block_sha256": [hashlib.sha256(b).hexdigest() for b in BLOCKS], "retries": 0, "seconds": 0.1}
URL = "https://acct.blob.core.windows.net/vmrepair-dumps/x"


def test_blob_name_is_deterministic_and_safe():
    assert blob_name(REMOTE, "127.42.1.5") == f"127.42.1.5/{REMOTE.sha256[:16]}/MEMORY.DMP"
    assert blob_name(REMOTE, "web 01/../x") == f"web-01-..-x/{REMOTE.sha256[:16]}/MEMORY.DMP"


@pytest.mark.parametrize("name", ["ab", "Dumps", "-dumps", "du--mps", "x" * 64])
def test_bad_container_names_are_refused(name):
    with pytest.raises(AzureInputError, match="not a valid container name"):
        validate_container(name)


def test_upload_record_checks_what_the_repair_vm_reported():
    record = UploadRecord.from_script_output(OUTPUT, URL, REMOTE)
    assert record.block_sha256[2] == hashlib.sha256(BLOCKS[2]).hexdigest()
    with pytest.raises(TransferError, match="the file changed between the two reads"):
        UploadRecord.from_script_output(dict(OUTPUT, sha256="0" * 64), URL, REMOTE)
    with pytest.raises(TransferError, match="2 block hashes for 3 blocks"):
        UploadRecord.from_script_output(dict(OUTPUT, block_sha256=OUTPUT["block_sha256"][:2]), URL, REMOTE)
    with pytest.raises(TransferError, match="lacks"):
        UploadRecord.from_script_output({"size": 1}, URL, REMOTE)


def test_the_record_is_kept_only_for_the_same_file_and_blob(tmp_path):
    dest = str(tmp_path / "MEMORY.DMP")
    record = UploadRecord.from_script_output(OUTPUT, URL, REMOTE)
    save_upload_record(dest, record)
    assert load_upload_record(dest, URL, REMOTE) == record
    assert load_upload_record(dest, URL + "2", REMOTE) is None
    other = RemoteFile(REMOTE.path, REMOTE.size, "1" * 64)
    assert load_upload_record(dest, URL, other) is None


class FakeDownload:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def readall(self) -> bytes:
        return self._data


class FakeBlob:
    """Stands for azure-storage-blob's BlobClient: ranged downloads of DATA, optionally failing once."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.closed = False

    def download_blob(self, offset: int, length: int, max_concurrency: int) -> FakeDownload:
        if offset == self.fail_at:
            self.fail_at = None
            raise ConnectionError("reset by peer at https://acct/x?sig=SECRET")
        return FakeDownload(DATA[offset:offset + length])

    def close(self) -> None:
        self.closed = True


def test_range_reader_yields_blocks_with_their_expected_hash():
    reader = BlobRangeReader(FakeBlob(), UploadRecord.from_script_output(OUTPUT, URL, REMOTE))
    items = list(reader.read_range(BLOCK, len(DATA) - BLOCK))
    assert items[:-1] == [RawChunk(BLOCK, BLOCK, OUTPUT["block_sha256"][1], BLOCKS[1]),
                          RawChunk(2 * BLOCK, len(BLOCKS[2]), OUTPUT["block_sha256"][2], BLOCKS[2])]
    assert items[-1] == EndLine(len(DATA) - BLOCK)


def test_a_failed_download_is_a_retryable_error_without_the_sas():
    reader = BlobRangeReader(FakeBlob(fail_at=0), UploadRecord.from_script_output(OUTPUT, URL, REMOTE))
    with pytest.raises(RangeReadError) as info:
        list(reader.read_range(0, BLOCK))
    assert "SECRET" not in str(info.value) and "ConnectionError" in str(info.value)


def test_transfer_through_the_range_reader_verifies_and_retries(tmp_path):
    from ansible_collections.vmrepair.azure.plugins.module_utils._dump_transfer import DumpTransfer

    record = UploadRecord.from_script_output(OUTPUT, URL, REMOTE)
    blob = FakeBlob(fail_at=BLOCK)  # the second block's first download breaks
    dest = tmp_path / "MEMORY.DMP"
    outcome = DumpTransfer(REMOTE, str(dest), lambda: BlobRangeReader(blob, record), streams=2,
                           chunk_size=BLOCK, compression="none").run()
    assert dest.read_bytes() == DATA and outcome["checksum_match"] and outcome["chunks_refetched"] == 1


def test_a_block_that_does_not_match_its_hash_is_never_accepted(tmp_path):
    from ansible_collections.vmrepair.azure.plugins.module_utils._dump_transfer import DumpTransfer

    wrong = dict(OUTPUT, block_sha256=[OUTPUT["block_sha256"][0], "0" * 64, OUTPUT["block_sha256"][2]])
    record = UploadRecord.from_script_output(wrong, URL, REMOTE)
    dest = tmp_path / "MEMORY.DMP"
    with pytest.raises(TransferError, match="offset 65536 .* failed 3 times"):
        DumpTransfer(REMOTE, str(dest), lambda: BlobRangeReader(FakeBlob(), record), streams=1,
                     chunk_size=BLOCK, compression="none").run()
    assert not dest.exists()
