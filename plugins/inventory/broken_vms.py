# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: broken_vms
short_description: Azure Windows VMs with the stop code their boot diagnostics show
version_added: 0.1.0
description:
  - Lists the Windows VMs of one or more subscriptions, reads each one's boot diagnostics and makes
    every VM an inventory host with its stop code as host variables, grouped by stop code and triage
    status, so that one play (or an AWX job template with job slicing) works through every VM stuck at
    a given stop error.
  - The stop code comes from the serial log's EMS C(BLUESCREEN) record (certain) or, when there is none,
    from OCR of the screenshot (C(high) or C(low) confidence, never certain).
  - "ARM requests: one paged list of the subscription's VMs (or one per resource group in O(resource_groups)),
    then one C(retrieveBootDiagnosticsData) per candidate VM (Windows, boot diagnostics on, in O(power_states));
    the logs and screenshots come from blob storage. C(retrieveBootDiagnosticsData) is a POST, which ARM counts
    against the principal's write bucket (200 requests, refilled at 10 per second): for large fleets the plugin
    paces itself at the refill rate, keeping O(arm_reserve) requests for other tools, and says so in a warning."
  - "Groups: C(stop_<code>) (for example C(stop_0xC000021A)) for VMs whose stop code is sure (C(stop_screen)), and
    one group per triage status: C(stop_screen), C(stop_screen_uncertain), C(no_stop_screen), C(unknown)."
  - Azure is only read. Nothing is created.
author:
  - vmrepair.azure maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
  - vmrepair.azure.azure_auth
