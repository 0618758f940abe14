"""Request budgets as token buckets: ARM's own, and the Compute resource provider's per operation group.

ARM (azure-latency-profile.yaml, throttling.arm): a bucket per (subscription, principal, kind of
request) plus a subscription-wide one 15 times as large; GET/HEAD are reads, DELETE deletes,
everything else writes (POST actions too). Remaining counts go out in
x-ms-ratelimit-remaining-subscription-{kind} and -global-{kind}.

Compute RP (throttling.compute.policies, learn.microsoft.com "compute-throttling-limits"): each
operation group ("policy": LowCostGet, HighCostGet, PutVM, ...) has a bucket per VM (most of them)
and one per subscription; what is left goes out on every answer of those operations as
`x-ms-ratelimit-remaining-resource:
Microsoft.Compute/<Policy>SubscriptionMaximum;N,Microsoft.Compute/<Policy>Resource;M` (the names
Azure sends since 2025). Both kinds of bucket refuse with 429 only when the
`arm_throttling` knob is on; the `throttle_limits` knob overrides sizes and refill rates.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import yaml

PROFILE = Path(__file__).resolve().parent.parent / "data" / "azure-latency-profile.yaml"

# ARM's documented budgets: kind -> (bucket size, refill per second).
LIMITS = {
    "reads": (250, 25.0),
    "writes": (200, 10.0),
    "deletes": (200, 10.0),
}
GLOBAL_FACTOR = 15  # the subscription-wide bucket is 15x the per-principal one

# The profile's policy keys and the names Compute RP gives them in its headers.
COMPUTE_POLICY_NAMES = {
    "put_vm": "PutVM",
    "update_vm": "UpdateVM",
    "delete_vm": "DeleteVM",
    "low_cost_get": "LowCostGet",
    "high_cost_get": "HighCostGet",
    "get_operation": "GetOperation",
}
# Which policy each Compute operation the emulator serves is counted against (the profile's
# `operations` notes). Operations not listed (disks, snapshots, SKUs, sizes) carry no Compute header.
COMPUTE_OPERATIONS = {
    "VirtualMachines_CreateOrUpdate": "PutVM",
    "VirtualMachines_Update": "PutVM",
    "VirtualMachines_Start": "UpdateVM",
    "VirtualMachines_PowerOff": "UpdateVM",
    "VirtualMachines_Restart": "UpdateVM",
    "VirtualMachines_RunCommand": "UpdateVM",
    "VirtualMachines_Delete": "DeleteVM",
    "VirtualMachines_Deallocate": "DeleteVM",
    "VirtualMachines_Get": "LowCostGet",
    "VirtualMachines_InstanceView": "LowCostGet",
    "VirtualMachines_RetrieveBootDiagnosticsData": "LowCostGet",
    "VirtualMachines_List": "HighCostGet",
    "VirtualMachines_ListAll": "HighCostGet",
    "VirtualMachines_GetOperationStatus": "GetOperation",
    "VirtualMachines_GetOperationResult": "GetOperation",
}
COMPUTE_SCOPES = ("resource", "subscription")  # a bucket per VM (or operation), one per subscription
THROTTLED_MESSAGE = ("The server rejected the request because too many requests have been received for this "
                     "subscription.")


@dataclass(frozen=True)
class BucketLimit:
    size: float
    refill_per_s: float


@lru_cache(maxsize=1)
def compute_policies() -> dict[str, dict[str, BucketLimit | None]]:
    """{policy: {"resource": limit or None, "subscription": limit}} from the packaged profile."""
    with open(PROFILE, encoding="utf-8") as handle:
        policies = yaml.safe_load(handle)["throttling"]["compute"]["policies"]
    result: dict[str, dict[str, BucketLimit | None]] = {}
    for key, name in COMPUTE_POLICY_NAMES.items():
        entry = policies[key]
        result[name] = {scope: (BucketLimit(float(limit["max"]), limit["refill_per_min"] / 60.0) if limit else None)
                        for scope, limit in (("resource", entry.get("per_vm")),
                                             ("subscription", entry["per_subscription"]))}
    return result


# ---- the throttle_limits knob -------------------------------------------------------------------


def _bucket_override(where: str, value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"throttle_limits.{where} must be a mapping with bucket and/or refill_per_s "
                         "(or refill_per_min)")
    unknown = sorted(set(value) - {"bucket", "refill_per_s", "refill_per_min"})
    if unknown:
        raise ValueError(f"throttle_limits.{where}: unknown key {unknown[0]!r} (known: bucket, refill_per_s, "
                         "refill_per_min)")
    if "refill_per_s" in value and "refill_per_min" in value:
        raise ValueError(f"throttle_limits.{where}: give refill_per_s or refill_per_min, not both")
    out: dict[str, float] = {}
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise ValueError(f"throttle_limits.{where}.{key} must be a number, got {number!r}")
        if key == "bucket" and (number < 1 or number != int(number)):
            raise ValueError(f"throttle_limits.{where}.bucket must be a whole number >= 1, got {number!r}")
        if key != "bucket" and number <= 0:
            raise ValueError(f"throttle_limits.{where}.{key} must be > 0, got {number!r}")
        out[key] = number
    return out


def normalize_limits(value: Any) -> dict[str, Any] | None:
    """Validate a throttle_limits knob value (ValueError names the bad part); None = the documented limits.

    {"arm": {"reads"|"writes"|"deletes": {bucket, refill_per_s}},
     "compute": {"LowCostGet"|...: {"resource"|"subscription": {bucket, refill_per_s | refill_per_min}}}}
    Anything not given keeps its documented value.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("throttle_limits must be a mapping (or null for the documented limits)")
    unknown = sorted(set(value) - {"arm", "compute"})
    if unknown:
        raise ValueError(f"throttle_limits: unknown key {unknown[0]!r} (known: arm, compute)")
    out: dict[str, Any] = {}
    if "arm" in value:
        arm = value["arm"]
        if not isinstance(arm, dict):
            raise ValueError("throttle_limits.arm must be a mapping of reads/writes/deletes")
        bad = sorted(set(arm) - set(LIMITS))
        if bad:
            raise ValueError(f"throttle_limits.arm: unknown kind {bad[0]!r} (known: {', '.join(LIMITS)})")
        out["arm"] = {kind: _bucket_override(f"arm.{kind}", spec) for kind, spec in arm.items()}
    if "compute" in value:
        compute = value["compute"]
        if not isinstance(compute, dict):
            raise ValueError("throttle_limits.compute must be a mapping of policy names")
        policies = compute_policies()
        out["compute"] = {}
        for policy, scopes in compute.items():
            if policy not in policies:
                raise ValueError(f"throttle_limits.compute: unknown policy {policy!r} (known: {', '.join(policies)})")
            if not isinstance(scopes, dict) or not scopes:
                raise ValueError(f"throttle_limits.compute.{policy} must be a mapping of resource/subscription")
            bad = sorted(set(scopes) - set(COMPUTE_SCOPES))
            if bad:
                raise ValueError(f"throttle_limits.compute.{policy}: unknown scope {bad[0]!r} (known: resource, "
                                 "subscription)")
            if "resource" in scopes and policies[policy]["resource"] is None:
                raise ValueError(f"throttle_limits.compute.{policy}.resource: {policy} has no per-VM bucket")
            out["compute"][policy] = {scope: _bucket_override(f"compute.{policy}.{scope}", spec)
                                      for scope, spec in scopes.items()}
    return out


