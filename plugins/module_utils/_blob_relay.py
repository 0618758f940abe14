# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage relay for very large dumps (dump_fetch transfer=storage).

The repair VM uploads the dump to a block blob with the upload_to_blob script through a SAS that
allows creating and writing that one blob, nothing else (not even reading it back). The controller
then downloads ranges of it in parallel with azure-storage-blob, through a read-only SAS for the
same blob, and checks every range against the SHA-256 the repair VM computed for that block before
it is written; _dump_transfer does the rest (manifest, resume, whole-file SHA-256). The account key
that signs both SAS comes from ARM (listKeys) and never leaves the controller.
"""

from __future__ import annotations

import datetime
import functools
import json
import ntpath
import os
import re
import time
import typing as t
from dataclasses import dataclass

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    AzureInputError,
    translate_azure_error,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._dump_transfer import (
    DumpTransfer,
    EndLine,
    RangeReadError,
    RawChunk,
    RemoteFile,
    TransferError,
    chunk_length,
)

DEFAULT_CONTAINER = "vmrepair-dumps"
DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024
MIN_BLOCK_SIZE = 1024 * 1024
MAX_BLOCK_SIZE = 16 * 1024 * 1024  # also the largest chunk _dump_transfer accepts
# Long enough for a multi-GB upload from a slow repair VM, short enough to be useless soon after.
SAS_LIFETIME = datetime.timedelta(hours=4)
SAS_CLOCK_SKEW = datetime.timedelta(minutes=5)
RELAY_SUFFIX = ".relay.json"
_CONTAINER_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class RelayTarget:
    """Where the relay blob lives and the key that signs its SAS (a secret)."""

    account: str
    blob_endpoint: str  # https://<account>.blob.core.windows.net/ (or the emulator's path-style URL)
    account_key: str
    container: str
    blob: str

    @property
    def blob_url(self) -> str:
        return f"{self.blob_endpoint.rstrip('/')}/{self.container}/{self.blob}"


def validate_container(name: str) -> str:
    if not _CONTAINER_NAME.match(name or ""):
        raise AzureInputError(f"storage_container {name!r} is not a valid container name (3 to 63 lowercase "
                              "letters, digits and single hyphens, starting and ending with a letter or digit)")
    return name


def blob_name(remote: RemoteFile, label: str) -> str:
    """Deterministic from what is uploaded, so that a re-run finds the blob a killed run left."""
    safe_label = re.sub(r"[^A-Za-z0-9._-]", "-", label).strip("-") or "dump"
    return f"{safe_label}/{remote.sha256[:16]}/{ntpath.basename(remote.path) or 'dump'}"


def relay_target(clients: t.Any, resource_group: str, account: str, container: str, blob: str) -> RelayTarget:
    """The account's blob endpoint and first key, from ARM."""
    validate_container(container)
    try:
        properties = clients.storage.storage_accounts.get_properties(resource_group, account)
    except Exception as exc:  # pylint: disable=broad-except  # translated
        raise translate_azure_error(exc, action=f"read storage account '{account}'", secrets=clients.secrets) from None
    endpoint = getattr(getattr(properties, "primary_endpoints", None), "blob", None)
    if not endpoint:
        raise AzureInputError(f"Storage account '{account}' has no blob endpoint (kind {properties.kind})")
    if getattr(properties, "allow_shared_key_access", None) is False:
        raise AzureInputError(
            f"Storage account '{account}' does not allow shared key access (allowSharedKeyAccess is false), which "
            "the relay's SAS needs; use another account or transfer=winrm")
    try:
        listed = clients.storage.storage_accounts.list_keys(resource_group, account)
    except Exception as exc:  # pylint: disable=broad-except  # translated
        raise translate_azure_error(exc, action=f"list the keys of storage account '{account}'",
                                    secrets=clients.secrets) from None
    # azure-mgmt-storage 25 renamed the list to keys_property (keys became the mapping method).
    keys = getattr(listed, "keys_property", None)
    if keys is None and not callable(getattr(listed, "keys", None)):
        keys = listed.keys
    if not keys:
        raise AzureInputError(f"Storage account '{account}' returned no keys")
    return RelayTarget(account=account, blob_endpoint=endpoint, account_key=keys[0].value, container=container,
                       blob=blob)


