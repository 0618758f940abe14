"""Scenario files: every shipped file loads; errors name the bad key; defaults are filled."""
from __future__ import annotations

import copy

import pytest

from vmrepair_emulator.scenario import ScenarioError, list_scenarios, load_scenario, parse_scenario

MINIMAL = {
    "name": "t",
    "resource_groups": [{"name": "rg"}],
    "virtual_networks": [{"resource_group": "rg", "name": "vnet", "address_prefixes": ["127.50.0.0/16"],
                          "subnets": [{"name": "default", "address_prefix": "127.50.1.0/24"}]}],
    "virtual_machines": [{"name": "vm-01", "resource_group": "rg", "stop_code": "0xc000021a"}],
}


@pytest.mark.parametrize("name", list_scenarios())
def test_every_scenario_file_loads(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.description
    for vm in scenario.virtual_machines:
        assert vm["os_disk"]["name"]
        assert vm["subnet"]


def test_required_scenarios_exist() -> None:
    assert {"c21a-with-dump", "c21a-no-dump", "linux-vm", "bootdiag-off", "healthy-vm"} <= set(list_scenarios())


def test_c21a_with_dump_content() -> None:
    scenario = load_scenario("c21a-with-dump")
    [vm] = scenario.virtual_machines
    assert (vm["name"], vm["resource_group"], vm["stop_code"], vm["ems"]) == ("web-01", "prod-rg", "0xC000021A", True)
    assert vm["os_disk"]["memory_dump"]["size_mb"] == 16
    assert vm["os_disk"]["memory_dump"]["dump_type"] == "kernel"
    assert len(vm["os_disk"]["minidumps"]) == 1


ISSUE_4_SCENARIOS = {"gen1-regional", "gen2-zonal-trustedlaunch", "des-encrypted", "ade-encrypted",
                     "size-unavailable", "locked-rg"}


def test_issue_4_scenarios_exist_each_with_its_own_network_and_a_small_c21a_dump() -> None:
    assert ISSUE_4_SCENARIOS <= set(list_scenarios())
    networks: dict[str, str] = {}
    for name in list_scenarios():
        for vnet in load_scenario(name).virtual_networks:
            for prefix in vnet["address_prefixes"]:
                networks.setdefault(prefix, name)
                if name in ISSUE_4_SCENARIOS:
                    assert networks[prefix] == name, f"{name} shares {prefix} with {networks[prefix]}"
    for name in ISSUE_4_SCENARIOS:
        [vm] = load_scenario(name).virtual_machines
        assert vm["stop_code"] == "0xC000021A"
        assert vm["os_disk"]["memory_dump"]["size_mb"] == 4


def test_issue_4_scenario_keys() -> None:
    [vm] = load_scenario("gen1-regional").virtual_machines
    assert (vm["hyper_v_generation"], vm["zone"]) == ("V1", None)
    [vm] = load_scenario("gen2-zonal-trustedlaunch").virtual_machines
    assert (vm["hyper_v_generation"], vm["zone"], vm["security_type"]) == ("V2", "2", "TrustedLaunch")
    assert load_scenario("des-encrypted").virtual_machines[0]["os_disk"]["disk_encryption_set"] == "web-des"
    assert load_scenario("ade-encrypted").virtual_machines[0]["os_disk"]["ade"]["secret_url"].startswith("https://")
    restricted = load_scenario("size-unavailable")
    [vm] = restricted.virtual_machines
    assert {(r["size"], r["location"], tuple(r["zones"])) for r in restricted.sku_restrictions} == {
        (vm["size"], "westeurope", (vm["zone"],)), ("Standard_D2s_v3", "westeurope", (vm["zone"],))}
    [group] = load_scenario("locked-rg").resource_groups
    assert group["locks"] == [{"name": "prod-readonly", "level": "ReadOnly", "notes": "Change freeze"}]


def test_defaults_are_filled() -> None:
    scenario = parse_scenario(copy.deepcopy(MINIMAL))
    [vm] = scenario.virtual_machines
    assert scenario.location == "westeurope"
    assert scenario.latency_scale == 0.01
    assert len(scenario.principals) == 1 and scenario.principals[0]["role"] == "Owner"
    assert vm["subnet"] == "vnet/default"  # the only subnet
    assert vm["stop_code"] == "0xC000021A"  # normalized
    assert vm["computer_name"] == "VM-01"
    assert vm["os_type"] == "Windows" and vm["ems"] is True and vm["os_build"] == "20348"
    assert vm["os_disk"]["name"].startswith("vm-01_OsDisk_1_")
    assert vm["os_disk"]["size_gb"] == 127


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d.update(colour="blue"), "colour"),
    (lambda d: d["virtual_machines"][0].update(sise="x"), "virtual_machines[0].sise"),
    (lambda d: d["virtual_machines"][0].update(os_type="Solaris"), "virtual_machines[0].os_type"),
    (lambda d: d["virtual_machines"][0].update(stop_code="C000021A"), "virtual_machines[0].stop_code"),
    (lambda d: d["virtual_machines"][0].update(resource_group="nope"), "virtual_machines[0].resource_group"),
    (lambda d: d["virtual_networks"][0].update(address_prefixes=["10.0.0.0/16"]), "virtual_networks[0].address_prefixes[0]"),
    (lambda d: d["virtual_networks"][0]["subnets"][0].update(address_prefix="127.51.1.0/24"),
     "virtual_networks[0].subnets[0].address_prefix"),
    (lambda d: d["virtual_machines"][0].update(os_disk={"volume_size_mb": 32, "memory_dump": {"size_mb": 64}}),
     "virtual_machines[0].os_disk.volume_size_mb"),
    (lambda d: d["virtual_machines"][0].update(os_disk={"memory_dump": {"dump_typ": "full"}}),
     "virtual_machines[0].os_disk.memory_dump.dump_typ"),
    (lambda d: d.pop("name"), "name"),
    (lambda d: d["resource_groups"][0].update(locks=[{"name": "l", "level": "DoNotTouch"}]),
     "resource_groups[0].locks[0].level"),
    (lambda d: d.update(sku_restrictions=[{"size": "Standard_D2s_v3", "zones": ["4"]}]), "sku_restrictions[0].zones[0]"),
    (lambda d: d["virtual_machines"][0].update(os_disk={"ade": {"secret_url": "https://kv/secrets/s/1"}}),
     "virtual_machines[0].os_disk.ade.key_vault_id"),
])
def test_errors_name_the_bad_key(mutate, where: str) -> None:
    data = copy.deepcopy(MINIMAL)
    mutate(data)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="t.yaml")
    assert f"t.yaml: {where}:" in str(info.value)


def test_name_must_match_file(tmp_path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text("name: t\n")
    with pytest.raises(ScenarioError, match="must equal the file name"):
        load_scenario(path)
