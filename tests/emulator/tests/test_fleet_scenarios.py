"""Fleet scenarios (`fleets:`): generated reproducibly, exactly the mix asked for, cheap to seed;
the per-VM boot-diagnostics keys; errors that name the bad key."""
from __future__ import annotations

import copy
import ipaddress
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

from vmrepair_emulator.scenario import (ScenarioError, _shares, list_scenarios, load_scenario,
                                        parse_scenario)
from vmrepair_emulator.world import World

FLEET_SCENARIOS = {"fleet-500": "127.60", "fleet-2000": "127.61", "fleet-mixed": "127.62"}

MINIMAL_FLEET: dict[str, Any] = {
    "name": "t",
    "resource_groups": [{"name": "rg-a"}, {"name": "rg-b"}],
    "virtual_networks": [{"resource_group": "rg-a", "name": "vnet", "address_prefixes": ["127.70.0.0/16"],
                          "subnets": [{"name": "s1", "address_prefix": "127.70.1.0/24"},
                                      {"name": "s2", "address_prefix": "127.70.2.0/24"}]}],
    "storage_accounts": [{"name": "diagacct", "resource_group": "rg-a"}],
    "fleets": [{"name_prefix": "f-", "count": 40, "resource_groups": ["rg-a", "rg-b"], "linux": 4, "broken": 20,
                "stop_codes": {"0xC000021A": 3, "0xEF": 1}, "ems_off": 5,
                "boot_diagnostics": {"disabled": 2, "custom": 3, "storage_account": "diagacct"},
                "power_states": {"stopped": 1, "deallocated": 2},
                "tags": {"env": {"prod": 3, "test": 1}, "app": ["web", "sql"], "owner": "ops"},
                "variants": [{"count": 2, "among": "broken", "screenshot": "none"},
                             {"count": 1, "among": "healthy", "screenshot": "boot_manager"}]}],
}


def _fleet_vms(scenario: Any) -> list[dict[str, Any]]:
    return [vm for vm in scenario.virtual_machines if vm["fleet"]]


def test_fleet_2000_seeds_in_seconds_without_disk_images(tmp_path: Path) -> None:
    started = time.monotonic()
    scenario = load_scenario("fleet-2000")
    world = World.from_scenario(scenario, tmp_path)
    elapsed = time.monotonic() - started
    # A startup bound, not a benchmark: the NTFS image path would take minutes for 2,000 VMs.
    assert elapsed < 10, f"fleet-2000 took {elapsed:.1f} s to load and seed"
    kinds = Counter(r["type"] for r in world.resources.values())
    assert kinds["Microsoft.Compute/virtualMachines"] == 2000
    assert kinds["Microsoft.Compute/disks"] == 2000
    assert kinds["Microsoft.Network/networkInterfaces"] == 2000
    assert world.disks.ids() == []  # no backing VHD for any fleet OS disk
    addresses = [r["properties"]["ipConfigurations"][0]["properties"] for r in world.resources.values()
                 if r["type"] == "Microsoft.Network/networkInterfaces"]
    assert len({a["privateIPAddress"] for a in addresses}) == 2000
    assert {a["privateIPAllocationMethod"] for a in addresses} == {"Dynamic"}


def test_fleets_are_the_same_on_every_load() -> None:
    def fingerprint(scenario: Any) -> list[tuple]:
        return [(vm["name"], vm["resource_group"], vm["os_type"], vm["stop_code"], vm["ems"], vm["power_state"],
                 vm["boot_diagnostics"], vm["screenshot"], vm["serial_log"], vm["screen_style"], vm["screen_size"],
                 tuple(sorted(vm["tags"].items())), vm["os_disk"]["name"]) for vm in scenario.virtual_machines]

    assert fingerprint(load_scenario("fleet-500")) == fingerprint(load_scenario("fleet-500"))
    reseeded = copy.deepcopy(MINIMAL_FLEET)
    reseeded["fleets"][0]["seed"] = 7
    assert fingerprint(parse_scenario(copy.deepcopy(MINIMAL_FLEET))) == fingerprint(
        parse_scenario(copy.deepcopy(MINIMAL_FLEET)))
    assert fingerprint(parse_scenario(reseeded)) != fingerprint(parse_scenario(copy.deepcopy(MINIMAL_FLEET)))


