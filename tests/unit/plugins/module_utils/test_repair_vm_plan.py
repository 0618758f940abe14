"""The repair VM's pure logic: validation, request bodies, the plan, the WinRM certificate."""
from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    AzureInputError,
    AzureOperationError,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_names import RepairNames
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_vm import (
    DEFAULT_IMAGE,
    Existing,
    RepairRequest,
    build_plan,
    certificate_from_script_output,
    disk_copy_body,
    nic_body,
    run_command_busy,
    parse_image,
    private_ip_of_nic,
    run_command_streams,
    snapshot_body,
    source_from_json,
    subnet_of_nic,
    validate_admin_account,
    vm_body,
)

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "azure-rest-api-specs"
PASSWORD = "Rep@ir-Passw0rd-42"


def example_body(name: str) -> dict:
    return copy.deepcopy(json.loads((EXAMPLES / name).read_text(encoding="utf-8"))["responses"]["200"]["body"])


@pytest.fixture
def vm():
    return example_body("VirtualMachine_Get.json")


@pytest.fixture
def os_disk():
    return example_body("Disk_Get.json")


@pytest.fixture
def names():
    return RepairNames.for_repair("1a2b3c4d", "myVM")


def make_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.42.1.5")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(Encoding.DER)


# --- input ---------------------------------------------------------------------------------------


def test_parse_image_urn_and_id():
    assert parse_image(DEFAULT_IMAGE) == {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer",
                                          "sku": "2022-datacenter-azure-edition", "version": "latest"}
    image_id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/repair-image"
    assert parse_image(image_id) == {"id": image_id}
    with pytest.raises(AzureInputError):
        parse_image("MicrosoftWindowsServer:WindowsServer:2022")


@pytest.mark.parametrize("username", ["administrator", "Admin", "root", "x" * 21, "ends.", ""])
def test_reserved_or_invalid_usernames_are_refused(username):
    with pytest.raises(AzureInputError):
        validate_admin_account(username, PASSWORD)


@pytest.mark.parametrize("password", [None, "Sh0rt!", "alllowercaseletters", "P@ssw0rd", "x" * 124])
def test_weak_passwords_are_refused_without_echoing_them(password):
    with pytest.raises(AzureInputError) as caught:
        validate_admin_account("vmrepair", password)
    if password:
        assert password not in caught.value.message


def test_good_account_passes():
    validate_admin_account("vmrepair", PASSWORD)


def test_source_from_official_examples(vm, os_disk):
    source = source_from_json(vm, os_disk)
    assert source.name == "myVM"
    assert source.resource_group == "myResourceGroup"
    assert source.location == "West US"
    assert source.os_disk_id.endswith("/disks/myOsDisk")
    assert source.security_type == "TrustedLaunch"
    assert source.primary_nic_id.endswith("/networkInterfaces/{myNIC}")


def test_linux_vm_is_refused_naming_its_os(vm, os_disk):
    vm["properties"]["storageProfile"]["osDisk"]["osType"] = "Linux"
    with pytest.raises(AzureInputError, match="runs Linux"):
        source_from_json(vm, os_disk)


def test_unmanaged_os_disk_is_refused(vm):
    del vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]
    vm["properties"]["storageProfile"]["osDisk"]["vhd"] = {"uri": "https://acct.blob.core.windows.net/vhds/os.vhd"}
    with pytest.raises(AzureInputError, match="unmanaged OS disk"):
        source_from_json(vm, None)


def test_confidential_vm_is_refused(vm, os_disk):
    os_disk["properties"]["securityProfile"] = {"securityType": "ConfidentialVM_DiskEncryptedWithPlatformKey"}
    with pytest.raises(AzureInputError, match="confidential"):
        source_from_json(vm, os_disk)


def test_nic_helpers_read_the_primary_ip_configuration():
    nic = example_body("NetworkInterfaceGet.json")
    assert private_ip_of_nic(nic) == "172.20.2.4"
    assert subnet_of_nic(nic).endswith("/virtualNetworks/rg1-vnet/subnets/default")


# --- bodies --------------------------------------------------------------------------------------


def test_snapshot_copies_the_source_os_disk(vm, os_disk):
    source = source_from_json(vm, os_disk)
    body = snapshot_body(source, {"t": "v"})
    assert body["properties"]["creationData"] == {"createOption": "Copy", "sourceResourceId": source.os_disk_id}
    assert body["location"] == source.location and body["tags"] == {"t": "v"}


