"""/_emulator/... : the request log, every resource, disks, knobs, health, machines (ARCHITECTURE.md)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..httpserver import HttpRequest, HttpResponse, Router

if TYPE_CHECKING:
    from ..world import World


def _error(status: int, message: str) -> HttpResponse:
    return HttpResponse.json(status, {"error": message})


def register(router: Router, world: "World", env: dict[str, str]) -> None:
    def health(request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, {"ok": True, "scenario": world.scenario.name})

    def requests(request: HttpRequest) -> HttpResponse:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            return _error(400, "since must be an integer (a record's seq)")
        service = request.query.get("service") or None
        if service == "blob" and world.blob is not None:
            return HttpResponse.json(200, [r for r in world.blob.blob_requests() if r["seq"] >= since])
        return HttpResponse.json(200, world.request_log.query(service=service, since=since))

    def resources(request: HttpRequest) -> HttpResponse:
        tag = request.query.get("tag")
        rtype = request.query.get("type")
        name = value = None
        if tag:
            name, _colon, value = tag.partition(":")
        with world.lock:
            items: list[dict[str, Any]] = []
            for resource in world.resources.values():
                if rtype and resource["type"].lower() != rtype.lower():
                    continue
                if name is not None:
                    tags = {k.lower(): v for k, v in (resource.get("tags") or {}).items()}
                    if name.lower() not in tags or (value and tags[name.lower()] != value):
                        continue
                items.append(json.loads(json.dumps(dict(resource), default=str)))
        return HttpResponse.json(200, sorted(items, key=lambda r: r["id"].lower()))

    def disks(request: HttpRequest) -> HttpResponse:
        if world.disks is None:
            return HttpResponse.json(200, {})
        return HttpResponse.json(200, world.disks.describe())

    def knobs_get(request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, world.knobs.to_dict())

    def knobs_put(request: HttpRequest) -> HttpResponse:
        try:
            body = request.json()
        except ValueError as exc:
            return _error(400, f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object of knob: value")
        try:
            world.knobs.update(body)
        except ValueError as exc:
            return _error(400, str(exc))
        return HttpResponse.json(200, world.knobs.to_dict())

    def operations(request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, [
            {"id": op.id, "kind": op.kind, "resource_id": op.resource_id, "status": op.status,
             "started": op.started, "ended": op.ended, "duration_s": op.duration_s,
             "error": op.error.error_object() if op.error else None}
            for op in world.lro.operations()])

    def machines(request: HttpRequest) -> HttpResponse:
        result = {}
        for machine in list(world.machines.values()):
            with machine.lock:
                result[machine.name] = {"computer_name": machine.computer_name, "private_ip": machine.private_ip,
                                        "file_reads": dict(machine.file_reads)}
        return HttpResponse.json(200, result)

    def environment(request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, env)

    router.add("GET", r"^/_emulator/health$", health)
    router.add("GET", r"^/_emulator/requests$", requests)
    router.add("GET", r"^/_emulator/resources$", resources)
    router.add("GET", r"^/_emulator/disks$", disks)
    router.add("GET", r"^/_emulator/knobs$", knobs_get)
    router.add("PUT", r"^/_emulator/knobs$", knobs_put)
    router.add("GET", r"^/_emulator/operations$", operations)
    router.add("GET", r"^/_emulator/env$", environment)
    router.add("GET", r"^/_emulator/machines$", machines)
