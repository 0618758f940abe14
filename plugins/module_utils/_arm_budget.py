# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pace a burst of ARM requests so that it stays inside ARM's token buckets instead of hitting 429.

ARM throttles per subscription, security principal and kind of request with token buckets: reads
250 tokens refilled at 25 per second, writes and deletes 200 refilled at 10 per second
(learn.microsoft.com, "Understand how Azure Resource Manager throttles requests", 2024 limits). POST
actions count as writes, so a fleet triage's retrieveBootDiagnosticsData calls spend the write
bucket. Every ARM answer says what is left (x-ms-ratelimit-remaining-subscription-reads/-writes):
this keeps a local estimate, corrects it from those headers, and waits for the refill before a
request would empty the bucket, keeping a reserve for the other tools of the same principal. The
SDK's retry policy still handles a 429 (Retry-After) should one come anyway.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

LIMITS: dict[str, tuple[int, float]] = {"reads": (250, 25.0), "writes": (200, 10.0), "deletes": (200, 10.0)}
KIND_OF_METHOD = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}  # everything else: writes
REMAINING_HEADER = "x-ms-ratelimit-remaining-subscription-{kind}"
RESOURCE_HEADER = "x-ms-ratelimit-remaining-resource"  # the resource provider's own buckets


class ArmBudget:
    """A client-side view of one principal's ARM buckets in one subscription; thread-safe."""

    def __init__(
        self,
        reserve: int = 20,
        on_slowdown: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        limits: dict[str, tuple[int, float]] | None = None,
    ) -> None:
        self.limits = dict(limits or LIMITS)
        self.reserve = reserve
        self._on_slowdown = on_slowdown
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        now = clock()
        self._tokens = {kind: float(size) for kind, (size, _rate) in self.limits.items()}
        self._stamp = {kind: now for kind in self.limits}
        self.requests = {kind: 0 for kind in self.limits}
        self.throttled = 0  # 429 answers seen (the SDK retried them)
        self.waits = 0
        self.waited_seconds = 0.0
        self.lowest_remaining: dict[str, int] = {}
        self.lowest_resource_remaining: dict[str, int] = {}
        self._announced = False

    def _refill(self, kind: str, now: float) -> None:
        size, rate = self.limits[kind]
        self._tokens[kind] = min(float(size), self._tokens[kind] + (now - self._stamp[kind]) * rate)
        self._stamp[kind] = now

    def acquire(self, kind: str, pending: int | None = None) -> float:
        """Take one token of `kind`, first waiting for the refill if the bucket is down to the reserve.
        Returns the seconds waited. `pending` (requests still to send) goes into the slow-down message."""
        with self._lock:  # held while waiting: waiters leave one by one, spaced at the refill rate
            now = self._clock()
            self._refill(kind, now)
            _size, rate = self.limits[kind]
            waited = 0.0
            short = self.reserve + 1 - self._tokens[kind]
            if short > 0:
                waited = short / rate
                if not self._announced and self._on_slowdown is not None:
                    self._announced = True
                    left = f"; {pending} requests to go, about {pending / rate:.0f} s" if pending else ""
                    self._on_slowdown(
                        f"ARM's {kind} budget for this principal is down to {int(self._tokens[kind])} requests: slowing "
                        f"to its refill rate of {rate:g} per second to avoid throttling{left}")
                self._sleep(waited)
                self.waits += 1
                self.waited_seconds += waited
                now = self._clock()
                self._refill(kind, now)
            self._tokens[kind] -= 1
            return waited

    def observe(self, method: str, status: int, headers: Any) -> None:
        """Correct the estimate from an ARM answer's headers; count requests and 429s."""
        kind = KIND_OF_METHOD.get(method.upper(), "writes")
        with self._lock:
            if kind in self.requests:
                self.requests[kind] += 1
            if status == 429:
                self.throttled += 1
            raw = headers.get(REMAINING_HEADER.format(kind=kind))
            if raw is not None and kind in self._tokens:
                try:
                    remaining = int(raw)
                except ValueError:
                    remaining = None
                if remaining is not None:
                    self._refill(kind, self._clock())
                    # The server's count is the truth; requests of ours still in flight are already taken.
                    self._tokens[kind] = min(self._tokens[kind], float(remaining))
                    self.lowest_remaining[kind] = min(self.lowest_remaining.get(kind, remaining), remaining)
            for name, count in parse_resource_remaining(headers.get(RESOURCE_HEADER) or "").items():
                self.lowest_resource_remaining[name] = min(self.lowest_resource_remaining.get(name, count), count)

    def hook(self, pipeline_response: Any) -> None:
        """azure-core `raw_response_hook`: called for every answer, retried attempts included."""
        request, response = pipeline_response.http_request, pipeline_response.http_response
        self.observe(request.method, response.status_code, response.headers)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "throttled": self.throttled,
                "waits": self.waits,
                "waited_seconds": round(self.waited_seconds, 3),
                "lowest_remaining": dict(self.lowest_remaining),
                "lowest_resource_remaining": dict(self.lowest_resource_remaining),
            }


def parse_resource_remaining(value: str) -> dict[str, int]:
    """'Microsoft.Compute/LowCostGetSubscriptionMaximum;23999,Microsoft.Compute/LowCostGetResource;35'
    -> {'Microsoft.Compute/LowCostGetSubscriptionMaximum': 23999, ...}; malformed entries are skipped."""
    result: dict[str, int] = {}
    for entry in value.split(","):
        name, _sep, count = entry.strip().rpartition(";")
        if name and count.strip().isdigit():
            result[name] = int(count)
    return result
