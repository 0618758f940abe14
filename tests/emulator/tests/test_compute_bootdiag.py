"""POST virtualMachines/{vm}/retrieveBootDiagnosticsData through the real SDK."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.mgmt.compute import ComputeManagementClient

from vmrepair_emulator.testing import EmulatorProcess


def test_sas_uris_of_the_broken_vm(default_emulator: EmulatorProcess) -> None:
    compute = default_emulator.mgmt_client(ComputeManagementClient)
    data = compute.virtual_machines.retrieve_boot_diagnostics_data("prod-rg", "web-01",
                                                                   sas_uri_expiration_time_in_minutes=60)
    for uri in (data.console_screenshot_blob_uri, data.serial_console_log_blob_uri):
        query = parse_qs(urlsplit(uri).query)
        assert uri.startswith(default_emulator.env["VMREPAIR_EMULATOR_BLOB_URL"])
        assert query["sp"] == ["r"] and "sig" in query
        expiry = datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
        assert timedelta(minutes=55) < expiry - datetime.now(timezone.utc) <= timedelta(minutes=61)
    serial = requests.get(data.serial_console_log_blob_uri, verify=default_emulator.ca_bundle, timeout=30)
    assert serial.status_code == 200 and "0xC000021A" in serial.text
    screenshot = requests.get(data.console_screenshot_blob_uri, verify=default_emulator.ca_bundle, timeout=30)
    assert screenshot.status_code == 200 and screenshot.content[:2] == b"BM"


def test_expiration_must_be_1_to_1440_minutes(default_emulator: EmulatorProcess) -> None:
    compute = default_emulator.mgmt_client(ComputeManagementClient)
    for minutes in (0, 1441):
        with pytest.raises(HttpResponseError) as info:
            compute.virtual_machines.retrieve_boot_diagnostics_data("prod-rg", "web-01",
                                                                    sas_uri_expiration_time_in_minutes=minutes)
        assert info.value.status_code == 400 and info.value.error.code == "InvalidParameter"


def test_disabled_boot_diagnostics_is_refused(emulator: Any) -> None:
    compute = emulator("bootdiag-off").mgmt_client(ComputeManagementClient)
    vm = compute.virtual_machines.get("prod-rg", "web-01")
    assert vm.diagnostics_profile.boot_diagnostics.enabled is False
    with pytest.raises(ResourceExistsError) as info:
        compute.virtual_machines.retrieve_boot_diagnostics_data("prod-rg", "web-01")
    assert info.value.status_code == 409 and info.value.error.code == "OperationNotAllowed"
