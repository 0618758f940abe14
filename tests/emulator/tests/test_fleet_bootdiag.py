"""Boot diagnostics of fleet VMs (scenario fleet-mixed) through the real SDK and azure-storage-blob:
every screenshot and serial-log variant, custom storage accounts, expired SAS, lazy publishing."""
from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.storage.blob import BlobClient, BlobServiceClient
from PIL import Image

from vmrepair_emulator.bootdiag import screen
from vmrepair_emulator.scenario import load_scenario
from vmrepair_emulator.storage.accounts import account_keys
from vmrepair_emulator.testing import ControlClient, EmulatorProcess

SCENARIO = "fleet-mixed"
SPECS = {vm["name"]: vm for vm in load_scenario(SCENARIO).virtual_machines}
WITH_BOOT_DIAGNOSTICS = sorted(name for name, vm in SPECS.items() if vm["boot_diagnostics"] != "disabled")
RECORD = re.compile(r'<PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"(0x[0-9A-F]+)"</VALUE></PROPERTY>')


@pytest.fixture
def mixed(emulator: Callable[..., EmulatorProcess]) -> Iterator[EmulatorProcess]:
    process = emulator(SCENARIO)
    control = process.control()
    before = control.knobs()
    yield process
    control.set_knobs(**before)


def _retrieve(process: EmulatorProcess, name: str, minutes: int = 30) -> tuple[str, str]:
    compute = process.mgmt_client(ComputeManagementClient)
    data = compute.virtual_machines.retrieve_boot_diagnostics_data(SPECS[name]["resource_group"], name,
                                                                   sas_uri_expiration_time_in_minutes=minutes)
    return data.console_screenshot_blob_uri, data.serial_console_log_blob_uri


def _download(process: EmulatorProcess, url: str) -> bytes:
    return BlobClient.from_blob_url(url, connection_verify=process.ca_bundle).download_blob().readall()


def _blob_log(control: ControlClient, until: Callable[[list[dict[str, Any]]], bool],
              since: int = 0) -> list[dict[str, Any]]:
    """The blob request records once `until(records)` holds (or after 10 s): they come from Azurite's
    debug log, which Azurite writes a moment after answering."""
    deadline = time.monotonic() + 10
    records = control.requests("blob", since)
    while not until(records) and time.monotonic() < deadline:
        time.sleep(0.1)
        records = control.requests("blob", since)
    return records


def _expected_background(spec: dict[str, Any]) -> tuple[int, int, int]:
    kind = spec["screenshot"]
    if kind == "auto":
        kind = "linux" if spec["os_type"] == "Linux" else "stop" if spec["stop_code"] else "lock"
    if kind == "stop":
        return {None: screen.STOP_BLUE, "win8": screen.STOP_BLUE, "win10": screen.WIN10_BLUE,
                "win11": screen.WIN11_BLACK}[spec["screen_style"]]
    return screen.LOCK_BACKGROUND if kind == "lock" else (0, 0, 0)  # boot manager and Linux: black


def _expected_serial(spec: dict[str, Any]) -> str:
    """What the serial log of this spec must look like: none (404), empty, garbage, record, no record."""
    if spec["serial_log"] != "auto":
        return spec["serial_log"]
    if spec["os_type"] == "Linux":
        return "linux"
    if spec["stop_code"] and spec["ems"]:
        return "record"
    return "empty" if spec["stop_code"] else "no record"  # EMS off at a stop screen: the console stays empty


@pytest.mark.parametrize("name", WITH_BOOT_DIAGNOSTICS)
def test_each_vm_serves_the_console_its_spec_says(mixed: EmulatorProcess, name: str) -> None:
    spec = SPECS[name]
    screenshot_url, serial_url = _retrieve(mixed, name)

    if spec["screenshot"] == "none":
        with pytest.raises(ResourceNotFoundError) as info:
            _download(mixed, screenshot_url)
        assert info.value.status_code == 404 and info.value.error_code == "BlobNotFound"
    else:
        client = BlobClient.from_blob_url(screenshot_url, connection_verify=mixed.ca_bundle)
        assert client.get_blob_properties().content_settings.content_type == "image/bmp"
        image = Image.open(io.BytesIO(client.download_blob().readall()))
        assert (image.format, image.mode, image.size) == ("BMP", "RGB", tuple(spec["screen_size"]))
        if spec["screenshot"] == "blank":
            assert image.getextrema() == ((0, 0), (0, 0), (0, 0))
        else:
            assert image.getpixel((2, 2)) == _expected_background(spec)  # the screen and style asked for

    expected = _expected_serial(spec)
    if expected == "none":
        with pytest.raises(ResourceNotFoundError) as info:
            _download(mixed, serial_url)
        assert info.value.status_code == 404 and info.value.error_code == "BlobNotFound"
        return
    log = _download(mixed, serial_url)
    if expected == "empty":
        assert log == b""
    elif expected == "garbage":
        assert log.startswith(b"\r\nComputer is booting, SAC started and initialized.")
        assert b'<INSTANCE CLASSNAME="BLUESCREEN">' in log and b"</BP>" not in log  # cut off mid-record
        assert RECORD.search(log.decode("latin-1")) is None  # no complete stop code to be read
        with pytest.raises(UnicodeDecodeError):
            log.decode("utf-8")
    elif expected == "record":
        assert RECORD.findall(log.decode("utf-8")) == [spec["stop_code"]]
        assert f"<name>{spec['computer_name']}</name>" in log.decode("utf-8")
    elif expected == "linux":
        assert f"{spec['computer_name'].lower()} login:" in log.decode("utf-8")
    else:
        assert b"SAC started and initialized" in log and b"BLUESCREEN" not in log