def test_disk_copy_keeps_zone_generation_security_and_encryption(vm, os_disk):
    os_disk["zones"] = ["2"]
    source = source_from_json(vm, os_disk)
    body = disk_copy_body(source, "/snap/id", {"t": "v"})
    properties = body["properties"]
    assert properties["creationData"] == {"createOption": "Copy", "sourceResourceId": "/snap/id"}
    assert properties["hyperVGeneration"] == "V1"
    assert properties["securityProfile"] == {"securityType": "TrustedLaunch"}
    assert properties["encryption"] == {"type": "EncryptionAtRestWithPlatformKey"}
    assert properties["encryptionSettingsCollection"]["enabled"] is True
    assert body["zones"] == ["2"] and body["sku"] == {"name": "Standard_LRS"}


def test_disk_copy_of_a_regional_disk_has_no_zone(vm, os_disk):
    assert "zones" not in disk_copy_body(source_from_json(vm, os_disk), "/snap/id", {})


def test_nic_has_no_public_ip():
    body = nic_body("westeurope", "/subnet/id", {})
    config = body["properties"]["ipConfigurations"][0]["properties"]
    assert config["subnet"] == {"id": "/subnet/id"} and "publicIPAddress" not in config


def test_repair_vm_body(vm, os_disk, names):
    source = source_from_json(vm, os_disk)
    request = RepairRequest("myResourceGroup", "myVM", admin_password=PASSWORD)
    body = vm_body(request, source, names, {"t": "v"}, "/nic/id", "/disk/copy", ["2"])
    properties = body["properties"]
    storage = properties["storageProfile"]
    assert storage["osDisk"]["createOption"] == "FromImage" and storage["osDisk"]["deleteOption"] == "Delete"
    assert storage["dataDisks"] == [{"lun": 0, "name": names.disk_copy, "createOption": "Attach",
                                     "deleteOption": "Detach", "managedDisk": {"id": "/disk/copy"}}]
    assert properties["osProfile"]["computerName"] == "REPAIR1A2B3C4D"
    assert properties["networkProfile"]["networkInterfaces"] == [
        {"id": "/nic/id", "properties": {"primary": True, "deleteOption": "Delete"}}]
    assert properties["securityProfile"]["securityType"] == "TrustedLaunch"
    assert body["zones"] == ["2"] and body["tags"] == {"t": "v"}
    assert properties["hardwareProfile"] == {"vmSize": "Standard_D2s_v3"}


def test_request_repr_hides_the_password():
    assert PASSWORD not in repr(RepairRequest("rg", "vm", admin_password=PASSWORD))


# --- plan ----------------------------------------------------------------------------------------


def actions(plan):
    return [(s["action"], s["resource_type"].split("/")[-1], s["name"]) for s in plan]


def test_plan_for_a_fresh_repair_lists_every_operation_in_order(names):
    assert actions(build_plan(Existing(), names)) == [
        ("create", "resourceGroups", "rg-vmrepair-1a2b3c4d"),
        ("create", "snapshots", "snap-myVM-1a2b3c4d"),
        ("create", "disks", "disk-myVM-1a2b3c4d"),
        ("create", "networkInterfaces", "nic-vmrepair-1a2b3c4d"),
        ("create", "virtualMachines", "vmrepair-1a2b3c4d"),
        ("update_tags", "disks", "osdisk-vmrepair-1a2b3c4d"),
        ("run_command", "virtualMachines", "vmrepair-1a2b3c4d:enable_winrm_https"),
        ("update_tags", "virtualMachines", "vmrepair-1a2b3c4d"),
    ]


def succeeded():
    return {"properties": {"provisioningState": "Succeeded"}}


def tagged_os_disk():
    return {"tags": {"vmrepair-repair-id": "1a2b3c4d"}, "properties": {"provisioningState": "Succeeded"}}


def test_plan_is_empty_when_everything_exists_and_the_pin_matches(names):
    existing = Existing(resource_group={}, snapshot=succeeded(), disk_copy=succeeded(), nic=succeeded(),
                        vm=succeeded(), os_disk=tagged_os_disk(), winrm_certificate={"thumbprint_sha256": "ab"})
    assert build_plan(existing, names) == []


