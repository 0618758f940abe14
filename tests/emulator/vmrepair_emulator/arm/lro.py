"""Long-running operations: durations from the latency profile, status and result endpoints.

`world.lro.start(...)` returns an Operation that stays InProgress for
`median_s * latency_scale` seconds, then runs its `on_complete` once (under world.lock).
The status/Location URLs are answered here for Compute, Disk RP, Network and Resources.
"""
from __future__ import annotations

import heapq
import math
import itertools
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import yaml

from .core import ArmRequest, ArmResponse, Route
from .errors import ArmError

if TYPE_CHECKING:
    from ..world import World

PACKAGED_PROFILE = Path(__file__).resolve().parent.parent / "data" / "azure-latency-profile.yaml"

# Provider families whose status URLs we answer; see lro_response for their shapes.
KINDS = ("compute", "disk", "network", "resources")

# Unscaled Retry-After per family, from the profile's lro_polling section where it has one.
_DEFAULT_RETRY_AFTER = {"compute": 10.0, "disk": 2.0, "network": 10.0, "resources": 15.0}


class LatencyProfile:
    """Median durations by operation name (operations: median_s; other_observed: median of values_s)."""

    def __init__(self, path: Path = PACKAGED_PROFILE) -> None:
        self.path = Path(path)
        data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        self.durations: dict[str, float] = {}
        for name, entry in (data.get("operations") or {}).items():
            if isinstance(entry, dict) and "median_s" in entry:
                self.durations[name] = float(entry["median_s"])
        for name, entry in (data.get("other_observed") or {}).items():
            if isinstance(entry, dict) and entry.get("values_s"):
                self.durations[name] = float(statistics.median(entry["values_s"]))
        polling = data.get("lro_polling") or {}
        seen = polling.get("retry_after_seen") or {}
        self.retry_after = dict(_DEFAULT_RETRY_AFTER)
        if "compute_vm_put_201" in seen:
            self.retry_after["compute"] = float(seen["compute_vm_put_201"])
        if "network_operation_inprogress_poll" in seen:
            self.retry_after["network"] = float(seen["network_operation_inprogress_poll"])
        if "resource_group_delete_202_and_polls" in seen:
            self.retry_after["resources"] = float(seen["resource_group_delete_202_and_polls"])

    def median(self, key: str) -> float:
        try:
            return self.durations[key]
        except KeyError:
            raise KeyError(f"no operation {key!r} in {self.path} (known: {', '.join(sorted(self.durations))})") from None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds")


@dataclass
class Operation:
    id: str
    kind: str
    resource_id: str
    location: str
    subscription_id: str
    duration_s: float
    started: float  # epoch seconds
    on_complete: Callable[[], Any] | None
    status: str = "InProgress"  # InProgress | Succeeded | Failed | Canceled
    ended: float | None = None
    error: ArmError | None = None
    output: Any = None  # what on_complete returned: the action's result body
    retry_after_base: float = 10.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def due(self) -> float:
        return self.started + self.duration_s

    @property
    def done(self) -> bool:
        return self.status != "InProgress"

    def remaining(self) -> float:
        return max(0.0, self.due - time.time())


