#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: boot_diagnostics_info
short_description: Triage an Azure VM from its boot diagnostics
version_added: 0.1.0
description:
  - Reads an Azure virtual machine with its instance view (power and provisioning state, OS type, size, zone,
    OS disk and its Hyper-V generation, boot-diagnostics settings).
  - When boot diagnostics are on, asks Azure for SAS links to the serial log and screenshot
    (C(retrieveBootDiagnosticsData)), downloads the serial log and finds the stop code in its
    EMS C(<INSTANCE CLASSNAME="BLUESCREEN">) record (confidence C(certain)).
  - When the serial log has no such record (EMS off), reads the stop code from the screenshot with
    tesseract OCR (confidence C(high) or C(low), never C(certain)), from the C(search online later for this
    error) line or the C(Stop code) line of the stop screen.
  - What cannot be read (no screenshot yet, an expired SAS link, a screen that is not a stop screen, a
    garbled serial log) is said in RV(vm.stop_code_reason); the module fails only when Azure refuses the
    VM itself (not found, no access).
  - Optionally saves the serial log, the screenshot and PNG copies of it on the controller; C(changed) is
    true only when such a file is written. Azure itself is only read.
  - The SAS links are secrets and are never returned or logged.
author:
  - vmrepair.azure maintainers (!UNKNOWN)
extends_documentation_fragment:
  - vmrepair.azure.azure_auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode files are not written; RV(files[].changed) says whether they would be.
  diff_mode:
    support: none
  platform:
    platforms: azure
options:
  resource_group:
    description: The resource group of the virtual machine.
    type: str
    required: true
  vm_name:
    description: The name of the virtual machine.
    type: str
    required: true
  screenshot_dest:
    description:
      - Path on the controller to save the boot-diagnostics screenshot to (Azure serves a bitmap).
      - Its directory must exist. The file is rewritten only when its content differs.
    type: path
  serial_log_dest:
    description:
      - Path on the controller to save the serial log to.
      - Its directory must exist. The file is rewritten only when its content differs.
    type: path
  screenshot_png_dest:
    description:
      - Path on the controller to save a PNG copy of the screenshot to (for reports; lossless, far smaller).
      - Its directory must exist. The file is rewritten only when its content differs.
    type: path
  screenshot_thumbnail_dest:
    description:
      - Path on the controller to save a 240 pixels wide PNG thumbnail of the screenshot to (fleet reports).
    type: path
  sas_expiry_minutes:
    description: How long the SAS links Azure hands out stay valid, 1 to 1440 minutes.
    type: int
    default: 10
  ocr:
    description:
      - When to read the screenshot with OCR.
      - V(auto) reads it when the serial log gives no stop code, or when the VM booted again after the
        serial log's last stop (to tell whether it is at a stop screen now).
      - V(always) reads it every time (the EMS code stands when both disagree; the disagreement is said).
      - V(never) trusts the serial log alone.
    type: str
    default: auto
    choices: [auto, always, never]
requirements:
  - pillow and pytesseract, with the tesseract program (Debian C(tesseract-ocr), RPM C(tesseract)), for OCR
"""

EXAMPLES = r"""
- name: Confirm the stop code of a VM that does not boot
  vmrepair.azure.boot_diagnostics_info:
    resource_group: prod-rg
    vm_name: web-01
    serial_log_dest: "{{ playbook_dir }}/artifacts/web-01.serial.log"
    screenshot_dest: "{{ playbook_dir }}/artifacts/web-01.screenshot.bmp"
  register: triage

- name: Stop unless Windows stopped with 0xC000021A
  ansible.builtin.assert:
    that: triage.vm.stop_code.code | default('') == '0xC000021A'
    fail_msg: "{{ triage.vm.stop_code_reason | default('another stop code: ' ~ triage.vm.stop_code.code) }}"
