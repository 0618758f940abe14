"""The manifest that makes a partial download resumable."""
from __future__ import annotations

import json

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._transfer_manifest import (
    TransferManifest,
    load_manifest,
    manifest_path,
    save_manifest,
)

SHA = "ab" * 32
MIB = 1024 * 1024


def manifest(**changes) -> TransferManifest:
    values = dict(remote_path="F:\\Windows\\MEMORY.DMP", size=10 * MIB + 5, remote_sha256=SHA,
                  last_write_time_utc="2026-11-20T03:14:15Z", chunk_size=4 * MIB, verified={0, 8 * MIB})
    values.update(changes)
    return TransferManifest(**values)


def test_round_trip(tmp_path):
    path = manifest_path(str(tmp_path / "MEMORY.DMP.part"))
    assert path.endswith("MEMORY.DMP.part.manifest.json")
    save_manifest(path, manifest())
    loaded = load_manifest(path)
    assert loaded == manifest()
    on_disk = json.loads(open(path).read())
    assert on_disk["verified_offsets"] == [0, 8 * MIB] and on_disk["version"] == 1
    assert not (tmp_path / "MEMORY.DMP.part.manifest.json.tmp").exists()


def test_missing_manifest_is_none(tmp_path):
    assert load_manifest(str(tmp_path / "nothing.json")) is None


def test_verified_bytes_counts_the_short_last_chunk():
    assert manifest().verified_bytes() == 4 * MIB + (2 * MIB + 5)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"remote_path": "G:\\Windows\\MEMORY.DMP"}, "it is for G:\\Windows\\MEMORY.DMP"),
    ({"size": 7}, "7-byte file"),
    ({"remote_sha256": "cd" * 32}, "SHA-256 " + "cd" * 32),
    ({"last_write_time_utc": "2026-11-21T00:00:00Z"}, "last written 2026-11-21T00:00:00Z"),
])
def test_mismatch_names_what_differs(changes, reason):
    why = manifest(**changes).mismatch("F:\\Windows\\MEMORY.DMP", 10 * MIB + 5, SHA, "2026-11-20T03:14:15Z")
    assert reason in why


def test_same_file_matches_whatever_the_case_of_path_and_hash():
    assert manifest().mismatch("f:\\windows\\memory.dmp", 10 * MIB + 5, SHA.upper(), "2026-11-20T03:14:15Z") is None


@pytest.mark.parametrize("content", [
    "not json", json.dumps([1, 2]), json.dumps({"version": 2}),
    json.dumps({**manifest().to_json(), "verified_offsets": [3]}),            # not on the chunk grid
    json.dumps({**manifest().to_json(), "verified_offsets": [12 * MIB]}),     # past the end
    json.dumps({**manifest().to_json(), "chunk_size": 0}),
    json.dumps({k: v for k, v in manifest().to_json().items() if k != "remote_sha256"}),
])
def test_unusable_manifests_raise(tmp_path, content):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(ValueError):
        load_manifest(str(path))
