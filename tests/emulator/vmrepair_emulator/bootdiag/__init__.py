"""Boot diagnostics: screenshot (BMP) and serial log per VM, served from Azurite through SAS URLs.

`publish_all(world)` uploads the `virtual_machines[]` VMs' blobs at start (fleet VMs lazily, on
first use); `urls_for(world, vm_id, expiry_minutes) -> (screenshot_url, serial_log_url)` is what
retrieveBootDiagnosticsData returns; `blob_uris(world, vm)` what a custom-storage VM's instance
view shows.
"""
from .publish import BootDiagnosticsBlobs, blob_names, blob_uris, publish_all, render_screenshot, urls_for

__all__ = ["BootDiagnosticsBlobs", "blob_names", "blob_uris", "publish_all", "render_screenshot", "urls_for"]
