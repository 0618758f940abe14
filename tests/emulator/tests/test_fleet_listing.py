"""VM lists of a 2,000-VM fleet, paged with nextLink/$skiptoken and followed by the real SDK pager;
a fleet VM's OS disk cannot be copied (it has no content)."""
from __future__ import annotations

import math
from typing import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import CreationData, Snapshot

from vmrepair_emulator.testing import EmulatorProcess


@pytest.fixture
def fleet(emulator: Callable[..., EmulatorProcess]) -> Iterator[EmulatorProcess]:
    process = emulator("fleet-2000")
    control = process.control()
    before = control.knobs()
    yield process
    control.set_knobs(**before)


def _list_all_url(process: EmulatorProcess) -> str:
    return (f"{process.arm_url}subscriptions/{process.env['AZURE_SUBSCRIPTION_ID']}"
            "/providers/Microsoft.Compute/virtualMachines")


def _raw_get(process: EmulatorProcess, url: str, **params: str) -> requests.Response:
    token = process.credential().get_token(process.arm_url + ".default").token
    return requests.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, verify=process.ca_bundle,
                        timeout=120)


def test_sdk_pager_lists_every_vm_over_several_pages(fleet: EmulatorProcess) -> None:
    control = fleet.control()
    control.set_knobs(vm_list_page_size=300)
    compute = fleet.mgmt_client(ComputeManagementClient)
    mark = control.mark()
    vms = list(compute.virtual_machines.list_all(status_only="true"))
    assert len(vms) == 2000 and len({vm.id.lower() for vm in vms}) == 2000
    assert all(any(s.code.startswith("PowerState/") for s in vm.instance_view.statuses) for vm in vms)
    powers = {next(s.code for s in vm.instance_view.statuses if s.code.startswith("PowerState/")) for vm in vms}
    assert powers == {"PowerState/running", "PowerState/stopped", "PowerState/deallocated"}
    pages = [r for r in control.requests("arm", mark) if r["operation"] == "VirtualMachines_ListAll"]
    assert len(pages) == math.ceil(2000 / 300)  # one logged request per page
    assert {r["status"] for r in pages} == {200}
    assert len({r["api_version"] for r in pages}) == 1
    assert "$skiptoken=" not in pages[0]["path"] and all("$skiptoken=" in r["path"] for r in pages[1:])
    assert all("statusOnly=true" in r["path"] for r in pages)


def test_next_link_keeps_the_query_and_adds_an_opaque_skiptoken(fleet: EmulatorProcess) -> None:
    url = _list_all_url(fleet)
    first = _raw_get(fleet, url, **{"api-version": "2024-07-01", "statusOnly": "true"})
    assert first.status_code == 200
    body = first.json()
    assert len(body["value"]) == 1000  # the default page size
    assert "instanceView" in body["value"][0]["properties"]
    link = urlsplit(body["nextLink"])
    query = parse_qs(link.query)
    assert f"{link.scheme}://{link.netloc}{link.path}" == url
    assert query["api-version"] == ["2024-07-01"] and query["statusOnly"] == ["true"] and query["$skiptoken"]
    second = _raw_get(fleet, body["nextLink"]).json()
    assert len(second["value"]) == 1000 and "nextLink" not in second
    assert not {vm["id"] for vm in body["value"]} & {vm["id"] for vm in second["value"]}


def test_list_of_one_resource_group_is_paged_too(fleet: EmulatorProcess) -> None:
    control = fleet.control()
    control.set_knobs(vm_list_page_size=120)
    compute = fleet.mgmt_client(ComputeManagementClient)
    mark = control.mark()
    names = [vm.name for vm in compute.virtual_machines.list("fleet-rg-2")]
    assert len(names) == 500 and len(set(names)) == 500
    pages = [r for r in control.requests("arm", mark) if r["operation"] == "VirtualMachines_List"]
    assert len(pages) == math.ceil(500 / 120)


def test_a_bad_skiptoken_is_refused(fleet: EmulatorProcess) -> None:
    url = _list_all_url(fleet)
    answer = _raw_get(fleet, url, **{"api-version": "2024-07-01", "$skiptoken": "not-a-token"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidParameter"


def test_a_fleet_vms_os_disk_cannot_be_copied(emulator: Callable[..., EmulatorProcess]) -> None:
    process = emulator("fleet-mixed")
    compute = process.mgmt_client(ComputeManagementClient)
    vm = compute.virtual_machines.get("mixed-prod-rg", "mix-0003")
    disk_id = vm.storage_profile.os_disk.managed_disk.id
    snapshot = Snapshot(location=vm.location,
                        creation_data=CreationData(create_option="Copy", source_resource_id=disk_id))
    with pytest.raises(HttpResponseError) as info:
        compute.snapshots.begin_create_or_update("mixed-prod-rg", "mix-0003-snap", snapshot).result()
    assert info.value.status_code == 409
    assert info.value.error.code == "EmulatorDiskHasNoContent"
    assert "fleet VM mix-0003" in info.value.error.message
    assert [s.name for s in compute.snapshots.list_by_resource_group("mixed-prod-rg")] == []
