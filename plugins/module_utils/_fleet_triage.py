# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage of every Windows VM of a subscription with the fewest ARM requests Azure allows.

One paged list of the subscription's VMs with their power state (statusOnly=true), or one per
resource group when groups are named (so a principal that can read only those groups works too);
then one retrieveBootDiagnosticsData per candidate VM (Windows, boot diagnostics on, in a chosen
power state). Nothing else goes to ARM: the serial log and screenshot come from blob storage.
Candidates are triaged in parallel, paced by ArmBudget so a fleet of thousands stays inside ARM's
write bucket (POST actions count as writes) instead of running into 429s.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from ansible_collections.vmrepair.azure.plugins.module_utils._arm_budget import ArmBudget
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import AzureClients, as_json
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import VmrepairError, translate_azure_error
from ansible_collections.vmrepair.azure.plugins.module_utils._boot_diagnostics import summarize_vm, triage_vm
from ansible_collections.vmrepair.azure.plugins.module_utils._triage_verdict import next_steps

try:
    import requests
    from requests.adapters import HTTPAdapter
except ImportError:  # reported by the caller through missing_required_lib
    requests = None
    HTTPAdapter = None

DEFAULT_POWER_STATES = ("running",)


@dataclass
class FleetFilter:
    """Which VMs of a subscription are triaged. Tags: every one must match; a None value matches any."""

    resource_groups: list[str] = field(default_factory=list)
    tags: dict[str, str | None] = field(default_factory=dict)
    exclude_tags: dict[str, str | None] = field(default_factory=dict)
    power_states: tuple[str, ...] = DEFAULT_POWER_STATES

    def _tag_match(self, vm_tags: dict[str, str], wanted: dict[str, str | None]) -> list[bool]:
        lowered = {str(k).lower(): str(v) for k, v in (vm_tags or {}).items()}
        return [str(k).lower() in lowered and (v is None or lowered[str(k).lower()] == str(v))
                for k, v in wanted.items()]

    def why_skipped(self, summary: dict[str, Any], vm_tags: dict[str, str]) -> str | None:
        """None when the VM is a candidate, else why not (for the counts)."""
        if (summary.get("os_type") or "").lower() != "windows":
            return "not_windows"
        if self.resource_groups and (summary.get("resource_group") or "").lower() not in \
                {g.lower() for g in self.resource_groups}:
            return "resource_group"
        if self.tags and not all(self._tag_match(vm_tags, self.tags)):
            return "tags"
        if self.exclude_tags and any(self._tag_match(vm_tags, self.exclude_tags)):
            return "exclude_tags"
        if self.power_states and summary.get("power_state") not in self.power_states:
            return "power_state"
        return None


def list_vms(clients: AzureClients, fleet_filter: FleetFilter, budget: ArmBudget) -> list[dict[str, Any]]:
    """REST JSON of the VMs, each with its instance view statuses (power state)."""
    vms = clients.compute.virtual_machines
    try:
        if fleet_filter.resource_groups:
            pages = [vms.list(group, expand="instanceView", raw_response_hook=budget.hook)
                     for group in fleet_filter.resource_groups]
        else:
            pages = [vms.list_all(status_only="true", raw_response_hook=budget.hook)]
        return [as_json(vm) for pager in pages for vm in pager]
    except Exception as exc:  # pylint: disable=broad-except  # translated
        raise translate_azure_error(exc, action=f"list the virtual machines of subscription "
                                                f"'{clients.subscription_id}'", secrets=clients.secrets) from None


def _failed(vm: dict[str, Any], error: VmrepairError) -> dict[str, Any]:
    summary = summarize_vm(vm, None)
    summary.update({"stop_code": None, "stop_code_reason": error.message, "machine_info": {}, "screen": None,
                    "triage_status": "unknown", "error": error.message,
                    "evidence": {"serial_log": {"available": False, "reason": error.message},
                                 "screenshot": {"available": False, "reason": error.message}}})
    summary["next_steps"] = [f"Triage could not read this VM: {error.message}"] + next_steps(summary)[-1:]
    return summary


def _session(workers: int) -> Any:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(workers, 10))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def triage_fleet(
    clients: AzureClients,
    fleet_filter: FleetFilter,
    budget: ArmBudget,
    workers: int = 16,
    ocr: str = "auto",
    sas_expiry_minutes: int = 10,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """{'vms': [triage summaries of the candidates], 'listed': n, 'skipped': {why: n}, 'seconds': s}."""
    started = time.monotonic()
    listed = list_vms(clients, fleet_filter, budget)
    candidates: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    for vm in listed:
        why = fleet_filter.why_skipped(summarize_vm(vm, None), vm.get("tags") or {})
        if why is None:
            candidates.append(vm)
        else:
            skipped[why] = skipped.get(why, 0) + 1
    if progress:
        progress(f"subscription {clients.subscription_id}: {len(listed)} VMs listed, {len(candidates)} to triage")
    session = _session(workers)

    def one(numbered: tuple[int, dict[str, Any]]) -> dict[str, Any]:
        index, vm = numbered
        try:
            summary = triage_vm(clients, vm, None, sas_expiry_minutes=sas_expiry_minutes, ocr=ocr, session=session,
                                trust_ems_silence=True, raw_response_hook=budget.hook,
                                before_request=lambda: budget.acquire("writes", pending=len(candidates) - index)).summary
        except VmrepairError as error:
            summary = _failed(vm, error)
        summary["tags"] = vm.get("tags") or {}
        return summary

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(one, enumerate(candidates)))
    finally:
        session.close()
    return {"vms": results, "listed": len(listed), "skipped": skipped,
            "seconds": round(time.monotonic() - started, 3)}
