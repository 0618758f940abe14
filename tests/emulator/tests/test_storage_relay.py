"""The storage relay against the real Azurite of the storage-relay scenario: the controller's half (ARM
ListKeys through azure-mgmt-storage, a container and a write-only SAS from azure-storage-blob with the
listed key) and the repair VM's half (upload_to_blob on a simulated machine whose attached disk is the
scenario's OS disk with its 32 MiB MEMORY.DMP), then the download compared byte for byte."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests
from ansible.plugins.shell.powershell import ShellModule
from azure.core.exceptions import HttpResponseError
from azure.mgmt.storage import StorageManagementClient
from azure.storage.blob import (BlobClient, BlobSasPermissions, BlobServiceClient, ContainerClient,
                                ContainerSasPermissions, generate_blob_sas, generate_container_sas)
from requests.structures import CaseInsensitiveDict

from vmrepair_emulator.arm.core import ArmApp
from vmrepair_emulator.httpserver import HttpRequest
from vmrepair_emulator.scenario import parse_scenario
from vmrepair_emulator.storage.accounts import account_keys
from vmrepair_emulator.testing import EmulatorProcess, collection_render_script
from vmrepair_emulator.windows import shell
from vmrepair_emulator.windows.machine import AttachedDisk, Machine
from vmrepair_emulator.windows.scripts import upload_to_blob
from vmrepair_emulator.windows.scripts._common import ScriptError
from vmrepair_emulator.world import World

MIB = 1024 * 1024
ACCOUNT, GROUP = "vmrepairrelay", "prod-rg"
MEMORY_DMP = "F:\\Windows\\MEMORY.DMP"


render_script = collection_render_script()


# ---- the controller's side: ARM and the SAS -----------------------------------------------------

@pytest.fixture(scope="module")
def relay(emulator: Callable[..., EmulatorProcess]) -> EmulatorProcess:
    return emulator("storage-relay")


@pytest.fixture(scope="module")
def storage(relay: EmulatorProcess) -> StorageManagementClient:
    return relay.mgmt_client(StorageManagementClient)


@pytest.fixture(scope="module")
def account_key(storage: StorageManagementClient) -> str:
    return storage.storage_accounts.list_keys(GROUP, ACCOUNT).keys_property[0].value


@pytest.fixture(scope="module")
def blob_endpoint(storage: StorageManagementClient) -> str:
    return storage.storage_accounts.get_properties(GROUP, ACCOUNT).primary_endpoints.blob


@pytest.fixture(scope="module")
def container(relay: EmulatorProcess, blob_endpoint: str, account_key: str) -> str:
    """A container made with the listed key, as the controller makes it before it hands out a SAS."""
    name = f"dumps-{uuid.uuid4().hex[:8]}"
    service = BlobServiceClient(blob_endpoint, credential={"account_name": ACCOUNT, "account_key": account_key},
                                connection_verify=relay.ca_bundle)
    service.create_container(name)
    return name


def blob_sas_url(endpoint: str, key: str, container: str, blob: str, *, read: bool = False, write: bool = True,
                 create: bool = True, expires_in: timedelta = timedelta(hours=1)) -> str:
    now = datetime.now(timezone.utc)
    token = generate_blob_sas(ACCOUNT, container, blob, account_key=key, protocol="https",
                              permission=BlobSasPermissions(read=read, write=write, create=create),
                              start=min(now, now + expires_in) - timedelta(minutes=5), expiry=now + expires_in)
    return f"{endpoint}{container}/{blob}?{token}"


def test_list_keys_and_account_through_the_sdk(relay: EmulatorProcess, storage: StorageManagementClient) -> None:
    mark = relay.control().mark()
    keys = storage.storage_accounts.list_keys(GROUP, ACCOUNT).keys_property
    assert [(k.key_name, k.permissions.upper(), k.value) for k in keys] == [
        ("key1", "FULL", account_keys(relay.env["AZURE_SUBSCRIPTION_ID"], ACCOUNT)[0]),
        ("key2", "FULL", account_keys(relay.env["AZURE_SUBSCRIPTION_ID"], ACCOUNT)[1])]
    assert len(base64.b64decode(keys[0].value)) == 64
    account = storage.storage_accounts.get_properties(GROUP, ACCOUNT)
    azurite = relay.env["VMREPAIR_EMULATOR_BLOB_URL"].rsplit("/", 1)[0]
    assert account.primary_endpoints.blob == f"{azurite}/{ACCOUNT}/"
    assert (account.sku.name, account.kind, account.allow_shared_key_access) == ("Standard_LRS", "StorageV2", True)
    assert account.location == "westeurope" and account.provisioning_state == "Succeeded"
    assert [a.name for a in storage.storage_accounts.list_by_resource_group(GROUP)] == [ACCOUNT]
    assert ACCOUNT in [a.name for a in storage.storage_accounts.list()]
    [record] = [r for r in relay.control().requests(service="arm", since=mark)
                if r.get("operation") == "StorageAccounts_ListKeys"]
    assert record["action"] == "Microsoft.Storage/storageAccounts/listKeys/action" and record["status"] == 200
    assert record["api_version"] == "2026-09-01"


def test_list_keys_is_an_rbac_action_and_a_missing_account_is_404(relay: EmulatorProcess,
                                                                  storage: StorageManagementClient) -> None:
    with relay.control().knobs_set(rbac_role="Reader"):
        storage.storage_accounts.get_properties(GROUP, ACCOUNT)  # a read is fine
        with pytest.raises(HttpResponseError) as info:
            storage.storage_accounts.list_keys(GROUP, ACCOUNT)
    assert info.value.status_code == 403 and info.value.error.code == "AuthorizationFailed"
    assert "'Microsoft.Storage/storageAccounts/listKeys/action'" in info.value.error.message
    with pytest.raises(HttpResponseError) as info:
        storage.storage_accounts.list_keys(GROUP, "nosuchaccount")
    assert info.value.status_code == 404 and info.value.error.code == "ResourceNotFound"


# ---- ListKeys refused: shared key access off, or a ReadOnly lock (in-process ARM, no Azurite) -----

@pytest.fixture
def keyless_world(tmp_path: Path) -> Iterator[World]:
    scenario = parse_scenario({
        "name": "keyless", "resource_groups": [{"name": "open-rg"},
                                               {"name": "frozen-rg", "locks": [{"name": "ro", "level": "ReadOnly"}]}],
        "storage_accounts": [{"name": "nokeys", "resource_group": "open-rg", "allow_shared_key_access": False},
                             {"name": "frozen", "resource_group": "frozen-rg"}]})
    world = World.from_scenario(scenario, tmp_path, build_disks=False)
    yield world
    world.close()


def _list_keys_in_process(world: World, group: str, name: str) -> tuple[int, dict]:
    principal = world.default_principal
    token = world.tokens.issue(principal["client_id"], principal["object_id"], world.base_url + "/", 600, "")
    path = (f"/subscriptions/{world.subscription_id}/resourceGroups/{group}/providers/Microsoft.Storage/"
            f"storageAccounts/{name}/listKeys")
    request = HttpRequest(method="POST", target=f"{path}?api-version=2026-09-01", path=path,
                          query={"api-version": "2026-09-01"}, body=b"", client_address=("127.0.0.1", 1),
                          headers=CaseInsensitiveDict({"Authorization": f"Bearer {token}"}),
                          base_url=world.base_url, connection_id=1)
    response = ArmApp(world).handle(request)
    return response.status, json.loads(response.body)


def test_list_keys_refused_without_shared_key_access_or_under_a_readonly_lock(keyless_world: World) -> None:
    assert _list_keys_in_process(keyless_world, "open-rg", "nokeys") == (409, {"error": {
        "code": "KeyBasedAuthenticationNotPermitted",
        "message": "Key based authentication is not permitted on this storage account."}})
    status, body = _list_keys_in_process(keyless_world, "frozen-rg", "frozen")
    assert (status, body["error"]["code"]) == (409, "ScopeLocked")


# ---- the repair VM's side: upload_to_blob on a simulated machine ------------------------------------

@pytest.fixture(scope="module")
def machine(relay: EmulatorProcess) -> Machine:
    """A repair VM with the scenario's OS disk attached read-only (F:), trusting the emulator's CA."""
    [vhd] = [d["path"] for disk_id, d in relay.control().disks().items() if "/disks/web-01_osdisk" in disk_id.lower()]
    machine = Machine("repair-vm", "REPAIR-VM", "127.0.0.1", "vmrepair", "pw",
                      [AttachedDisk(0, "copy", Path(vhd), read_only=True)])
    machine.trusted_ca_file = Path(relay.ca_bundle)
    machine.bring_offline_disks_online()
    return machine


@pytest.fixture(scope="module")
def dump_bytes(machine: Machine) -> bytes:
    volume = machine.open_volume("F")
    try:
        with volume.open("Windows\\MEMORY.DMP") as stream:
            return stream.read()
    finally:
        volume.close()


def run_upload(machine: Machine, params: dict) -> tuple[int, bytes, bytes]:
    """As Ansible's winrm connection runs the script: strict mode, rc propagation, lines stripped."""
    parts = ShellModule()._encode_script(render_script("upload_to_blob", params), as_list=True, strict_mode=True,
                                         preserve_rc=True)
    return shell.execute(machine, parts[0], parts[1:]).communicate(timeout=300)