def _sas(target: RelayTarget, read: bool) -> str:
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    now = datetime.datetime.now(datetime.timezone.utc)
    permission = BlobSasPermissions(read=True) if read else BlobSasPermissions(create=True, write=True)
    return generate_blob_sas(target.account, target.container, target.blob, account_key=target.account_key,
                             permission=permission, start=now - SAS_CLOCK_SKEW, expiry=now + SAS_LIFETIME,
                             protocol="https")


def write_sas_url(target: RelayTarget) -> str:
    """The URL the repair VM uploads to: create and write this blob only (a secret)."""
    return f"{target.blob_url}?{_sas(target, read=False)}"


def _service(target: RelayTarget) -> t.Any:
    return _service_client(target.blob_endpoint, target.account, target.account_key)


@functools.lru_cache(maxsize=4)
def _service_client(endpoint: str, account: str, key: str) -> t.Any:
    """One client (and connection pool) per account for the container, size and delete calls of a relay."""
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient(endpoint, credential={"account_name": account, "account_key": key})


def ensure_container(target: RelayTarget) -> None:
    from azure.core.exceptions import ResourceExistsError

    container = _service(target).get_container_client(target.container)
    try:
        container.create_container()
    except ResourceExistsError:
        pass


def read_blob_client(target: RelayTarget) -> t.Any:
    """A client of the blob that can only read it (read SAS)."""
    from azure.storage.blob import BlobClient

    return BlobClient.from_blob_url(f"{target.blob_url}?{_sas(target, read=True)}")


