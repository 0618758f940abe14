#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: repair_vm
short_description: Create (or remove) a repair VM with a copy of a broken Windows VM's OS disk
version_added: 0.1.0
description:
  - Validates the broken (source) VM first and creates nothing on bad input. It must exist, run Windows and
    have a managed OS disk.
  - Plans the repair VM from the source VM before creating anything, and returns the facts that decided it
    (RV(facts)) and, per plan entry, why (RV(plan[].why)), also in check mode. OS type, Hyper-V generation
    (a Generation 1 source gets a Generation 1 image when O(image) is the default), Trusted Launch (the repair
    VM gets it too), zone, disk SKU and encryption.
  - Chooses the size from the region's resource SKUs (Compute C(ResourceSkus_List)), taking O(vm_size) when it is
    offered in the region and zone without restriction, supports the disk's Hyper-V generation, allows Trusted
    Launch when needed and takes premium disks when the copy is premium; otherwise the first fitting size of
    O(vm_size_preferences). A size Azure does not know fails before anything is created. RV(vm_size) and
    RV(vm_size_reason) say which size and why.
  - A disk encrypted with a disk encryption set (customer-managed keys) is copied under the same set. A disk
    encrypted with Azure Disk Encryption (BitLocker, key in Key Vault) stops the run before anything is
    created, with the Key Vault secret of its key and what to do; unlocking it is not implemented yet.
  - Reads the management locks of the source and repair resource groups first; a C(ReadOnly) or C(CanNotDelete)
    lock stops the run before anything is created and is named. A lock met later (ARM C(ScopeLocked)) or a
    missing permission (C(AuthorizationFailed)) on any write rolls back what the run created and names the
    locks or the missing action.
  - Takes a snapshot of the source OS disk and a disk copy from it (same zone, Hyper-V generation, security
    profile and encryption as the source disk), both in the source VM's resource group; the source OS disk
    is only ever read.
  - Creates a NIC (no public IP) in the subnet of the source VM's primary NIC, or in O(subnet_id), and a
    Windows repair VM in the repair resource group with the disk copy attached at LUN 0.
  - Enables WinRM over HTTPS on the repair VM with Run Command and returns the listener's certificate as it
    came back through the authenticated Azure control plane, to be pinned by the WinRM client. Its SHA-256 is
    also kept in the tag C(vmrepair-winrm-sha256) of the repair VM.
  - Independent operations run at the same time (resource group with snapshot; NIC with disk copy).
  - Every resource carries the tags C(vmrepair-repair-id) and C(vmrepair-source-vm). Names derive from the repair
    id, so a re-run finds what exists and creates only what is missing.
  - With O(state=absent), deletes everything of the repair as M(vmrepair.azure.repair_cleanup) does.
author:
  - vmrepair.azure maintainers (!UNKNOWN)
extends_documentation_fragment:
  - vmrepair.azure.azure_auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Returns RV(plan), the operations that would run, and changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: azure