def test_fleet_500_is_the_mix_it_promises() -> None:
    vms = _fleet_vms(load_scenario("fleet-500"))
    assert len(vms) == 500 and len({vm["name"] for vm in vms}) == 500
    broken = [vm for vm in vms if vm["stop_code"]]
    assert len(broken) == 200
    assert all(vm["os_type"] == "Windows" for vm in broken)
    assert Counter(vm["stop_code"] for vm in broken) == {
        "0xC000021A": 110, "0xEF": 30, "0x7E": 24, "0xD1": 20, "0x1E": 10, "0x50": 6}
    assert sum(vm["os_type"] == "Linux" for vm in vms) == 25
    assert sum(not vm["ems"] for vm in broken) == 20
    assert Counter(vm["boot_diagnostics"] for vm in vms) == {"managed": 475, "custom": 15, "disabled": 10}
    assert {vm["boot_diagnostics_storage_account"] for vm in vms if vm["boot_diagnostics"] == "custom"} == {
        "fleetdiag500"}
    assert Counter(vm["power_state"] for vm in vms) == {"running": 480, "deallocated": 15, "stopped": 5}
    assert Counter(vm["tags"]["env"] for vm in vms) == {"prod": 375, "test": 125}
    assert {vm["tags"]["app"] for vm in vms} == {"web", "sql", "api", "batch"}
    assert Counter(vm["resource_group"] for vm in vms) == {"fleet-rg-1": 167, "fleet-rg-2": 167, "fleet-rg-3": 166}
    assert Counter(vm["screenshot"] for vm in vms)["none"] == 3
    assert Counter(vm["serial_log"] for vm in vms) == {"auto": 492, "garbage": 4, "empty": 2, "none": 2}
    assert all(vm["screenshot"] != "none" for vm in vms if vm["boot_diagnostics"] == "disabled")


def test_fleet_mixed_covers_every_case_at_least_once() -> None:
    vms = _fleet_vms(load_scenario("fleet-mixed"))
    assert 30 <= len(vms) <= 40
    assert len({vm["resource_group"] for vm in vms}) == 3
    on = [vm for vm in vms if vm["boot_diagnostics"] != "disabled"]
    cases = {
        "healthy Windows at the lock screen": any(vm["os_type"] == "Windows" and not vm["stop_code"]
                                                  and vm["screenshot"] == "auto" for vm in on),
        "Linux": any(vm["os_type"] == "Linux" for vm in vms),
        "EMS off at a stop screen": any(vm["stop_code"] and not vm["ems"] and vm["screenshot"] == "auto" for vm in on),
        "boot diagnostics disabled": any(vm["boot_diagnostics"] == "disabled" for vm in vms),
        "custom storage account": any(vm["boot_diagnostics_storage_account"] for vm in vms),
        "custom storage, development account": any(vm["boot_diagnostics"] == "custom"
                                                   and not vm["boot_diagnostics_storage_account"] for vm in vms),
        "stopped": any(vm["power_state"] == "stopped" for vm in vms),
        "deallocated": any(vm["power_state"] == "deallocated" for vm in vms),
        "tags env prod and test": {vm["tags"].get("env") for vm in vms} >= {"prod", "test"},
    }
    cases.update({f"stop code {code}": any(vm["stop_code"] == code for vm in on)
                  for code in ("0xC000021A", "0xEF", "0x7E", "0xD1")})
    cases.update({f"screenshot {kind}": any(vm["screenshot"] == kind for vm in on)
                  for kind in ("stop", "lock", "boot_manager", "blank", "none")})
    cases.update({f"serial log {kind}": any(vm["serial_log"] == kind for vm in on)
                  for kind in ("none", "empty", "garbage")})
    cases.update({f"style {style}": any(vm["screen_style"] == style for vm in on)
                  for style in ("win8", "win10", "win11")})
    cases.update({f"size {size}": any(vm["screen_size"] == size for vm in on)
                  for size in ((640, 480), (800, 600), (1024, 768))})
    assert [case for case, present in cases.items() if not present] == []


def test_each_fleet_scenario_has_its_own_network() -> None:
    owners: dict[str, str] = {}
    for name in list_scenarios():
        for vnet in load_scenario(name).virtual_networks:
            for prefix in vnet["address_prefixes"]:
                owners.setdefault(str(ipaddress.ip_network(prefix).network_address).rsplit(".", 2)[0], name)
    for name, network in FLEET_SCENARIOS.items():
        assert owners[network] == name


def test_existing_scenarios_get_the_default_console() -> None:
    [vm] = load_scenario("c21a-with-dump").virtual_machines
    assert (vm["screenshot"], vm["serial_log"], vm["screen_style"], vm["screen_size"], vm["fleet"],
            vm["boot_diagnostics_storage_account"]) == ("auto", "auto", None, (800, 600), None, None)


