"""Boot diagnostics: screenshot (BMP) and serial log per VM, served from Azurite through SAS URLs.

`publish_all(world)` uploads the scenario VMs' blobs at start; `urls_for(world, vm_id,
expiry_minutes) -> (screenshot_url, serial_log_url)` is what retrieveBootDiagnosticsData returns.
"""
from .publish import BootDiagnosticsBlobs, blob_names, publish_all, urls_for

__all__ = ["BootDiagnosticsBlobs", "blob_names", "publish_all", "urls_for"]