options:
  resource_group:
    description: The resource group of the broken (source) VM.
    type: str
    required: true
  vm_name:
    description: The name of the broken (source) VM.
    type: str
    required: true
  repair_id:
    description:
      - Identifies this repair in resource names and tags; 1 to 32 lower-case letters, digits or C(-).
      - Defaults to the first 8 hexadecimal digits of the SHA-256 of the lower-cased source VM id, so runs for
        the same VM converge on the same resources.
    type: str
  repair_resource_group:
    description:
      - The resource group of the repair VM and its NIC.
      - Defaults to C(rg-vmrepair-<repair_id>), created in the source VM's region and tagged. A group that
        already exists and is not tagged with the repair id is used but never deleted.
    type: str
  subnet_id:
    description:
      - Resource id of the subnet for the repair VM's NIC, with O(network=existing_subnet).
      - Defaults to the subnet of the source VM's primary NIC. A subnet in another region fails before anything
        is created.
    type: str
  network:
    description:
      - V(existing_subnet) puts the repair VM in O(subnet_id) (or the source VM's subnet) with no public IP; the
        controller must reach its private address.
      - V(isolated) creates, in the repair resource group, a VNet (O(isolated_address_prefix)) behind an NSG that
        admits 5986/TCP from O(controller_address) only, and a Standard static public IP; WinRM goes to that
        public IP.
    type: str
    default: existing_subnet
    choices: [existing_subnet, isolated]
  controller_address:
    description:
      - With O(network=isolated), the controller's public IP address (or a narrow prefix) the NSG admits.
      - V(0.0.0.0/0), V(*), V(Any), V(Internet) or any other prefix of length 0 are refused.
      - When not given, it is discovered by an HTTPS GET to C(https://api.ipify.org) from the controller, which
        answers with the address it sees; give it explicitly when the controller goes out through a proxy or
        cannot reach that service.
    type: str
  isolated_address_prefix:
    description: With O(network=isolated), the address space of the new VNet and its one subnet.
    type: str
    default: 10.250.0.0/24
  vm_size:
    description:
      - Size of the repair VM, used when it fits the source (see the description); otherwise the first fitting
        size of O(vm_size_preferences) is used and RV(vm_size_reason) says why.
    type: str
    default: Standard_D2s_v3
  vm_size_preferences:
    description:
      - Sizes to fall back on, in order, when O(vm_size) does not fit.
      - Defaults to Standard_D2s_v5, Standard_D2as_v5, Standard_D2s_v4, Standard_D2s_v3, Standard_B2ms,
        Standard_DS2_v2.
    type: list
    elements: str
  admin_username:
    description: Administrator account of the repair VM (used for WinRM).
    type: str
    default: vmrepair
  admin_password:
    description:
      - Password of O(admin_username); required with O(state=present).
      - Azure's rules apply (8 to 123 characters, 3 of lower, upper, digit, special). Never returned or logged.
    type: str
  image:
    description:
      - Image of the repair VM, as C(Publisher:Offer:Sku:Version) or an image resource id.
    type: str
    default: MicrosoftWindowsServer:WindowsServer:2022-datacenter-azure-edition:latest
  keep_resources:
    description:
      - When a run fails midway, keep what it created instead of deleting it (in reverse order).
      - Resources created by earlier runs are never deleted on failure.
    type: bool
    default: false
  timeout:
    description:
      - Seconds every wait of the run may take in total; the error names what was still awaited.
    type: int
    default: 1800
  state:
    description: V(present) creates or converges the repair VM; V(absent) deletes everything of the repair.
    type: str
    default: present
    choices: [present, absent]
  winrm_ca_trust_path:
    description:
      - Path on the controller where the repair VM's WinRM certificate is written (PEM, mode 0600), ready for
        C(ansible_winrm_ca_trust_path) so that the controller trusts exactly that certificate.
      - Written by the action plugin on the controller, also when the task is delegated; not written in check mode.
    type: path
  _scripts:
    description:
      - Internal, set by the action plugin of this module. The text of the collection's PowerShell scripts the
        module sends through Run Command, because a module's payload carries only Python. Do not set it.
    type: dict
seealso:
  - module: vmrepair.azure.boot_diagnostics_info
  - module: vmrepair.azure.repair_cleanup
"""

EXAMPLES = r"""
- name: Create a repair VM for web-01
  vmrepair.azure.repair_vm:
    resource_group: prod-rg
    vm_name: web-01
    admin_password: "{{ vault_repair_password }}"
  register: repair

- name: Create it and write the certificate Azure returned, to pin it for WinRM/HTTPS
  vmrepair.azure.repair_vm:
    resource_group: prod-rg
    vm_name: web-01
    admin_password: "{{ vault_repair_password }}"
    winrm_ca_trust_path: "{{ playbook_dir }}/artifacts/web-01-winrm.pem"
  register: repair

- name: Show what a run would do
  vmrepair.azure.repair_vm:
    resource_group: prod-rg
    vm_name: web-01
    admin_password: "{{ vault_repair_password }}"
  check_mode: true
  register: preview

- name: Remove the repair VM and everything else of the repair
  vmrepair.azure.repair_vm:
    resource_group: prod-rg
    vm_name: web-01
    state: absent
"""

RETURN = r"""
repair_id:
  description: The repair id.
  returned: always
  type: str
  sample: 1a2b3c4d
repair_resource_group:
  description: The repair resource group.
  returned: always
  type: str
  sample: rg-vmrepair-1a2b3c4d
source_vm:
  description: The broken VM (id, name, resource_group).
  returned: state=present
  type: dict
facts:
  description: What decided the plan, read from the source VM and its OS disk.
  returned: state=present
  type: dict
  contains:
    os_type:
      description: Always C(Windows) (other OS types fail).
      type: str
    location:
      description: Region of the source VM.
      type: str
    zone:
      description: Availability zone of the source OS disk, or null when regional.
      type: str
    hyper_v_generation:
      description: C(V1) or C(V2).
      type: str
    security_type:
      description: C(Standard) or C(TrustedLaunch).
      type: str
    disk_sku:
      description: SKU of the source OS disk, kept for the copy.
      type: str
    encryption:
      description: C(type) (platform_key, customer_key) and C(disk_encryption_set_id).
      type: dict
vm_size:
  description: The size the repair VM gets (or would get, in check mode).
  returned: state=present
  type: str
  sample: Standard_D2s_v5
vm_size_reason:
  description: Why that size, including why O(vm_size) was passed over.
  returned: state=present
  type: str
network:
  description: The network mode, C(existing_subnet) or C(isolated).
  returned: state=present
  type: str
repair_vm:
  description: The repair VM.
  returned: state=present and not check mode
  type: dict
  contains:
    id:
      description: Resource id.
      type: str
    name:
      description: Resource name, C(vmrepair-<repair_id>).
      type: str
      sample: vmrepair-1a2b3c4d
    computer_name:
      description: Windows computer name, C(REPAIR<ID>), at most 15 characters.
      type: str
      sample: REPAIR1A2B3C4D
    private_ip:
      description: Private IP address of its NIC.
      type: str
      sample: 10.0.1.5
    public_ip:
      description: Its public IP address with O(network=isolated), else null.
      type: str
    vm_size:
      description: Its size.
      type: str
    admin_username:
      description: The administrator account.
      type: str
      sample: vmrepair
winrm:
  description: How to reach the repair VM over WinRM/HTTPS.
  returned: state=present and not check mode
  type: dict
  contains:
    host:
      description: Address to connect to.
      type: str
    port:
      description: WinRM HTTPS port.
      type: int
      sample: 5986
    certificate_pem:
      description: The listener's certificate (PEM), from Run Command output; trust exactly this certificate.
      type: str
    thumbprint_sha1:
      description: SHA-1 thumbprint as Windows shows it (upper-case hex).
      type: str
    thumbprint_sha256:
      description: SHA-256 of the certificate (lower-case hex).
      type: str
    ca_trust_path:
      description: Where the certificate was written on the controller, when O(winrm_ca_trust_path) was given.
      type: str
snapshot:
  description: The snapshot of the source OS disk (id, name).
  returned: state=present and not check mode
  type: dict
disk_copy:
  description: The disk copy attached to the repair VM at LUN 0 (id, name).
  returned: state=present and not check mode
  type: dict
created:
  description: Ids of the resources this run created.
  returned: always
  type: list
  elements: str
plan:
  description: The operations that ran (or, in check mode, would run), in order.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: C(create), C(wait) (for a resource an earlier run is still creating), C(run_command),
        C(update_tags) or C(delete).
      type: str
    resource_type:
      description: ARM resource type.
      type: str
      sample: Microsoft.Compute/snapshots
    name:
      description: Resource name.
      type: str
      sample: snap-web-01-1a2b3c4d
    why:
      description: The facts about the source VM that decided this entry (size and why, zone, encryption...).
      type: str
deleted:
  description: Ids deleted (state=absent).
  returned: state=absent
  type: list
  elements: str
remaining:
  description: Ids still tagged with the repair id after deletion (state=absent); the module fails if any remain.
  returned: state=absent
  type: list
  elements: str
"""

from ansible_collections.vmrepair.azure.plugins.module_utils._cleanup import cleanup_repair
from ansible_collections.vmrepair.azure.plugins.module_utils._module_base import AzureModule
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_names import (
    default_repair_id,
    default_repair_resource_group,
    validate_repair_id,
    vm_resource_id,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_network import (
    DEFAULT_ISOLATED_PREFIX,
    NETWORK_EXISTING_SUBNET,
    NETWORK_MODES,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_vm import (
    DEFAULT_ADMIN_USERNAME,
    DEFAULT_IMAGE,
    DEFAULT_VM_SIZE,
    RepairRequest,
    ensure_repair_vm,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._scripts import render_script_text
from ansible_collections.vmrepair.azure.plugins.module_utils._waiters import Deadline


def present(module: AzureModule) -> dict:
    params = module.params
    request = RepairRequest(
        resource_group=params["resource_group"],
        vm_name=params["vm_name"],
        admin_password=params["admin_password"],
        repair_id=params["repair_id"],
        repair_resource_group=params["repair_resource_group"],
        subnet_id=params["subnet_id"],
        vm_size=params["vm_size"],
        admin_username=params["admin_username"],
        image=params["image"],
        keep_resources=params["keep_resources"],
        timeout=params["timeout"],
        vm_size_preferences=params["vm_size_preferences"],
        network=params["network"],
        controller_address=params["controller_address"],
        isolated_address_prefix=params["isolated_address_prefix"],
    )
    scripts = params["_scripts"] or {}

    def render_script(name: str, script_params: dict) -> str:
        if name not in scripts:
            raise LookupError(f"no script {name!r} was handed to the module (run it as vmrepair.azure.repair_vm)")
        return render_script_text(name, scripts[name], script_params)

    return ensure_repair_vm(module.clients, request, check_mode=module.check_mode, render_script=render_script)


def absent(module: AzureModule) -> dict:
    params = module.params
    clients = module.clients
    source_vm_id = vm_resource_id(clients.subscription_id, params["resource_group"], params["vm_name"])
    repair_id = validate_repair_id(params["repair_id"] or default_repair_id(source_vm_id))
    group = params["repair_resource_group"] or default_repair_resource_group(repair_id)
    result = cleanup_repair(clients, repair_id, group, Deadline(params["timeout"]), wait=True,
                            check_mode=module.check_mode)
    result.update({"repair_id": repair_id, "repair_resource_group": group, "created": []})
    return result


def main() -> None:
    module = AzureModule(
        argument_spec={
            "resource_group": {"type": "str", "required": True},
            "vm_name": {"type": "str", "required": True},
            "repair_id": {"type": "str"},
            "repair_resource_group": {"type": "str"},
            "subnet_id": {"type": "str"},
            "vm_size": {"type": "str", "default": DEFAULT_VM_SIZE},
            "vm_size_preferences": {"type": "list", "elements": "str"},
            "network": {"type": "str", "default": NETWORK_EXISTING_SUBNET, "choices": list(NETWORK_MODES)},
            "controller_address": {"type": "str"},
            "isolated_address_prefix": {"type": "str", "default": DEFAULT_ISOLATED_PREFIX},
            "admin_username": {"type": "str", "default": DEFAULT_ADMIN_USERNAME},
            "admin_password": {"type": "str", "no_log": True},
            "image": {"type": "str", "default": DEFAULT_IMAGE},
            "keep_resources": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 1800},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "winrm_ca_trust_path": {"type": "path"},
            "_scripts": {"type": "dict"},
        },
        required_if=[("state", "present", ["admin_password"])],
    )
    module.run(present if module.params["state"] == "present" else absent)


if __name__ == "__main__":
    main()