options:
  plugin:
    description: The name of this plugin; the configuration file's name must end in C(broken_vms.yml) or C(broken_vms.yaml).
    type: str
    required: true
    choices: [vmrepair.azure.broken_vms]
  subscription_ids:
    description:
      - Subscriptions to list. Default, the one of the authentication options (O(subscription_id),
        E(AZURE_SUBSCRIPTION_ID) ...).
      - A subscription that cannot be read is reported in a warning and in C(vmrepair_fleet_summary.errors);
        the others are still listed. Only when none can be read does the inventory source fail.
    type: list
    elements: str
    default: []
  resource_groups:
    description:
      - Only VMs in these resource groups (listed group by group, so a principal that can read only those
        groups works too). Default, every VM of the subscription.
    type: list
    elements: str
    default: []
  tags:
    description: Only VMs carrying every one of these tags; a null value matches any value of the tag.
    type: dict
    default: {}
  exclude_tags:
    description: Leave out VMs carrying any of these tags; a null value matches any value of the tag.
    type: dict
    default: {}
  power_states:
    description:
      - Only VMs in these power states are triaged (a VM stuck at a stop screen is C(running)). VMs in other
        states cost no request and are left out.
    type: list
    elements: str
    default: [running]
  include_statuses:
    description:
      - Triage statuses that become inventory hosts.
      - Add V(no_stop_screen) to list healthy VMs too (for a fleet report of every VM).
    type: list
    elements: str
    default: [stop_screen, stop_screen_uncertain, unknown]
    choices: [stop_screen, stop_screen_uncertain, no_stop_screen, unknown]
  ocr:
    description:
      - When to read screenshots with OCR, as the O(vmrepair.azure.boot_diagnostics_info#module:ocr) option, except
        that V(auto) also takes a serial log that shows EMS on (SAC started) without a stop record as "no stop since
        boot" without reading the screenshot. That saves up to a CPU second per healthy VM; a VM stuck before Windows
        starts (a Boot Manager error) then shows as C(no_stop_screen) with that reason. V(always) reads every one.
    type: str
    default: auto
    choices: [auto, always, never]
  max_workers:
    description: VMs triaged at the same time (downloads and OCR; ARM requests stay paced).
    type: int
    default: 16
  arm_reserve:
    description:
      - ARM requests of each bucket left for other tools of the same principal; below it the plugin waits for
        ARM's refill instead of spending the rest.
    type: int
    default: 20
  sas_expiry_minutes:
    description: How long the boot-diagnostics SAS links stay valid, 1 to 1440 minutes.
    type: int
    default: 10
requirements:
  - pillow and pytesseract, with the tesseract program, for OCR
"""

EXAMPLES = r"""
# fleet.broken_vms.yml
plugin: vmrepair.azure.broken_vms
resource_groups: [prod-rg, web-rg]
tags:
  env: prod
keyed_groups:
  - key: vmrepair_location
    prefix: region
compose:
  ansible_connection: "'local'"

# ansible-inventory -i fleet.broken_vms.yml --graph
# ansible-playbook vmrepair.azure.triage -i fleet.broken_vms.yml -e vmrepair_hosts=stop_0xC000021A
"""

import re
from typing import Any

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.vmrepair.azure.plugins.module_utils._arm_budget import ArmBudget
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_auth import AUTH_ARGUMENT_SPEC
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import AzureClients, connect
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import VmrepairError, scrub
from ansible_collections.vmrepair.azure.plugins.module_utils._fleet_triage import FleetFilter, triage_fleet

display = Display()

# Host variables: summary key -> variable name. vm_name and resource_group match the playbooks' -e names.
HOST_VARIABLES = {
    "name": "vm_name",
    "resource_group": "resource_group",
    "subscription_id": "vmrepair_subscription_id",
    "id": "vmrepair_vm_id",
    "location": "vmrepair_location",
    "os_type": "vmrepair_os_type",
    "power_state": "vmrepair_power_state",
    "provisioning_state": "vmrepair_provisioning_state",
    "vm_size": "vmrepair_vm_size",
    "zones": "vmrepair_zones",
    "boot_diagnostics": "vmrepair_boot_diagnostics",
    "tags": "vmrepair_tags",
    "stop_code_reason": "vmrepair_stop_code_reason",
    "triage_status": "vmrepair_triage_status",
    "machine_info": "vmrepair_machine_info",
    "screen": "vmrepair_screen",
    "evidence": "vmrepair_evidence",
    "next_steps": "vmrepair_next_steps",
}


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "vmrepair.azure.broken_vms"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("broken_vms.yml", "broken_vms.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        fleet = None
        if use_cache:
            try:
                fleet = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if fleet is None:
            fleet = self._fetch()
        if update_cache:
            self._cache[cache_key] = fleet
        self._populate(fleet)

    # -- reading Azure ------------------------------------------------------------------------

    def _auth_options(self) -> dict[str, Any]:
        return {name: self.get_option(name) for name in AUTH_ARGUMENT_SPEC}

    def _fetch(self) -> dict[str, Any]:
        options = self._auth_options()
        try:
            base = connect(options)
        except VmrepairError as error:
            raise AnsibleParserError(f"{self.NAME}: {scrub(error.message, [options.get('secret')])}") from None
        subscriptions = self.get_option("subscription_ids") or [base.subscription_id]
        fleet_filter = FleetFilter(
            resource_groups=list(self.get_option("resource_groups") or []),
            tags=dict(self.get_option("tags") or {}),
            exclude_tags=dict(self.get_option("exclude_tags") or {}),
            power_states=tuple(self.get_option("power_states") or ()),
        )
        summary: dict[str, Any] = {"subscriptions": {}, "errors": [], "listed": 0, "triaged": 0, "seconds": 0.0}
        vms: list[dict[str, Any]] = []
        try:
            for subscription in subscriptions:
                clients = AzureClients(credential=base.credential, subscription_id=subscription, cloud=base.cloud,
                                       plan=base.plan)
                budget = ArmBudget(reserve=self.get_option("arm_reserve"),
                                   on_slowdown=lambda text, s=subscription: display.warning(f"{self.NAME}: "
                                                                                            f"subscription {s}: {text}"))
                try:
                    result = triage_fleet(clients, fleet_filter, budget, workers=self.get_option("max_workers"),
                                          ocr=self.get_option("ocr"),
                                          sas_expiry_minutes=self.get_option("sas_expiry_minutes"),
                                          progress=display.vv)
                except VmrepairError as error:
                    message = scrub(error.message, base.secrets)
                    display.warning(f"{self.NAME}: subscription {subscription}: {message}. No hosts from it.")
                    summary["errors"].append({"subscription_id": subscription, "error": message})
                    continue
                finally:
                    clients.close(credential=False)
                vms.extend(result["vms"])
                summary["subscriptions"][subscription] = {
                    "listed": result["listed"], "triaged": len(result["vms"]), "skipped": result["skipped"],
                    "seconds": result["seconds"], "arm": budget.stats()}
                summary["listed"] += result["listed"]
                summary["triaged"] += len(result["vms"])
                summary["seconds"] += result["seconds"]
        finally:
            base.close()
        if summary["errors"] and not summary["subscriptions"]:
            raise AnsibleError(f"{self.NAME}: no subscription could be read: "
                               + "; ".join(f"{e['subscription_id']}: {e['error']}" for e in summary["errors"]))
        return {"vms": vms, "summary": summary}

    # -- building the inventory ---------------------------------------------------------------

    def _populate(self, fleet: dict[str, Any]) -> None:
        wanted = set(self.get_option("include_statuses") or [])
        strict = self.get_option("strict")
        chosen = [vm for vm in fleet["vms"] if vm.get("triage_status") in wanted]
        names = _host_names(chosen)
        for vm, host in zip(chosen, names):
            self.inventory.add_host(host)
            hostvars = host_variables(vm)
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            status = vm["triage_status"]
            self.inventory.add_group(status)
            self.inventory.add_child(status, host)
            group = stop_code_group(vm)
            if group:
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)
        self.inventory.set_variable("all", "vmrepair_fleet_summary", _never_templated(fleet["summary"]))


def host_variables(vm: dict[str, Any]) -> dict[str, Any]:
    """The host variables of one triaged VM; Azure's and OCR's text is marked unsafe (never templated)."""
    hostvars = {variable: vm.get(key) for key, variable in HOST_VARIABLES.items()}
    stop_code = vm.get("stop_code") or {}
    hostvars.update({
        "vmrepair_stop_code": stop_code.get("code"),
        "vmrepair_stop_code_name": stop_code.get("name"),
        "vmrepair_stop_code_source": stop_code.get("source"),
        "vmrepair_stop_code_confidence": stop_code.get("confidence"),
    })
    return {key: _never_templated(value) for key, value in hostvars.items()}


def _never_templated(value: Any) -> Any:
    """Mark text that holds Jinja delimiters unsafe (ansible-core < 2.19 would template it); other text stays
    plain, so that `ansible-inventory --list` (and AWX, which imports it) sees plain values."""
    if isinstance(value, str):
        return wrap_var(value) if any(mark in value for mark in ("{{", "{%", "{#")) else value
    if isinstance(value, dict):
        return {key: _never_templated(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_never_templated(item) for item in value]
    return value


def stop_code_group(vm: dict[str, Any]) -> str | None:
    """stop_0xC000021A for a VM whose stop code is sure; None otherwise (uncertain codes group by status only)."""
    code = (vm.get("stop_code") or {}).get("code")
    if vm.get("triage_status") != "stop_screen" or not code or not re.fullmatch(r"0x[0-9A-Fa-f]{1,8}", code):
        return None
    return f"stop_0x{code[2:].upper()}"


def _host_names(vms: list[dict[str, Any]]) -> list[str]:
    """The VM name; name.resource_group where names repeat; then with the subscription too."""
    def counts(keys: list[str]) -> dict[str, int]:
        seen: dict[str, int] = {}
        for key in keys:
            seen[key.lower()] = seen.get(key.lower(), 0) + 1
        return seen

    plain = [str(vm.get("name")) for vm in vms]
    with_group = [f"{vm.get('name')}.{vm.get('resource_group')}" for vm in vms]
    plain_counts, group_counts = counts(plain), counts(with_group)
    names = []
    for vm, name, grouped in zip(vms, plain, with_group):
        if plain_counts[name.lower()] == 1:
            names.append(name)
        elif group_counts[grouped.lower()] == 1:
            names.append(grouped)
        else:
            names.append(f"{grouped}.{vm.get('subscription_id')}")
    return names