class LroManager:
    """Creates operations, completes them on time (a scheduler thread), answers their status."""

    def __init__(self, world: "World", profile: LatencyProfile) -> None:
        self.world = world
        self.profile = profile
        self._ops: dict[str, Operation] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="lro-scheduler", daemon=True)
        self._thread.start()

    # -- public API (ARCHITECTURE.md) -------------------------------------------------------

    def start(self, kind: str, resource_id: str, duration_key: str | None, on_complete: Callable[[], Any] | None,
              location: str, subscription_id: str | None = None, duration_s: float | None = None) -> Operation:
        """Start an operation lasting profile[duration_key] * latency_scale (or duration_s, unscaled)."""
        if kind not in KINDS:
            raise ValueError(f"unknown LRO kind {kind!r}; expected one of {KINDS}")
        if duration_s is None:
            duration_s = self.profile.median(duration_key) * self.world.knobs.latency_scale if duration_key else 0.0
        if subscription_id is None:
            parts = resource_id.split("/")
            subscription_id = parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else self.world.subscription_id
        op = Operation(
            id=str(uuid.uuid4()), kind=kind, resource_id=resource_id, location=location.replace(" ", "").lower(),
            subscription_id=subscription_id, duration_s=float(duration_s), started=time.time(),
            on_complete=on_complete, retry_after_base=self.profile.retry_after[kind],
        )
        with self._cond:
            self._ops[op.id] = op
            heapq.heappush(self._heap, (op.due, next(self._counter), op.id))
            self._cond.notify()
        return op

    def reschedule(self, op: Operation, duration_s: float) -> None:
        """Change how long `op` lasts (from its start); it completes then, polled or not, as in Azure."""
        with self._cond:
            op.duration_s = float(duration_s)
            heapq.heappush(self._heap, (op.due, next(self._counter), op.id))
            self._cond.notify()
        if time.time() >= op.due:
            self.get(op.id)

    def get(self, op_id: str) -> Operation | None:
        """The operation, completed first if its time has passed (so a poll never sees a stale state)."""
        with self._cond:
            op = self._ops.get(op_id)
        if op is not None and not op.done and time.time() >= op.due:
            self._complete(op)
        return op

    def wait(self, op: Operation, timeout: float | None = None) -> Operation:
        """Block until the operation is done (for seeding and tests)."""
        deadline = None if timeout is None else time.time() + timeout
        while not op.done:
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"operation {op.id} still {op.status}")
            time.sleep(min(0.02, max(op.remaining(), 0.001)))
            self.get(op.id)
        return op

    def operations(self) -> list[Operation]:
        with self._cond:
            return list(self._ops.values())

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def retry_after(self, op: Operation) -> float:
        """Seconds the client should wait before the next poll: the family's Retry-After, scaled,
        never far beyond the time left."""
        return min(op.retry_after_base * self.world.knobs.latency_scale, op.remaining())

    def retry_after_headers(self, op: Operation) -> dict[str, str]:
        """The poll-delay header of an LRO response.

        At latency_scale >= 1 this is what ARM sends: `Retry-After` in whole seconds, at least 1
        (the SDKs deserialize it as an int on initial responses; 0 makes azure-core wait its 30 s
        default). Scaled down, whole seconds would stretch every poll gap by up to 1/scale relative
        to the operation it waits for, so the emulator sends the scaled delay as `retry-after-ms`
        (a header azure-core honours when Retry-After is absent) and the ratio of waiting to
        working stays what it is in Azure.
        """
        seconds = self.retry_after(op)
        if self.world.knobs.latency_scale >= 1:
            return {"Retry-After": str(max(1, math.ceil(seconds)))}
        return {"retry-after-ms": str(max(10, math.ceil(seconds * 1000)))}

    # -- internals ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.time()):
                    timeout = (self._heap[0][0] - time.time()) if self._heap else None
                    self._cond.wait(timeout=timeout if timeout is None else max(timeout, 0.0))
                if self._stopped:
                    return
                _due, _sequence, op_id = heapq.heappop(self._heap)
                op = self._ops.get(op_id)
            # An entry may be stale: the operation was rescheduled to end later.
            if op is not None and not op.done and time.time() >= op.due:
                self._complete(op)

    def _complete(self, op: Operation) -> None:
        # Lock order everywhere: world.lock, then the operation's own lock (handlers may poll
        # operations while holding world.lock).
        with self.world.lock, op._lock:
            if op.done:
                return
            try:
                op.output = op.on_complete() if op.on_complete else None
                op.status = "Succeeded"
            except ArmError as exc:
                op.error = exc
                op.status = "Failed"
            except Exception as exc:  # a provider bug: fail the operation visibly, do not kill the scheduler
                import traceback

                traceback.print_exc()
                op.error = ArmError(500, "InternalExecutionError", f"An internal execution error occurred: {exc!r}")
                op.status = "Failed"
            op.ended = time.time()


# ---- URLs and responses -----------------------------------------------------------------------


def status_url(ctx: ArmRequest, op: Operation) -> str:
    base = f"{ctx.base_url}/subscriptions/{op.subscription_id}/providers"
    if op.kind == "compute":
        return f"{base}/Microsoft.Compute/locations/{op.location}/operations/{op.id}?api-version={ctx.api_version}"
    if op.kind == "disk":
        return f"{base}/Microsoft.Compute/locations/{op.location}/DiskOperations/{op.id}?api-version={ctx.api_version}"
    if op.kind == "network":
        return f"{base}/Microsoft.Network/locations/{op.location}/operations/{op.id}?api-version={ctx.api_version}"
    raise ValueError(f"{op.kind} operations have no Azure-AsyncOperation URL")


def result_url(ctx: ArmRequest, op: Operation) -> str:
    base = f"{ctx.base_url}/subscriptions/{op.subscription_id}"
    if op.kind == "compute":
        return f"{base}/providers/Microsoft.Compute/locations/{op.location}/operationResults/{op.id}?api-version={ctx.api_version}"
    if op.kind == "disk":
        return (f"{base}/providers/Microsoft.Compute/locations/{op.location}/DiskOperations/{op.id}"
                f"?monitor=true&api-version={ctx.api_version}")
    if op.kind == "network":
        return f"{base}/providers/Microsoft.Network/locations/{op.location}/operationResults/{op.id}?api-version={ctx.api_version}"
    return f"{base}/operationresults/{op.id}?api-version={ctx.api_version}"


def lro_response(ctx: ArmRequest, op: Operation, status: int, body: Any = None, *,
                 async_operation: bool = True, location: bool = True) -> ArmResponse:
    """The first response of an LRO: `status` (201/202/200) with Azure-AsyncOperation, Location, Retry-After."""
    headers = ctx.world.lro.retry_after_headers(op)
    if async_operation and op.kind != "resources":
        headers["Azure-AsyncOperation"] = status_url(ctx, op)
    if location:
        headers["Location"] = result_url(ctx, op)
    return ArmResponse(status, body, headers)


