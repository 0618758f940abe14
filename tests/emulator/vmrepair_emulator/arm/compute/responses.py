"""Microsoft.Compute handlers: request -> ArmResponse, with Compute/Disk RP's shapes and LROs.

Long-running operations as Azure runs them (../shared/azure-latency-profile.yaml,
lro_polling.patterns): VM PUT 201/200 + Azure-AsyncOperation; VM DELETE and actions 202 +
Azure-AsyncOperation + Location; disk/snapshot PUT, PATCH, DELETE 202 with the DiskOperations
URLs; the final state changes when the operation completes.
"""
from __future__ import annotations

import bisect
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..core import ArmRequest, ArmResponse
from ..errors import ArmError, not_found
from ..lro import lro_response
from . import disk_builder, ids, instance_view, lifecycle, skus, vm_builder
from .catalog import VM_SIZES
from .models import RUNNING, Disk, Snapshot, VirtualMachine
from .runcommand import MAX_SCRIPT_SECONDS, RunCommandExecution

if TYPE_CHECKING:
    from ...world import World


def _world(ctx: ArmRequest) -> "World":
    lifecycle.register(ctx.world)
    return ctx.world


def _rid(ctx: ArmRequest, rg: str, type_: str, name: str) -> str:
    """The id ARM answers with: the group's stored name, the resource name as first given."""
    group = ctx.world.get_resource_group(rg)
    existing = ctx.world.get(ids.key(ids.resource_id(ctx.world.subscription_id, rg, type_, name)))
    if existing is not None:
        return existing["id"]
    return ids.resource_id(ctx.world.subscription_id, group["name"] if group else rg, type_, name)


def _lookup(ctx: ArmRequest, rg: str, type_: str, name: str, cls: type) -> Any:
    found = ctx.world.get(ids.key(ids.resource_id(ctx.world.subscription_id, rg, type_, name)))
    if not isinstance(found, cls):
        raise not_found(type_, name, rg)
    return found


def _vm(ctx: ArmRequest, rg: str, name: str) -> VirtualMachine:
    return _lookup(ctx, rg, ids.VIRTUAL_MACHINES, name, VirtualMachine)


def _body(ctx: ArmRequest) -> dict[str, Any]:
    body = ctx.json()
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
    return body


def _in_group(world: "World", rg: str | None, type_: str) -> list[Any]:
    prefix = f"/subscriptions/{world.subscription_id}/resourcegroups/".lower()
    with world.lock:
        found = [r for key, r in world.resources.items()
                 if r.get("type", "").lower() == type_.lower()
                 and (rg is None or key.startswith(f"{prefix}{rg.lower()}/providers/"))]
    return sorted(found, key=lambda r: r["id"].lower())


# ---- virtual machines ------------------------------------------------------------------------------


def _vm_view(world: "World", vm: VirtualMachine, expand: str | None) -> dict[str, Any]:
    # A JSON round trip copies the (JSON-only) resource about twice as fast as deepcopy: a page of a
    # fleet's VM list copies a thousand of them.
    view = json.loads(json.dumps(vm))
    if expand and expand.lower() == "instanceview":
        view["properties"]["instanceView"] = instance_view.build(world, vm)
    if expand and expand.lower() == "userdata" and vm.user_data is not None:
        view["properties"]["userData"] = vm.user_data
    return view


def _expand(ctx: ArmRequest) -> str | None:
    expand = ctx.query.get("$expand")
    if expand and expand.lower() not in ("instanceview", "userdata", "resiliencypolicy"):
        raise ArmError(400, "InvalidParameter", f"The value '{expand}' of parameter '$expand' is not valid.",
                       target="$expand")
    return expand


