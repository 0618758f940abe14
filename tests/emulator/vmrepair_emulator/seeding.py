"""Fill a new World from its Scenario: groups, networks, and per VM its NIC, OS disk and VM resource.

The VM and disk resource shapes belong to the compute provider (arm/compute/models.py:
`seed_disk(world, vm_spec, os_disk_id)` and `seed_vm(world, vm_spec, nic_id, os_disk_id)`); the
OS disk's backing VHD to the disks package (`disks.image.build_os_disk_image`).

Fleet VMs (scenario `fleets:`) are seeded like the others but without a backing VHD (no NTFS image:
2,000 of them must start in seconds), and their private addresses are handed out here from a
cursor per subnet rather than by the network provider's lowest-free search, which rescans the
subnet for every NIC.
"""
from __future__ import annotations

import importlib
import ipaddress
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .arm.locks import models as locks
from .arm.network import models as network
from .arm.resources import models as resources
from .arm.storage_accounts import models as storage_accounts

if TYPE_CHECKING:
    from .world import World

log = logging.getLogger(__name__)

PROVIDER_MODELS = ("network", "compute")


def _provider_models(name: str) -> Any:
    try:
        return importlib.import_module(f"{__package__}.arm.{name}.models")
    except ModuleNotFoundError as exc:
        if exc.name and f"{__package__}.arm.{name}".startswith(exc.name) or exc.name == f"{__package__}.arm.{name}.models":
            return None
        raise


def register_providers(world: "World") -> None:
    """Each provider's models.register(world) adds its cascade-delete hooks."""
    for name in PROVIDER_MODELS:
        models = _provider_models(name)
        if models is not None and hasattr(models, "register"):
            models.register(world)


def nic_name(vm_spec: dict[str, Any]) -> str:
    return f"{vm_spec['name']}VMNic"  # as `az vm create` names it


def seed_world(world: "World", build_disks: bool = True, cache_dir: Path | None = None) -> None:
    scenario = world.scenario
    register_providers(world)
    for rg in scenario.resource_groups:
        resources.create_group(world, rg["name"], rg["location"], rg["tags"])
    for vnet in scenario.virtual_networks:
        network.put_vnet(world, vnet["resource_group"], vnet["name"], vnet["location"], vnet["address_prefixes"],
                         vnet["subnets"], vnet["tags"])
    storage_accounts.seed_accounts(world)
    compute = _provider_models("compute")
    for vm in scenario.virtual_machines:
        if not vm.get("fleet"):
            _seed_vm(world, vm, compute, build_disks, cache_dir)
    free_addresses: dict[str, Iterator[str]] = {}
    for vm in scenario.virtual_machines:
        if vm.get("fleet"):
            _seed_vm(world, vm, compute, build_disks=False, cache_dir=cache_dir, free_addresses=free_addresses)
    locks.seed_locks(world)  # last: seeding itself is not an ARM request, but keep the order Azure would need


def _subnet_id(world: "World", vm: dict[str, Any]) -> str:
    vnet_name, subnet_name = vm["subnet"].split("/", 1)
    vnet = next(v for v in world.scenario.virtual_networks if v["name"].lower() == vnet_name.lower())
    return f"{network.resource_id(world, vnet['resource_group'], network.VNET, vnet['name'])}/subnets/{subnet_name}"


def _free_addresses(world: "World", subnet_id: str) -> Iterator[str]:
    """The subnet's free addresses from .4 up (Azure keeps the first four and the last), in order."""
    _vnet, subnet = network.find_subnet(world, subnet_id)
    taken = network.used_addresses(subnet, world)
    net = ipaddress.ip_network(subnet["properties"]["addressPrefix"])
    for index in range(4, net.num_addresses - 1):
        address = str(net[index])
        if address not in taken:
            yield address


def _seed_vm(world: "World", vm: dict[str, Any], compute: Any, build_disks: bool, cache_dir: Path | None,
             free_addresses: dict[str, Iterator[str]] | None = None) -> None:
    subnet_id = _subnet_id(world, vm)
    address = vm["private_ip"]
    if address is None and free_addresses is not None:
        cursor = free_addresses.setdefault(subnet_id.lower(), _free_addresses(world, subnet_id))
        address = next(cursor, None)
        if address is None:
            raise ValueError(f"subnet {vm['subnet']} is full: no address left for fleet VM {vm['name']}")
    nic, _created = network.put_nic(world, vm["resource_group"], nic_name(vm), vm["location"],
                                    [{"name": "ipconfig1", "subnet_id": subnet_id, "private_ip": address,
                                      "primary": True}], tags=vm["tags"])
    if address != vm["private_ip"]:
        # The address was picked here only for speed; Azure would show it as dynamically allocated.
        nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAllocationMethod"] = "Dynamic"
    os_disk_id = (f"/subscriptions/{world.subscription_id}/resourceGroups/{vm['resource_group']}/providers/"
                  f"Microsoft.Compute/disks/{vm['os_disk']['name']}")
    vm_id = (f"/subscriptions/{world.subscription_id}/resourceGroups/{vm['resource_group']}/providers/"
             f"Microsoft.Compute/virtualMachines/{vm['name']}")
    if build_disks and world.disks is not None:
        _build_backing_vhd(world, vm, os_disk_id, cache_dir)
    if compute is None or not hasattr(compute, "seed_vm") or not hasattr(compute, "seed_disk"):
        log.warning("arm/compute/models.py has no seed_vm/seed_disk yet: VM %s is seeded without its VM and disk "
                    "resources", vm["name"])
        return
    compute.seed_disk(world, vm, os_disk_id)
    compute.seed_vm(world, vm, nic["id"], os_disk_id)
    network.attach_nic_to_vm(world, nic["id"], vm_id)


def _build_backing_vhd(world: "World", vm: dict[str, Any], os_disk_id: str, cache_dir: Path | None) -> None:
    if vm["os_type"] == "Windows":
        try:
            image = importlib.import_module(f"{__package__}.disks.image")
        except ModuleNotFoundError:
            log.warning("vmrepair_emulator.disks.image is not available: %s has no backing VHD", os_disk_id)
            return
        path = image.build_os_disk_image(vm["os_disk"], Path(cache_dir or world.state_dir / "cache"))
        world.disks.adopt(os_disk_id, path, reason="scenario OS disk")
    else:
        # A Linux OS disk's content is never read by the collection: an empty disk of the volume's size.
        world.disks.create_empty(os_disk_id, vm["os_disk"]["volume_size_mb"] * 1024 * 1024, reason="scenario OS disk")
