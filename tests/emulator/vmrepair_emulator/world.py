"""World: all state of one emulator run, created from a Scenario.

Resources live in `world.resources` keyed by lower-cased resource id; every provider reads
and writes them under `world.lock`. See ../ARCHITECTURE.md, "Shared objects".
"""
from __future__ import annotations

import importlib
import logging
import os
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .arm.lro import LatencyProfile, LroManager
from .arm.throttling import ArmThrottle
from .identity.tokens import TokenIssuer
from .requestlog import RequestLog
from .scenario import Scenario

log = logging.getLogger(__name__)

EMULATOR_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = EMULATOR_DIR / ".cache"


class Resource(dict):
    """An ARM resource as ARM returns it (id, name, type, location, tags, properties, ...).

    `internal` holds emulator-only state that is never serialized (e.g. a VM's machine handle).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.internal: dict[str, Any] = {}

    @property
    def id(self) -> str:
        return self["id"]

    @property
    def type(self) -> str:
        return self["type"]

    @property
    def name(self) -> str:
        return self["name"]

    @property
    def resource_group(self) -> str | None:
        parts = self["id"].split("/")
        lowered = [p.lower() for p in parts]
        return parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered else None

    def to_arm(self) -> dict[str, Any]:
        """A deep-enough copy for a response body (handlers may then adjust it)."""
        import copy

        return copy.deepcopy(dict(self))


KNOB_NAMES = ("latency_scale", "faults", "rbac_role", "token_lifetime_s", "arm_throttling", "controller_address",
              "powershell_start_s", "throttle_limits", "vm_list_page_size", "bootdiag_sas_expiry_s")
# Azure does not document how many VMs a page of VirtualMachines_List(All) holds; the emulator's choice.
DEFAULT_VM_LIST_PAGE_SIZE = 1000
# Seconds powershell.exe (Windows PowerShell 5.1) takes to start before it runs anything: 0.19-0.21 s
# measured on a 40-core NVMe server (PowerShell/PowerShell#12843), 0.6 s on a desktop
# (PowerShell/PowerShell#4239). The lower figure, so that per-process costs are not overstated.
DEFAULT_POWERSHELL_START_S = 0.2
# The address the emulator treats as the controller's when it checks NSG rules for a connection to a
# VM's public address (on loopback every client is 127.0.0.1). TEST-NET-3: a public, "Internet" address.
DEFAULT_CONTROLLER_ADDRESS = "203.0.113.10"


@dataclass
class Knobs:
    latency_scale: float = 0.01
    faults: list[dict[str, Any]] = field(default_factory=list)
    rbac_role: Any = None  # None: each principal's own role (Owner by default)
    token_lifetime_s: int = 3600
    arm_throttling: bool = False  # enforce ARM's request budgets (429) instead of only reporting them
    controller_address: str = DEFAULT_CONTROLLER_ADDRESS  # NSG source of WinRM connections to public IPs
    powershell_start_s: float = DEFAULT_POWERSHELL_START_S  # start-up of every powershell.exe a WinRM command runs
    throttle_limits: dict[str, Any] | None = None  # overrides of ARM's and Compute's bucket sizes (arm/throttling.py)
    vm_list_page_size: int = DEFAULT_VM_LIST_PAGE_SIZE  # VMs per page of a VM list (then nextLink)
    bootdiag_sas_expiry_s: float | None = None  # None: SAS URLs expire as requested; else this many seconds from now
    # Bumped on every throttle_limits change (not a knob): the throttle then refills every bucket at the new sizes.
    throttle_generation: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in KNOB_NAMES}

    def update(self, values: dict[str, Any]) -> None:
        """Validate then apply (all or nothing); ValueError names the bad knob."""
        from .arm import rbac

        unknown = sorted(set(values) - set(KNOB_NAMES))
        if unknown:
            raise ValueError(f"unknown knob {unknown[0]!r} (known: {', '.join(KNOB_NAMES)})")
        new = dict(values)
        if "latency_scale" in new:
            if isinstance(new["latency_scale"], bool) or not isinstance(new["latency_scale"], (int, float)) \
                    or new["latency_scale"] < 0:
                raise ValueError("latency_scale must be a number >= 0")
            new["latency_scale"] = float(new["latency_scale"])
        if "powershell_start_s" in new:
            if isinstance(new["powershell_start_s"], bool) or not isinstance(new["powershell_start_s"], (int, float)) \
                    or not 0 <= new["powershell_start_s"] <= 60:
                raise ValueError("powershell_start_s must be a number of seconds from 0 to 60")
            new["powershell_start_s"] = float(new["powershell_start_s"])
        if "token_lifetime_s" in new:
            if isinstance(new["token_lifetime_s"], bool) or not isinstance(new["token_lifetime_s"], int) \
                    or new["token_lifetime_s"] < 1:
                raise ValueError("token_lifetime_s must be an integer >= 1")
        if "controller_address" in new:
            import ipaddress

            try:
                new["controller_address"] = str(ipaddress.IPv4Address(str(new["controller_address"])))
            except ValueError:
                raise ValueError("controller_address must be an IPv4 address") from None
        if "arm_throttling" in new and not isinstance(new["arm_throttling"], bool):
            raise ValueError("arm_throttling must be true or false")
        if "throttle_limits" in new:
            from .arm.throttling import normalize_limits

            new["throttle_limits"] = normalize_limits(new["throttle_limits"])
        if "vm_list_page_size" in new:
            size = new["vm_list_page_size"]
            if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100000:
                raise ValueError("vm_list_page_size must be an integer from 1 to 100000")
        if "bootdiag_sas_expiry_s" in new and new["bootdiag_sas_expiry_s"] is not None:
            expiry = new["bootdiag_sas_expiry_s"]
            if isinstance(expiry, bool) or not isinstance(expiry, (int, float)) or not -86400 <= expiry <= 86400:
                raise ValueError("bootdiag_sas_expiry_s must be null or a number of seconds from -86400 to 86400")
            new["bootdiag_sas_expiry_s"] = float(expiry)
        if "rbac_role" in new and new["rbac_role"] is not None:
            rbac.normalize_role(new["rbac_role"])
        if "faults" in new:
            faults = new["faults"] or []
            if not isinstance(faults, list):
                raise ValueError("faults must be a list")
            for i, fault in enumerate(faults):
                if not isinstance(fault, dict):
                    raise ValueError(f"faults[{i}] must be a mapping")
                bad = sorted(set(fault) - {"match", "status", "code", "message", "count", "retry_after"})
                if bad:
                    raise ValueError(f"faults[{i}]: unknown key {bad[0]!r}")
                bad = sorted(set(fault.get("match") or {}) - {"method", "path_regex", "operation"})
                if bad:
                    raise ValueError(f"faults[{i}].match: unknown key {bad[0]!r}")
                status = fault.get("status", 500)
                if status not in (0, "drop") and not (isinstance(status, int) and 400 <= status <= 599):
                    raise ValueError(f"faults[{i}].status must be 400-599, 0 or 'drop'")
            new["faults"] = [dict(f) for f in faults]
        for name, value in new.items():
            setattr(self, name, value)
        if "throttle_limits" in new:
            self.throttle_generation += 1


class World:
    """All state; created by `World.from_scenario`."""

    def __init__(self, scenario: Scenario, state_dir: Path, request_log: RequestLog | None = None,
                 tls: Any = None, profile: LatencyProfile | None = None) -> None:
        self.scenario = scenario
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.subscription_id = scenario.subscription_id
        self.tenant_id = scenario.tenant_id
        self.location = scenario.location
        self.lock = threading.RLock()
        self.resources: dict[str, Resource] = {}
        self.knobs = Knobs(latency_scale=float(scenario.latency_scale))
        self.request_log = request_log or RequestLog(self.state_dir / "requests.jsonl")
        self.tls = tls
        self.base_url = "https://127.0.0.1"  # set by the server once it has a port
        self.tokens = TokenIssuer(scenario.tenant_id)
        self.throttle = ArmThrottle(lambda: self.knobs.arm_throttling,
                                    lambda: (self.knobs.throttle_generation, self.knobs.throttle_limits))
        self.lro = LroManager(self, profile or LatencyProfile())
        self.machines: dict[str, Any] = {}  # vm id (lower) -> windows.machine.Machine
        self.disks: Any = None  # disks.DiskStore, when helper C's package is present
        self.blob: Any = None  # storage.azurite.Azurite once started
        self.winrm_listeners: Any = None  # winrm.ListenerManager (helper B), when present
        self.bootdiag: dict[str, Any] = {}  # vm id (lower) -> bootdiag.BootDiagnosticsBlobs (published)
        self._deleters: dict[str, Callable[["World", str], None]] = {}
        self.principals: dict[str, dict[str, Any]] = {}
        for spec in scenario.principals:
            secret = secrets.token_urlsafe(24) if spec["secret"] == "generated" else spec["secret"]
            self.principals[spec["client_id"].lower()] = {
                **spec, "secret": secret,
                "object_id": str(uuid.uuid5(uuid.NAMESPACE_OID, spec["client_id"].lower())),
            }

    # -- URLs ---------------------------------------------------------------------------------

    def set_base_url(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens.base_url = self.base_url

    @property
    def authority_url(self) -> str:
        """Entra ID lives on the same host as ARM."""
        return self.base_url

    @property
    def arm_audiences(self) -> list[str]:
        return [self.base_url + "/", self.base_url]

    @property
    def default_principal(self) -> dict[str, Any]:
        return next(iter(self.principals.values()))

    def effective_role(self, client_id: str) -> Any:
        if self.knobs.rbac_role is not None:
            return self.knobs.rbac_role
        principal = self.principals.get(client_id.lower())
        return principal["role"] if principal else "Reader"

    # -- resources ----------------------------------------------------------------------------

    def get(self, resource_id: str) -> Resource | None:
        return self.resources.get(resource_id.lower())

    def put(self, resource: Resource | dict[str, Any]) -> Resource:
        if not isinstance(resource, Resource):
            resource = Resource(resource)
        with self.lock:
            self.resources[resource["id"].lower()] = resource
        return resource

    def remove(self, resource_id: str) -> Resource | None:
        with self.lock:
            return self.resources.pop(resource_id.lower(), None)

    def resource_group_id(self, name: str) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{name}"

    def get_resource_group(self, name: str) -> Resource | None:
        return self.get(self.resource_group_id(name))

    def resources_in_group(self, name: str) -> list[Resource]:
        prefix = self.resource_group_id(name).lower() + "/providers/"
        with self.lock:
            return [r for key, r in self.resources.items() if key.startswith(prefix)]

    def register_deleter(self, type_lower: str, fn: Callable[["World", str], None]) -> None:
        """Provider hook for cascade delete: fn(world, resource_id) removes the resource and its state."""
        self._deleters[type_lower.lower()] = fn

    def delete_resource(self, resource_id: str) -> None:
        resource = self.get(resource_id)
        if resource is None:
            return
        deleter = self._deleters.get(resource["type"].lower())
        if deleter is not None:
            deleter(self, resource["id"])
        else:
            self.remove(resource["id"])

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def from_scenario(cls, scenario: Scenario, state_dir: Path, request_log: RequestLog | None = None,
                      tls: Any = None, build_disks: bool = True, cache_dir: Path | None = None) -> "World":
        world = cls(scenario, state_dir, request_log=request_log, tls=tls)
        world._attach_optional_parts()
        from . import seeding

        seeding.seed_world(world, build_disks=build_disks,
                           cache_dir=cache_dir or Path(os.environ.get("VMREPAIR_EMULATOR_CACHE", DEFAULT_CACHE_DIR)))
        return world

    def _attach_optional_parts(self) -> None:
        """Parts written by other helpers: used when present, tolerated when absent."""
        store_cls = _optional(f"{__package__}.disks.store", "DiskStore")
        if store_cls is None:
            log.warning("vmrepair_emulator.disks is not available: managed disks have no backing VHD")
        else:
            self.disks = store_cls(self.state_dir / "disks")
        manager_cls = (_optional(f"{__package__}.winrm", "ListenerManager")
                       or _optional(f"{__package__}.winrm.listeners", "ListenerManager"))
        if manager_cls is None:
            log.warning("vmrepair_emulator.winrm has no ListenerManager yet: no WinRM listeners")
        else:
            self.winrm_listeners = manager_cls(self.tls, self.request_log)

    def close(self) -> None:
        self.lro.stop()
        if self.winrm_listeners is not None:
            try:
                self.winrm_listeners.stop_all()
            except Exception:  # never block shutdown on a listener
                log.exception("stopping WinRM listeners failed")


def _optional(module_name: str, attribute: str) -> Any:
    """module.attribute, or None when the module (written by another part) does not exist yet."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, attribute, None)
