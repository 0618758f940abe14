"""WinRM service quotas (winrm get winrm/config/winrs, .../service) with Windows' defaults."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WinrsQuotas:
    # winrm/config/winrs MaxShellsPerUser: open shells one user may hold on the machine.
    max_shells_per_user: int = 30
    # winrm/config/service MaxConcurrentOperationsPerUser. For text shells Windows does not
    # release a command's operation when it ends or is terminated, only when its shell is
    # deleted (MS-WSMV 3.1.4.12, note 118): a long-lived shell runs out after this many commands.
    max_concurrent_operations_per_user: int = 1500
    # winrm/config/winrs MaxMemoryPerShellMB. Reported, not enforced: the emulator only
    # buffers what one Receive can carry (output is pulled, as Windows' default
    # "Block" output buffering mode blocks a process whose output nobody receives).
    max_memory_per_shell_mb: int = 1024
    # winrm/config/winrs IdleTimeout (ms) 7200000: a shell nobody touched for this long is closed.
    idle_timeout_s: float = 7200.0
