"""Make and mount NTFS volumes with the Linux NTFS tools (mkntfs, ntfs-3g over FUSE; needs root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

_MOUNT_TIMEOUT_S = 20.0


class NtfsToolError(RuntimeError):
    pass


def require_tools() -> None:
    missing = [tool for tool in ("mkntfs", "ntfs-3g", "umount") if shutil.which(tool) is None]
    if missing:
        raise NtfsToolError(f"missing {', '.join(missing)}: install the Debian package ntfs-3g (bindep.txt)")


def make_ntfs(image: Path, *, partition_start_lba: int, label: str = "Windows") -> None:
    """Format `image` (a file as large as the volume) as the NTFS volume of a partition starting at
    `partition_start_lba`: the boot sector's hidden-sectors field and geometry match the MBR."""
    require_tools()
    command = ["mkntfs", "--force", "--quick", "--quiet", "--sector-size", "512", "--cluster-size", "4096",
               "--partition-start", str(partition_start_lba), "--heads", "255", "--sectors-per-track", "63",
               "--label", label, str(image)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NtfsToolError(f"mkntfs failed ({result.returncode}): {result.stderr.strip()}")


@contextmanager
def mounted(image: Path, work_dir: Path) -> Iterator[Path]:
    """Mount `image` read-write with ntfs-3g; on exit unmount and wait until ntfs-3g has written
    everything back and exited (it runs in the foreground, so its exit means the image is complete)."""
    require_tools()
    mountpoint = Path(tempfile.mkdtemp(prefix="mnt-", dir=work_dir))
    process = subprocess.Popen(
        ["ntfs-3g", "-o", "no_detach,big_writes,windows_names", str(image), str(mountpoint)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_mount(mountpoint, process)
        yield mountpoint
    finally:
        _unmount(mountpoint, process)
        mountpoint.rmdir()


def _wait_for_mount(mountpoint: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + _MOUNT_TIMEOUT_S
    while not os.path.ismount(mountpoint):
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise NtfsToolError(f"ntfs-3g exited with {process.returncode}: {stderr.strip()}")
        if time.monotonic() > deadline:
            process.kill()
            raise NtfsToolError(f"ntfs-3g did not mount {mountpoint} within {_MOUNT_TIMEOUT_S:.0f}s")
        time.sleep(0.01)


def _unmount(mountpoint: Path, process: subprocess.Popen) -> None:
    if os.path.ismount(mountpoint):
        for _attempt in range(50):
            result = subprocess.run(["umount", str(mountpoint)], capture_output=True, text=True, check=False)
            if result.returncode == 0 or not os.path.ismount(mountpoint):
                break
            time.sleep(0.1)  # "target is busy" right after the last close: try again
        else:
            process.kill()
    try:
        process.wait(timeout=_MOUNT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise NtfsToolError(f"ntfs-3g did not exit after unmounting {mountpoint}") from None
    finally:
        if process.stderr:
            process.stderr.close()
    if process.returncode not in (0, None):
        raise NtfsToolError(f"ntfs-3g exited with {process.returncode} after unmounting {mountpoint}")
