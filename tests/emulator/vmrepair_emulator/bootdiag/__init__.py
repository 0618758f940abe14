"""Boot diagnostics: screenshot (BMP) and serial log per VM, served from Azurite through SAS URLs."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..world import World


def publish_all(world: "World") -> None:
    """Upload every scenario VM's boot diagnostics blobs (filled in by bootdiag/publish.py)."""
    try:
        from .publish import publish_all as _publish
    except ModuleNotFoundError:
        return
    _publish(world)
