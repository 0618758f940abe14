"""WinRM (WS-Management shell, MS-WSMV) over HTTPS with NTLM, one listener per simulated machine.

Real clients run against it unmodified: pywinrm (transport="ntlm") and Ansible's winrm
connection plugin. See listeners.ListenerManager for the entry point.
"""
from .listeners import WINRM_HTTPS_PORT, ListenerManager
from .quotas import WinrsQuotas

__all__ = ["ListenerManager", "WinrsQuotas", "WINRM_HTTPS_PORT"]