def _apply(limit: BucketLimit, override: dict[str, float] | None) -> BucketLimit:
    if not override:
        return limit
    rate = override.get("refill_per_s", override["refill_per_min"] / 60.0 if "refill_per_min" in override
                        else limit.refill_per_s)
    return BucketLimit(float(override.get("bucket", limit.size)), float(rate))


# ---- buckets ---------------------------------------------------------------------------------------


class _Bucket:
    def __init__(self, limit: BucketLimit) -> None:
        self.size, self.rate = limit.size, limit.refill_per_s
        self.tokens = limit.size
        self.stamp = time.monotonic()
        self.refused = 0  # refusals since it last had a token (the "measured" excess of Compute's error)

    def refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def seconds_to_token(self) -> float:
        return max(0.0, (1 - self.tokens) / self.rate)


@dataclass
class ComputeVerdict:
    """What Compute RP answers about one request: its header, and the refusal if it refuses."""

    header: str  # x-ms-ratelimit-remaining-resource
    refused_by: str | None = None  # bucket name, e.g. "LowCostGetResource"
    retry_after: int = 0
    allowed: int = 0
    measured: int = 0
    window_s: float = 0.0

    def error_details(self) -> list[dict[str, Any]]:
        """Compute RP's details entry (learn.microsoft.com, "Troubleshooting API throttling errors")."""
        end = datetime.now(timezone.utc)
        start = end - timedelta(seconds=self.window_s)

        def stamp(moment: datetime) -> str:
            return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"

        message = (f'{{"operationGroup":"{self.refused_by}","startTime":"{stamp(start)}","endTime":"{stamp(end)}",'
                   f'"allowedRequestCount":{self.allowed},"measuredRequestCount":{self.measured}}}')
        return [{"code": "TooManyRequests", "target": self.refused_by, "message": message}]


