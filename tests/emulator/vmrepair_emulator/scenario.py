"""Scenario files (scenarios/<name>.yaml): load, validate, fill defaults.

The schema is documented for users in ../README.md and for the emulator's parts in
../ARCHITECTURE.md. Validated specs are plain dicts with every key present, so the
providers (compute, disks) can take them as they are.
"""
from __future__ import annotations

import hashlib
import ipaddress
import random
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

DEFAULT_SUBSCRIPTION_ID = "6a3bb0c2-4f4e-4e1b-9d7a-0c2f1c5b1e01"
DEFAULT_TENANT_ID = "72f988bf-0000-4000-8000-000000000001"
DEFAULT_LOCATION = "westeurope"
DEFAULT_LATENCY_SCALE = 0.01
BUILTIN_ROLES = ("Owner", "Contributor", "Reader")

_HEX = re.compile(r"^0x[0-9a-fA-F]{1,16}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._()-]{0,88}[A-Za-z0-9_()-]?$")
_STORAGE_NAME = re.compile(r"^[a-z0-9]{3,24}$")
# Redundancy kept within one region: the emulator models no geo-replication (no secondary region).
STORAGE_SKUS = ("Standard_LRS", "Standard_ZRS", "Premium_LRS", "Premium_ZRS")
STORAGE_KINDS = ("StorageV2", "Storage", "BlobStorage", "BlockBlobStorage")
# Boot-diagnostics variants of a VM's console (README "virtual_machines[]"): what its screenshot and
# serial log blobs hold. "auto" is what the VM's state implies (stop screen / lock screen, EMS record).
SCREENSHOTS = ("auto", "stop", "lock", "boot_manager", "blank", "none")
SERIAL_LOGS = ("auto", "none", "empty", "garbage")
SCREEN_STYLES = ("win8", "win10", "win11")
SCREEN_SIZES = ((800, 600), (640, 480), (1024, 768))
# Marketing name of each Windows Server build a fleet may mix (shown in the serial log's os-product).
WINDOWS_PRODUCTS = {
    "14393": "Windows Server 2016 Datacenter",
    "17763": "Windows Server 2019 Datacenter",
    "20348": "Windows Server 2022 Datacenter",
    "26100": "Windows Server 2025 Datacenter",
}


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the file and the offending key."""


_REQUIRED = object()
_EMPTY_MAPPING = object()  # default: validate {} so that nested defaults are filled too


@dataclass
class Scenario:
    name: str
    description: str
    subscription_id: str
    tenant_id: str
    location: str
    latency_scale: float
    principals: list[dict[str, Any]]
    resource_groups: list[dict[str, Any]]
    virtual_networks: list[dict[str, Any]]
    virtual_machines: list[dict[str, Any]]
    sku_restrictions: list[dict[str, Any]] = field(default_factory=list)
    public_ip_pool: str | None = None
    storage_accounts: list[dict[str, Any]] = field(default_factory=list)
    fleets: list[dict[str, Any]] = field(default_factory=list)  # as written; their VMs are in virtual_machines
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


# ---- small declarative checker -------------------------------------------------------------


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {where}: {message}")


Check = Callable[[_Ctx, str, Any], Any]


def _fields(ctx: _Ctx, where: str, data: Any, spec: dict[str, tuple[Any, Check | None]]) -> dict[str, Any]:
    """Check a mapping against spec {key: (default or _REQUIRED, checker)}; unknown keys fail."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ctx.fail(where, f"expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise ctx.fail(f"{where}.{unknown[0]}" if where else unknown[0],
                       f"unknown key (allowed: {', '.join(sorted(spec))})")
    out: dict[str, Any] = {}
    for key, (default, check) in spec.items():
        here = f"{where}.{key}" if where else key
        if key in data:
            value = data[key]
            out[key] = check(ctx, here, value) if check and value is not None else value
        elif default is _REQUIRED:
            raise ctx.fail(here, "required key is missing")
        elif default is _EMPTY_MAPPING:
            out[key] = check(ctx, here, {}) if check else {}
        else:
            out[key] = default() if callable(default) else default
    return out


