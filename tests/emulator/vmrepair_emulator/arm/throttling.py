"""ARM request budgets: token buckets per (subscription, principal, kind) plus a subscription-wide one.

Sizes and refill rates are the ones Azure documents (azure-latency-profile.yaml, throttling.arm).
Remaining counts always go out in x-ms-ratelimit-remaining-* headers; requests are refused with
429 only when the `arm_throttling` knob is on.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable

LIMITS = {  # kind: (bucket size, refill per second)
    "reads": (250, 25.0),
    "writes": (200, 10.0),
    "deletes": (200, 10.0),
}
GLOBAL_FACTOR = 15  # the subscription-wide bucket is 15x the per-principal one


class _Bucket:
    def __init__(self, size: float, rate: float) -> None:
        self.size, self.rate = size, rate
        self.tokens = size
        self.stamp = time.monotonic()

    def refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


class ArmThrottle:
    def __init__(self, enforced: Callable[[], bool]) -> None:
        self._enforced = enforced
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: tuple[str, str, str], factor: int) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            size, rate = LIMITS[key[2]]
            bucket = self._buckets[key] = _Bucket(size * factor, rate * factor)
        bucket.refill()
        return bucket

    def take(self, subscription: str, principal: str, kind: str) -> tuple[int, int, bool]:
        """Spend one token; returns (remaining for the principal, remaining subscription-wide, allowed)."""
        with self._lock:
            mine = self._bucket((subscription.lower(), principal, kind), 1)
            everyone = self._bucket((subscription.lower(), "*", kind), GLOBAL_FACTOR)
            allowed = mine.tokens >= 1 and everyone.tokens >= 1
            if allowed or not self._enforced():
                mine.tokens = max(mine.tokens - 1, 0)
                everyone.tokens = max(everyone.tokens - 1, 0)
                allowed = True
            return int(mine.tokens), int(everyone.tokens), allowed

    def retry_after(self, kind: str) -> int:
        return max(1, math.ceil(1 / LIMITS[kind][1]))
