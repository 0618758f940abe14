# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for Azure long-running operations: together, against one deadline.

The SDK's `begin_*` calls return pollers that poll in their own threads (honouring
Retry-After), so operations started one after the other run at the same time; `wait_all`
then waits for all of them against a shared deadline and names what it was waiting for when
the deadline passes. A resource found half-created by an earlier, interrupted run has no
poller of ours: `provisioning_poller` wraps a GET in the same poller interface.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    AzureOperationError,
    VmrepairError,
    WaitTimeoutError,
    translate_azure_error,
)

try:
    from azure.core.polling import LROPoller, PollingMethod
except ImportError:  # reported by the module base through missing_required_lib
    LROPoller = None
    PollingMethod = object

TERMINAL_SUCCESS = "succeeded"
TERMINAL_FAILURE = ("failed", "canceled")


class Deadline:
    """A point in time every wait of one module run shares."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0


@dataclass
class Pending:
    """One operation in flight: what it is (for messages) and its poller."""

    description: str  # "create snapshot 'snap-web-01-1a2b3c4d'"
    poller: Any  # azure.core.polling.LROPoller or anything with wait/done/result
    subject: Any = None  # what the operation is about, for the caller's bookkeeping


@dataclass
class Outcome:
    pending: Pending
    result: Any = None
    error: BaseException | None = None


def wait_all(pending: Sequence[Pending], deadline: Deadline, secrets: Sequence[str] = ()) -> list[Any]:
    """Wait for every operation; return their results in order.

    Raises WaitTimeoutError naming everything unfinished at the deadline, or the translated
    error of the first operation that failed (after the others finished, so that a rollback
    never races an operation still in flight).
    """
    outcomes = settle_all(pending, deadline)
    unfinished = [o.pending.description for o in outcomes if o.error is None and not o.pending.poller.done()]
    if unfinished:
        raise WaitTimeoutError(
            f"Timed out after {deadline.seconds:g} s waiting for: {'; '.join(unfinished)}",
            waiting_for=unfinished,
        )
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        first = failed[0]
        error = translate_azure_error(first.error, action=first.pending.description, secrets=secrets)
        if len(failed) > 1:
            error.details.setdefault("also_failed", [o.pending.description for o in failed[1:]])
        raise error
    return [o.result for o in outcomes]


def settle_all(pending: Sequence[Pending], deadline: Deadline) -> list[Outcome]:
    """Wait for every operation until the deadline; collect results and errors, never raise."""
    outcomes = []
    for item in pending:
        outcome = Outcome(item)
        try:
            item.poller.wait(timeout=deadline.remaining())
            if item.poller.done():
                outcome.result = item.poller.result()
        except Exception as exc:  # pylint: disable=broad-except  # reported by the caller
            outcome.error = exc
        outcomes.append(outcome)
    return outcomes


def wait_one(description: str, poller: Any, deadline: Deadline, secrets: Sequence[str] = ()) -> Any:
    return wait_all([Pending(description, poller)], deadline, secrets)[0]


def provisioning_state(resource: Any) -> str:
    """provisioningState of an SDK model or REST JSON, lower-cased ('' when absent)."""
    if isinstance(resource, dict):
        state = (resource.get("properties") or {}).get("provisioningState") or resource.get("provisioningState")
    else:
        state = getattr(resource, "provisioning_state", None)
    return str(state or "").lower()


class ProvisioningStatePolling(PollingMethod):  # type: ignore[misc]
    """Polls a GET until provisioningState is terminal (Succeeded, Failed, Canceled)."""

    def __init__(self, get: Callable[[], Any], description: str, interval: float = 2.0) -> None:
        self._get = get
        self._description = description
        self._interval = interval
        self._resource: Any = None
        self._stop = threading.Event()

    def initialize(self, client: Any, initial_response: Any, deserialization_callback: Any) -> None:
        self._resource = initial_response

    def run(self) -> None:
        while not self.finished():
            # Interval between GETs of a resource another run is still creating.
            self._stop.wait(self._interval)
            self._resource = self._get()
        if provisioning_state(self._resource) in TERMINAL_FAILURE:
            raise AzureOperationError(
                f"{self._description}: Azure reports provisioningState "
                f"'{provisioning_state(self._resource)}'"
            )

    def status(self) -> str:
        return provisioning_state(self._resource) or "unknown"

    def finished(self) -> bool:
        return provisioning_state(self._resource) in (TERMINAL_SUCCESS,) + TERMINAL_FAILURE

    def resource(self) -> Any:
        return self._resource

    def get_continuation_token(self) -> str:
        raise VmrepairError("A provisioning-state poller has no continuation token")

    @classmethod
    def from_continuation_token(cls, continuation_token: str, **kwargs: Any) -> Any:
        raise VmrepairError("A provisioning-state poller has no continuation token")


def provisioning_poller(current: Any, get: Callable[[], Any], description: str, interval: float = 2.0) -> Any:
    """A poller (same interface as the SDK's) for a resource found mid-provisioning."""
    return LROPoller(None, current, lambda resource: resource, ProvisioningStatePolling(get, description, interval))