def _str(ctx: _Ctx, where: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ctx.fail(where, f"expected a string, got {type(value).__name__}")
    return str(value)


def _name(ctx: _Ctx, where: str, value: Any) -> str:
    text = _str(ctx, where, value)
    if not _NAME.match(text):
        raise ctx.fail(where, f"{text!r} is not a valid Azure resource name")
    return text


def _uuid(ctx: _Ctx, where: str, value: Any) -> str:
    text = _str(ctx, where, value)
    if not _UUID.match(text):
        raise ctx.fail(where, f"{text!r} is not a GUID")
    return text.lower()


def _hexcode(ctx: _Ctx, where: str, value: Any) -> str:
    text = _str(ctx, where, value)
    if not _HEX.match(text):
        raise ctx.fail(where, f"{text!r} is not a hex code like 0xC000021A")
    return "0x" + text[2:].upper()


def _number(minimum: float = 0, integer: bool = False) -> Check:
    def check(ctx: _Ctx, where: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise ctx.fail(where, f"expected {'an integer' if integer else 'a number'}, got {value!r}")
        if value < minimum:
            raise ctx.fail(where, f"must be >= {minimum}, got {value!r}")
        return value

    return check


def _bool(ctx: _Ctx, where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ctx.fail(where, f"expected true/false, got {value!r}")
    return value


def _choice(*options: Any) -> Check:
    def check(ctx: _Ctx, where: str, value: Any) -> Any:
        for option in options:
            if str(value).lower() == str(option).lower():
                return option
        raise ctx.fail(where, f"{value!r} is not one of {', '.join(map(str, options))}")

    return check


def _tags(ctx: _Ctx, where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ctx.fail(where, "expected a mapping of tag name to value")
    return {str(k): str(v) for k, v in value.items()}


def _list(item: Check) -> Check:
    def check(ctx: _Ctx, where: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ctx.fail(where, f"expected a list, got {type(value).__name__}")
        return [item(ctx, f"{where}[{i}]", v) for i, v in enumerate(value)]

    return check


def _network(ctx: _Ctx, where: str, value: Any) -> str:
    text = _str(ctx, where, value)
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ctx.fail(where, f"{text!r} is not a CIDR prefix ({exc})") from None
    if not net.subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
        raise ctx.fail(where, f"{text} is outside 127.0.0.0/8; the emulator's VM addresses must be "
                              "loopback addresses so the controller can reach them")
    return text


# ---- the schema ----------------------------------------------------------------------------


def _principal(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    spec = {
        "client_id": (_REQUIRED, _uuid),
        "secret": ("generated", _str),
        "display_name": (None, _str),
        "role": ("Owner", _role),
    }
    return _fields(ctx, where, value, spec)


def _role(ctx: _Ctx, where: str, value: Any) -> Any:
    if isinstance(value, str):
        return _choice(*BUILTIN_ROLES)(ctx, where, value)
    return _fields(ctx, where, value, {
        "name": ("Custom", _str),
        "actions": (list, _list(_str)),
        "not_actions": (list, _list(_str)),
    })


def _lock(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "name": (_REQUIRED, _name),
        "level": (_REQUIRED, _choice("CanNotDelete", "ReadOnly")),
        "notes": (None, _str),
    })


def _resource_group(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "name": (_REQUIRED, _name),
        "location": (None, _str),
        "tags": (dict, _tags),
        "locks": (list, _list(_lock)),
    })


def _sku_restriction(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "size": (_REQUIRED, _str),
        "location": (None, _str),  # default: the scenario's location
        "zones": (None, _list(_choice("1", "2", "3"))),  # null: the whole location
    })


def _storage_name(ctx: _Ctx, where: str, value: Any) -> str:
    text = _str(ctx, where, value)
    if not _STORAGE_NAME.match(text):
        raise ctx.fail(where, f"{text!r} is not a storage account name (3 to 24 lowercase letters and digits)")
    return text


def _storage_account(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "name": (_REQUIRED, _storage_name),
        "resource_group": (_REQUIRED, _name),
        "location": (None, _str),  # default: the scenario's location
        "sku": ("Standard_LRS", _choice(*STORAGE_SKUS)),
        "kind": ("StorageV2", _choice(*STORAGE_KINDS)),
        "allow_shared_key_access": (True, _bool),
        "tags": (dict, _tags),
    })


def _ade(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "key_vault_id": (_REQUIRED, _str),
        "secret_url": (_REQUIRED, _str),
        "key_url": (None, _str),
        "key_vault_key_id": (None, _str),
    })


def _subnet(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "name": (_REQUIRED, _name),
        "address_prefix": (_REQUIRED, _network),
    })