def blob_size(target: RelayTarget) -> int | None:
    """The committed blob's size, or None when there is none."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return int(_service(target).get_blob_client(target.container, target.blob).get_blob_properties().size)
    except ResourceNotFoundError:
        return None


def delete_blob(target: RelayTarget) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        _service(target).get_blob_client(target.container, target.blob).delete_blob()
    except ResourceNotFoundError:
        pass


@dataclass(frozen=True)
class UploadRecord:
    """What upload_to_blob reported: the blocks' SHA-256, by which the download is verified."""

    blob_url: str  # without SAS
    size: int
    sha256: str
    block_size: int
    block_sha256: tuple[str, ...]

    @classmethod
    def from_script_output(cls, data: t.Any, blob_url: str, remote: RemoteFile) -> UploadRecord:
        try:
            record = cls(blob_url=blob_url, size=int(data["size"]), sha256=str(data["sha256"]).lower(),
                         block_size=int(data["block_size"]),
                         block_sha256=tuple(str(h).lower() for h in data["block_sha256"]))
        except (KeyError, TypeError, ValueError) as error:
            raise TransferError(f"upload_to_blob output lacks {error}") from None
        if record.size != remote.size or record.sha256 != remote.sha256:
            raise TransferError(
                f"the repair VM uploaded {record.size} bytes with SHA-256 {record.sha256}, but hashed the file as "
                f"{remote.size} bytes with SHA-256 {remote.sha256}: the file changed between the two reads")
        expected_blocks = -(-record.size // record.block_size) if record.size else 0
        if len(record.block_sha256) != expected_blocks:
            raise TransferError(f"upload_to_blob reported {len(record.block_sha256)} block hashes for "
                                f"{expected_blocks} blocks")
        return record

    def to_json(self) -> dict[str, t.Any]:
        return {"blob_url": self.blob_url, "size": self.size, "sha256": self.sha256, "block_size": self.block_size,
                "block_sha256": list(self.block_sha256)}


def relay_record_path(dest: str) -> str:
    return dest + RELAY_SUFFIX


def load_upload_record(dest: str, blob_url: str, remote: RemoteFile) -> UploadRecord | None:
    """The record of an earlier upload of this very file to this blob, if any."""
    try:
        with open(relay_record_path(dest), "r", encoding="utf-8") as handle:
            data = json.load(handle)
        record = UploadRecord(blob_url=data["blob_url"], size=int(data["size"]), sha256=data["sha256"],
                              block_size=int(data["block_size"]), block_sha256=tuple(data["block_sha256"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.blob_url != blob_url or record.size != remote.size or record.sha256 != remote.sha256:
        return None
    return record


def save_upload_record(dest: str, record: UploadRecord) -> None:
    temp = relay_record_path(dest) + ".tmp"
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(record.to_json(), handle)
    os.replace(temp, relay_record_path(dest))


def remove_upload_record(dest: str) -> None:
    try:
        os.unlink(relay_record_path(dest))
    except FileNotFoundError:
        pass


class BlobRangeReader:
    """RangeReader of _dump_transfer over the relay blob: each block downloaded, with its expected SHA-256."""

    def __init__(self, blob_client: t.Any, record: UploadRecord) -> None:
        self._blob = blob_client
        self._record = record

    def read_range(self, offset: int, length: int) -> t.Iterator[t.Any]:
        size, block = self._record.size, self._record.block_size
        position, sent = offset, 0
        while position < offset + length:
            count = chunk_length(position, size, block)
            try:
                data = self._blob.download_blob(offset=position, length=count, max_concurrency=1).readall()
            except Exception as exc:  # pylint: disable=broad-except  # azure-core errors; the range is read again
                raise RangeReadError(f"download of bytes {position}-{position + count - 1} of the relay blob failed: "
                                     f"{type(exc).__name__}: {str(exc).split('?', maxsplit=1)[0][:300]}") from None
            yield RawChunk(position, count, self._record.block_sha256[position // block], data)
            position += count
            sent += count
        yield EndLine(sent)

    def close(self) -> None:
        self._blob.close()


@dataclass(frozen=True)
class RelayRequest:
    """Where to relay and how: dump_fetch's storage options."""

    resource_group: str
    account: str
    container: str
    label: str
    block_size: int
    streams: int
    resume: bool


def fetch_through_relay(clients: t.Any, request: RelayRequest, remote: RemoteFile, dest: str,
                        upload: t.Callable[[dict[str, t.Any]], t.Any],
                        progress: t.Callable[[int, int], None] | None, secrets: list[str]) -> dict[str, t.Any]:
    """Upload (unless an earlier run's blob of this file is there), download verified, delete the blob.

    ``upload(params)`` runs upload_to_blob on the repair VM and returns its JSON output. The account
    key and the write SAS are appended to ``secrets`` as soon as they exist, for the caller's messages.
    """
    target = relay_target(clients, request.resource_group, request.account, request.container,
                          blob_name(remote, request.label))
    secrets.append(target.account_key)
    ensure_container(target)
    record = load_upload_record(dest, target.blob_url, remote) if request.resume else None
    uploaded: dict[str, t.Any] | str = "the blob of an earlier run was used"
    if record is None or blob_size(target) != remote.size:
        sas_url = write_sas_url(target)
        secrets.append(sas_url.split("?", 1)[1])
        started = time.monotonic()
        output = upload({"path": remote.path, "blob_url": sas_url, "block_size": request.block_size,
                         "parallel": request.streams})
        record = UploadRecord.from_script_output(output, target.blob_url, remote)
        save_upload_record(dest, record)
        uploaded = {"seconds": round(time.monotonic() - started, 3), "retries": output.get("retries", 0)}
    verified_record = record

    def reader_factory() -> BlobRangeReader:
        return BlobRangeReader(read_blob_client(target), verified_record)

    outcome = DumpTransfer(remote, dest, reader_factory, streams=request.streams, chunk_size=record.block_size,
                           compression="none", resume=request.resume, progress=progress).run()
    delete_blob(target)
    remove_upload_record(dest)
    outcome.update(transfer="storage", relay={"storage_account": target.account, "container": target.container,
                                              "blob": target.blob, "upload": uploaded, "deleted": True})
    return outcome
