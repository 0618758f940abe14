"""Read throttling as Azure does it, through the real SDK: ARM's buckets (a POST action spends a write),
Compute RP's per-VM and per-subscription buckets with their x-ms-ratelimit-remaining-resource header
and OperationNotAllowed/TooManyRequests refusal; the throttle_limits knob; 429s in the request log."""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient

from vmrepair_emulator.arm.throttling import compute_policies, normalize_limits
from vmrepair_emulator.scenario import load_scenario
from vmrepair_emulator.testing import EmulatorProcess

RG = "mixed-prod-rg"


@pytest.fixture
def mixed(emulator: Callable[..., EmulatorProcess]) -> Iterator[EmulatorProcess]:
    process = emulator("fleet-mixed")
    control = process.control()
    before = control.knobs()
    control.set_knobs(throttle_limits=None)  # every bucket full at the documented sizes
    yield process
    control.set_knobs(**before)


def _compute(process: EmulatorProcess) -> ComputeManagementClient:
    return process.mgmt_client(ComputeManagementClient, retry_total=0)  # see every 429, no SDK retry


# VMs of RG with boot diagnostics, from the scenario itself (a list call would spend HighCostGet tokens).
NAMES = sorted(vm["name"] for vm in load_scenario("fleet-mixed").virtual_machines
               if vm["resource_group"] == RG and vm["boot_diagnostics"] != "disabled")


def _headers(pipeline_response: Any, _deserialized: Any, _headers: Any) -> dict[str, str]:
    return dict(pipeline_response.http_response.headers)


def _remaining(headers: dict[str, str]) -> dict[str, int]:
    """x-ms-ratelimit-remaining-resource as {bucket: count}."""
    pairs = (entry.rsplit(";", 1) for entry in headers["x-ms-ratelimit-remaining-resource"].split(","))
    return {name.removeprefix("Microsoft.Compute/"): int(count) for name, count in pairs}


def test_compute_header_counts_down_per_vm_and_per_subscription(mixed: EmulatorProcess) -> None:
    compute = _compute(mixed)
    first, second = NAMES[:2]
    a1 = _remaining(compute.virtual_machines.get(RG, first, cls=_headers))
    a2 = _remaining(compute.virtual_machines.get(RG, first, cls=_headers))
    b1 = _remaining(compute.virtual_machines.get(RG, second, cls=_headers))
    assert set(a1) == {"LowCostGetSubscriptionMaximum", "LowCostGetResource"}
    assert a1["LowCostGetResource"] == 35 and a2["LowCostGetResource"] == 34  # 36 per VM (12/min)
    assert b1["LowCostGetResource"] == 35  # another VM, its own bucket
    # 24,000 per subscription, refilled at 8,000/min (133 a second): a few GETs barely dent it.
    assert a1["LowCostGetSubscriptionMaximum"] == 23999
    assert 23990 <= b1["LowCostGetSubscriptionMaximum"] <= 23999
    view = _remaining(compute.virtual_machines.instance_view(RG, first, cls=_headers))
    assert view["LowCostGetResource"] == 33  # instanceView is LowCostGet too
    boot = compute.virtual_machines.retrieve_boot_diagnostics_data(RG, second, cls=_headers)
    assert _remaining(boot)["LowCostGetResource"] == 34  # and retrieveBootDiagnosticsData
    assert int(boot["x-ms-ratelimit-remaining-subscription-writes"]) < 200  # while ARM counts the POST as a write
    assert _remaining(_list_headers(compute)) == {"HighCostGetSubscriptionMaximum": 899}  # 900 (300/min), no per-VM

    # With a slow subscription bucket, every VM's GET takes from the same subscription count.
    limits = {"compute": {"LowCostGet": {"subscription": {"bucket": 100, "refill_per_min": 1}}}}
    mixed.control().set_knobs(throttle_limits=limits)
    counts = [_remaining(compute.virtual_machines.get(RG, name, cls=_headers)) for name in NAMES[:3]]
    assert [c["LowCostGetSubscriptionMaximum"] for c in counts] == [99, 98, 97]
    assert [c["LowCostGetResource"] for c in counts] == [35, 35, 35]