def read_url(endpoint: str, key: str, container: str, blob: str) -> str:
    return blob_sas_url(endpoint, key, container, blob, read=True, write=False, create=False)


def _assert_no_sas(sas_url: str, *outputs: bytes) -> None:
    query = sas_url.split("?", 1)[1]
    signature = re.search(r"sig=([^&]+)", query)[1]
    for output in outputs:
        assert query.encode() not in output and signature.encode() not in output


def test_upload_round_trip_with_a_write_only_blob_sas(relay: EmulatorProcess, machine: Machine, dump_bytes: bytes,
                                                      blob_endpoint: str, account_key: str, container: str) -> None:
    assert len(dump_bytes) == 32 * MIB and dump_bytes[:8] == b"PAGEDU64"
    url = blob_sas_url(blob_endpoint, account_key, container, "web-01/MEMORY.DMP")
    reads_before = machine.file_reads.get(MEMORY_DMP.lower(), 0)
    blob_mark = len(relay.control().requests(service="blob"))  # Azurite's records are numbered on their own
    code, out, err = run_upload(machine, {"path": MEMORY_DMP, "blob_url": url, "block_size": 3 * MIB, "parallel": 4})
    assert (code, err) == (0, b"")
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    result = json.loads(out)
    blocks = [dump_bytes[i:i + 3 * MIB] for i in range(0, len(dump_bytes), 3 * MIB)]
    assert len(blocks) == 11 and len(blocks[-1]) == 2 * MIB  # the last block is shorter
    assert set(result) == {"path", "size", "block_size", "blocks", "sha256", "block_sha256", "retries", "seconds"}
    assert (result["path"], result["size"], result["block_size"], result["blocks"], result["retries"]) == (
        MEMORY_DMP, 32 * MIB, 3 * MIB, 11, 0)
    assert result["sha256"] == hashlib.sha256(dump_bytes).hexdigest()
    assert result["block_sha256"] == [hashlib.sha256(b).hexdigest() for b in blocks]
    assert isinstance(result["seconds"], float) and result["seconds"] >= 0
    _assert_no_sas(url, out, err)
    assert machine.file_reads[MEMORY_DMP.lower()] - reads_before == 32 * MIB

    # The controller's download, with a read SAS of its own.
    blob = BlobClient.from_blob_url(read_url(blob_endpoint, account_key, container, "web-01/MEMORY.DMP"),
                                    connection_verify=relay.ca_bundle)
    assert blob.download_blob().readall() == dump_bytes
    properties = blob.get_blob_properties()
    assert properties.metadata == {"sha256": result["sha256"]}
    assert properties.content_settings.content_type == "application/octet-stream"
    committed, uncommitted = blob.get_block_list("all")
    # azure-storage-blob decodes the base64 ids: block i is the zero-padded decimal i.
    assert [b.id for b in committed] == [f"{i:06d}" for i in range(11)] and not uncommitted
    assert [b.size for b in committed] == [len(b) for b in blocks]

    expected = ["BlockBlob_CommitBlockList"] + ["BlockBlob_StageBlock"] * 11
    deadline = time.monotonic() + 10  # Azurite writes its debug log (our request record) asynchronously
    while True:
        operations = sorted(r.get("operation") for r in relay.control().requests(service="blob", since=blob_mark)
                            if "/web-01/MEMORY.DMP" in r["path"] and r["method"] == "PUT")
        if operations == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert operations == expected