def test_plan_after_an_interrupted_run(names):
    existing = Existing(resource_group={}, snapshot=succeeded(),
                        disk_copy={"properties": {"provisioningState": "Creating"}},
                        nic={"properties": {"provisioningState": "Failed"}})
    assert actions(build_plan(existing, names)) == [
        ("wait", "disks", "disk-myVM-1a2b3c4d"),
        ("create", "networkInterfaces", "nic-vmrepair-1a2b3c4d"),
        ("create", "virtualMachines", "vmrepair-1a2b3c4d"),
        ("update_tags", "disks", "osdisk-vmrepair-1a2b3c4d"),
        ("run_command", "virtualMachines", "vmrepair-1a2b3c4d:enable_winrm_https"),
        ("update_tags", "virtualMachines", "vmrepair-1a2b3c4d"),
    ]


def test_existing_vm_without_a_matching_pin_gets_run_command_again(names):
    existing = Existing(resource_group={}, snapshot=succeeded(), disk_copy=succeeded(), nic=succeeded(),
                        vm=succeeded(), os_disk=tagged_os_disk(), winrm_certificate=None)
    assert [s["action"] for s in build_plan(existing, names)] == ["run_command", "update_tags"]


def test_untagged_os_disk_of_the_repair_vm_gets_tagged(names):
    untagged = dict(tagged_os_disk(), tags={})
    existing = Existing(resource_group={}, snapshot=succeeded(), disk_copy=succeeded(), nic=succeeded(),
                        vm=succeeded(), os_disk=untagged, winrm_certificate={"thumbprint_sha256": "ab"})
    assert actions(build_plan(existing, names)) == [("update_tags", "disks", "osdisk-vmrepair-1a2b3c4d")]


# --- certificate ---------------------------------------------------------------------------------


def script_output(der: bytes, thumbprint: str | None = None) -> str:
    line = json.dumps({"thumbprint": thumbprint or hashlib.sha1(der).hexdigest().upper(),
                       "certificate": base64.b64encode(der).decode(),
                       "listener": "https://127.42.1.5:5986/wsman"})
    return "Listener created\r\n" + line + "\r\n"


def test_certificate_from_script_output():
    der = make_certificate()
    certificate = certificate_from_script_output(script_output(der))
    assert certificate["thumbprint_sha256"] == hashlib.sha256(der).hexdigest()
    assert certificate["thumbprint_sha1"] == hashlib.sha1(der).hexdigest().upper()
    loaded = x509.load_pem_x509_certificate(certificate["certificate_pem"].encode())
    assert loaded.public_bytes(Encoding.DER) == der


def test_certificate_with_a_wrong_thumbprint_is_refused():
    with pytest.raises(AzureOperationError, match="thumbprint"):
        certificate_from_script_output(script_output(make_certificate(), thumbprint="00" * 20))


@pytest.mark.parametrize("stdout", ["", "no json here", '{"thumbprint": "AA"}', '{"certificate": "%%%", "thumbprint": "A"}'])
def test_unreadable_script_output_is_an_error(stdout):
    with pytest.raises(AzureOperationError):
        certificate_from_script_output(stdout)


def test_run_command_streams_from_official_example():
    result = example_body("VirtualMachineRunCommand.json")
    assert run_command_streams(result) == ("This is a sample script with parameters value1 value2", "")


def test_run_command_busy_is_only_the_one_at_a_time_conflict():
    from azure.core.exceptions import HttpResponseError

    class Response:  # the fields HttpResponseError reads
        def __init__(self, status):
            self.status_code, self.reason, self.headers, self.request = status, "", {}, None

        def text(self):
            return ""

    busy = HttpResponseError(message="(Conflict) Run command extension execution is in progress. Please wait for "
                                     "completion before invoking a run command.", response=Response(409))
    other_conflict = HttpResponseError(message="(Conflict) Run command OS type 'Windows' does not match the target OS "
                                               "Linux.", response=Response(409))
    server_error = HttpResponseError(message="Run command extension execution is in progress", response=Response(500))
    assert run_command_busy(busy)
    assert not run_command_busy(other_conflict)
    assert not run_command_busy(server_error)
    assert not run_command_busy(ValueError("run command in progress"))