def test_per_vm_boot_diagnostics_keys() -> None:
    data = copy.deepcopy(MINIMAL_FLEET)
    data.pop("fleets")
    data["virtual_machines"] = [{"name": "vm-01", "resource_group": "rg-a", "subnet": "vnet/s1",
                                 "stop_code": "0xef", "screenshot": "stop", "serial_log": "garbage",
                                 "screen_style": "win11", "screen_size": [1024, 768], "boot_diagnostics": "custom",
                                 "boot_diagnostics_storage_account": "diagacct"}]
    [vm] = parse_scenario(data).virtual_machines
    assert (vm["stop_code"], vm["screenshot"], vm["serial_log"], vm["screen_style"], vm["screen_size"]) == (
        "0xEF", "stop", "garbage", "win11", (1024, 768))
    assert vm["boot_diagnostics_storage_account"] == "diagacct" and vm["fleet"] is None


def test_shares_are_exact_and_follow_the_weights() -> None:
    assert Counter(_shares(200, {"a": 55, "b": 15, "c": 30})) == {"a": 110, "b": 30, "c": 60}
    assert Counter(_shares(10, {"a": 1, "b": 1, "c": 1})) == {"a": 4, "b": 3, "c": 3}
    assert _shares(0, {"a": 1}) == []


Mutation = Callable[[dict[str, Any]], Any]


def _fleet(data: dict[str, Any]) -> dict[str, Any]:
    return data["fleets"][0]


@pytest.mark.parametrize("mutate, where", [
    (lambda d: _fleet(d).update(colour="blue"), "fleets[0].colour"),
    (lambda d: _fleet(d).pop("count"), "fleets[0].count"),
    (lambda d: _fleet(d).update(broken=37), "fleets[0].broken"),  # only 36 Windows VMs
    (lambda d: _fleet(d).update(ems_off=21), "fleets[0].ems_off"),
    (lambda d: _fleet(d).update(resource_groups=["rg-a", "nope"]), "fleets[0].resource_groups[1]"),
    (lambda d: _fleet(d).update(stop_codes={"0xC000021A": 0}), "fleets[0].stop_codes.0xC000021A"),
    (lambda d: _fleet(d).update(stop_codes={"C000021A": 1}), "fleets[0].stop_codes.C000021A"),
    (lambda d: _fleet(d).update(screen_sizes={"1280x1024": 1}), "fleets[0].screen_sizes.1280x1024"),
    (lambda d: _fleet(d).update(os_builds={"9600": 1}), "fleets[0].os_builds.9600"),
    (lambda d: _fleet(d)["boot_diagnostics"].update(storage_account="nosuch"),
     "fleets[0].boot_diagnostics.storage_account"),
    (lambda d: _fleet(d)["boot_diagnostics"].update(disabled=30, custom=11), "fleets[0].boot_diagnostics.custom"),
    (lambda d: _fleet(d)["variants"].append({"count": 30, "among": "healthy", "serial_log": "empty"}),
     "fleets[0].variants[2].count"),
    (lambda d: _fleet(d)["variants"].append({"count": 1, "screenshot": "sideways"}),
     "fleets[0].variants[2].screenshot"),
    (lambda d: _fleet(d)["variants"].append({"count": 1, "among": "linux", "screenshot": "stop"}),
     "fleets[0].variants[2].count"),
    (lambda d: d.update(virtual_machines=[{"name": "f-0001", "resource_group": "rg-a", "subnet": "vnet/s1"}]),
     "fleets[0] (f-0001).name"),
])
def test_fleet_errors_name_the_bad_key(mutate: Mutation, where: str) -> None:
    data = copy.deepcopy(MINIMAL_FLEET)
    mutate(data)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="t.yaml")
    assert f"t.yaml: {where}:" in str(info.value)


@pytest.mark.parametrize("vm, where", [
    ({"screenshot": "stop"}, "virtual_machines[0].screenshot"),  # no stop code
    ({"os_type": "Linux", "screenshot": "lock"}, "virtual_machines[0].screenshot"),
    ({"boot_diagnostics": "disabled", "serial_log": "empty"}, "virtual_machines[0].screenshot"),
    ({"boot_diagnostics_storage_account": "diagacct"}, "virtual_machines[0].boot_diagnostics_storage_account"),
    ({"boot_diagnostics": "custom", "boot_diagnostics_storage_account": "other"},
     "virtual_machines[0].boot_diagnostics_storage_account"),
    ({"screen_size": [1280, 1024]}, "virtual_machines[0].screen_size"),
    ({"screen_style": "vista"}, "virtual_machines[0].screen_style"),
    ({"serial_log": "noise"}, "virtual_machines[0].serial_log"),
])
def test_per_vm_errors_name_the_bad_key(vm: dict[str, Any], where: str) -> None:
    data = copy.deepcopy(MINIMAL_FLEET)
    data.pop("fleets")
    data["virtual_machines"] = [{"name": "vm-01", "resource_group": "rg-a", "subnet": "vnet/s1", **vm}]
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="t.yaml")
    assert f"t.yaml: {where}:" in str(info.value)