def test_upload_with_a_container_sas_one_block_at_a_time(relay: EmulatorProcess, machine: Machine, dump_bytes: bytes,
                                                         blob_endpoint: str, account_key: str, container: str) -> None:
    now = datetime.now(timezone.utc)
    token = generate_container_sas(ACCOUNT, container, account_key=account_key, protocol="https",
                                   permission=ContainerSasPermissions(create=True, write=True),
                                   start=now - timedelta(minutes=5), expiry=now + timedelta(hours=1))
    url = f"{blob_endpoint}{container}/one-at-a-time.DMP?{token}"
    code, out, err = run_upload(machine, {"path": MEMORY_DMP, "blob_url": url, "block_size": 16 * MIB, "parallel": 1})
    assert (code, err) == (0, b"")
    assert json.loads(out)["blocks"] == 2
    reader = ContainerClient.from_container_url(
        f"{blob_endpoint}{container}", credential={"account_name": ACCOUNT, "account_key": account_key},
        connection_verify=relay.ca_bundle)
    assert reader.download_blob("one-at-a-time.DMP").readall() == dump_bytes


def test_an_expired_sas_gives_403_without_the_sas(machine: Machine, blob_endpoint: str, account_key: str,
                                                  container: str) -> None:
    url = blob_sas_url(blob_endpoint, account_key, container, "web-01/expired.DMP", expires_in=timedelta(hours=-1))
    code, out, err = run_upload(machine, {"path": MEMORY_DMP, "blob_url": url, "block_size": 8 * MIB, "parallel": 4})
    assert (code, out) == (1, b"")
    # Azurite answers AuthorizationFailure where Azure answers AuthenticationFailed (ARCHITECTURE.md).
    plain = f"{blob_endpoint}{container}/web-01/expired.DMP"
    assert re.fullmatch(rf"Put Block [0-3] failed: 403 AuthorizationFailure \({re.escape(plain)}\)\r\n", err.decode())
    _assert_no_sas(url, out, err)


