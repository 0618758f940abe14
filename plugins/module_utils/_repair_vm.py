# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The repair VM: a copy of the broken OS disk attached to a fresh Windows VM reachable over
WinRM/HTTPS with a certificate pinned through the authenticated control plane.

Order of work (independent operations run together):

    resource group  +  snapshot of the source OS disk          (together)
    NIC in the subnet  +  disk copy from the snapshot          (together)
    repair VM (image OS disk, disk copy at LUN 0, the NIC)
    Run Command enable_winrm_https -> certificate; its SHA-256 pinned in a tag on the VM

The snapshot and the disk copy live in the source VM's resource group (as `az vm repair` does,
so that a later OS-disk swap finds the copy beside the VM); the rest lives in the repair
resource group. Everything is tagged with the repair id and the source VM id. Every name comes
from the repair id, so a re-run GETs what exists and creates only what is missing. The source
OS disk is only ever the source of the snapshot.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ansible_collections.vmrepair.azure.plugins.module_utils._rest_json import dig as _dig
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import (
    AzureClients,
    as_json,
    parse_resource_id,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    AzureInputError,
    AzureNotFoundError,
    AzureOperationError,
    VmrepairError,
    WaitTimeoutError,
    scrub,
    translate_azure_error,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._cleanup import (
    TaggedResource,
    delete_in_order,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_encryption import (
    DiskEncryption,
    disk_encryption,
    refuse_ade,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_locks import (
    describe_locks,
    refuse_locked_groups,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_network import (
    DEFAULT_ISOLATED_PREFIX,
    ISOLATED_SUBNET,
    NETWORK_EXISTING_SUBNET,
    NETWORK_ISOLATED,
    NETWORK_MODES,
    discover_controller_address,
    nsg_body,
    public_ip_body,
    validate_controller_address,
    validate_prefix,
    vnet_body,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_sizing import (
    DEFAULT_SIZE_PREFERENCES,
    SizeChoice,
    SizeNeeds,
    choose_vm_size,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_names import (
    TAG_REPAIR_ID,
    TAG_WINRM_SHA256,
    RepairNames,
    default_repair_id,
    repair_tags,
    validate_repair_id,
    vm_resource_id,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._waiters import (
    Deadline,
    Pending,
    provisioning_poller,
    provisioning_state,
    wait_all,
    wait_one,
)

DEFAULT_IMAGE = "MicrosoftWindowsServer:WindowsServer:2022-datacenter-azure-edition:latest"
# The default image is Generation 2 only; a Generation 1 source gets the Generation 1 image, as az vm repair does.
DEFAULT_IMAGE_GEN1 = "MicrosoftWindowsServer:WindowsServer:2022-datacenter:latest"
DEFAULT_VM_SIZE = "Standard_D2s_v3"
DEFAULT_ADMIN_USERNAME = "vmrepair"
WINRM_PORT = 5986
WINRM_SCRIPT = "enable_winrm_https"
REPAIR_OS_DISK_SKU = "StandardSSD_LRS"  # works with every VM size, premium-capable or not

TYPE_RESOURCE_GROUP = "Microsoft.Resources/resourceGroups"
TYPE_SNAPSHOT = "Microsoft.Compute/snapshots"
TYPE_DISK = "Microsoft.Compute/disks"
TYPE_NIC = "Microsoft.Network/networkInterfaces"
TYPE_VM = "Microsoft.Compute/virtualMachines"
TYPE_NSG = "Microsoft.Network/networkSecurityGroups"
TYPE_VNET = "Microsoft.Network/virtualNetworks"
TYPE_PUBLIC_IP = "Microsoft.Network/publicIPAddresses"

# Azure's documented rules for a Windows admin account (OSProfile.adminUsername / adminPassword).
DISALLOWED_USERNAMES = frozenset((
    "administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1", "1", "123", "a",
    "actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner", "root",
    "server", "sql", "support", "support_388945a0", "sys", "test2", "test3", "user4", "user5",
))
DISALLOWED_PASSWORDS = frozenset((
    "abc@123", "P@$$w0rd", "P@ssw0rd", "P@ssword123", "Pa$$word", "pass@word1", "Password!", "Password1",
    "Password22", "iloveyou!",
))

# States in which a resource is still being created or changed by someone (an earlier run).
IN_PROGRESS_STATES = ("creating", "updating", "accepted", "running", "provisioning")


# --- input -------------------------------------------------------------------------------------


@dataclass
class RepairRequest:
    resource_group: str
    vm_name: str
    admin_password: str | None = None
    repair_id: str | None = None
    repair_resource_group: str | None = None
    subnet_id: str | None = None
    vm_size: str = DEFAULT_VM_SIZE
    admin_username: str = DEFAULT_ADMIN_USERNAME
    image: str = DEFAULT_IMAGE
    keep_resources: bool = False
    timeout: int = 1800
    vm_size_preferences: list[str] | None = None  # None: DEFAULT_SIZE_PREFERENCES
    network: str = NETWORK_EXISTING_SUBNET
    controller_address: str | None = None  # network=isolated; None: discovered
    isolated_address_prefix: str = DEFAULT_ISOLATED_PREFIX

    def __repr__(self) -> str:  # never show the password
        return f"RepairRequest(resource_group={self.resource_group!r}, vm_name={self.vm_name!r}, repair_id={self.repair_id!r})"


def parse_image(image: str) -> dict[str, str]:
    """'Publisher:Offer:Sku:Version' (as the Azure CLI writes it) or an image resource id."""
    if image.startswith("/"):
        return {"id": image}
    parts = image.split(":")
    if len(parts) != 4 or not all(parts):
        raise AzureInputError(f"image '{image}' is neither 'Publisher:Offer:Sku:Version' nor an image resource id")
    publisher, offer, sku, version = parts
    return {"publisher": publisher, "offer": offer, "sku": sku, "version": version}


def validate_admin_account(username: str, password: str | None) -> None:
    """Azure's rules for a Windows admin account; the message never contains the password."""
    if not username or len(username) > 20 or username.endswith(".") or username.lower() in DISALLOWED_USERNAMES:
        raise AzureInputError(
            f"admin_username '{username}' is not allowed on Windows: 1 to 20 characters, not ending in '.', "
            "and not a reserved name such as administrator, admin, user, guest or root"
        )
    if not password:
        raise AzureInputError("admin_password is required to create the repair VM")
    if not 8 <= len(password) <= 123:
        raise AzureInputError("admin_password must be 8 to 123 characters long")
    classes = sum((
        bool(re.search(r"[a-z]", password)),
        bool(re.search(r"[A-Z]", password)),
        bool(re.search(r"[0-9]", password)),
        bool(re.search(r"[\W_]", password)),
    ))
    if classes < 3:
        raise AzureInputError(
            "admin_password must contain 3 of: lower-case letters, upper-case letters, digits, special characters"
        )
    if password in DISALLOWED_PASSWORDS:
        raise AzureInputError("admin_password is one of the passwords Azure refuses as too common")


@dataclass
class SourceVm:
    """What the repair needs to know about the broken VM and its OS disk."""

    id: str
    name: str
    resource_group: str
    location: str
    zones: list[str]
    os_disk_id: str
    os_disk: dict[str, Any]  # REST JSON of the managed OS disk
    security_type: str | None
    primary_nic_id: str | None
    hyper_v_generation: str = "V1"
    disk_sku: str | None = None
    encryption: DiskEncryption = field(default_factory=lambda: DiskEncryption("platform_key"))

    @property
    def trusted_launch(self) -> bool:
        return str(self.security_type or "").lower() == "trustedlaunch"

    @property
    def zone(self) -> str | None:
        zones = self.os_disk.get("zones") or self.zones
        return str(zones[0]) if zones else None

    def facts(self) -> dict[str, Any]:
        """What decided the repair plan, for the result and check mode."""
        return {
            "os_type": "Windows",
            "location": self.location,
            "zone": self.zone,
            "hyper_v_generation": self.hyper_v_generation,
            "security_type": self.security_type or "Standard",
            "disk_sku": self.disk_sku,
            "encryption": self.encryption.as_dict(),
        }


def source_from_json(vm: dict[str, Any], os_disk: dict[str, Any] | None) -> SourceVm:
    """Validate the broken VM (Windows, managed OS disk) and pick out what the repair needs."""
    name = vm.get("name") or ""
    os_type = _dig(vm, "properties", "storageProfile", "osDisk", "osType")
    if str(os_type).lower() != "windows":
        raise AzureInputError(
            f"Virtual machine '{name}' runs {os_type or 'an unknown OS'}: vmrepair.azure repairs Windows VMs only"
        )
    os_disk_id = _dig(vm, "properties", "storageProfile", "osDisk", "managedDisk", "id")
    if not os_disk_id:
        raise AzureInputError(
            f"Virtual machine '{name}' has an unmanaged OS disk (a VHD in a storage account): "
            "convert it to managed disks first"
        )
    if os_disk is None:
        raise AzureNotFoundError(f"The OS disk of virtual machine '{name}' ({os_disk_id}) was not found")
    security_type = _dig(os_disk, "properties", "securityProfile", "securityType") or _dig(
        vm, "properties", "securityProfile", "securityType"
    )
    if security_type and str(security_type).lower().startswith("confidentialvm"):
        raise AzureInputError(
            f"Virtual machine '{name}' is a confidential VM ({security_type}): its OS disk cannot be attached "
            "to a repair VM"
        )
    nics = _dig(vm, "properties", "networkProfile", "networkInterfaces") or []
    primary = next((n for n in nics if _dig(n, "properties", "primary")), nics[0] if nics else None)
    return SourceVm(
        id=vm.get("id") or "",
        name=name,
        resource_group=parse_resource_id(vm.get("id") or "")["resource_group"],
        location=vm.get("location") or "",
        zones=list(vm.get("zones") or []),
        os_disk_id=os_disk_id,
        os_disk=os_disk,
        security_type=security_type,
        primary_nic_id=(primary or {}).get("id"),
        hyper_v_generation=str(_dig(os_disk, "properties", "hyperVGeneration") or "V1").upper(),
        disk_sku=_dig(os_disk, "sku", "name"),
        encryption=disk_encryption(vm, os_disk),
    )


def subnet_of_nic(nic: dict[str, Any]) -> str | None:
    configs = _dig(nic, "properties", "ipConfigurations") or []
    primary = next((c for c in configs if _dig(c, "properties", "primary")), configs[0] if configs else None)
    return _dig(primary, "properties", "subnet", "id")


def private_ip_of_nic(nic: dict[str, Any]) -> str | None:
    configs = _dig(nic, "properties", "ipConfigurations") or []
    primary = next((c for c in configs if _dig(c, "properties", "primary")), configs[0] if configs else None)
    return _dig(primary, "properties", "privateIPAddress")


# --- request bodies (REST JSON, the shapes of Azure's API reference) ------------------------------


def snapshot_body(source: SourceVm, tags: dict[str, str]) -> dict[str, Any]:
    """A full snapshot of the source OS disk (reading it is all that is ever done to it)."""
    return {
        "location": source.location,
        "tags": dict(tags),
        "properties": {
            "creationData": {"createOption": "Copy", "sourceResourceId": source.os_disk_id},
            "incremental": False,
        },
    }


def disk_copy_body(source: SourceVm, snapshot_id: str, tags: dict[str, str]) -> dict[str, Any]:
    """A disk from the snapshot, in the source disk's zone, generation, security and encryption."""
    disk = source.os_disk
    properties: dict[str, Any] = {"creationData": {"createOption": "Copy", "sourceResourceId": snapshot_id}}
    for key in ("osType", "hyperVGeneration", "securityProfile", "encryption", "encryptionSettingsCollection"):
        value = _dig(disk, "properties", key)
        if value:
            properties[key] = value
    body: dict[str, Any] = {"location": source.location, "tags": dict(tags), "properties": properties}
    sku = _dig(disk, "sku", "name")
    if sku:
        body["sku"] = {"name": sku}
    zones = disk.get("zones") or source.zones
    if zones:
        body["zones"] = list(zones)
    return body


def nic_body(location: str, subnet_id: str, tags: dict[str, str], public_ip_id: str | None = None) -> dict[str, Any]:
    """A NIC in the subnet; a public IP only on the isolated network (its NSG admits the controller only)."""
    body = {
        "location": location,
        "tags": dict(tags),
        "properties": {
            "ipConfigurations": [{
                "name": "ipconfig1",
                "properties": {
                    "primary": True,
                    "privateIPAllocationMethod": "Dynamic",
                    "subnet": {"id": subnet_id},
                },
            }],
        },
    }
    if public_ip_id:
        body["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"] = {"id": public_ip_id}
    return body


def vm_body(
    request: RepairRequest,
    source: SourceVm,
    names: RepairNames,
    tags: dict[str, str],
    nic_id: str,
    disk_copy_id: str,
    zones: list[str],
    vm_size: str | None = None,
    image: str | None = None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "hardwareProfile": {"vmSize": vm_size or request.vm_size},
        "storageProfile": {
            "imageReference": parse_image(image or request.image),
            "osDisk": {
                "name": names.os_disk,
                "createOption": "FromImage",
                "deleteOption": "Delete",
                "managedDisk": {"storageAccountType": REPAIR_OS_DISK_SKU},
            },
            # The copy is detached, not deleted, with the VM: cleanup deletes it by its tag.
            "dataDisks": [{
                "lun": 0,
                "name": names.disk_copy,
                "createOption": "Attach",
                "deleteOption": "Detach",
                "managedDisk": {"id": disk_copy_id},
            }],
        },
        "osProfile": {
            "computerName": names.computer_name,
            "adminUsername": request.admin_username,
            "adminPassword": request.admin_password,
            "windowsConfiguration": {
                "provisionVMAgent": True,
                # No patch reboots while a dump is being copied.
                "enableAutomaticUpdates": False,
                "patchSettings": {"patchMode": "Manual"},
            },
        },
        "networkProfile": {
            "networkInterfaces": [{"id": nic_id, "properties": {"primary": True, "deleteOption": "Delete"}}],
        },
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
    }
    if source.security_type and str(source.security_type).lower() == "trustedlaunch":
        # A trusted-launch disk goes to a trusted-launch VM.
        properties["securityProfile"] = {
            "securityType": "TrustedLaunch",
            "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
        }
    body: dict[str, Any] = {"location": source.location, "tags": dict(tags), "properties": properties}
    if zones:
        body["zones"] = list(zones)
    return body


# --- the WinRM certificate -----------------------------------------------------------------------


# Seconds between attempts while another Run Command occupies the VM (Azure gives no Retry-After).
RUN_COMMAND_BUSY_RETRY_S = 5.0


def run_command_busy(exc: BaseException) -> bool:
    """Whether Azure refused a Run Command because the VM is still running another one (409 Conflict)."""
    message = str(getattr(exc, "message", None) or exc).lower()
    return getattr(exc, "status_code", None) == 409 and "run command" in message and "in progress" in message


def run_command_streams(result: dict[str, Any]) -> tuple[str, str]:
    """(stdout, stderr) of a RunCommandResult in REST JSON."""
    stdout, stderr = [], []
    for status in result.get("value") or []:
        code = str(status.get("code") or "")
        if "/StdOut/" in code:
            stdout.append(status.get("message") or "")
        elif "/StdErr/" in code:
            stderr.append(status.get("message") or "")
    return "\n".join(stdout), "\n".join(stderr)


def certificate_from_der(der: bytes) -> dict[str, str]:
    """PEM and thumbprints of a DER certificate (SHA-1 upper-case as Windows shows it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise AzureOperationError(f"The WinRM certificate is not a valid X.509 certificate: {exc}") from None
    return {
        "certificate_pem": certificate.public_bytes(Encoding.PEM).decode("ascii"),
        "thumbprint_sha1": hashlib.sha1(der).hexdigest().upper(),  # nosec - Windows' thumbprint, not security
        "thumbprint_sha256": hashlib.sha256(der).hexdigest(),
    }


def certificate_from_script_output(stdout: str) -> dict[str, str]:
    """The certificate from enable_winrm_https's JSON line, checked against its own thumbprint."""
    line = next((raw.strip() for raw in reversed(stdout.splitlines()) if raw.strip().startswith("{")), None)
    if line is None:
        raise AzureOperationError(f"{WINRM_SCRIPT} printed no JSON line; its output was: {stdout[:500]!r}")
    try:
        data = json.loads(line)
        der = base64.b64decode(data["certificate"], validate=True)
        thumbprint = str(data["thumbprint"]).upper()
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise AzureOperationError(f"{WINRM_SCRIPT} printed an unreadable JSON line ({exc})") from None
    certificate = certificate_from_der(der)
    if certificate["thumbprint_sha1"] != thumbprint:
        raise AzureOperationError(
            f"{WINRM_SCRIPT} reported thumbprint {thumbprint} but its certificate's is "
            f"{certificate['thumbprint_sha1']}"
        )
    return certificate


def presented_certificate(host: str, port: int = WINRM_PORT, timeout: float = 10) -> bytes | None:
    """The DER certificate a TLS listener presents, or None when nothing answers.

    The certificate is not verified here on purpose: the caller only accepts it when its SHA-256
    equals the pin that came through the authenticated control plane (Run Command output).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                return tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None


# --- the plan ------------------------------------------------------------------------------------


@dataclass
class Existing:
    """What a GET found for each repair resource (REST JSON) before any change."""

    resource_group: dict[str, Any] | None = None
    snapshot: dict[str, Any] | None = None
    disk_copy: dict[str, Any] | None = None
    nic: dict[str, Any] | None = None
    vm: dict[str, Any] | None = None
    nsg: dict[str, Any] | None = None  # network=isolated
    vnet: dict[str, Any] | None = None  # network=isolated
    public_ip: dict[str, Any] | None = None  # network=isolated
    os_disk: dict[str, Any] | None = None  # the repair VM's own OS disk (Azure does not tag it)
    winrm_certificate: dict[str, str] | None = None  # the pinned certificate a listener presents


def needs_create(resource: dict[str, Any] | None) -> bool:
    """Create (PUT) when missing or when an earlier attempt failed; wait when it is in progress."""
    if resource is None:
        return True
    return provisioning_state(resource) in ("failed", "canceled")


def step(action: str, resource_type: str, name: str, why: str = "") -> dict[str, str]:
    """One plan entry; `why` names the facts about the source VM that decided it."""
    return {"action": action, "resource_type": resource_type, "name": name, "why": why}


def os_disk_needs_tags(existing: Existing, repair_id: str) -> bool:
    """The repair VM's OS disk is created by Azure with the VM, without tags: we add them."""
    return existing.os_disk is None or (existing.os_disk.get("tags") or {}).get(TAG_REPAIR_ID) != repair_id


def build_plan(existing: Existing, names: RepairNames, why: dict[str, str] | None = None,
               isolated: bool = False) -> list[dict[str, str]]:
    """The ordered operations a run would carry out, given what exists.

    `why` maps a resource type to the facts that decided its shape (size, zone, encryption...).
    """
    why = why or {}
    plan = []
    if existing.resource_group is None:
        plan.append(step("create", TYPE_RESOURCE_GROUP, names.resource_group, why.get(TYPE_RESOURCE_GROUP, "")))
    resources = [
        (existing.snapshot, TYPE_SNAPSHOT, names.snapshot),
        (existing.disk_copy, TYPE_DISK, names.disk_copy),
    ]
    if isolated:
        resources += [
            (existing.nsg, TYPE_NSG, names.nsg),
            (existing.public_ip, TYPE_PUBLIC_IP, names.public_ip),
            (existing.vnet, TYPE_VNET, names.vnet),
        ]
    resources += [(existing.nic, TYPE_NIC, names.nic), (existing.vm, TYPE_VM, names.vm)]
    for resource, resource_type, name in resources:
        if needs_create(resource):
            plan.append(step("create", resource_type, name, why.get(resource_type, "")))
        elif provisioning_state(resource) in IN_PROGRESS_STATES:
            plan.append(step("wait", resource_type, name, why.get(resource_type, "")))
    if os_disk_needs_tags(existing, names.repair_id):
        plan.append(step("update_tags", TYPE_DISK, names.os_disk, "Azure creates the VM's OS disk untagged"))
    if existing.winrm_certificate is None:
        plan.append(step("run_command", TYPE_VM, f"{names.vm}:{WINRM_SCRIPT}",
                         "WinRM over HTTPS; its certificate comes back through the authenticated control plane"))
        plan.append(step("update_tags", TYPE_VM, names.vm, f"pin the certificate's SHA-256 in {TAG_WINRM_SHA256}"))
    return plan


# --- the run -------------------------------------------------------------------------------------


@dataclass
class RepairRun:
    """One run of repair_vm state=present."""

    clients: AzureClients
    request: RepairRequest
    render_script: Callable[[str, dict[str, Any]], str] | None = None
    probe_certificate: Callable[[str], bytes | None] = presented_certificate
    created: list[TaggedResource] = field(default_factory=list)  # succeeded, this run
    attempted: list[TaggedResource] = field(default_factory=list)  # PUT sent, this run
    changed: bool = False
    # Set by validate():
    source_vm_id: str = field(init=False, default="")
    repair_id: str = field(init=False, default="")
    names: RepairNames = field(init=False, repr=False)
    source: SourceVm = field(init=False, repr=False)
    tags: dict[str, str] = field(init=False, default_factory=dict)
    subnet_id: str = field(init=False, default="")  # network=existing_subnet
    controller_address: str = field(init=False, default="")  # network=isolated
    size: SizeChoice = field(init=False, repr=False)
    image: str = field(init=False, default="")

    @property
    def isolated(self) -> bool:
        return self.request.network == NETWORK_ISOLATED

    @property
    def secrets(self) -> list[str]:
        return [s for s in self.clients.secrets + [self.request.admin_password] if s]

    # -- reads

    def _get(self, getter: Callable[..., Any], what: str, *args: str) -> dict[str, Any] | None:
        try:
            return as_json(getter(*args))
        except Exception as exc:  # pylint: disable=broad-except  # translated
            error = translate_azure_error(exc, action=f"read {what} '{args[-1]}'", secrets=self.secrets)
            if isinstance(error, AzureNotFoundError):
                return None
            raise error from None

    def _owned(self, resource: dict[str, Any] | None, what: str, name: str, group: str) -> dict[str, Any] | None:
        """A found resource, if it belongs to this repair; refuse to touch someone else's."""
        if resource is None:
            return None
        if (resource.get("tags") or {}).get(TAG_REPAIR_ID) != self.repair_id:
            raise AzureInputError(
                f"A {what} named '{name}' already exists in resource group '{group}' but is not tagged "
                f"{TAG_REPAIR_ID}={self.repair_id}: refusing to use or change it (choose another repair_id)"
            )
        return resource

    def validate(self) -> None:
        """Everything that can be checked before creating anything."""
        request = self.request
        clients = self.clients
        self.source_vm_id = vm_resource_id(clients.subscription_id, request.resource_group, request.vm_name)
        self.repair_id = validate_repair_id(request.repair_id or default_repair_id(self.source_vm_id))
        self.names = RepairNames.for_repair(self.repair_id, request.vm_name, request.repair_resource_group)
        parse_image(request.image)
        validate_admin_account(request.admin_username, request.admin_password)
        self._check_script_available()
        if request.timeout <= 0:
            raise AzureInputError("timeout must be a positive number of seconds")

        vm = clients.get_vm(request.resource_group, request.vm_name)
        os_disk_id = _dig(vm, "properties", "storageProfile", "osDisk", "managedDisk", "id")
        os_disk = clients.get_by_id(os_disk_id, clients.compute.disks.get, "disk") if os_disk_id else None
        self.source = source_from_json(vm, os_disk)
        refuse_ade(self.source.name, self.source.encryption)
        refuse_locked_groups(clients, {
            self.source.resource_group: "the snapshot and the disk copy",
            self.names.resource_group: "the repair VM and its resources",
        })
        self.tags = repair_tags(self.repair_id, vm.get("id") or self.source_vm_id)
        self._network()
        self.size = self._choose_size()
        self.image = request.image
        if request.image == DEFAULT_IMAGE and self.source.hyper_v_generation == "V1":
            self.image = DEFAULT_IMAGE_GEN1

    def _network(self) -> None:
        request = self.request
        if request.network not in NETWORK_MODES:
            raise AzureInputError(f"network must be one of {', '.join(NETWORK_MODES)}, not '{request.network}'")
        if not self.isolated:
            self.subnet_id = self._subnet()
            return
        if request.subnet_id:
            raise AzureInputError("subnet_id and network=isolated exclude each other: the isolated network is new")
        validate_prefix(request.isolated_address_prefix)
        self.controller_address = validate_controller_address(
            request.controller_address or discover_controller_address())

    def _choose_size(self) -> SizeChoice:
        """The requested size if it fits the source, else the first fitting preference."""
        source = self.source
        needs = SizeNeeds(
            location=source.location,
            zone=source.zone,
            # The repair VM boots the generation of its image: Gen1 image for a Gen1 source.
            hyper_v_generation=source.hyper_v_generation,
            trusted_launch=source.trusted_launch,
            premium_disk=str(source.disk_sku or "").lower().startswith("premium"),
        )
        location = source.location.replace("'", "''")
        try:
            skus = [as_json(s) for s in self.clients.compute.resource_skus.list(filter=f"location eq '{location}'")]
        except Exception as exc:  # pylint: disable=broad-except  # translated
            raise translate_azure_error(exc, action=f"list the VM sizes of {source.location}",
                                        secrets=self.secrets) from None
        return choose_vm_size(skus, self.request.vm_size, needs,
                              self.request.vm_size_preferences or DEFAULT_SIZE_PREFERENCES)

    def plan_reasons(self) -> dict[str, str]:
        """Per resource type, the facts that decided it (shown in the plan, also in check mode)."""
        source = self.source
        zone = f"zone {source.zone}" if source.zone else "regional (no zone)"
        encryption = {
            "customer_key": f"encrypted with disk encryption set {source.encryption.disk_encryption_set_id} (kept)",
            "platform_key": "platform-managed keys",
        }.get(source.encryption.type, source.encryption.type)
        disk = (f"copy of {source.os_disk_id}: {source.disk_sku or 'default'} SKU, Hyper-V {source.hyper_v_generation}, "
                f"{source.security_type or 'Standard'} security, {zone}, {encryption}")
        vm = (f"{self.size.name} ({self.size.reason}); image {self.image}; {zone}"
              + ("; Trusted Launch (secure boot, vTPM) like the source" if source.trusted_launch else ""))
        reasons = {
            TYPE_RESOURCE_GROUP: f"in {source.location}, the source VM's region",
            TYPE_SNAPSHOT: f"full snapshot of {source.os_disk_id} (read only), in '{source.resource_group}'",
            TYPE_DISK: disk,
            TYPE_VM: vm,
        }
        if self.isolated:
            reasons.update({
                TYPE_NSG: f"admits {WINRM_PORT}/TCP from {self.controller_address} only",
                TYPE_PUBLIC_IP: "Standard, static; the WinRM address" + (f" in zone {source.zone}" if source.zone else ""),
                TYPE_VNET: f"isolated network {self.request.isolated_address_prefix} behind the NSG",
                TYPE_NIC: "in the isolated subnet, with the public IP",
            })
        else:
            reasons[TYPE_NIC] = f"in subnet {self.subnet_id}, private address only (no public IP)"
        return reasons

    def _check_script_available(self) -> None:
        """Fail before creating anything if the WinRM script cannot be rendered here."""
        if self.render_script is None:
            raise VmrepairError("No script renderer was given to the repair run")
        try:
            self.render_script(WINRM_SCRIPT, {"subject_names": ["127.0.0.1"]})
        except (LookupError, OSError) as exc:
            raise VmrepairError(f"The collection's {WINRM_SCRIPT} script is not available: {exc}") from None

    def _subnet(self) -> str:
        clients = self.clients
        if self.request.subnet_id:
            subnet_id = self.request.subnet_id
        else:
            if not self.source.primary_nic_id:
                raise AzureInputError(f"Virtual machine '{self.source.name}' has no NIC: give subnet_id")
            nic = clients.get_by_id(self.source.primary_nic_id, clients.network.network_interfaces.get,
                                    "network interface")
            subnet_id = subnet_of_nic(nic or {})
            if not subnet_id:
                raise AzureInputError(f"Cannot find the subnet of virtual machine '{self.source.name}': give subnet_id")
        parts = subnet_id.strip("/").split("/")
        lowered = [p.lower() for p in parts]
        if "virtualnetworks" not in lowered or "subnets" not in lowered:
            raise AzureInputError(f"subnet_id '{subnet_id}' is not a subnet resource id")
        vnet_name = parts[lowered.index("virtualnetworks") + 1]
        subnet_name = parts[lowered.index("subnets") + 1]
        vnet = self._get(clients.network.virtual_networks.get, "virtual network",
                         parse_resource_id(subnet_id)["resource_group"], vnet_name)
        subnets = [s.get("name", "").lower() for s in _dig(vnet, "properties", "subnets") or []]
        if vnet is None or subnet_name.lower() not in subnets:
            raise AzureNotFoundError(f"Subnet '{subnet_id}' was not found")
        if str(vnet.get("location", "")).replace(" ", "").lower() != self.source.location.replace(" ", "").lower():
            raise AzureInputError(
                f"Subnet '{subnet_name}' is in {vnet.get('location')}, the VM in {self.source.location}: "
                "the repair VM must be in the VM's region"
            )
        return subnet_id

    def discover(self) -> Existing:
        clients, names, source = self.clients, self.names, self.source
        compute, network = clients.compute, clients.network
        group = self._get(clients.resources.resource_groups.get, "resource group", names.resource_group)
        existing = Existing(resource_group=group)
        existing.snapshot = self._owned(
            self._get(compute.snapshots.get, "snapshot", source.resource_group, names.snapshot),
            "snapshot", names.snapshot, source.resource_group)
        existing.disk_copy = self._owned(
            self._get(compute.disks.get, "disk", source.resource_group, names.disk_copy),
            "disk", names.disk_copy, source.resource_group)
        if group is not None:
            existing.nic = self._owned(
                self._get(network.network_interfaces.get, "network interface", names.resource_group, names.nic),
                "network interface", names.nic, names.resource_group)
            existing.vm = self._owned(
                self._get(compute.virtual_machines.get, "virtual machine", names.resource_group, names.vm),
                "virtual machine", names.vm, names.resource_group)
            if self.isolated:
                for attribute, getter, what, name in (
                    ("nsg", network.network_security_groups.get, "network security group", names.nsg),
                    ("vnet", network.virtual_networks.get, "virtual network", names.vnet),
                    ("public_ip", network.public_ip_addresses.get, "public IP address", names.public_ip),
                ):
                    setattr(existing, attribute, self._owned(
                        self._get(getter, what, names.resource_group, name), what, name, names.resource_group))
        if existing.vm is not None:
            existing.os_disk = self._get(compute.disks.get, "disk", names.resource_group, names.os_disk)
        if existing.vm is not None and existing.nic is not None and not needs_create(existing.vm):
            host = (self._public_address(existing.public_ip) if self.isolated
                    else private_ip_of_nic(existing.nic))
            existing.winrm_certificate = self._pinned_certificate(existing.vm, host)
        return existing

    @staticmethod
    def _public_address(public_ip: dict[str, Any] | None) -> str | None:
        return _dig(public_ip, "properties", "ipAddress")

    def _pinned_certificate(self, vm: dict[str, Any], host: str | None) -> dict[str, str] | None:
        """The listener's certificate, if it is the one pinned on the VM by an earlier run."""
        pin = (vm.get("tags") or {}).get(TAG_WINRM_SHA256)
        if not pin or not host:
            return None
        der = self.probe_certificate(host)
        if der is None or hashlib.sha256(der).hexdigest() != pin.lower():
            return None
        return certificate_from_der(der)

    # -- writes

    def _begin(self, description: str, resource: TaggedResource, start: Callable[[], Any]) -> Pending:
        self.attempted.append(resource)
        self.changed = True
        try:
            return Pending(description, start(), subject=resource)
        except Exception as exc:  # pylint: disable=broad-except  # translated
            raise translate_azure_error(exc, action=description, secrets=self.secrets) from None

    def _ensure(self, found: dict[str, Any] | None, resource: TaggedResource, description: str,
                start: Callable[[], Any], get: Callable[[], Any]) -> Pending | None:
        """A poller that ends with the resource provisioned, or None when it already is."""
        if needs_create(found):
            return self._begin(description, resource, start)
        if provisioning_state(found) in IN_PROGRESS_STATES:
            # Created by an earlier, interrupted run: wait for it, it is not this run's.
            return Pending(f"wait for {description}", provisioning_poller(found, lambda: as_json(get()), description))
        return None

    def _wait(self, pending: list[Pending | None], deadline: Deadline) -> list[dict[str, Any] | None]:
        """Wait for the operations together; results (REST JSON) in order, None for no operation."""
        active = [p for p in pending if p is not None]
        results = iter(wait_all(active, deadline, self.secrets))
        self.created.extend(p.subject for p in active if p.subject is not None)
        return [as_json(next(results)) if p is not None else None for p in pending]

    def _resource(self, resource_type: str, group: str, name: str) -> TaggedResource:
        provider_path = {
            TYPE_SNAPSHOT: "Microsoft.Compute/snapshots",
            TYPE_DISK: "Microsoft.Compute/disks",
            TYPE_NIC: "Microsoft.Network/networkInterfaces",
            TYPE_VM: "Microsoft.Compute/virtualMachines",
            TYPE_NSG: "Microsoft.Network/networkSecurityGroups",
            TYPE_VNET: "Microsoft.Network/virtualNetworks",
            TYPE_PUBLIC_IP: "Microsoft.Network/publicIPAddresses",
        }[resource_type]
        resource_id = (f"/subscriptions/{self.clients.subscription_id}/resourceGroups/{group}"
                       f"/providers/{provider_path}/{name}")
        return TaggedResource(id=resource_id, type=resource_type, name=name)

    def execute(self, existing: Existing, deadline: Deadline) -> dict[str, Any]:
        clients, names, source, tags = self.clients, self.names, self.source, self.tags
        compute, network = clients.compute, clients.network
        group_name = names.resource_group

        # 1. snapshot (in the source VM's group) while the repair group is created.
        snapshot_resource = self._resource(TYPE_SNAPSHOT, source.resource_group, names.snapshot)
        snapshot_wait = self._ensure(
            existing.snapshot, snapshot_resource, f"create snapshot '{names.snapshot}'",
            lambda: compute.snapshots.begin_create_or_update(
                source.resource_group, names.snapshot, snapshot_body(source, tags)),
            lambda: compute.snapshots.get(source.resource_group, names.snapshot),
        )
        if existing.resource_group is None:
            self._create_resource_group()
        snapshot = self._wait([snapshot_wait], deadline)[0] or existing.snapshot

        # 2. the disk copy and the NIC, together.
        disk_resource = self._resource(TYPE_DISK, source.resource_group, names.disk_copy)
        disk_wait = self._ensure(
            existing.disk_copy, disk_resource, f"create disk '{names.disk_copy}'",
            lambda: compute.disks.begin_create_or_update(
                source.resource_group, names.disk_copy, disk_copy_body(source, snapshot["id"], tags)),
            lambda: compute.disks.get(source.resource_group, names.disk_copy),
        )
        subnet_id, public_ip = self.subnet_id, None
        if self.isolated:
            subnet_id, public_ip = self._isolated_network(existing, deadline)
        nic_resource = self._resource(TYPE_NIC, group_name, names.nic)
        public_ip_id = (public_ip or {}).get("id")
        nic_wait = self._ensure(
            existing.nic, nic_resource, f"create network interface '{names.nic}'",
            lambda: network.network_interfaces.begin_create_or_update(
                group_name, names.nic, nic_body(source.location, subnet_id, tags, public_ip_id)),
            lambda: network.network_interfaces.get(group_name, names.nic),
        )
        disk_copy, nic = self._wait([disk_wait, nic_wait], deadline)
        disk_copy = disk_copy or existing.disk_copy
        nic = nic or existing.nic

        # 3. the repair VM.
        vm_resource = self._resource(TYPE_VM, group_name, names.vm)
        zones = list(disk_copy.get("zones") or source.zones)
        vm_wait = self._ensure(
            existing.vm, vm_resource, f"create virtual machine '{names.vm}'",
            lambda: compute.virtual_machines.begin_create_or_update(
                group_name, names.vm, vm_body(self.request, source, names, tags, nic["id"], disk_copy["id"], zones,
                                              vm_size=self.size.name, image=self.image)),
            lambda: compute.virtual_machines.get(group_name, names.vm),
        )
        vm = self._wait([vm_wait], deadline)[0] or existing.vm
        # A NIC gets its dynamic address when it is created; re-read it if the answer lacked it.
        private_ip = private_ip_of_nic(nic) or private_ip_of_nic(
            self._get(network.network_interfaces.get, "network interface", group_name, names.nic) or {})
        if not private_ip:
            raise AzureOperationError(f"Network interface '{names.nic}' has no private IP address")
        host = private_ip
        if self.isolated:
            host = self._public_address(public_ip) or self._public_address(self._get(
                network.public_ip_addresses.get, "public IP address", group_name, names.public_ip))
            if not host:
                raise AzureOperationError(f"Public IP address '{names.public_ip}' has no address")

        # 4. Tags on the VM's OS disk, while WinRM over HTTPS is enabled through Run Command;
        #    the certificate's SHA-256 is then pinned on the VM.
        os_disk_tagging = None
        if os_disk_needs_tags(existing, self.repair_id):
            description = f"tag disk '{names.os_disk}'"
            self.changed = True
            try:
                os_disk_tagging = Pending(description, compute.disks.begin_update(
                    group_name, names.os_disk, {"tags": dict(tags)}))
            except Exception as exc:  # pylint: disable=broad-except  # translated
                raise translate_azure_error(exc, action=description, secrets=self.secrets) from None
        certificate = existing.winrm_certificate
        if certificate is None:
            certificate = self._enable_winrm(host, deadline)
        self._wait([os_disk_tagging], deadline)
        if existing.winrm_certificate is None:
            self._pin(vm, certificate["thumbprint_sha256"], deadline)

        return {
            "snapshot": {"id": snapshot.get("id"), "name": names.snapshot},
            "disk_copy": {"id": disk_copy.get("id"), "name": names.disk_copy},
            "repair_vm": {
                "id": vm.get("id"),
                "name": names.vm,
                "computer_name": names.computer_name,
                "private_ip": private_ip,
                "public_ip": host if self.isolated else None,
                "admin_username": self.request.admin_username,
                "vm_size": self.size.name,
            },
            "winrm": dict(certificate, host=host, port=WINRM_PORT),
        }

    def _isolated_network(self, existing: Existing, deadline: Deadline) -> tuple[str, dict[str, Any]]:
        """NSG and public IP together, then the VNet whose subnet uses the NSG: (subnet id, public IP)."""
        network, names, source, tags = self.clients.network, self.names, self.source, self.tags
        group_name = names.resource_group
        nsg_wait = self._ensure(
            existing.nsg, self._resource(TYPE_NSG, group_name, names.nsg),
            f"create network security group '{names.nsg}'",
            lambda: network.network_security_groups.begin_create_or_update(
                group_name, names.nsg, nsg_body(source.location, self.controller_address, tags, WINRM_PORT)),
            lambda: network.network_security_groups.get(group_name, names.nsg),
        )
        zones = [source.zone] if source.zone else []
        public_ip_wait = self._ensure(
            existing.public_ip, self._resource(TYPE_PUBLIC_IP, group_name, names.public_ip),
            f"create public IP address '{names.public_ip}'",
            lambda: network.public_ip_addresses.begin_create_or_update(
                group_name, names.public_ip, public_ip_body(source.location, zones, tags)),
            lambda: network.public_ip_addresses.get(group_name, names.public_ip),
        )
        nsg, public_ip = self._wait([nsg_wait, public_ip_wait], deadline)
        nsg = nsg or existing.nsg
        public_ip = public_ip or existing.public_ip
        vnet_wait = self._ensure(
            existing.vnet, self._resource(TYPE_VNET, group_name, names.vnet),
            f"create virtual network '{names.vnet}'",
            lambda: network.virtual_networks.begin_create_or_update(
                group_name, names.vnet,
                vnet_body(source.location, self.request.isolated_address_prefix, nsg["id"], tags)),
            lambda: network.virtual_networks.get(group_name, names.vnet),
        )
        vnet = self._wait([vnet_wait], deadline)[0] or existing.vnet
        return f"{vnet['id']}/subnets/{ISOLATED_SUBNET}", public_ip

    def _create_resource_group(self) -> None:
        names = self.names
        group = TaggedResource(
            id=f"/subscriptions/{self.clients.subscription_id}/resourceGroups/{names.resource_group}",
            type=TYPE_RESOURCE_GROUP, name=names.resource_group,
        )
        self.attempted.append(group)
        self.changed = True
        try:
            self.clients.resources.resource_groups.create_or_update(
                names.resource_group, {"location": self.source.location, "tags": dict(self.tags)})
        except Exception as exc:  # pylint: disable=broad-except  # translated
            raise translate_azure_error(
                exc, action=f"create resource group '{names.resource_group}'", secrets=self.secrets) from None
        self.created.append(group)

    def _enable_winrm(self, private_ip: str, deadline: Deadline) -> dict[str, str]:
        from azure.mgmt.compute.models import RunCommandInput

        if self.render_script is None:
            raise VmrepairError("No script renderer was given to the repair run")
        script = self.render_script(WINRM_SCRIPT, {"subject_names": [private_ip]})
        description = f"run {WINRM_SCRIPT} on virtual machine '{self.names.vm}'"
        self.changed = True
        while True:
            try:
                poller = self.clients.compute.virtual_machines.begin_run_command(
                    self.names.resource_group, self.names.vm,
                    RunCommandInput(command_id="RunPowerShellScript", script=script.splitlines()),
                )
                break
            except Exception as exc:  # pylint: disable=broad-except  # translated
                # A VM runs one Run Command at a time; an interrupted earlier run may have left one going.
                if not run_command_busy(exc):
                    raise translate_azure_error(exc, action=description, secrets=self.secrets) from None
                if deadline.remaining() <= RUN_COMMAND_BUSY_RETRY_S:
                    raise WaitTimeoutError(
                        f"Timed out after {deadline.seconds:g} s waiting for the Run Command already in progress on "
                        f"virtual machine '{self.names.vm}' to finish, to {description}",
                        waiting_for=[f"Run Command in progress on '{self.names.vm}'"]) from None
                time.sleep(RUN_COMMAND_BUSY_RETRY_S)
        result = as_json(wait_one(description, poller, deadline, self.secrets))
        stdout, stderr = run_command_streams(result)
        if stderr.strip() and "{" not in stdout:
            raise AzureOperationError(scrub(f"{WINRM_SCRIPT} failed on '{self.names.vm}': {stderr.strip()[:2000]}",
                                            self.secrets))
        return certificate_from_script_output(stdout)

    def _pin(self, vm: dict[str, Any], sha256: str, deadline: Deadline) -> None:
        tags = dict(vm.get("tags") or self.tags)
        tags[TAG_WINRM_SHA256] = sha256
        description = f"pin the WinRM certificate on virtual machine '{self.names.vm}'"
        try:
            poller = self.clients.compute.virtual_machines.begin_update(
                self.names.resource_group, self.names.vm, {"tags": tags})
        except Exception as exc:  # pylint: disable=broad-except  # translated
            raise translate_azure_error(exc, action=description, secrets=self.secrets) from None
        wait_one(description, poller, deadline, self.secrets)

    def rollback(self) -> dict[str, Any]:
        """Delete what this run created (it never touches what existed before it)."""
        resources = list(reversed(self.attempted))
        report = delete_in_order(self.clients, resources, Deadline(self.request.timeout))
        return {"rolled_back": report.deleted, "rollback_errors": report.errors}


def ensure_repair_vm(
    clients: AzureClients,
    request: RepairRequest,
    check_mode: bool = False,
    render_script: Callable[[str, dict[str, Any]], str] | None = None,
    probe_certificate: Callable[[str], bytes | None] = presented_certificate,
) -> dict[str, Any]:
    """What repair_vm state=present returns."""
    run = RepairRun(clients, request, render_script, probe_certificate)
    deadline = Deadline(request.timeout)
    run.validate()
    existing = run.discover()
    plan = build_plan(existing, run.names, run.plan_reasons(), isolated=run.isolated)
    result: dict[str, Any] = {
        "repair_id": run.repair_id,
        "repair_resource_group": run.names.resource_group,
        "source_vm": {"id": run.source.id, "name": run.source.name, "resource_group": run.source.resource_group},
        "plan": plan,
        "facts": run.source.facts(),
        "vm_size": run.size.name,
        "vm_size_reason": run.size.reason,
        "network": run.request.network,
        "created": [],
        "changed": any(s["action"] != "wait" for s in plan),
    }
    if check_mode:
        return result
    try:
        result.update(run.execute(existing, deadline))
    except Exception as exc:  # pylint: disable=broad-except  # translated, rolled back, re-raised
        error = translate_azure_error(exc, action="create the repair VM", secrets=run.secrets)
        error.details.setdefault("repair_id", run.repair_id)
        error.details["created"] = [r.id for r in run.created]
        if error.details.get("error_code") == "ScopeLocked":
            locks = describe_locks(run.clients, error.message)
            if locks:
                error.message += f" [{locks}]"
        if not request.keep_resources and run.attempted:
            error.details.update(run.rollback())
            error.message += " (rolled back what this run created; set keep_resources=true to keep it)"
        raise error from None
    result["created"] = [r.id for r in run.created]
    result["changed"] = run.changed
    return result