def _list_headers(compute: ComputeManagementClient) -> dict[str, str]:
    seen: dict[str, str] = {}

    def keep(response: Any) -> None:
        seen.update(response.http_response.headers)

    list(compute.virtual_machines.list_all(raw_response_hook=keep))
    return seen


def test_burst_of_boot_diagnostics_posts_empties_the_writes_bucket(mixed: EmulatorProcess) -> None:
    control = mixed.control()
    control.set_knobs(arm_throttling=True, throttle_limits={"arm": {"writes": {"bucket": 5, "refill_per_s": 0.1}}})
    compute = _compute(mixed)
    names = NAMES[:8]
    mark = control.mark()
    outcomes: list[Any] = []
    for name in names:
        try:
            outcomes.append(compute.virtual_machines.retrieve_boot_diagnostics_data(RG, name, cls=_headers))
        except HttpResponseError as exc:
            outcomes.append(exc)
    accepted = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, HttpResponseError)]
    assert len(accepted) == 5 and len(refused) == 3
    assert [int(h["x-ms-ratelimit-remaining-subscription-writes"]) for h in accepted] == [4, 3, 2, 1, 0]
    for exc in refused:
        assert exc.status_code == 429 and exc.error.code == "SubscriptionRequestsThrottled"
        assert int(exc.response.headers["Retry-After"]) >= 1
    assert compute.virtual_machines.get(RG, names[0]).name == names[0]  # reads keep working
    records = [r for r in control.requests("arm", mark)
               if r["operation"] == "VirtualMachines_RetrieveBootDiagnosticsData"]
    throttled = [r for r in records if r["status"] == 429]
    assert len(throttled) == 3
    assert {(r["error_code"], r["throttled"]) for r in throttled} == {("SubscriptionRequestsThrottled",
                                                                      "subscription-writes")}


def test_compute_refuses_a_vm_past_its_low_cost_get_bucket(mixed: EmulatorProcess) -> None:
    control = mixed.control()
    control.set_knobs(arm_throttling=True,
                      throttle_limits={"compute": {"LowCostGet": {"resource": {"bucket": 3, "refill_per_min": 1}}}})
    compute = _compute(mixed)
    busy, other = NAMES[:2]
    mark = control.mark()
    counts = [_remaining(compute.virtual_machines.get(RG, busy, cls=_headers))["LowCostGetResource"] for _attempt in range(3)]
    assert counts == [2, 1, 0]
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.retrieve_boot_diagnostics_data(RG, busy)
    error = info.value
    assert error.status_code == 429 and error.error.code == "OperationNotAllowed"
    assert error.error.message == ("The server rejected the request because too many requests have been received "
                                   "for this subscription.")
    [detail] = error.error.details
    assert (detail.code, detail.target) == ("TooManyRequests", "LowCostGetResource")
    facts = json.loads(detail.message)
    assert facts["operationGroup"] == "LowCostGetResource"
    assert (facts["allowedRequestCount"], facts["measuredRequestCount"]) == (3, 4)
    assert facts["startTime"] < facts["endTime"]
    assert 1 <= int(error.response.headers["Retry-After"]) <= 60  # one token per minute
    assert _remaining(dict(error.response.headers))["LowCostGetResource"] == 0
    assert compute.virtual_machines.get(RG, other).name == other  # the other VM has its own bucket
    refused = [r for r in control.requests("arm", mark) if r["status"] == 429]
    assert [(r["operation"], r["error_code"], r["throttled"]) for r in refused] == [
        ("VirtualMachines_RetrieveBootDiagnosticsData", "OperationNotAllowed", "Microsoft.Compute/LowCostGetResource")]


