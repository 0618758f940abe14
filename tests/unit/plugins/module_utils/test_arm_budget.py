"""The client-side view of ARM's token buckets: pacing, corrections from headers, the slow-down message."""
from __future__ import annotations

from ansible_collections.vmrepair.azure.plugins.module_utils._arm_budget import ArmBudget, parse_resource_remaining


class FakeClock:
    """Time that moves only when the budget sleeps: the pacing is then exact and the test instant."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def budget(clock: FakeClock, messages: list[str] | None = None, reserve: int = 20) -> ArmBudget:
    return ArmBudget(reserve=reserve, clock=clock, sleep=clock.sleep,
                     on_slowdown=(messages.append if messages is not None else None))


def test_a_burst_within_the_bucket_does_not_wait():
    clock = FakeClock()
    arm = budget(clock)
    for _request in range(180):  # 200 tokens, 20 kept in reserve
        arm.acquire("writes")
    assert clock.slept == [] and arm.waits == 0
    arm.acquire("writes")
    assert clock.slept == [0.1]  # the 181st waits for one token of the refill (10 per second)


def test_beyond_the_bucket_requests_go_at_the_refill_rate_and_it_says_so_once():
    clock, messages = FakeClock(), []
    arm = budget(clock, messages)
    started = clock.now
    for _request in range(180 + 100):
        arm.acquire("writes", pending=100)
    # 100 requests past the burst at 10 per second.
    assert abs((clock.now - started) - 10.0) < 1e-6
    assert arm.waits == 100
    assert len(messages) == 1
    assert "writes budget" in messages[0] and "10 per second" in messages[0] and "about 10 s" in messages[0]


def test_the_servers_count_corrects_the_estimate_downwards_only():
    clock = FakeClock()
    arm = budget(clock)
    arm.observe("POST", 200, {"x-ms-ratelimit-remaining-subscription-writes": "25"})
    arm.acquire("writes")
    arm.acquire("writes")
    assert arm.waits == 0  # 25 -> 23, above the reserve of 20
    for _request in range(4):
        arm.acquire("writes")
    assert arm.waits == 1  # 5 went at once (25 down to the reserve), the 6th waited
    arm.observe("GET", 200, {"x-ms-ratelimit-remaining-subscription-reads": "249"})
    assert arm.lowest_remaining == {"writes": 25, "reads": 249}
    assert arm.requests == {"reads": 1, "writes": 1, "deletes": 0}


def test_429s_are_counted_and_resource_provider_buckets_recorded():
    arm = budget(FakeClock())
    arm.observe("POST", 429, {"x-ms-ratelimit-remaining-resource":
                              "Microsoft.Compute/LowCostGetSubscriptionMaximum;23999,Microsoft.Compute/LowCostGetResource;35"})
    arm.observe("POST", 200, {"x-ms-ratelimit-remaining-resource": "Microsoft.Compute/LowCostGetResource;34"})
    stats = arm.stats()
    assert stats["throttled"] == 1
    assert stats["lowest_resource_remaining"] == {"Microsoft.Compute/LowCostGetSubscriptionMaximum": 23999,
                                                  "Microsoft.Compute/LowCostGetResource": 34}


def test_malformed_resource_headers_are_skipped():
    assert parse_resource_remaining("garbage,Microsoft.Compute/X;;,Microsoft.Compute/Y;7") == {"Microsoft.Compute/Y": 7}