def _status_body(op: Operation) -> dict[str, Any]:
    if op.kind == "network":
        body: dict[str, Any] = {"status": op.status}
    else:
        body = {"startTime": _iso(op.started), "status": op.status, "name": op.id}
        if op.ended is not None:
            body["endTime"] = _iso(op.ended)
        if op.done and op.output is not None and op.status == "Succeeded":
            body["properties"] = {"output": op.output}
    if op.error is not None:
        body["error"] = op.error.error_object()
    return body


def _find(ctx: ArmRequest, op_id: str, kinds: tuple[str, ...], location: str | None) -> Operation:
    op = ctx.world.lro.get(op_id)
    if op is None or op.kind not in kinds or op.subscription_id.lower() != (ctx.subscription_id or "").lower() or (
            location is not None and op.location != location.lower()):
        raise ArmError(404, "NotFound", "The entity was not found in this Azure location.")
    return op


def _in_progress(ctx: ArmRequest, op: Operation, body: Any = None) -> ArmResponse:
    return lro_response(ctx, op, 202, body, async_operation=False, location=True)


def _result(ctx: ArmRequest, op: Operation) -> ArmResponse:
    """Location-URL semantics: 202 while running; then the output (200), 204 if none, or the error."""
    if not op.done:
        return _in_progress(ctx, op)
    if op.status == "Failed" and op.error is not None:
        return ArmResponse(op.error.status if op.error.status >= 400 else 500, op.error.to_body())
    if op.output is not None:
        return ArmResponse(200, op.output)
    return ArmResponse(200 if op.kind == "resources" else 204, None)


def compute_operation(ctx: ArmRequest, sub: str, location: str, op_id: str) -> ArmResponse:
    op = _find(ctx, op_id, ("compute",), location)
    if ctx.query.get("monitor", "").lower() == "true":
        return _result(ctx, op)
    response = ArmResponse(200, _status_body(op))
    if not op.done:
        response.headers.update(ctx.world.lro.retry_after_headers(op))
    return response


def compute_operation_result(ctx: ArmRequest, sub: str, location: str, op_id: str) -> ArmResponse:
    return _result(ctx, _find(ctx, op_id, ("compute",), location))


def disk_operation(ctx: ArmRequest, sub: str, location: str, op_id: str) -> ArmResponse:
    op = _find(ctx, op_id, ("disk",), location)
    if ctx.query.get("monitor", "").lower() == "true":
        return _result(ctx, op)
    response = ArmResponse(200, _status_body(op))
    if not op.done:
        response.headers.update(ctx.world.lro.retry_after_headers(op))
    return response


def network_operation(ctx: ArmRequest, sub: str, location: str, op_id: str) -> ArmResponse:
    op = _find(ctx, op_id, ("network",), location)
    response = ArmResponse(200, _status_body(op))
    if not op.done:
        response.headers.update(ctx.world.lro.retry_after_headers(op))
    return response


def network_operation_result(ctx: ArmRequest, sub: str, location: str, op_id: str) -> ArmResponse:
    return _result(ctx, _find(ctx, op_id, ("network",), location))


def resources_operation_result(ctx: ArmRequest, sub: str, op_id: str) -> ArmResponse:
    return _result(ctx, _find(ctx, op_id, ("resources",), None))


_SUB = r"^/subscriptions/(?P<sub>[^/]+)"
ROUTES: list[Route] = [
    Route("GET", _SUB + r"/providers/Microsoft\.Compute/locations/(?P<location>[^/]+)/operations/(?P<op_id>[^/]+)$",
          compute_operation, "VirtualMachines_GetOperationStatus", action="Microsoft.Compute/locations/operations/read"),
    Route("GET", _SUB + r"/providers/Microsoft\.Compute/locations/(?P<location>[^/]+)/operationResults/(?P<op_id>[^/]+)$",
          compute_operation_result, "VirtualMachines_GetOperationResult", action="Microsoft.Compute/locations/operations/read"),
    Route("GET", _SUB + r"/providers/Microsoft\.Compute/locations/(?P<location>[^/]+)/DiskOperations/(?P<op_id>[^/]+)$",
          disk_operation, "DiskOperations_Get", action="Microsoft.Compute/locations/DiskOperations/read"),
    Route("GET", _SUB + r"/providers/Microsoft\.Network/locations/(?P<location>[^/]+)/operations/(?P<op_id>[^/]+)$",
          network_operation, "NetworkOperations_Get", action="Microsoft.Network/locations/operations/read"),
    Route("GET", _SUB + r"/providers/Microsoft\.Network/locations/(?P<location>[^/]+)/operationResults/(?P<op_id>[^/]+)$",
          network_operation_result, "NetworkOperationResults_Get", action="Microsoft.Network/locations/operationResults/read"),
    Route("GET", _SUB + r"/operationresults/(?P<op_id>[^/]+)$",
          resources_operation_result, "OperationResults_Get", action="Microsoft.Resources/subscriptions/operationresults/read"),
]