"""

RETURN = r"""
vm:
  description: The virtual machine and what its boot diagnostics say.
  returned: success
  type: dict
  contains:
    id:
      description: Resource id.
      type: str
      sample: /subscriptions/6a3bb0c2-4f4e-4e1b-9d7a-0c2f1c5b1e01/resourceGroups/prod-rg/providers/Microsoft.Compute/virtualMachines/web-01
    name:
      description: Name.
      type: str
      sample: web-01
    resource_group:
      description: Resource group.
      type: str
      sample: prod-rg
    location:
      description: Azure region.
      type: str
      sample: westeurope
    os_type:
      description: C(Windows) or C(Linux), from the OS disk settings.
      type: str
      sample: Windows
    power_state:
      description: Power state from the instance view (C(running), C(stopped), C(deallocated) ...).
      type: str
      sample: running
    provisioning_state:
      description: ARM provisioning state.
      type: str
      sample: Succeeded
    vm_size:
      description: VM size.
      type: str
      sample: Standard_D2s_v3
    zones:
      description: Availability zones (empty for a regional VM).
      type: list
      elements: str
      sample: ["1"]
    hyper_v_generation:
      description: C(V1) or C(V2), from the OS disk.
      type: str
      sample: V2
    os_disk:
      description: The OS disk.
      type: dict
      contains:
        id:
          description: Managed disk id (null for an unmanaged disk).
          type: str
        name:
          description: Disk name.
          type: str
        managed:
          description: Whether the OS disk is a managed disk.
          type: bool
    boot_diagnostics:
      description: Boot-diagnostics settings.
      type: dict
      contains:
        enabled:
          description: Whether boot diagnostics are on.
          type: bool
        storage:
          description: C(managed) (Azure's storage) or C(custom) (a storage account of yours); null when off.
          type: str
    subscription_id:
      description: Subscription.
      type: str
    stop_code:
      description:
        - The stop code, from the serial log's EMS BLUESCREEN record or from OCR of the screenshot;
          null when neither gives one (see RV(vm.stop_code_reason)).
      type: dict
      contains:
        code:
          description: Stop code, hexadecimal.
          type: str
          sample: "0xC000021A"
        name:
          description: Its name in Microsoft's bug check reference (null when unknown).
          type: str
          sample: STATUS_SYSTEM_PROCESS_TERMINATED
        source:
          description: Where the code was read, C(serial_log_ems) or C(screenshot_ocr).
          type: str
          sample: serial_log_ems
        confidence:
          description:
            - How sure the reading is. C(certain) only from the EMS record; OCR gives C(high) (read cleanly, a
              known code) or C(low) (read with corrections; confirm it on the screenshot).
          type: str
          sample: certain
        read_as:
          description: The text OCR read (OCR only).
          type: str
    stop_code_reason:
      description:
        - Why RV(vm.stop_code) is null or uncertain (boot diagnostics off, no EMS record, no screenshot yet, an
          expired SAS link, not a stop screen ...); null when there is nothing to add.
      type: str
    triage_status:
      description:
        - C(stop_screen) (a sure stop code), C(stop_screen_uncertain) (a stop screen whose code is unsure or
          unreadable), C(no_stop_screen), C(unknown) (nothing to tell by) or C(not_windows).
      type: str
      sample: stop_screen
    screen:
      description: What OCR saw on the screenshot; null when it was not read.
      type: dict
      contains:
        kind:
          description: C(stop), C(boot_manager), C(other), C(blank) or C(unreadable).
          type: str
        status_code:
          description: The status of a Windows Boot Manager error screen.
          type: str
        text:
          description: The text read (at most 2000 characters).
          type: str
        width:
          description: Width of the screenshot in pixels.
          type: int
        height:
          description: Height of the screenshot in pixels.
          type: int
        ocr:
          description: OCR engine and seconds taken.
          type: dict
    evidence:
      description: What was downloaded, with sizes and SHA-256, or why not.
      type: dict
      contains:
        serial_log:
          description: C(available), C(size), C(sha256), C(records) (BLUESCREEN records), C(booted_since), C(reason).
          type: dict
        screenshot:
          description: C(available), C(size), C(sha256), C(reason).
          type: dict
    next_steps:
      description: What to do next, with the exact commands.
      type: list
      elements: str
    machine_info:
      description: The record's C(machine-info) (name, guid, processor_architecture, os_version, os_build, os_product ...).
      type: dict
      sample: {"name": "WEB-01", "os_build": "20348", "os_product": "Windows Server 2022 Datacenter"}
files:
  description: Files saved on the controller.
  returned: success
  type: list
  elements: dict
  contains:
    kind:
      description: C(serial_log), C(screenshot), C(screenshot_png) or C(screenshot_thumbnail).
      type: str
    path:
      description: Absolute path.
      type: str
    size:
      description: Size in bytes.
      type: int
    sha256:
      description: SHA-256 of the content.
      type: str
    changed:
      description: Whether the file was (or in check mode would be) written.
      type: bool
"""

from ansible_collections.vmrepair.azure.plugins.module_utils._boot_diagnostics import collect_boot_diagnostics
from ansible_collections.vmrepair.azure.plugins.module_utils._module_base import AzureModule


def triage(module: AzureModule) -> dict:
    params = module.params
    return collect_boot_diagnostics(
        module.clients,
        params["resource_group"],
        params["vm_name"],
        sas_expiry_minutes=params["sas_expiry_minutes"],
        screenshot_dest=params["screenshot_dest"],
        serial_log_dest=params["serial_log_dest"],
        screenshot_png_dest=params["screenshot_png_dest"],
        screenshot_thumbnail_dest=params["screenshot_thumbnail_dest"],
        ocr=params["ocr"],
        check_mode=module.check_mode,
    )


def main() -> None:
    module = AzureModule(
        argument_spec={
            "resource_group": {"type": "str", "required": True},
            "vm_name": {"type": "str", "required": True},
            "screenshot_dest": {"type": "path"},
            "serial_log_dest": {"type": "path"},
            "screenshot_png_dest": {"type": "path"},
            "screenshot_thumbnail_dest": {"type": "path"},
            "sas_expiry_minutes": {"type": "int", "default": 10},
            "ocr": {"type": "str", "default": "auto", "choices": ["auto", "always", "never"]},
        },
    )
    module.run(triage)


if __name__ == "__main__":
    main()