def vm_get(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    world = _world(ctx)
    expand = _expand(ctx)
    with world.lock:
        vm = _vm(ctx, rg, name)
        return ArmResponse(200, _vm_view(world, vm, expand))


def vm_instance_view(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    world = _world(ctx)
    with world.lock:
        return ArmResponse(200, instance_view.build(world, _vm(ctx, rg, name)))


_SKIPTOKEN = "$skiptoken"


def _skiptoken_after(ctx: ArmRequest) -> str | None:
    """The lower-cased id of the last VM of the previous page, from the opaque $skiptoken (hex: nothing
    in it needs escaping, so the SDKs' re-quoting of nextLink parameters leaves it as it is)."""
    token = ctx.query.get(_SKIPTOKEN)
    if token is None:
        return None
    try:
        return bytes.fromhex(token).decode("utf-8")
    except ValueError:
        raise ArmError(400, "InvalidParameter", f"The value '{token}' of parameter '$skiptoken' is not valid.",
                       target=_SKIPTOKEN) from None


def _next_link(ctx: ArmRequest, after_id: str) -> str:
    """The same request (api-version, statusOnly, $expand ...) continuing after `after_id`."""
    params = {k: v for k, v in ctx.query.items() if k != _SKIPTOKEN}
    params[_SKIPTOKEN] = after_id.lower().encode("utf-8").hex()
    query = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in params.items())
    return f"{ctx.base_url}{quote(ctx.path)}?{query}"


def vm_list(ctx: ArmRequest, sub: str, rg: str | None = None) -> ArmResponse:
    """VirtualMachines_List / _ListAll, paged: `vm_list_page_size` VMs per page, then a nextLink."""
    world = _world(ctx)
    expand = ctx.query.get("$expand")
    if ctx.query.get("statusOnly", "").lower() == "true":
        expand = "instanceView"
    after = _skiptoken_after(ctx)
    page_size = world.knobs.vm_list_page_size
    with world.lock:
        vms = _in_group(world, rg, ids.VIRTUAL_MACHINES)  # sorted by lower-cased id
        start = 0 if after is None else bisect.bisect_right([vm["id"].lower() for vm in vms], after)
        page = vms[start:start + page_size]
        value = [_vm_view(world, vm, expand) for vm in page]
    body: dict[str, Any] = {"value": value}
    if start + page_size < len(vms):
        body["nextLink"] = _next_link(ctx, page[-1]["id"])
    return ArmResponse(200, body)


def vm_create_or_update(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _vm_put(ctx, rg, name, partial=False)


def vm_update(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _vm_put(ctx, rg, name, partial=True)


def _vm_put(ctx: ArmRequest, rg: str, name: str, partial: bool) -> ArmResponse:
    world = _world(ctx)
    body = _body(ctx)
    with world.lock:
        vm_id = _rid(ctx, rg, ids.VIRTUAL_MACHINES, name)
        existing = world.get(ids.key(vm_id))
        if partial and not isinstance(existing, VirtualMachine):
            raise not_found(ids.VIRTUAL_MACHINES, name, rg)
        if isinstance(existing, VirtualMachine):
            change, doc = vm_builder.build_update(world, existing, body, partial)
            vm = lifecycle.commit_change(world, change, doc)
            op = world.lro.start("compute", vm["id"], change.duration_key,
                                 lambda: lifecycle.complete_update(world, vm, change), vm["location"])
            ctx.log_fields["resource_id"] = vm["id"]
            return lro_response(ctx, op, 200, vm.to_arm(), location=False)
        change = vm_builder.build_create(world, vm_id, name, body)
        vm = lifecycle.commit_change(world, change)
        op = world.lro.start("compute", vm["id"], change.duration_key,
                             lambda: lifecycle.complete_create(world, vm, change), vm["location"])
        ctx.log_fields["resource_id"] = vm["id"]
        return lro_response(ctx, op, 201, vm.to_arm(), location=False)


def vm_delete(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    world = _world(ctx)
    with world.lock:
        vm = world.get(ids.key(ids.resource_id(world.subscription_id, rg, ids.VIRTUAL_MACHINES, name)))
        if not isinstance(vm, VirtualMachine):
            return ArmResponse(204)
        if vm.props.get("provisioningState") == "Deleting" and vm.internal.get("delete_operation"):
            return lro_response(ctx, vm.internal["delete_operation"], 202)
        key = lifecycle.begin_delete_vm(world, vm)
        op = world.lro.start("compute", vm["id"], key, lambda: lifecycle.delete_vm_now(world, vm["id"]),
                             vm["location"])
        vm.internal["delete_operation"] = op
        ctx.log_fields["resource_id"] = vm["id"]
        return lro_response(ctx, op, 202)


def _power(ctx: ArmRequest, rg: str, name: str, action: str) -> ArmResponse:
    world = _world(ctx)
    with world.lock:
        vm = _vm(ctx, rg, name)
        key = lifecycle.begin_power(world, vm, action)
        op = world.lro.start("compute", vm["id"], key, lambda: lifecycle.complete_power(world, vm, action),
                             vm["location"])
        ctx.log_fields["resource_id"] = vm["id"]
        return lro_response(ctx, op, 202)


def vm_start(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _power(ctx, rg, name, "start")


def vm_power_off(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _power(ctx, rg, name, "powerOff")


def vm_deallocate(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _power(ctx, rg, name, "deallocate")


def vm_restart(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _power(ctx, rg, name, "restart")


_RUN_COMMAND_OS = {"runpowershellscript": "Windows", "runshellscript": "Linux"}


def vm_run_command(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    world = _world(ctx)
    body = _body(ctx)
    command_id = str(body.get("commandId") or "")
    if not command_id:
        raise ArmError(400, "InvalidParameter", "Required parameter 'commandId' is missing (null).",
                       target="commandId")
    command_os = _RUN_COMMAND_OS.get(command_id.lower())
    if command_os is None:
        raise ArmError(404, "NotFound", f"The entity was not found in this Azure location. Run command "
                                        f"'{command_id}' is not one the emulator provides.", target="commandId")
    script = body.get("script") or []
    if not isinstance(script, list) or not all(isinstance(line, str) for line in script):
        raise ArmError(400, "InvalidParameter", "The value of parameter 'script' must be a list of strings.",
                       target="script")
    try:
        from ...windows.scripts import run as runner
    except ImportError:
        runner = None
    with world.lock:
        vm = _vm(ctx, rg, name)
        lifecycle.require_not_deleting(vm, "runCommand")
        if vm.os_type != command_os:
            raise ArmError(409, "Conflict",
                           f"Run command OS type '{command_os}' does not match the target OS {vm.os_type}.")
        if vm.power != RUNNING:
            raise ArmError(409, "OperationNotAllowed", "The operation requires the VM to be running (or set to run).")
        if vm.run_command is not None and vm.run_command.busy():
            raise ArmError(409, "Conflict", "Run command extension execution is in progress. Please wait for "
                                            "completion before invoking a run command.")
        wait = instance_view.agent_wait_seconds(vm) or 0.0
        execution = RunCommandExecution(
            world, vm, "\n".join(script), run_seconds=lifecycle.scaled(world, "run_command_powershell"),
            agent_timeout_seconds=wait + lifecycle.scaled(world, "vm_first_extension_after_create"),
            runner=runner if vm.os_type == "Windows" else None)
        op = world.lro.start("compute", vm["id"], None, execution.on_complete, vm["location"],
                             duration_s=MAX_SCRIPT_SECONDS)
        vm.run_command = execution
        execution.start(op)
        ctx.log_fields["resource_id"] = vm["id"]
        return lro_response(ctx, op, 202)


def vm_retrieve_boot_diagnostics_data(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    world = _world(ctx)
    raw = ctx.query.get("sasUriExpirationTimeInMinutes")
    minutes = 120
    if raw is not None:
        try:
            minutes = int(raw)
        except ValueError:
            minutes = -1
        if not 1 <= minutes <= 1440:
            raise ArmError(400, "InvalidParameter",
                           "The value of parameter sasUriExpirationTimeInMinutes is invalid. The value must be "
                           "between 1 and 1440.", target="sasUriExpirationTimeInMinutes")
    with world.lock:
        vm = _vm(ctx, rg, name)
        settings = (vm.props.get("diagnosticsProfile") or {}).get("bootDiagnostics") or {}
        if not settings.get("enabled"):
            # Azure answers 409 for a VM without boot diagnostics (Azure/ARO-HCP serial console handler).
            raise ArmError(409, "OperationNotAllowed",
                           f"Boot diagnostics is not enabled for the virtual machine '{vm['name']}'. Enable boot "
                           "diagnostics to retrieve the console screenshot and serial log.")
        vm_id = vm["id"]
    from ...bootdiag import urls_for

    # The bootdiag_sas_expiry_s knob (tests): SAS URLs that expire that many seconds from now, even already.
    forced = world.knobs.bootdiag_sas_expiry_s
    expiry_minutes = minutes if forced is None else forced / 60.0
    # Outside world.lock: a first call uploads the VM's blobs to Azurite (lazily, under a lock per VM).
    screenshot_url, serial_log_url = urls_for(world, vm_id, expiry_minutes)
    return ArmResponse(200, {"consoleScreenshotBlobUri": screenshot_url, "serialConsoleLogBlobUri": serial_log_url})


def vm_available_sizes(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    world = _world(ctx)
    with world.lock:
        _vm(ctx, rg, name)
    value = [{"name": s.name, "numberOfCores": s.vcpus, "osDiskSizeInMB": 1047552,
              "resourceDiskSizeInMB": s.temp_disk_mb, "memoryInMB": int(s.memory_gb * 1024),
              "maxDataDiskCount": s.max_data_disks} for s in VM_SIZES.values()]
    return ArmResponse(200, {"value": value})


# ---- disks and snapshots -------------------------------------------------------------------------


def _disk_like_get(ctx: ArmRequest, rg: str, name: str, type_: str, cls: type) -> ArmResponse:
    world = _world(ctx)
    with world.lock:
        return ArmResponse(200, _lookup(ctx, rg, type_, name, cls).to_arm())


def disk_get(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _disk_like_get(ctx, rg, name, ids.DISKS, Disk)


def snapshot_get(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _disk_like_get(ctx, rg, name, ids.SNAPSHOTS, Snapshot)


def disk_list(ctx: ArmRequest, sub: str, rg: str | None = None) -> ArmResponse:
    world = _world(ctx)
    with world.lock:
        return ArmResponse(200, {"value": [d.to_arm() for d in _in_group(world, rg, ids.DISKS)]})


def snapshot_list(ctx: ArmRequest, sub: str, rg: str | None = None) -> ArmResponse:
    world = _world(ctx)
    with world.lock:
        return ArmResponse(200, {"value": [s.to_arm() for s in _in_group(world, rg, ids.SNAPSHOTS)]})


def _duration_key(target: Disk | Snapshot) -> str:
    option = target["properties"]["creationData"]["createOption"].lower()
    if isinstance(target, Snapshot):
        return "snapshot_create_incremental" if target["properties"].get("incremental") else "snapshot_create_full"
    return {"copy": "disk_create_copy", "fromimage": "disk_create_copy"}.get(option, "disk_create_empty")


def _disk_put(ctx: ArmRequest, rg: str, name: str, partial: bool, type_: str) -> ArmResponse:
    world = _world(ctx)
    body = _body(ctx)
    cls = Disk if type_ == ids.DISKS else Snapshot
    with world.lock:
        target_id = _rid(ctx, rg, type_, name)
        existing = world.get(ids.key(target_id))
        if existing is not None and not isinstance(existing, cls):
            raise not_found(type_, name, rg)
        if existing is None and partial:
            raise not_found(type_, name, rg)
        if existing is not None:
            if existing["properties"].get("provisioningState") == "Updating":
                raise ArmError(409, "OperationNotAllowed",
                               f"An operation is already in progress on {existing['name']}. Retry after it completes.")
            if isinstance(existing, Disk):
                disk_builder.update_disk(world, existing, body, partial)
            else:
                disk_builder.update_snapshot(existing, body, partial)
            target = existing
            op = world.lro.start("disk", target["id"], "disk_update",
                                 lambda: lifecycle.complete_disk_update(world, target), target["location"])
        else:
            if type_ == ids.DISKS:
                target, source = disk_builder.new_disk(world, target_id, name, body)
            else:
                target, source = disk_builder.new_snapshot(world, target_id, name, body)
            if source is not None and source.internal.get("no_content"):
                # A fleet VM's OS disk has no backing VHD: refuse at once rather than copy nothing.
                raise ArmError(409, "EmulatorDiskHasNoContent",
                               f"{source.internal['no_content']}; '{source['name']}' cannot be copied. Use a "
                               "virtual_machines[] entry of a scenario for a VM to repair.")
            world.put(target)
            op = world.lro.start("disk", target["id"], _duration_key(target),
                                 lambda: lifecycle.complete_disk_create(world, target, source), target["location"])
        ctx.log_fields["resource_id"] = target["id"]
        return lro_response(ctx, op, 202, target.to_arm())


def disk_create_or_update(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _disk_put(ctx, rg, name, False, ids.DISKS)


def disk_update(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _disk_put(ctx, rg, name, True, ids.DISKS)


def snapshot_create_or_update(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _disk_put(ctx, rg, name, False, ids.SNAPSHOTS)


def snapshot_update(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _disk_put(ctx, rg, name, True, ids.SNAPSHOTS)


def disk_delete(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    world = _world(ctx)
    with world.lock:
        disk = world.get(ids.key(ids.resource_id(world.subscription_id, rg, ids.DISKS, name)))
        if not isinstance(disk, Disk):
            return ArmResponse(204)
        refusal = lifecycle.disk_in_use(world, disk)
        if refusal is not None:
            raise refusal
        op = world.lro.start("disk", disk["id"], "disk_delete", lambda: lifecycle.delete_disk_now(world, disk["id"]),
                             disk["location"])
        ctx.log_fields["resource_id"] = disk["id"]
        return lro_response(ctx, op, 202)


def snapshot_delete(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    world = _world(ctx)
    with world.lock:
        snapshot = world.get(ids.key(ids.resource_id(world.subscription_id, rg, ids.SNAPSHOTS, name)))
        if not isinstance(snapshot, Snapshot):
            return ArmResponse(204)
        op = world.lro.start("disk", snapshot["id"], "disk_delete",
                             lambda: lifecycle.delete_snapshot_now(world, snapshot["id"]), snapshot["location"])
        ctx.log_fields["resource_id"] = snapshot["id"]
        return lro_response(ctx, op, 202)


# ---- resource SKUs -----------------------------------------------------------------------------------


def resource_skus_list(ctx: ArmRequest, sub: str) -> ArmResponse:
    world = _world(ctx)
    locations = {world.location.lower()}
    locations |= {vm["location"].lower() for vm in world.scenario.virtual_machines if vm.get("location")}
    locations |= {rg["location"].lower() for rg in world.scenario.resource_groups if rg.get("location")}
    listed = skus.list_skus(sorted(locations), ctx.query.get("$filter"), world.scenario.sku_restrictions)
    return ArmResponse(200, {"value": listed})
