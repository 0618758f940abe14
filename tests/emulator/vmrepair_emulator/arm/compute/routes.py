"""Microsoft.Compute routes (operation names as in the REST specs' operationId)."""
from __future__ import annotations

from ..core import Route
from . import api_versions as versions
from . import encryption_set_responses as des
from . import responses as r

_SUB = r"^/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"
_VMS = _RG + r"/providers/Microsoft\.Compute/virtualMachines"
_VM = _VMS + r"/(?P<name>[^/]+)"
_DISKS = r"/providers/Microsoft\.Compute/disks"
_SNAPSHOTS = r"/providers/Microsoft\.Compute/snapshots"
_DES = r"/providers/Microsoft\.Compute/diskEncryptionSets"
_VMV = versions.VIRTUAL_MACHINES
_DV = versions.DISKS

ROUTES: list[Route] = [
    # virtual machines
    Route("GET", _VM + "$", r.vm_get, "VirtualMachines_Get", _VMV),
    Route("PUT", _VM + "$", r.vm_create_or_update, "VirtualMachines_CreateOrUpdate", _VMV),
    Route("PATCH", _VM + "$", r.vm_update, "VirtualMachines_Update", _VMV),
    Route("DELETE", _VM + "$", r.vm_delete, "VirtualMachines_Delete", _VMV),
    Route("GET", _VMS + "$", r.vm_list, "VirtualMachines_List", _VMV),
    Route("GET", _SUB + r"/providers/Microsoft\.Compute/virtualMachines$", r.vm_list, "VirtualMachines_ListAll", _VMV),
    Route("GET", _VM + "/instanceView$", r.vm_instance_view, "VirtualMachines_InstanceView", _VMV),
    Route("GET", _VM + "/vmSizes$", r.vm_available_sizes, "VirtualMachines_ListAvailableSizes", _VMV),
    Route("POST", _VM + "/start$", r.vm_start, "VirtualMachines_Start", _VMV),
    Route("POST", _VM + "/powerOff$", r.vm_power_off, "VirtualMachines_PowerOff", _VMV),
    Route("POST", _VM + "/deallocate$", r.vm_deallocate, "VirtualMachines_Deallocate", _VMV),
    Route("POST", _VM + "/restart$", r.vm_restart, "VirtualMachines_Restart", _VMV),
    Route("POST", _VM + "/runCommand$", r.vm_run_command, "VirtualMachines_RunCommand", _VMV),
    Route("POST", _VM + "/retrieveBootDiagnosticsData$", r.vm_retrieve_boot_diagnostics_data,
          "VirtualMachines_RetrieveBootDiagnosticsData", _VMV),
    # managed disks
    Route("GET", _RG + _DISKS + r"/(?P<name>[^/]+)$", r.disk_get, "Disks_Get", _DV),
    Route("PUT", _RG + _DISKS + r"/(?P<name>[^/]+)$", r.disk_create_or_update, "Disks_CreateOrUpdate", _DV),
    Route("PATCH", _RG + _DISKS + r"/(?P<name>[^/]+)$", r.disk_update, "Disks_Update", _DV),
    Route("DELETE", _RG + _DISKS + r"/(?P<name>[^/]+)$", r.disk_delete, "Disks_Delete", _DV),
    Route("GET", _RG + _DISKS + "$", r.disk_list, "Disks_ListByResourceGroup", _DV),
    Route("GET", _SUB + _DISKS + "$", r.disk_list, "Disks_List", _DV),
    # snapshots
    Route("GET", _RG + _SNAPSHOTS + r"/(?P<name>[^/]+)$", r.snapshot_get, "Snapshots_Get", _DV),
    Route("PUT", _RG + _SNAPSHOTS + r"/(?P<name>[^/]+)$", r.snapshot_create_or_update, "Snapshots_CreateOrUpdate",
          _DV),
    Route("PATCH", _RG + _SNAPSHOTS + r"/(?P<name>[^/]+)$", r.snapshot_update, "Snapshots_Update", _DV),
    Route("DELETE", _RG + _SNAPSHOTS + r"/(?P<name>[^/]+)$", r.snapshot_delete, "Snapshots_Delete", _DV),
    Route("GET", _RG + _SNAPSHOTS + "$", r.snapshot_list, "Snapshots_ListByResourceGroup", _DV),
    Route("GET", _SUB + _SNAPSHOTS + "$", r.snapshot_list, "Snapshots_List", _DV),
    # disk encryption sets
    Route("GET", _RG + _DES + r"/(?P<name>[^/]+)$", des.des_get, "DiskEncryptionSets_Get", _DV),
    Route("PUT", _RG + _DES + r"/(?P<name>[^/]+)$", des.des_create_or_update, "DiskEncryptionSets_CreateOrUpdate",
          _DV),
    Route("DELETE", _RG + _DES + r"/(?P<name>[^/]+)$", des.des_delete, "DiskEncryptionSets_Delete", _DV),
    Route("GET", _RG + _DES + "$", des.des_list, "DiskEncryptionSets_ListByResourceGroup", _DV),
    Route("GET", _SUB + _DES + "$", des.des_list, "DiskEncryptionSets_List", _DV),
    # resource SKUs
    Route("GET", _SUB + r"/providers/Microsoft\.Compute/skus$", r.resource_skus_list, "ResourceSkus_List",
          versions.RESOURCE_SKUS),
]