def test_identical_stop_screens_are_the_same_bytes(mixed: EmulatorProcess) -> None:
    """Rendered once and cached by (kind, code, style, size): same stop code, style and size, same BMP."""
    same = [name for name in WITH_BOOT_DIAGNOSTICS
            if (SPECS[name]["stop_code"], SPECS[name]["screenshot"], SPECS[name]["screen_style"],
                SPECS[name]["screen_size"]) == ("0xC000021A", "auto", None, (800, 600))]
    assert len(same) >= 2
    shots = {_download(mixed, _retrieve(mixed, name)[0]) for name in same}
    assert len(shots) == 1
    other = next(name for name in WITH_BOOT_DIAGNOSTICS
                 if SPECS[name]["stop_code"] == "0xEF" and SPECS[name]["screenshot"] == "auto"
                 and SPECS[name]["screen_size"] == (800, 600))
    assert _download(mixed, _retrieve(mixed, other)[0]) not in shots


def test_custom_storage_vm_uses_its_account(mixed: EmulatorProcess) -> None:
    name = next(n for n in WITH_BOOT_DIAGNOSTICS if SPECS[n]["boot_diagnostics_storage_account"] == "mixeddiag")
    spec = SPECS[name]
    compute = mixed.mgmt_client(ComputeManagementClient)
    vm = compute.virtual_machines.get(spec["resource_group"], name, expand="instanceView")
    blob_root = mixed.env["VMREPAIR_EMULATOR_BLOB_URL"].rsplit("/", 1)[0]
    endpoint = f"{blob_root}/mixeddiag/"
    assert vm.diagnostics_profile.boot_diagnostics.storage_uri == endpoint

    screenshot_url, serial_url = _retrieve(mixed, name)
    for url in (screenshot_url, serial_url):
        assert url.startswith(endpoint) and parse_qs(urlsplit(url).query)["sp"] == ["r"]
    assert RECORD.findall(_download(mixed, serial_url).decode("utf-8")) == [spec["stop_code"]] or not spec["ems"]
    assert _download(mixed, screenshot_url)[:2] == b"BM"
    # The instance view names the same blobs, without SAS, as Azure does for custom storage.
    view = vm.instance_view.boot_diagnostics
    assert (view.console_screenshot_blob_uri, view.serial_console_log_blob_uri) == (
        screenshot_url.split("?")[0], serial_url.split("?")[0])
    # The blobs live in that account (its own key lists them), not in the development account.
    container = urlsplit(serial_url).path.split("/")[2]
    account = BlobServiceClient(endpoint, credential={"account_name": "mixeddiag",
                                                      "account_key": account_keys(mixed.env["AZURE_SUBSCRIPTION_ID"],
                                                                                  "mixeddiag")[0]},
                                connection_verify=mixed.ca_bundle)
    assert len(list(account.get_container_client(container).list_blobs())) == 2
    development = BlobServiceClient.from_connection_string(
        "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50"
        "uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        f"BlobEndpoint={mixed.env['VMREPAIR_EMULATOR_BLOB_URL']};", connection_verify=mixed.ca_bundle)
    assert not development.get_container_client(container).exists()


def test_custom_storage_without_an_account_uses_the_development_account(mixed: EmulatorProcess) -> None:
    name = next(n for n in WITH_BOOT_DIAGNOSTICS
                if SPECS[n]["boot_diagnostics"] == "custom" and not SPECS[n]["boot_diagnostics_storage_account"])
    compute = mixed.mgmt_client(ComputeManagementClient)
    vm = compute.virtual_machines.get(SPECS[name]["resource_group"], name)
    assert vm.diagnostics_profile.boot_diagnostics.storage_uri == mixed.env["VMREPAIR_EMULATOR_BLOB_URL"] + "/"
    screenshot_url, _serial_url = _retrieve(mixed, name)
    assert screenshot_url.startswith(mixed.env["VMREPAIR_EMULATOR_BLOB_URL"] + "/")
    assert _download(mixed, screenshot_url)[:2] == b"BM"


@pytest.mark.parametrize("expiry_s", [-60, 0])
def test_expired_sas_knob_gives_403(mixed: EmulatorProcess, expiry_s: int) -> None:
    control = mixed.control()
    control.set_knobs(bootdiag_sas_expiry_s=expiry_s)
    name = next(n for n in WITH_BOOT_DIAGNOSTICS if SPECS[n]["stop_code"] and SPECS[n]["serial_log"] == "auto")
    mark = len(control.requests("blob"))
    _screenshot_url, serial_url = _retrieve(mixed, name, minutes=60)  # the knob wins over what was asked
    with pytest.raises(HttpResponseError) as info:
        _download(mixed, serial_url)
    # Azurite's code; Azure answers AuthenticationFailed.
    assert (info.value.status_code, info.value.error_code) == (403, "AuthorizationFailure")
    records = _blob_log(control, lambda found: any(r["status"] == 403 for r in found), since=mark)
    refused = [r for r in records if r["status"] == 403]
    assert refused and refused[-1]["error_code"] == "AuthorizationFailure"
    control.set_knobs(bootdiag_sas_expiry_s=None)
    assert _download(mixed, _retrieve(mixed, name)[1])  # as requested again


def test_fleet_blobs_are_published_lazily_once_per_vm(tmp_path: Path) -> None:
    process = EmulatorProcess(SCENARIO, tmp_path / "fresh").start()  # its own: no test has asked anything yet
    try:
        control = process.control()

        def uploads(expected: int) -> list[dict[str, Any]]:
            def selected(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
                return [r for r in records if r.get("operation") == "BlockBlob_Upload"]

            return selected(_blob_log(control, lambda records: len(selected(records)) >= expected))

        assert uploads(0) == []  # fleet VMs are not published at start
        name = next(n for n in WITH_BOOT_DIAGNOSTICS
                    if n.startswith("mix-") and (SPECS[n]["screenshot"], SPECS[n]["serial_log"]) == ("auto", "auto"))
        others = [n for n in WITH_BOOT_DIAGNOSTICS if n.startswith("legacy-")]
        results: list[Any] = []

        def retrieve(vm_name: str) -> None:
            try:
                results.append(_retrieve(process, vm_name))
            except Exception as exc:  # kept: an exception in a thread would not fail the test
                results.append(exc)

        # The same VM six times at once, and other VMs beside it.
        threads = [threading.Thread(target=retrieve, args=(vm_name,)) for vm_name in [name] * 6 + others]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert len(results) == len(threads) and not [r for r in results if isinstance(r, Exception)]
        guid = process.mgmt_client(ComputeManagementClient).virtual_machines.get(
            SPECS[name]["resource_group"], name).vm_id
        expected = 2 * (1 + len(others))  # a screenshot and a serial log per VM, once each
        assert len(uploads(expected)) == expected
        assert len([r for r in uploads(expected) if guid in r["path"]]) == 2
        assert len({urlsplit(urls[1]).path for urls in results if guid in urls[1]}) == 1
    finally:
        process.stop()


PER_VM_SCENARIO = """\
name: per-vm-consoles
description: virtual_machines[] entries with the boot-diagnostics keys (built by a test).
resource_groups: [{name: prod-rg}]
virtual_networks:
  - resource_group: prod-rg
    name: prod-vnet
    address_prefixes: [127.63.0.0/16]
    subnets: [{name: default, address_prefix: 127.63.1.0/24}]
storage_accounts: [{name: consolediag, resource_group: prod-rg}]
virtual_machines:
  - name: app-01
    resource_group: prod-rg
    stop_code: "0xD1"
    screenshot: boot_manager
    screen_size: [1024, 768]
    serial_log: garbage
    boot_diagnostics: custom
    boot_diagnostics_storage_account: consolediag
  - name: lnx-01
    resource_group: prod-rg
    os_type: Linux
    serial_log: none
    screen_size: "640x480"
"""


def test_virtual_machines_entries_take_the_same_keys_and_are_published_at_start(tmp_path: Path) -> None:
    path = tmp_path / "per-vm-consoles.yaml"
    path.write_text(PER_VM_SCENARIO)
    process = EmulatorProcess(str(path), tmp_path / "state").start()
    try:
        control = process.control()
        records = _blob_log(control, lambda found: sum(r.get("operation") == "BlockBlob_Upload" for r in found) >= 3)
        uploaded = {r["path"].rsplit("/", 1)[-1].split(".")[0] for r in records
                    if r.get("operation") == "BlockBlob_Upload"}
        assert uploaded == {"app-01", "lnx-01"}  # at start, before anyone asked
        compute = process.mgmt_client(ComputeManagementClient)
        app = compute.virtual_machines.retrieve_boot_diagnostics_data("prod-rg", "app-01")
        assert app.console_screenshot_blob_uri.startswith(
            process.env["VMREPAIR_EMULATOR_BLOB_URL"].rsplit("/", 1)[0] + "/consolediag/")
        image = Image.open(io.BytesIO(_download(process, app.console_screenshot_blob_uri)))
        assert image.size == (1024, 768) and image.getpixel((2, 2)) == (0, 0, 0)  # boot manager: black
        garbage = _download(process, app.serial_console_log_blob_uri)
        assert b"BLUESCREEN" in garbage and RECORD.search(garbage.decode("latin-1")) is None
        lnx = compute.virtual_machines.retrieve_boot_diagnostics_data("prod-rg", "lnx-01")
        assert Image.open(io.BytesIO(_download(process, lnx.console_screenshot_blob_uri))).size == (640, 480)
        with pytest.raises(ResourceNotFoundError):
            _download(process, lnx.serial_console_log_blob_uri)
    finally:
        process.stop()
