"""The poll-delay header of long-running operations, at real and at scaled latency."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from vmrepair_emulator.arm.lro import LatencyProfile, LroManager


@pytest.fixture()
def manager():
    world = SimpleNamespace(knobs=SimpleNamespace(latency_scale=1.0), lock=threading.RLock(), subscription_id="sub")
    lro = LroManager(world, LatencyProfile())
    yield world, lro
    lro.stop()


def test_real_scale_sends_whole_seconds_like_arm(manager) -> None:
    world, lro = manager
    vm_create = lro.start("compute", "/subscriptions/sub/x", "vm_create_windows", None, "westeurope")
    snapshot = lro.start("disk", "/subscriptions/sub/y", "snapshot_create_full", None, "westeurope")
    assert lro.retry_after_headers(vm_create) == {"Retry-After": "10"}
    # 1.37 s left on a 2 s Disk RP poll interval: still a whole second, never 0.
    assert lro.retry_after_headers(snapshot) == {"Retry-After": "2"}


def test_scaled_latency_scales_the_poll_delay_too(manager) -> None:
    world, lro = manager
    world.knobs.latency_scale = 0.1
    vm_create = lro.start("compute", "/subscriptions/sub/x", "vm_create_windows", None, "westeurope")
    snapshot = lro.start("disk", "/subscriptions/sub/y", "snapshot_create_full", None, "westeurope")
    headers = lro.retry_after_headers(vm_create)
    assert "Retry-After" not in headers
    assert headers["retry-after-ms"] == "1000"  # compute's 10 s x 0.1
    # Disk RP's 2 s x 0.1 = 200 ms, capped by the 137 ms the snapshot has left.
    assert 100 <= int(lro.retry_after_headers(snapshot)["retry-after-ms"]) <= 137


def test_a_finished_operation_never_asks_for_a_zero_delay(manager) -> None:
    world, lro = manager
    world.knobs.latency_scale = 0.001
    op = lro.start("network", "/subscriptions/sub/z", "nic_create", None, "westeurope")
    time.sleep(0.01)
    assert int(lro.retry_after_headers(op)["retry-after-ms"]) >= 10


def test_a_rescheduled_operation_completes_without_being_polled(manager) -> None:
    world, lro = manager
    done = []
    op = lro.start("compute", "/subscriptions/sub/x", None, lambda: done.append(1), "westeurope", duration_s=5400)
    lro.reschedule(op, 0.2)
    time.sleep(0.6)
    assert op.done and done == [1]
    # Shortening never completes early: rescheduled to later, the earlier heap entry is ignored.
    later = lro.start("compute", "/subscriptions/sub/y", None, None, "westeurope", duration_s=0.1)
    lro.reschedule(later, 5.0)
    time.sleep(0.4)
    assert not later.done