def test_a_sas_without_write_permission_is_refused(machine: Machine, blob_endpoint: str, account_key: str,
                                                   container: str) -> None:
    url = blob_sas_url(blob_endpoint, account_key, container, "web-01/create-only.DMP", write=False)
    code, out, err = run_upload(machine, {"path": MEMORY_DMP, "blob_url": url, "block_size": 8 * MIB, "parallel": 2})
    assert (code, out) == (1, b"")
    plain = f"{blob_endpoint}{container}/web-01/create-only.DMP"
    assert re.fullmatch(rf"Put Block [01] failed: 403 AuthorizationPermissionMismatch \({re.escape(plain)}\)\r\n",
                        err.decode())
    _assert_no_sas(url, out, err)


@pytest.mark.parametrize(("change", "message"), [
    ({"block_size": MIB - 1}, "block_size must be between 1048576 and 104857600 bytes."),
    ({"block_size": 100 * MIB + 1}, "block_size must be between 1048576 and 104857600 bytes."),
    ({"block_size": "8388608"}, 'block_size must be an integer, not "8388608".'),
    ({"parallel": 0}, "parallel must be between 1 and 16."),
    ({"parallel": 17}, "parallel must be between 1 and 16."),
    ({"blob_url": "http://127.0.0.1/acct/c/b?sv=2021-08-06&sig=x"},
     "blob_url must be an https URL with a SAS query string."),
    ({"blob_url": "https://127.0.0.1/acct/c/b"}, "blob_url must be an https URL with a SAS query string."),
    ({"path": "F:\\Windows\\NOPE.DMP"}, "Cannot find path 'F:\\Windows\\NOPE.DMP' because it does not exist."),
])
def test_parameter_errors(machine: Machine, change: dict, message: str) -> None:
    params = {"path": MEMORY_DMP, "blob_url": "https://127.0.0.1:1/acct/c/b?sv=2021-08-06&sp=cw&sig=abc",
              "block_size": 8 * MIB, "parallel": 4, **change}
    code, out, err = run_upload(machine, params)
    assert (code, out, err) == (1, b"", (message + "\r\n").encode())


