"""Copy a disk file without reading or writing its holes (reflink first, where the filesystem can)."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
_CHUNK = 8 << 20


def copy_sparse(src: Path, dst: Path) -> None:
    """Write `dst` as a copy of `src`; `src` is only ever opened read-only."""
    src_fd = os.open(src, os.O_RDONLY)
    try:
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            size = os.fstat(src_fd).st_size
            if not _reflink(src_fd, dst_fd):
                for start, end in _data_extents(src_fd, size):
                    _copy_range(src_fd, dst_fd, start, end)
                os.ftruncate(dst_fd, size)
            os.fsync(dst_fd)
        finally:
            os.close(dst_fd)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    finally:
        os.close(src_fd)


def _reflink(src_fd: int, dst_fd: int) -> bool:
    try:
        fcntl.ioctl(dst_fd, _FICLONE, src_fd)
        return True
    except OSError:
        return False


def _data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    extents = []
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                break
            return [(0, size)]  # no SEEK_DATA support: copy everything
        end = os.lseek(fd, start, os.SEEK_HOLE)
        extents.append((start, end))
        offset = end
    return extents


def _copy_range(src_fd: int, dst_fd: int, start: int, end: int) -> None:
    offset = start
    while offset < end:
        count = min(_CHUNK, end - offset)
        try:
            copied = os.copy_file_range(src_fd, dst_fd, count, offset, offset)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            copied = os.pwrite(dst_fd, os.pread(src_fd, count, offset), offset)
        if copied <= 0:
            raise OSError(errno.EIO, f"short copy at offset {offset}")
        offset += copied
