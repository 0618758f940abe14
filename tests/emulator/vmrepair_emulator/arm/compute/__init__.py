"""Microsoft.Compute: virtual machines, managed disks, snapshots, resource SKUs (see ARCHITECTURE.md)."""
from .models import register, seed_disk, seed_vm

__all__ = ["register", "seed_disk", "seed_vm"]
