"""Helpers for tests that drive the compute provider through the real SDK (no emulator internals).

Request bodies are REST JSON (what azure-mgmt-compute 39 / azure-mgmt-network 33 send for a
dict), so a test reads like the wire traffic it causes.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

import requests

WINDOWS_2022_G2 = {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2022-datacenter-g2",
                   "version": "latest"}
ADMIN_PASSWORD = "Rep4ir!Vm-Xy7"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_nic(network: Any, resource_group: str, name: str, location: str, subnet_id: str) -> Any:
    body = {"location": location, "properties": {"ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": subnet_id}, "privateIPAllocationMethod": "Dynamic"}}]}}
    return network.network_interfaces.begin_create_or_update(resource_group, name, body).result()


def repair_vm_body(location: str, nic_id: str, data_disk_ids: list[str] = (), *, zone: str | None = None,
                   size: str = "Standard_D2s_v3", computer_name: str = "repairvm",
                   delete_option: str = "Delete") -> dict[str, Any]:
    """A Windows Server 2022 Gen2 repair VM with the given disks attached from LUN 0."""
    body: dict[str, Any] = {"location": location, "tags": {"vmrepair": "test"}, "properties": {
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {
            "imageReference": dict(WINDOWS_2022_G2),
            "osDisk": {"createOption": "FromImage", "deleteOption": delete_option,
                       "managedDisk": {"storageAccountType": "StandardSSD_LRS"}},
            "dataDisks": [{"lun": lun, "createOption": "Attach", "deleteOption": "Detach",
                           "managedDisk": {"id": disk_id}} for lun, disk_id in enumerate(data_disk_ids)],
        },
        "osProfile": {"computerName": computer_name, "adminUsername": "repairadmin", "adminPassword": ADMIN_PASSWORD},
        "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"deleteOption": delete_option}}]},
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
    }}
    if zone:
        body["zones"] = [zone]
    return body


def script_with_params(script_text: str, params: dict[str, Any]) -> list[str]:
    """The collection's convention: the $VmrepairParams line right after the marker line."""
    lines = script_text.splitlines()
    quoted = json.dumps(params).replace("'", "''")
    return [lines[0], f"$VmrepairParams = ConvertFrom-Json '{quoted}'", *lines[1:]]


class RawArm:
    """Plain HTTPS calls with a real token, to look at status codes and headers the SDK hides."""

    def __init__(self, arm_url: str, credential: Any, ca_bundle: str) -> None:
        self.arm_url = arm_url.rstrip("/")
        self.credential = credential
        self.verify = ca_bundle
        self.session = requests.Session()

    def call(self, method: str, path_or_url: str, api_version: str | None = None, body: Any = None,
             **params: str) -> requests.Response:
        url = path_or_url if path_or_url.startswith("https://") else self.arm_url + path_or_url
        if api_version is not None:
            params["api-version"] = api_version
        token = self.credential.get_token(self.arm_url + "/.default").token
        return self.session.request(method, url, params=params or None, json=body, timeout=60, verify=self.verify,
                                    headers={"Authorization": f"Bearer {token}"})
