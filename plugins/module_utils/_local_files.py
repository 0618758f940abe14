# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small files written on the controller: boot-diagnostics artefacts, pinned certificates."""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_file(path: str, data: bytes, check_mode: bool) -> dict[str, Any]:
    """Write `data` to `path` (mode 0600) unless it already holds exactly that; report what (would have) changed."""
    path = os.path.abspath(os.path.expanduser(path))
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise AzureInputError(f"Cannot save to {path}: the directory {directory} does not exist")
    digest = _sha256(data)
    changed = True
    if os.path.isfile(path):
        with open(path, "rb") as existing:
            changed = _sha256(existing.read()) != digest
    if changed and not check_mode:
        # Write beside the target and rename, so a reader never sees half a file; mkstemp makes it 0600.
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".vmrepair-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
    return {"path": path, "size": len(data), "sha256": digest, "changed": changed}