def test_block_count_limit_and_block_ids() -> None:
    assert upload_to_blob.block_count(50_000 * MIB, MIB) == 50_000
    with pytest.raises(ScriptError, match=r"^The file needs 50001 blocks of 1048576 bytes; a block blob holds "
                                          r"at most 50000\.$"):
        upload_to_blob.block_count(50_000 * MIB + 1, MIB)
    assert upload_to_blob.block_count(0, MIB) == 0
    ids = {upload_to_blob.block_id(i) for i in range(50_000)}
    assert len(ids) == 50_000 and {len(i) for i in ids} == {8}
    assert upload_to_blob.block_id(0) == "MDAwMDAw"


def test_azurite_refuses_a_block_whose_content_md5_does_not_match(relay: EmulatorProcess, blob_endpoint: str,
                                                                  account_key: str, container: str) -> None:
    """The request upload_to_blob sends, with a wrong MD5: the block is refused and not stored."""
    url = blob_sas_url(blob_endpoint, account_key, container, "md5/check.bin")
    data = bytes(range(256)) * 4096
    wrong = base64.b64encode(hashlib.md5(data + b"x").digest()).decode()
    right = base64.b64encode(hashlib.md5(data).digest()).decode()
    put = f"{url}&comp=block&blockid={upload_to_blob.block_id(0)}"
    refused = requests.put(put, data=data, headers={"x-ms-version": "2021-08-06", "Content-MD5": wrong},
                           verify=relay.ca_bundle, timeout=60)
    # Azure answers 400 Md5Mismatch, Azurite 400 InvalidOperation "Provided contentMD5 doesn't match."
    # (ARCHITECTURE.md, "Storage relay").
    assert (refused.status_code, refused.headers["x-ms-error-code"]) == (400, "InvalidOperation")
    reader = BlobClient.from_blob_url(read_url(blob_endpoint, account_key, container, "md5/check.bin"),
                                      connection_verify=relay.ca_bundle)
    with pytest.raises(HttpResponseError):
        reader.get_block_list("all")  # nothing staged: the blob does not exist at all
    stored = requests.put(put, data=data, headers={"x-ms-version": "2021-08-06", "Content-MD5": right},
                          verify=relay.ca_bundle, timeout=60)
    assert stored.status_code == 201
    assert [b.id for b in reader.get_block_list("uncommitted")[1]] == ["000000"]