def _vnet(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "resource_group": (_REQUIRED, _name),
        "name": (_REQUIRED, _name),
        "location": (None, _str),
        "address_prefixes": (_REQUIRED, _list(_network)),
        "subnets": (list, _list(_subnet)),
        "tags": (dict, _tags),
    })


def _memory_dump(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "path": ("Windows/MEMORY.DMP", _str),
        "size_mb": (16, _number(1)),
        "dump_type": ("kernel", _choice("full", "kernel", "bitmap")),
        "bugcheck_code": (None, _hexcode),
        "bugcheck_parameters": (lambda: ["0x0", "0x0", "0x0", "0x0"], _list(_hexcode)),
        "system_time": ("2026-11-20T03:14:15Z", _str),
        "processors": (2, _number(1, integer=True)),
        "written": ("complete", _choice("complete", "empty", "partial")),
    })


def _crash_control(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "current_control_set": (1, _number(1, integer=True)),
        "crash_dump_enabled": (7, _choice(0, 1, 2, 3, 7)),
        "dump_file": ("%SystemRoot%\\MEMORY.DMP", _str),
        "minidump_dir": ("%SystemRoot%\\Minidump", _str),
        "dedicated_dump_file": (None, _str),
        "filter_pages": (None, _number(0, integer=True)),
    })


def _minidump(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "name": (_REQUIRED, _str),
        "size_kb": (256, _number(1)),
        "bugcheck_code": (None, _hexcode),
    })


def _file_entry(ctx: _Ctx, where: str, value: Any) -> Any:
    if isinstance(value, str):
        return value
    return _fields(ctx, where, value, {"size_kb": (_REQUIRED, _number(0))})


def _files(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.fail(where, "expected a mapping of path to {size_kb: N} or literal text")
    return {str(k).replace("\\", "/"): _file_entry(ctx, f"{where}.{k}", v) for k, v in value.items()}


def _os_disk(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "name": (None, _name),
        "size_gb": (None, _number(1, integer=True)),
        "sku": ("Premium_LRS", _choice("Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "UltraSSD_LRS",
                                       "Premium_ZRS", "StandardSSD_ZRS", "PremiumV2_LRS")),
        "volume_size_mb": (64, _number(16, integer=True)),
        "memory_dump": (None, _memory_dump),
        "minidumps": (list, _list(_minidump)),
        "files": (dict, _files),
        "crash_control": (_EMPTY_MAPPING, _crash_control),
        "disk_encryption_set": (None, _name),
        "ade": (None, _ade),
    })


def _vm(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "name": (_REQUIRED, _name),
        "resource_group": (_REQUIRED, _name),
        "location": (None, _str),
        "size": ("Standard_D2s_v3", _str),
        "os_type": ("Windows", _choice("Windows", "Linux")),
        "zone": (None, _choice("1", "2", "3")),
        "hyper_v_generation": ("V2", _choice("V1", "V2")),
        "security_type": (None, _choice("TrustedLaunch", "ConfidentialVM")),
        "power_state": ("running", _choice("running", "stopped", "deallocated")),
        "subnet": (None, _str),
        "private_ip": (None, _str),
        "computer_name": (None, _str),
        "admin_username": ("vmadmin", _str),
        "os_build": (None, _str),
        "product": (None, _str),
        "boot_diagnostics": ("managed", _choice("managed", "custom", "disabled")),
        "stop_code": (None, _hexcode),
        "ems": (None, _bool),
        "tags": (dict, _tags),
        "os_disk": (_EMPTY_MAPPING, _os_disk),
        "boot_diagnostics_storage_account": (None, _storage_name),
        "screenshot": ("auto", _choice(*SCREENSHOTS)),
        "serial_log": ("auto", _choice(*SERIAL_LOGS)),
        "screen_style": (None, _choice(*SCREEN_STYLES)),
        "screen_size": (SCREEN_SIZES[0], _screen_size),
    })