def test_vm_lists_spend_the_subscriptions_high_cost_get_bucket(mixed: EmulatorProcess) -> None:
    control = mixed.control()
    control.set_knobs(arm_throttling=True, vm_list_page_size=25,
                      throttle_limits={"compute": {"HighCostGet": {"subscription": {"bucket": 2,
                                                                                    "refill_per_s": 0.01}}}})
    compute = _compute(mixed)
    assert len(list(compute.virtual_machines.list_all())) == 40  # two pages: two tokens
    with pytest.raises(HttpResponseError) as info:
        list(compute.virtual_machines.list(RG))
    assert info.value.status_code == 429
    assert info.value.error.details[0].target == "HighCostGetSubscriptionMaximum"
    assert compute.virtual_machines.get(RG, NAMES[0]).name == NAMES[0]  # a single GET is LowCostGet


def test_without_enforcement_buckets_run_dry_but_nothing_is_refused(mixed: EmulatorProcess) -> None:
    control = mixed.control()
    control.set_knobs(arm_throttling=False,
                      throttle_limits={"compute": {"LowCostGet": {"resource": {"bucket": 2, "refill_per_min": 1}}}})
    compute = _compute(mixed)
    name = NAMES[0]
    counts = [_remaining(compute.virtual_machines.get(RG, name, cls=_headers))["LowCostGetResource"] for _attempt in range(4)]
    assert counts == [1, 0, 0, 0]


def test_defaults_are_the_documented_limits() -> None:
    def per_minute(limit: Any) -> tuple[float, float]:
        return limit.size, pytest.approx(limit.refill_per_s * 60)

    policies = compute_policies()
    assert per_minute(policies["LowCostGet"]["resource"]) == (36, 12)  # compute-throttling-limits
    assert per_minute(policies["LowCostGet"]["subscription"]) == (24000, 8000)
    assert policies["HighCostGet"]["resource"] is None
    assert per_minute(policies["HighCostGet"]["subscription"]) == (900, 300)
    assert normalize_limits(None) is None


@pytest.mark.parametrize("knobs, message", [
    ({"throttle_limits": "small"}, "throttle_limits must be a mapping"),
    ({"throttle_limits": {"storage": {}}}, "unknown key 'storage'"),
    ({"throttle_limits": {"arm": {"lists": {"bucket": 3}}}}, "unknown kind 'lists'"),
    ({"throttle_limits": {"arm": {"writes": {"bucket": 0}}}}, "arm.writes.bucket must be a whole number >= 1"),
    ({"throttle_limits": {"arm": {"writes": {"bucket": 2.5}}}}, "arm.writes.bucket must be a whole number >= 1"),
    ({"throttle_limits": {"arm": {"writes": {"refill_per_s": -1}}}}, "arm.writes.refill_per_s must be > 0"),
    ({"throttle_limits": {"arm": {"writes": {"size": 5}}}}, "unknown key 'size'"),
    ({"throttle_limits": {"compute": {"CheapGet": {"resource": {"bucket": 1}}}}}, "unknown policy 'CheapGet'"),
    ({"throttle_limits": {"compute": {"HighCostGet": {"resource": {"bucket": 1}}}}}, "has no per-VM bucket"),
    ({"throttle_limits": {"compute": {"LowCostGet": {"resource": {"refill_per_s": 1, "refill_per_min": 60}}}}},
     "not both"),
    ({"vm_list_page_size": 0}, "vm_list_page_size must be an integer"),
    ({"vm_list_page_size": "100"}, "vm_list_page_size must be an integer"),
    ({"bootdiag_sas_expiry_s": "soon"}, "bootdiag_sas_expiry_s must be null or a number"),
])
def test_knob_validation_refuses_bad_values_all_or_nothing(mixed: EmulatorProcess, knobs: dict[str, Any],
                                                           message: str) -> None:
    control = mixed.control()
    before = control.knobs()
    with pytest.raises(ValueError, match=message):
        control.set_knobs(latency_scale=0.5, **knobs)  # a good knob beside the bad one is not applied either
    assert control.knobs() == before
