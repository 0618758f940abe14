"""Waiting for several operations against one deadline (real azure-core pollers)."""
from __future__ import annotations

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    AzureOperationError,
    WaitTimeoutError,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._waiters import (
    Deadline,
    Pending,
    provisioning_poller,
    provisioning_state,
    wait_all,
)


def states(*sequence: str):
    """A GET that answers the given provisioning states, then repeats the last one."""
    answers = [{"name": "r", "properties": {"provisioningState": s}} for s in sequence]

    def get():
        return answers.pop(0) if len(answers) > 1 else answers[0]
    return get


def poller_for(description: str, *sequence: str):
    get = states(*sequence)
    return Pending(description, provisioning_poller(get(), get, description, interval=0.01))


def test_deadline_counts_down_with_its_clock():
    now = [100.0]
    deadline = Deadline(30, clock=lambda: now[0])
    assert deadline.remaining() == 30
    now[0] = 120.0
    assert deadline.remaining() == 10 and not deadline.expired
    now[0] = 131.0
    assert deadline.remaining() == 0 and deadline.expired


def test_provisioning_state_of_json_and_models():
    assert provisioning_state({"properties": {"provisioningState": "Creating"}}) == "creating"
    assert provisioning_state({}) == ""


def test_wait_all_returns_results_in_order():
    results = wait_all([poller_for("create a", "Creating", "Succeeded"), poller_for("create b", "Succeeded")],
                       Deadline(10))
    assert [provisioning_state(r) for r in results] == ["succeeded", "succeeded"]


def test_timeout_names_everything_still_awaited():
    pending = [poller_for("create disk 'd'", "Creating"), poller_for("create nic 'n'", "Succeeded"),
               poller_for("create vm 'v'", "Updating")]
    with pytest.raises(WaitTimeoutError) as caught:
        wait_all(pending, Deadline(0.2))
    assert caught.value.details["waiting_for"] == ["create disk 'd'", "create vm 'v'"]
    assert "0.2 s" in caught.value.message and "create disk 'd'" in caught.value.message


def test_failure_is_reported_after_the_others_finish():
    pending = [poller_for("create disk 'd'", "Creating", "Failed"), poller_for("create nic 'n'", "Creating", "Succeeded")]
    with pytest.raises(AzureOperationError) as caught:
        wait_all(pending, Deadline(10))
    assert "create disk 'd'" in caught.value.message and "failed" in caught.value.message
    assert pending[1].poller.done()