def _screen_size(ctx: _Ctx, where: str, value: Any) -> tuple[int, int]:
    """[width, height] (or "WxH"), one of the console sizes Azure's screenshots come in."""
    if isinstance(value, str) and "x" in value:
        value = value.lower().split("x", 1)
    try:
        size = (int(value[0]), int(value[1])) if isinstance(value, (list, tuple)) and len(value) == 2 else None
    except (TypeError, ValueError):
        size = None
    if size not in SCREEN_SIZES:
        sizes = ", ".join(f"[{w}, {h}]" for w, h in SCREEN_SIZES)
        raise ctx.fail(where, f"{value!r} is not one of {sizes}")
    return size


# ---- fleets: many VMs generated from counts, reproducibly (README "fleets[]") ----------------


def _count(ctx: _Ctx, where: str, value: Any) -> int:
    return _number(0, integer=True)(ctx, where, value)


def _weights(key_check: Check) -> Check:
    """A mapping value -> weight (a number > 0): how a fleet's VMs are shared out among the values."""
    def check(ctx: _Ctx, where: str, value: Any) -> dict[Any, float]:
        if not isinstance(value, dict) or not value:
            raise ctx.fail(where, "expected a non-empty mapping of value to weight")
        weights: dict[Any, float] = {}
        for key, weight in value.items():
            here = f"{where}.{key}"
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
                raise ctx.fail(here, f"a weight must be a number > 0, got {weight!r}")
            normalized = key_check(ctx, here, key)
            if normalized in weights:
                raise ctx.fail(here, f"{key!r} is listed twice")
            weights[normalized] = weight
        return weights

    return check


def _windows_build(ctx: _Ctx, where: str, value: Any) -> str:
    return _choice(*WINDOWS_PRODUCTS)(ctx, where, _str(ctx, where, value))


def _fleet_tag(ctx: _Ctx, where: str, value: Any) -> Any:
    """A constant, a list of values (each VM draws one) or a mapping value -> weight (exact shares)."""
    if isinstance(value, list):
        if not value:
            raise ctx.fail(where, "expected at least one value")
        return [_str(ctx, f"{where}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return _weights(_str)(ctx, where, value)
    return _str(ctx, where, value)


def _fleet_tags(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.fail(where, "expected a mapping of tag name to a value, a list of values or value weights")
    return {str(name): _fleet_tag(ctx, f"{where}.{name}", v) for name, v in value.items()}


_AMONG = ("any", "broken", "healthy", "windows", "linux")


def _fleet_variant(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "count": (_REQUIRED, _number(1, integer=True)),
        "among": ("any", _choice(*_AMONG)),
        "screenshot": (None, _choice(*SCREENSHOTS)),
        "serial_log": (None, _choice(*SERIAL_LOGS)),
        "screen_style": (None, _choice(*SCREEN_STYLES)),
        "screen_size": (None, _screen_size),
    })


def _fleet(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    return _fields(ctx, where, value, {
        "name_prefix": (_REQUIRED, _str),
        "count": (_REQUIRED, _number(1, integer=True)),
        "seed": (0, _count),
        "resource_groups": (_REQUIRED, _list(_name)),
        "subnets": (None, _list(_str)),
        "location": (None, _str),
        "size": ("Standard_D2s_v3", _str),
        "os_builds": (lambda: {"20348": 1}, _weights(_windows_build)),
        "linux": (0, _count),
        "broken": (0, _count),
        "stop_codes": (lambda: {"0xC000021A": 1}, _weights(_hexcode)),
        "ems_off": (0, _count),
        "boot_diagnostics": (_EMPTY_MAPPING, lambda c, w, v: _fields(c, w, v, {
            "disabled": (0, _count), "custom": (0, _count), "storage_account": (None, _storage_name)})),
        "power_states": (_EMPTY_MAPPING, lambda c, w, v: _fields(c, w, v, {
            "stopped": (0, _count), "deallocated": (0, _count)})),
        "tags": (dict, _fleet_tags),
        "screen_styles": (None, _weights(_choice(*SCREEN_STYLES))),
        "screen_sizes": (None, _weights(_screen_size)),
        "variants": (list, _list(_fleet_variant)),
    })


def _shares(total: int, weights: dict[Any, float]) -> list[Any]:
    """`total` values shared out by weight exactly (largest remainder; ties in the order given)."""
    whole = sum(weights.values())
    quotas = [(key, total * weight / whole) for key, weight in weights.items()]
    counts = {key: int(quota) for key, quota in quotas}
    left = total - sum(counts.values())
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i][1] - int(quotas[i][1])), i))
    for i in by_remainder[:left]:
        counts[quotas[i][0]] += 1
    return [key for key, _quota in quotas for _copy in range(counts[key])]


