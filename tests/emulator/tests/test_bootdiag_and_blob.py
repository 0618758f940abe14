"""Boot diagnostics blobs in Azurite, read through SAS URLs with the real azure-storage-blob client."""
from __future__ import annotations

import io
import urllib.parse

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.storage.blob import BlobClient
from PIL import Image

from vmrepair_emulator.testing import EmulatorProcess


def _download(url: str, emulator: EmulatorProcess) -> bytes:
    return BlobClient.from_blob_url(url, connection_verify=emulator.ca_bundle).download_blob().readall()


def _boot_diagnostics(emulator: EmulatorProcess, rg: str, vm: str) -> tuple[str, str]:
    compute = emulator.mgmt_client(ComputeManagementClient)
    result = compute.virtual_machines.retrieve_boot_diagnostics_data(rg, vm, sas_uri_expiration_time_in_minutes=30)
    return result.console_screenshot_blob_uri, result.serial_console_log_blob_uri


def test_stop_screen_and_ems_serial_log(default_emulator: EmulatorProcess) -> None:
    screenshot_url, serial_url = _boot_diagnostics(default_emulator, "prod-rg", "web-01")
    assert screenshot_url.startswith(default_emulator.env["VMREPAIR_EMULATOR_BLOB_URL"])
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(serial_url).query)
    assert query["sp"] == ["r"] and "sig" in query and "se" in query  # read-only, signed, expiring

    image = Image.open(io.BytesIO(_download(screenshot_url, default_emulator)))
    assert (image.format, image.size) == ("BMP", (800, 600))
    red, green, blue = image.convert("RGB").getpixel((5, 5))
    assert blue > 150 and red < 60  # the stop-screen blue

    log = _download(serial_url, default_emulator).decode("utf-8")
    assert "\r\n" in log and "\n" not in log.replace("\r\n", "")
    assert "SAC started and initialized" in log
    start = log.index("SAC><?xml><BP>")
    record = log[start:]
    assert '<INSTANCE CLASSNAME="BLUESCREEN">' in record
    assert '<PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"0xC000021A"</VALUE></PROPERTY>' in record
    assert "<name>WEB-01</name>" in record and "<os-build>20348</os-build>" in record
    assert record.rstrip().endswith("</BP>\r\n!SAC>")


def test_tampered_sas_is_refused_by_azurite(default_emulator: EmulatorProcess) -> None:
    _screenshot_url, serial_url = _boot_diagnostics(default_emulator, "prod-rg", "web-01")
    tampered = serial_url.replace("sp=r", "sp=rw")
    control = default_emulator.control()
    with pytest.raises(HttpResponseError) as info:
        _download(tampered, default_emulator)
    assert info.value.status_code == 403
    refused = [r for r in control.requests(service="blob") if r["status"] == 403]
    assert refused and refused[-1]["error_code"] == "AuthorizationFailure"


def test_azurite_served_the_downloads_with_sdk_user_agent(default_emulator: EmulatorProcess) -> None:
    control = default_emulator.control()
    screenshot_url, _serial_url = _boot_diagnostics(default_emulator, "prod-rg", "web-01")
    _download(screenshot_url, default_emulator)
    blob_path = urllib.parse.urlsplit(screenshot_url).path
    served = [r for r in control.requests(service="blob") if r["path"].split("?")[0] == blob_path]
    assert served and served[-1]["method"] == "GET" and served[-1]["status"] in (200, 206)
    assert served[-1]["user_agent"].startswith("azsdk-python-storage-blob/")
    assert served[-1]["operation"] == "Blob_Download"


def test_healthy_vm_shows_lock_screen_and_sac_banner_only(emulator) -> None:
    healthy = emulator("healthy-vm")
    screenshot_url, serial_url = _boot_diagnostics(healthy, "prod-rg", "app-01")
    log = _download(serial_url, healthy).decode("utf-8")
    assert "SAC started and initialized" in log
    assert "BLUESCREEN" not in log
    image = Image.open(io.BytesIO(_download(screenshot_url, healthy))).convert("RGB")
    assert image.getpixel((5, 5)) != Image.open(io.BytesIO(_download(
        _boot_diagnostics(emulator("c21a-with-dump"), "prod-rg", "web-01")[0], emulator("c21a-with-dump")))
    ).convert("RGB").getpixel((5, 5))


def test_bootdiag_disabled_vm_has_no_blobs(emulator) -> None:
    off = emulator("bootdiag-off")
    compute = off.mgmt_client(ComputeManagementClient)
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.retrieve_boot_diagnostics_data("prod-rg", "web-01")
    assert info.value.status_code == 409
    assert not any("bootdiagnostics" in r["path"] for r in off.control().requests(service="blob"))


def test_linux_vm_console(emulator) -> None:
    linux = emulator("linux-vm")
    compute = linux.mgmt_client(ComputeManagementClient)
    assert compute.virtual_machines.get("lnx-rg", "lnx-01").storage_profile.os_disk.os_type == "Linux"
    screenshot_url, serial_url = _boot_diagnostics(linux, "lnx-rg", "lnx-01")
    log = _download(serial_url, linux).decode("utf-8")
    assert log.rstrip().endswith("lnx-01 login:")
    assert "SAC" not in log
    assert Image.open(io.BytesIO(_download(screenshot_url, linux))).size == (800, 600)