class ArmThrottle:
    """Every bucket of one emulator run. `enforced()` is the arm_throttling knob; `limits()` returns
    (generation, throttle_limits knob value): a new generation refills every bucket at the new sizes."""

    def __init__(self, enforced: Callable[[], bool],
                 limits: Callable[[], tuple[int, dict[str, Any] | None]] | None = None) -> None:
        self._enforced = enforced
        self._limits = limits or (lambda: (0, None))
        self._generation: int | None = None
        self._arm: dict[str, BucketLimit] = {}
        self._compute: dict[str, dict[str, BucketLimit | None]] = {}
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._lock = threading.Lock()

    def _sync(self) -> None:
        generation, overrides = self._limits()
        if generation == self._generation:
            return
        overrides = overrides or {}
        arm = overrides.get("arm") or {}
        self._arm = {kind: _apply(BucketLimit(float(size), rate), arm.get(kind))
                     for kind, (size, rate) in LIMITS.items()}
        compute = overrides.get("compute") or {}
        self._compute = {
            policy: {scope: (_apply(limit, (compute.get(policy) or {}).get(scope)) if limit else None)
                     for scope, limit in scopes.items()}
            for policy, scopes in compute_policies().items()}
        self._buckets.clear()
        self._generation = generation

    def _bucket(self, key: tuple[str, ...], limit: BucketLimit) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(limit)
        bucket.refill()
        return bucket

    # -- ARM ---------------------------------------------------------------------------------------

    def _arm_buckets(self, subscription: str, principal: str, kind: str) -> tuple[_Bucket, _Bucket]:
        limit = self._arm[kind]
        everyone = BucketLimit(limit.size * GLOBAL_FACTOR, limit.refill_per_s * GLOBAL_FACTOR)
        return (self._bucket(("arm", subscription.lower(), principal, kind), limit),
                self._bucket(("arm", subscription.lower(), "*", kind), everyone))

    def take(self, subscription: str, principal: str, kind: str) -> tuple[int, int, bool]:
        """Spend one token; returns (remaining for the principal, remaining subscription-wide, allowed)."""
        with self._lock:
            self._sync()
            mine, everyone = self._arm_buckets(subscription, principal, kind)
            allowed = mine.tokens >= 1 and everyone.tokens >= 1
            if allowed or not self._enforced():
                mine.tokens = max(mine.tokens - 1, 0)
                everyone.tokens = max(everyone.tokens - 1, 0)
                allowed = True
            return int(mine.tokens), int(everyone.tokens), allowed

    def retry_after(self, kind: str, subscription: str | None = None, principal: str | None = None) -> int:
        """Whole seconds until the bucket(s) of this principal hold a token again (at least 1)."""
        with self._lock:
            self._sync()
            if subscription is None or principal is None:
                return max(1, math.ceil(1 / self._arm[kind].refill_per_s))
            wait = max(b.seconds_to_token() for b in self._arm_buckets(subscription, principal, kind))
            return max(1, math.ceil(wait))

    # -- Compute RP ----------------------------------------------------------------------------------

    def take_compute(self, operation: str, subscription: str, resource_key: str | None) -> ComputeVerdict | None:
        """Spend a token of the operation's policy (per VM and per subscription); None if Compute does not
        count this operation. A refusal (only when enforced) spends nothing."""
        policy = COMPUTE_OPERATIONS.get(operation)
        if policy is None:
            return None
        with self._lock:
            self._sync()
            limits = self._compute[policy]
            named: list[tuple[str, _Bucket]] = []
            subscription_limit = limits["subscription"]
            assert subscription_limit is not None
            named.append((f"{policy}SubscriptionMaximum",
                          self._bucket(("compute", policy, subscription.lower()), subscription_limit)))
            if limits["resource"] is not None and resource_key:
                named.append((f"{policy}Resource",
                              self._bucket(("compute", policy, subscription.lower(), resource_key.lower()),
                                           limits["resource"])))
            empty = [(name, bucket) for name, bucket in named if bucket.tokens < 1]
            verdict = ComputeVerdict(header="")
            if empty and self._enforced():
                # The bucket that stays empty longest answers (Compute names the policy that refused); nothing is spent.
                name, bucket = max(empty, key=lambda item: item[1].seconds_to_token())
                bucket.refused += 1
                verdict.refused_by = name
                verdict.retry_after = max(1, math.ceil(bucket.seconds_to_token()))
                verdict.allowed = int(bucket.size)
                verdict.measured = int(bucket.size) + bucket.refused
                verdict.window_s = bucket.size / bucket.rate
            else:
                for _name, bucket in named:
                    bucket.tokens = max(bucket.tokens - 1, 0)
                    bucket.refused = 0
            verdict.header = ",".join(f"Microsoft.Compute/{name};{int(bucket.tokens)}" for name, bucket in named)
            return verdict