def _expand_fleet(ctx: _Ctx, where: str, fleet: dict[str, Any], groups: dict[str, dict[str, Any]],
                  subnet_names: list[str], accounts: set[str]) -> list[dict[str, Any]]:
    """The fleet's VMs as raw virtual_machines[] entries. The same fleet (and seed) always gives the same VMs."""
    count = fleet["count"]
    # A seed of our own (not Python's hash()), so a fleet is the same on every run and interpreter.
    digest = hashlib.sha256(f"{fleet['seed']}/{fleet['name_prefix']}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))

    def pick(pool: Any, wanted: int, key: str) -> set[int]:
        members = sorted(pool)
        if wanted > len(members):
            raise ctx.fail(f"{where}.{key}", f"{wanted} VMs asked for, but only {len(members)} qualify")
        return set(rng.sample(members, wanted))

    for i, rg in enumerate(fleet["resource_groups"]):
        if rg.lower() not in groups:
            raise ctx.fail(f"{where}.resource_groups[{i}]", f"no resource group {rg!r} in resource_groups")
    account = fleet["boot_diagnostics"]["storage_account"]
    if account is not None and account not in accounts:
        raise ctx.fail(f"{where}.boot_diagnostics.storage_account",
                       f"no storage account {account!r} in storage_accounts")
    subnets = fleet["subnets"] or subnet_names
    if not subnets:
        raise ctx.fail(f"{where}.subnets", "the scenario has no subnet for the fleet's NICs")
    everyone = range(count)
    linux = pick(everyone, fleet["linux"], "linux")
    windows = [i for i in everyone if i not in linux]
    broken = pick(windows, fleet["broken"], "broken")
    codes = _shares(len(broken), fleet["stop_codes"])
    rng.shuffle(codes)
    stop_code = dict(zip(sorted(broken), codes))
    ems_off = pick(broken, fleet["ems_off"], "ems_off")
    builds = _shares(len(windows), fleet["os_builds"])
    rng.shuffle(builds)
    build = dict(zip(windows, builds))
    bootdiag = fleet["boot_diagnostics"]
    disabled = pick(everyone, bootdiag["disabled"], "boot_diagnostics.disabled")
    custom = pick(set(everyone) - disabled, bootdiag["custom"], "boot_diagnostics.custom")
    power = fleet["power_states"]
    stopped = pick(everyone, power["stopped"], "power_states.stopped")
    deallocated = pick(set(everyone) - stopped, power["deallocated"], "power_states.deallocated")
    tags: dict[int, dict[str, str]] = {i: {} for i in everyone}
    for tag, spec in fleet["tags"].items():
        if isinstance(spec, str):
            values = [spec] * count
        elif isinstance(spec, list):
            values = [rng.choice(spec) for _vm in everyone]
        else:
            values = _shares(count, spec)
            rng.shuffle(values)
        for i, tag_value in zip(everyone, values):
            tags[i][tag] = tag_value
    styles: dict[int, str] = {}
    if fleet["screen_styles"]:
        shared = _shares(len(windows), fleet["screen_styles"])
        rng.shuffle(shared)
        styles = dict(zip(windows, shared))
    sizes: dict[int, tuple[int, int]] = {}
    if fleet["screen_sizes"]:
        shared = _shares(count, fleet["screen_sizes"])
        rng.shuffle(shared)
        sizes = dict(zip(everyone, shared))

    variant_of: dict[int, dict[str, Any]] = {}
    members = {"any": set(everyone), "broken": broken, "healthy": set(windows) - broken, "windows": set(windows),
               "linux": linux}
    for k, variant in enumerate(fleet["variants"]):
        pool = members[variant["among"]] - disabled - set(variant_of)
        if variant["screenshot"] == "stop":
            pool &= broken  # a stop screen needs a stop code
        if variant["screenshot"] in ("lock", "boot_manager"):
            pool -= linux  # Windows screens
        for i in pick(pool, variant["count"], f"variants[{k}].count"):
            variant_of[i] = variant

    width = max(4, len(str(count)))
    fleet_groups = fleet["resource_groups"]
    vms = []
    for i in everyone:
        variant = variant_of.get(i, {})
        vm: dict[str, Any] = {
            "name": f"{fleet['name_prefix']}{i + 1:0{width}d}",
            "resource_group": fleet_groups[i % len(fleet_groups)],
            "location": fleet["location"],
            "size": fleet["size"],
            "os_type": "Linux" if i in linux else "Windows",
            "power_state": "stopped" if i in stopped else "deallocated" if i in deallocated else "running",
            "subnet": subnets[i % len(subnets)],
            "boot_diagnostics": "disabled" if i in disabled else "custom" if i in custom else "managed",
            "boot_diagnostics_storage_account": bootdiag["storage_account"] if i in custom else None,
            "stop_code": stop_code.get(i),
            "ems": False if i in linux or i in ems_off else True,
            "tags": tags[i],
            "screenshot": variant.get("screenshot") or "auto",
            "serial_log": variant.get("serial_log") or "auto",
            "screen_style": variant.get("screen_style") or styles.get(i),
            "screen_size": list(variant.get("screen_size") or sizes.get(i) or SCREEN_SIZES[0]),
        }
        if i not in linux:
            vm["os_build"] = build[i]
            vm["product"] = WINDOWS_PRODUCTS[build[i]]
        vms.append(vm)
    return vms


_TOP = {
    "name": (_REQUIRED, _str),
    "description": ("", _str),
    "subscription_id": (DEFAULT_SUBSCRIPTION_ID, _uuid),
    "tenant_id": (DEFAULT_TENANT_ID, _uuid),
    "location": (DEFAULT_LOCATION, _str),
    "latency_scale": (DEFAULT_LATENCY_SCALE, _number(0)),
    "principals": (None, _list(_principal)),
    "resource_groups": (list, _list(_resource_group)),
    "virtual_networks": (list, _list(_vnet)),
    "virtual_machines": (list, _list(_vm)),
    "sku_restrictions": (list, _list(_sku_restriction)),
    "public_ip_pool": (None, _network),
    "storage_accounts": (list, _list(_storage_account)),
    "fleets": (list, _list(_fleet)),
}


# ---- cross-field rules and derived defaults ------------------------------------------------


def _fill_and_cross_check(ctx: _Ctx, top: dict[str, Any]) -> None:
    if not top["principals"]:
        # One Owner principal; the client id is stable per scenario, the secret random at start.
        top["principals"] = [{"client_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"vmrepair-emulator:{top['name']}")),
                              "secret": "generated", "display_name": None, "role": "Owner"}]
    for i, principal in enumerate(top["principals"]):
        principal["display_name"] = principal["display_name"] or f"vmrepair-test-{i}"

    groups: dict[str, dict[str, Any]] = {}
    for i, rg in enumerate(top["resource_groups"]):
        rg["location"] = rg["location"] or top["location"]
        if rg["name"].lower() in groups:
            raise ctx.fail(f"resource_groups[{i}].name", f"duplicate resource group {rg['name']!r}")
        groups[rg["name"].lower()] = rg

    accounts: set[str] = set()
    for i, account in enumerate(top["storage_accounts"]):
        where = f"storage_accounts[{i}]"
        if account["resource_group"].lower() not in groups:
            raise ctx.fail(f"{where}.resource_group",
                           f"no resource group {account['resource_group']!r} in resource_groups")
        # Account names are global in Azure (they are DNS names); Azurite's development account is taken.
        if account["name"] in accounts or account["name"] == "devstoreaccount1":
            raise ctx.fail(f"{where}.name", f"duplicate storage account {account['name']!r}")
        accounts.add(account["name"])
        account["location"] = account["location"] or top["location"]

    for i, restriction in enumerate(top["sku_restrictions"]):
        restriction["location"] = (restriction["location"] or top["location"]).replace(" ", "").lower()

    if top["public_ip_pool"] is None:
        # Default: 127.(100 + the second octet of the first network).0.0/16, so that scenarios with
        # their own /16 also get their own public addresses; 127.99.0.0/16 without networks.
        first = next((p for v in top["virtual_networks"] for p in v["address_prefixes"]), None)
        octet = int(first.split(".")[1]) + 100 if first else 99
        top["public_ip_pool"] = f"127.{octet if octet <= 255 else 99}.0.0/16"

    subnets: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for i, vnet in enumerate(top["virtual_networks"]):
        where = f"virtual_networks[{i}]"
        rg = groups.get(vnet["resource_group"].lower())
        if rg is None:
            raise ctx.fail(f"{where}.resource_group", f"no resource group {vnet['resource_group']!r} in resource_groups")
        vnet["location"] = vnet["location"] or rg["location"]
        spaces = [ipaddress.ip_network(p) for p in vnet["address_prefixes"]]
        for j, subnet in enumerate(vnet["subnets"]):
            net = ipaddress.ip_network(subnet["address_prefix"])
            if not any(net.subnet_of(space) for space in spaces):  # type: ignore[arg-type]
                raise ctx.fail(f"{where}.subnets[{j}].address_prefix",
                               f"{net} is not inside the network's address_prefixes {vnet['address_prefixes']}")
            key = f"{vnet['name']}/{subnet['name']}".lower()
            if key in subnets:
                raise ctx.fail(f"{where}.subnets[{j}].name", f"duplicate subnet {key!r}")
            subnets[key] = (vnet, subnet)

    # Fleets become ordinary virtual_machines[] entries (marked with their fleet), checked as such below.
    placed = [(f"virtual_machines[{i}]", vm) for i, vm in enumerate(top["virtual_machines"])]
    subnet_names = [f"{v['name']}/{s['name']}" for v in top["virtual_networks"] for s in v["subnets"]]
    for k, fleet in enumerate(top["fleets"]):
        for raw in _expand_fleet(ctx, f"fleets[{k}]", fleet, groups, subnet_names, accounts):
            where = f"fleets[{k}] ({raw['name']})"
            vm = _vm(ctx, where, raw)
            vm["fleet"] = fleet["name_prefix"]
            placed.append((where, vm))
            top["virtual_machines"].append(vm)

    names: set[tuple[str, str]] = set()
    for where, vm in placed:
        vm.setdefault("fleet", None)
        rg = groups.get(vm["resource_group"].lower())
        if rg is None:
            raise ctx.fail(f"{where}.resource_group", f"no resource group {vm['resource_group']!r} in resource_groups")
        if (vm["resource_group"].lower(), vm["name"].lower()) in names:
            raise ctx.fail(f"{where}.name", f"duplicate virtual machine {vm['name']!r}")
        names.add((vm["resource_group"].lower(), vm["name"].lower()))
        vm["location"] = vm["location"] or rg["location"]
        if vm["subnet"] is None:
            if len(subnets) != 1:
                raise ctx.fail(f"{where}.subnet", "required when the scenario has more or fewer than one subnet")
            vm["subnet"] = next(f"{v['name']}/{s['name']}" for v, s in subnets.values())
        if vm["subnet"].lower() not in subnets:
            raise ctx.fail(f"{where}.subnet", f"{vm['subnet']!r} is not a <vnet>/<subnet> of virtual_networks")
        vnet, subnet = subnets[vm["subnet"].lower()]
        if vnet["location"].lower() != vm["location"].lower():
            raise ctx.fail(f"{where}.subnet", f"network {vnet['name']!r} is in {vnet['location']}, the VM in {vm['location']}")
        if vm["private_ip"] is not None:
            try:
                inside = ipaddress.ip_address(vm["private_ip"]) in ipaddress.ip_network(subnet["address_prefix"])
            except ValueError:
                inside = False
            if not inside:
                raise ctx.fail(f"{where}.private_ip", f"{vm['private_ip']!r} is not an address of {subnet['address_prefix']}")
        windows = vm["os_type"] == "Windows"
        vm["computer_name"] = vm["computer_name"] or vm["name"].upper()[:15]
        vm["os_build"] = vm["os_build"] or ("20348" if windows else "")
        vm["product"] = vm["product"] or ("Windows Server 2022 Datacenter" if windows else "Ubuntu Server 22.04 LTS")
        if vm["ems"] is None:
            vm["ems"] = windows  # Azure's Windows marketplace images ship with SAC/EMS on
        _check_boot_diagnostics(ctx, where, vm, accounts)
        disk = vm["os_disk"]
        suffix = hashlib.sha1(f"{top['name']}/{vm['resource_group']}/{vm['name']}".encode()).hexdigest()[:32]
        disk["name"] = disk["name"] or f"{vm['name']}_OsDisk_1_{suffix}"
        disk["size_gb"] = disk["size_gb"] or (127 if windows else 30)
        disk["os_type"] = vm["os_type"]
        disk["os_build"] = vm["os_build"]  # written into the dumps' headers by the disk builder
        disk["hyper_v_generation"] = vm["hyper_v_generation"]
        if disk["memory_dump"] is not None and disk["memory_dump"]["bugcheck_code"] is None:
            disk["memory_dump"]["bugcheck_code"] = vm["stop_code"] or "0xC000021A"
        for minidump in disk["minidumps"]:
            minidump["bugcheck_code"] = minidump["bugcheck_code"] or vm["stop_code"] or "0xC000021A"
        used_mb = (disk["memory_dump"]["size_mb"] if disk["memory_dump"] else 0)
        used_mb += sum(m["size_kb"] for m in disk["minidumps"]) / 1024
        used_mb += sum(f["size_kb"] if isinstance(f, dict) else len(f) / 1024 for f in disk["files"].values()) / 1024
        if used_mb > disk["volume_size_mb"] * 0.85:
            raise ctx.fail(f"{where}.os_disk.volume_size_mb",
                           f"{disk['volume_size_mb']} MB cannot hold the {used_mb:.1f} MB of files asked for "
                           "(leave ~15% for NTFS metadata)")


def _check_boot_diagnostics(ctx: _Ctx, where: str, vm: dict[str, Any], accounts: set[str]) -> None:
    account = vm["boot_diagnostics_storage_account"]
    if account is not None:
        if vm["boot_diagnostics"] != "custom":
            raise ctx.fail(f"{where}.boot_diagnostics_storage_account", "needs boot_diagnostics: custom")
        if account not in accounts:
            raise ctx.fail(f"{where}.boot_diagnostics_storage_account",
                           f"no storage account {account!r} in storage_accounts")
    if vm["boot_diagnostics"] == "disabled" and (vm["screenshot"], vm["serial_log"]) != ("auto", "auto"):
        raise ctx.fail(f"{where}.screenshot", "a VM with boot_diagnostics: disabled has no screenshot or serial log")
    if vm["screenshot"] == "stop" and not vm["stop_code"]:
        raise ctx.fail(f"{where}.screenshot", "a stop screen needs the VM's stop_code")
    if vm["screenshot"] in ("stop", "lock", "boot_manager") and vm["os_type"] == "Linux":
        raise ctx.fail(f"{where}.screenshot", f"{vm['screenshot']!r} is a Windows screen; this VM runs Linux")


def parse_scenario(data: Any, source: str = "<scenario>", expected_name: str | None = None) -> Scenario:
    ctx = _Ctx(source)
    top = _fields(ctx, "", data, _TOP)
    if expected_name is not None and top["name"] != expected_name:
        raise ctx.fail("name", f"{top['name']!r} must equal the file name {expected_name!r}")
    _fill_and_cross_check(ctx, top)
    return Scenario(**top, raw=data)


def scenario_path(name: str, directory: Path = SCENARIO_DIR) -> Path:
    return directory / f"{name}.yaml"


def load_scenario(name_or_path: str | Path, directory: Path = SCENARIO_DIR) -> Scenario:
    """Load scenarios/<name>.yaml (or a path to a .yaml file)."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = scenario_path(str(name_or_path), directory)
    if not path.is_file():
        known = ", ".join(list_scenarios(directory)) or "none"
        raise ScenarioError(f"no scenario file {path} (known scenarios: {known})")
    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    scenario = parse_scenario(data, source=str(path), expected_name=path.stem)
    scenario.path = path
    return scenario


def list_scenarios(directory: Path = SCENARIO_DIR) -> list[str]:
    return sorted(p.stem for p in Path(directory).glob("*.yaml"))
